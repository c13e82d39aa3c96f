//! Turning a suspect's matching rate into a verdict with a threshold and a p-value.
//!
//! The p-value: under H0 "the suspect was trained independently", each fingerprint point is
//! matched with some probability p0 that IPGuard's points make far from 1/C (an independent
//! model often agrees near the boundary). mown therefore takes p0 from independent models: the
//! highest matching rate among the calibration negatives (conservative), and reports the
//! binomial tail P[X >= matches] for X ~ Bin(n, p0). Treating points as independent trials is an
//! approximation; the calibrated threshold is the primary decision rule. Without negatives no
//! p-value is reported.

use mown_access::QueryModel;
use mown_eval::{Threshold, Verdict};

use crate::{Fingerprint, MethodError};

pub fn verify(
    fp: &Fingerprint,
    suspect: &mut dyn QueryModel,
    threshold: Threshold,
    negative_rates: &[f64],
) -> Result<Verdict, MethodError> {
    let result = fp.match_suspect(suspect)?;
    let (p_value, null) = match negative_rates
        .iter()
        .cloned()
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))))
    {
        Some(p0) => {
            let p0 = p0.clamp(0.0, 1.0);
            let p = mown_eval::binomial_upper_tail(result.matches, result.n, p0)
                .map_err(|e| MethodError::BadParameter(e.to_string()))?;
            (
                Some(p),
                Some(format!(
                    "independent model matching each of the {} points with probability {p0:.4} (highest rate among {} independent models)",
                    result.n,
                    negative_rates.len()
                )),
            )
        }
        None => (None, None),
    };
    Ok(Verdict::new(
        fp.method.clone(),
        suspect.describe(),
        result.matching_rate,
        threshold,
        p_value,
        null,
        result.queries,
        serde_json::json!({ "matches": result.matches, "points": result.n, "owner_sha256": fp.owner_sha256 }),
    ))
}
