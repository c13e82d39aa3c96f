//! The report's headline as text: methods x attacks, each cell the verdict on that copy, then the
//! false positives among the independent models, the median queries and the seconds.

use std::fmt::Write;

use mown_eval::Decision;

use crate::record::BenchReport;

/// One line per method; columns are the attacks, numbered, with a legend below.
pub fn verdict_table(report: &BenchReport) -> String {
    let attacks = report.attacks();
    let width = report.methods.iter().map(|m| m.name.chars().count()).max().unwrap_or(6).max(6);
    let mut out = String::new();
    let _ = write!(out, "{:<width$}", "method");
    for i in 0..attacks.len() {
        let _ = write!(out, " {:>3}", format!("A{}", i + 1));
    }
    let _ = writeln!(out, "  {:>9}  {:>8}  {:>6}  {:>8}", "detected", "false +", "AUC", "queries");
    for method in &report.methods {
        let _ = write!(out, "{:<width$}", method.name);
        let mut detected = 0;
        for attack in &attacks {
            let decision = method.rows.iter().find(|r| r.model == attack.name).map(|r| r.verdict.decision);
            detected += usize::from(decision == Some(Decision::Stolen));
            let cell = decision.map_or("-", letter);
            let _ = write!(out, " {cell:>3}");
        }
        let (fp, independents) = method.false_positives();
        let mut queries: Vec<usize> = method.rows.iter().map(|r| r.verdict.queries).collect();
        queries.sort_unstable();
        let median = queries.get(queries.len() / 2).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {:>9}  {:>8}  {:>6.3}  {:>8}",
            format!("{detected}/{}", attacks.len()),
            format!("{fp}/{independents}"),
            method.summary.roc_auc,
            median
        );
    }
    let _ = writeln!(
        out,
        "S: STOLEN   ?: INCONCLUSIVE   .: NOT STOLEN   (alpha {}; independents leave-one-out)",
        report.alpha
    );
    for (i, attack) in attacks.iter().enumerate() {
        let _ = writeln!(
            out,
            "A{:<3} {:<24} {}",
            i + 1,
            attack.attack_family.as_deref().unwrap_or(""),
            attack.attack.as_deref().unwrap_or(&attack.name)
        );
    }
    out
}

/// A verdict as one letter in a table cell (the legend under each table spells them out).
pub fn letter(d: Decision) -> &'static str {
    match d {
        Decision::Stolen => "S",
        Decision::Inconclusive => "?",
        Decision::NotStolen => ".",
    }
}

/// Seed 000's Table 2 shape for every method that decides on samples: per method and attack,
/// delta-mu (the suspect's mean minus the independents' pooled mean, oriented so that positive
/// is more like a copy) and the verdict's p, then the independents' largest delta-mu and smallest
/// p (each judged leave-one-out). None when no method of the report has samples.
pub fn effect_table(report: &BenchReport) -> Option<String> {
    let attacks = report.attacks();
    let with_effect: Vec<_> =
        report.methods.iter().filter(|m| m.rows.iter().any(|r| delta_mu(&r.verdict).is_some())).collect();
    if with_effect.is_empty() {
        return None;
    }
    let width = with_effect.iter().map(|m| m.name.chars().count()).max().unwrap_or(6).max(6);
    let mut out = String::new();
    let _ = writeln!(out, "delta-mu / p (positive delta-mu: more like a copy than the independent models)");
    let _ = write!(out, "{:<width$}", "method");
    for i in 0..attacks.len() {
        let _ = write!(out, " {:>15}", format!("A{}", i + 1));
    }
    let _ = writeln!(out, " {:>15}", "indep. max/min");
    for method in with_effect {
        let _ = write!(out, "{:<width$}", method.name);
        for attack in &attacks {
            let cell = method
                .rows
                .iter()
                .find(|r| r.model == attack.name)
                .map(|r| effect_cell(delta_mu(&r.verdict), r.verdict.p_value))
                .unwrap_or_else(|| "-".into());
            let _ = write!(out, " {cell:>15}");
        }
        let independents: Vec<_> =
            method.rows.iter().filter(|r| r.role == crate::record::ModelRole::Independent).collect();
        let max_mu = independents.iter().filter_map(|r| delta_mu(&r.verdict)).reduce(f64::max);
        let min_p = independents.iter().filter_map(|r| r.verdict.p_value).reduce(f64::min);
        let _ = writeln!(out, " {:>15}", effect_cell(max_mu, min_p));
    }
    Some(out)
}

/// The verdict's delta-mu, oriented: higher is more like a copy whatever the method's direction.
fn delta_mu(v: &mown_eval::Verdict) -> Option<f64> {
    let d = v.effect_size.as_ref()?.get("delta_mu")?.as_f64()?;
    Some(if v.direction == mown_eval::Direction::Lower { -d } else { d })
}

fn effect_cell(mu: Option<f64>, p: Option<f64>) -> String {
    let mu = mu.map(|m| format!("{m:+.3}")).unwrap_or_else(|| "-".into());
    let p = p.map(short_p).unwrap_or_else(|| "-".into());
    format!("{mu}/{p}")
}

/// A p-value in a narrow cell: two decimals down to 0.01, then its order of magnitude.
pub fn short_p(p: f64) -> String {
    if p >= 0.01 { format!("{p:.2}") } else { format!("{p:.0e}") }
}
