//! The record of one ownership decision against one suspect.
//!
//! A bare "stolen: yes" cannot be checked. A verdict carries the decision and the rule it
//! followed, alpha, the score, the threshold and how it was calibrated (so its false-positive
//! promise is visible), the p-value with the null hypothesis it tests in words, the negatives it
//! was judged against, every warning, and the queries spent on the suspect. It is built only by
//! [`crate::decide`], so every method, the CLI, the demo and the benchmarks decide alike.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decision::{Direction, MethodTraits};
use crate::threshold::Threshold;

/// The three outcomes. STOLEN needs the threshold and p < alpha; NOT STOLEN means neither holds
/// (no evidence of copying, not proof of independence); anything else is INCONCLUSIVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    Stolen,
    NotStolen,
    Inconclusive,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Stolen => "STOLEN",
            Decision::NotStolen => "NOT STOLEN",
            Decision::Inconclusive => "INCONCLUSIVE",
        })
    }
}

/// A p-value and the null hypothesis it tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PValue {
    pub p: f64,
    pub null: String,
}

/// Who the suspect was compared with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NegativesSummary {
    pub count: usize,
    /// Architecture families among them (where known), sorted.
    pub families: Vec<String>,
    pub highest: Option<f64>,
    pub lowest: Option<f64>,
    /// The smallest false-positive rate these negatives can measure: 1 / count.
    pub fpr_resolution: Option<f64>,
    /// Every negative's score, so that a reader can audit the calibration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<NegativeRecord>,
}

/// One independent model's score in a verdict.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NegativeRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub score: f64,
}

impl NegativesSummary {
    pub(crate) fn new(families: Vec<String>, models: Vec<NegativeRecord>) -> Self {
        let count = models.len();
        let highest = models.iter().map(|m| m.score).reduce(f64::max);
        let lowest = models.iter().map(|m| m.score).reduce(f64::min);
        NegativesSummary {
            count,
            families,
            highest,
            lowest,
            fpr_resolution: (count > 0).then(|| 1.0 / count as f64),
            models,
        }
    }
}

/// One method's decision on one suspect, with everything needed to audit it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Verdict {
    pub method: String,
    pub suspect: String,
    pub decision: Decision,
    /// The decision rule, in words.
    pub rule: String,
    pub alpha: f64,
    /// The method's score: the matching rate, or the mean of the samples.
    pub score: f64,
    pub direction: Direction,
    /// None when nothing could calibrate one (then the verdict is INCONCLUSIVE).
    pub threshold: Option<Threshold>,
    /// The p-value the decision used, and its null in words.
    pub p_value: Option<f64>,
    pub p_value_null: Option<String>,
    /// Further p-values under other nulls (never smaller than the decision's for counts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_p_values: Vec<PValue>,
    /// Samples rules: delta mu, Cohen's d, t, df, the mean p over draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect_size: Option<serde_json::Value>,
    pub negatives: NegativesSummary,
    /// Images sent to the suspect.
    pub queries: usize,
    /// Why the verdict is INCONCLUSIVE, when it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Method-specific extras (matches and probes, owner hash, ...).
    pub details: serde_json::Value,
}

impl Verdict {
    pub(crate) fn undecided(
        traits: &MethodTraits,
        suspect: &str,
        score: f64,
        alpha: f64,
        negatives: NegativesSummary,
        queries: usize,
        details: serde_json::Value,
    ) -> Self {
        Verdict {
            method: traits.method.clone(),
            suspect: suspect.to_string(),
            decision: Decision::Inconclusive,
            rule: String::new(),
            alpha,
            score,
            direction: traits.direction,
            threshold: None,
            p_value: None,
            p_value_null: None,
            other_p_values: Vec::new(),
            effect_size: None,
            negatives,
            queries,
            reasons: Vec::new(),
            warnings: Vec::new(),
            details,
        }
    }

    pub fn is_stolen(&self) -> bool {
        self.decision == Decision::Stolen
    }

    /// Adds a warning (e.g. the evidence's own, such as an owner that does not hold its watermark).
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }
}

/// A p-value in a form that stays readable from 0.5 down to 1e-300.
pub fn format_p(p: f64) -> String {
    if p == 0.0 {
        "< 1e-308 (underflow)".into()
    } else if p >= 1e-3 {
        format!("{p:.4}")
    } else {
        format!("{p:.2e}")
    }
}

impl fmt::Display for Verdict {
    /// E.g.
    /// ```text
    /// VERDICT: STOLEN (ipguard-TL score 0.9700 >= threshold 0.5200, p = 3.10e-40 < alpha 0.05; 100 queries)
    ///   suspect: resnet-copy
    ///   rule: counts: STOLEN when ...
    ///   threshold: 0.5200, calibrated on 100 independent models to FPR <= 0.01 (achieved 0.010)
    ///   p-value: 3.10e-40 under H0: ...
    ///   negatives: 100 independent models, 4 families (lenet5, mlp, resnet20, vgg11), scores 0.0000-0.5100
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VERDICT: {} ({} score {:.4}", self.decision, self.method, self.score)?;
        if let Some(t) = &self.threshold {
            let cmp = match (self.score.is_nan(), t.passes(self.score), self.direction) {
                (true, _, _) => "is not comparable with",
                (false, true, Direction::Higher) => ">=",
                (false, false, Direction::Higher) => "<",
                (false, true, Direction::Lower) => "<=",
                (false, false, Direction::Lower) => ">",
            };
            write!(f, " {cmp} threshold {}", t.short())?;
        } else {
            write!(f, ", no threshold")?;
        }
        match self.p_value {
            Some(p) => {
                let cmp = if p < self.alpha { "<" } else { ">=" };
                write!(f, ", p = {} {cmp} alpha {}", format_p(p), self.alpha)?;
            }
            None => write!(f, ", no p-value")?,
        }
        writeln!(f, "; {} queries)", self.queries)?;
        writeln!(f, "  suspect: {}", self.suspect)?;
        write!(f, "  rule: {}", self.rule)?;
        if let Some(t) = &self.threshold {
            write!(f, "\n  threshold: {}", t.describe())?;
        }
        if let Some(p) = self.p_value {
            let null = self.p_value_null.as_deref().unwrap_or("(null hypothesis not stated)");
            write!(f, "\n  p-value: {} under H0: {null}", format_p(p))?;
        }
        for other in &self.other_p_values {
            write!(f, "\n  also p = {} under H0: {}", format_p(other.p), other.null)?;
        }
        if let Some(e) = &self.effect_size {
            write!(f, "\n  effect: {e}")?;
        }
        let n = &self.negatives;
        match (n.lowest, n.highest) {
            (Some(lo), Some(hi)) => write!(
                f,
                "\n  negatives: {} independent model(s), {} famil{} ({}), scores {lo:.4}-{hi:.4}; FPR resolution 1/{} = {:.3}",
                n.count,
                n.families.len(),
                if n.families.len() == 1 { "y" } else { "ies" },
                if n.families.is_empty() { "unknown".to_string() } else { n.families.join(", ") },
                n.count,
                n.fpr_resolution.unwrap_or(1.0)
            )?,
            _ => write!(f, "\n  negatives: none")?,
        }
        for r in &self.reasons {
            write!(f, "\n  inconclusive because: {r}")?;
        }
        for w in &self.warnings {
            write!(f, "\n  warning: {w}")?;
        }
        Ok(())
    }
}
