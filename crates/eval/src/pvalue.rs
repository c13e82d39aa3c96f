//! p-values: how unlikely an observed score is for a model that was *not* stolen.
//!
//! A calibrated threshold (see [`crate::threshold`]) can promise no FPR below 1/n with n
//! independent models. A test against an explicit null model can: if an innocent model agrees with
//! the owner's label on each of n queries independently with probability p0, the chance that it
//! agrees on k or more is a binomial tail. SAP's ml-model-watermarking verifies trigger sets this
//! way (p0 = chance level). For seeds 000 (near-boundary data) and 001 (external features), which
//! compare a suspect's per-sample statistic with an independent model's, the papers use a
//! one-sided two-sample t-test (Dataset Inference style); we provide Welch's version, which does
//! not assume equal variances.

use crate::{EvalError, check_scores};
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, Binomial, ContinuousCDF, DiscreteCDF, StudentsT};

fn binomial(k: usize, n: usize, p0: f64) -> Result<Binomial, EvalError> {
    if k > n {
        return Err(EvalError::BadParameter(format!("k = {k} successes out of n = {n} trials")));
    }
    if !(p0.is_finite() && (0.0..=1.0).contains(&p0)) {
        return Err(EvalError::BadParameter(format!("p0 must lie in [0, 1], got {p0}")));
    }
    Binomial::new(p0, n as u64).map_err(|e| EvalError::BadParameter(format!("binomial(n = {n}, p0 = {p0}): {e}")))
}

/// Rejects a NaN coming out of the special functions instead of passing it on as a p-value.
fn checked_probability(p: f64, what: &str) -> Result<f64, EvalError> {
    if p.is_nan() {
        Err(EvalError::BadParameter(format!("{what} is not computable (NaN)")))
    } else {
        Ok(p.clamp(0.0, 1.0))
    }
}

/// One-sided binomial test: `P[X >= k]` for `X ~ Binomial(n, p0)`.
///
/// Used for "an independent model matches the owner's label on each fingerprint point with
/// probability p0" (p0 = its measured agreement rate, or 1/C for C classes) and for watermarks
/// (p0 = 1/(C-1): a trigger's target label differs from the true one). The independence of the
/// points is an assumption of the null, not a fact, and should be stated with the p-value.
///
/// Exact: `P[X >= k] = I_{p0}(k, n - k + 1)`, the regularized incomplete beta function (statrs
/// `Binomial::sf(k - 1)`), which is evaluated through its continued fraction with the prefactor in
/// log space, so it stays accurate in the far tail (e.g. 95 of 100 at p0 = 0.5 gives 6.3e-23) and
/// for n up to 1e5; a tail below ~1e-308 underflows to 0. `k = 0` gives 1. Errors for `k > n` or
/// `p0` outside [0, 1].
pub fn binomial_upper_tail(k: usize, n: usize, p0: f64) -> Result<f64, EvalError> {
    let dist = binomial(k, n, p0)?;
    if k == 0 {
        return Ok(1.0);
    }
    checked_probability(dist.sf(k as u64 - 1), "binomial upper tail")
}

/// `P[X <= k]` for `X ~ Binomial(n, p0)`: the p-value when a *low* agreement is the evidence
/// (e.g. an independent model's agreement checked against a lower bound). Same method and domain
/// as [`binomial_upper_tail`]; `k = n` gives 1.
pub fn binomial_lower_tail(k: usize, n: usize, p0: f64) -> Result<f64, EvalError> {
    let dist = binomial(k, n, p0)?;
    checked_probability(dist.cdf(k as u64), "binomial lower tail")
}

/// One-sided upper confidence bound on a false-positive rate from `false_positives` of
/// `negatives` (Clopper-Pearson): the largest rate under which seeing so few is still at least
/// `1 - confidence` likely. 0 of 20 at 95% gives 0.139, not "0": an FPR claim on n test negatives
/// reports this beside the count.
pub fn fpr_upper_bound(false_positives: usize, negatives: usize, confidence: f64) -> Result<f64, EvalError> {
    if negatives == 0 || false_positives > negatives {
        return Err(EvalError::BadParameter(format!("{false_positives} false positives of {negatives} negatives")));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(EvalError::BadParameter(format!("confidence must lie in (0, 1), got {confidence}")));
    }
    if false_positives == negatives {
        return Ok(1.0);
    }
    if false_positives == 0 {
        return Ok(1.0 - (1.0 - confidence).powf(1.0 / negatives as f64));
    }
    let beta = Beta::new((false_positives + 1) as f64, (negatives - false_positives) as f64)
        .map_err(|e| EvalError::BadParameter(format!("Clopper-Pearson bound: {e}")))?;
    checked_probability(beta.inverse_cdf(confidence), "Clopper-Pearson bound")
}

/// Result of a two-sample t-test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TTest {
    /// Welch's t statistic, (mean(a) - mean(b)) / sqrt(var(a)/n_a + var(b)/n_b).
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom (not an integer in general).
    pub df: f64,
    /// One-sided p-value for H1: mean(a) > mean(b).
    pub p: f64,
    /// mean(a) - mean(b), the "delta mu" that seeds 000/001 report beside p.
    pub mean_diff: f64,
}

/// Welch's one-sided two-sample t-test of H0: mean(a) <= mean(b) against H1: mean(a) > mean(b),
/// with sample variances (n - 1 denominators). Each sample needs at least two finite values, and
/// at least one sample must vary (otherwise t is undefined).
pub fn welch_t_test_greater(a: &[f64], b: &[f64]) -> Result<TTest, EvalError> {
    check_scores("first sample", a)?;
    check_scores("second sample", b)?;
    if a.len() < 2 || b.len() < 2 {
        return Err(EvalError::BadParameter(format!(
            "Welch's t-test needs at least 2 values per sample, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let (sa, sb) = (va / a.len() as f64, vb / b.len() as f64);
    let se2 = sa + sb;
    if se2 <= 0.0 || !se2.is_finite() {
        return Err(EvalError::BadParameter("both samples are constant: the t statistic is undefined".into()));
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / (sa * sa / (a.len() - 1) as f64 + sb * sb / (b.len() - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df)
        .map_err(|e| EvalError::BadParameter(format!("Student's t with df = {df}: {e}")))?;
    let p = checked_probability(dist.sf(t), "Welch p-value")?;
    Ok(TTest { t, df, p, mean_diff: ma - mb })
}

/// The paired one-sided t-test of H0: mean(a - b) <= 0 against H1: mean(a - b) > 0 (seed 001,
/// Definition 2: the suspect's and the benign model's scores on the same images). `df` is
/// n - 1 and `mean_diff` the mean difference. Differences that are all equal leave t undefined:
/// an error, for the caller to count as a degenerate draw.
pub fn paired_t_test_greater(a: &[f64], b: &[f64]) -> Result<TTest, EvalError> {
    check_scores("first sample", a)?;
    check_scores("second sample", b)?;
    if a.len() != b.len() || a.len() < 2 {
        return Err(EvalError::BadParameter(format!(
            "a paired t-test needs two samples of one length >= 2, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (md, vd) = mean_var(&d);
    let se2 = vd / d.len() as f64;
    if se2 <= 0.0 || !se2.is_finite() {
        return Err(EvalError::BadParameter(
            "the paired differences are constant: the t statistic is undefined".into(),
        ));
    }
    let t = md / se2.sqrt();
    let df = (d.len() - 1) as f64;
    let dist = StudentsT::new(0.0, 1.0, df)
        .map_err(|e| EvalError::BadParameter(format!("Student's t with df = {df}: {e}")))?;
    Ok(TTest { t, df, p: checked_probability(dist.sf(t), "paired p-value")?, mean_diff: md })
}

/// Welch's two-sided test (H1: mean(a) != mean(b)), as the official code of seed 001 runs it
/// (`scipy.stats.ttest_ind(equal_var=False)`): the one-sided test's t and df, p doubled from the
/// nearer tail.
pub fn welch_t_test_two_sided(a: &[f64], b: &[f64]) -> Result<TTest, EvalError> {
    let one = welch_t_test_greater(a, b)?;
    let p = (2.0 * one.p.min(1.0 - one.p)).clamp(0.0, 1.0);
    Ok(TTest { p, ..one })
}

/// Mean and unbiased sample variance, two-pass for accuracy.
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_and_two_sided_tests_against_hand_worked_values() {
        // Two pairs: differences 3 and 1, mean 2, sd sqrt(2), t = 2 / (sqrt(2) / sqrt(2)) = 2 on
        // 1 df (Cauchy): p = 1/2 - atan(2) / pi = 0.147583617650433.
        let t = paired_t_test_greater(&[4.0, 2.0], &[1.0, 1.0]).unwrap();
        close(t.t, 2.0, 1e-12);
        close(t.p, 0.5 - 2f64.atan() / std::f64::consts::PI, 1e-9);
        assert_eq!(t.mean_diff, 2.0);
        // Pairing matters: the same values unpaired (Welch) are far less significant here.
        let a = [10.0, 20.0, 30.0, 40.0];
        let b = [9.0, 19.5, 29.0, 39.5];
        assert!(paired_t_test_greater(&a, &b).unwrap().p < 0.01);
        assert!(welch_t_test_greater(&a, &b).unwrap().p > 0.4);
        // Two-sided = twice the nearer tail, whichever side the difference lies on.
        let one = welch_t_test_greater(&b, &a).unwrap();
        let two = welch_t_test_two_sided(&b, &a).unwrap();
        close(two.p, 2.0 * (1.0 - one.p), 1e-12);
        close(welch_t_test_two_sided(&a, &b).unwrap().p, two.p, 1e-12);
        // Constant differences and mismatched lengths are errors, not NaN.
        assert!(paired_t_test_greater(&[2.0, 3.0], &[1.0, 2.0]).is_err());
        assert!(paired_t_test_greater(&[2.0, 3.0, 4.0], &[1.0, 2.0]).is_err());
    }

    fn close(got: f64, want: f64, rel: f64) {
        assert!((got - want).abs() <= rel * want.abs(), "got {got:e}, want {want:e}");
    }

    // References: exact rational sums with python3 `fractions.Fraction` and `math.comb`
    // (sum_{i>=k} comb(n, i) p^i (1-p)^(n-i)), or mpmath at 50 digits for n = 1e5.
    #[test]
    fn binomial_upper_tail_reference_values() {
        close(binomial_upper_tail(20, 100, 0.1).unwrap(), 0.001978560865771231, 1e-10);
        close(binomial_upper_tail(10, 1000, 0.01).unwrap(), 0.5426994078251092, 1e-10);
        close(binomial_upper_tail(10500, 100_000, 0.1).unwrap(), 8.547280614234987e-8, 1e-8);
        close(binomial_upper_tail(12000, 100_000, 0.1).unwrap(), 1.0262376445908893e-93, 1e-8);
    }

    #[test]
    fn binomial_upper_tail_edges() {
        assert_eq!(binomial_upper_tail(0, 100, 0.3).unwrap(), 1.0);
        assert_eq!(binomial_upper_tail(0, 0, 0.3).unwrap(), 1.0);
        close(binomial_upper_tail(100, 100, 0.5).unwrap(), 0.5f64.powi(100), 1e-12);
        close(binomial_upper_tail(30, 30, 0.5).unwrap(), 0.5f64.powi(30), 1e-12);
        assert_eq!(binomial_upper_tail(1, 10, 0.0).unwrap(), 0.0);
        assert_eq!(binomial_upper_tail(10, 10, 1.0).unwrap(), 1.0);
    }

    #[test]
    fn binomial_far_tail_does_not_underflow_wrongly() {
        // 95 of 100 at p0 = 0.5: exact value 6.26162256269268e-23 (python Fraction).
        let p = binomial_upper_tail(95, 100, 0.5).unwrap();
        close(p, 6.26162256269268e-23, 1e-9);
        // True value ~1e-1000: below f64 range, so 0 (never NaN or a spurious positive).
        let p = binomial_upper_tail(1000, 1000, 0.1).unwrap();
        assert!(p == 0.0, "{p:e}");
        let p = binomial_upper_tail(600, 1000, 0.1).unwrap();
        assert!(p.is_finite() && p < 1e-300, "{p:e}");
    }

    #[test]
    fn binomial_lower_tail_reference_and_complement() {
        close(binomial_lower_tail(5, 100, 0.1).unwrap(), 0.05757688648703381, 1e-10);
        assert_eq!(binomial_lower_tail(100, 100, 0.3).unwrap(), 1.0);
        for k in [1usize, 7, 20, 55] {
            let total = binomial_lower_tail(k - 1, 100, 0.2).unwrap() + binomial_upper_tail(k, 100, 0.2).unwrap();
            assert!((total - 1.0).abs() < 1e-12, "k = {k}: {total}");
        }
    }

    #[test]
    fn binomial_validates() {
        assert!(matches!(binomial_upper_tail(5, 100, 1.5), Err(EvalError::BadParameter(_))));
        assert!(matches!(binomial_upper_tail(5, 100, f64::NAN), Err(EvalError::BadParameter(_))));
        assert!(matches!(binomial_lower_tail(5, 100, -0.1), Err(EvalError::BadParameter(_))));
        assert!(matches!(binomial_upper_tail(101, 100, 0.5), Err(EvalError::BadParameter(_))));
    }

    #[test]
    fn welch_matches_reference() {
        // Reference (python3, statistics + mpmath at 50 digits; p checked both as
        // 0.5 * I_{df/(df+t^2)}(df/2, 1/2) and by numerically integrating the t density):
        // t = 2.7708483808692459, df = 8.7628485498057519, p = 0.011132894213948663.
        let a = [0.91, 0.88, 0.95, 0.90, 0.93, 0.87];
        let b = [0.85, 0.89, 0.84, 0.86, 0.88];
        let r = welch_t_test_greater(&a, &b).unwrap();
        close(r.t, 2.770848380869246, 1e-12);
        close(r.df, 8.762848549805752, 1e-12);
        close(r.p, 0.011132894213948663, 1e-9);
        close(r.mean_diff, 5.44 / 6.0 - 4.32 / 5.0, 1e-9); // 0.90667 - 0.864
        // Swapping the samples tests the opposite direction: p -> 1 - p.
        let s = welch_t_test_greater(&b, &a).unwrap();
        close(s.p, 1.0 - 0.011132894213948663, 1e-9);
        assert_eq!(s.t, -r.t);
    }

    #[test]
    fn fpr_upper_bound_reference_values() {
        // 0 of n: 1 - 0.05^(1/n); 1 of 20: scipy.stats.beta.ppf(0.95, 2, 19) = 0.21611.
        close(fpr_upper_bound(0, 20, 0.95).unwrap(), 1.0 - 0.05f64.powf(1.0 / 20.0), 1e-12);
        close(fpr_upper_bound(1, 20, 0.95).unwrap(), 0.216_106_8, 1e-4);
        assert_eq!(fpr_upper_bound(5, 5, 0.95).unwrap(), 1.0);
        assert!(fpr_upper_bound(1, 0, 0.95).is_err() && fpr_upper_bound(0, 5, 1.0).is_err());
    }

    #[test]
    fn welch_validates() {
        assert_eq!(welch_t_test_greater(&[], &[1.0, 2.0]), Err(EvalError::Empty("first sample")));
        assert!(matches!(welch_t_test_greater(&[1.0], &[1.0, 2.0]), Err(EvalError::BadParameter(_))));
        assert!(matches!(welch_t_test_greater(&[1.0, 1.0], &[2.0, 2.0]), Err(EvalError::BadParameter(_))));
        assert!(matches!(welch_t_test_greater(&[1.0, f64::NAN], &[2.0, 3.0]), Err(EvalError::NonFinite(_))));
        // One constant sample is fine.
        assert!(welch_t_test_greater(&[1.0, 1.0], &[0.0, 0.5]).is_ok());
    }
}
