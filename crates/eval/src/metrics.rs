//! Threshold-free measures of how well a method separates stolen models from independent ones.
//!
//! IPGuard (Cao, Jia, Gong, AsiaCCS '21, seed 002, Section 5) judges a suspect stolen when its
//! matching rate is `>= tau` and defines, for a set of positive (stolen or post-processed) and
//! negative (independent) suspects:
//! - robustness `R(tau)`: the fraction of positives with score `>= tau` (stolen copies caught);
//! - uniqueness `U(tau)`: the fraction of negatives with score `< tau` (innocent models cleared);
//! - ARUC `= integral over [0, 1] of min(R, U)`, approximated with r = 100 right endpoints
//!   `tau = 0.01, ..., 1.00` (Eq. 6-7). Unlike ROC AUC it rewards a *wide gap* between positive
//!   and negative scores, which is what makes a threshold easy to choose in practice.
//!
//! ROC AUC and the TPR at a fixed FPR are added because they are what the rest of the literature
//! reports, and the TPR at low FPR is the number that matters for an accusation.

use crate::{EvalError, allowed_positives, check_fpr, check_scores};
use serde::{Deserialize, Serialize};

/// IPGuard's robustness and uniqueness at threshold `tau`: a suspect is judged stolen when its
/// score is `>= tau`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuPoint {
    pub tau: f64,
    pub robustness: f64,
    pub uniqueness: f64,
}

/// A threshold (rule `score >= threshold`) with the true- and false-positive rates it achieves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub threshold: f64,
    pub tpr: f64,
    pub fpr: f64,
}

/// Fraction of positives with score `>= tau` (IPGuard's R). NaN for an empty slice; use
/// [`ru_curve`] for validated input.
pub fn robustness(positives: &[f64], tau: f64) -> f64 {
    positives.iter().filter(|&&s| s >= tau).count() as f64 / positives.len() as f64
}

/// Fraction of negatives with score `< tau` (IPGuard's U). NaN for an empty slice; use
/// [`ru_curve`] for validated input.
pub fn uniqueness(negatives: &[f64], tau: f64) -> f64 {
    negatives.iter().filter(|&&s| s < tau).count() as f64 / negatives.len() as f64
}

/// R and U at the paper's 100 thresholds `tau = k / 100`, k = 1..=100. `tau` is computed as a
/// single division so that it is exactly the double nearest to k/100 (0.3 stays 0.3, not the
/// 0.30000000000000004 that repeated addition of 0.01 would give), which matters because scores
/// such as matching rates over 100 points are exact multiples of 0.01.
pub fn ru_curve(positives: &[f64], negatives: &[f64]) -> Result<Vec<RuPoint>, EvalError> {
    check_scores("positives", positives)?;
    check_scores("negatives", negatives)?;
    Ok((1..=100)
        .map(|k| {
            let tau = k as f64 / 100.0;
            RuPoint { tau, robustness: robustness(positives, tau), uniqueness: uniqueness(negatives, tau) }
        })
        .collect())
}

/// IPGuard's ARUC: the mean over the curve's points of `min(R, U)`, i.e. the r = 100 right-endpoint
/// approximation of the area under both curves. 1.0 means every threshold on the grid catches every
/// positive and clears every negative; the larger the gap between the two score ranges, the higher
/// the ARUC. NaN for an empty curve.
pub fn aruc(curve: &[RuPoint]) -> f64 {
    curve.iter().map(|p| p.robustness.min(p.uniqueness)).sum::<f64>() / curve.len() as f64
}

/// ROC AUC: the probability that a random positive scores higher than a random negative, ties
/// counting 1/2 (the Mann-Whitney U statistic divided by n*m). Computed from mid-ranks of the
/// pooled, sorted sample in O((n+m) log(n+m)).
pub fn roc_auc(positives: &[f64], negatives: &[f64]) -> Result<f64, EvalError> {
    check_scores("positives", positives)?;
    check_scores("negatives", negatives)?;
    let mut pooled: Vec<(f64, bool)> =
        positives.iter().map(|&s| (s, true)).chain(negatives.iter().map(|&s| (s, false))).collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the (1-based) mid-ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j < pooled.len() && pooled[j].0 == pooled[i].0 {
            j += 1;
        }
        let mid_rank = (i + 1 + j) as f64 / 2.0; // mean of ranks i+1 ..= j
        rank_sum += mid_rank * pooled[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    let (n, m) = (positives.len() as f64, negatives.len() as f64);
    Ok((rank_sum - n * (n + 1.0) / 2.0) / (n * m))
}

/// The lowest threshold, among the observed scores, whose FPR (fraction of negatives with
/// `score >= threshold`) is `<= max_fpr`, and the TPR it gives: the best detection rate at that
/// false-positive budget. When no observed score qualifies (the top scores are negatives tied beyond
/// the budget) the threshold is the next double above the highest negative, so FPR = 0.
///
/// With m negatives the measured FPR moves in steps of 1/m: `max_fpr` below 1/m forces FPR = 0.
pub fn tpr_at_fpr(positives: &[f64], negatives: &[f64], max_fpr: f64) -> Result<OperatingPoint, EvalError> {
    check_scores("positives", positives)?;
    check_scores("negatives", negatives)?;
    check_fpr("max_fpr", max_fpr)?;
    let allowed = allowed_positives(max_fpr, negatives.len());
    let mut neg = negatives.to_vec();
    neg.sort_by(f64::total_cmp);
    let at_or_above = |sorted: &[f64], t: f64| sorted.len() - sorted.partition_point(|&s| s < t);
    let mut candidates: Vec<f64> = positives.iter().chain(negatives).copied().collect();
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    // FPR is non-increasing in the threshold, so the qualifying candidates form a suffix.
    let first = candidates.partition_point(|&t| at_or_above(&neg, t) > allowed);
    let threshold = match candidates.get(first) {
        Some(&t) => t,
        None => neg[neg.len() - 1].next_up(),
    };
    let mut pos = positives.to_vec();
    pos.sort_by(f64::total_cmp);
    Ok(OperatingPoint {
        threshold,
        tpr: at_or_above(&pos, threshold) as f64 / pos.len() as f64,
        fpr: at_or_above(&neg, threshold) as f64 / neg.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aruc_hand_case() {
        // positives [0.9, 0.8, 0.5], negatives [0.1, 0.3]; tau = k/100, judged stolen iff score >= tau.
        //   k =  1..=10 : R = 1,   U = 0   (0.1 < 0.10 is false)         min = 0    x10 -> 0
        //   k = 11..=30 : R = 1,   U = 1/2 (only 0.1 < tau; 0.3 < 0.30 no) min = 1/2  x20 -> 10
        //   k = 31..=50 : R = 1,   U = 1   (0.5 >= 0.50 still counts)    min = 1    x20 -> 20
        //   k = 51..=80 : R = 2/3, U = 1                                 min = 2/3  x30 -> 20
        //   k = 81..=90 : R = 1/3, U = 1                                 min = 1/3  x10 -> 10/3
        //   k = 91..=100: R = 0,   U = 1                                 min = 0    x10 -> 0
        // sum = 160/3 over 100 points -> ARUC = 8/15.
        let curve = ru_curve(&[0.9, 0.8, 0.5], &[0.1, 0.3]).unwrap();
        assert_eq!(curve.len(), 100);
        assert_eq!(curve[29], RuPoint { tau: 0.3, robustness: 1.0, uniqueness: 0.5 });
        assert_eq!(curve[49], RuPoint { tau: 0.5, robustness: 1.0, uniqueness: 1.0 });
        assert!((aruc(&curve) - 8.0 / 15.0).abs() < 1e-12, "{}", aruc(&curve));
    }

    #[test]
    fn aruc_perfect_separation_is_one() {
        // Positives at 1.0 satisfy 1.0 >= tau for every tau <= 1.00, so R = 1 at all 100 points;
        // negatives at 0.0 satisfy 0.0 < tau for every tau >= 0.01, so U = 1 too: min = 1
        // everywhere and ARUC = 1.0 (tau = 0 is not on the grid, so no point loses U).
        let curve = ru_curve(&[1.0, 1.0], &[0.0, 0.0, 0.0]).unwrap();
        assert_eq!(aruc(&curve), 1.0);
        // Reversed: R = 0 wherever U > 0.
        assert_eq!(aruc(&ru_curve(&[0.0], &[1.0]).unwrap()), 0.0);
    }

    #[test]
    fn ru_curve_grid_is_exact() {
        let curve = ru_curve(&[0.5], &[0.5]).unwrap();
        for (k, p) in curve.iter().enumerate() {
            assert_eq!(p.tau.to_string(), format!("{}", (k + 1) as f64 / 100.0));
        }
        assert_eq!(curve[6].tau, 0.07);
        assert_eq!(curve[99].tau, 1.0);
    }

    #[test]
    fn roc_auc_extremes_ties_and_hand_case() {
        assert_eq!(roc_auc(&[0.9, 0.8], &[0.1, 0.2, 0.3]).unwrap(), 1.0);
        assert_eq!(roc_auc(&[0.1, 0.2], &[0.8, 0.9]).unwrap(), 0.0);
        assert_eq!(roc_auc(&[0.5, 0.5], &[0.5, 0.5, 0.5]).unwrap(), 0.5);
        // Pairs (pos vs neg): 0.5: win vs 0.3, loss vs 0.6; 0.8: two wins; 0.3: tie vs 0.3, loss
        // vs 0.6 -> (1 + 0 + 1 + 1 + 0.5 + 0) / 6 = 7/12.
        let auc = roc_auc(&[0.5, 0.8, 0.3], &[0.3, 0.6]).unwrap();
        assert!((auc - 7.0 / 12.0).abs() < 1e-12, "{auc}");
    }

    #[test]
    fn roc_auc_matches_pairwise_count() {
        // Deterministic pseudo-random scores with many ties (values on a 0.05 grid).
        let mut x = 12345u64;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 33) % 21) as f64 * 0.05
        };
        let pos: Vec<f64> = (0..37).map(|_| next()).collect();
        let neg: Vec<f64> = (0..23).map(|_| next()).collect();
        let mut wins = 0.0;
        for p in &pos {
            for n in &neg {
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let brute = wins / (pos.len() * neg.len()) as f64;
        assert!((roc_auc(&pos, &neg).unwrap() - brute).abs() < 1e-12);
    }

    #[test]
    fn tpr_at_fpr_hand_case() {
        // Negatives sorted: 0.1, 0.2, 0.3, 0.4, 0.7. With max_fpr = 0.2 one false positive is
        // allowed: the lowest observed score with at most one negative >= it is 0.5 (only 0.7 is
        // >= 0.5; at 0.4 there would be two). Positives >= 0.5: 0.5, 0.6, 0.9 -> TPR 3/4.
        let pos = [0.35, 0.5, 0.6, 0.9];
        let neg = [0.4, 0.1, 0.7, 0.2, 0.3];
        let op = tpr_at_fpr(&pos, &neg, 0.2).unwrap();
        assert_eq!(op, OperatingPoint { threshold: 0.5, tpr: 0.75, fpr: 0.2 });
        // max_fpr = 0.1 < 1/5: no false positive allowed; the lowest observed score above all
        // negatives is the positive 0.9.
        assert_eq!(tpr_at_fpr(&pos, &neg, 0.1).unwrap(), OperatingPoint { threshold: 0.9, tpr: 0.25, fpr: 0.0 });
    }

    #[test]
    fn tpr_at_fpr_falls_back_above_the_highest_negative() {
        // The highest score is a negative: no observed score has FPR 0, so the threshold is the
        // next double above 0.8 and nothing is detected.
        let op = tpr_at_fpr(&[0.8, 0.5], &[0.8, 0.2], 0.1).unwrap();
        assert!(op.threshold > 0.8 && op.threshold < 0.8 + 1e-15);
        assert_eq!((op.tpr, op.fpr), (0.0, 0.0));
    }

    #[test]
    fn inputs_are_validated() {
        assert_eq!(ru_curve(&[], &[0.1]), Err(EvalError::Empty("positives")));
        assert_eq!(roc_auc(&[0.1], &[]), Err(EvalError::Empty("negatives")));
        assert!(matches!(roc_auc(&[f64::INFINITY], &[0.1]), Err(EvalError::NonFinite(s)) if s.contains("inf")));
        assert!(matches!(tpr_at_fpr(&[0.5], &[0.1], 0.0), Err(EvalError::BadParameter(_))));
        assert!(matches!(tpr_at_fpr(&[0.5], &[0.1], 1.0), Err(EvalError::BadParameter(_))));
        assert!(matches!(tpr_at_fpr(&[0.5], &[0.1], f64::NAN), Err(EvalError::BadParameter(_))));
    }
}
