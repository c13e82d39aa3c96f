//! A null distribution fitted to the independent models themselves: beta-binomial.
//!
//! The chance null of [`crate::binomial_upper_tail`] needs a per-probe rate p0. With least-likely
//! watermark labels (seed 004 §4.5) no chance rate holds: 21 independent Fashion-MNIST models hit
//! 0 of 2,100 triggers, far below 1/(C−1), so the conservative p0 = 1/(C−1) makes a copy with
//! 16 of 100 hits look unremarkable (p = 0.086). Pooling the negatives' probes into one binomial
//! rate would go the other way: it treats every probe of every model as exchangeable and ignores
//! that independent models differ (IPGuard's range from 0.00 to 0.23 on the same points).
//!
//! The beta-binomial keeps both effects: each independent model draws its own rate from
//! Beta(α, β), then answers its n probes binomially. α and β come from the negatives by the method
//! of moments on their rates, with two stated choices:
//! - the mean is smoothed with half a hit (Jeffreys-style), so that zero observed hits do not
//!   give a null under which every hit is impossible;
//! - the intra-model correlation ρ (0 = plain binomial, 1 = every model all-or-nothing) is at
//!   least [`MIN_OVERDISPERSION`]. Negatives that agree exactly (all at zero hits, say) carry no
//!   information about ρ, and the tail then rests on this floor: for 16 of 100 hits against 21
//!   zero-hit negatives, floors of 0.005 / 0.01 / 0.02 / 0.05 give 5e-11 / 2.6e-8 / 2.3e-6 / 7e-5.
//! - at least [`MIN_NEGATIVES`] negatives: one or two models say next to nothing about the spread
//!   between models, so no fitted null is offered below that.
//!
//! The p-value is P[X ≥ k] under that fitted distribution: a model-based statement about "a model
//! like these negatives", reported beside the chance-or-highest p-value, not instead of it.
//! Neither bounds the other: far below chance the fitted one is sharper; where the negatives
//! disagree it is the more cautious, since a binomial at the highest negative's rate ignores that
//! the next independent model may score higher still.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::ln_gamma;

use crate::EvalError;

/// The floor on the intra-model correlation ρ of the fitted null (see the module comment).
pub const MIN_OVERDISPERSION: f64 = 0.01;

/// The fewest independent models a null is fitted to.
pub const MIN_NEGATIVES: usize = 3;

/// Beta(α, β) over per-model rates, fitted to independent models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BetaBinomialNull {
    pub alpha: f64,
    pub beta: f64,
    /// Independent models it was fitted on.
    pub models: usize,
    /// Probes each of them answered.
    pub probes: usize,
    /// The fitted mean rate α/(α+β).
    pub mean: f64,
    /// The fitted intra-model correlation 1/(α+β+1).
    pub overdispersion: f64,
}

impl BetaBinomialNull {
    /// Fits the null to the negatives' hit counts out of `probes` each.
    pub fn fit(hits: &[usize], probes: usize) -> Result<Self, EvalError> {
        if hits.is_empty() {
            return Err(EvalError::Empty("independent models"));
        }
        if hits.len() < MIN_NEGATIVES {
            return Err(EvalError::BadParameter(format!(
                "a null fitted to {} independent models says nothing about their spread; it needs {MIN_NEGATIVES}",
                hits.len()
            )));
        }
        if probes == 0 {
            return Err(EvalError::BadParameter("a null over zero probes".into()));
        }
        if let Some(&h) = hits.iter().find(|&&h| h > probes) {
            return Err(EvalError::BadParameter(format!("{h} hits out of {probes} probes")));
        }
        let n = probes as f64;
        let m = hits.len() as f64;
        let total: f64 = hits.iter().map(|&h| h as f64).sum();
        let mean = (total + 0.5) / (m * n + 1.0);
        let rates: Vec<f64> = hits.iter().map(|&h| h as f64 / n).collect();
        // Var(rate) = p(1-p) [1/n + ρ (1 - 1/n)] under the beta-binomial; solve for ρ.
        let raw = total / (m * n);
        let var = rates.iter().map(|r| (r - raw) * (r - raw)).sum::<f64>() / (m - 1.0);
        let rho = if probes > 1 {
            ((var / (mean * (1.0 - mean)) - 1.0 / n) / (1.0 - 1.0 / n)).clamp(MIN_OVERDISPERSION, 0.99)
        } else {
            0.99
        };
        let scale = (1.0 - rho) / rho;
        Ok(Self {
            alpha: mean * scale,
            beta: (1.0 - mean) * scale,
            models: hits.len(),
            probes,
            mean,
            overdispersion: rho,
        })
    }

    /// P[X ≥ k] for X ~ BetaBinomial(n, α, β), summed in log space. `k = 0` gives 1.
    pub fn upper_tail(&self, k: usize, n: usize) -> Result<f64, EvalError> {
        if k > n {
            return Err(EvalError::BadParameter(format!("k = {k} hits out of n = {n} probes")));
        }
        if k == 0 {
            return Ok(1.0);
        }
        let (a, b) = (self.alpha, self.beta);
        let ln_beta = |x: f64, y: f64| ln_gamma(x) + ln_gamma(y) - ln_gamma(x + y);
        let ln_choose =
            |n: usize, x: usize| ln_gamma(n as f64 + 1.0) - ln_gamma(x as f64 + 1.0) - ln_gamma((n - x) as f64 + 1.0);
        let terms: Vec<f64> =
            (k..=n).map(|x| ln_choose(n, x) + ln_beta(x as f64 + a, (n - x) as f64 + b) - ln_beta(a, b)).collect();
        let top = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let p = top.exp() * terms.iter().map(|t| (t - top).exp()).sum::<f64>();
        if p.is_nan() {
            return Err(EvalError::BadParameter("beta-binomial tail is not computable (NaN)".into()));
        }
        Ok(p.clamp(0.0, 1.0))
    }

    /// The null in words, for a verdict.
    pub fn describe(&self) -> String {
        format!(
            "the suspect is like the {} independent models: each draws its own rate from Beta({:.3}, {:.2}) \
             fitted to them (mean {:.4}, intra-model correlation {:.3}), then answers each probe independently",
            self.models, self.alpha, self.beta, self.mean, self.overdispersion
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // References: exact sums with python3 `math.lgamma`/`math.comb` over the same α, β.
    #[test]
    fn tail_sums_to_one_and_matches_a_hand_computed_case() {
        let null =
            BetaBinomialNull { alpha: 2.0, beta: 3.0, models: 1, probes: 4, mean: 0.4, overdispersion: 1.0 / 6.0 };
        assert!((null.upper_tail(0, 4).unwrap() - 1.0).abs() < 1e-12);
        // BetaBinomial(4, 2, 3): P[X = 4] = B(6, 3) / B(2, 3) = (1/168) / (1/12) = 1/14.
        assert!((null.upper_tail(4, 4).unwrap() - 1.0 / 14.0).abs() < 1e-12);
        // P[X >= 3] = P[3] + P[4] = 4·B(5, 4)/B(2, 3) + 1/14 = 4·(1/280)·12 + 1/14 = 0.2428...
        assert!((null.upper_tail(3, 4).unwrap() - (48.0 / 280.0 + 1.0 / 14.0)).abs() < 1e-12);
    }

    #[test]
    fn zero_hits_in_every_negative_still_allows_a_hit_but_makes_many_unlikely() {
        let null = BetaBinomialNull::fit(&[0; 21], 100).unwrap();
        assert_eq!(null.overdispersion, MIN_OVERDISPERSION);
        assert!(null.mean > 0.0 && null.mean < 1e-3, "{null:?}");
        let one = null.upper_tail(1, 100).unwrap();
        let sixteen = null.upper_tail(16, 100).unwrap();
        assert!(one > 1e-3 && one < 0.1, "P[X >= 1] = {one}");
        assert!(sixteen < 1e-4 && sixteen < one, "P[X >= 16] = {sixteen}");
    }

    #[test]
    fn spread_out_negatives_give_a_wider_null_than_agreeing_ones() {
        // Same mean rate (0.08), one set spread 0.00..0.23 (IPGuard-like), one set all at 0.08.
        let spread = [0, 2, 4, 23, 8, 16, 1, 10, 5, 11];
        let flat = [8; 10];
        let wide = BetaBinomialNull::fit(&spread, 100).unwrap();
        let narrow = BetaBinomialNull::fit(&flat, 100).unwrap();
        assert!(wide.overdispersion > 0.02 && narrow.overdispersion == MIN_OVERDISPERSION, "{wide:?} {narrow:?}");
        let (pw, pn) = (wide.upper_tail(25, 100).unwrap(), narrow.upper_tail(25, 100).unwrap());
        assert!(pw > 10.0 * pn, "spread {pw} vs flat {pn}");
        // The highest negative itself is not extreme under the wide null.
        assert!(wide.upper_tail(23, 100).unwrap() > 0.01);
    }

    #[test]
    fn bad_input_is_named() {
        assert!(matches!(BetaBinomialNull::fit(&[], 100), Err(EvalError::Empty(_))));
        assert!(BetaBinomialNull::fit(&[3, 1, 2], 0).unwrap_err().to_string().contains("zero probes"));
        assert!(BetaBinomialNull::fit(&[101, 0, 0], 100).unwrap_err().to_string().contains("101 hits out of 100"));
        assert!(BetaBinomialNull::fit(&[0, 0], 100).unwrap_err().to_string().contains("needs 3"));
        let null = BetaBinomialNull::fit(&[1, 2, 0], 10).unwrap();
        assert!(null.upper_tail(11, 10).is_err());
    }
}
