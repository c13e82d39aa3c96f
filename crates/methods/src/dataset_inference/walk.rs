//! Blind Walk (Maini, Yaghini, Papernot, "Dataset Inference: Ownership Resolution in Machine
//! Learning", ICLR 2021, §5; the official code's `rand_steps`): how far a sample must be pushed
//! along random directions before a model's label changes. It needs labels only, so it runs
//! through the query interface on any suspect (an API, an ONNX file, a scikit-learn export).
//!
//! Per sample and per norm (ℓ∞, ℓ2, ℓ1) `starts` random directions δ₀ (ℓ∞: U(-0.005, 0.005) per
//! pixel; ℓ2: N(0, 0.005²); ℓ1: Laplace(0, 0.01), the official CIFAR/MNIST scales); at step j
//! the sample is x + j·δ₀ clipped to [0, 1]; the walk stops at the first step whose label differs
//! from the true one and records ‖x' - x‖ in that norm. A sample the model already gets wrong
//! records 0; one that never flips within `steps` records the last distance (the official code
//! leaves it at the last step as well). The `starts` distances of each norm are sorted, so the
//! embedding does not depend on the order of the random directions (the official notebook sorts
//! MinGD's per-class distances the same way).

use mown_access::QueryModel;
use mown_data::ImageShape;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::MethodError;

/// Norms of the walk, in embedding order.
pub const NORMS: [&str; 3] = ["linf", "l2", "l1"];

/// Images per query batch.
const WALK_BATCH: usize = 512;

fn direction(norm: usize, numel: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..numel)
        .map(|_| match norm {
            0 => (rng.random::<f32>() - 0.5) * 0.01,
            1 => {
                let (u1, u2) = (rng.random::<f32>().max(1e-12), rng.random::<f32>());
                0.005 * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
            }
            _ => {
                // Laplace(0, 0.01) by inversion.
                let u = rng.random::<f32>() - 0.5;
                -0.01 * u.signum() * (1.0 - 2.0 * u.abs()).max(1e-12).ln()
            }
        })
        .collect()
}

fn distance(norm: usize, a: &[f32], b: &[f32]) -> f32 {
    let d = a.iter().zip(b).map(|(x, y)| (x - y).abs());
    match norm {
        0 => d.fold(0.0, f32::max),
        1 => d.map(|v| v * v).sum::<f32>().sqrt(),
        _ => d.sum(),
    }
}

/// The embedding `[n, 3 * starts]` (per norm, the sorted distances) of `images` with their
/// true `labels`, through `suspect`'s labels. Seeded: the same seed gives the same directions for
/// every model, so that models are compared on the same walks.
pub fn blind_walk(
    suspect: &mut dyn QueryModel,
    images: &[f32],
    labels: &[usize],
    shape: ImageShape,
    starts: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<f32>, MethodError> {
    let numel = shape.numel();
    let n = labels.len();
    if n == 0 || images.len() != n * numel || starts == 0 || steps == 0 {
        return Err(MethodError::BadParameter(format!(
            "blind walk: {} values for {n} images of {shape}, {starts} starts, {steps} steps",
            images.len()
        )));
    }
    let width = NORMS.len() * starts;
    let mut out = vec![0f32; n * width];
    let mut rng = StdRng::seed_from_u64(seed);
    for norm in 0..NORMS.len() {
        for start in 0..starts {
            let dirs: Vec<Vec<f32>> = (0..n).map(|_| direction(norm, numel, &mut rng)).collect();
            // Samples still walking, and their last distance.
            let mut active: Vec<usize> = (0..n).collect();
            let mut last = vec![0f32; n];
            for j in 0..=steps {
                if active.is_empty() {
                    break;
                }
                let mut next = Vec::with_capacity(active.len());
                for chunk in active.chunks(WALK_BATCH) {
                    let mut batch = Vec::with_capacity(chunk.len() * numel);
                    for &i in chunk {
                        let x = &images[i * numel..(i + 1) * numel];
                        batch.extend(x.iter().zip(&dirs[i]).map(|(v, d)| (v + j as f32 * d).clamp(0.0, 1.0)));
                    }
                    let got = suspect.labels(&batch)?;
                    if got.len() != chunk.len() {
                        return Err(MethodError::Mismatch(format!(
                            "{} answered {} labels for {} images",
                            suspect.describe(),
                            got.len(),
                            chunk.len()
                        )));
                    }
                    for ((&i, &label), walked) in chunk.iter().zip(&got).zip(batch.chunks(numel)) {
                        last[i] = distance(norm, walked, &images[i * numel..(i + 1) * numel]);
                        if label == labels[i] {
                            next.push(i);
                        }
                    }
                }
                active = next;
            }
            for i in 0..n {
                out[i * width + norm * starts + start] = last[i];
            }
        }
    }
    for row in out.chunks_mut(width) {
        for norm_block in row.chunks_mut(starts) {
            norm_block.sort_by(f32::total_cmp);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mown_access::{AccessError, AccessLevel, Answer};

    /// A 1-pixel "model": class 1 when the pixel is above 0.5. A sample's walk length is its
    /// distance to 0.5, so the embedding must order samples by that distance.
    struct Threshold(usize);
    impl QueryModel for Threshold {
        fn describe(&self) -> String {
            "threshold".into()
        }
        fn input_shape(&self) -> ImageShape {
            ImageShape::new(1, 1, 1)
        }
        fn num_classes(&self) -> usize {
            2
        }
        fn access(&self) -> AccessLevel {
            AccessLevel::Labels
        }
        fn query(&mut self, images: &[f32], _level: AccessLevel) -> Result<Answer, AccessError> {
            self.0 += images.len();
            Ok(Answer::Labels(images.iter().map(|&v| usize::from(v > 0.5)).collect()))
        }
        fn queries_used(&self) -> usize {
            self.0
        }
        fn queries_left(&self) -> Option<usize> {
            None
        }
    }

    #[test]
    fn walks_are_longer_far_from_the_boundary_and_seeded() {
        let shape = ImageShape::new(1, 1, 1);
        let images = [0.52, 0.6, 0.3];
        let labels = [1, 1, 0];
        let e = blind_walk(&mut Threshold(0), &images, &labels, shape, 4, 200, 3).unwrap();
        assert_eq!(e.len(), 3 * 12);
        let mean = |i: usize| e[i * 12..(i + 1) * 12].iter().sum::<f32>() / 12.0;
        assert!(mean(0) < mean(1), "0.52 is closer to the boundary than 0.6: {e:?}");
        // Within each norm the distances are sorted.
        assert!(e[..4].windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(e, blind_walk(&mut Threshold(0), &images, &labels, shape, 4, 200, 3).unwrap());
        // A sample the model gets wrong has walked nowhere.
        let wrong = blind_walk(&mut Threshold(0), &[0.7], &[0], shape, 2, 10, 1).unwrap();
        assert!(wrong.iter().all(|&d| d == 0.0));
        assert!(blind_walk(&mut Threshold(0), &images, &labels[..2], shape, 4, 10, 3).is_err());
    }
}
