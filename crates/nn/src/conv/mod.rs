//! mown's 2-D convolution for burn's CPU backend (issue #31): every model calls [`conv2d`] instead
//! of `Conv2d::forward`. On the `flex` device (plain or autodiff) and for the convolutions mown's
//! models have (f32, groups 1, dilation 1, explicit or no padding) it runs [`kernels`] through a
//! burn backend extension; anything else (Vulkan, `Same` padding, grouped convolutions) goes to
//! burn's own op. The module's parameters stay burn's `Conv2d`, so ONNX export, BatchNorm folding
//! and the safetensors files are unchanged.
//!
//! `MOWN_CONV=burn` in the environment (read once) or [`set_fast`] turns the fast path off, for
//! the before/after columns of `mown bench nn` and to rule it out when chasing a difference.

mod extension;
pub mod kernels;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use burn::backend::{Dispatch, DispatchDevice};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{DType, Tensor};

pub use extension::FastConvBackend;
pub use kernels::ConvGeometry;

/// 0: not decided yet (read `MOWN_CONV`), 1: fast path, 2: burn's op.
static MODE: AtomicU8 = AtomicU8::new(0);
static FROM_ENV: OnceLock<bool> = OnceLock::new();

/// Whether [`conv2d`] takes the fast path where it can.
pub fn fast_enabled() -> bool {
    match MODE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => *FROM_ENV.get_or_init(|| !std::env::var("MOWN_CONV").is_ok_and(|v| v.eq_ignore_ascii_case("burn"))),
    }
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

/// Always mown's kernels (panics where [`fast_geometry`] says they do not apply); for tests.
pub fn conv2d_fast(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let g = fast_geometry(conv, &x).expect("a convolution mown's kernels take");
    fast_conv2d(conv, x, g)
}

fn fast_conv2d(conv: &Conv2d, x: Tensor<4>, g: ConvGeometry) -> Tensor<4> {
    let weight = conv.weight.val();
    let out = <Dispatch as FastConvBackend>::fast_conv2d(x.into_dispatch(), weight.into_dispatch(), g);
    let out = Tensor::<4>::from_dispatch(out);
    match &conv.bias {
        Some(bias) => out + bias.val().reshape([1, g.channels_out, 1, 1]),
        None => out,
    }
}

/// The geometry when mown's kernels can run this convolution on this input, else `None`.
pub fn fast_geometry(conv: &Conv2d, x: &Tensor<4>) -> Option<ConvGeometry> {
    if conv.groups != 1 || conv.dilation != [1, 1] || x.dtype() != DType::F32 {
        return None;
    }
    if !matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_)) {
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
