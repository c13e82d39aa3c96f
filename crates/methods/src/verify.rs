//! Turning a suspect's agreement with ownership evidence into a verdict with a threshold and a
//! p-value.
//!
//! The p-value: under H0 "the suspect was trained independently", each probe image gets the
//! expected label with some probability p0, and the binomial tail P[X >= matches], X ~ Bin(n, p0),
//! is reported. p0 is the largest of the method's chance rate (a random wrong trigger label:
//! 1/(C-1), seed 004 §3) and the highest rate among the independent calibration models, so it is
//! conservative both when the method's own null is too optimistic (IPGuard's boundary points are
//! often matched by independent models, far above 1/C) and when few negatives are at hand.
//! Treating probes as independent trials is an approximation; the calibrated threshold is the
//! primary decision rule. Without a chance rate and without negatives no p-value is reported.
//!
//! With negatives, a second p-value uses a beta-binomial null fitted to them
//! ([`mown_eval::fitted`]): it follows the negatives down when they hit far less often than chance
//! (least-likely watermark labels: 0 of 2,100 triggers) and widens when they disagree among
//! themselves, where it can exceed the first. Rates are turned back into hit counts over the
//! evidence's probes.

use mown_access::QueryModel;
use mown_eval::{Threshold, Verdict};

use crate::{Evidence, MethodError};

pub fn verify(
    evidence: &dyn Evidence,
    suspect: &mut dyn QueryModel,
    threshold: Threshold,
    negative_rates: &[f64],
) -> Result<Verdict, MethodError> {
    let result = evidence.match_suspect(suspect)?;
    let highest_negative =
        negative_rates.iter().cloned().fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let from_negatives =
        |h: f64| (h, format!("the highest rate among {} independent models ({h:.4})", negative_rates.len()));
    let null = match (evidence.chance_rate(), highest_negative) {
        (None, None) => None,
        (Some(c), None) => Some((c, format!("a model that is not a copy gives the expected label by chance ({c:.4})"))),
        (None, Some(h)) => Some(from_negatives(h)),
        (Some(c), Some(h)) if h >= c => Some(from_negatives(h)),
        (Some(c), Some(_)) => Some((
            c,
            format!("chance ({c:.4}), above the highest rate among {} independent models", negative_rates.len()),
        )),
    };
    let (p_value, null) = match null {
        Some((p0, why)) => {
            let p = mown_eval::binomial_upper_tail(result.matches, result.n, p0.clamp(0.0, 1.0))
                .map_err(|e| MethodError::BadParameter(e.to_string()))?;
            (Some(p), Some(format!("each of the {} probes matched with probability {p0:.4}: {why}", result.n)))
        }
        None => (None, None),
    };
    let verdict = Verdict::new(
        evidence.method(),
        suspect.describe(),
        result.matching_rate,
        threshold,
        p_value,
        null,
        result.queries,
        serde_json::json!({ "matches": result.matches, "probes": result.n, "owner_sha256": evidence.owner_sha256() }),
    );
    if negative_rates.len() < mown_eval::fitted::MIN_NEGATIVES || result.n == 0 {
        return Ok(verdict);
    }
    let n = result.n as f64;
    let mut hits = Vec::with_capacity(negative_rates.len());
    for &rate in negative_rates {
        let count = rate * n;
        if !(rate.is_finite() && (0.0..=1.0).contains(&rate) && (count - count.round()).abs() < 1e-6) {
            return Err(MethodError::BadParameter(format!(
                "an independent model's rate {rate} is not a count out of the {} probes",
                result.n
            )));
        }
        hits.push(count.round() as usize);
    }
    let bad = |e: mown_eval::EvalError| MethodError::BadParameter(e.to_string());
    let null = mown_eval::BetaBinomialNull::fit(&hits, result.n).map_err(bad)?;
    let p = null.upper_tail(result.matches, result.n).map_err(bad)?;
    Ok(verdict.with_fitted_p_value(p, null.describe()))
}
