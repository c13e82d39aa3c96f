//! Multi-class DeepFool (Moosavi-Dezfooli, Fawzi, Frossard, CVPR 2016, Algorithm 2), L2: from x
//! predicted as l, repeatedly linearise every candidate class k ≠ l at the current point,
//! w_k = ∇f_k − ∇f_l and f'_k = f_k − f_l, take the class whose linearised boundary is nearest,
//! k* = argmin |f'_k| / ||w_k||, and step exactly onto it, r = |f'_k*| / ||w_k*||² · w_k*.
//!
//! It is the inner step of seed 003's universal perturbation (`mown_methods::uap::universal`),
//! its local-perturbation (LAP) ablation, and of DeepFool adversarial training
//! ([`crate::advtrain`], seed 003 §5), which is why it lives with the attacks. All images move as one batch: per iteration, one input-
//! gradient pass per candidate slot, whose objective is Σ_rows f_{k(row)} − f_{l(row)}; in
//! evaluation mode the rows do not interact, so each row's gradient is its own w_k.

use mown_nn::Model;
use mown_nn::burn::prelude::*;
use mown_nn::gradient::GRADIENT_BLOCKS;
use mown_nn::model::{INFERENCE_BATCH, argmax_rows};
use serde::{Deserialize, Serialize};

use crate::AttackError;

/// Which classes k ≠ l DeepFool linearises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CandidateClasses {
    /// Every other class: the paper's Algorithm 2.
    All,
    /// The N classes with the highest clean logits, the original label included (so N − 1
    /// candidates): one gradient pass per candidate makes "all" costly for 100- or 200-class
    /// models, and the nearest boundary is almost always one of the top classes.
    Top(usize),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeepFoolParams {
    /// η: the final perturbation is (1 + η) Σ r_i, so that the point crosses the boundary instead
    /// of landing on it (the DeepFool paper, after its Algorithm 2; 0.02 is its value).
    pub overshoot: f64,
    /// Iterations before giving up on an image (ours: 50, a bound the paper does not need; on the
    /// digits MLP images flip after about 5).
    pub max_iterations: usize,
    pub candidates: CandidateClasses,
    /// Keep x + r inside the pixel box [0, 1] (our choice: DeepFool itself is unconstrained, but
    /// a suspect only accepts images). The returned perturbation is then the effective one,
    /// clip(x + (1 + η) Σ r_i) − x, and the label is checked there; the linearisation ignores
    /// the box, so clipped components are simply lost and later iterations make up for them.
    pub clip: bool,
}

impl Default for DeepFoolParams {
    fn default() -> Self {
        Self { overshoot: 0.02, max_iterations: 50, candidates: CandidateClasses::All, clip: true }
    }
}

impl DeepFoolParams {
    pub fn validate(&self) -> Result<(), AttackError> {
        let bad = |m: String| Err(AttackError::BadParameter(m));
        if !(self.overshoot.is_finite() && self.overshoot >= 0.0) {
            return bad(format!("DeepFool overshoot must be >= 0, got {}", self.overshoot));
        }
        if let CandidateClasses::Top(n) = self.candidates
            && n < 2
        {
            return bad(format!("DeepFool needs at least 2 top classes (the label and one other), got {n}"));
        }
        Ok(())
    }
}

/// What [`deepfool`] found, one entry per image.
#[derive(Clone, Debug, PartialEq)]
pub struct DeepFoolResult {
    /// r per image, `[n, c, h, w]` row-major: the adversarial image is x + r (already clipped).
    pub perturbations: Vec<f32>,
    /// Whether the label at x + r differs from the clean one.
    pub flipped: Vec<bool>,
    /// The owner's label at x.
    pub original: Vec<usize>,
    /// The owner's label at x + r.
    pub labels: Vec<usize>,
    /// Linearisation steps taken per image.
    pub iterations: Vec<usize>,
}

impl DeepFoolResult {
    /// ||r||₂ per image.
    pub fn norms(&self) -> Vec<f64> {
        match self.perturbations.len().checked_div(self.flipped.len()) {
            Some(numel) if numel > 0 => self.perturbations.chunks(numel).map(l2_norm).collect(),
            _ => Vec::new(),
        }
    }
}

/// ||v||₂ in f64.
pub fn l2_norm(values: &[f32]) -> f64 {
    values.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt()
}

/// The smallest tolerance added to |f'_k| so that a point sitting exactly on a boundary still
/// moves (a numerical guard, not in the paper's Algorithm 2).
const STEP_EPSILON: f64 = 1e-4;

/// DeepFool on every image of `images` (NCHW, pixels in [0, 1]), in batches of
/// [`INFERENCE_BATCH`] to bound the autodiff graph's memory.
pub fn deepfool(model: &Model, images: &[f32], params: &DeepFoolParams) -> Result<DeepFoolResult, AttackError> {
    params.validate()?;
    let n = model.check_images(images)?;
    let numel = model.input_shape().numel();
    let mut out = DeepFoolResult {
        perturbations: Vec::with_capacity(images.len()),
        flipped: Vec::with_capacity(n),
        original: Vec::with_capacity(n),
        labels: Vec::with_capacity(n),
        iterations: Vec::with_capacity(n),
    };
    for chunk in images.chunks(INFERENCE_BATCH * numel) {
        let part = deepfool_batch(model, chunk, params)?;
        out.perturbations.extend(part.perturbations);
        out.flipped.extend(part.flipped);
        out.original.extend(part.original);
        out.labels.extend(part.labels);
        out.iterations.extend(part.iterations);
    }
    Ok(out)
}

fn deepfool_batch(model: &Model, x: &[f32], p: &DeepFoolParams) -> Result<DeepFoolResult, AttackError> {
    let numel = model.input_shape().numel();
    let classes = model.num_classes();
    let n = x.len() / numel;
    let logits = model.logits(x)?;
    let original = argmax_rows(&logits, classes);
    let candidates = candidate_classes(&logits, classes, &original, p.candidates);
    let slots = candidates.first().map_or(0, Vec::len);
    let scale = 1.0 + p.overshoot as f32;
    // Σ r_i per image (without overshoot) and the current point clip(x + (1 + η) Σ r_i).
    let mut r_total = vec![0f32; x.len()];
    let mut current = x.to_vec();
    let mut labels = original.clone();
    let mut iterations = vec![0usize; n];
    let mut active: Vec<usize> = (0..n).collect();
    for _ in 0..p.max_iterations {
        if active.is_empty() || slots == 0 {
            break;
        }
        let batch: Vec<f32> =
            active.iter().flat_map(|&a| current[a * numel..(a + 1) * numel].iter().copied()).collect();
        // Per active row: the nearest linearised boundary so far, as (distance, |f'|, w).
        let mut best: Vec<(f64, f64, Vec<f32>)> = vec![(f64::INFINITY, 0.0, Vec::new()); active.len()];
        let source: Vec<usize> = active.iter().map(|&a| original[a]).collect();
        #[allow(clippy::needless_range_loop)] // `slot` picks a column of `candidates`
        for slot in 0..slots {
            let target: Vec<usize> = active.iter().map(|&a| candidates[a][slot]).collect();
            let g = model.row_blocks_input_gradient(&batch, GRADIENT_BLOCKS, |logits, rows| {
                margin_objective(logits, &target[rows.clone()], &source[rows])
            })?;
            for (r, entry) in best.iter_mut().enumerate() {
                let row = &g.logits[r * classes..(r + 1) * classes];
                let f = (row[target[r]] - row[source[r]]) as f64;
                let w = &g.grad[r * numel..(r + 1) * numel];
                let norm = l2_norm(w);
                // A zero gradient (dead ReLUs) gives no direction: skip that class.
                if norm > 0.0 && f.abs() / norm < entry.0 {
                    *entry = (f.abs() / norm, f.abs(), w.to_vec());
                }
            }
        }
        let mut moved = Vec::with_capacity(active.len());
        for (&a, (distance, f, w)) in active.iter().zip(best) {
            if !distance.is_finite() {
                continue; // no usable gradient for any class: this image cannot move
            }
            let norm2 = l2_norm(&w).powi(2);
            let step = ((f + STEP_EPSILON) / norm2) as f32;
            let image = a * numel..(a + 1) * numel;
            let pixels = r_total[image.clone()].iter_mut().zip(&mut current[image.clone()]).zip(&x[image]);
            for (((r, c), &x0), &wi) in pixels.zip(&w) {
                *r += step * wi;
                let value = x0 + scale * *r;
                *c = if p.clip { value.clamp(0.0, 1.0) } else { value };
            }
            iterations[a] += 1;
            moved.push(a);
        }
        if moved.is_empty() {
            break;
        }
        // The label is checked at the overshot point, so an image stops as soon as it crosses.
        let moved_images: Vec<f32> =
            moved.iter().flat_map(|&a| current[a * numel..(a + 1) * numel].iter().copied()).collect();
        let now = model.predict(&moved_images)?;
        active.clear();
        for (&a, &label) in moved.iter().zip(&now) {
            labels[a] = label;
            if label == original[a] {
                active.push(a);
            }
        }
    }
    let perturbations = current.iter().zip(x).map(|(c, x0)| c - x0).collect();
    let flipped = labels.iter().zip(&original).map(|(l, o)| l != o).collect();
    Ok(DeepFoolResult { perturbations, flipped, original, labels, iterations })
}

/// Per image, the candidate classes in order of decreasing clean logit, without its label.
fn candidate_classes(logits: &[f32], classes: usize, original: &[usize], which: CandidateClasses) -> Vec<Vec<usize>> {
    let keep = match which {
        CandidateClasses::All => classes,
        CandidateClasses::Top(n) => n.min(classes),
    };
    logits
        .chunks(classes)
        .zip(original)
        .map(|(row, &label)| {
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            order.truncate(keep);
            order.retain(|&k| k != label);
            // The label is always among the top classes (it is the argmax), so every row has the
            // same number of candidates: keep - 1.
            order.truncate(keep - 1);
            order
        })
        .collect()
}

/// Σ_rows f_{target(row)} − f_{source(row)} on a block of logits.
fn margin_objective(logits: Tensor<2>, target: &[usize], source: &[usize]) -> Tensor<1> {
    let [n, c] = logits.dims();
    let mut mask = vec![0f32; n * c];
    for r in 0..n {
        mask[r * c + target[r]] += 1.0;
        mask[r * c + source[r]] -= 1.0;
    }
    let mask = Tensor::<1>::from_floats(mask.as_slice(), &logits.device()).reshape([n, c]);
    (logits * mask).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_top_classes_without_the_label() {
        let logits = [0.5, 3.0, 1.0, 2.0, 9.0, 1.0, 0.0, 5.0];
        let all = candidate_classes(&logits, 4, &[1, 0], CandidateClasses::All);
        assert_eq!(all, vec![vec![3, 2, 0], vec![3, 1, 2]]);
        let top = candidate_classes(&logits, 4, &[1, 0], CandidateClasses::Top(2));
        assert_eq!(top, vec![vec![3], vec![3]]);
    }
}
