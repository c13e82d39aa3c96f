//! A threshold that holds for a model of a family the negatives do not include.
//!
//! Scores vary more between architecture families and toolchains than within one: on the digits
//! (docs/results/sac-akh-digits.txt), IPGuard's points calibrated on 12 mown models of 3 families
//! (matching 0.08-0.29) called 6 of 6 independent scikit-learn MLPs STOLEN: they match 0.45-0.53.
//! A threshold fitted to the pooled negatives describes the families it saw, and a suspect comes
//! from any family. So every threshold not given by the user (calibrated, or from a fitted or
//! chance null) is raised, when needed, to a prediction bound
//! for one model of an unseen family, with family as a random effect:
//!
//!   bound = m + t_{1 - FPR, F - 1} * sqrt(s_b^2 (1 + 1/F) + s_w^2)
//!
//! where m is the mean of the F family means, s_b their standard deviation, s_w the pooled
//! within-family standard deviation of single models, and t Student's quantile with F - 1 degrees
//! of freedom (the usual normal prediction interval for a new group, one-sided at the target FPR).
//! It needs at least 2 families; with few, the t quantile is large (F = 3: 6.96 at FPR 0.01),
//! which is the honest price of knowing few families: add negatives of more families (`mown
//! negatives`, scikit-learn exports) to lower it. Scores are oriented (higher = more copy-like).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::EvalError;

/// The bound and what it was computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyBound {
    /// The oriented bound.
    pub value: f64,
    pub families: usize,
    pub negatives: usize,
    pub target_fpr: f64,
    /// Mean of the family means, their standard deviation, the pooled within-family standard
    /// deviation, and the t quantile, all on the oriented scale.
    pub mean: f64,
    pub between_sd: f64,
    pub within_sd: f64,
    pub t_quantile: f64,
}

/// `scores` grouped by family, in order of first appearance; negatives of unknown family form
/// one group.
pub fn family_groups<'a>(scores: &[(Option<&'a str>, f64)]) -> Vec<(&'a str, Vec<f64>)> {
    let mut groups: Vec<(&str, Vec<f64>)> = Vec::new();
    for &(family, score) in scores {
        let family = family.unwrap_or("unknown");
        match groups.iter_mut().find(|g| g.0 == family) {
            Some(g) => g.1.push(score),
            None => groups.push((family, vec![score])),
        }
    }
    groups
}

/// The bound for `scores` (oriented) grouped by family; negatives of unknown family form one
/// group. `None` with fewer than two families.
pub fn new_family_bound(scores: &[(Option<&str>, f64)], target_fpr: f64) -> Result<Option<FamilyBound>, EvalError> {
    if !(target_fpr > 0.0 && target_fpr < 1.0) {
        return Err(EvalError::BadParameter(format!("target FPR {target_fpr} must be in (0, 1)")));
    }
    let groups = family_groups(scores);
    let f = groups.len();
    if f < 2 {
        return Ok(None);
    }
    let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let means: Vec<f64> = groups.iter().map(|g| mean_of(&g.1)).collect();
    let m = mean_of(&means);
    let between = (means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (f - 1) as f64).sqrt();
    let (mut ss, mut df) = (0.0, 0usize);
    for (g, gm) in groups.iter().zip(&means) {
        ss += g.1.iter().map(|x| (x - gm).powi(2)).sum::<f64>();
        df += g.1.len() - 1;
    }
    let within = if df > 0 { (ss / df as f64).sqrt() } else { 0.0 };
    let t = StudentsT::new(0.0, 1.0, (f - 1) as f64)
        .map_err(|e| EvalError::BadParameter(format!("t distribution: {e}")))?
        .inverse_cdf(1.0 - target_fpr);
    let spread = (between * between * (1.0 + 1.0 / f as f64) + within * within).sqrt();
    Ok(Some(FamilyBound {
        value: m + t * spread,
        families: f,
        negatives: scores.len(),
        target_fpr,
        mean: m,
        between_sd: between,
        within_sd: within,
        t_quantile: t,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_by_hand_for_three_families() {
        // Family means 0.1, 0.2, 0.3 (m = 0.2, s_b = 0.1); within: (±0.05) twice per family,
        // s_w = sqrt(6 * 0.0025 / 3) = 0.0707; t_{0.99, 2} = 6.9646.
        let scores: Vec<(Option<&str>, f64)> =
            [("a", 0.05), ("a", 0.15), ("b", 0.15), ("b", 0.25), ("c", 0.25), ("c", 0.35)]
                .iter()
                .map(|&(f, s)| (Some(f), s))
                .collect();
        let b = new_family_bound(&scores, 0.01).unwrap().unwrap();
        let spread = (0.01f64 * (4.0 / 3.0) + 0.005).sqrt();
        assert!((b.t_quantile - 6.9646).abs() < 1e-3, "{b:?}");
        assert!((b.value - (0.2 + b.t_quantile * spread)).abs() < 1e-12, "{b:?}");
        assert_eq!((b.families, b.negatives), (3, 6));
        // One family: no bound; more families that agree: a tighter bound.
        assert!(new_family_bound(&scores[..2], 0.01).unwrap().is_none());
        let tight: Vec<(Option<&str>, f64)> = ["a", "b", "c", "d", "e", "f"].iter().map(|f| (Some(*f), 0.2)).collect();
        assert!((new_family_bound(&tight, 0.01).unwrap().unwrap().value - 0.2).abs() < 1e-12);
    }
}
