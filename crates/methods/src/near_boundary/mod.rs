//! Near-boundary evidence (seed 000, "Interesting Near-boundary Data: Model Ownership Inference
//! for DNNs"): private samples that sit on one chosen class boundary (s, t) of the owner's
//! model, a boundary fine-tuning that pulls them closer to it, and a test of whether they still
//! sit closer to (s, t) on a suspect than on models the owner did not make.
//!
//! - Phase 1 ([`generate`]): targeted CW-L2 from training images of class s toward t (the CW-L2
//!   baseline's optimiser, κ = 0 so each example stops just past the boundary); keep those near
//!   the boundary by Definition 2 ([`is_near_boundary`]).
//! - Phase 2 ([`privatise`]): a DCGAN trained on those examples; its samples near the boundary
//!   are the private evidence (without it the evidence is the phase-1 set, and says so).
//! - Phase 3 ([`finetune`]): Loss_FT (Eq. 4) on the evidence alternating with cross-entropy on the
//!   training data; the tuned model is the owner the evidence names.
//! - Inference ([`NearBoundaryEvidence`]): d(x) = |g_t(x) − g_s(x)| per sample on the suspect's
//!   probabilities (§2.5's reading of "the distance to the target classification boundary"),
//!   lower is closer; `mown_eval::decide` runs the one-sided Welch test against the negatives'
//!   distances, 30 draws of 10 samples (§5.2).
//! - The dispute ([`dispute`]): the owner's and a claimant's evidence on the same model; whose
//!   samples sit closer wins.

pub mod dispute;
mod evidence;
pub mod finetune;
pub mod forgery;
mod generate;
pub mod privatise;

pub use dispute::{DisputeOutcome, Winner, dispute};
pub use evidence::{NEAR_BOUNDARY_FORMAT, NearBoundaryEvidence};
pub use finetune::{FineTuneParams, FtSpace, Tuned, boundary_loss_value, finetune_boundary, tune_within_budget};
pub use forgery::natural;
pub use generate::{NearBoundaryParams, generate};
pub use privatise::PrivatiseParams;

/// Definition 2: classes s and t are the top two of `probs` (ties allowed: the smaller of the two
/// is at least every other class) and their probabilities differ by at most `tau`.
pub fn is_near_boundary(probs: &[f32], s: usize, t: usize, tau: f64) -> bool {
    if s == t || s >= probs.len() || t >= probs.len() {
        return false;
    }
    let (gs, gt) = (probs[s], probs[t]);
    let others = probs.iter().enumerate().filter(|(k, _)| *k != s && *k != t).map(|(_, &p)| p);
    let top_other = others.fold(f32::NEG_INFINITY, f32::max);
    gs.min(gt) >= top_other && f64::from((gs - gt).abs()) <= tau
}

/// d(x) = |g_t(x) − g_s(x)|: the per-sample distance to the (s, t) boundary in probability space.
pub fn boundary_distance(probs: &[f32], s: usize, t: usize) -> f64 {
    f64::from((probs[t] - probs[s]).abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_2_on_hand_made_probabilities() {
        // s = 0, t = 1, tau = 0.1.
        assert!(is_near_boundary(&[0.45, 0.40, 0.15], 0, 1, 0.1));
        assert!(is_near_boundary(&[0.40, 0.45, 0.15], 0, 1, 0.1), "either order");
        assert!(!is_near_boundary(&[0.60, 0.30, 0.10], 0, 1, 0.1), "gap 0.3 > tau");
        assert!(!is_near_boundary(&[0.35, 0.30, 0.35], 0, 1, 0.1), "class 2 beats t: (s, t) are not the top two");
        assert!(is_near_boundary(&[0.35, 0.35, 0.30], 0, 1, 0.0), "on the boundary, gap 0");
        assert!(is_near_boundary(&[0.34, 0.33, 0.33], 0, 1, 0.1), "a tie with a third class still counts");
        assert!(!is_near_boundary(&[0.5, 0.5], 0, 0, 1.0), "s = t is no boundary");
        assert!(!is_near_boundary(&[0.5, 0.5], 0, 2, 1.0), "class out of range");
        assert!((boundary_distance(&[0.7, 0.2, 0.1], 0, 1) - 0.5).abs() < 1e-6);
    }
}
