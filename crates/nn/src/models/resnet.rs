//! CIFAR-style residual networks (He et al. 2016): ResNet-20 (3 stages of 3 basic blocks,
//! 16/32/64 channels) and ResNet-18 (3x3 stem without pooling, 4 stages of 2 blocks,
//! 64..512 channels), as used for 32x32 inputs in seeds 000-004.
//! Shortcuts that change shape use a 1x1 convolution + BatchNorm ("option B"); the original
//! ResNet-20 used zero-padding ("option A"). Option B is what torchvision-style code does and
//! costs 0.3% more parameters.

use crate::conv::conv2d;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::blocks::{ConvBnRelu, batch_norm, conv};

#[derive(Module, Debug)]
pub struct Shortcut {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

#[derive(Module, Debug)]
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub shortcut: Option<Shortcut>,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let shortcut = (stride != 1 || cin != cout)
            .then(|| Shortcut { conv: conv(cin, cout, 1, stride, false, device), bn: batch_norm(cout, device) });
        Self {
            conv1: conv(cin, cout, 3, stride, false, device),
            bn1: batch_norm(cout, device),
            conv2: conv(cout, cout, 3, 1, false, device),
            bn2: batch_norm(cout, device),
            shortcut,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.shortcut {
            Some(s) => crate::conv::batch_norm(&s.bn, conv2d(&s.conv, x.clone())),
            None => x.clone(),
        };
        let h = relu(crate::conv::batch_norm(&self.bn1, conv2d(&self.conv1, x)));
        let h = crate::conv::batch_norm(&self.bn2, conv2d(&self.conv2, h));
        relu(h + identity)
    }
}

#[derive(Module, Debug)]
pub struct ResNet {
    pub stem: ConvBnRelu,
    pub blocks: Vec<BasicBlock>,
    pub fc: Linear,
}

impl ResNet {
    fn build(channels: usize, widths: &[usize], depth_per_stage: usize, classes: usize, device: &Device) -> Self {
        let stem = ConvBnRelu::new(channels, widths[0], 1, device);
        let mut blocks = Vec::new();
        let mut cin = widths[0];
        for (stage, &w) in widths.iter().enumerate() {
            for b in 0..depth_per_stage {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(cin, w, stride, device));
                cin = w;
            }
        }
        Self { stem, blocks, fc: LinearConfig::new(cin, classes).init(device) }
    }

    pub fn resnet20(channels: usize, classes: usize, device: &Device) -> Self {
        Self::build(channels, &[16, 32, 64], 3, classes, device)
    }

    pub fn resnet18(channels: usize, classes: usize, device: &Device) -> Self {
        Self::build(channels, &[64, 128, 256, 512], 2, classes, device)
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = self.stem.forward(x);
        for block in &self.blocks {
            h = block.forward(h);
        }
        // Global average pooling works for any input size (8x8 digits up to 32x32 CIFAR).
        let pooled: Tensor<2> = h.mean_dim(3).mean_dim(2).flatten(1, 3);
        self.fc.forward(pooled)
    }
}
