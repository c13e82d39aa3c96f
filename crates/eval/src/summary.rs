//! One record per ownership method over a set of positive and negative suspects, so that methods
//! can be compared on the same suites (IPGuard's evaluation mode, seed 002 Section 5: R/U curves,
//! ARUC and the gap between the lowest positive and the highest negative score) and the raw scores
//! stay available for plots and re-analysis.

use crate::metrics::{OperatingPoint, RuPoint, aruc, roc_auc, ru_curve, tpr_at_fpr};
use crate::{EvalError, check_scores};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// A method's scores on named positive (stolen) and negative (independent) suspects and the
/// separation measures computed from them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    pub method: String,
    pub n_positives: usize,
    pub n_negatives: usize,
    /// IPGuard's area under the robustness-uniqueness curves (r = 100).
    pub aruc: f64,
    pub roc_auc: f64,
    /// Best operating point with at most 1% of the negatives above the threshold. With fewer than
    /// 100 negatives that is none of them: an in-sample FPR of 0, which only resolves the true
    /// FPR down to 1/n (`low_fpr`).
    pub tpr_at_low_fpr: OperatingPoint,
    /// The FPR resolution of that operating point: max(0.01, 1/n).
    pub low_fpr: f64,
    /// 95% upper bound (Clopper-Pearson) on the true FPR given that operating point's false
    /// positives among the n negatives.
    pub fpr_upper_95: f64,
    /// Lowest positive score minus highest negative score; > 0 iff some threshold separates them
    /// perfectly, and IPGuard's informal measure of how easy a threshold is to choose.
    pub gap: f64,
    pub curve: Vec<RuPoint>,
    pub positive_scores: Vec<(String, f64)>,
    pub negative_scores: Vec<(String, f64)>,
}

/// Computes every measure for one method from `(suspect name, score)` pairs.
pub fn summarize(
    method: &str,
    positives: &[(String, f64)],
    negatives: &[(String, f64)],
) -> Result<MethodSummary, EvalError> {
    let pos: Vec<f64> = positives.iter().map(|p| p.1).collect();
    let neg: Vec<f64> = negatives.iter().map(|n| n.1).collect();
    check_scores("positives", &pos)?;
    check_scores("negatives", &neg)?;
    let curve = ru_curve(&rescaled(&pos, &pos, &neg), &rescaled(&neg, &pos, &neg))?;
    let min_pos = pos.iter().copied().fold(f64::INFINITY, f64::min);
    let max_neg = neg.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let low_fpr = (1.0 / neg.len() as f64).max(0.01);
    let point = tpr_at_fpr(&pos, &neg, 0.01)?;
    let false_positives = (point.fpr * neg.len() as f64).round() as usize;
    Ok(MethodSummary {
        method: method.to_string(),
        n_positives: pos.len(),
        n_negatives: neg.len(),
        aruc: aruc(&curve),
        roc_auc: roc_auc(&pos, &neg)?,
        tpr_at_low_fpr: point,
        low_fpr,
        fpr_upper_95: crate::fpr_upper_bound(false_positives, neg.len(), 0.95)?,
        gap: min_pos - max_neg,
        curve,
        positive_scores: positives.to_vec(),
        negative_scores: negatives.to_vec(),
    })
}

/// IPGuard's tau grid covers (0, 1], the range of matching rates. Scores outside it (distances,
/// negated so that higher means closer; SAC, UAP, near-boundary) would all fall below the grid and
/// give ARUC 0 whatever their separation, so for the R/U curve only they are min-max rescaled over
/// the pooled scores; rates in [0, 1] are left as they are, keeping IPGuard's ARUC.
fn rescaled(values: &[f64], pos: &[f64], neg: &[f64]) -> Vec<f64> {
    let (lo, hi) = pos.iter().chain(neg).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    if lo >= 0.0 && hi <= 1.0 || hi <= lo {
        return values.to_vec();
    }
    values.iter().map(|v| (v - lo) / (hi - lo)).collect()
}

/// A fixed-width text table, one row per method: method, ARUC, AUC, the TPR at the lowest FPR the
/// negatives allow (and that FPR), the 95% upper bound on the true FPR there, gap, n+, n-.
pub fn summary_table(summaries: &[MethodSummary]) -> String {
    let width = summaries.iter().map(|s| s.method.chars().count()).max().unwrap_or(0).max("method".len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>6}  {:>6}  {:>6}  {:>6}  {:>8}  {:>7}  {:>5}  {:>5}",
        "method", "ARUC", "AUC", "TPR", "FPRres", "FPR95ub", "gap", "n+", "n-"
    );
    for s in summaries {
        let _ = writeln!(
            out,
            "{:<width$}  {:>6.4}  {:>6.4}  {:>6.4}  {:>6.4}  {:>8.4}  {:>7.4}  {:>5}  {:>5}",
            s.method,
            s.aruc,
            s.roc_auc,
            s.tpr_at_low_fpr.tpr,
            s.low_fpr,
            s.fpr_upper_95,
            s.gap,
            s.n_positives,
            s.n_negatives
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(prefix: &str, scores: &[f64]) -> Vec<(String, f64)> {
        scores.iter().enumerate().map(|(i, &s)| (format!("{prefix}{i}"), s)).collect()
    }

    #[test]
    fn summarize_hand_case() {
        let s = summarize("ipguard", &named("stolen", &[0.9, 0.8, 0.5]), &named("indep", &[0.1, 0.3])).unwrap();
        assert_eq!((s.n_positives, s.n_negatives), (3, 2));
        assert!((s.aruc - 8.0 / 15.0).abs() < 1e-12);
        assert_eq!(s.roc_auc, 1.0);
        // 1% of 2 negatives: no false positive allowed; lowest observed score above 0.3 is 0.5.
        // That in-sample FPR of 0 resolves only 1/2, and its 95% bound is 1 - 0.05^(1/2).
        assert_eq!(s.tpr_at_low_fpr, OperatingPoint { threshold: 0.5, tpr: 1.0, fpr: 0.0 });
        assert_eq!(s.low_fpr, 0.5);
        assert!((s.fpr_upper_95 - (1.0 - 0.05f64.sqrt())).abs() < 1e-12, "{}", s.fpr_upper_95);
        assert!((s.gap - 0.2).abs() < 1e-12);
        assert_eq!(s.curve.len(), 100);
        assert_eq!(s.negative_scores[1], ("indep1".to_string(), 0.3));
        let back: MethodSummary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    /// Negated distances get an ARUC on the grid, not 0: rescaled over the pooled range
    /// [-0.09, -0.01], copies sit at 1, 0.875, 0.5 and independents at 0, 0.25, so min(R, U) is
    /// 1/2 on 25 grid points, 1 on 25, 2/3 on 37 and 1/3 on 13: about 0.665. Scores are kept as given.
    #[test]
    fn distances_get_an_aruc() {
        let d = summarize("sac", &named("p", &[-0.01, -0.02, -0.05]), &named("n", &[-0.09, -0.07])).unwrap();
        assert!((d.aruc - 0.665).abs() < 0.01, "{}", d.aruc);
        assert_eq!(d.positive_scores[0].1, -0.01);
        assert_eq!(d.roc_auc, 1.0);
    }

    #[test]
    fn summarize_validates() {
        assert_eq!(summarize("m", &[], &named("n", &[0.1])), Err(EvalError::Empty("positives")));
        let err = summarize("m", &named("p", &[0.9]), &named("n", &[f64::NAN])).unwrap_err();
        assert!(matches!(err, EvalError::NonFinite(s) if s.contains("negatives[0] = NaN")));
    }

    #[test]
    fn table_is_aligned() {
        let a = summarize("ipguard", &named("p", &[0.9, 0.8, 0.5]), &named("n", &[0.1, 0.3])).unwrap();
        let b = summarize("uap-fingerprint", &named("p", &[0.4]), &named("n", &[0.6])).unwrap();
        let table = summary_table(&[a, b]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("method           ") && lines[0].contains("FPR95ub"));
        assert!(lines[1].starts_with("ipguard  ") && lines[1].contains("0.5333") && lines[1].contains("1.0000"));
        assert!(lines[2].contains("-0.2000"));
        assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()), "{table}");
    }
}
