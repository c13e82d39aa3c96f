//! Evaluation-mode networks with every BatchNorm folded into the convolution before it.
//!
//! In evaluation mode BatchNorm is a fixed per-channel affine map,
//! `y = (x - mean) / std * gamma + beta`, so `bn(conv(x))` equals one convolution with weights
//! scaled by `gamma / std` per output channel and bias `beta - mean * gamma / std`. burn runs
//! the unfolded BatchNorm as four full-size elementwise passes forward and two more backward;
//! folding removes them from every input gradient (IPGuard, CW-L2, PGD) and every inference
//! batch. The folded network is a separate, unsaveable type so that folded weights can never be
//! written out as a model.

use crate::conv::conv2d;
use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::blocks::max_pool;
use super::{Network, ResNet, Vgg};

/// `bn(conv(x))` as one convolution. Both must be on the same device, in evaluation mode.
pub fn fold_batch_norm(conv: &Conv2d, bn: &BatchNorm) -> Conv2d {
    let std = (bn.running_var.value() + bn.epsilon).sqrt();
    let scale = bn.gamma.val() / std;
    let cout = scale.dims()[0];
    let weight = conv.weight.val() * scale.clone().reshape([cout, 1, 1, 1]);
    let conv_bias = match &conv.bias {
        Some(b) => b.val(),
        None => scale.zeros_like(),
    };
    let bias = (conv_bias - bn.running_mean.value()) * scale + bn.beta.val();
    let mut folded = conv.clone();
    folded.weight = Param::from_tensor(weight);
    folded.bias = Some(Param::from_tensor(bias));
    folded
}

/// A residual block after folding: the same wiring as `resnet::BasicBlock`.
#[derive(Debug, Clone)]
struct FoldedBlock {
    conv1: Conv2d,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

/// ResNet with folded BatchNorm; built by [`InferenceNet::fold`].
#[derive(Debug, Clone)]
pub struct FoldedResNet {
    stem: Conv2d,
    blocks: Vec<FoldedBlock>,
    fc: Linear,
}

/// VGG-BN with folded BatchNorm; built by [`InferenceNet::fold`].
#[derive(Debug, Clone)]
pub struct FoldedVgg {
    features: Vec<Conv2d>,
    pool_after: Vec<bool>,
    fc: Linear,
}

/// A network ready for evaluation-mode forward passes, BatchNorm folded where there is any.
// One per loaded model and moved rarely: boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum InferenceNet {
    ResNet(FoldedResNet),
    Vgg(FoldedVgg),
    /// Architectures without BatchNorm run as they are.
    Plain(Network),
}

impl InferenceNet {
    /// Folds `net`, which must already be in evaluation mode (`Network::valid()`).
    pub fn fold(net: Network) -> InferenceNet {
        match net {
            Network::ResNet(r) => InferenceNet::ResNet(fold_resnet(&r)),
            Network::Vgg(v) => InferenceNet::Vgg(fold_vgg(&v)),
            other => InferenceNet::Plain(other),
        }
    }

    /// Logits for normalised images, exactly as `Network::forward` in evaluation mode up to
    /// floating-point rounding.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            InferenceNet::ResNet(r) => r.forward(x),
            InferenceNet::Vgg(v) => v.forward(x),
            InferenceNet::Plain(n) => n.forward(x),
        }
    }
}

fn fold_resnet(r: &ResNet) -> FoldedResNet {
    let blocks = r
        .blocks
        .iter()
        .map(|b| FoldedBlock {
            conv1: fold_batch_norm(&b.conv1, &b.bn1),
            conv2: fold_batch_norm(&b.conv2, &b.bn2),
            shortcut: b.shortcut.as_ref().map(|s| fold_batch_norm(&s.conv, &s.bn)),
        })
        .collect();
    FoldedResNet { stem: fold_batch_norm(&r.stem.conv, &r.stem.bn), blocks, fc: r.fc.clone() }
}

fn fold_vgg(v: &Vgg) -> FoldedVgg {
    FoldedVgg {
        features: v.features.iter().map(|l| fold_batch_norm(&l.conv, &l.bn)).collect(),
        pool_after: v.pool_after().to_vec(),
        fc: v.fc.clone(),
    }
}

impl FoldedResNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = relu(conv2d(&self.stem, x));
        for block in &self.blocks {
            let identity = match &block.shortcut {
                Some(s) => conv2d(s, h.clone()),
                None => h.clone(),
            };
            let inner = relu(conv2d(&block.conv1, h));
            h = relu(conv2d(&block.conv2, inner) + identity);
        }
        let pooled: Tensor<2> = h.mean_dim(3).mean_dim(2).flatten(1, 3);
        self.fc.forward(pooled)
    }
}

impl FoldedVgg {
    fn forward(&self, mut x: Tensor<4>) -> Tensor<2> {
        for (conv, &pool) in self.features.iter().zip(&self.pool_after) {
            x = relu(conv2d(conv, x));
            if pool {
                x = max_pool(x);
            }
        }
        let pooled: Tensor<2> = x.mean_dim(3).mean_dim(2).flatten(1, 3);
        self.fc.forward(pooled)
    }
}
