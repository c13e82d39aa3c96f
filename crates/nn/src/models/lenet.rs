//! LeNet-5 (LeCun et al. 1998) with the usual modern substitutions: ReLU and max pooling.
//! For 28x28 inputs it is the classic 6-16-120-84 network; smaller inputs (the 8x8 digits) pad
//! the second convolution and skip pools that would empty the feature map.

use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use mown_data::ImageShape;

use super::blocks::max_pool;
use crate::arch::pooled;

#[derive(Module, Debug)]
pub struct Lenet5 {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
    pub fc1: Linear,
    pub fc2: Linear,
    pub fc3: Linear,
    pool1: bool,
    pool2: bool,
}

impl Lenet5 {
    pub fn new(input: ImageShape, classes: usize, device: &Device) -> Self {
        let conv1 = super::blocks::conv(input.channels, 6, 5, 1, true, device);
        let (mut h, mut w) = (input.height, input.width);
        let pool1 = pooled(h).is_some() && pooled(w).is_some();
        if pool1 {
            (h, w) = (h / 2, w / 2);
        }
        // Classic "valid" 5x5 convolution when the map is large enough, "same" otherwise.
        let valid = h >= 9 && w >= 9;
        let pad = if valid { 0 } else { 2 };
        let conv2 = burn::nn::conv::Conv2dConfig::new([6, 16], [5, 5])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .init(device);
        if valid {
            (h, w) = (h - 4, w - 4);
        }
        let pool2 = pooled(h).is_some() && pooled(w).is_some();
        if pool2 {
            (h, w) = (h / 2, w / 2);
        }
        Self {
            conv1,
            conv2,
            fc1: LinearConfig::new(16 * h * w, 120).init(device),
            fc2: LinearConfig::new(120, 84).init(device),
            fc3: LinearConfig::new(84, classes).init(device),
            pool1,
            pool2,
        }
    }

    /// Whether a 2x2 max pool follows conv1 and conv2 (small inputs skip them); for exporters.
    pub fn pools(&self) -> [bool; 2] {
        [self.pool1, self.pool2]
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        use burn::tensor::activation::relu;
        let mut x = relu(crate::conv::conv2d(&self.conv1, x));
        if self.pool1 {
            x = max_pool(x);
        }
        x = relu(crate::conv::conv2d(&self.conv2, x));
        if self.pool2 {
            x = max_pool(x);
        }
        let x: Tensor<2> = x.flatten(1, 3);
        let x = relu(self.fc1.forward(x));
        let x = relu(self.fc2.forward(x));
        self.fc3.forward(x)
    }
}
