//! Convolutions with few output pixels (VGG-11's 4x4 and 2x2 layers) as one product per batch.
//!
//! Per image, such a layer is a `Cout x patch` times `patch x OH*OW` product with 16 or 4 columns:
//! gemm blocks over those columns and ran its narrow AVX-512 kernel with most lanes idle (45% of
//! a VGG-11-BN profile). Laying every image's im2col matrix side by side gives one product with
//! `batch x OH*OW` columns, so gemm packs the weights once per call and uses its wide kernel.
//! (Computing each image's product transposed instead made gemm pack the weights per image, and
//! halved the forward: docs/performance.md.)

use super::{ConvGeometry, KernelOffset, col2im, im2col, matmul, put_scratch, take_scratch};

/// Output pixels per image at or below which a batch runs as one product.
pub const SMALL_PIXELS: usize = 16;

/// Whether [`forward`] and [`input_grad`] should handle this geometry.
pub fn applies(g: &ConvGeometry, pixels: usize) -> bool {
    pixels <= SMALL_PIXELS && g.batch > 1
}

/// Copies image `i`'s `rows x OH*OW` block into columns `i*OH*OW..` of the `rows x n` matrix `wide`.
fn block_to_wide(block: &[f32], wide: &mut [f32], i: usize, ohw: usize, n: usize) {
    for (r, row) in block.chunks(ohw).enumerate() {
        wide[r * n + i * ohw..][..ohw].copy_from_slice(row);
    }
}

/// The inverse of [`block_to_wide`]: image `i`'s columns of `wide` back into its own block.
fn wide_to_block(wide: &[f32], block: &mut [f32], i: usize, ohw: usize, n: usize) {
    for (r, row) in block.chunks_mut(ohw).enumerate() {
        row.copy_from_slice(&wide[r * n + i * ohw..][..ohw]);
    }
}

/// Forward: `[out_1 .. out_B] = W * [im2col(x_1) .. im2col(x_B)]`, then each image's block moved
/// to its `Cout x OH*OW` place.
pub fn forward(g: &ConvGeometry, offsets: &[KernelOffset], x: &[f32], weight: &[f32]) -> Vec<f32> {
    let (k, ohw, cout, batch) = (g.patch_len(), g.out_hw(), g.channels_out, g.batch);
    let n = batch * ohw;
    let mut patches = take_scratch();
    if patches.len() < k * n + k * ohw {
        patches.resize(k * n + k * ohw, 0.0);
    }
    let (wide, one) = patches.split_at_mut(k * n);
    let one = &mut one[..k * ohw];
    for (i, image) in x.chunks(g.image_len()).enumerate() {
        im2col(g, offsets, image, one);
        block_to_wide(one, wide, i, ohw, n);
    }
    let mut product = vec![0.0f32; cout * n];
    matmul([cout, n, k], &mut product, false, weight, [k, 1], wide, [n, 1], true);
    put_scratch(patches);
    let mut out = vec![0.0f32; batch * cout * ohw];
    for (i, block) in out.chunks_mut(cout * ohw).enumerate() {
        wide_to_block(&product, block, i, ohw, n);
    }
    out
}

/// Input gradient into `dx` (zeroed, `B x C x H x W`): `[cols_1 .. cols_B] = W^T * [grad_1 ..
/// grad_B]`, then `col2im` per image.
pub fn input_grad(g: &ConvGeometry, offsets: &[KernelOffset], weight: &[f32], grad: &[f32], dx: &mut [f32]) {
    let (k, ohw, cout, batch) = (g.patch_len(), g.out_hw(), g.channels_out, g.batch);
    let n = batch * ohw;
    let mut grads = vec![0.0f32; cout * n];
    for (i, block) in grad.chunks(cout * ohw).enumerate() {
        block_to_wide(block, &mut grads, i, ohw, n);
    }
    let mut cols = take_scratch();
    if cols.len() < k * n + k * ohw {
        cols.resize(k * n + k * ohw, 0.0);
    }
    let (wide, one) = cols.split_at_mut(k * n);
    let one = &mut one[..k * ohw];
    matmul([k, n, cout], wide, false, weight, [1, k], &grads, [n, 1], true);
    for (i, dx) in dx.chunks_mut(g.image_len()).enumerate() {
        wide_to_block(wide, one, i, ohw, n);
        col2im(g, offsets, one, dx);
    }
    put_scratch(cols);
}
