//! The convolution on plain `f32` slices (NCHW, contiguous): im2col with row copies, one GEMM per
//! image (the `gemm` crate, which burn-flex also uses), col2im for the input gradient.
//!
//! Why not burn-flex's op: its im2col and col2im are scalar strided loops that took 30% and 19% of
//! an input-gradient profile (docs/performance.md), more than the GEMM itself. Here every kernel
//! row is a `copy_from_slice` of one image row when the stride is 1, and a 1x1 convolution with
//! stride 1 and no padding skips im2col altogether. Images are spread over rayon's threads (the
//! pool burn-flex runs on); each GEMM runs on one thread unless the batch is smaller than the pool.

use std::mem::MaybeUninit;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

mod small;

/// Shapes of one 2-D convolution with groups = 1 and dilation = 1 (the only kind mown's models
/// have; anything else stays on burn's op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub channels_in: usize,
    pub height: usize,
    pub width: usize,
    pub channels_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding as (top, left, bottom, right), as burn's `PaddingConfig2d::Explicit` orders it.
    pub padding: [usize; 4],
}

impl ConvGeometry {
    /// Output height and width; `None` when the kernel does not fit the padded input.
    pub fn output_size(&self) -> Option<[usize; 2]> {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl, pb, pr] = self.padding;
        let (h, w) = (self.height + pt + pb, self.width + pl + pr);
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || h < kh || w < kw {
            return None;
        }
        Some([(h - kh) / sh + 1, (w - kw) / sw + 1])
    }

    fn out_hw(&self) -> usize {
        let [oh, ow] = self.output_size().expect("checked by the caller");
        oh * ow
    }

    /// Rows of the im2col matrix: one per (input channel, kernel row, kernel column).
    pub fn patch_len(&self) -> usize {
        self.channels_in * self.kernel[0] * self.kernel[1]
    }

    fn image_len(&self) -> usize {
        self.channels_in * self.height * self.width
    }

    /// A 1x1 kernel with stride 1 and no padding reads the image itself as its im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0; 4]
    }
}

/// For stride 1 and an output as wide as the input (a "same" convolution), kernel offset
/// (ki, kj) reads the image plane shifted by one constant: output j is input j + delta, so a row
/// of the im2col matrix is one contiguous copy (fixed up where it wraps around a row's edge).
struct FlatShift {
    /// Output rows [first, last) whose input row lies inside the image.
    rows: (usize, usize),
    /// Row length, the same for input and output.
    width: usize,
    /// Input index minus output index.
    delta: isize,
}

impl FlatShift {
    fn new(g: &ConvGeometry, ki: usize, kj: usize) -> Option<Self> {
        let [oh, ow] = g.output_size()?;
        if g.stride != [1, 1] || ow != g.width {
            return None;
        }
        let [pt, pl, _, _] = g.padding;
        let first = pt.saturating_sub(ki).min(oh);
        let last = if g.height + pt > ki { (g.height + pt - ki).min(oh) } else { 0 }.max(first);
        let delta = (ki as isize - pt as isize) * g.width as isize + kj as isize - pl as isize;
        Some(FlatShift { rows: (first, last), width: g.width, delta })
    }

    /// (output start, output end, input start, input end) of the one copy, clipped to the plane
    /// of `plane` values; the output range lies within `rows` and may be empty.
    fn ranges(&self, plane: usize) -> (usize, usize, usize, usize) {
        let out0 = (self.rows.0 * self.width) as isize;
        let out1 = (self.rows.1 * self.width) as isize;
        let in0 = (out0 + self.delta).max(0);
        let in1 = (out1 + self.delta).min(plane as isize).max(in0);
        let (d0, d1) = ((in0 - self.delta) as usize, (in1 - self.delta) as usize);
        if d1 <= d0 {
            return (out0 as usize, out0 as usize, 0, 0);
        }
        (d0, d1, in0 as usize, in1 as usize)
    }
}

/// Where kernel offset (ki, kj) reads the image: the same for every input channel, so the table
/// of offsets is built once per call (rebuilding it for each of the C x KH x KW rows of every
/// image cost about 10% of a ResNet-20 profile).
pub struct KernelOffset {
    ki: usize,
    kj: usize,
    /// Output columns [lo, hi) whose input column ox*sw + kj - pl lies inside the image.
    lo: usize,
    hi: usize,
    /// Set for a stride-1 "same" convolution (see [`FlatShift`]).
    shift: Option<FlatShift>,
}

/// The kernel offsets in im2col's row order within one channel (kernel row, kernel column).
pub fn kernel_offsets(g: &ConvGeometry) -> Vec<KernelOffset> {
    let [kh, kw] = g.kernel;
    let [_, ow] = g.output_size().expect("checked by the caller");
    let (sw, pl, w) = (g.stride[1], g.padding[1], g.width);
    (0..kh)
        .flat_map(|ki| (0..kw).map(move |kj| (ki, kj)))
        .map(|(ki, kj)| {
            let lo = pl.saturating_sub(kj).div_ceil(sw).min(ow);
            let hi = if w + pl > kj { ((w + pl - kj - 1) / sw + 1).min(ow) } else { 0 }.max(lo);
            KernelOffset { ki, kj, lo, hi, shift: FlatShift::new(g, ki, kj) }
        })
        .collect()
}

/// The rows of the im2col matrix in order (channel, kernel row, kernel column): (row, channel,
/// offset).
fn patch_rows<'a>(
    g: &ConvGeometry,
    offsets: &'a [KernelOffset],
) -> impl Iterator<Item = (usize, usize, &'a KernelOffset)> + 'a {
    let per_channel = offsets.len();
    (0..g.channels_in).flat_map(move |c| offsets.iter().enumerate().map(move |(o, r)| (c * per_channel + o, c, r)))
}

/// The input row that output row `oy` reads at kernel row `ki`, if inside the image.
fn input_row(g: &ConvGeometry, oy: usize, ki: usize) -> Option<usize> {
    let iy = oy * g.stride[0] + ki;
    (iy >= g.padding[0] && iy - g.padding[0] < g.height).then(|| iy - g.padding[0])
}

/// Zeroes the columns outside [lo, hi) of every `ow`-long line of `rows`.
fn zero_edges(rows: &mut [f32], ow: usize, lo: usize, hi: usize) {
    for line in rows.chunks_mut(ow) {
        line[..lo].fill(0.0);
        line[hi..].fill(0.0);
    }
}

/// Writes image `x` (C x H x W) as the `patch_len x OH*OW` matrix whose column j is the receptive
/// field of output pixel j; padding reads as zero. `offsets` is [`kernel_offsets`]`(g)`.
pub fn im2col(g: &ConvGeometry, offsets: &[KernelOffset], x: &[f32], cols: &mut [f32]) {
    let [oh, ow] = g.output_size().expect("checked by the caller");
    let (sw, pl, hw, w) = (g.stride[1], g.padding[1], g.height * g.width, g.width);
    for (row, c, r) in patch_rows(g, offsets) {
        let plane = &x[c * hw..(c + 1) * hw];
        let dst = &mut cols[row * oh * ow..(row + 1) * oh * ow];
        if let Some(shift) = &r.shift {
            // One copy of the whole shifted plane, then zeros where it wrapped around.
            let (y0, y1) = (shift.rows.0 * ow, shift.rows.1 * ow);
            let (d0, d1, s0, s1) = shift.ranges(hw);
            dst[..d0].fill(0.0);
            dst[d1..].fill(0.0);
            dst[d0..d1].copy_from_slice(&plane[s0..s1]);
            zero_edges(&mut dst[y0..y1], ow, r.lo, r.hi);
            continue;
        }
        for (oy, out) in dst.chunks_mut(ow).enumerate() {
            let Some(iy) = input_row(g, oy, r.ki) else {
                out.fill(0.0);
                continue;
            };
            let src = &plane[iy * w..(iy + 1) * w];
            zero_edges(out, ow, r.lo, r.hi);
            let first = r.lo * sw + r.kj - pl;
            if sw == 1 {
                out[r.lo..r.hi].copy_from_slice(&src[first..first + (r.hi - r.lo)]);
            } else {
                for (o, ix) in out[r.lo..r.hi].iter_mut().zip((first..).step_by(sw)) {
                    *o = src[ix];
                }
            }
        }
    }
}

/// Adds the `patch_len x OH*OW` matrix `cols` back onto image `dx` (C x H x W): the adjoint of
/// [`im2col`], so the input gradient is `col2im(W^T * grad)`. Padding positions are dropped.
///
/// `cols` is scratch: entries that would wrap around a row edge are zeroed in place first.
pub fn col2im(g: &ConvGeometry, offsets: &[KernelOffset], cols: &mut [f32], dx: &mut [f32]) {
    let [oh, ow] = g.output_size().expect("checked by the caller");
    let (sw, pl, hw, w) = (g.stride[1], g.padding[1], g.height * g.width, g.width);
    for (row, c, r) in patch_rows(g, offsets) {
        let plane = &mut dx[c * hw..(c + 1) * hw];
        let src = &mut cols[row * oh * ow..(row + 1) * oh * ow];
        if let Some(shift) = &r.shift {
            zero_edges(&mut src[shift.rows.0 * ow..shift.rows.1 * ow], ow, r.lo, r.hi);
            let (d0, d1, s0, s1) = shift.ranges(hw);
            for (d, s) in plane[s0..s1].iter_mut().zip(&src[d0..d1]) {
                *d += s;
            }
            continue;
        }
        for (oy, grads) in src.chunks(ow).enumerate() {
            let Some(iy) = input_row(g, oy, r.ki) else { continue };
            let dst = &mut plane[iy * w..(iy + 1) * w];
            let first = r.lo * sw + r.kj - pl;
            let grads = &grads[r.lo..r.hi];
            if sw == 1 {
                for (d, s) in dst[first..first + grads.len()].iter_mut().zip(grads) {
                    *d += s;
                }
            } else {
                for (ix, s) in (first..).step_by(sw).zip(grads) {
                    dst[ix] += s;
                }
            }
        }
    }
}

/// `dst (m x n) = [dst +] lhs (m x k) * rhs (k x n)`, every matrix given by (row, column) strides.
#[allow(clippy::too_many_arguments)]
fn matmul(
    dims: [usize; 3],
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: [usize; 2],
    rhs: &[f32],
    rhs_strides: [usize; 2],
    parallel: bool,
) {
    // SAFETY: `dst` is initialised, so reading it when accumulating is fine.
    unsafe { gemm_checked(dims, dst.as_mut_ptr(), dst.len(), accumulate, lhs, lhs_strides, rhs, rhs_strides, parallel) }
}

/// `dst (m x n) = lhs * rhs` into memory not yet written: gemm without `read_dst` writes every
/// one of the m x n values and reads none, so the output need not be zeroed first.
fn matmul_uninit(
    dims: [usize; 3],
    dst: &mut [MaybeUninit<f32>],
    lhs: &[f32],
    lhs_strides: [usize; 2],
    rhs: &[f32],
    rhs_strides: [usize; 2],
    parallel: bool,
) {
    assert!(dims[2] > 0, "an empty inner dimension would leave the output unwritten");
    // SAFETY: with `accumulate` false the destination is only written, never read.
    unsafe {
        gemm_checked(dims, dst.as_mut_ptr().cast(), dst.len(), false, lhs, lhs_strides, rhs, rhs_strides, parallel)
    }
}

/// # Safety
/// `dst` must point to `dst_len` writable values that alias neither input, initialised when
/// `accumulate` is true.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_checked(
    [m, n, k]: [usize; 3],
    dst: *mut f32,
    dst_len: usize,
    accumulate: bool,
    lhs: &[f32],
    [lhs_rs, lhs_cs]: [usize; 2],
    rhs: &[f32],
    [rhs_rs, rhs_cs]: [usize; 2],
    parallel: bool,
) {
    assert!(dst_len >= m * n, "gemm destination too small");
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs, "gemm lhs too small");
    assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs, "gemm rhs too small");
    let parallelism = if parallel { Parallelism::Rayon(0) } else { Parallelism::None };
    // SAFETY: the asserts above keep every index the strides reach inside the three buffers; the
    // caller guarantees `dst` is writable, unaliased, and initialised where it is read.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

thread_local! {
    /// Each thread's im2col buffer, kept between calls: a fresh one per image cost a page-zeroing
    /// `memset` and page faults (8% of a ResNet-20 train step). Taken out while in use, so a
    /// nested call (rayon may run another job on a waiting thread) gets its own.
    static SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

fn take_scratch() -> Vec<f32> {
    SCRATCH.with(|s| s.take())
}

fn put_scratch(v: Vec<f32>) {
    SCRATCH.with(|s| {
        let current = s.take();
        s.set(if current.capacity() > v.capacity() { current } else { v });
    });
}

/// Runs `f` with this thread's scratch buffer (its contents are garbage: callers overwrite).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    let mut cols = take_scratch();
    let r = f(&mut cols);
    put_scratch(cols);
    r
}

/// Whether to spread images over threads (each GEMM on one) or run each GEMM on all of them.
fn per_image_threads(batch: usize) -> bool {
    batch >= rayon::current_num_threads()
}

/// Forward: `out[n] = W (Cout x patch) * im2col(x[n])`, no bias (the caller adds it).
pub fn conv2d_forward(g: &ConvGeometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let (k, ohw, cout) = (g.patch_len(), g.out_hw(), g.channels_out);
    let len = g.batch * cout * ohw;
    if len == 0 || k == 0 {
        return vec![0.0; len];
    }
    assert_eq!(x.len(), g.batch * g.image_len(), "input length does not match the geometry");
    let offsets = kernel_offsets(g);
    if small::applies(g, ohw) {
        return small::forward(g, &offsets, x, weight);
    }
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let outer = per_image_threads(g.batch);
    let one = |(image, out): (&[f32], &mut [MaybeUninit<f32>]), cols: &mut Vec<f32>| {
        let patches: &[f32] = if g.is_pointwise() {
            image
        } else {
            if cols.len() < k * ohw {
                cols.resize(k * ohw, 0.0);
            }
            im2col(g, &offsets, image, cols);
            cols
        };
        matmul_uninit([cout, ohw, k], out, weight, [k, 1], patches, [ohw, 1], !outer);
    };
    let pairs = x.chunks(g.image_len()).zip(out.spare_capacity_mut()[..len].chunks_mut(cout * ohw));
    if outer {
        pairs.par_bridge().for_each(|pair| with_scratch(|cols| one(pair, cols)));
    } else {
        with_scratch(|cols| pairs.for_each(|pair| one(pair, cols)));
    }
    // SAFETY: x holds `batch` images (asserted above), so the zip reached every one of the
    // `batch` output chunks, and `matmul_uninit` wrote each chunk whole.
    unsafe { out.set_len(len) };
    out
}

/// Input gradient: `dx[n] = col2im(W^T * grad[n])`.
pub fn conv2d_input_grad(g: &ConvGeometry, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    let (k, ohw, cout) = (g.patch_len(), g.out_hw(), g.channels_out);
    let mut dx = vec![0.0f32; g.batch * g.image_len()];
    if dx.is_empty() {
        return dx;
    }
    let offsets = kernel_offsets(g);
    if small::applies(g, ohw) {
        small::input_grad(g, &offsets, weight, grad, &mut dx);
        return dx;
    }
    let outer = per_image_threads(g.batch);
    let one = |(grad, dx): (&[f32], &mut [f32]), cols: &mut Vec<f32>| {
        if g.is_pointwise() {
            matmul([k, ohw, cout], dx, false, weight, [1, k], grad, [ohw, 1], !outer);
        } else {
            if cols.len() < k * ohw {
                cols.resize(k * ohw, 0.0);
            }
            matmul([k, ohw, cout], cols, false, weight, [1, k], grad, [ohw, 1], !outer);
            col2im(g, &offsets, cols, dx);
        }
    };
    let pairs = grad.chunks(cout * ohw).zip(dx.chunks_mut(g.image_len()));
    if outer {
        pairs.par_bridge().for_each(|pair| with_scratch(|cols| one(pair, cols)));
    } else {
        with_scratch(|cols| pairs.for_each(|pair| one(pair, cols)));
    }
    dx
}

/// Weight gradient: `dW = sum_n grad[n] * im2col(x[n])^T`, summed per thread then across threads.
///
/// Each product is computed as its transpose, `dW^T (patch x Cout) = im2col(x[n]) * grad[n]^T`,
/// and `dW` transposed once at the end: for a row-major product gemm packs its left operand
/// unless that is contiguous down its columns, and of the two factors only `grad[n]^T` (the
/// small one, Cout x OH*OW) can be handed over that way. Computing `dW` directly made gemm
/// repack the whole im2col matrix of every image (13% of a ResNet-20 profile on AVX-512).
pub fn conv2d_weight_grad(g: &ConvGeometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let (k, ohw, cout) = (g.patch_len(), g.out_hw(), g.channels_out);
    if g.batch == 0 || cout * k == 0 {
        return vec![0.0; cout * k];
    }
    let offsets = kernel_offsets(g);
    let accumulate_images = |images: &[f32], grads: &[f32], parallel: bool| {
        let mut dw_t = vec![0.0f32; k * cout];
        let mut cols = take_scratch();
        for (image, grad) in images.chunks(g.image_len()).zip(grads.chunks(cout * ohw)) {
            let patches: &[f32] = if g.is_pointwise() {
                image
            } else {
                if cols.len() < k * ohw {
                    cols.resize(k * ohw, 0.0);
                }
                im2col(g, &offsets, image, &mut cols);
                &cols
            };
            matmul([k, cout, ohw], &mut dw_t, true, patches, [ohw, 1], grad, [1, ohw], parallel);
        }
        put_scratch(cols);
        dw_t
    };
    // Fixed groups of images, summed in order: the result does not depend on the thread count or
    // on how rayon happened to split the work, so training stays reproducible byte for byte.
    let per_partial = images_per_partial(g.batch, cout * k);
    let chunks = g.batch.div_ceil(per_partial);
    let parallel_gemm = chunks < rayon::current_num_threads();
    let partials: Vec<Vec<f32>> = x
        .par_chunks(per_partial * g.image_len())
        .zip(grad.par_chunks(per_partial * cout * ohw))
        .map(|(images, grads)| accumulate_images(images, grads, parallel_gemm))
        .collect();
    let mut partials = partials.into_iter();
    let mut dw_t = partials.next().unwrap_or_else(|| vec![0.0; cout * k]);
    for p in partials {
        dw_t.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
    }
    let mut dw = vec![0.0f32; cout * k];
    for (i, row) in dw_t.chunks(cout).enumerate() {
        for (c, v) in row.iter().enumerate() {
            dw[c * k + i] = *v;
        }
    }
    dw
}

/// Images per partial weight gradient (see [`conv2d_weight_grad`]), at least.
const IMAGES_PER_PARTIAL_SUM: usize = 4;

/// Values all partial weight gradients of one call may hold together (64 MiB of `f32`).
const PARTIAL_SUMS_BUDGET: usize = 1 << 24;

/// Images per partial sum: [`IMAGES_PER_PARTIAL_SUM`], or more where a batch's partial sums would
/// exceed [`PARTIAL_SUMS_BUDGET`]. VGG-11's 512-channel layers have 2.4M-value gradients; 32
/// partials of them were 300 MB of fresh pages per layer and step, which the kernel zeroed on
/// first write (21% of a VGG-11-BN profile in `clear_page_erms`). The count depends on the
/// geometry only, never on the threads, so the sum stays reproducible; layers below the budget
/// (every layer of LeNet-5, the Arc models and ResNet-20) keep groups of 4.
fn images_per_partial(batch: usize, gradient_len: usize) -> usize {
    let max_partials = (PARTIAL_SUMS_BUDGET / gradient_len.max(1)).max(1);
    IMAGES_PER_PARTIAL_SUM.max(batch.div_ceil(max_partials))
}

#[cfg(test)]
mod tests;
