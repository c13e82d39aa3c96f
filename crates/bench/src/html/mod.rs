//! The benchmark's static HTML report and the one-verdict page of `mown verify --html`: one file
//! each, inline CSS and inline SVG (plotters' SVG backend, which writes `<text>` and so needs no
//! font feature), no script and no network, so that a report opens offline and can be archived
//! beside its JSON.

pub(crate) mod example;
mod plots;
mod report;
mod verdict;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use mown_eval::{Threshold, ThresholdSource};

use crate::record::BenchReport;

#[doc(hidden)]
pub use example::example_report;
pub use report::report_html;
pub use verdict::verdict_html;

/// Writes `report.json` and `report.html` into `dir` (created if needed); returns their paths.
pub fn write_report(report: &BenchReport, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = dir.join("report.json");
    let html = dir.join("report.html");
    std::fs::write(&json, serde_json::to_vec_pretty(report)?).with_context(|| format!("writing {}", json.display()))?;
    std::fs::write(&html, report_html(report)?).with_context(|| format!("writing {}", html.display()))?;
    Ok((json, html))
}

/// Escapes text for HTML content and attribute values (model names are arbitrary strings).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number at 4 decimals; NaN and infinities spelled out rather than hidden.
pub(crate) fn num(x: f64) -> String {
    if x.is_finite() { format!("{x:.4}") } else { format!("{x}") }
}

/// Seconds, short.
pub(crate) fn secs(x: f64) -> String {
    if !x.is_finite() {
        format!("{x}")
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

pub(crate) fn p_text(p: Option<f64>) -> String {
    p.map(mown_eval::format_p).unwrap_or_else(|| "none".into())
}

pub(crate) fn source_kind(s: &ThresholdSource) -> &'static str {
    match s {
        ThresholdSource::Given => "given",
        ThresholdSource::Calibrated { .. } => "calibrated",
        ThresholdSource::ChanceNull { .. } => "chance null",
        ThresholdSource::FittedNull { .. } => "fitted null",
        ThresholdSource::NewFamily { .. } => "new-family bound",
    }
}

/// The threshold at 4 decimals. Calibration places it a hair beyond a score, which `short()`
/// prints in full (0.31000000000000005); that reads as "just above 0.3100" here.
pub(crate) fn threshold_text(t: &Threshold) -> String {
    let short = t.short();
    let rounded: f64 = format!("{:.4}", t.value).parse().unwrap_or(t.value);
    match short.len() {
        0..=10 => short,
        _ if t.value > rounded => format!("just above {rounded:.4}"),
        _ => format!("just below {rounded:.4}"),
    }
}

/// Pretty JSON, escaped for a `<pre>`.
pub(crate) fn json_pre(v: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("(not printable: {e})"));
    format!("<pre>{}</pre>", esc(&text))
}

/// One inline plot with its caption.
pub(crate) fn figure(svg: &str, caption: &str) -> String {
    format!("<figure>{svg}<figcaption>{caption}</figcaption></figure>\n")
}

const CSS: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #1d1d1f; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 2px solid #ddd; padding-bottom: 0.2em; }
h3 { margin-top: 1.4em; }
.meta { color: #555; } .small { font-size: 0.8em; color: #555; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ok { background: #dcf2dc; color: #135213; } .bad { background: #f8d6d6; color: #8a1010; }
.unsure { background: #fbefcf; color: #6d4c00; } .none { color: #888; }
.cell { font-weight: 600; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
td code, th code { overflow-wrap: anywhere; }
table.headline { font-size: 0.82em; }
table.headline th.attack { min-width: 7em; max-width: 11em; word-break: break-word; font-weight: normal; }
table.headline th a { white-space: nowrap; }
table.headline tbody th { position: sticky; left: 0; z-index: 1; }
.big { font-size: 2.2em; font-weight: 700; padding: 0.2em 0.6em; display: inline-block; border-radius: 6px; }
.dec-stolen { background: #8a1010; color: #fff; } .dec-not { background: #135213; color: #fff; }
.dec-inconclusive { background: #c98a00; color: #fff; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; border: 1px solid #e3e3e3; padding: 0.4em; background: #fff; }
figcaption { font-size: 0.85em; color: #333; max-width: 480px; }
svg { max-width: 100%; height: auto; display: block; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
.howto { background: #f4f8fc; border-left: 4px solid #0072b2; padding: 0.6em 1em; }
.warn { color: #8a1010; }
"#;

/// The page shell: doctype, charset, inline style, no script.
pub(crate) fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + 256);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        esc(title)
    );
    out
}
