//! The samples test of a verdict: one-sided Welch t-tests, once on all samples or repeated over
//! random draws (seed 003 §2.6: 20 fingerprints drawn 30 times; seed 001: m = 10 samples, 40 draws).
//!
//! The papers report the *mean* of the repeated p-values. A mean of p-values is not itself a
//! p-value, but twice it is, whatever the dependence between the draws (Rüschendorf 1982; Vovk &
//! Wang, "Combining p-values via averaging", Biometrika 2020). The verdict therefore decides on
//! min(1, 2 × mean p) and reports the papers' mean beside it. Draws in which both sides are
//! constant leave t undefined; they are counted and skipped.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::json;

use crate::decision::{Direction, Resampling};
use crate::{EvalError, TTest, welch_t_test_greater};

/// The outcome of [`welch_repeated`], in the oriented units (higher = more like a copy).
pub struct RepeatedTest {
    /// The decision's p-value (the single test's, or 2 × mean over draws, capped at 1).
    pub p: f64,
    /// The papers' statistic: the mean p over the draws (the single p without draws).
    pub mean_p: f64,
    pub draws: usize,
    pub degenerate: usize,
    pub size: Option<usize>,
    /// Mean difference suspect − pool over all samples ("delta mu").
    pub mean_diff: f64,
    /// Cohen's d over all samples (pooled standard deviation), when defined.
    pub cohen_d: Option<f64>,
    /// The single test on all samples, when defined.
    pub full: Option<TTest>,
}

/// One-sided Welch test of H1: mean(a) > mean(b), on all samples or repeated over random draws
/// of `resampling.size` per side (p = min(1, 2 x mean p); see the module doc).
pub fn welch_repeated(a: &[f64], b: &[f64], resampling: Option<Resampling>) -> Result<RepeatedTest, EvalError> {
    let full = match welch_t_test_greater(a, b) {
        Ok(t) => Some(t),
        Err(EvalError::BadParameter(m)) if m.contains("constant") => None,
        Err(e) => return Err(e),
    };
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let pooled = (((a.len() - 1) as f64 * va + (b.len() - 1) as f64 * vb) / (a.len() + b.len() - 2) as f64).sqrt();
    let cohen_d = (pooled > 0.0).then(|| (ma - mb) / pooled);
    let base =
        RepeatedTest { p: 1.0, mean_p: 1.0, draws: 0, degenerate: 0, size: None, mean_diff: ma - mb, cohen_d, full };
    let Some(r) = resampling else {
        // Both sides constant: decided by the sign of the difference alone, which is no test.
        let p = full.map(|t| t.p).ok_or_else(|| {
            EvalError::BadParameter("the suspect's and the independent models' samples are both constant".into())
        })?;
        return Ok(RepeatedTest { p, mean_p: p, ..base });
    };
    if r.draws == 0 || r.size < 2 {
        return Err(EvalError::BadParameter(format!(
            "resampling needs at least 1 draw of at least 2 samples, got {} of {}",
            r.draws, r.size
        )));
    }
    let mut rng = StdRng::seed_from_u64(r.seed);
    let (mut ia, mut ib): (Vec<usize>, Vec<usize>) = ((0..a.len()).collect(), (0..b.len()).collect());
    let mut ps = Vec::with_capacity(r.draws);
    let mut degenerate = 0;
    for _ in 0..r.draws {
        let sa: Vec<f64> = ia.partial_shuffle(&mut rng, r.size.min(a.len())).0.iter().map(|&i| a[i]).collect();
        let sb: Vec<f64> = ib.partial_shuffle(&mut rng, r.size.min(b.len())).0.iter().map(|&i| b[i]).collect();
        match welch_t_test_greater(&sa, &sb) {
            Ok(t) => ps.push(t.p),
            Err(EvalError::BadParameter(m)) if m.contains("constant") => degenerate += 1,
            Err(e) => return Err(e),
        }
    }
    if ps.is_empty() {
        return Err(EvalError::BadParameter(format!("all {} draws had constant samples on both sides", r.draws)));
    }
    let mean_p = ps.iter().sum::<f64>() / ps.len() as f64;
    Ok(RepeatedTest { p: (2.0 * mean_p).min(1.0), mean_p, draws: r.draws, degenerate, size: Some(r.size), ..base })
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = if x.len() > 1 { x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var)
}

impl RepeatedTest {
    /// The null hypothesis in words.
    pub fn describe(&self, models: usize) -> String {
        let base = format!(
            "the suspect's samples come from a distribution whose mean is no more copy-like than that of the {models} \
             independent models' pooled samples (one-sided Welch two-sample t-test)"
        );
        match self.size {
            None => base,
            Some(size) => format!(
                "{base}, over {} draws of {size} samples per side ({} degenerate); p = min(1, 2 x mean p) with mean p = \
                 {:.3e} (twice the mean of p-values is valid under any dependence)",
                self.draws, self.degenerate, self.mean_p
            ),
        }
    }

    /// Effect size for the verdict, in the method's own units.
    pub fn effect_json(&self, direction: Direction) -> serde_json::Value {
        let sign = if direction == Direction::Higher { 1.0 } else { -1.0 };
        json!({
            "delta_mu": sign * self.mean_diff,
            "cohen_d": self.cohen_d,
            "t": self.full.map(|t| t.t),
            "df": self.full.map(|t| t.df),
            "mean_p": self.mean_p,
            "draws": self.draws,
            "degenerate_draws": self.degenerate,
        })
    }
}
