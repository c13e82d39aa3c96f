use super::plots::{decimals, padded_range, roc_points};
use super::*;
use crate::record::ModelRole;

/// Every inline SVG of a page, from `<svg` to its `</svg>`.
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg").map(|(i, _)| &html[i..i + html[i..].find("</svg>").expect("closed svg")]).collect()
}

fn assert_plots(html: &str, expected: usize) {
    let all = svgs(html);
    assert_eq!(all.len(), expected, "number of plots");
    for svg in all {
        assert!(svg.len() > 200, "empty plot: {svg}");
        assert!(
            ["<path", "<polyline", "<circle", "<rect"].iter().any(|e| svg.contains(e)),
            "plot without shapes: {svg}"
        );
    }
}

/// 4 plots per method (ROC, R/U, scores, p-values) and the cost plot.
fn expected_plots(r: &BenchReport) -> usize {
    4 * r.methods.len() + 1
}

#[test]
fn example_report_has_every_plot_and_table() {
    let r = example_report();
    let html = report_html(&r).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_plots(&html, expected_plots(&r));
    // Data plots carry data marks, not only the background.
    for svg in svgs(&html) {
        assert!(svg.contains("<polyline") || svg.contains("<circle") || svg.matches("<rect").count() > 2, "{svg}");
        assert!(svg.contains("<text"), "axis labels are drawn without a font feature");
    }
    assert_eq!(html.matches("class=\"method-row\"").count(), 2, "one headline row per method");
    assert_eq!(html.matches("class=\"attack\"").count(), r.attacks().len(), "one column per attack");
    assert_eq!(html.matches("class=\"family\"").count(), 2, "two attack families");
    for needle in ["STOLEN", "NOT STOLEN", "INCONCLUSIVE", "0 / 3", "ROC AUC", "ARUC", "<details>", "negated"] {
        assert!(html.contains(needle), "missing {needle}");
    }
    assert!(!html.contains("<script"), "no script in the page");
    assert!(!html.contains("<link") && !html.contains("src=") && !html.contains("@import"), "no external resource");
}

#[test]
fn headline_cells_are_coloured_by_correctness() {
    let html = report_html(&example_report()).unwrap();
    let headline = &html[html.find("class=\"headline\"").unwrap()..html.find("</table>").unwrap()];
    // ipguard: caught ftal, missed extraction; sac-m: caught ftal, extraction inconclusive.
    assert_eq!(headline.matches("cell ok\" title=\"score").count(), 2);
    assert_eq!(headline.matches("cell bad\"").count(), 1);
    assert_eq!(headline.matches("cell unsure\"").count(), 1);
    assert!(headline.contains("p = 1.40e-24"));
}

#[test]
fn data_strings_are_escaped() {
    let mut r = example_report();
    let evil = "evil<script>alert('x')</script>&\"";
    let old = r.models[2].name.clone();
    r.models[2].name = evil.into();
    r.title = "a < b & c".into();
    for m in &mut r.methods {
        for row in m.rows.iter_mut().filter(|row| row.model == old) {
            row.model = evil.into();
            row.suspect = evil.into();
        }
        for s in m.summary.negative_scores.iter_mut().filter(|s| s.0 == old) {
            s.0 = evil.into();
        }
        m.generation_summary = "<b>bold</b>".into();
    }
    let html = report_html(&r).unwrap();
    assert!(!html.contains("<script>") && !html.contains("<b>bold"));
    assert!(html.contains("evil&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    assert!(html.contains("<title>a &lt; b &amp; c</title>"));
    let v = &r.methods[0].rows[0].verdict;
    let page = verdict_html(v, &serde_json::json!({ "suspect": "<img src=x>" })).unwrap();
    assert!(!page.contains("<img") && page.contains("&lt;img src=x&gt;"));
}

#[test]
fn no_independents_renders() {
    let mut r = example_report();
    r.models.retain(|m| m.role != ModelRole::Independent);
    for m in &mut r.methods {
        m.rows.retain(|row| row.role != ModelRole::Independent);
        m.summary.negative_scores.clear();
        m.summary.n_negatives = 0;
        m.summary.roc_auc = f64::NAN;
        m.summary.curve.clear();
    }
    let html = report_html(&r).unwrap();
    assert_plots(&html, expected_plots(&r));
    assert!(html.contains("no independents") && html.contains("ROC needs stolen and independent scores"));
}

#[test]
fn no_stolen_and_no_methods_render() {
    let mut r = example_report();
    r.models.retain(|m| m.role != ModelRole::Stolen);
    for m in &mut r.methods {
        m.rows.retain(|row| row.role != ModelRole::Stolen);
        m.summary.positive_scores.clear();
    }
    assert_plots(&report_html(&r).unwrap(), expected_plots(&r));
    r.methods.clear();
    r.models.clear();
    assert_plots(&report_html(&r).unwrap(), 1);
}

#[test]
fn equal_scores_render() {
    let mut r = example_report();
    for m in &mut r.methods {
        for s in m.summary.positive_scores.iter_mut().chain(m.summary.negative_scores.iter_mut()) {
            s.1 = 0.5;
        }
        for row in &mut m.rows {
            row.verdict.score = 0.5;
            row.verdict.p_value = Some(0.5);
            if let Some(t) = &mut row.verdict.threshold {
                t.value = 0.5;
            }
        }
        m.generate_seconds = 0.0;
        m.measure_seconds = 0.0;
        for row in &mut m.rows {
            row.verdict.queries = 0;
        }
    }
    assert_plots(&report_html(&r).unwrap(), expected_plots(&r));
}

#[test]
fn non_finite_values_render_and_are_noted() {
    let mut r = example_report();
    let m = &mut r.methods[0];
    m.summary.positive_scores[0].1 = f64::NAN;
    m.summary.negative_scores[1].1 = f64::INFINITY;
    m.summary.roc_auc = f64::NAN;
    m.rows[0].verdict.score = f64::NAN;
    m.rows[1].verdict.p_value = Some(f64::NAN);
    m.rows[2].verdict.p_value = Some(0.0);
    m.rows[3].verdict.threshold.as_mut().unwrap().value = f64::NAN;
    m.summary.curve[3].robustness = f64::NAN;
    r.wall_seconds = f64::NAN;
    let html = report_html(&r).unwrap();
    assert_plots(&html, expected_plots(&r));
    assert!(html.contains("2 non-finite score(s) not drawn"));
    assert!(html.contains("without a p-value not drawn") && html.contains("(underflow)"));
    let page = verdict_html(&r.methods[0].rows[0].verdict, &serde_json::Value::Null).unwrap();
    assert_plots(&page, 1);
    assert!(page.contains("Non-finite scores are not drawn"));
}

#[test]
fn verdict_pages_render() {
    let r = example_report();
    let context = serde_json::json!({ "evidence": "fp.json", "suspect": "copy.safetensors" });
    for row in r.methods.iter().flat_map(|m| &m.rows) {
        let page = verdict_html(&row.verdict, &context).unwrap();
        assert_plots(&page, 1);
        assert!(page.contains(&row.verdict.decision.to_string()) && page.contains("copy.safetensors"));
        assert!(page.contains(if row.verdict.threshold.is_some() { "calibrated" } else { "nothing could calibrate" }));
    }
    let mut bare = r.methods[1].rows[3].verdict.clone();
    bare.negatives = mown_eval::NegativesSummary {
        count: 0,
        families: Vec::new(),
        highest: None,
        lowest: None,
        fpr_resolution: None,
        models: Vec::new(),
    };
    bare.score = f64::NAN;
    assert_plots(&verdict_html(&bare, &serde_json::Value::Null).unwrap(), 1);
}

#[test]
fn write_report_writes_json_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let r = example_report();
    let (json, html) = write_report(&r, &dir.path().join("out")).unwrap();
    let back: BenchReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(back.methods.len(), 2);
    assert!(std::fs::read_to_string(html).unwrap().contains("<svg"));
}

#[test]
fn roc_points_and_ranges() {
    assert_eq!(roc_points(&[0.9, 0.5], &[0.1, 0.5]), vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
    assert_eq!((decimals(0.0, 0.43, 5), decimals(0.0, 250.0, 5), decimals(-0.06, 0.01, 6)), (1, 0, 2));
    assert_eq!(decimals(0.0, 0.0, 5), 2);
    let (lo, hi) = padded_range([0.5, 0.5]);
    assert!(lo < 0.5 && hi > 0.5);
    assert_eq!(padded_range([f64::NAN]), (0.0, 1.0));
    let (lo, hi) = padded_range([-1e300, 1e300]);
    assert!(lo.is_finite() && hi.is_finite() && lo < hi);
}

/// A `--draw-sizes` sweep adds one plot to each swept method's section (p against m), and a
/// suspect without p-values is noted instead of drawn.
#[test]
fn draw_size_sweep_is_drawn_per_swept_method() {
    use crate::sweep::{DrawSizeSweep, SweepCell, SweepMethod, SweepRow};
    let mut r = example_report();
    let m = &r.methods[1];
    let cell = |p: Option<f64>| SweepCell { p_value: p, decision: mown_eval::Decision::NotStolen };
    let rows = m
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| SweepRow {
            model: row.model.clone(),
            role: row.role,
            attack: None,
            cells: if i == 0 {
                vec![cell(None), cell(None)]
            } else {
                vec![cell(Some(0.3)), cell(Some(1e-4 * i as f64))]
            },
        })
        .collect();
    let swept = SweepMethod { spec: m.spec.clone(), name: m.name.clone(), draws: 30, rows };
    r.draw_sizes = Some(DrawSizeSweep { sizes: vec![4, 20], alpha: r.alpha, methods: vec![swept] });
    let html = report_html(&r).unwrap();
    assert_plots(&html, expected_plots(&r) + 1);
    assert!(html.contains("p-value against samples per draw") && html.contains("2 point(s) without a p-value"));
}

#[test]
fn copies_of_own_owners_get_their_own_table() {
    let mut r = example_report();
    let html = report_html(&r).unwrap();
    assert!(!html.contains("own-copies"), "no table when every method reads the victim");
    let row = &mut r.methods[1].rows[0];
    row.suspect = "train(arc-c,digits,seed=1,epochs=30)+margin-ftal(2)".into();
    row.copy = Some(crate::record::CopyQuality { accuracy: 0.8125, agreement_with_owner: 0.5 });
    row.copy_build_seconds = Some(12.0);
    let html = report_html(&r).unwrap();
    let table = &html[html.find("id=\"own-copies\"").expect("the copies table")..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr><td>").count(), 1, "one row per measured copy");
    for needle in ["sac-m", "margin-ftal(2)", "0.8125", "0.5000", "12.0"] {
        assert!(table.contains(needle), "missing {needle} in {table}");
    }
}
