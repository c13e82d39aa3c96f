//! Gradients with respect to the input pixels: the core of IPGuard, CW-L2, PGD/FGSM and the
//! margin watermark. The model runs in evaluation mode (BatchNorm running statistics are read,
//! never updated, and folded into the convolutions: `models::folded`) with its weights off the
//! autodiff graph, so only the input gradient is built.

use burn::prelude::*;

use crate::model::{Model, block_ranges, images_tensor, tensor_to_vec};
use crate::models::InferenceNet;

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
        self.input_gradient_through(&self.inference_net(), images, objective)
    }

    /// [`Model::input_gradient`] through an already folded `net` (from [`Model::inference_net`]),
    /// so that callers running several batches fold once.
    fn input_gradient_through(
        &self,
        net: &InferenceNet,
        images: Tensor<4>,
        objective: impl FnOnce(Tensor<2>) -> Tensor<1>,
    ) -> InputGradient {
        let x = images.without_autodiff().autodiff().require_grad();
        let logits = self.forward_inference(net, x.clone());
        let loss = objective(logits.clone());
        let value = loss.clone().into_scalar::<f32>();
        let grads = loss.backward();
        let grad = x.grad(&grads).unwrap_or_else(|| x.clone().without_autodiff().zeros_like());
        InputGradient { grad, logits: logits.without_autodiff(), objective: value }
    }
}

/// Blocks for [`Model::row_blocks_input_gradient`]. Two keep both cores of the 2-core CI machine
/// busy: on ResNet-20 at 32x32x3 the IPGuard loop took 43-44 s with 2 blocks against 53-56 s with
/// 1; 4 blocks gave 41.5 s and 51.9 s, too unsteady to prefer (docs/performance.md).
pub const GRADIENT_BLOCKS: usize = 2;

/// What [`Model::row_blocks_input_gradient`] gives back, as flat row-major buffers.
pub struct RowsGradient {
    /// d objective / d input, `[n, c, h, w]` row-major.
    pub grad: Vec<f32>,
    /// Logits, `[n, classes]` row-major.
    pub logits: Vec<f32>,
    /// The objective, summed over the blocks.
    pub objective: f32,
}

impl Model {
    /// Input gradient of an objective that is a sum of per-image terms, computed in `blocks`
    /// blocks of consecutive images at the same time on burn's thread pool.
    ///
    /// Why: burn-flex runs parts of every convolution on one thread (the NHWC conversion of its
    /// input, small elementwise ops, the autodiff bookkeeping), so one large batch keeps a 2-core
    /// machine only about 1.5 cores busy; two blocks in flight fill those gaps. The result is
    /// exact for row-separable objectives: in evaluation mode an image's logits and gradient do
    /// not depend on the other images of the batch. `objective(logits, rows)` gets the logits of
    /// the images `rows` (indices into the whole batch) and must return the sum of their terms.
    pub fn row_blocks_input_gradient(
        &self,
        images: &[f32],
        blocks: usize,
        objective: impl Fn(Tensor<2>, std::ops::Range<usize>) -> Tensor<1> + Sync,
    ) -> Result<RowsGradient, crate::NnError> {
        use rayon::prelude::*;
        let n = self.check_images(images)?;
        let numel = self.input_shape().numel();
        // One folded network for all blocks; the input is moved onto the autodiff device anyway.
        let net = self.inference_net();
        let device = self.device();
        let size = n.div_ceil(blocks.clamp(1, n.max(1)));
        let parts: Vec<(Vec<f32>, Vec<f32>, f32)> = block_ranges(n, size)
            .par_iter()
            .map(|rows| {
                let x = images_tensor(&images[rows.start * numel..rows.end * numel], self.input_shape(), &device);
                let g = self.input_gradient_through(&net, x, |logits| objective(logits, rows.clone()));
                (tensor_to_vec(g.grad), tensor_to_vec(g.logits), g.objective)
            })
            .collect();
        let mut out = RowsGradient { grad: Vec::with_capacity(images.len()), logits: Vec::new(), objective: 0.0 };
        for (grad, logits, objective) in parts {
            out.grad.extend(grad);
            out.logits.extend(logits);
            out.objective += objective;
        }
        Ok(out)
    }
}
