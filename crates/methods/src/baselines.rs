//! IPGuard's baselines (seed 002 §3), on the same start points, label rule and file format, so
//! ARUC compares generators and nothing else:
//! - random points, labelled by the owner;
//! - targeted FGSM (Eq. 1): one step x − ε·sign(∇x CE(x, j)), clipped to [0, 1];
//! - IGSM (Eq. 2): steps of α = 1/255, projected onto the L∞ ball of radius ε and [0, 1], at most
//!   1,000, stopping per point as soon as the owner predicts j;
//! - CW-L2 (Carlini & Wagner 2017) in tanh space: minimise ‖x − x0‖² + c·max(max_{t≠j} Z_t − Z_j + κ, 0)
//!   with Adam. Choices (the paper only gives the learning rate and sweeps κ): a fixed c (no
//!   binary search over c), and a point stops once it is classified j with confidence κ.

use std::time::Instant;

use mown_data::Dataset;
use mown_nn::Model;
use mown_nn::burn::prelude::*;
use mown_nn::gradient::GRADIENT_BLOCKS;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::MethodError;
use crate::fingerprint::{Fingerprint, Fingerprinter};
use crate::ipguard::{Adam, Init, TargetRule, fingerprint_from_points, label_pairs, start_points, suffix};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BaselineKind {
    Random,
    Fgsm { eps: f64 },
    Igsm { eps: f64, alpha: f64, iterations: usize },
    CwL2 { c: f64, kappa: f64, lr: f64, iterations: usize },
}

impl BaselineKind {
    pub fn name(&self) -> &'static str {
        match self {
            BaselineKind::Random => "random",
            BaselineKind::Fgsm { .. } => "fgsm",
            BaselineKind::Igsm { .. } => "igsm",
            BaselineKind::CwL2 { .. } => "cw-l2",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineParams {
    pub kind: BaselineKind,
    pub n: usize,
    pub init: Init,
    pub target: TargetRule,
    pub seed: u64,
}

pub struct Baseline(pub BaselineParams);

/// Targeted cross-entropy gradient (towards `targets`) at `x`, with the logits there. The loss is
/// summed over points (row-separable), so the points run in [`GRADIENT_BLOCKS`] blocks at once as
/// IPGuard's and CW-L2's do; FGSM and IGSM use only the gradient's sign.
fn targeted_gradient(owner: &Model, x: &[f32], targets: &[usize]) -> Result<(Vec<f32>, Vec<f32>), MethodError> {
    let g = owner.row_blocks_input_gradient(x, GRADIENT_BLOCKS, |logits, rows| {
        let n = rows.len() as f32;
        mown_nn::loss::cross_entropy(logits, &targets[rows]).mul_scalar(n)
    })?;
    Ok((g.grad, g.logits))
}

fn gather(x: &[f32], rows: &[usize], numel: usize) -> Vec<f32> {
    rows.iter().flat_map(|&r| x[r * numel..(r + 1) * numel].iter().copied()).collect()
}

impl Fingerprinter for Baseline {
    fn name(&self) -> String {
        match self.0.kind {
            BaselineKind::Random => "random".into(),
            ref k => format!("{}-{}", k.name(), suffix(self.0.init, self.0.target)),
        }
    }

    fn generate(&self, owner: &Model, seeds: &Dataset) -> Result<Fingerprint, MethodError> {
        let p = &self.0;
        if p.n == 0 {
            return Err(MethodError::BadParameter("a fingerprint needs at least one point (n >= 1)".into()));
        }
        let started = Instant::now();
        let shape = owner.input_shape();
        let numel = shape.numel();
        let classes = owner.num_classes();
        let mut rng = StdRng::seed_from_u64(p.seed);
        let init = if p.kind == BaselineKind::Random { Init::Random } else { p.init };
        let x0 = start_points(seeds, shape, p.n, init, false, &mut rng)?;
        let (_, j) = label_pairs(&owner.logits(&x0)?, classes, p.target, &mut rng);
        let mut x = x0.clone();
        let mut iterations = 0usize;
        match p.kind {
            BaselineKind::Random => {}
            BaselineKind::Fgsm { eps } => {
                let (g, _) = targeted_gradient(owner, &x, &j)?;
                for (v, gv) in x.iter_mut().zip(&g) {
                    *v = (*v - eps as f32 * gv.signum() * (*gv != 0.0) as u8 as f32).clamp(0.0, 1.0);
                }
                iterations = 1;
            }
            BaselineKind::Igsm { eps, alpha, iterations: max } => {
                let mut active: Vec<usize> = (0..p.n).collect();
                while iterations < max && !active.is_empty() {
                    let targets: Vec<usize> = active.iter().map(|&a| j[a]).collect();
                    let (g, logits) = targeted_gradient(owner, &gather(&x, &active, numel), &targets)?;
                    let predicted = mown_nn::model::argmax_rows(&logits, classes);
                    let mut still = Vec::new();
                    for (r, &a) in active.iter().enumerate() {
                        if predicted[r] == j[a] {
                            continue;
                        }
                        still.push(a);
                        for e in 0..numel {
                            let k = a * numel + e;
                            let stepped = x[k] - alpha as f32 * g[r * numel + e].signum();
                            let lo = (x0[k] - eps as f32).max(0.0);
                            let hi = (x0[k] + eps as f32).min(1.0);
                            x[k] = stepped.clamp(lo, hi);
                        }
                    }
                    active = still;
                    iterations += 1;
                }
            }
            BaselineKind::CwL2 { c, kappa, lr, iterations: max } => {
                iterations = cw_l2(owner, &x0, &j, c, kappa, lr, max, &mut x)?;
            }
        }
        let stats = serde_json::json!({ "iterations": iterations });
        let mut fp =
            fingerprint_from_points(owner, self.name(), serde_json::to_value(p).unwrap_or_default(), p.seed, x, stats)?;
        fp.timings = serde_json::json!({ "seconds": started.elapsed().as_secs_f64() });
        Ok(fp)
    }
}

/// CW-L2 in tanh space with per-point early stopping; writes the result into `out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cw_l2(
    owner: &Model,
    x0: &[f32],
    j: &[usize],
    c: f64,
    kappa: f64,
    lr: f64,
    max: usize,
    out: &mut [f32],
) -> Result<usize, MethodError> {
    let shape = owner.input_shape();
    let numel = shape.numel();
    let classes = owner.num_classes();
    // w = atanh(2x − 1), with x kept off the saturated ends.
    let mut w: Vec<f32> = x0.iter().map(|&v| (2.0 * v.clamp(1e-4, 1.0 - 1e-4) - 1.0).atanh()).collect();
    let mut adam = Adam { m: vec![0.0; w.len()], v: vec![0.0; w.len()], t: 0 };
    let mut active: Vec<usize> = (0..j.len()).collect();
    let mut iterations = 0;
    while iterations < max && !active.is_empty() {
        let xs: Vec<f32> = gather(&w, &active, numel).iter().map(|&v| 0.5 * (v.tanh() + 1.0)).collect();
        let targets: Vec<usize> = active.iter().map(|&a| j[a]).collect();
        // The hinge summed over points is row-separable, so blocks give the same points up to
        // rounding (byte-identical in our runs), faster.
        let g = owner.row_blocks_input_gradient(&xs, GRADIENT_BLOCKS, |logits, rows| {
            let n = rows.len();
            let mut oh = vec![0f32; n * classes];
            for (r, &t) in targets[rows].iter().enumerate() {
                oh[r * classes + t] = 1.0;
            }
            let oh = Tensor::<1>::from_floats(oh.as_slice(), &logits.device()).reshape([n, classes]);
            let zj = (logits.clone() * oh.clone()).sum_dim(1);
            let other = (logits + oh.mul_scalar(-1e9)).max_dim(1);
            mown_nn::burn::tensor::activation::relu(other - zj + kappa).sum().mul_scalar(c)
        })?;
        let (logits, grad_x) = (g.logits, g.grad);
        let mut still = Vec::new();
        let mut rows = Vec::new();
        for (r, &a) in active.iter().enumerate() {
            let row = &logits[r * classes..(r + 1) * classes];
            let other =
                row.iter().enumerate().filter(|(t, _)| *t != j[a]).map(|(_, &z)| z).fold(f32::NEG_INFINITY, f32::max);
            if other - row[j[a]] + kappa as f32 <= 0.0 {
                continue;
            }
            // d/dw of (‖x − x0‖² + hinge) = (2(x − x0) + ∂hinge/∂x) · (1 − tanh²w)/2.
            for e in 0..numel {
                let k = a * numel + e;
                let xv = xs[r * numel + e];
                let t = w[k].tanh();
                rows.push((2.0 * (xv - x0[k]) + grad_x[r * numel + e]) * 0.5 * (1.0 - t * t));
            }
            still.push(a);
        }
        if still.is_empty() {
            break;
        }
        let offsets: Vec<(usize, usize)> = still.iter().enumerate().map(|(s, &a)| (s, a)).collect();
        adam.step(&mut w, &rows, &offsets, lr as f32, false);
        active = still;
        iterations += 1;
    }
    for (o, &v) in out.iter_mut().zip(&w) {
        *o = 0.5 * (v.tanh() + 1.0);
    }
    Ok(iterations)
}
