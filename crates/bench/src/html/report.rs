//! The benchmark report page: headline methods x attacks table, one section per method (plots,
//! verdicts, evidence), the cost plot, and the models and config.

use std::fmt::Write as _;

use mown_eval::{Decision, Direction, Verdict};

use super::plots::{self, INDEPENDENT, Marker, STOLEN, Strip};
use super::{esc, figure, json_pre, num, p_text, page, secs, source_kind, threshold_text};
use crate::record::{BenchReport, MethodResult, ModelRecord, ModelRole, SuspectRow};

/// The whole benchmark as one self-contained HTML page.
pub fn report_html(report: &BenchReport) -> anyhow::Result<String> {
    let mut b = String::new();
    header(&mut b, report)?;
    headline(&mut b, report)?;
    for (i, m) in report.methods.iter().enumerate() {
        method_section(&mut b, report, i, m)?;
    }
    costs(&mut b, report)?;
    models(&mut b, report)?;
    Ok(page(&report.title, &b))
}

fn header(b: &mut String, r: &BenchReport) -> anyhow::Result<()> {
    let count = |role| r.models.iter().filter(|m| m.role == role).count();
    writeln!(b, "<h1>{}</h1>", esc(&r.title))?;
    writeln!(
        b,
        "<p class=\"meta\">{} &middot; alpha {} &middot; wall time {} s &middot; {} shard(s) &middot; {} method(s), \
         {} stolen and {} independent model(s) &middot; config <code>{}</code></p>",
        esc(&r.tool),
        r.alpha,
        secs(r.wall_seconds),
        r.shards,
        r.methods.len(),
        count(ModelRole::Stolen),
        count(ModelRole::Independent),
        esc(&r.config_path)
    )?;
    writeln!(
        b,
        "<p class=\"howto\"><b>How to read this.</b> Every method reduces a suspect to a score and is judged by one \
         rule: <b>STOLEN</b> needs the score past a threshold calibrated on independent models <em>and</em> a \
         p-value below alpha ({}); <b>NOT STOLEN</b> means neither holds (no evidence of copying, not proof of \
         independence); <b>INCONCLUSIVE</b> means too little evidence either way (one test passed but not the other, \
         or nothing could calibrate a threshold). Stolen copies are judged against all independent models; each \
         independent model is judged leave-one-out against the others, so its row is an honest false-positive \
         test. Green marks a correct verdict, red a missed copy or a false accusation, amber an inconclusive one; \
         hover a cell for its score and threshold.</p>",
        r.alpha
    )?;
    if !r.methods.is_empty() {
        let links: Vec<String> = r
            .methods
            .iter()
            .enumerate()
            .map(|(i, m)| format!("<a href=\"#method-{i}\">{}</a>", esc(&m.name)))
            .collect();
        writeln!(
            b,
            "<p class=\"small\">Methods: {} &middot; <a href=\"#costs\">costs</a> &middot; <a href=\"#models\">models</a></p>",
            links.join(" &middot; ")
        )?;
    }
    Ok(())
}

/// Green for a right verdict, red for a wrong one, amber for INCONCLUSIVE.
fn judged_class(role: ModelRole, d: Decision) -> &'static str {
    match (role, d) {
        (_, Decision::Inconclusive) => "unsure",
        (ModelRole::Stolen, Decision::Stolen) | (ModelRole::Independent, Decision::NotStolen) => "ok",
        (ModelRole::Stolen, Decision::NotStolen) | (ModelRole::Independent, Decision::Stolen) => "bad",
        (ModelRole::Victim, _) => "none",
    }
}

fn role_name(role: ModelRole) -> &'static str {
    match role {
        ModelRole::Victim => "victim",
        ModelRole::Stolen => "stolen",
        ModelRole::Independent => "independent",
    }
}

/// "score 0.93 (>= 0.38, calibrated: ...)" for title attributes.
fn score_title(v: &Verdict) -> String {
    let threshold = match &v.threshold {
        Some(t) => format!("threshold {}", t.describe()),
        None => "no threshold".into(),
    };
    let p = match (v.p_value, &v.p_value_null) {
        (Some(p), Some(null)) => format!("p = {} under H0: {null}", mown_eval::format_p(p)),
        (p, _) => format!("p = {}", p_text(p)),
    };
    format!("score {}; {threshold}; {p}", num(v.score))
}

/// Attack columns grouped by family, families in order of first appearance.
fn attack_groups(r: &BenchReport) -> Vec<(String, Vec<&ModelRecord>)> {
    let mut groups: Vec<(String, Vec<&ModelRecord>)> = Vec::new();
    for m in r.attacks() {
        let family = m.attack_family.clone().unwrap_or_else(|| "attack".into());
        match groups.iter_mut().find(|g| g.0 == family) {
            Some(g) => g.1.push(m),
            None => groups.push((family, vec![m])),
        }
    }
    groups
}

fn row_for<'a>(m: &'a MethodResult, model: &str) -> Option<&'a SuspectRow> {
    m.rows.iter().find(|r| r.model == model)
}

pub(crate) fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(xs[n / 2]),
        _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
    }
}

fn median_queries(m: &MethodResult) -> Option<f64> {
    median(m.rows.iter().map(|r| r.verdict.queries as f64).collect())
}

fn headline(b: &mut String, r: &BenchReport) -> anyhow::Result<()> {
    let groups = attack_groups(r);
    writeln!(b, "<h2 id=\"headline\">Methods &times; attacks</h2>")?;
    writeln!(b, "<div class=\"scroll\"><table class=\"headline\">\n<thead><tr><th rowspan=\"2\">method</th>")?;
    for (family, models) in &groups {
        writeln!(b, "<th class=\"family\" colspan=\"{}\">{}</th>", models.len(), esc(family))?;
    }
    writeln!(
        b,
        "<th rowspan=\"2\">false positives<br><span class=\"small\">STOLEN / independents</span></th>\
         <th rowspan=\"2\">queries<br><span class=\"small\">median per verification</span></th>\
         <th rowspan=\"2\">seconds<br><span class=\"small\">generate + measure</span></th></tr>\n<tr>"
    )?;
    for m in groups.iter().flat_map(|g| &g.1) {
        let attack = m.attack.as_deref().unwrap_or(&m.name);
        writeln!(b, "<th class=\"attack\" title=\"{}\"><code>{}</code></th>", esc(&m.name), esc(attack))?;
    }
    writeln!(b, "</tr></thead>\n<tbody>")?;
    for (i, method) in r.methods.iter().enumerate() {
        write!(
            b,
            "<tr class=\"method-row\"><th><a href=\"#method-{i}\">{}</a><br><span class=\"small\">{}; {}</span></th>",
            esc(&method.name),
            esc(&method.requires),
            esc(&method.owner_effect)
        )?;
        for m in groups.iter().flat_map(|g| &g.1) {
            match row_for(method, &m.name) {
                Some(row) => write!(
                    b,
                    "<td class=\"cell {}\" title=\"{}\">{}<br><span class=\"small\">p = {}</span></td>",
                    judged_class(ModelRole::Stolen, row.verdict.decision),
                    esc(&score_title(&row.verdict)),
                    row.verdict.decision,
                    esc(&p_text(row.verdict.p_value))
                )?,
                None => write!(b, "<td class=\"none\">not measured</td>")?,
            }
        }
        let (fp, n) = method.false_positives();
        let unsure = method
            .rows
            .iter()
            .filter(|r| r.role == ModelRole::Independent && r.verdict.decision == Decision::Inconclusive)
            .count();
        if n == 0 {
            write!(b, "<td class=\"none\">no independents</td>")?;
        } else {
            let bound = mown_eval::fpr_upper_bound(fp, n, 0.95)
                .map(|u| format!("FPR &le; {u:.3} (95%)"))
                .unwrap_or_else(|_| "no bound".into());
            let unsure = if unsure > 0 { format!("; {unsure} inconclusive") } else { String::new() };
            write!(
                b,
                "<td class=\"cell {}\">{fp} / {n}<br><span class=\"small\">{bound}{unsure}</span></td>",
                if fp == 0 { "ok" } else { "bad" }
            )?;
        }
        let queries = median_queries(method).map(|q| format!("{q:.0}")).unwrap_or_else(|| "-".into());
        writeln!(
            b,
            "<td class=\"num\">{queries}</td><td class=\"num\" title=\"generate {} s + measure {} s\">{}</td></tr>",
            secs(method.generate_seconds),
            secs(method.measure_seconds),
            secs(method.generate_seconds + method.measure_seconds)
        )?;
    }
    writeln!(b, "</tbody></table></div>")?;
    Ok(())
}

/// The orientation of a method's scores: from its verdicts, else from its `direction` field.
fn direction(m: &MethodResult) -> Direction {
    match m.rows.first() {
        Some(r) => r.verdict.direction,
        None if m.direction == "lower" => Direction::Lower,
        None => Direction::Higher,
    }
}

/// Finite values of `(name, score)` pairs and how many were not finite.
fn finite(scores: &[(String, f64)]) -> (Vec<f64>, usize) {
    let v: Vec<f64> = scores.iter().map(|s| s.1).filter(|s| s.is_finite()).collect();
    let skipped = scores.len() - v.len();
    (v, skipped)
}

fn method_section(b: &mut String, r: &BenchReport, i: usize, m: &MethodResult) -> anyhow::Result<()> {
    let s = &m.summary;
    let dir = direction(m);
    writeln!(b, "<section id=\"method-{i}\">\n<h2>{}</h2>", esc(&m.name))?;
    writeln!(
        b,
        "<p class=\"meta\">spec <code>{}</code> &middot; entry {} &middot; evidence {} &middot; requires {} &middot; \
         copies score {} &middot; {}</p>",
        esc(&m.spec),
        esc(&m.entry),
        esc(&m.evidence_kind),
        esc(&m.requires),
        esc(&m.direction),
        esc(&m.owner_effect)
    )?;
    writeln!(
        b,
        "<p>ROC AUC <b>{}</b> &middot; ARUC <b>{}</b> &middot; TPR {} at FPR &le; {} (95% upper bound on the FPR {}) \
         &middot; gap {} &middot; {} stolen, {} independent</p>",
        num(s.roc_auc),
        num(s.aruc),
        num(s.tpr_at_low_fpr.tpr),
        num(s.low_fpr),
        num(s.fpr_upper_95),
        num(s.gap),
        s.n_positives,
        s.n_negatives
    )?;

    let (pos, pos_skip) = finite(&s.positive_scores);
    let (neg, neg_skip) = finite(&s.negative_scores);
    let skipped = match pos_skip + neg_skip {
        0 => String::new(),
        k => format!(" <span class=\"warn\">{k} non-finite score(s) not drawn.</span>"),
    };
    // Stolen rows share one calibration (all independents); independents' thresholds are
    // leave-one-out and differ, so only the stolen rows' thresholds are drawn.
    let mut thresholds: Vec<(f64, f64)> = m
        .rows
        .iter()
        .filter(|row| row.role == ModelRole::Stolen)
        .filter_map(|row| row.verdict.threshold.as_ref().map(|t| (t.value, row.verdict.direction.orient(t.value))))
        .filter(|t| t.1.is_finite())
        .collect();
    thresholds.sort_by(|a, b| a.1.total_cmp(&b.1));
    thresholds.dedup_by(|a, b| a.1 == b.1);
    // IPGuard's tau grid is (0, 1]: scores outside it are min-max rescaled for the R/U curve
    // (mown_eval::summarize), so tau is then in rescaled units.
    let outside_grid = pos.iter().chain(&neg).any(|&x| !(0.0..=1.0).contains(&x));
    let ru_note = if outside_grid {
        " These scores lie outside [0, 1]: tau runs over them rescaled to [0, 1] (lowest score 0, highest 1)."
    } else {
        ""
    };
    let orientation = match dir {
        Direction::Higher => "Scores as measured: higher means closer to the owner.".to_string(),
        Direction::Lower => "This method's copies score <em>lower</em> (a distance), so scores and threshold are \
                             negated here: right still means closer to the owner."
            .to_string(),
    };
    let threshold_note = match thresholds.as_slice() {
        [] => "No stolen row carries a threshold.".to_string(),
        ts => {
            let raw: Vec<String> = ts.iter().map(|t| num(t.0)).collect();
            format!("Dashed: the stolen rows' calibrated threshold (raw {}).", raw.join(", "))
        }
    };

    writeln!(b, "<div class=\"plots\">")?;
    let roc = plots::roc(&pos, &neg, thresholds.first().map(|t| t.1))?;
    let cap = format!(
        "<b>ROC</b>, AUC {}: stolen against independent models as the threshold falls through the scores; circled, the \
         calibrated threshold.{skipped}",
        num(s.roc_auc)
    );
    b.push_str(&figure(&roc, &cap));
    let ru = plots::ru_curves(&s.curve)?;
    let cap = format!(
        "<b>Robustness and uniqueness</b> (IPGuard) against tau on the oriented scores, ARUC {}: the fraction of \
         stolen models at or above tau, and of independent ones below it.{ru_note}",
        num(s.aruc)
    );
    b.push_str(&figure(&ru, &cap));
    let markers: Vec<Marker> = thresholds
        .iter()
        .map(|t| Marker { x: t.1, label: format!("threshold {}", num(t.0)), color: plotters::prelude::BLACK })
        .collect();
    let strips = [
        Strip { label: format!("stolen ({})", pos.len()), values: pos.clone(), color: STOLEN, size: 5 },
        Strip { label: format!("independent ({})", neg.len()), values: neg.clone(), color: INDEPENDENT, size: 5 },
    ];
    let x_desc = if dir == Direction::Lower { "score (negated)" } else { "score" };
    let scores = plots::strips("score distributions", &strips, &markers, x_desc, false)?;
    b.push_str(&figure(
        &scores,
        &format!("<b>Scores</b>, stolen against independent. {orientation} {threshold_note}{skipped}"),
    ));
    b.push_str(&pvalue_figure(r, m)?);
    if let Some(sweep) = r.draw_sizes.as_ref().and_then(|s| s.methods.iter().find(|s| s.spec == m.spec)) {
        b.push_str(&draw_size_figure(r, sweep)?);
    }
    writeln!(b, "</div>")?;

    if !m.by_family.is_empty() {
        writeln!(
            b,
            "<h3>By attack family</h3>\n<table><tr><th>family</th><th>stolen</th><th>ROC AUC</th><th>ARUC</th><th>gap</th></tr>"
        )?;
        for f in &m.by_family {
            writeln!(
                b,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&f.method),
                f.n_positives,
                num(f.roc_auc),
                num(f.aruc),
                num(f.gap)
            )?;
        }
        writeln!(b, "</table>")?;
    }
    verdict_table(b, m)?;
    writeln!(b, "<h3>Evidence</h3>")?;
    if !m.generation_summary.is_empty() {
        writeln!(b, "<pre>{}</pre>", esc(&m.generation_summary))?;
    }
    writeln!(
        b,
        "<p class=\"small\">evidence SHA-256 <span class=\"mono\">{}</span><br>owner SHA-256 <span class=\"mono\">{}</span>\
         <br>generated in {} s, measured in {} s</p>",
        esc(&m.evidence_sha256),
        esc(&m.owner_sha256),
        secs(m.generate_seconds),
        secs(m.measure_seconds)
    )?;
    if !m.generate_timings.is_null() {
        writeln!(b, "<details><summary>seconds per phase</summary>{}</details>", json_pre(&m.generate_timings))?;
    }
    writeln!(b, "<details><summary>settings</summary>{}</details>\n</section>", json_pre(&m.settings))?;
    Ok(())
}

fn pvalue_figure(r: &BenchReport, m: &MethodResult) -> anyhow::Result<String> {
    let (mut missing, mut underflow) = (0, 0);
    let mut strip = |role: ModelRole| -> Vec<f64> {
        let mut out = Vec::new();
        for row in m.rows.iter().filter(|row| row.role == role) {
            match row.verdict.p_value.filter(|p| p.is_finite() && *p >= 0.0) {
                None => missing += 1,
                Some(p) => {
                    if p < f64::MIN_POSITIVE {
                        underflow += 1;
                    }
                    out.push(p.max(f64::MIN_POSITIVE).log10());
                }
            }
        }
        out
    };
    let (stolen, independent) = (strip(ModelRole::Stolen), strip(ModelRole::Independent));
    let strips = [
        Strip { label: format!("stolen ({})", stolen.len()), values: stolen, color: STOLEN, size: 5 },
        Strip {
            label: format!("independent ({})", independent.len()),
            values: independent,
            color: INDEPENDENT,
            size: 5,
        },
    ];
    let markers = if r.alpha > 0.0 {
        vec![Marker { x: r.alpha.log10(), label: format!("alpha {}", r.alpha), color: plotters::prelude::BLACK }]
    } else {
        Vec::new()
    };
    let svg = plots::strips("p-value distributions", &strips, &markers, "p-value (log scale)", true)?;
    let mut cap =
        "<b>p-values</b> of the verdicts, log scale; left of the dashed alpha line is significant.".to_string();
    if missing > 0 {
        cap.push_str(&format!(" {missing} verdict(s) without a p-value not drawn."));
    }
    if underflow > 0 {
        cap.push_str(&format!(" {underflow} p-value(s) of 0 (underflow) drawn at 2.2e-308."));
    }
    Ok(figure(&svg, &cap))
}

/// Seed 000's Fig. 4 for one method of a `--draw-sizes` run.
fn draw_size_figure(r: &BenchReport, sweep: &crate::sweep::SweepMethod) -> anyhow::Result<String> {
    let sizes = r.draw_sizes.as_ref().map(|s| s.sizes.clone()).unwrap_or_default();
    let mut dropped = 0;
    let curves: Vec<plots::PCurve> = sweep
        .rows
        .iter()
        .filter(|row| row.role != ModelRole::Victim)
        .map(|row| plots::PCurve {
            stolen: row.role == ModelRole::Stolen,
            points: sizes
                .iter()
                .zip(&row.cells)
                .filter_map(|(&m, c)| match c.p_value.filter(|p| p.is_finite() && *p >= 0.0) {
                    Some(p) => Some((m as f64, p.max(f64::MIN_POSITIVE).log10())),
                    None => {
                        dropped += 1;
                        None
                    }
                })
                .collect(),
        })
        .collect();
    let svg = plots::draw_size_curves(&curves, r.alpha)?;
    let mut cap = format!(
        "<b>p-value against samples per draw</b> ({} draws each; the verdicts decided again from the same \
         measurements). Below the dashed alpha line is significant.",
        sweep.draws
    );
    if dropped > 0 {
        cap.push_str(&format!(" {dropped} point(s) without a p-value not drawn."));
    }
    Ok(figure(&svg, &cap))
}

fn verdict_table(b: &mut String, m: &MethodResult) -> anyhow::Result<()> {
    writeln!(b, "<h3>Verdicts</h3>")?;
    let rules: Vec<&str> = m.rows.iter().map(|r| r.verdict.rule.as_str()).filter(|r| !r.is_empty()).collect();
    let common = rules.first().copied().filter(|first| rules.iter().all(|r| r == first));
    if let Some(rule) = common {
        writeln!(b, "<p class=\"small\"><b>Rule</b> (every row): {}</p>", esc(rule))?;
    }
    writeln!(
        b,
        "<div class=\"scroll\"><table class=\"verdicts\"><tr><th>model</th><th>role</th><th>decision</th><th>score</th><th>threshold</th>\
         <th>p-value</th><th>queries</th><th>seconds</th><th>notes</th></tr>"
    )?;
    for row in &m.rows {
        let v = &row.verdict;
        let suspect = if row.suspect != row.model {
            format!("<br><span class=\"small\">measured {}</span>", esc(&row.suspect))
        } else {
            String::new()
        };
        let threshold = match &v.threshold {
            Some(t) => format!(
                "<span title=\"{} ({})\">{}</span><br><span class=\"small\">{}</span>",
                t.value,
                esc(&t.describe()),
                esc(&threshold_text(t)),
                source_kind(&t.source)
            ),
            None => "<span class=\"none\">none</span>".into(),
        };
        let null = v.p_value_null.as_deref().map(|n| format!(" title=\"H0: {}\"", esc(n))).unwrap_or_default();
        let mut notes = Vec::new();
        if common.is_none() && !v.rule.is_empty() {
            notes.push(format!("rule: {}", esc(&v.rule)));
        }
        notes.extend(v.reasons.iter().map(|x| format!("inconclusive because: {}", esc(x))));
        notes.extend(v.warnings.iter().map(|x| format!("<span class=\"warn\">warning: {}</span>", esc(x))));
        writeln!(
            b,
            "<tr><td><code>{}</code>{suspect}</td><td>{}</td><td class=\"cell {}\">{}</td><td class=\"num\">{}</td>\
             <td>{threshold}</td><td class=\"num\"{null}>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"small\">{}</td></tr>",
            esc(&row.model),
            role_name(row.role),
            judged_class(row.role, v.decision),
            v.decision,
            num(v.score),
            esc(&p_text(v.p_value)),
            v.queries,
            secs(row.seconds),
            notes.join("<br>")
        )?;
    }
    writeln!(b, "</table></div>")?;
    Ok(())
}

fn costs(b: &mut String, r: &BenchReport) -> anyhow::Result<()> {
    let names: Vec<String> = r.methods.iter().map(|m| m.name.clone()).collect();
    let queries: Vec<f64> = r.methods.iter().map(|m| median_queries(m).unwrap_or(f64::NAN)).collect();
    let seconds: Vec<f64> =
        r.methods.iter().map(|m| (m.generate_seconds + m.measure_seconds) / m.rows.len().max(1) as f64).collect();
    writeln!(b, "<h2 id=\"costs\">Queries and seconds per verification</h2>\n<div class=\"plots\">")?;
    let svg = plots::cost_bars(&names, &queries, &seconds)?;
    let cap = "Median images sent to a suspect per verification, and seconds per verification (generating the \
               evidence plus measuring every suspect, divided by the number of suspects; 0 s for a cached result).";
    b.push_str(&figure(&svg, cap));
    writeln!(b, "</div>")?;
    Ok(())
}

fn models(b: &mut String, r: &BenchReport) -> anyhow::Result<()> {
    writeln!(
        b,
        "<h2 id=\"models\">Models</h2>\n<div class=\"scroll\"><table class=\"models\"><tr><th>model</th><th>role</th><th>attack</th>\
         <th>attack family</th><th>architecture family</th><th>accuracy</th><th>agreement with victim</th>\
         <th>queries</th><th>seconds to build</th><th>SHA-256</th></tr>"
    )?;
    for m in std::iter::once(&r.victim).chain(&r.models) {
        let short: String = m.sha256.chars().take(12).collect();
        writeln!(
            b,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"mono\" title=\"{}\">{}</td></tr>",
            esc(&m.name),
            role_name(m.role),
            m.attack.as_deref().map(|a| format!("<code>{}</code>", esc(a))).unwrap_or_default(),
            esc(m.attack_family.as_deref().unwrap_or("")),
            esc(&m.arch_family),
            num(m.accuracy),
            num(m.agreement_with_victim),
            m.queries,
            m.build_seconds.map(|t| format!("{t:.1}")).unwrap_or_else(|| "cached".into()),
            esc(&m.sha256),
            esc(&short)
        )?;
    }
    writeln!(b, "</table></div>")?;
    own_copies(b, r)?;
    writeln!(b, "<h3>Config</h3>\n<p class=\"small\"><code>{}</code></p>", esc(&r.config_path))?;
    writeln!(b, "<pre>{}</pre>", esc(&r.config_text))?;
    Ok(())
}

/// The copies that methods with their own owner measured instead of the zoo member: the Models
/// table describes the member (or, where no method read it, the first method's copy).
fn own_copies(b: &mut String, r: &BenchReport) -> anyhow::Result<()> {
    let rows: Vec<(&MethodResult, &SuspectRow, &crate::record::CopyQuality)> = r
        .methods
        .iter()
        .flat_map(|m| m.rows.iter().filter_map(move |row| row.copy.as_ref().map(|q| (m, row, q))))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(
        b,
        "<h3 id=\"own-copies\">Copies of the methods' own owners</h3>\n<p class=\"small\">Methods that change the \
         owner are measured on the zoo's recipes re-applied to their own owner; accuracy on the victim's test split, \
         agreement with that method's owner.</p>\n<div class=\"scroll\"><table class=\"copies\"><tr><th>method</th>\
         <th>zoo member</th><th>copy measured</th><th>accuracy</th><th>agreement with its owner</th>\
         <th>seconds to build</th></tr>"
    )?;
    for (m, row, q) in rows {
        writeln!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&m.name),
            esc(&row.model),
            esc(&row.suspect),
            num(q.accuracy),
            num(q.agreement_with_owner),
            row.copy_build_seconds.map(|t| format!("{t:.1}")).unwrap_or_else(|| "cached".into()),
        )?;
    }
    writeln!(b, "</table></div>")?;
    Ok(())
}
