//! The record of one ownership claim against one suspect.
//!
//! A bare "stolen: yes" cannot be checked. Following the reporting that seeds 000-004 give for
//! their own methods (score, threshold, p-value), a verdict carries the score, the threshold and how
//! it was chosen (so its false-positive promise is visible), the p-value with the null hypothesis
//! it tests in words, and the number of queries spent on the suspect (IPGuard's Verify, seed 002,
//! needs one label per fingerprint point).

use crate::threshold::Threshold;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One method's decision on one suspect, with everything needed to audit it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Verdict {
    pub method: String,
    pub suspect: String,
    /// The method's score in [0, 1] (matching rate, trigger accuracy, ...).
    pub score: f64,
    pub threshold: Threshold,
    pub p_value: Option<f64>,
    /// The null hypothesis the p-value tests, in words.
    pub p_value_null: Option<String>,
    /// A second p-value, under a null fitted to the independent models (beta-binomial, see
    /// [`crate::fitted`]); present when at least 3 negatives were measured. Sharper than `p_value`
    /// when the negatives sit far below the chance rate; it widens with their spread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value_fitted: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value_fitted_null: Option<String>,
    /// Queries sent to the suspect.
    pub queries: usize,
    /// `score >= threshold.value`.
    pub stolen: bool,
    /// Method-specific extras (per-point agreement, class counts, ...).
    pub details: serde_json::Value,
}

impl Verdict {
    /// Builds a verdict; `stolen` is `score >= threshold.value` (IPGuard's Verify rule), so a NaN
    /// score is never judged stolen.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        method: impl Into<String>,
        suspect: impl Into<String>,
        score: f64,
        threshold: Threshold,
        p_value: Option<f64>,
        p_value_null: Option<String>,
        queries: usize,
        details: serde_json::Value,
    ) -> Self {
        let stolen = score >= threshold.value;
        Verdict {
            method: method.into(),
            suspect: suspect.into(),
            score,
            threshold,
            p_value,
            p_value_null,
            p_value_fitted: None,
            p_value_fitted_null: None,
            queries,
            stolen,
            details,
        }
    }

    /// Adds the p-value under the null fitted to the independent models.
    pub fn with_fitted_p_value(mut self, p: f64, null: String) -> Self {
        self.p_value_fitted = Some(p);
        self.p_value_fitted_null = Some(null);
        self
    }
}

/// A p-value in a form that stays readable from 0.5 down to 1e-300.
fn format_p(p: f64) -> String {
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
    /// VERDICT: STOLEN (ipguard score 0.9700 >= threshold 0.5200; p = 3.10e-40; 100 queries)
    ///   suspect: resnet-copy
    ///   threshold: 0.5200, calibrated on 100 independent models to FPR <= 0.01 (achieved 0.010)
    ///   p-value: 3.10e-40 under H0: ...
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (word, cmp) = if self.stolen { ("STOLEN", ">=") } else { ("NOT STOLEN", "<") };
        let cmp = if self.score.is_nan() { "is not comparable with" } else { cmp };
        // A threshold placed just above a score prints like that score at 4 decimals: show it in full.
        let threshold = if format!("{:.4}", self.threshold.value).parse::<f64>() == Ok(self.threshold.value) {
            format!("{:.4}", self.threshold.value)
        } else {
            format!("{}", self.threshold.value)
        };
        write!(f, "VERDICT: {word} ({} score {:.4} {cmp} threshold {threshold}", self.method, self.score)?;
        if let Some(p) = self.p_value {
            write!(f, "; p = {}", format_p(p))?;
        }
        writeln!(f, "; {} queries)", self.queries)?;
        writeln!(f, "  suspect: {}", self.suspect)?;
        write!(f, "  threshold: {}", self.threshold.describe())?;
        if let Some(p) = self.p_value {
            let null = self.p_value_null.as_deref().unwrap_or("(null hypothesis not stated)");
            write!(f, "\n  p-value: {} under H0: {null}", format_p(p))?;
        }
        if let Some(p) = self.p_value_fitted {
            let null = self.p_value_fitted_null.as_deref().unwrap_or("(null hypothesis not stated)");
            write!(f, "\n  p-value, null fitted to the negatives: {} under H0: {null}", format_p(p))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threshold::{calibrate, given};

    #[test]
    fn stolen_display_has_score_threshold_and_p() {
        let mut negatives: Vec<f64> = (0..20).map(|i| i as f64 / 50.0).collect();
        negatives.push(0.5); // 21 independent models, the highest at 0.5
        let threshold = calibrate(&negatives, 0.01).unwrap();
        let v = Verdict::new(
            "ipguard",
            "resnet-copy",
            0.97,
            threshold,
            Some(3.1e-40),
            Some("the suspect agrees with the owner on each point independently with p0 = 0.1".into()),
            100,
            serde_json::json!({"matches": 97}),
        );
        assert!(v.stolen);
        let text = v.to_string();
        assert!(text.starts_with("VERDICT: STOLEN (ipguard score 0.9700 >= threshold 0.5000000000000001"), "{text}");
        assert!(text.contains("p = 3.10e-40") && text.contains("100 queries"), "{text}");
        assert!(text.contains("calibrated on 21 independent models to FPR <= 0.01 (achieved 0.000)"), "{text}");
        assert!(text.contains("under H0: the suspect agrees"), "{text}");
        assert!(!text.contains("fitted"), "{text}");
        let v = v.with_fitted_p_value(2.6e-8, "like the 21 independent models".into());
        assert!(v.to_string().contains("null fitted to the negatives: 2.60e-8 under H0: like the 21"), "{v}");
        let back: Verdict = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!((back.score, back.stolen, back.threshold), (0.97, true, v.threshold.clone()));
    }

    #[test]
    fn not_stolen_display() {
        let v = Verdict::new(
            "margin-wm",
            "indep-3",
            0.12,
            given(0.5).unwrap(),
            Some(0.42),
            None,
            50,
            serde_json::Value::Null,
        );
        assert!(!v.stolen);
        let text = v.to_string();
        assert!(
            text.starts_with("VERDICT: NOT STOLEN (margin-wm score 0.1200 < threshold 0.5000; p = 0.4200; 50 queries)"),
            "{text}"
        );
        assert!(text.contains("given (not calibrated") && text.contains("null hypothesis not stated"), "{text}");
        // Equality counts as stolen; no p-value means no p line.
        let v = Verdict::new("m", "s", 0.5, given(0.5).unwrap(), None, None, 1, serde_json::Value::Null);
        assert!(v.stolen && !v.to_string().contains("p ="));
    }

    #[test]
    fn nan_score_is_not_stolen() {
        let v = Verdict::new("m", "s", f64::NAN, given(0.5).unwrap(), None, None, 0, serde_json::Value::Null);
        assert!(!v.stolen);
        assert!(v.to_string().contains("NOT STOLEN (m score NaN is not comparable with threshold 0.5000"));
        assert_eq!(format_p(0.0), "< 1e-308 (underflow)");
    }
}
