//! MinGD (Maini, Yaghini, Papernot, "Dataset Inference", ICLR 2021, §5, the white-box
//! embedding; the official code's `mingd`): for each image and each class t, the smallest
//! perturbation gradient descent finds that makes the model answer t, in ℓ∞, ℓ2 and ℓ1.
//!
//! Per norm and target class, δ starts at 0; at each step the images the model does not yet
//! assign to t take a step up the targeted margin's descent direction (the official loss:
//! max_j z_j − z_t), ℓ∞: α·sign(g), ℓ2: α·g/‖g‖, ℓ1: α spread over the `l1_top` coordinates of
//! largest |g| (the official `l1_dir_topk`); x + δ is kept in [0, 1]. An image the model already
//! assigns to t records 0; one that never gets there records its last δ (as the official code).
//! The distances of each norm are sorted, as for the walk, so the embedding does not name classes.
//!
//! Step sizes and the step budget are ours, chosen for pixels in [0, 1] and the cost
//! bound of <= 100 steps (the official CIFAR defaults, α∞ = 0.001 over 500 steps, would stop at a
//! radius of 0.5): α∞ 0.01, α2 0.1, α1 0.5 over 10 coordinates, 50 steps by default. They are
//! parameters (`mingd_steps`, ...), and the evidence records them.

use mown_access::QueryModel;
use mown_data::ImageShape;
use serde::{Deserialize, Serialize};

use crate::MethodError;

/// Norms of the embedding, in order (the walk's order).
pub const NORMS: [&str; 3] = ["linf", "l2", "l1"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MingdParams {
    pub steps: usize,
    pub alpha_linf: f32,
    pub alpha_l2: f32,
    pub alpha_l1: f32,
    /// Coordinates an ℓ1 step moves.
    pub l1_top: usize,
}

impl Default for MingdParams {
    fn default() -> Self {
        MingdParams { steps: 50, alpha_linf: 0.01, alpha_l2: 0.1, alpha_l1: 0.5, l1_top: 10 }
    }
}

fn norm_of(norm: usize, d: &[f32]) -> f32 {
    match norm {
        0 => d.iter().fold(0.0f32, |m, v| m.max(v.abs())),
        1 => d.iter().map(|v| v * v).sum::<f32>().sqrt(),
        _ => d.iter().map(|v| v.abs()).sum(),
    }
}

/// The descent step for one image's gradient `g` of the margin, in `norm`.
fn step(norm: usize, g: &[f32], p: &MingdParams) -> Vec<f32> {
    match norm {
        0 => g.iter().map(|v| -p.alpha_linf * v.signum() * f32::from(*v != 0.0)).collect(),
        1 => {
            let len = g.iter().map(|v| v * v).sum::<f32>().sqrt() + 1e-12;
            g.iter().map(|v| -p.alpha_l2 * v / len).collect()
        }
        _ => {
            let k = p.l1_top.clamp(1, g.len());
            let mut order: Vec<usize> = (0..g.len()).collect();
            // Largest |g| first; ties by index, so the step is deterministic.
            order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()).then(a.cmp(&b)));
            let mut out = vec![0f32; g.len()];
            for &i in &order[..k] {
                out[i] = -p.alpha_l1 / k as f32 * g[i].signum();
            }
            out
        }
    }
}

/// The embedding `[n, 3 * classes]` (per norm, the sorted per-class distances) of `images` on a
/// white-box `suspect`; deterministic (no random choice).
pub fn mingd(
    suspect: &mut dyn QueryModel,
    images: &[f32],
    shape: ImageShape,
    p: &MingdParams,
) -> Result<Vec<f32>, MethodError> {
    let numel = shape.numel();
    let classes = suspect.num_classes();
    if numel == 0 || images.is_empty() || !images.len().is_multiple_of(numel) || p.steps == 0 {
        return Err(MethodError::BadParameter(format!(
            "MinGD: {} values for images of {shape}, {} steps",
            images.len(),
            p.steps
        )));
    }
    let n = images.len() / numel;
    let width = NORMS.len() * classes;
    let mut out = vec![0f32; n * width];
    for norm in 0..NORMS.len() {
        for target in 0..classes {
            let mut delta = vec![0f32; n * numel];
            let mut active: Vec<usize> = (0..n).collect();
            // Each step looks at the images still on their way and moves them; an image that
            // arrives with the last move records that δ.
            for _ in 0..p.steps {
                if active.is_empty() {
                    break;
                }
                let batch: Vec<f32> = active
                    .iter()
                    .flat_map(|&i| (0..numel).map(move |j| (i, j)))
                    .map(|(i, j)| images[i * numel + j] + delta[i * numel + j])
                    .collect();
                let targets = vec![target; active.len()];
                let (grad, logits) = suspect.target_margin_gradients(&batch, &targets)?;
                if grad.len() != batch.len() || logits.len() != active.len() * classes {
                    return Err(MethodError::BadParameter(format!(
                        "MinGD: the suspect gave {} gradient values and {} logits for {} images",
                        grad.len(),
                        logits.len(),
                        active.len()
                    )));
                }
                let mut still = Vec::with_capacity(active.len());
                for (r, &i) in active.iter().enumerate() {
                    let row = &logits[r * classes..(r + 1) * classes];
                    let top = mown_nn::model::argmax_rows(row, classes)[0];
                    if top == target {
                        continue;
                    }
                    still.push(i);
                    let s = step(norm, &grad[r * numel..(r + 1) * numel], p);
                    for (j, sj) in s.into_iter().enumerate() {
                        let x = images[i * numel + j];
                        let d = &mut delta[i * numel + j];
                        *d = (*d + sj).clamp(-x, 1.0 - x);
                    }
                }
                active = still;
            }
            for i in 0..n {
                out[i * width + norm * classes + target] = norm_of(norm, &delta[i * numel..(i + 1) * numel]);
            }
        }
        for row in out.chunks_mut(width) {
            row[norm * classes..(norm + 1) * classes].sort_by(f32::total_cmp);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mown_access::{AccessError, AccessLevel, Answer};

    /// One pixel x, logits (0.5 - x, x - 0.5): the boundary is x = 0.5.
    struct Line;
    impl QueryModel for Line {
        fn describe(&self) -> String {
            "line".into()
        }
        fn input_shape(&self) -> ImageShape {
            ImageShape::new(1, 1, 1)
        }
        fn num_classes(&self) -> usize {
            2
        }
        fn access(&self) -> AccessLevel {
            AccessLevel::WhiteBox
        }
        fn query(&mut self, images: &[f32], _level: AccessLevel) -> Result<Answer, AccessError> {
            Ok(Answer::Labels(images.iter().map(|&v| usize::from(v > 0.5)).collect()))
        }
        fn queries_used(&self) -> usize {
            0
        }
        fn queries_left(&self) -> Option<usize> {
            None
        }
        fn target_margin_gradients(&mut self, x: &[f32], t: &[usize]) -> Result<(Vec<f32>, Vec<f32>), AccessError> {
            let logits: Vec<f32> = x.iter().flat_map(|&v| [0.5 - v, v - 0.5]).collect();
            // d(max_j z_j - z_t)/dx: 0 once t wins, else -2 toward class 1 and +2 toward class 0.
            let grad = x.iter().zip(t).map(|(&v, &t)| {
                if usize::from(v > 0.5) == t {
                    0.0
                } else if t == 1 {
                    -2.0
                } else {
                    2.0
                }
            });
            Ok((grad.collect(), logits))
        }
    }

    #[test]
    fn mingd_finds_the_distance_to_each_class() {
        let shape = ImageShape::new(1, 1, 1);
        let e = mingd(&mut Line, &[0.305, 0.455, 0.8], shape, &MingdParams::default()).unwrap();
        assert_eq!(e.len(), 3 * 6);
        // Per norm the sorted distances are (0 to its own class, the way to the other); in one
        // pixel every norm of δ is |δ|; ℓ∞ steps of 0.01 cross 0.5 just past it.
        let far = |i: usize| e[i * 6 + 1];
        assert!((far(0) - 0.2).abs() < 1e-4 && (far(1) - 0.05).abs() < 1e-4, "{e:?}");
        assert!(e.chunks(2).all(|pair| pair[0] == 0.0 && pair[1] > 0.0), "{e:?}");
        assert!(far(1) < far(0) && far(1) < far(2), "0.45 is nearest the boundary: {e:?}");
        // 10 steps of 0.01 cannot reach a boundary 0.4 away: the last δ is recorded.
        let stuck =
            mingd(&mut Line, &[0.99, 0.1], shape, &MingdParams { steps: 10, ..MingdParams::default() }).unwrap();
        assert!((stuck[1] - 0.1).abs() < 1e-4, "{stuck:?}");
        assert!(mingd(&mut Line, &[], shape, &MingdParams::default()).is_err());
    }

    #[test]
    fn steps_have_the_norm_they_promise() {
        let g = [0.5f32, -2.0, 0.0, 1.0];
        let p = MingdParams { l1_top: 2, ..MingdParams::default() };
        assert_eq!(step(0, &g, &p), vec![-0.01, 0.01, 0.0, -0.01]);
        assert!((norm_of(1, &step(1, &g, &p)) - 0.1).abs() < 1e-6);
        let l1 = step(2, &g, &p);
        assert_eq!(l1, vec![0.0, 0.25, 0.0, -0.25], "the two largest |g| move, 0.5 in all");
        assert!((norm_of(2, &l1) - 0.5).abs() < 1e-6);
    }
}
