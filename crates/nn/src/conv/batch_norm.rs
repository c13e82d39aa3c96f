//! BatchNorm in training on plain `f32` slices (NCHW-like: batch, channels, then any spatial
//! size). burn's default `batch_norm_train` computes its statistics through `swap_dims(0, 1)` and
//! a reshape, which copies the activation into channel-major order for each statistic and again
//! in the backward (burn-flex's `copy_2d_tiled`, ~6% of a ResNet-20 train step, with the
//! elementwise passes around it). Here each channel is reduced in place, one channel per task.
//!
//! Same formulas as burn 0.22's `ModuleOps::batch_norm_train` and its backward: biased variance
//! (what the running statistics receive), `y = (x - mean) / sqrt(var + eps) * gamma + beta`,
//! `dx = gamma / sqrt(var + eps) * (g - mean(g) - xhat * mean(g * xhat))`.

use rayon::prelude::*;

/// `[batch, channels, per-channel values per image]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnShape {
    pub batch: usize,
    pub channels: usize,
    pub spatial: usize,
}

impl BnShape {
    fn count(&self) -> usize {
        self.batch * self.spatial
    }

    /// The runs of channel `c`: one contiguous block of `spatial` values per image.
    fn runs<'a>(&self, data: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        let (s, cs) = (self.spatial, self.channels * self.spatial);
        (0..self.batch).map(move |n| &data[n * cs + c * s..n * cs + (c + 1) * s])
    }
}

/// Per channel: the mean and the biased variance, as `[means..., variances...]`. Sums in f64.
pub fn stats(x: &[f32], shape: BnShape) -> Vec<f32> {
    let per: Vec<(f32, f32)> = (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let m = shape.count().max(1) as f64;
            let mean = shape.runs(x, c).flatten().map(|&v| v as f64).sum::<f64>() / m;
            let var = shape.runs(x, c).flatten().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / m;
            (mean as f32, var as f32)
        })
        .collect();
    per.iter().map(|p| p.0).chain(per.iter().map(|p| p.1)).collect()
}

fn inv_std(var: f32, epsilon: f64) -> f32 {
    (1.0 / (var as f64 + epsilon).sqrt()) as f32
}

/// Applies `f(channel, run of x, run of out)` to every run, channel by channel in parallel.
fn per_channel_map(x: &[f32], out: &mut [f32], shape: BnShape, f: impl Fn(usize, &[f32], &mut [f32]) + Sync) {
    let (s, cs) = (shape.spatial, shape.channels * shape.spatial);
    if s == 0 || shape.channels == 0 {
        return;
    }
    // Split the output by image, then by channel: each run is written by exactly one task.
    out.par_chunks_mut(cs).zip(x.par_chunks(cs)).for_each(|(o, xi)| {
        o.chunks_mut(s).zip(xi.chunks(s)).enumerate().for_each(|(c, (o, xi))| f(c, xi, o));
    });
}

/// The normalised, scaled and shifted activation.
pub fn forward(x: &[f32], gamma: &[f32], beta: &[f32], stats: &[f32], epsilon: f64, shape: BnShape) -> Vec<f32> {
    let c = shape.channels;
    let mut out = vec![0.0f32; x.len()];
    per_channel_map(x, &mut out, shape, |ch, x, o| {
        let (mean, scale) = (stats[ch], inv_std(stats[c + ch], epsilon) * gamma[ch]);
        for (o, &v) in o.iter_mut().zip(x) {
            *o = (v - mean) * scale + beta[ch];
        }
    });
    out
}

/// Per channel `sum(g)` and `sum(g * xhat)`, as `[gamma gradient..., beta gradient...]`.
pub fn param_grads(x: &[f32], grad: &[f32], stats: &[f32], epsilon: f64, shape: BnShape) -> Vec<f32> {
    let c = shape.channels;
    let per: Vec<(f32, f32)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let (mean, istd) = (stats[ch] as f64, inv_std(stats[c + ch], epsilon) as f64);
            let (mut dbeta, mut dgamma) = (0.0f64, 0.0f64);
            for (xs, gs) in shape.runs(x, ch).zip(shape.runs(grad, ch)) {
                for (&v, &g) in xs.iter().zip(gs) {
                    dbeta += g as f64;
                    dgamma += g as f64 * (v as f64 - mean) * istd;
                }
            }
            (dgamma as f32, dbeta as f32)
        })
        .collect();
    per.iter().map(|p| p.0).chain(per.iter().map(|p| p.1)).collect()
}

/// The input gradient, from the parameter gradients' sums (see [`param_grads`]).
pub fn input_grad(
    x: &[f32],
    gamma: &[f32],
    stats: &[f32],
    sums: &[f32],
    grad: &[f32],
    epsilon: f64,
    shape: BnShape,
) -> Vec<f32> {
    let (c, m) = (shape.channels, shape.count().max(1) as f32);
    let mut dx = vec![0.0f32; x.len()];
    // Each image's block of `channels x spatial` values pairs with its gradient block.
    let cs = c * shape.spatial;
    if cs == 0 {
        return dx;
    }
    dx.par_chunks_mut(cs).zip(x.par_chunks(cs)).zip(grad.par_chunks(cs)).for_each(|((d, xi), gi)| {
        let s = shape.spatial;
        for ch in 0..c {
            let (mean, istd) = (stats[ch], inv_std(stats[c + ch], epsilon));
            let (mean_g, mean_gx) = (sums[c + ch] / m, sums[ch] / m);
            let scale = gamma[ch] * istd;
            let run = ch * s..(ch + 1) * s;
            for ((d, &v), &g) in d[run.clone()].iter_mut().zip(&xi[run.clone()]).zip(&gi[run]) {
                *d = scale * (g - mean_g - (v - mean) * istd * mean_gx);
            }
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_and_gradients_follow_the_definition() {
        let shape = BnShape { batch: 3, channels: 2, spatial: 4 };
        let x: Vec<f32> = (0..24).map(|i| ((i * 37) % 11) as f32 - 4.0).collect();
        let s = stats(&x, shape);
        // Channel 0 holds x[0..4], x[8..12], x[16..20].
        let ch0: Vec<f32> = [0..4, 8..12, 16..20].into_iter().flat_map(|r| x[r].to_vec()).collect();
        let mean = ch0.iter().sum::<f32>() / 12.0;
        let var = ch0.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 12.0;
        assert!((s[0] - mean).abs() < 1e-5 && (s[2] - var).abs() < 1e-4, "{s:?}");
        let (gamma, beta) = ([1.5, 0.5], [0.1, -0.2]);
        let y = forward(&x, &gamma, &beta, &s, 1e-5, shape);
        // Normalised channels: mean beta, standard deviation |gamma|.
        let y0: Vec<f32> = [0..4, 8..12, 16..20].into_iter().flat_map(|r| y[r].to_vec()).collect();
        assert!((y0.iter().sum::<f32>() / 12.0 - 0.1).abs() < 1e-5);
        // With the gradient equal to 1 everywhere, dx is zero (the mean is removed) and dbeta = 12.
        let ones = vec![1.0; 24];
        let sums = param_grads(&x, &ones, &s, 1e-5, shape);
        assert!((sums[2] - 12.0).abs() < 1e-5 && sums[0].abs() < 1e-4, "{sums:?}");
        let dx = input_grad(&x, &gamma, &s, &sums, &ones, 1e-5, shape);
        assert!(dx.iter().all(|d| d.abs() < 1e-4), "{dx:?}");
    }
}
