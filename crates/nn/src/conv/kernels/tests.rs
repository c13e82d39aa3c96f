//! The kernels against the convolution's definition, one output at a time.

use super::*;

/// The definition, one output at a time.
fn naive(g: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    let [oh, ow] = g.output_size().unwrap();
    let [kh, kw] = g.kernel;
    let (h, wd) = (g.height as isize, g.width as isize);
    let mut out = vec![0.0; g.batch * g.channels_out * oh * ow];
    for n in 0..g.batch {
        for co in 0..g.channels_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = 0.0;
                    for c in 0..g.channels_in {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy = (oy * g.stride[0] + ki) as isize - g.padding[0] as isize;
                                let ix = (ox * g.stride[1] + kj) as isize - g.padding[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h || ix >= wd {
                                    continue;
                                }
                                let xi = ((n * g.channels_in + c) as isize * h + iy) * wd + ix;
                                s += x[xi as usize] * w[((co * g.channels_in + c) * kh + ki) * kw + kj];
                            }
                        }
                    }
                    out[((n * g.channels_out + co) * oh + oy) * ow + ox] = s;
                }
            }
        }
    }
    out
}

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len).map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0).collect()
}

fn geometries() -> Vec<ConvGeometry> {
    let g = |batch, channels_in, height, width, channels_out, k: [usize; 2], stride, padding| ConvGeometry {
        batch,
        channels_in,
        height,
        width,
        channels_out,
        kernel: k,
        stride,
        padding,
    };
    vec![
        g(3, 2, 7, 6, 4, [3, 3], [1, 1], [1, 1, 1, 1]),
        g(1, 1, 8, 8, 3, [3, 3], [2, 2], [1, 1, 1, 1]),
        g(2, 3, 9, 7, 2, [5, 3], [2, 1], [2, 0, 1, 2]),
        g(4, 3, 5, 5, 6, [1, 1], [1, 1], [0, 0, 0, 0]),
        g(2, 2, 6, 6, 3, [1, 1], [2, 2], [0, 0, 0, 0]),
        g(5, 1, 4, 4, 2, [4, 4], [1, 1], [0, 0, 0, 0]),
        // A batch of few-pixel images: one product per batch (small.rs).
        g(3, 4, 4, 4, 5, [3, 3], [1, 1], [1, 1, 1, 1]),
        g(4, 3, 4, 4, 2, [3, 3], [2, 2], [1, 1, 1, 1]),
        g(3, 2, 4, 4, 3, [1, 1], [1, 1], [0, 0, 0, 0]),
    ]
}

#[test]
fn forward_matches_the_definition() {
    for g in geometries() {
        let x = values(g.batch * g.image_len(), 1);
        let w = values(g.channels_out * g.patch_len(), 2);
        let (fast, slow) = (conv2d_forward(&g, &x, &w), naive(&g, &x, &w));
        assert_eq!(fast.len(), slow.len(), "{g:?}");
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{g:?}: {a} vs {b}");
        }
    }
}

/// <grad, conv(x)> = <conv^T(grad), x> = <dW, W>: the two gradients are the adjoints.
#[test]
fn gradients_are_the_adjoints_of_the_forward() {
    for g in geometries() {
        let x = values(g.batch * g.image_len(), 3);
        let w = values(g.channels_out * g.patch_len(), 4);
        let [oh, ow] = g.output_size().unwrap();
        let grad = values(g.batch * g.channels_out * oh * ow, 5);
        let y = naive(&g, &x, &w);
        let lhs: f64 = y.iter().zip(&grad).map(|(a, b)| (a * b) as f64).sum();
        let dx = conv2d_input_grad(&g, &w, &grad);
        let via_x: f64 = dx.iter().zip(&x).map(|(a, b)| (a * b) as f64).sum();
        let dw = conv2d_weight_grad(&g, &x, &grad);
        let via_w: f64 = dw.iter().zip(&w).map(|(a, b)| (a * b) as f64).sum();
        assert!((lhs - via_x).abs() <= 1e-3 * (1.0 + lhs.abs()), "{g:?}: {lhs} vs {via_x}");
        assert!((lhs - via_w).abs() <= 1e-3 * (1.0 + lhs.abs()), "{g:?}: {lhs} vs {via_w}");
    }
}

#[test]
fn partial_sums_grow_only_past_the_budget() {
    // ResNet-20's largest gradient (64 x 576) keeps groups of 4 at batch 128; VGG-11's
    // 512 x 4608 is summed in at most 7 partials (64 MiB), whatever the thread count.
    assert_eq!(images_per_partial(128, 64 * 576), IMAGES_PER_PARTIAL_SUM);
    let per = images_per_partial(128, 512 * 4608);
    assert!(128usize.div_ceil(per) * 512 * 4608 <= PARTIAL_SUMS_BUDGET, "{per}");
    assert_eq!(images_per_partial(3, 1 << 30), 4, "a gradient past the budget still sums a batch");
}

#[test]
fn a_kernel_larger_than_the_input_has_no_output() {
    let g = ConvGeometry {
        batch: 1,
        channels_in: 1,
        height: 2,
        width: 2,
        channels_out: 1,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [0; 4],
    };
    assert_eq!(g.output_size(), None);
}
