//! IPGuard (Cao, Jia, Gong 2021; seed 002): fingerprint points just across the owner's decision
//! boundary. From a start point predicted as i, Adam on the input minimises (Eq. 5)
//!
//!   L(x) = ReLU(Z_i(x) − Z_j(x) + k) + ReLU(max_{t≠i,j} Z_t(x) − Z_i(x)),
//!
//! which is zero exactly when j is the top logit with margin ≥ k over i and i is second. The
//! stored label is the owner's prediction at the final point (j wherever L reached 0).
//!
//! Choices the paper leaves open, all parameters: points are clipped to [0, 1] after every step
//! (`clip`; the paper stresses it does not bound the perturbation, but a suspect API only accepts
//! images); the default learning rate is 0.01 rather than the paper's 0.001 on CIFAR, because
//! with 1,000 iterations at most a CPU budget needs most points to converge in tens of steps; the
//! default k is 10 (the paper's k values appear only in its Figure 6). All n points are optimised
//! as one batch (BatchNorm in evaluation mode keeps them independent); a point that reaches zero
//! loss stops moving.

use std::time::Instant;

use mown_data::{Dataset, ImageShape};
use mown_nn::Model;
use mown_nn::burn::prelude::*;
use mown_nn::gradient::GRADIENT_BLOCKS;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::MethodError;
use crate::fingerprint::{FINGERPRINT_FORMAT, Fingerprint, Fingerprinter};

/// Where optimisation starts (IPGuard §5.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Init {
    /// A random training example ("T").
    Train,
    /// Uniform random pixels ("R").
    Random,
}

/// Which label j the point is pushed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetRule {
    /// A random label other than i ("R").
    Random,
    /// The label with the smallest logit at the start point ("L").
    LeastLikely,
}

/// The paper's suffix, e.g. "TL".
pub fn suffix(init: Init, target: TargetRule) -> &'static str {
    match (init, target) {
        (Init::Train, TargetRule::Random) => "TR",
        (Init::Train, TargetRule::LeastLikely) => "TL",
        (Init::Random, TargetRule::Random) => "RR",
        (Init::Random, TargetRule::LeastLikely) => "RL",
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IpGuardParams {
    pub n: usize,
    /// Logit margin. Seed 002 gives its values only in a figure (its Figure 6); the best k grows
    /// with the owner's logit scale: 2 on a 4-epoch Arc A, 10-15 on a 12-epoch one, 30 on a
    /// ResNet-20 (docs/results/ipguard-resnet20-owner.txt), so it is a parameter, default 10.
    pub k: f64,
    /// Adam rate on the input pixels ([0, 1] scale). Seed 002 §5.1.2 uses CW-L2's 0.001 on
    /// CIFAR; we default to 0.01: on the converged Fashion-MNIST zoo it gives ARUC 0.884 against
    /// 0.849 at k = 10, 6x faster (docs/results/ipguard-lr-sweep.txt).
    pub lr: f64,
    pub iterations: usize,
    pub init: Init,
    pub target: TargetRule,
    pub clip: bool,
    pub seed: u64,
    /// Start points optimised together; the first `n` (by index) to reach zero loss form the
    /// fingerprint and optimisation stops as soon as `n` have. 0 means exactly `n`, the paper's
    /// procedure. Oversampling is our choice (not in seed 002): some start points never converge
    /// (13 of 100 on a ResNet-20 after 1,000 iterations, docs/performance.md), and without it
    /// they alone run the loop to the iteration limit while contributing unconverged points.
    #[serde(default)]
    pub candidates: usize,
    /// Start points drawn and ranked before optimising: the `max(candidates, n)` whose initial
    /// loss is lowest (the owner's top logit closest to the target's) are optimised. 0 = no
    /// ranking, the paper's random draw (seed 002 §4.2.2 picks start points at random). Our
    /// choice, for speed: a forward pass over the drawn points costs about one Adam iteration on
    /// a third as many, and start points near the target need fewer iterations (docs/decisions.md).
    /// Screened training examples are drawn without replacement (ranking would keep every copy of
    /// a low-loss image), and screening needs least-likely targets: with random ones it would
    /// select the targets, not the start points.
    #[serde(default)]
    pub screen: usize,
}

impl Default for IpGuardParams {
    fn default() -> Self {
        Self {
            n: 100,
            k: 10.0,
            lr: 0.01,
            iterations: 1000,
            init: Init::Train,
            target: TargetRule::LeastLikely,
            clip: true,
            seed: 0,
            candidates: 0,
            screen: 0,
        }
    }
}

impl IpGuardParams {
    pub fn validate(&self) -> Result<(), MethodError> {
        let bad = |m: String| Err(MethodError::BadParameter(m));
        if self.n == 0 {
            return bad("a fingerprint needs at least one point (n >= 1)".into());
        }
        if !(self.k.is_finite() && self.k >= 0.0) {
            return bad(format!("margin k must be >= 0, got {}", self.k));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("learning rate must be positive, got {}", self.lr));
        }
        if self.candidates != 0 && self.candidates < self.n {
            return bad(format!("candidates ({}) must be 0 or at least n ({})", self.candidates, self.n));
        }
        if self.screen != 0 && self.target == TargetRule::Random {
            return bad("screen needs least-likely targets (-TL or -RL): with random targets the ranking would \
                        pick the targets instead of the start points"
                .into());
        }
        if self.screen != 0 && self.screen < self.candidates.max(self.n) {
            return bad(format!(
                "screen ({}) must be 0 or at least the points optimised ({})",
                self.screen,
                self.candidates.max(self.n)
            ));
        }
        Ok(())
    }
}

/// `--k auto`: k as this fraction of the owner's median logit margin on the seed images. IPGuard's
/// best k grows with the owner's logits (seed 002 Figure 6; ours: k = 2 for a 4-epoch Arc A on
/// Fashion-MNIST, 10-15 at 12 epochs, 30 for a ResNet-20). Measured (docs/results/ipguard-k-auto.txt):
/// the 30-epoch Arc C digits owner has median margin 10.2, where k = 10 left 29 of 100 points
/// unconverged and k = 2 or 4 none, and at k = 4 no scikit-learn model of 15 was called STOLEN
/// against mown-trained negatives (5 of 15 at k = 2); the 4-epoch Fashion-MNIST Arc A has median
/// 4.4, whose best k in the sweep was 2-3. 0.4 x median gives 4.1 and 1.8.
pub const AUTO_K_FRACTION: f64 = 0.4;

/// k for `--k auto`: [`AUTO_K_FRACTION`] of the median of [`logit_margins`] on `seeds`.
pub fn auto_k(owner: &Model, seeds: &Dataset) -> Result<f64, MethodError> {
    let mut m = logit_margins(owner, seeds)?;
    if m.is_empty() {
        return Err(MethodError::BadParameter("--k auto needs seed images".into()));
    }
    m.sort_by(f32::total_cmp);
    let median = m[m.len() / 2] as f64;
    if !(median.is_finite() && median > 0.0) {
        return Err(MethodError::BadParameter(format!("the owner's median logit margin is {median}: give --k")));
    }
    Ok(AUTO_K_FRACTION * median)
}

/// The owner's logit margin (top-1 minus top-2 logit) on each of `data`'s images, at most 2,000
/// of them (the first): the scale of the owner's logits that `--k auto` sets k from.
pub fn logit_margins(owner: &Model, data: &Dataset) -> Result<Vec<f32>, MethodError> {
    let numel = owner.input_shape().numel();
    let n = data.len().min(2000);
    let logits = owner.logits(&data.images()[..n * numel])?;
    let classes = owner.num_classes();
    Ok(logits
        .chunks(classes)
        .map(|row| {
            let (mut a, mut b) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
            for &z in row {
                if z > a {
                    (a, b) = (z, a);
                } else if z > b {
                    b = z;
                }
            }
            a - b
        })
        .collect())
}

/// IPGuard's loss (Eq. 5) for one row of logits; infinite when a logit is not finite, so that
/// such a point never counts as converged (`f32::max` would turn a NaN into 0).
pub fn ipguard_loss(logits: &[f32], i: usize, j: usize, k: f32) -> f32 {
    if logits.iter().any(|z| !z.is_finite()) {
        return f32::INFINITY;
    }
    let others = logits
        .iter()
        .enumerate()
        .filter(|(t, _)| *t != i && *t != j)
        .map(|(_, &z)| z)
        .fold(f32::NEG_INFINITY, f32::max);
    let second = if others.is_finite() { (others - logits[i]).max(0.0) } else { 0.0 };
    (logits[i] - logits[j] + k).max(0.0) + second
}

/// The same loss on a batch, summed, as a differentiable tensor.
fn batch_loss(logits: Tensor<2>, i: &[usize], j: &[usize], k: f64) -> Tensor<1> {
    let [n, c] = logits.dims();
    let device = logits.device();
    let mut oh_i = vec![0f32; n * c];
    let mut oh_j = vec![0f32; n * c];
    for r in 0..n {
        oh_i[r * c + i[r]] = 1.0;
        oh_j[r * c + j[r]] = 1.0;
    }
    let oh_i = Tensor::<1>::from_floats(oh_i.as_slice(), &device).reshape([n, c]);
    let oh_j = Tensor::<1>::from_floats(oh_j.as_slice(), &device).reshape([n, c]);
    let zi = (logits.clone() * oh_i.clone()).sum_dim(1);
    let zj = (logits.clone() * oh_j.clone()).sum_dim(1);
    // Mask i and j out of the max with a large negative offset.
    let others = (logits + (oh_i + oh_j).mul_scalar(-1e9)).max_dim(1);
    let first = mown_nn::burn::tensor::activation::relu(zi.clone() - zj + k);
    let second = mown_nn::burn::tensor::activation::relu(others - zi);
    (first + second).sum()
}

/// Start points of the owner's input `shape`: random training examples (T) or uniform noise
/// (R), drawn with `rng`. `distinct` draws training examples without replacement (screening
/// ranks them, and copies of one image would crowd the ranking).
pub fn start_points(
    seeds: &Dataset,
    shape: ImageShape,
    n: usize,
    init: Init,
    distinct: bool,
    rng: &mut StdRng,
) -> Result<Vec<f32>, MethodError> {
    if init == Init::Random {
        return Ok((0..n * shape.numel()).map(|_| rng.random::<f32>()).collect());
    }
    // Pixels of another shape would be cut into the wrong number of images and silently
    // fingerprint garbage.
    if seeds.shape != shape {
        return Err(MethodError::Mismatch(format!("seed images are {:?}, the owner takes {:?}", seeds.shape, shape)));
    }
    if seeds.is_empty() {
        return Err(MethodError::BadParameter("no seed images for training-example initialisation".into()));
    }
    let chosen: Vec<usize> = if distinct {
        if n > seeds.len() {
            return Err(MethodError::BadParameter(format!(
                "screen ({n}) exceeds the {} seed images it draws from without replacement",
                seeds.len()
            )));
        }
        let mut order: Vec<usize> = (0..seeds.len()).collect();
        order.partial_shuffle(rng, n).0.to_vec()
    } else {
        (0..n).map(|_| rng.random_range(0..seeds.len())).collect()
    };
    Ok(chosen.iter().flat_map(|&i| seeds.image(i).iter().copied()).collect())
}

/// The (i, j) pair per start point from the owner's logits there.
pub fn label_pairs(logits: &[f32], classes: usize, rule: TargetRule, rng: &mut StdRng) -> (Vec<usize>, Vec<usize>) {
    let i = mown_nn::model::argmax_rows(logits, classes);
    let j = logits
        .chunks(classes)
        .zip(&i)
        .map(|(row, &top)| match rule {
            TargetRule::LeastLikely => {
                row.iter()
                    .enumerate()
                    .fold((top, f32::INFINITY), |best, (t, &z)| if z < best.1 { (t, z) } else { best })
                    .0
            }
            TargetRule::Random => {
                let pick = rng.random_range(0..classes - 1);
                if pick >= top { pick + 1 } else { pick }
            }
        })
        .collect();
    (i, j)
}

/// Adam state per coordinate, with per-point activity (converged points stop).
pub(crate) struct Adam {
    pub(crate) m: Vec<f32>,
    pub(crate) v: Vec<f32>,
    pub(crate) t: i32,
}

impl Adam {
    const B1: f32 = 0.9;
    const B2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    pub(crate) fn step(&mut self, x: &mut [f32], grad: &[f32], offsets: &[(usize, usize)], lr: f32, clip: bool) {
        self.t += 1;
        let (c1, c2) = (1.0 - Self::B1.powi(self.t), 1.0 - Self::B2.powi(self.t));
        for &(src, dst) in offsets {
            let len = grad.len() / offsets.len();
            for e in 0..len {
                let (g, k) = (grad[src * len + e], dst * len + e);
                self.m[k] = Self::B1 * self.m[k] + (1.0 - Self::B1) * g;
                self.v[k] = Self::B2 * self.v[k] + (1.0 - Self::B2) * g * g;
                let update = lr * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + Self::EPS);
                x[k] -= update;
                if clip {
                    x[k] = x[k].clamp(0.0, 1.0);
                }
            }
        }
    }
}

pub struct IpGuard(pub IpGuardParams);

/// The start points the optimisation begins from, with their label pairs: `max(candidates, n)`
/// of them, after screening when it is on.
pub struct Candidates {
    /// Pixel-space images, row-major `[candidates, c, h, w]`.
    pub points: Vec<f32>,
    /// The owner's label at each start point (the label the point moves away from).
    pub i: Vec<usize>,
    /// The target label each point moves to.
    pub j: Vec<usize>,
    /// How many start points were drawn before ranking (equal to the candidates without it).
    pub screened: usize,
}

impl IpGuard {
    /// Draws (and, with `screen`, ranks) the start points and their label pairs: everything
    /// `generate` decides before the first Adam step, public so that a reference
    /// implementation can be timed from the same start (examples/ipguard_resnet20.rs).
    pub fn candidates(&self, owner: &Model, seeds: &Dataset) -> Result<Candidates, MethodError> {
        let p = &self.0;
        p.validate()?;
        let shape = owner.input_shape();
        let classes = owner.num_classes();
        let mut rng = StdRng::seed_from_u64(p.seed);
        let total = p.candidates.max(p.n);
        let numel = shape.numel();
        let drawn = p.screen.max(total);
        // Screening ranks the drawn images, so it draws them distinct.
        let mut x = start_points(seeds, shape, drawn, p.init, drawn > total, &mut rng)?;
        let start_logits = owner.logits(&x)?;
        let (mut i, mut j) = label_pairs(&start_logits, classes, p.target, &mut rng);
        if drawn > total {
            let losses: Vec<f32> = (0..drawn)
                .map(|a| ipguard_loss(&start_logits[a * classes..(a + 1) * classes], i[a], j[a], p.k as f32))
                .collect();
            let keep = choose_points(&losses, total);
            x = keep.iter().flat_map(|&a| x[a * numel..(a + 1) * numel].iter().copied()).collect();
            i = keep.iter().map(|&a| i[a]).collect();
            j = keep.iter().map(|&a| j[a]).collect();
        }
        Ok(Candidates { points: x, i, j, screened: drawn })
    }
}

impl Fingerprinter for IpGuard {
    fn name(&self) -> String {
        format!("ipguard-{}", suffix(self.0.init, self.0.target))
    }

    fn generate(&self, owner: &Model, seeds: &Dataset) -> Result<Fingerprint, MethodError> {
        let p = &self.0;
        let started = Instant::now();
        let Candidates { points: mut x, i, j, screened: drawn } = self.candidates(owner, seeds)?;
        let shape = owner.input_shape();
        let classes = owner.num_classes();
        let total = i.len();
        let numel = shape.numel();
        // Images pushed through a backward pass (the sum of the batch sizes): the work measure
        // that the PyTorch reference (bench/pytorch_ipguard.py) repeats.
        let mut gradient_evaluations = 0;
        let mut adam = Adam { m: vec![0.0; x.len()], v: vec![0.0; x.len()], t: 0 };
        let mut active: Vec<usize> = (0..total).collect();
        // The iteration at which each candidate first reached zero loss.
        let mut converged_at: Vec<Option<usize>> = vec![None; total];
        let mut iterations = 0;
        let optimising = Instant::now();
        while iterations < p.iterations && !active.is_empty() {
            let batch: Vec<f32> = active.iter().flat_map(|&a| x[a * numel..(a + 1) * numel].iter().copied()).collect();
            let (bi, bj): (Vec<usize>, Vec<usize>) = active.iter().map(|&a| (i[a], j[a])).unzip();
            gradient_evaluations += active.len();
            // Eq. 5 summed over points is row-separable, so blocks give the same points up to
            // rounding (byte-identical in our runs), faster.
            let g = owner.row_blocks_input_gradient(&batch, GRADIENT_BLOCKS, |logits, rows| {
                batch_loss(logits, &bi[rows.clone()], &bj[rows], p.k)
            })?;
            let logits = g.logits;
            // Points already at zero loss (before this step) are done and keep their position.
            let mut still: Vec<(usize, usize)> = Vec::with_capacity(active.len());
            for (r, &a) in active.iter().enumerate() {
                if ipguard_loss(&logits[r * classes..(r + 1) * classes], i[a], j[a], p.k as f32) > 0.0 {
                    still.push((r, a));
                } else {
                    converged_at[a] = Some(iterations);
                }
            }
            if still.is_empty() || converged_at.iter().flatten().count() >= p.n {
                break;
            }
            let grad = g.grad;
            let rows: Vec<f32> =
                still.iter().flat_map(|&(r, _)| grad[r * numel..(r + 1) * numel].iter().copied()).collect();
            let offsets: Vec<(usize, usize)> = still.iter().enumerate().map(|(s, &(_, a))| (s, a)).collect();
            adam.step(&mut x, &rows, &offsets, p.lr as f32, p.clip);
            active = still.into_iter().map(|(_, a)| a).collect();
            iterations += 1;
        }
        let loop_seconds = optimising.elapsed().as_secs_f64();
        let final_logits = owner.logits(&x)?;
        let losses: Vec<f32> = (0..total)
            .map(|a| ipguard_loss(&final_logits[a * classes..(a + 1) * classes], i[a], j[a], p.k as f32))
            .collect();
        for (slot, &loss) in converged_at.iter_mut().zip(&losses) {
            if loss == 0.0 && slot.is_none() {
                *slot = Some(iterations);
            }
        }
        let chosen = choose_points(&losses, p.n);
        let converged = chosen.iter().filter(|&&a| losses[a] == 0.0).count();
        let mut steps: Vec<usize> = chosen.iter().filter_map(|&a| converged_at[a]).collect();
        steps.sort_unstable();
        let quantile = |q: f64| steps.get(((steps.len() as f64 - 1.0) * q).round() as usize).copied();
        let points: Vec<f32> = chosen.iter().flat_map(|&a| x[a * numel..(a + 1) * numel].iter().copied()).collect();
        let stats = serde_json::json!({
            "converged": converged,
            "candidates": total,
            "screened": drawn,
            "iterations": iterations,
            "gradient_evaluations": gradient_evaluations,
            "converged_at_median": quantile(0.5),
            "converged_at_p90": quantile(0.9),
        });
        let mut fp = fingerprint_from_points(
            owner,
            self.name(),
            serde_json::to_value(p).unwrap_or_default(),
            p.seed,
            points,
            stats,
        )?;
        // Timings stay out of the file, so the same seed gives the same bytes.
        fp.timings = serde_json::json!({
            "seconds": started.elapsed().as_secs_f64(),
            // The Adam loop alone, without drawing, screening and labelling the points.
            "loop_seconds": loop_seconds,
        });
        Ok(fp)
    }
}

/// The `n` candidates kept: converged ones (zero loss) first, in index order, then the rest by
/// lowest loss; index order makes the choice depend on the seed only.
fn choose_points(losses: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..losses.len()).collect();
    order.sort_by(|&a, &b| losses[a].total_cmp(&losses[b]).then(a.cmp(&b)));
    order.truncate(n);
    order.sort_unstable();
    order
}

/// Labels the final points with the owner's predictions and packs the fingerprint file.
pub fn fingerprint_from_points(
    owner: &Model,
    method: String,
    params: serde_json::Value,
    seed: u64,
    points: Vec<f32>,
    stats: serde_json::Value,
) -> Result<Fingerprint, MethodError> {
    let labels = owner.predict(&points)?;
    Ok(Fingerprint {
        format_version: FINGERPRINT_FORMAT,
        method,
        params,
        seed,
        owner_sha256: mown_nn::io::model_sha256(owner)?,
        owner_derivation: owner.meta.provenance.derivation.clone(),
        input_shape: owner.input_shape(),
        num_classes: owner.num_classes(),
        points,
        labels,
        stats,
        timings: serde_json::Value::Null,
        producer: concat!("mown ", env!("CARGO_PKG_VERSION")).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_zero_exactly_when_j_leads_by_k_and_i_is_second() {
        let k = 2.0;
        // j = 2 top with margin 2.5 over i = 0, i second: zero.
        assert_eq!(ipguard_loss(&[3.0, 1.0, 5.5], 0, 2, k), 0.0);
        // Margin exactly k: still zero.
        assert_eq!(ipguard_loss(&[3.0, 1.0, 5.0], 0, 2, k), 0.0);
        // Margin below k: positive, equal to the shortfall.
        assert!((ipguard_loss(&[3.0, 1.0, 4.5], 0, 2, k) - 0.5).abs() < 1e-6);
        // j top with margin but i not second (t = 1 above i): positive by the gap.
        assert!((ipguard_loss(&[3.0, 3.5, 6.0], 0, 2, k) - 0.5).abs() < 1e-6);
        // i still on top: both terms.
        assert!((ipguard_loss(&[5.0, 1.0, 4.0], 0, 2, k) - 3.0).abs() < 1e-6);
        // Two classes: only the margin term exists.
        assert_eq!(ipguard_loss(&[0.0, 2.0], 0, 1, k), 0.0);
        // A NaN or infinite logit is never a converged point.
        assert_eq!(ipguard_loss(&[3.0, f32::NAN, 5.5], 0, 2, k), f32::INFINITY);
        assert_eq!(ipguard_loss(&[3.0, 1.0, f32::INFINITY], 0, 2, k), f32::INFINITY);
    }

    #[test]
    fn kept_points_are_converged_first_in_index_order_then_lowest_loss() {
        assert_eq!(choose_points(&[0.5, 0.0, 2.0, 0.0, 0.1], 3), vec![1, 3, 4]);
        assert_eq!(choose_points(&[0.0, 0.0, 0.0], 2), vec![0, 1]);
        assert_eq!(choose_points(&[f32::INFINITY, 1.0], 1), vec![1]);
    }

    #[test]
    fn least_likely_target_is_the_smallest_logit_and_random_is_never_i() {
        let mut rng = StdRng::seed_from_u64(1);
        let logits = [1.0, 5.0, -3.0, 0.0, 9.0, 2.0, -1.0, 0.5];
        let (i, j) = label_pairs(&logits, 4, TargetRule::LeastLikely, &mut rng);
        assert_eq!((i, j), (vec![1, 0], vec![2, 2]));
        for _ in 0..50 {
            let (i, j) = label_pairs(&logits, 4, TargetRule::Random, &mut rng);
            assert!(i[0] != j[0] && i[1] != j[1] && j.iter().all(|&x| x < 4));
        }
    }
}
