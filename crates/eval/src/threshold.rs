//! The decision threshold of a verdict, and where it came from.
//!
//! IPGuard (Cao, Jia, Gong, AsiaCCS '21, seed 002) fixes no deployment threshold and
//! compares methods over all thresholds with ARUC. An accusation needs one threshold and a stated
//! false-positive rate, so mown either takes a threshold from the user ([`given`]) or calibrates it
//! on the scores of models known to be independent of the owner's ([`calibrate`]), the way the
//! Watermark-Robustness-Toolbox calibrates on null models. Either way the verdict records which.

use crate::decision::Direction;
use crate::{EvalError, allowed_positives, check_fpr, check_scores};
use serde::{Deserialize, Serialize};

/// How a threshold was chosen.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind")]
pub enum ThresholdSource {
    /// Supplied by the user: no false-positive rate is promised.
    Given,
    /// Calibrated on `negatives` independent models' scores so that at most `target_fpr` of them
    /// score `>= threshold`; `achieved_fpr` is the fraction that actually does.
    Calibrated { negatives: usize, target_fpr: f64, achieved_fpr: f64 },
    /// From a chance null: a model that is not a copy matches each of `probes` probes with
    /// probability `p0` (a random wrong watermark label: 1/(C-1)); the threshold is the smallest
    /// matching rate whose binomial tail is `<= target_fpr`; `bound` is that tail.
    ChanceNull { probes: usize, p0: f64, target_fpr: f64, bound: f64 },
    /// From a beta-binomial null fitted to `negatives` independent models (too few to calibrate
    /// empirically to `target_fpr`, which needs 1/target_fpr of them): the smallest matching rate
    /// whose tail under the fitted null is `<= target_fpr`; `bound` is that tail.
    FittedNull { negatives: usize, probes: usize, target_fpr: f64, bound: f64, mean: f64, overdispersion: f64 },
    /// The bound for one model of a family the negatives lack (`crate::family`), stricter than
    /// the threshold `pooled` that the negatives gave by `pooled_source`.
    NewFamily { pooled: f64, pooled_source: Box<ThresholdSource>, bound: crate::family::FamilyBound },
}

/// A decision threshold: a suspect passes when its score is `>= value` (or `<= value` for
/// methods whose copies score low, such as distances).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Threshold {
    pub value: f64,
    pub source: ThresholdSource,
    #[serde(default, skip_serializing_if = "is_higher")]
    pub direction: Direction,
}

fn is_higher(d: &Direction) -> bool {
    *d == Direction::Higher
}

/// Calibrates a threshold from independent models' scores: the smallest threshold, among the
/// observed negative scores, such that the fraction of negatives scoring `>= threshold` is
/// `<= target_fpr`. Any threshold between that score and the next lower negative score gives the
/// same calibration FPR; taking an observed score keeps the value one that a real independent
/// model reached (the usual empirical-quantile choice, as in ROC curves).
///
/// **Resolution limit.** With n negatives the smallest non-zero FPR that can be measured is 1/n.
/// When `target_fpr < 1/n` (or when ties at the top exceed the budget) no observed score
/// qualifies, and the threshold is set to the next representable double above the highest
/// negative score ([`f64::next_up`]): the smallest threshold that every negative fails, so
/// `achieved_fpr` = 0 *on the calibration set*. That says nothing about the true FPR below 1/n;
/// only more negatives (or a p-value, see [`crate::pvalue`]) can support a smaller rate. It is not
/// capped at 1.0: if an independent model scored 1.0, the threshold exceeds every score in [0, 1]
/// and the method cannot accuse anyone at this FPR, which is the honest outcome.
pub fn calibrate(negatives: &[f64], target_fpr: f64) -> Result<Threshold, EvalError> {
    check_scores("negatives", negatives)?;
    check_fpr("target_fpr", target_fpr)?;
    let n = negatives.len();
    let allowed = allowed_positives(target_fpr, n);
    let mut sorted = negatives.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at_or_above = |t: f64| n - sorted.partition_point(|&s| s < t);
    let mut candidates = sorted.clone();
    candidates.dedup();
    // The count at or above is non-increasing in the threshold: the qualifying scores form a suffix.
    let first = candidates.partition_point(|&t| at_or_above(t) > allowed);
    let value = match candidates.get(first) {
        Some(&t) => t,
        None => sorted[n - 1].next_up(),
    };
    let achieved_fpr = at_or_above(value) as f64 / n as f64;
    Ok(Threshold {
        value,
        source: ThresholdSource::Calibrated { negatives: n, target_fpr, achieved_fpr },
        direction: Direction::Higher,
    })
}

/// A threshold with a false-positive bound from a chance null instead of from negatives: the
/// smallest k/n such that P[Bin(n, p0) >= k] <= `target_fpr`. Only as sound as the null (see
/// `mown_methods::verify`): it assumes probes are independent trials.
pub fn from_chance(probes: usize, p0: f64, target_fpr: f64) -> Result<Threshold, EvalError> {
    check_fpr("target_fpr", target_fpr)?;
    if probes == 0 || !(0.0..=1.0).contains(&p0) {
        return Err(EvalError::BadParameter(format!(
            "chance threshold needs probes >= 1 and p0 in [0, 1], got {probes}, {p0}"
        )));
    }
    for k in 0..=probes {
        let tail = crate::binomial_upper_tail(k, probes, p0)?;
        if tail <= target_fpr {
            let value = k as f64 / probes as f64;
            return Ok(Threshold {
                value,
                source: ThresholdSource::ChanceNull { probes, p0, target_fpr, bound: tail },
                direction: Direction::Higher,
            });
        }
    }
    // Even a perfect match is not rare enough under this null.
    Ok(Threshold {
        value: 1.0f64.next_up(),
        source: ThresholdSource::ChanceNull { probes, p0, target_fpr, bound: 1.0 },
        direction: Direction::Higher,
    })
}

/// A threshold supplied by the user (e.g. from a paper). It must be finite.
pub fn given(value: f64) -> Result<Threshold, EvalError> {
    if !value.is_finite() {
        return Err(EvalError::BadParameter(format!("threshold must be finite, got {value}")));
    }
    Ok(Threshold { value, source: ThresholdSource::Given, direction: Direction::Higher })
}

impl Threshold {
    /// Whether `score` passes (NaN never does).
    pub fn passes(&self, score: f64) -> bool {
        match self.direction {
            Direction::Higher => score >= self.value,
            Direction::Lower => score <= self.value,
        }
    }

    /// The same threshold for scores where lower means "copy".
    pub fn with_direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// The value at 4 decimals, or in full when that would print like a different number (a
    /// threshold placed just above a score).
    pub fn short(&self) -> String {
        if format!("{:.4}", self.value).parse::<f64>() == Ok(self.value) {
            format!("{:.4}", self.value)
        } else {
            format!("{}", self.value)
        }
    }

    /// One line for reports, e.g. "0.5200, calibrated on 21 independent models to FPR <= 0.01
    /// (achieved 0.000)". A threshold placed just beyond the most copy-like negative is written
    /// as such, with the resolution limit, so that "0.5200" is never mistaken for a score that
    /// would pass.
    pub fn describe(&self) -> String {
        match &self.source {
            ThresholdSource::Given => {
                format!("{:.4}, given (not calibrated: no false-positive rate promised)", self.value)
            }
            ThresholdSource::ChanceNull { probes, p0, target_fpr, bound } => format!(
                "{:.4}, the smallest rate a non-copy reaches with probability <= {target_fpr} when it matches each of \
                 {probes} probes by chance ({p0:.4}): P = {bound:.2e}",
                self.value
            ),
            ThresholdSource::FittedNull { negatives, probes, target_fpr, bound, mean, overdispersion } => format!(
                "{:.4}, the smallest rate with tail <= {target_fpr} (P = {bound:.2e}) under a beta-binomial null fitted \
                 to {negatives} independent models over {probes} probes (mean {mean:.4}, intra-model correlation \
                 {overdispersion:.3}); {negatives} models are too few to calibrate to FPR {target_fpr} empirically \
                 (that needs {})",
                self.value,
                (1.0 / target_fpr).ceil()
            ),
            ThresholdSource::NewFamily { pooled, pooled_source, bound } => {
                let pooled = Threshold { value: *pooled, source: (**pooled_source).clone(), direction: self.direction };
                format!(
                    "{:.4}, the bound at FPR {} for a model of a family the {} independent models lack ({} families: \
                     mean of family means {:.4}, between-family sd {:.4}, within-family sd {:.4}, Student t {:.2}); \
                     the pooled models alone gave {}",
                    self.value,
                    bound.target_fpr,
                    bound.negatives,
                    bound.families,
                    self.direction.orient(bound.mean),
                    bound.between_sd,
                    bound.within_sd,
                    bound.t_quantile,
                    pooled.describe()
                )
            }
            ThresholdSource::Calibrated { negatives, target_fpr, achieved_fpr } => {
                let base = format!(
                    "calibrated on {negatives} independent models to FPR <= {target_fpr} (achieved {achieved_fpr:.3})"
                );
                if *achieved_fpr == 0.0 {
                    let (side, edge, which) = match self.direction {
                        Direction::Higher => ("above", self.value.next_down(), "highest"),
                        Direction::Lower => ("below", self.value.next_up(), "lowest"),
                    };
                    format!(
                        "just {side} {edge:.4} (the {which} independent score), {base}; {negatives} models resolve FPR \
                         only down to 1/{negatives} = {:.3}",
                        1.0 / *negatives as f64
                    )
                } else {
                    format!("{:.4}, {base}", self.value)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_threshold_is_the_smallest_rare_rate() {
        // 100 probes, p0 = 1/9: P[X >= k] <= 0.01 first at k = 20 (P[X >= 19] = 0.0136 > 0.01).
        let t = from_chance(100, 1.0 / 9.0, 0.01).unwrap();
        assert_eq!(t.value, 0.20);
        let ThresholdSource::ChanceNull { bound, .. } = t.source else { panic!("wrong source") };
        assert!(bound <= 0.01 && crate::binomial_upper_tail(19, 100, 1.0 / 9.0).unwrap() > 0.01, "{bound}");
        assert!(t.describe().contains("0.2000"));
        // A null under which even a full match is common accuses nobody.
        assert!(from_chance(3, 0.9, 0.01).unwrap().value > 1.0);
        assert!(from_chance(0, 0.1, 0.01).is_err());
    }

    fn uniform_100() -> Vec<f64> {
        (0..100).map(|i| i as f64 / 100.0).collect() // 0.00, 0.01, ..., 0.99
    }

    #[test]
    fn calibrate_five_percent_of_100() {
        let neg = uniform_100();
        let t = calibrate(&neg, 0.05).unwrap();
        // 0.95, 0.96, 0.97, 0.98, 0.99 score >= 0.95; 0.94 would admit a sixth.
        assert_eq!(t.value, 0.95);
        assert_eq!(neg.iter().filter(|&&s| s >= t.value).count(), 5);
        assert_eq!(t.source, ThresholdSource::Calibrated { negatives: 100, target_fpr: 0.05, achieved_fpr: 0.05 });
        assert_eq!(t.describe(), "0.9500, calibrated on 100 independent models to FPR <= 0.05 (achieved 0.050)");
    }

    #[test]
    fn calibrate_below_resolution_goes_above_max() {
        let neg = uniform_100();
        let t = calibrate(&neg, 0.001).unwrap();
        assert!(t.value > 0.99 && t.value == 0.99f64.next_up());
        assert_eq!(neg.iter().filter(|&&s| s >= t.value).count(), 0);
        assert_eq!(t.source, ThresholdSource::Calibrated { negatives: 100, target_fpr: 0.001, achieved_fpr: 0.0 });
        let d = t.describe();
        assert!(d.starts_with("just above 0.9900") && d.contains("1/100 = 0.010"), "{d}");
    }

    #[test]
    fn calibrate_with_ties_at_the_top() {
        // Three negatives tie at 0.9 and one false positive is allowed (1/4 <= 0.3 < 2/4): the
        // threshold cannot sit at 0.9 (3/4 would pass), nor lower, so it goes just above 0.9.
        let t = calibrate(&[0.9, 0.9, 0.9, 0.2], 0.3).unwrap();
        assert_eq!(t.value, 0.9f64.next_up());
        // Ties below the threshold are harmless: 2 of 5 at >= 0.5 is within 0.4.
        let t = calibrate(&[0.5, 0.5, 0.3, 0.3, 0.1], 0.4).unwrap();
        assert_eq!(
            (t.value, t.source.clone()),
            (0.5, ThresholdSource::Calibrated { negatives: 5, target_fpr: 0.4, achieved_fpr: 0.4 })
        );
    }

    #[test]
    fn calibrate_validates() {
        assert_eq!(calibrate(&[], 0.05), Err(EvalError::Empty("negatives")));
        assert!(matches!(calibrate(&[0.1], 0.0), Err(EvalError::BadParameter(_))));
        assert!(matches!(calibrate(&[0.1], 1.5), Err(EvalError::BadParameter(_))));
        assert!(
            matches!(calibrate(&[0.1, f64::NEG_INFINITY], 0.1), Err(EvalError::NonFinite(s)) if s.contains("-inf"))
        );
    }

    #[test]
    fn given_and_serde() {
        let t = given(0.5).unwrap();
        assert_eq!(t.describe(), "0.5000, given (not calibrated: no false-positive rate promised)");
        assert!(matches!(given(f64::NAN), Err(EvalError::BadParameter(_))));
        let json = serde_json::to_string(&calibrate(&uniform_100(), 0.05).unwrap()).unwrap();
        assert!(json.contains(r#""kind":"Calibrated""#), "{json}");
        let back: Threshold = serde_json::from_str(&json).unwrap();
        assert_eq!(back.value, 0.95);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"value":0.5,"source":{"kind":"Given"}}"#);
        assert!(t.passes(0.5) && !t.passes(0.49) && !t.passes(f64::NAN));
        let low = given(0.2).unwrap().with_direction(Direction::Lower);
        assert!(low.passes(0.2) && low.passes(0.1) && !low.passes(0.3));
        let back: Threshold = serde_json::from_str(&serde_json::to_string(&low).unwrap()).unwrap();
        assert_eq!(back, low);
    }
}
