//! The graph IR's operators on burn tensors, differentiable through autodiff.
//!
//! burn fixes a tensor's rank in its type, and an ONNX graph's ranks vary from node to node, so
//! every value is held as a rank-[`RANK`] tensor padded with leading 1s. numpy broadcasting
//! aligns trailing axes, which is what burn's same-rank broadcasting then does; reshapes to and
//! from the padded form are free views.

use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu, sigmoid, tanh};
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions, PadMode};

use super::graph::{Dim, Op};

/// The rank every value is padded to; the largest rank an imported graph may use.
pub const RANK: usize = 6;

/// A value of logical rank `rank` (at most [`RANK`]).
#[derive(Clone, Debug)]
pub struct Val {
    pub t: Tensor<RANK>,
    pub rank: usize,
}

fn padded(dims: &[usize]) -> [usize; RANK] {
    let mut out = [1; RANK];
    out[RANK - dims.len()..].copy_from_slice(dims);
    out
}

impl Val {
    pub fn new<const D: usize>(t: Tensor<D>) -> Val {
        let dims = t.dims();
        Val { t: t.reshape(padded(&dims)), rank: D }
    }

    /// A value of shape `dims` from a tensor of the same number of elements.
    pub fn shaped<const D: usize>(t: Tensor<D>, dims: &[usize]) -> Val {
        Val { t: t.reshape(padded(dims)), rank: dims.len() }
    }

    pub fn dims(&self) -> Vec<usize> {
        self.t.dims()[RANK - self.rank..].to_vec()
    }

    /// This value as a rank-`D` tensor (leading axes of size 1 added when its rank is lower).
    pub fn get<const D: usize>(&self) -> Tensor<D> {
        debug_assert!(self.rank <= D, "a rank-{} value read as rank {D}", self.rank);
        let dims = self.t.dims();
        let mut out = [1; D];
        out.copy_from_slice(&dims[RANK - D..]);
        self.t.clone().reshape(out)
    }

    fn with(self, t: Tensor<RANK>) -> Val {
        Val { t, rank: self.rank }
    }

    fn reshape(self, dims: &[usize]) -> Val {
        Val { t: self.t.reshape(padded(dims)), rank: dims.len() }
    }

    /// Leading padding axes of this value.
    fn offset(&self) -> usize {
        RANK - self.rank
    }
}

/// Elementwise with numpy broadcasting.
fn binary(a: Val, b: Val, f: impl Fn(Tensor<RANK>, Tensor<RANK>) -> Tensor<RANK>) -> Val {
    Val { rank: a.rank.max(b.rank), t: f(a.t, b.t) }
}

/// `(top, bottom), (left, right)` from ONNX-order pads.
fn pairs(pads: &[usize; 4]) -> [(usize, usize); 2] {
    [(pads[0], pads[2]), (pads[1], pads[3])]
}

/// Runs `op` on its operands. `batch` is the batch size of the run (for reshape targets that
/// name it). Shapes were checked when the graph was built, so a mismatch here is a bug.
pub fn apply(op: &Op, mut x: Vec<Val>, batch: usize) -> Val {
    let second = |x: &mut Vec<Val>| x.remove(1);
    match op {
        Op::Conv { strides, pads, dilations, group } => {
            let bias = x.get(2).map(|b| b.get::<1>());
            let (input, weight) = (x[0].get::<4>(), x[1].get::<4>());
            Val::new(crate::conv::conv2d_tensors(input, weight, bias, *strides, *pads, *dilations, *group))
        }
        Op::Gemm { alpha, beta, trans_a, trans_b } => {
            let mut a = x[0].get::<2>();
            let mut b = x[1].get::<2>();
            if *trans_a {
                a = a.transpose();
            }
            if *trans_b {
                b = b.transpose();
            }
            let mut y = a.matmul(b);
            if *alpha != 1.0 {
                y = y.mul_scalar(*alpha);
            }
            let y = Val::new(y);
            match x.get(2) {
                Some(c) if *beta == 1.0 => binary(y, c.clone(), |p, q| p + q),
                Some(c) => binary(y, c.clone(), |p, q| p + q.mul_scalar(*beta)),
                None => y,
            }
        }
        Op::MatMul => {
            let b = second(&mut x);
            binary(x.remove(0), b, |p, q| p.matmul(q))
        }
        Op::Add => {
            let b = second(&mut x);
            binary(x.remove(0), b, |p, q| p + q)
        }
        Op::Sub => {
            let b = second(&mut x);
            binary(x.remove(0), b, |p, q| p - q)
        }
        Op::Mul => {
            let b = second(&mut x);
            binary(x.remove(0), b, |p, q| p * q)
        }
        Op::Div => {
            let b = second(&mut x);
            binary(x.remove(0), b, |p, q| p / q)
        }
        Op::Relu => unary(x, relu),
        Op::LeakyRelu { alpha } => unary(x, |t| leaky_relu(t, *alpha as f64)),
        Op::PRelu => {
            let slope = second(&mut x);
            let v = x.remove(0);
            let neg = v.t.clone().clamp_max(0.0);
            let t = relu(v.t.clone()) + neg * slope.t;
            v.with(t)
        }
        Op::Elu { alpha } => unary(x, |t| crate::conv::elu(t, *alpha as f64)),
        Op::Sigmoid => unary(x, sigmoid),
        Op::Tanh => unary(x, tanh),
        Op::Clip { min, max } => unary(x, |t| match (min, max) {
            (Some(lo), Some(hi)) => t.clamp(*lo, *hi),
            (Some(lo), None) => t.clamp_min(*lo),
            (None, Some(hi)) => t.clamp_max(*hi),
            (None, None) => t,
        }),
        Op::BatchNorm { epsilon } => {
            let input = x.remove(0);
            let [scale, shift, mean, var] = [0, 1, 2, 3].map(|i| x[i].get::<1>());
            let c = scale.dims()[0];
            let factor = scale / (var + *epsilon).sqrt();
            let offset = shift - mean * factor.clone();
            // The channel is axis 1 of the logical shape.
            let mut dims = [1; RANK];
            dims[input.offset() + 1] = c;
            let t = input.t.clone() * factor.reshape(dims) + offset.reshape(dims);
            input.with(t)
        }
        // The common 2x2 / stride 2 pooling without padding (floor mode, or ceil mode on even
        // sizes, where it changes nothing): mown's kernel.
        Op::MaxPool { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], ceil_mode }
            if {
                let [_, _, h, w] = x[0].get::<4>().dims();
                !*ceil_mode || (h % 2 == 0 && w % 2 == 0)
            } =>
        {
            Val::new(crate::conv::max_pool2x2(x[0].get::<4>()))
        }
        Op::MaxPool { kernel, strides, pads, dilations, ceil_mode } => {
            let options = MaxPoolOptions::new(*kernel)
                .with_stride(*strides)
                .with_padding_pairs(pairs(pads))
                .with_dilation(*dilations)
                .with_ceil_mode(*ceil_mode);
            Val::new(max_pool2d(x[0].get::<4>(), options))
        }
        Op::AveragePool { kernel, strides, pads, count_include_pad, ceil_mode } => {
            let options = AvgPoolOptions::new(*kernel)
                .with_stride(*strides)
                .with_padding_pairs(pairs(pads))
                .with_count_include_pad(*count_include_pad)
                .with_ceil_mode(*ceil_mode);
            Val::new(avg_pool2d(x[0].get::<4>(), options))
        }
        Op::GlobalAveragePool | Op::GlobalMaxPool => {
            let v = x.remove(0);
            let mut t = v.t.clone();
            for axis in v.offset() + 2..RANK {
                t = if matches!(op, Op::GlobalAveragePool) { t.mean_dim(axis) } else { t.max_dim(axis) };
            }
            v.with(t)
        }
        Op::Flatten { axis } => {
            let v = x.remove(0);
            let dims = v.dims();
            let (a, b) = (dims[..*axis].iter().product(), dims[*axis..].iter().product());
            v.reshape(&[a, b])
        }
        Op::Reshape { shape, allowzero } => {
            let v = x.remove(0);
            let dims = reshape_target(&v.dims(), shape, *allowzero, batch);
            v.reshape(&dims)
        }
        Op::Transpose { perm } => {
            let v = x.remove(0);
            let off = v.offset();
            let mut axes: [usize; RANK] = std::array::from_fn(|i| i);
            for (i, &p) in perm.iter().enumerate() {
                axes[off + i] = off + p;
            }
            let t = v.t.clone().permute(axes);
            v.with(t)
        }
        Op::Squeeze { axes } => {
            let v = x.remove(0);
            let dims: Vec<usize> =
                v.dims().into_iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, d)| d).collect();
            v.reshape(&dims)
        }
        Op::Unsqueeze { axes } => {
            let v = x.remove(0);
            let rank = v.rank + axes.len();
            let mut rest = v.dims().into_iter();
            let dims: Vec<usize> =
                (0..rank).map(|i| if axes.contains(&i) { 1 } else { rest.next().unwrap_or(1) }).collect();
            v.reshape(&dims)
        }
        Op::Concat { axis } => {
            let rank = x[0].rank;
            let t = Tensor::cat(x.into_iter().map(|v| v.t).collect(), RANK - rank + axis);
            Val { t, rank }
        }
        Op::Pad { pads, value } => {
            let v = x.remove(0);
            let t = v.t.clone().pad(pads.clone(), PadMode::Constant(*value));
            v.with(t)
        }
        Op::Identity => x.remove(0),
    }
}

fn unary(mut x: Vec<Val>, f: impl Fn(Tensor<RANK>) -> Tensor<RANK>) -> Val {
    let v = x.remove(0);
    let t = f(v.t.clone());
    v.with(t)
}

/// A reshape target resolved for one run: batch multiples, ONNX's 0 and -1.
pub fn reshape_target(input: &[usize], target: &[Dim], allowzero: bool, batch: usize) -> Vec<usize> {
    let total: usize = input.iter().product();
    let mut out: Vec<i64> = target
        .iter()
        .enumerate()
        .map(|(i, d)| match d.value(batch) {
            0 if !allowzero => input[i] as i64,
            v => v,
        })
        .collect();
    if let Some(i) = out.iter().position(|&v| v == -1) {
        let known: i64 = out.iter().filter(|&&v| v != -1).product();
        out[i] = if known == 0 { 0 } else { total as i64 / known };
    }
    out.into_iter().map(|v| v.max(0) as usize).collect()
}
