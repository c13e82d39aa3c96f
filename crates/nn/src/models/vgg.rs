//! VGG with BatchNorm (Simonyan & Zisserman 2015), CIFAR-style: the convolutional configuration
//! of VGG-11/16, then global average pooling and one linear classifier (the common CIFAR
//! adaptation; the ImageNet version's three 4096-unit layers would dominate the parameter count
//! for 32x32 inputs). Pools that would shrink a map below 1x1 are skipped, so 8x8 and 28x28
//! inputs work too.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use mown_data::ImageShape;

use super::blocks::{ConvBnRelu, max_pool};
use crate::arch::pooled;

/// A layer plan: a number is a 3x3 conv of that width, 0 is a 2x2 max pool.
pub const VGG11: &[usize] = &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];
pub const VGG16: &[usize] = &[64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0];

#[derive(Module, Debug)]
pub struct Vgg {
    pub features: Vec<ConvBnRelu>,
    pub fc: Linear,
    /// For each conv in `features`, whether a max pool follows it.
    pool_after: Vec<bool>,
}

impl Vgg {
    pub fn new(plan: &[usize], input: ImageShape, classes: usize, device: &Device) -> Self {
        let (mut h, mut w) = (input.height, input.width);
        let mut features = Vec::new();
        let mut pool_after: Vec<bool> = Vec::new();
        let mut cin = input.channels;
        for &item in plan {
            if item == 0 {
                if let (Some(nh), Some(nw), Some(last)) = (pooled(h), pooled(w), pool_after.last_mut()) {
                    *last = true;
                    (h, w) = (nh, nw);
                }
            } else {
                features.push(ConvBnRelu::new(cin, item, 1, device));
                pool_after.push(false);
                cin = item;
            }
        }
        Self { features, fc: LinearConfig::new(cin, classes).init(device), pool_after }
    }

    /// For each conv in `features`, whether a 2x2 max pool follows it; for exporters.
    pub fn pool_after(&self) -> &[bool] {
        &self.pool_after
    }

    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<2> {
        for (layer, &pool) in self.features.iter().zip(&self.pool_after) {
            x = layer.forward(x);
            if pool {
                x = max_pool(x);
            }
        }
        let pooled: Tensor<2> = x.mean_dim(3).mean_dim(2).flatten(1, 3);
        self.fc.forward(pooled)
    }
}
