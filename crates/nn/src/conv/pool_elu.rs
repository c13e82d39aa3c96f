//! 2x2 stride-2 max pooling and ELU on plain `f32` slices, with their gradients (issue #31's "next
//! hot spots"). After the convolution, burn-flex's max pooling with indices (a scalar loop over a
//! generic 3-D window, 28% of an Arc A train step) and its ELU (`exp` of every element, then a
//! mask and a select: 26%) took over half of Arc A's time. Here the pool reads each window once
//! and its backward recomputes the winner from the input (no index tensor); ELU calls `exp` only
//! where x <= 0 and its backward reads the output (dy/dx = y + alpha there).

use rayon::prelude::*;

/// Planes of at least this many values are spread over rayon's threads; smaller work stays on one.
const PARALLEL_VALUES: usize = 1 << 15;

/// Runs `f(input chunk, output chunk)` over matching chunks, in parallel when the work is large.
fn chunked(input: &[f32], in_chunk: usize, out: &mut [f32], out_chunk: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) {
    if input.len() >= PARALLEL_VALUES && in_chunk > 0 && out_chunk > 0 {
        let per = (PARALLEL_VALUES / in_chunk).max(1);
        input
            .par_chunks(per * in_chunk)
            .zip(out.par_chunks_mut(per * out_chunk))
            .for_each(|(i, o)| i.chunks(in_chunk).zip(o.chunks_mut(out_chunk)).for_each(|(i, o)| f(i, o)));
    } else if in_chunk > 0 && out_chunk > 0 {
        input.chunks(in_chunk).zip(out.chunks_mut(out_chunk)).for_each(|(i, o)| f(i, o));
    }
}

/// Which of a window's four values (0: top left, 1: top right, 2: bottom left, 3: bottom right)
/// is the maximum: the first of equal ones, and a NaN wins (it propagates, as in PyTorch).
#[inline]
fn winner(v: [f32; 4]) -> usize {
    let mut best = 0;
    for i in 1..4 {
        if v[i] > v[best] || (v[i].is_nan() && !v[best].is_nan()) {
            best = i;
        }
    }
    best
}

#[inline]
fn window(plane: &[f32], w: usize, oy: usize, ox: usize) -> [f32; 4] {
    let (top, bottom) = (2 * oy * w + 2 * ox, (2 * oy + 1) * w + 2 * ox);
    [plane[top], plane[top + 1], plane[bottom], plane[bottom + 1]]
}

/// Max over each 2x2 window of each `h x w` plane (odd last rows and columns are dropped, as
/// burn's and PyTorch's pooling without padding do).
pub fn max_pool2x2(x: &[f32], planes: usize, h: usize, w: usize) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = vec![0.0f32; planes * oh * ow];
    chunked(x, h * w, &mut out, oh * ow, |plane, out| {
        for oy in 0..oh {
            for ox in 0..ow {
                let v = window(plane, w, oy, ox);
                out[oy * ow + ox] = v[winner(v)];
            }
        }
    });
    out
}

/// The input gradient of [`max_pool2x2`]: each output's gradient goes to its window's winner.
pub fn max_pool2x2_backward(x: &[f32], grad: &[f32], planes: usize, h: usize, w: usize) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut dx = vec![0.0f32; planes * h * w];
    if oh * ow == 0 {
        return dx;
    }
    let one = |(d, (plane, g)): (&mut [f32], (&[f32], &[f32]))| {
        for oy in 0..oh {
            for ox in 0..ow {
                let k = winner(window(plane, w, oy, ox));
                d[(2 * oy + k / 2) * w + 2 * ox + k % 2] = g[oy * ow + ox];
            }
        }
    };
    // Each input-sized plane of dx pairs with its input plane and its gradient plane.
    if x.len() >= PARALLEL_VALUES {
        dx.par_chunks_mut(h * w).zip(x.par_chunks(h * w).zip(grad.par_chunks(oh * ow))).for_each(one);
    } else {
        dx.chunks_mut(h * w).zip(x.chunks(h * w).zip(grad.chunks(oh * ow))).for_each(one);
    }
    dx
}

/// ELU: x where x > 0, alpha * (exp(x) - 1) elsewhere.
pub fn elu(x: &[f32], alpha: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    chunked(x, 4096, &mut out, 4096, |x, y| {
        for (y, &v) in y.iter_mut().zip(x) {
            *y = if v > 0.0 { v } else { alpha * (v.exp() - 1.0) };
        }
    });
    out
}

/// The input gradient of [`elu`] from its output: grad where y > 0, grad * (y + alpha) elsewhere
/// (alpha * exp(x) = y + alpha). For alpha > 0, y > 0 exactly where x > 0.
pub fn elu_backward(y: &[f32], grad: &[f32], alpha: f32) -> Vec<f32> {
    let mut dx = grad.to_vec();
    chunked(y, 4096, &mut dx, 4096, |y, d| {
        for (d, &v) in d.iter_mut().zip(y) {
            if v <= 0.0 {
                *d *= v + alpha;
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_takes_each_windows_maximum_and_routes_its_gradient_there() {
        // One 3x5 plane: the odd last row and column are dropped.
        let x = [1.0, 5.0, 2.0, 2.0, 9.0, 3.0, 4.0, 7.0, 0.0, 9.0, 8.0, 8.0, 8.0, 8.0, 8.0];
        assert_eq!(max_pool2x2(&x, 1, 3, 5), vec![5.0, 7.0]);
        let dx = max_pool2x2_backward(&x, &[10.0, 20.0], 1, 3, 5);
        let mut want = [0.0; 15];
        want[1] = 10.0;
        want[7] = 20.0;
        assert_eq!(dx, want);
        // Ties go to the first; NaN propagates.
        assert_eq!(winner([2.0, 2.0, 1.0, 2.0]), 0);
        assert!(max_pool2x2(&[1.0, f32::NAN, 0.0, 3.0], 1, 2, 2)[0].is_nan());
    }

    #[test]
    fn large_inputs_take_the_parallel_path_with_the_same_result() {
        let (planes, h, w) = (40, 30, 30);
        let x: Vec<f32> = (0..planes * h * w).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).collect();
        assert!(x.len() >= PARALLEL_VALUES);
        let pooled = max_pool2x2(&x, planes, h, w);
        let serial: Vec<f32> = x.chunks(h * w).flat_map(|p| max_pool2x2(p, 1, h, w)).collect();
        assert_eq!(pooled, serial);
        let grad: Vec<f32> = (0..pooled.len()).map(|i| i as f32).collect();
        let dx = max_pool2x2_backward(&x, &grad, planes, h, w);
        let dx_serial: Vec<f32> = x
            .chunks(h * w)
            .zip(grad.chunks(pooled.len() / planes))
            .flat_map(|(p, g)| max_pool2x2_backward(p, g, 1, h, w))
            .collect();
        assert_eq!(dx, dx_serial);
        let y = elu(&x, 1.0);
        assert_eq!(y.len(), x.len());
    }

    #[test]
    fn elu_and_its_gradient_match_the_definition() {
        let x = [-3.0f32, -0.5, 0.0, 0.25, 2.0];
        let y = elu(&x, 0.7);
        let dx = elu_backward(&y, &[1.0; 5], 0.7);
        for ((&x, &y), &d) in x.iter().zip(&y).zip(&dx) {
            let (want, slope) = if x > 0.0 { (x, 1.0) } else { (0.7 * (x.exp() - 1.0), 0.7 * x.exp()) };
            assert!((y - want).abs() < 1e-6 && (d - slope).abs() < 1e-6, "x {x}: {y} {d}");
        }
    }
}
