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
            let cell = match method.rows.iter().find(|r| r.model == attack.name).map(|r| r.verdict.decision) {
                Some(Decision::Stolen) => {
                    detected += 1;
                    "S"
                }
                Some(Decision::Inconclusive) => "?",
                Some(Decision::NotStolen) => ".",
                None => "-",
            };
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
