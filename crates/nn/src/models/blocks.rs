//! Small building blocks shared by several architectures.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Elu, EluConfig, PRelu, PReluConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// The activations the simple Fashion-MNIST CNNs vary over (seed 003 Table 1).
#[derive(Module, Debug)]
pub enum Activation {
    Relu(Relu),
    Elu(Elu),
    PRelu(PRelu),
}

impl Activation {
    pub fn relu() -> Self {
        Activation::Relu(Relu::new())
    }
    pub fn elu() -> Self {
        Activation::Elu(EluConfig::new().init())
    }
    /// One learnable slope per layer (PyTorch's `nn.PReLU()` default).
    pub fn prelu(device: &Device) -> Self {
        Activation::PRelu(PReluConfig::new().init(device))
    }
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu(a) => a.forward(x),
            Activation::Elu(a) => crate::conv::elu(x, a.alpha),
            Activation::PRelu(a) => a.forward(x),
        }
    }
}

/// Square convolution with "same" padding for odd kernels, as every architecture here uses.
pub fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, bias: bool, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(kernel / 2, kernel / 2, kernel / 2, kernel / 2))
        .with_bias(bias)
        .init(device)
}

/// BatchNorm with PyTorch's defaults (momentum 0.1, eps 1e-5).
pub fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

/// Convolution, BatchNorm, ReLU: the VGG-BN and ResNet stem unit.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

impl ConvBnRelu {
    pub fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        Self { conv: conv(cin, cout, 3, stride, false, device), bn: batch_norm(cout, device) }
    }
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        burn::tensor::activation::relu(crate::conv::batch_norm(&self.bn, crate::conv::conv2d(&self.conv, x)))
    }
}

/// 2x2 max pooling with stride 2.
pub fn max_pool(x: Tensor<4>) -> Tensor<4> {
    crate::conv::max_pool2x2(x)
}
