//! A draw-size sweep over a benchmark's cached measurements: every samples verdict decided again
//! with m samples per draw (seed 000's Fig. 4, p against the evidence-set size; seed 001's m).
//! Nothing is measured again: each size is [`crate::merge::assemble_with`] on the same shards, so
//! the sweep costs seconds on a warm cache and its cells are the verdicts the one rule gives.

use std::fmt::Write;

use mown_eval::Decision;
use serde::{Deserialize, Serialize};

use crate::config::BenchConfig;
use crate::merge::assemble_with;
use crate::record::{BenchReport, ModelRole};
use crate::run::ShardResult;

/// The verdicts of every method that decides on draws, at each draw size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrawSizeSweep {
    pub sizes: Vec<usize>,
    pub alpha: f64,
    pub methods: Vec<SweepMethod>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepMethod {
    pub spec: String,
    pub name: String,
    /// The draws per verdict (the evidence's own), the same at every size.
    pub draws: usize,
    pub rows: Vec<SweepRow>,
}

/// One suspect: its verdict at each size, in the order of [`DrawSizeSweep::sizes`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepRow {
    pub model: String,
    pub role: ModelRole,
    /// The attack recipe for stolen models (the headline table's column).
    pub attack: Option<String>,
    pub cells: Vec<SweepCell>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepCell {
    pub p_value: Option<f64>,
    pub decision: Decision,
}

/// Refuses an empty list or a size under 2 (a t-test draw needs two samples per side); callers
/// check before a long run, so that a bad size does not wait for the measurements.
pub fn check_sizes(sizes: &[usize]) -> anyhow::Result<()> {
    if sizes.is_empty() {
        anyhow::bail!("a draw-size sweep needs at least one size");
    }
    if let Some(bad) = sizes.iter().find(|&&m| m < 2) {
        anyhow::bail!("draw size {bad}: a t-test draw needs at least 2 samples per side");
    }
    Ok(())
}

/// Decides every samples verdict of `cfg`'s run (its `shards`) again at each of `sizes`.
/// Methods whose verdicts take no draws (counts, or samples tested once on all of them) are
/// left out: the draw size does not enter their decision.
pub fn draw_size_sweep(cfg: &BenchConfig, shards: &[ShardResult], sizes: &[usize]) -> anyhow::Result<DrawSizeSweep> {
    check_sizes(sizes)?;
    let reports: Vec<BenchReport> =
        sizes.iter().map(|&m| assemble_with(cfg, shards, Some(m))).collect::<anyhow::Result<_>>()?;
    let mut methods = Vec::new();
    for (i, method) in reports[0].methods.iter().enumerate() {
        let draws = method.rows.iter().map(|r| draws_of(&r.verdict)).max().unwrap_or(0);
        if draws == 0 {
            continue;
        }
        let rows = method
            .rows
            .iter()
            .enumerate()
            .map(|(j, row)| SweepRow {
                model: row.model.clone(),
                role: row.role,
                // Rows follow the report's models, one per zoo member.
                attack: reports[0].models[j].attack.clone(),
                cells: reports
                    .iter()
                    .map(|r| {
                        let v = &r.methods[i].rows[j].verdict;
                        SweepCell { p_value: v.p_value, decision: v.decision }
                    })
                    .collect(),
            })
            .collect();
        methods.push(SweepMethod { spec: method.spec.clone(), name: method.name.clone(), draws, rows });
    }
    Ok(DrawSizeSweep { sizes: sizes.to_vec(), alpha: cfg.alpha, methods })
}

fn draws_of(v: &mown_eval::Verdict) -> usize {
    v.effect_size.as_ref().and_then(|e| e.get("draws")).and_then(|d| d.as_u64()).unwrap_or(0) as usize
}

/// The sweep as text: per method, one line per suspect with p and the verdict's letter at each
/// size, then the stolen models detected and the independent models accused at each size.
pub fn sweep_table(sweep: &DrawSizeSweep) -> String {
    let mut out = String::new();
    if sweep.methods.is_empty() {
        let _ = writeln!(out, "draw-size sweep: no method of this config decides on draws");
        return out;
    }
    for method in &sweep.methods {
        let _ = writeln!(
            out,
            "\n{}: p-value and verdict per draw size m ({} draws each, alpha {})",
            method.name, method.draws, sweep.alpha
        );
        let _ = write!(out, "{:<58}", "suspect");
        for m in &sweep.sizes {
            let _ = write!(out, "{:>12}", format!("m={m}"));
        }
        let _ = writeln!(out);
        for row in &method.rows {
            let label = match (&row.role, &row.attack) {
                (ModelRole::Stolen, Some(a)) => format!("stolen {a}"),
                (ModelRole::Stolen, None) => format!("stolen {}", row.model),
                (ModelRole::Independent, _) => format!("indep. {}", row.model),
                (ModelRole::Victim, _) => format!("victim {}", row.model),
            };
            let _ = write!(out, "{:<58}", truncate(&label, 57));
            for c in &row.cells {
                let p = c.p_value.map(crate::table::short_p).unwrap_or_else(|| "-".into());
                let _ = write!(out, "{:>12}", format!("{p} {}", crate::table::letter(c.decision)));
            }
            let _ = writeln!(out);
        }
        for (label, role) in [("detected", ModelRole::Stolen), ("false +", ModelRole::Independent)] {
            let _ = write!(out, "{label:<58}");
            let of_role: Vec<_> = method.rows.iter().filter(|r| r.role == role).collect();
            for k in 0..sweep.sizes.len() {
                let stolen = of_role.iter().filter(|r| r.cells[k].decision == Decision::Stolen).count();
                let _ = write!(out, "{:>12}", format!("{stolen}/{}", of_role.len()));
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out, "S: STOLEN   ?: INCONCLUSIVE   .: NOT STOLEN");
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).chain(['…']).collect() }
}
