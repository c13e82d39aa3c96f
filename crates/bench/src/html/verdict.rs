//! The one-verdict page of `mown verify --html`: the decision, everything needed to audit it, and
//! the suspect's score among the independent models it was judged against.

use std::fmt::Write as _;

use mown_eval::{Decision, Direction, Verdict};

use super::plots::{self, INDEPENDENT, Marker, SUSPECT, Strip};
use super::{esc, figure, json_pre, num, p_text, page, source_kind, threshold_text};

/// One verdict as a self-contained HTML page; `context` (evidence and suspect paths, tool) is
/// shown as JSON.
pub fn verdict_html(verdict: &Verdict, context: &serde_json::Value) -> anyhow::Result<String> {
    let v = verdict;
    let mut b = String::new();
    let class = match v.decision {
        Decision::Stolen => "dec-stolen",
        Decision::NotStolen => "dec-not",
        Decision::Inconclusive => "dec-inconclusive",
    };
    writeln!(b, "<h1>Verdict: {} on <code>{}</code></h1>", esc(&v.method), esc(&v.suspect))?;
    writeln!(b, "<p><span class=\"big {class}\">{}</span></p>", v.decision)?;
    writeln!(b, "<p class=\"small\">{}</p>", esc(v.to_string().lines().next().unwrap_or_default()))?;
    writeln!(
        b,
        "<p class=\"howto\"><b>How to read this.</b> STOLEN needs the score past the calibrated threshold <em>and</em> \
         p &lt; alpha; NOT STOLEN means neither holds (no evidence of copying, not proof of independence); \
         INCONCLUSIVE means too little evidence either way.</p>"
    )?;

    let copies = match v.direction {
        Direction::Higher => "higher",
        Direction::Lower => "lower",
    };
    let mut rows: Vec<(&str, String)> = vec![
        ("rule", esc(if v.rule.is_empty() { "(not stated)" } else { &v.rule })),
        ("alpha", format!("{}", v.alpha)),
        ("score", format!("{} <span class=\"small\">(copies score {copies})</span>", num(v.score))),
    ];
    match &v.threshold {
        Some(t) => {
            rows.push((
                "threshold",
                format!(
                    "<span title=\"{}\">{}</span> <span class=\"small\">({})</span>",
                    t.value,
                    esc(&threshold_text(t)),
                    source_kind(&t.source)
                ),
            ));
            rows.push(("calibration", esc(&t.describe())));
        }
        None => rows.push(("threshold", "<span class=\"none\">none: nothing could calibrate one</span>".into())),
    }
    rows.push(("p-value", esc(&p_text(v.p_value))));
    if let Some(null) = &v.p_value_null {
        rows.push(("null hypothesis", esc(null)));
    }
    for other in &v.other_p_values {
        rows.push(("also", format!("p = {} under H0: {}", esc(&mown_eval::format_p(other.p)), esc(&other.null))));
    }
    if let Some(e) = &v.effect_size {
        rows.push(("effect size", json_pre(e)));
    }
    let n = &v.negatives;
    let families = if n.families.is_empty() { "unknown".to_string() } else { n.families.join(", ") };
    let range = match (n.lowest, n.highest) {
        (Some(lo), Some(hi)) => format!("; scores {} to {}", num(lo), num(hi)),
        _ => String::new(),
    };
    let resolution = n.fpr_resolution.map(|r| format!("; FPR resolution {r:.3}")).unwrap_or_default();
    rows.push((
        "negatives",
        format!("{} independent model(s), families {}{range}{resolution}", n.count, esc(&families)),
    ));
    rows.push(("queries", v.queries.to_string()));
    for r in &v.reasons {
        rows.push(("inconclusive because", esc(r)));
    }
    for w in &v.warnings {
        rows.push(("warning", format!("<span class=\"warn\">{}</span>", esc(w))));
    }
    writeln!(b, "<table class=\"verdict\">")?;
    for (k, val) in rows {
        writeln!(b, "<tr><th>{k}</th><td>{val}</td></tr>")?;
    }
    writeln!(b, "</table>")?;

    let scores: Vec<f64> = n.models.iter().map(|m| m.score).filter(|s| s.is_finite()).collect();
    let skipped = n.models.len() - scores.len();
    let strips = [
        Strip { label: "suspect".into(), values: vec![v.score], color: SUSPECT, size: 7 },
        Strip { label: format!("independent ({})", scores.len()), values: scores, color: INDEPENDENT, size: 5 },
    ];
    let markers: Vec<Marker> = v
        .threshold
        .iter()
        .map(|t| Marker { x: t.value, label: format!("threshold {:.4}", t.value), color: plotters::prelude::BLACK })
        .collect();
    writeln!(b, "<div class=\"plots\">")?;
    let svg = plots::strips("suspect against the independent models", &strips, &markers, "score", false)?;
    let mut cap = format!(
        "<b>The suspect's score</b> among the independent models' scores, raw units (copies score {copies}); dashed, \
         the threshold."
    );
    if skipped > 0 || !v.score.is_finite() {
        cap.push_str(" <span class=\"warn\">Non-finite scores are not drawn.</span>");
    }
    if n.models.is_empty() && n.count > 0 {
        cap.push_str(" The verdict does not list the negatives' scores.");
    }
    b.push_str(&figure(&svg, &cap));
    writeln!(b, "</div>")?;

    if !n.models.is_empty() {
        writeln!(b, "<h2>Independent models</h2>\n<table><tr><th>model</th><th>family</th><th>score</th></tr>")?;
        for m in &n.models {
            writeln!(
                b,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(&m.name),
                esc(m.family.as_deref().unwrap_or("")),
                num(m.score)
            )?;
        }
        writeln!(b, "</table>")?;
    }
    writeln!(b, "<h2>Details</h2>{}", json_pre(&v.details))?;
    writeln!(b, "<h2>Context</h2>{}", json_pre(context))?;
    Ok(page(&format!("{} verdict: {}", v.method, v.decision), &b))
}
