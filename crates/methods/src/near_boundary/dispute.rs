//! The dispute of seed 000 (§2.5, "ownership inference"): an owner and a claimant each submit
//! near-boundary evidence for the boundary they agreed on; both are measured on the disputed
//! model, and the party whose samples sit significantly closer to that boundary wins.
//!
//! The test: one-sided Welch of the claimant's distances against the owner's (H1: the owner's are
//! lower), and the reverse, each over 30 draws of 10 samples per side, p = min(1, 2 x mean p)
//! (`mown_eval::welch_repeated`). Seed 000 says neither how the 30 p-values are combined nor what
//! happens when neither side is significant: here neither wins, and the outcome says the data
//! cannot settle it (priority then rests on the parties' signed, time-stamped claims).

use mown_access::QueryModel;
use mown_eval::{Resampling, welch_repeated};
use serde::{Deserialize, Serialize};

use super::NearBoundaryEvidence;
use crate::MethodError;
use crate::evidence::check_task;

/// Who the data says owns the disputed model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Winner {
    Owner,
    Claimant,
    /// Neither side's samples are significantly closer.
    Neither,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DisputeOutcome {
    pub winner: Winner,
    pub boundary: (usize, usize),
    pub alpha: f64,
    /// Mean distance |g_t - g_s| of each side's samples on the disputed model.
    pub owner_mean: f64,
    pub claimant_mean: f64,
    /// Seed 000's delta-mu with the owner as "us": claimant's mean minus the owner's (positive:
    /// the owner's samples are closer).
    pub delta_mu: f64,
    /// p of H1 "the owner's samples are closer", and of H1 "the claimant's are".
    pub p_owner_closer: f64,
    pub p_claimant_closer: f64,
    /// How the draws were combined, in words.
    pub test: String,
    pub queries: usize,
    /// Why the outcome is what it is.
    pub reasons: Vec<String>,
}

impl std::fmt::Display for DisputeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let winner = match self.winner {
            Winner::Owner => "the OWNER",
            Winner::Claimant => "the CLAIMANT",
            Winner::Neither => "NEITHER party",
        };
        writeln!(f, "DISPUTE over boundary {:?}: {winner} wins", self.boundary)?;
        writeln!(
            f,
            "  mean distance: owner {:.4}, claimant {:.4} (delta-mu {:+.4}); p(owner closer) = {:.3e}, \
             p(claimant closer) = {:.3e}, alpha {}",
            self.owner_mean, self.claimant_mean, self.delta_mu, self.p_owner_closer, self.p_claimant_closer, self.alpha
        )?;
        writeln!(f, "  test: {}; {} queries", self.test, self.queries)?;
        for r in &self.reasons {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

/// Measures both sides' evidence on `suspect` and says who wins at `alpha`. The evidence must be
/// for the same boundary of the same task (the parties agree on the boundary first).
pub fn dispute(
    owner: &NearBoundaryEvidence,
    claimant: &NearBoundaryEvidence,
    suspect: &mut dyn QueryModel,
    alpha: f64,
) -> Result<DisputeOutcome, MethodError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(MethodError::BadParameter(format!("alpha must lie in (0, 1), got {alpha}")));
    }
    let boundary = (owner.params.source, owner.params.target);
    let theirs = (claimant.params.source, claimant.params.target);
    if boundary != theirs && boundary != (theirs.1, theirs.0) {
        return Err(MethodError::Mismatch(format!(
            "the owner's evidence is for boundary {boundary:?} and the claimant's for {theirs:?}: a dispute needs one \
             agreed boundary"
        )));
    }
    if (owner.input_shape, owner.num_classes) != (claimant.input_shape, claimant.num_classes) {
        return Err(MethodError::Mismatch("the two evidence files are for different tasks".into()));
    }
    check_task(suspect, owner.input_shape, owner.num_classes)?;
    let before = suspect.queries_used();
    let ours = owner.distances(suspect)?;
    // d = |g_t - g_s| is symmetric in s and t: a claimant's (t, s) scores the same pair.
    let others = claimant.distances(suspect)?;
    let queries = suspect.queries_used() - before;
    let size = owner.params.draw_size.min(ours.len()).min(others.len());
    let resampling =
        Some(Resampling { draws: owner.params.draws, size, seed: mown_nn::seed::derive(owner.params.seed, 4) });
    // Oriented so that higher is closer: negate the distances.
    let neg = |v: &[f64]| v.iter().map(|d| -d).collect::<Vec<f64>>();
    let owner_closer = welch_repeated(&neg(&ours), &neg(&others), resampling)?;
    let claimant_closer = welch_repeated(&neg(&others), &neg(&ours), resampling)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (owner_mean, claimant_mean) = (mean(&ours), mean(&others));
    let (po, pc) = (owner_closer.p, claimant_closer.p);
    let mut reasons = Vec::new();
    let winner = if po < alpha {
        reasons.push(format!("the owner's samples are closer to the boundary: p = {po:.3e} < alpha {alpha}"));
        Winner::Owner
    } else if pc < alpha {
        reasons.push(format!("the claimant's samples are closer to the boundary: p = {pc:.3e} < alpha {alpha}"));
        Winner::Claimant
    } else {
        reasons.push(format!(
            "neither side's samples are significantly closer (p = {po:.3e} and {pc:.3e}, alpha {alpha}): the data cannot \
             settle this dispute; the parties' signed claims, with third-party time stamps, must"
        ));
        Winner::Neither
    };
    Ok(DisputeOutcome {
        winner,
        boundary,
        alpha,
        owner_mean,
        claimant_mean,
        delta_mu: claimant_mean - owner_mean,
        p_owner_closer: po,
        p_claimant_closer: pc,
        test: format!(
            "one-sided Welch two-sample t-tests in both directions over {} draws of {size} samples per side, p = min(1, \
             2 x mean p)",
            owner.params.draws
        ),
        queries,
        reasons,
    })
}
