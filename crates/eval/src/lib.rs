//! The statistics behind a mown verdict, kept apart from the tensor stack so that they are cheap to
//! build and test and so that every ownership method is judged by the same code.
//!
//! Every method reduces a suspect to a score in [0, 1] (IPGuard's matching rate, a watermark's
//! trigger accuracy, ...). Stolen models ("positives") should score high and independently trained
//! models ("negatives") low. This crate answers three questions about such scores:
//!
//! - How well does a method separate positives from negatives over all thresholds? IPGuard's
//!   robustness, uniqueness and ARUC (Cao, Jia, Gong, AsiaCCS '21, seed 002), plus ROC AUC and the
//!   TPR at a fixed FPR ([`metrics`], [`summary`]).
//! - Which threshold should a verdict use, and what false-positive rate does it promise
//!   ([`threshold`])?
//! - How unlikely is the observed score for an innocent model ([`pvalue`])?
//! - Is this suspect stolen? [`decide`] applies one rule to every method's measurement.
//!
//! A [`Verdict`] then records the score, the threshold and how it was chosen, and the p-value with
//! the null hypothesis it tests, so that a claim of theft can be checked by someone else.

pub mod decision;
pub mod family;
pub mod fitted;
pub mod metrics;
pub mod pvalue;
mod resample;
pub mod summary;
pub mod threshold;
pub mod verdict;

pub use decision::{
    DEFAULT_ALPHA, DEFAULT_TARGET_FPR, Direction, Measurement, MethodTraits, NegativeScore, Policy, Resampling, decide,
};
pub use fitted::BetaBinomialNull;
pub use metrics::{OperatingPoint, RuPoint, aruc, robustness, roc_auc, ru_curve, tpr_at_fpr, uniqueness};
pub use pvalue::{
    TTest, binomial_lower_tail, binomial_upper_tail, fpr_upper_bound, paired_t_test_greater, welch_t_test_greater,
    welch_t_test_two_sided,
};
pub use resample::{RepeatedTest, welch_repeated};
pub use summary::{MethodSummary, summarize, summary_table};
pub use threshold::{Threshold, ThresholdSource, calibrate, from_chance, given};
pub use verdict::{Decision, NegativeRecord, NegativesSummary, PValue, Verdict, format_p};

/// Why a statistic could not be computed. Every public function validates its input and returns
/// one of these instead of panicking or silently producing NaN.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A sample that must not be empty was empty; the payload names it (e.g. "negatives").
    #[error("no {0} given: the statistic needs at least one value")]
    Empty(&'static str),
    /// A score was NaN or infinite; the payload names the sample, the index and the value.
    #[error("non-finite score: {0}")]
    NonFinite(String),
    /// A parameter was out of its domain (an FPR outside (0, 1), a probability outside [0, 1], ...).
    #[error("bad parameter: {0}")]
    BadParameter(String),
}

/// Rejects an empty sample or one with a NaN/infinite value, naming the offending entry.
pub(crate) fn check_scores(name: &'static str, scores: &[f64]) -> Result<(), EvalError> {
    if scores.is_empty() {
        return Err(EvalError::Empty(name));
    }
    match scores.iter().position(|s| !s.is_finite()) {
        Some(i) => Err(EvalError::NonFinite(format!("{name}[{i}] = {}", scores[i]))),
        None => Ok(()),
    }
}

/// The largest number of false positives `a` out of `n` with `a / n <= target`, evaluated with the
/// same f64 division as the reported rates, so that e.g. 0.05 of 100 allows exactly 5 (no drift
/// from `0.05 * 100.0` landing just under or over an integer).
pub(crate) fn allowed_positives(target: f64, n: usize) -> usize {
    let nf = n as f64;
    let mut a = ((target * nf).floor().max(0.0) as usize).min(n);
    while a < n && (a + 1) as f64 / nf <= target {
        a += 1;
    }
    while a > 0 && a as f64 / nf > target {
        a -= 1;
    }
    a
}

/// Rejects a false-positive rate outside the open interval (0, 1).
pub(crate) fn check_fpr(name: &str, fpr: f64) -> Result<(), EvalError> {
    if fpr.is_finite() && fpr > 0.0 && fpr < 1.0 {
        Ok(())
    } else {
        Err(EvalError::BadParameter(format!("{name} must lie in (0, 1), got {fpr}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_positives_has_no_float_drift() {
        assert_eq!(allowed_positives(0.05, 100), 5);
        assert_eq!(allowed_positives(0.29, 100), 29);
        assert_eq!(allowed_positives(0.07, 100), 7);
        assert_eq!(allowed_positives(0.01, 21), 0);
        assert_eq!(allowed_positives(0.5, 3), 1);
        assert_eq!(allowed_positives(0.999, 1), 0);
    }

    #[test]
    fn check_scores_names_the_bad_value() {
        assert_eq!(check_scores("negatives", &[]), Err(EvalError::Empty("negatives")));
        let err = check_scores("positives", &[0.5, f64::NAN]).unwrap_err();
        assert_eq!(err, EvalError::NonFinite("positives[1] = NaN".into()));
        assert!(err.to_string().contains("positives[1] = NaN"));
        assert!(check_scores("x", &[0.0, 1.0]).is_ok());
    }
}
