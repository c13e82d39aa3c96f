//! mown's 2-D convolution for burn's CPU backend (issue #31): every model calls [`conv2d`] instead
//! of `Conv2d::forward`. On the `flex` device (plain or autodiff) and for the convolutions mown's
//! models have (f32, groups 1, dilation 1, explicit or no padding) it runs [`kernels`] through a
//! burn backend extension; anything else (Vulkan, `Same` padding, grouped convolutions) goes to
//! burn's own op. The module's parameters stay burn's `Conv2d`, so ONNX export, BatchNorm folding
//! and the safetensors files are unchanged.
//!
//! The same extension carries 2x2 max pooling, ELU and BatchNorm in training ([`max_pool2x2`],
//! [`elu`], [`batch_norm`]), the next hot spots once the convolution was fast
//! (docs/performance.md).
//!
//! `MOWN_CONV=burn` in the environment (read once) or [`set_fast`] turns the fast path off, for
//! the before/after columns of `mown bench nn` and to rule it out when chasing a difference.

pub mod batch_norm;
mod extension;
pub mod kernels;
pub mod pool_elu;

use std::sync::atomic::{AtomicU8, Ordering};

use burn::backend::{Dispatch, DispatchDevice};
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::{DType, Tensor};

pub use extension::MownCpuOps;
pub use kernels::ConvGeometry;

/// 0: not decided yet (read `MOWN_CONV` on first use), 1: fast path, 2: burn's op.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Whether [`conv2d`] takes the fast path where it can.
pub fn fast_enabled() -> bool {
    if MODE.load(Ordering::Relaxed) == 0 {
        let burn = std::env::var("MOWN_CONV").is_ok_and(|v| v.eq_ignore_ascii_case("burn"));
        // A `set_fast` that came first wins.
        let _ = MODE.compare_exchange(0, if burn { 2 } else { 1 }, Ordering::Relaxed, Ordering::Relaxed);
    }
    MODE.load(Ordering::Relaxed) == 1
}

/// Chooses the path for the whole process (benchmarks compare the two in one run).
pub fn set_fast(on: bool) {
    MODE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// `conv.forward(x)`, on mown's kernels where they apply.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !fast_enabled() {
        return conv.forward(x);
    }
    match fast_geometry(conv, &x) {
        Some(g) => fast_conv2d(conv, x, g),
        None => conv.forward(x),
    }
}

/// A convolution given as tensors (an imported graph's Conv node): `pads` as (top, left, bottom,
/// right), ONNX's order. mown's kernels where they apply (no groups or dilation, on the CPU
/// backend), else burn's op.
pub fn conv2d_tensors(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    pads: [usize; 4],
    dilation: [usize; 2],
    groups: usize,
) -> Tensor<4> {
    let [channels_out, channels_in, kh, kw] = weight.dims();
    let [batch, c, height, width] = x.dims();
    let g = ConvGeometry { batch, channels_in, height, width, channels_out, kernel: [kh, kw], stride, padding: pads };
    let fits = groups == 1 && dilation == [1, 1] && c == channels_in && g.output_size().is_some();
    if !(fast_enabled() && fits && on_flex(&x)) {
        let padding = [(pads[0], pads[2]), (pads[1], pads[3])];
        let options = burn::tensor::ops::ConvOptions::new_with_padding(stride, padding, dilation, groups);
        return burn::tensor::module::conv2d(x, weight, bias, options);
    }
    let out =
        Tensor::<4>::from_dispatch(<Dispatch as MownCpuOps>::fast_conv2d(x.into_dispatch(), weight.into_dispatch(), g));
    match bias {
        Some(b) => out + b.reshape([1, channels_out, 1, 1]),
        None => out,
    }
}

/// Always mown's kernels (panics where [`fast_geometry`] says they do not apply); for tests.
pub fn conv2d_fast(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let g = fast_geometry(conv, &x).expect("a convolution mown's kernels take");
    fast_conv2d(conv, x, g)
}

fn fast_conv2d(conv: &Conv2d, x: Tensor<4>, g: ConvGeometry) -> Tensor<4> {
    let weight = conv.weight.val();
    let out = <Dispatch as MownCpuOps>::fast_conv2d(x.into_dispatch(), weight.into_dispatch(), g);
    let out = Tensor::<4>::from_dispatch(out);
    match &conv.bias {
        Some(bias) => out + bias.val().reshape([1, g.channels_out, 1, 1]),
        None => out,
    }
}

/// Whether `x` lives where mown's kernels run: burn-flex (plain or autodiff), f32.
fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// 2x2 max pooling with stride 2 (no padding; odd last rows and columns dropped), as
/// `MaxPool2dConfig::new([2, 2]).with_strides([2, 2])` computes it.
pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if fast_enabled() && on_flex(&x) && h >= 2 && w >= 2 {
        return max_pool2x2_fast(x);
    }
    burn::nn::pool::MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init().forward(x)
}

/// Always mown's pooling kernel; for tests.
pub fn max_pool2x2_fast(x: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as MownCpuOps>::fast_max_pool2x2(x.into_dispatch()))
}

/// ELU: x where x > 0, alpha (exp(x) - 1) elsewhere, as `burn::tensor::activation::elu`
/// computes it; mown's kernel for alpha > 0 on the CPU backend.
pub fn elu<const D: usize>(x: Tensor<D>, alpha: f64) -> Tensor<D> {
    if fast_enabled() && on_flex(&x) && alpha > 0.0 {
        return elu_fast(x, alpha);
    }
    // burn's elu computes exp(x) everywhere and masks it: its backward, 0 * exp(x), is NaN for
    // x > ~88. Clamping first gives the same values and finite gradients.
    x.clone().clamp_min(0.0) + (x.clamp_max(0.0).exp() - 1.0).mul_scalar(alpha)
}

/// Always mown's ELU kernel; for tests.
pub fn elu_fast<const D: usize>(x: Tensor<D>, alpha: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as MownCpuOps>::fast_elu(x.into_dispatch(), alpha as f32))
}

/// `bn.forward(x)`: in training (an autodiff device and the layer's training flag on, as burn
/// decides) the statistics and the normalisation run on mown's kernels, and the running mean and
/// variance are updated exactly as burn's `BatchNorm::forward_train` does; in inference it is
/// burn's own forward.
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let training = x.device().is_autodiff() && bn.training.is_enabled();
    if !(training && fast_enabled() && on_flex(&x) && D >= 2) {
        return bn.forward(x);
    }
    let channels = bn.gamma.dims()[0];
    if x.dims()[1] != channels {
        return bn.forward(x); // burn's forward reports the mismatch
    }
    let stats = Tensor::<2>::from_dispatch(<Dispatch as MownCpuOps>::fast_bn_stats(x.clone().into_dispatch()));
    let out = <Dispatch as MownCpuOps>::fast_bn_train(
        x.clone().into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        stats.clone().into_dispatch(),
        bn.epsilon,
    );
    let device = x.device();
    let [mean, variance] = [0, 1].map(|r| stats.clone().slice([r..r + 1, 0..channels]).reshape([channels]).detach());
    let keep = 1.0 - bn.momentum;
    let running_mean =
        bn.running_mean.value_sync().to_device(&device).mul_scalar(keep).add(mean.mul_scalar(bn.momentum));
    let running_var =
        bn.running_var.value_sync().to_device(&device).mul_scalar(keep).add(variance.mul_scalar(bn.momentum));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    Tensor::from_dispatch(out)
}

/// The geometry when mown's kernels can run this convolution on this input, else `None`.
pub fn fast_geometry(conv: &Conv2d, x: &Tensor<4>) -> Option<ConvGeometry> {
    if conv.groups != 1 || conv.dilation != [1, 1] || !on_flex(x) {
        return None;
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right],
        PaddingConfig2d::Same => return None,
    };
    let [channels_out, channels_in, kh, kw] = conv.weight.dims();
    let [batch, c, height, width] = x.dims();
    let g = ConvGeometry {
        batch,
        channels_in,
        height,
        width,
        channels_out,
        kernel: [kh, kw],
        stride: conv.stride,
        padding,
    };
    // A mismatch is left to burn's op, which reports it.
    (c == channels_in && [kh, kw] == conv.kernel_size && g.output_size().is_some()).then_some(g)
}

#[cfg(test)]
mod tests;
