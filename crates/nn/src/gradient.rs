//! Gradients with respect to the input pixels: the core of IPGuard, CW-L2, PGD/FGSM and the
//! margin watermark. The model runs in evaluation mode (BatchNorm running statistics are read,
//! never updated, and folded into the convolutions: `models::folded`) with its weights off the
//! autodiff graph, so only the input gradient is built.

use burn::prelude::*;

use crate::model::Model;

/// What one backward pass through the input gives back.
pub struct InputGradient {
    /// d objective / d input, same shape as the input, on a plain device.
    pub grad: Tensor<4>,
    /// The logits of the forward pass (detached).
    pub logits: Tensor<2>,
    /// The objective's value.
    pub objective: f32,
}

impl Model {
    /// Gradient of `objective(logits)` (a scalar) with respect to pixel-space `images`.
    pub fn input_gradient(&self, images: Tensor<4>, objective: impl FnOnce(Tensor<2>) -> Tensor<1>) -> InputGradient {
        let net = self.inference_net();
        let x = images.without_autodiff().autodiff().require_grad();
        let logits = self.forward_inference(&net, x.clone());
        let loss = objective(logits.clone());
        let value = loss.clone().into_scalar::<f32>();
        let grads = loss.backward();
        let grad = x.grad(&grads).unwrap_or_else(|| x.clone().without_autodiff().zeros_like());
        InputGradient { grad, logits: logits.without_autodiff(), objective: value }
    }
}
