//! The one decision rule behind every mown verdict: a method's measurement of the suspect, the
//! same measurement of independent models (the negatives), and a [`Policy`] (alpha, target FPR)
//! go in; a [`Verdict`] with its rule, threshold, p-value, null and warnings comes out.
//!
//! Two kinds of measurement cover the five seeds:
//! - **Counts**: k of n probes reproduce the owner's answer (IPGuard's matching rate, a
//!   watermark's trigger accuracy). The threshold is calibrated on the negatives' rates (or on a
//!   null fitted to them, or on the method's chance rate), and the p-value is a binomial /
//!   beta-binomial tail.
//! - **Samples**: one statistic per probe or per fingerprint (UAP's encoder similarities, seed
//!   000's boundary distances, seed 001's meta-classifier outputs). The p-value is a one-sided
//!   Welch two-sample t-test of the suspect's samples against the negatives' pooled samples
//!   (seed 003 §3.4; seed 000 and 001 test the same way), optionally repeated over random draws.
//!
//! STOLEN needs both: the score reaches the threshold **and** p < alpha. A suspect that meets
//! neither is NOT STOLEN; one that meets only one, or that cannot be judged (too few negatives to
//! calibrate anything, no null), is INCONCLUSIVE, with the reason stated.

use serde::{Deserialize, Serialize};

use crate::fitted::{BetaBinomialNull, MIN_NEGATIVES};
use crate::threshold::{Threshold, ThresholdSource, calibrate, from_chance, given};
use crate::verdict::{Decision, NegativeRecord, NegativesSummary, PValue, Verdict};
use crate::{EvalError, binomial_upper_tail, check_fpr};

/// Significance level of every method unless told otherwise (seeds 000, 001 and 003 use 0.05).
pub const DEFAULT_ALPHA: f64 = 0.05;
/// False-positive rate the threshold is calibrated to by default.
pub const DEFAULT_TARGET_FPR: f64 = 0.01;
/// The fewest architecture families the negatives should span (issue #25's definition of
/// "independent models"): fewer, and a warning says that another family may score higher.
pub const MIN_FAMILIES: usize = 3;
/// Negatives matching above this rate mean the evidence cannot tell copies from anything.
pub const NON_DISCRIMINATING: f64 = 0.9;

/// What a method measured on one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Measurement {
    /// `matches` of `n` probes gave the owner's answer.
    Counts { matches: usize, n: usize },
    /// One value per sample (similarity, distance, ...).
    Samples { values: Vec<f64> },
}

impl Measurement {
    /// The score a verdict prints: the matching rate, or the mean of the samples.
    pub fn score(&self) -> f64 {
        match self {
            Measurement::Counts { matches, n } => *matches as f64 / (*n).max(1) as f64,
            Measurement::Samples { values } => values.iter().sum::<f64>() / values.len().max(1) as f64,
        }
    }
}

/// Which way a copy's score goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Copies score higher (matching rates, similarities).
    #[default]
    Higher,
    /// Copies score lower (distances).
    Lower,
}

impl Direction {
    /// The score turned so that higher always means "more like a copy".
    pub fn orient(self, x: f64) -> f64 {
        match self {
            Direction::Higher => x,
            Direction::Lower => -x,
        }
    }
}

/// One independent model's measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NegativeScore {
    pub name: String,
    /// Architecture family ("mlp", "lenet5", "arc-a", "sklearn-forest", ...), when known.
    pub family: Option<String>,
    pub measurement: Measurement,
}

/// Repeated random draws for a samples test (seed 003: 20 fingerprints, 30 repetitions).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resampling {
    /// How many draws.
    pub draws: usize,
    /// Samples drawn from the suspect and from the negatives' pool in each draw.
    pub size: usize,
    pub seed: u64,
}

/// How a verdict is decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Significance level: STOLEN needs p < alpha.
    pub alpha: f64,
    /// False-positive rate the threshold is calibrated to.
    pub target_fpr: f64,
    /// A threshold given by the user instead of a calibrated one (promises no FPR).
    pub threshold: Option<f64>,
    /// The fewest negatives a null may be fitted to (counts) or tested against (samples).
    pub min_negatives: usize,
    /// Samples only: repeated draws instead of one test on all samples.
    pub resampling: Option<Resampling>,
    /// Raise a threshold not given by the user to the bound for a model of a family the negatives
    /// lack, and refuse STOLEN on negatives of one family
    /// (`crate::family`); off only for experiments that study the pooled calibration itself.
    #[serde(default = "yes")]
    pub family_bound: bool,
}

fn yes() -> bool {
    true
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            alpha: DEFAULT_ALPHA,
            target_fpr: DEFAULT_TARGET_FPR,
            threshold: None,
            min_negatives: MIN_NEGATIVES,
            resampling: None,
            family_bound: true,
        }
    }
}

/// What the decision needs to know about the method besides the measurements.
#[derive(Clone, Debug, Default)]
pub struct MethodTraits {
    /// The method's name for the verdict.
    pub method: String,
    pub direction: Direction,
    /// The per-probe rate a non-copy reaches by chance, when the method defines one (counts).
    pub chance_rate: Option<f64>,
    /// The one architecture the method can measure (seed 001's white-box meta-classifier): the
    /// suspect and every negative share it, so no family bound applies and one family is no
    /// warning.
    pub architecture: Option<String>,
}

/// Decides one suspect. `queries` (images sent to the suspect) and `details` are passed through.
pub fn decide(
    traits: &MethodTraits,
    suspect_name: &str,
    suspect: &Measurement,
    negatives: &[NegativeScore],
    policy: &Policy,
    queries: usize,
    details: serde_json::Value,
) -> Result<Verdict, EvalError> {
    check_fpr("target_fpr", policy.target_fpr)?;
    if !(policy.alpha > 0.0 && policy.alpha < 1.0) {
        return Err(EvalError::BadParameter(format!("alpha must lie in (0, 1), got {}", policy.alpha)));
    }
    let summary = summarize_negatives(negatives);
    let mut verdict =
        Verdict::undecided(traits, suspect_name, suspect.score(), policy.alpha, summary, queries, details);
    let outcome = match suspect {
        Measurement::Counts { matches, n } => counts(traits, *matches, *n, negatives, policy)?,
        Measurement::Samples { values } => samples(traits.direction, values, negatives, policy)?,
    };
    verdict.rule = outcome.rule;
    let family_bound = policy.family_bound && traits.architecture.is_none();
    if let Some(arch) = &traits.architecture {
        verdict.rule.push_str(&format!(
            " (a white-box method: suspect and independent models are all {arch} models, the owner's architecture, so \
             no bound for other architecture families applies)"
        ));
    }
    // The negatives' scores turned so that higher is more copy-like, with their families.
    let oriented: Vec<(Option<&str>, f64)> =
        negatives.iter().map(|n| (n.family.as_deref(), traits.direction.orient(n.measurement.score()))).collect();
    verdict.threshold = match outcome.threshold {
        Some(t) if policy.threshold.is_none() && family_bound => {
            Some(widen_for_new_families(t, traits.direction, &oriented, policy.target_fpr)?)
        }
        other => other,
    };
    // Say when the bound, not the pooled negatives, is what keeps a significant suspect from STOLEN.
    if let Some(t @ Threshold { source: ThresholdSource::NewFamily { pooled, .. }, .. }) = &verdict.threshold
        && outcome.p.as_ref().is_some_and(|p| p.p < policy.alpha)
        && (Threshold { value: *pooled, ..t.clone() }).passes(verdict.score)
        && !t.passes(verdict.score)
    {
        verdict.reasons.push(format!(
            "the score passes the pooled negatives' threshold {pooled:.4} but not the bound {} for a model of a family \
             they lack: add negatives of more families",
            t.short()
        ));
    }
    // One family bounds nothing about another: a claimant cannot skip the bound by choosing
    // negatives of a single family.
    let groups = crate::family::family_groups(&oriented);
    if family_bound
        && policy.threshold.is_none()
        && groups.len() == 1
        && outcome.p.as_ref().is_some_and(|p| p.p < policy.alpha)
        && verdict.threshold.as_ref().is_some_and(|t| t.passes(verdict.score))
    {
        verdict.reasons.push(format!(
            "the independent models are all of one family ({}): nothing bounds what a model of another family \
             reaches; add negatives of other families",
            groups[0].0
        ));
    }
    verdict.p_value = outcome.p.as_ref().map(|p| p.p);
    verdict.p_value_null = outcome.p.as_ref().map(|p| p.null.clone());
    verdict.other_p_values = outcome.others;
    verdict.effect_size = outcome.effect;
    verdict.reasons.extend(outcome.reasons);
    verdict.warnings.extend(negative_warnings(negatives, &verdict.negatives, policy, traits.architecture.is_some()));
    verdict.decide();
    Ok(verdict)
}

/// `threshold`, or the bound for a model of an unseen family when that is stricter
/// (`crate::family`).
fn widen_for_new_families(
    threshold: Threshold,
    direction: Direction,
    oriented: &[(Option<&str>, f64)],
    target_fpr: f64,
) -> Result<Threshold, EvalError> {
    match crate::family::new_family_bound(oriented, target_fpr)? {
        Some(bound) if bound.value > direction.orient(threshold.value) => Ok(Threshold {
            value: direction.orient(bound.value),
            source: ThresholdSource::NewFamily {
                pooled: threshold.value,
                pooled_source: Box::new(threshold.source),
                bound,
            },
            direction,
        }),
        _ => Ok(threshold),
    }
}

/// What the rule-specific halves hand back.
struct Outcome {
    rule: String,
    threshold: Option<Threshold>,
    p: Option<PValue>,
    others: Vec<PValue>,
    effect: Option<serde_json::Value>,
    reasons: Vec<String>,
}

fn summarize_negatives(negatives: &[NegativeScore]) -> NegativesSummary {
    let mut families: Vec<String> = negatives.iter().filter_map(|n| n.family.clone()).collect();
    families.sort();
    families.dedup();
    let models = negatives
        .iter()
        .map(|n| NegativeRecord { name: n.name.clone(), family: n.family.clone(), score: n.measurement.score() })
        .collect();
    NegativesSummary::new(families, models)
}

fn negative_warnings(
    negatives: &[NegativeScore],
    summary: &NegativesSummary,
    policy: &Policy,
    one_architecture: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let m = negatives.len();
    if m == 0 {
        return out;
    }
    if m < policy.min_negatives {
        out.push(format!(
            "only {m} independent model(s): a dispute needs at least {} of at least {MIN_FAMILIES} architecture \
             families (`mown negatives` trains a set)",
            policy.min_negatives
        ));
    }
    let known = negatives.iter().filter(|n| n.family.is_some()).count();
    if known == m && summary.families.len() < MIN_FAMILIES && !one_architecture {
        out.push(format!(
            "the independent models span {} architecture famil{} ({}); models of another family may score higher \
             (use >= {MIN_FAMILIES} families)",
            summary.families.len(),
            if summary.families.len() == 1 { "y" } else { "ies" },
            summary.families.join(", ")
        ));
    }
    let all_counts = negatives.iter().all(|n| matches!(n.measurement, Measurement::Counts { .. }));
    if all_counts && summary.highest.is_some_and(|h| h > NON_DISCRIMINATING) {
        out.push(format!(
            "an independent model matches {:.2} of the probes (above {NON_DISCRIMINATING}): this evidence cannot tell \
             copies from independent models",
            summary.highest.unwrap_or(0.0)
        ));
    }
    out
}

/// The counts rule: see the module comment and `mown_methods::verify`.
fn counts(
    traits: &MethodTraits,
    k: usize,
    n: usize,
    negatives: &[NegativeScore],
    policy: &Policy,
) -> Result<Outcome, EvalError> {
    if n == 0 || k > n {
        return Err(EvalError::BadParameter(format!("{k} matches of {n} probes")));
    }
    if traits.direction != Direction::Higher {
        return Err(EvalError::BadParameter("a count of matching answers cannot be evidence when low".into()));
    }
    let mut hits = Vec::with_capacity(negatives.len());
    for neg in negatives {
        match neg.measurement {
            Measurement::Counts { matches, n: m } if m == n && matches <= n => hits.push(matches),
            Measurement::Counts { matches, n: m } => {
                return Err(EvalError::BadParameter(format!(
                    "independent model {} answered {matches} of {m} probes; the suspect was asked {n}",
                    neg.name
                )));
            }
            Measurement::Samples { .. } => {
                return Err(EvalError::BadParameter(format!("independent model {} has samples, not counts", neg.name)));
            }
        }
    }
    let m = hits.len();
    let nf = n as f64;
    let mut reasons = Vec::new();
    // The binomial null: each probe matched with p0 = the method's chance rate or the highest
    // negative's rate smoothed by half a hit ((k_max + 0.5) / (n + 1)), whichever is larger, so
    // that negatives at zero matches never give a null under which one match is impossible.
    let highest = hits.iter().max().copied();
    let smoothed = highest.map(|h| (h as f64 + 0.5) / (nf + 1.0));
    let binomial = match (traits.chance_rate, smoothed) {
        (None, None) => None,
        (Some(c), None) => {
            Some((c, format!("a model that is not a copy gives the expected answer by chance ({c:.4})")))
        }
        (Some(c), Some(s)) if c >= s => {
            Some((c, format!("chance ({c:.4}), above the highest rate among the {m} independent models")))
        }
        (_, Some(s)) => Some((
            s,
            format!(
                "the highest rate among the {m} independent models ({} of {n}), smoothed by half a match \
                 ((k + 0.5) / (n + 1) = {s:.4})",
                highest.unwrap_or(0)
            ),
        )),
    };
    let mut pvals = Vec::new();
    if let Some((p0, why)) = &binomial {
        let p = binomial_upper_tail(k, n, p0.clamp(0.0, 1.0))?;
        pvals.push(PValue {
            p,
            null: format!("each of the {n} probes matches independently with probability {p0:.4}: {why}"),
        });
    }
    let fitted = if m >= policy.min_negatives.max(MIN_NEGATIVES) {
        let null = BetaBinomialNull::fit(&hits, n)?;
        pvals.push(PValue { p: null.upper_tail(k, n)?, null: null.describe() });
        Some(null)
    } else {
        None
    };
    // Decide on the larger p-value: STOLEN has to be rare under both nulls.
    pvals.sort_by(|a, b| b.p.total_cmp(&a.p));
    let mut pvals = pvals.into_iter();
    let decisive = pvals.next();
    let others: Vec<PValue> = pvals.collect();
    if decisive.is_none() {
        reasons.push(format!(
            "no null to test against: {m} independent model(s), and a fitted null needs {}; the method defines no chance \
             rate",
            policy.min_negatives.max(MIN_NEGATIVES)
        ));
    }
    let rates: Vec<f64> = hits.iter().map(|&h| h as f64 / nf).collect();
    let threshold = match policy.threshold {
        Some(t) => Some(given(t)?),
        None if m > 0 && 1.0 / m as f64 <= policy.target_fpr => Some(calibrate(&rates, policy.target_fpr)?),
        None => match (&fitted, &binomial) {
            (Some(null), _) => Some(fitted_threshold(null, n, policy.target_fpr)?),
            (None, Some((p0, _))) if traits.chance_rate.is_some() => Some(from_chance(n, *p0, policy.target_fpr)?),
            _ => {
                reasons.push(format!(
                    "no threshold: {m} independent model(s) can neither calibrate one to FPR {} (that needs {}) nor \
                     fit a null (that needs {})",
                    policy.target_fpr,
                    (1.0 / policy.target_fpr).ceil(),
                    policy.min_negatives.max(MIN_NEGATIVES)
                ));
                None
            }
        },
    };
    if threshold.as_ref().is_some_and(|t| t.value > 1.0) {
        reasons.push("no matching rate can pass the threshold: the independent models reach the top".into());
    }
    let rule = "counts: STOLEN when the matching rate reaches the threshold and the one-sided p-value (the larger of \
                the binomial and the fitted beta-binomial tail) is below alpha"
        .to_string();
    Ok(Outcome { rule, threshold, p: decisive, others, effect: None, reasons })
}

/// The smallest rate k/n whose tail under the fitted null is at most `target_fpr`.
fn fitted_threshold(null: &BetaBinomialNull, n: usize, target_fpr: f64) -> Result<Threshold, EvalError> {
    let source = |bound| ThresholdSource::FittedNull {
        negatives: null.models,
        probes: n,
        target_fpr,
        bound,
        mean: null.mean,
        overdispersion: null.overdispersion,
    };
    for k in 0..=n {
        let tail = null.upper_tail(k, n)?;
        if tail <= target_fpr {
            return Ok(Threshold { value: k as f64 / n as f64, source: source(tail), direction: Direction::Higher });
        }
    }
    Ok(Threshold { value: 1.0f64.next_up(), source: source(1.0), direction: Direction::Higher })
}

/// The samples rule: one-sided Welch t-test against the negatives' pooled samples.
fn samples(
    direction: Direction,
    values: &[f64],
    negatives: &[NegativeScore],
    policy: &Policy,
) -> Result<Outcome, EvalError> {
    crate::check_scores("suspect samples", values)?;
    let mut pool = Vec::new();
    let mut means = Vec::new();
    for neg in negatives {
        match &neg.measurement {
            Measurement::Samples { values } => {
                crate::check_scores("independent model samples", values)?;
                pool.extend(values.iter().map(|&v| direction.orient(v)));
                means.push(direction.orient(neg.measurement.score()));
            }
            Measurement::Counts { .. } => {
                return Err(EvalError::BadParameter(format!("independent model {} has counts, not samples", neg.name)));
            }
        }
    }
    let rule = format!(
        "samples: STOLEN when the suspect's mean {} the threshold and a one-sided Welch two-sample t-test of its samples \
         against the independent models' pooled samples (H1: the suspect's mean is {}) gives p below alpha",
        if direction == Direction::Higher { "reaches" } else { "is at or below" },
        if direction == Direction::Higher { "higher" } else { "lower" }
    );
    let mut reasons = Vec::new();
    let m = negatives.len();
    if m < policy.min_negatives {
        reasons.push(format!(
            "{m} independent model(s): a samples test against models needs at least {}",
            policy.min_negatives
        ));
    }
    let oriented: Vec<f64> = values.iter().map(|&v| direction.orient(v)).collect();
    let test = if m == 0 || pool.len() < 2 || oriented.len() < 2 {
        reasons.push("too few samples for a t-test (each side needs 2)".into());
        None
    } else {
        Some(crate::resample::welch_repeated(&oriented, &pool, policy.resampling)?)
    };
    let threshold = match policy.threshold {
        Some(t) => Some(given(t)?),
        None if !means.is_empty() => {
            let t = calibrate(&means, policy.target_fpr)?;
            Some(Threshold { value: direction.orient(t.value), ..t }.with_direction(direction))
        }
        None => None,
    };
    let (p, effect) = match test {
        Some(t) => (Some(PValue { p: t.p, null: t.describe(m) }), Some(t.effect_json(direction))),
        None => (None, None),
    };
    Ok(Outcome { rule, threshold, p, others: Vec::new(), effect, reasons })
}

impl Verdict {
    /// Sets `decision` from the threshold, the p-value and the reasons collected so far.
    fn decide(&mut self) {
        let (Some(threshold), Some(p)) = (&self.threshold, self.p_value) else {
            self.decision = Decision::Inconclusive;
            return;
        };
        let above = threshold.passes(self.score);
        let significant = p < self.alpha;
        self.decision = match (above, significant) {
            _ if !self.reasons.is_empty() => Decision::Inconclusive,
            (true, true) => Decision::Stolen,
            (false, false) => Decision::NotStolen,
            (true, false) => {
                self.reasons.push(format!("the score passes the threshold but p = {p:.3e} is not below alpha"));
                Decision::Inconclusive
            }
            (false, true) => {
                self.reasons.push(format!("p = {p:.3e} is below alpha but the score does not pass the threshold"));
                Decision::Inconclusive
            }
        };
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
