//! The convolution of [`super::kernels`], and the pooling and ELU of [`super::pool_elu`],
//! registered with burn as a backend extension: a forward on burn-flex's tensors, and for the
//! autodiff backend a handwritten backward that calls the gradient kernels (burn's own conv
//! backward goes through a transposed convolution).

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Bytes, DType, Flex, Shape, Slice, TensorMetadata, backend_extension};

use super::batch_norm::{self, BnShape};
use super::kernels::{self, ConvGeometry};
use super::pool_elu;

/// One operation and its two gradients, each a primitive of the backend it runs on.
#[backend_extension(Flex, Autodiff)]
pub trait MownCpuOps: Backend {
    /// `conv(x, weight)` without bias; `geometry` was checked against both shapes.
    fn fast_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, geometry: ConvGeometry) -> FloatTensor<Self>;
    /// The gradient with respect to `x`, given the output's gradient.
    fn fast_conv2d_input_grad(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;
    /// The gradient with respect to `weight`, given the output's gradient.
    fn fast_conv2d_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        geometry: ConvGeometry,
    ) -> FloatTensor<Self>;
    /// 2x2 stride-2 max pooling of an NCHW tensor.
    fn fast_max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Its input gradient, given the input and the output's gradient.
    fn fast_max_pool2x2_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
    /// ELU with slope `alpha` for x <= 0.
    fn fast_elu(x: FloatTensor<Self>, alpha: f32) -> FloatTensor<Self>;
    /// Its input gradient, given its output and the output's gradient.
    fn fast_elu_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>, alpha: f32) -> FloatTensor<Self>;
    /// BatchNorm's batch statistics, `[2, channels]`: means, then biased variances (constants).
    fn fast_bn_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// BatchNorm in training with the statistics of `fast_bn_stats` (differentiated in x, gamma
    /// and beta, the statistics' dependence on x included).
    fn fast_bn_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
    /// `[2, channels]`: the gradients of gamma, then of beta.
    fn fast_bn_param_grads(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
    /// The input gradient, given the parameter gradients of `fast_bn_param_grads`.
    fn fast_bn_input_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        sums: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

/// The tensor with its values in one contiguous f32 run (a copy only when a view is strided).
fn contiguous(t: FlexTensor, what: &str) -> FlexTensor {
    assert_eq!(t.dtype(), DType::F32, "mown's convolution takes f32 {what}, got {:?}", t.dtype());
    if t.as_slice::<f32>().is_some() { t } else { t.to_contiguous() }
}

fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("made contiguous f32 by `contiguous`")
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(Shape::from(shape)), DType::F32)
}

/// (planes, height, width) of an NCHW tensor.
fn planes(t: &FlexTensor) -> (usize, usize, usize) {
    let dims = t.layout().shape();
    let [n, c, h, w] = [dims[0], dims[1], dims[2], dims[3]];
    (n * c, h, w)
}

fn bn_shape(t: &FlexTensor) -> BnShape {
    let dims = t.layout().shape();
    BnShape { batch: dims[0], channels: dims[1], spatial: dims.iter().skip(2).product() }
}

fn shaped(values: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(like.layout().shape().clone()), DType::F32)
}

fn output_shape(g: &ConvGeometry) -> [usize; 4] {
    let [oh, ow] = g.output_size().expect("checked by the caller");
    [g.batch, g.channels_out, oh, ow]
}

impl MownCpuOps for Flex {
    fn fast_conv2d(x: FlexTensor, weight: FlexTensor, g: ConvGeometry) -> FlexTensor {
        let (x, weight) = (contiguous(x, "input"), contiguous(weight, "weight"));
        tensor(kernels::conv2d_forward(&g, values(&x), values(&weight)), output_shape(&g))
    }

    fn fast_conv2d_input_grad(weight: FlexTensor, grad: FlexTensor, g: ConvGeometry) -> FlexTensor {
        let (weight, grad) = (contiguous(weight, "weight"), contiguous(grad, "gradient"));
        let shape = [g.batch, g.channels_in, g.height, g.width];
        tensor(kernels::conv2d_input_grad(&g, values(&weight), values(&grad)), shape)
    }

    fn fast_conv2d_weight_grad(x: FlexTensor, grad: FlexTensor, g: ConvGeometry) -> FlexTensor {
        let (x, grad) = (contiguous(x, "input"), contiguous(grad, "gradient"));
        let shape = [g.channels_out, g.channels_in, g.kernel[0], g.kernel[1]];
        tensor(kernels::conv2d_weight_grad(&g, values(&x), values(&grad)), shape)
    }

    fn fast_max_pool2x2(x: FlexTensor) -> FlexTensor {
        let x = contiguous(x, "input");
        let (p, h, w) = planes(&x);
        tensor(pool_elu::max_pool2x2(values(&x), p, h, w), {
            let d = x.layout().shape();
            [d[0], d[1], h / 2, w / 2]
        })
    }

    fn fast_max_pool2x2_backward(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (x, grad) = (contiguous(x, "input"), contiguous(grad, "gradient"));
        let (p, h, w) = planes(&x);
        shaped(pool_elu::max_pool2x2_backward(values(&x), values(&grad), p, h, w), &x)
    }

    fn fast_elu(x: FlexTensor, alpha: f32) -> FlexTensor {
        let x = contiguous(x, "input");
        shaped(pool_elu::elu(values(&x), alpha), &x)
    }

    fn fast_elu_backward(y: FlexTensor, grad: FlexTensor, alpha: f32) -> FlexTensor {
        let (y, grad) = (contiguous(y, "output"), contiguous(grad, "gradient"));
        shaped(pool_elu::elu_backward(values(&y), values(&grad), alpha), &grad)
    }

    fn fast_bn_stats(x: FlexTensor) -> FlexTensor {
        let x = contiguous(x, "input");
        let shape = bn_shape(&x);
        matrix(batch_norm::stats(values(&x), shape), shape.channels)
    }

    fn fast_bn_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, stats: FlexTensor, eps: f64) -> FlexTensor {
        let (x, gamma) = (contiguous(x, "input"), contiguous(gamma, "gamma"));
        let (beta, stats) = (contiguous(beta, "beta"), contiguous(stats, "statistics"));
        let out = batch_norm::forward(values(&x), values(&gamma), values(&beta), values(&stats), eps, bn_shape(&x));
        shaped(out, &x)
    }

    fn fast_bn_param_grads(x: FlexTensor, stats: FlexTensor, grad: FlexTensor, eps: f64) -> FlexTensor {
        let (x, stats, grad) = (contiguous(x, "input"), contiguous(stats, "statistics"), contiguous(grad, "gradient"));
        let shape = bn_shape(&x);
        matrix(batch_norm::param_grads(values(&x), values(&grad), values(&stats), eps, shape), shape.channels)
    }

    fn fast_bn_input_grad(
        x: FlexTensor,
        gamma: FlexTensor,
        stats: FlexTensor,
        sums: FlexTensor,
        grad: FlexTensor,
        eps: f64,
    ) -> FlexTensor {
        let (x, gamma, stats) = (contiguous(x, "input"), contiguous(gamma, "gamma"), contiguous(stats, "statistics"));
        let (sums, grad) = (contiguous(sums, "sums"), contiguous(grad, "gradient"));
        let shape = bn_shape(&x);
        let dx = batch_norm::input_grad(
            values(&x),
            values(&gamma),
            values(&stats),
            values(&sums),
            values(&grad),
            eps,
            shape,
        );
        shaped(dx, &x)
    }
}

/// A `[2, channels]` tensor.
fn matrix(values: Vec<f32>, channels: usize) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(Shape::new([2, channels])), DType::F32)
}

/// Row `row` of a `[2, channels]` tensor, as `[channels]`.
fn row<B: Backend>(t: FloatTensor<B>, row: usize, channels: usize) -> FloatTensor<B> {
    let sliced = B::float_slice(t, &[Slice::from(row..row + 1), Slice::from(0..channels)]);
    B::float_reshape(sliced, Shape::new([channels]))
}

#[derive(Debug)]
struct BatchNormBackward;

impl<B: Backend + MownCpuOps> Backward<B, 3> for BatchNormBackward {
    type State = (NodeId, NodeId, FloatTensor<B>, f64, usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, stats, eps, channels) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let gamma: FloatTensor<B> = checkpointer.retrieve_node_output(gamma_state);
        let sums = B::fast_bn_param_grads(x.clone(), stats.clone(), grad.clone(), eps);
        if let Some(node) = node_gamma {
            grads.register::<B>(node.id, row::<B>(sums.clone(), 0, channels));
        }
        if let Some(node) = node_beta {
            grads.register::<B>(node.id, row::<B>(sums.clone(), 1, channels));
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::fast_bn_input_grad(x, gamma, stats, sums, grad, eps));
        }
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl<B: Backend + MownCpuOps> Backward<B, 1> for MaxPoolBackward {
    type State = NodeId;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::fast_max_pool2x2_backward(x, grad));
        }
    }
}

#[derive(Debug)]
struct EluBackward;

impl<B: Backend + MownCpuOps> Backward<B, 1> for EluBackward {
    type State = (FloatTensor<B>, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (y, alpha) = ops.state;
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::fast_elu_backward(y, grad, alpha));
        }
    }
}

/// The backward step: both gradients from the inner backend's kernels, each only when needed.
#[derive(Debug)]
struct FastConvBackward;

impl<B: Backend + MownCpuOps> Backward<B, 2> for FastConvBackward {
    type State = (NodeId, NodeId, ConvGeometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, g) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::fast_conv2d_input_grad(weight, grad.clone(), g));
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, B::fast_conv2d_weight_grad(x, grad, g));
        }
    }
}

impl<B: Backend + MownCpuOps, C: CheckpointStrategy> MownCpuOps for Autodiff<B, C> {
    fn fast_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, g: ConvGeometry) -> FloatTensor<Self> {
        match FastConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let out = B::fast_conv2d(x.into_primitive(), weight.into_primitive(), g);
                prep.finish((x_state, weight_state, g), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fast_conv2d(x.into_primitive(), weight.into_primitive(), g)),
        }
    }

    // The gradients themselves are not differentiated again (no second-order use in mown).
    fn fast_conv2d_input_grad(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        g: ConvGeometry,
    ) -> FloatTensor<Self> {
        let out = B::fast_conv2d_input_grad(weight.into_primitive(), grad.into_primitive(), g);
        <FloatTensor<Self>>::new(out)
    }

    fn fast_conv2d_weight_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>, g: ConvGeometry) -> FloatTensor<Self> {
        let out = B::fast_conv2d_weight_grad(x.into_primitive(), grad.into_primitive(), g);
        <FloatTensor<Self>>::new(out)
    }

    fn fast_max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPoolBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish(state, B::fast_max_pool2x2(x.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fast_max_pool2x2(x.into_primitive())),
        }
    }

    fn fast_max_pool2x2_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::fast_max_pool2x2_backward(x.into_primitive(), grad.into_primitive()))
    }

    fn fast_elu(x: FloatTensor<Self>, alpha: f32) -> FloatTensor<Self> {
        match EluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::fast_elu(x.into_primitive(), alpha);
                prep.finish((y.clone(), alpha), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fast_elu(x.into_primitive(), alpha)),
        }
    }

    fn fast_elu_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>, alpha: f32) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::fast_elu_backward(y.into_primitive(), grad.into_primitive(), alpha))
    }

    // Constants: burn's BatchNorm detaches the statistics it keeps, and the output's backward
    // accounts for their dependence on x.
    fn fast_bn_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <FloatTensor<Self>>::new(B::fast_bn_stats(x.into_primitive()))
    }

    fn fast_bn_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let channels = gamma.primitive().shape()[0];
        let stats = stats.into_primitive();
        match BatchNormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let out = B::fast_bn_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    stats.clone(),
                    eps,
                );
                prep.finish((x_state, gamma_state, stats, eps, channels), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fast_bn_train(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                stats,
                eps,
            )),
        }
    }

    fn fast_bn_param_grads(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let out = B::fast_bn_param_grads(x.into_primitive(), stats.into_primitive(), grad.into_primitive(), eps);
        <FloatTensor<Self>>::new(out)
    }

    fn fast_bn_input_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        sums: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let out = B::fast_bn_input_grad(
            x.into_primitive(),
            gamma.into_primitive(),
            stats.into_primitive(),
            sums.into_primitive(),
            grad.into_primitive(),
            eps,
        );
        <FloatTensor<Self>>::new(out)
    }
}
