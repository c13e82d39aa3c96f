//! A small synthetic report (2 methods, 2 stolen, 3 independent models) for tests and demos of
//! the page; its numbers are made up but shaped like a real run's.

use mown_eval::{Decision, Direction, NegativeRecord, NegativesSummary, Threshold, ThresholdSource, Verdict};

use crate::record::{BenchReport, MethodResult, ModelRecord, ModelRole, SuspectRow};

fn model(
    name: &str,
    role: ModelRole,
    attack: Option<(&str, &str)>,
    arch: &str,
    acc: f64,
    queries: usize,
) -> ModelRecord {
    ModelRecord {
        name: name.into(),
        role,
        attack: attack.map(|a| a.0.into()),
        attack_family: attack.map(|a| a.1.into()),
        arch_family: arch.into(),
        sha256: format!("{:0>64}", format!("{:x}", name.len() * 7919 + queries)),
        accuracy: acc,
        agreement_with_victim: if role == ModelRole::Independent { acc - 0.03 } else { acc - 0.01 },
        queries,
        build_seconds: Some(1.5),
    }
}

struct Method {
    name: &'static str,
    direction: Direction,
    /// Per zoo member: raw score, p-value, queries.
    rows: [(f64, Option<f64>, usize); 5],
    /// Index of the row with no threshold (an INCONCLUSIVE verdict).
    uncalibrated: Option<usize>,
}

/// A verdict by the one rule, with the threshold just beyond the most copy-like negative.
fn judge(m: &Method, models: &[ModelRecord], i: usize, alpha: f64) -> Verdict {
    let (score, p, queries) = m.rows[i];
    let negatives: Vec<NegativeRecord> = models
        .iter()
        .enumerate()
        .filter(|(k, n)| n.role == ModelRole::Independent && *k != i)
        .map(|(k, n)| NegativeRecord { name: n.name.clone(), family: Some(n.arch_family.clone()), score: m.rows[k].0 })
        .collect();
    let scores = negatives.iter().map(|n| n.score);
    let threshold = (m.uncalibrated != Some(i) && !negatives.is_empty()).then(|| {
        let value = match m.direction {
            Direction::Higher => scores.clone().fold(f64::NEG_INFINITY, f64::max).next_up(),
            Direction::Lower => scores.clone().fold(f64::INFINITY, f64::min).next_down(),
        };
        let source = ThresholdSource::Calibrated { negatives: negatives.len(), target_fpr: 0.05, achieved_fpr: 0.0 };
        Threshold { value, source, direction: m.direction }
    });
    let passes = threshold.as_ref().map(|t| t.passes(score));
    let significant = p.map(|p| p < alpha);
    let decision = match (passes, significant) {
        (Some(true), Some(true)) => Decision::Stolen,
        (Some(false), Some(false)) => Decision::NotStolen,
        _ => Decision::Inconclusive,
    };
    let mut families: Vec<String> = negatives.iter().filter_map(|n| n.family.clone()).collect();
    families.sort();
    families.dedup();
    Verdict {
        method: m.name.into(),
        suspect: models[i].name.clone(),
        decision,
        rule: "counts: STOLEN when the score passes the calibrated threshold and p < alpha; NOT STOLEN when neither; \
               otherwise INCONCLUSIVE"
            .into(),
        alpha,
        score,
        direction: m.direction,
        p_value_null: p.map(|_| "the suspect matches like the independent models (binomial)".into()),
        p_value: p,
        threshold,
        other_p_values: Vec::new(),
        effect_size: None,
        negatives: NegativesSummary {
            count: negatives.len(),
            families,
            highest: negatives.iter().map(|n| n.score).reduce(f64::max),
            lowest: negatives.iter().map(|n| n.score).reduce(f64::min),
            fpr_resolution: (!negatives.is_empty()).then(|| 1.0 / negatives.len() as f64),
            models: negatives,
        },
        queries,
        reasons: match decision {
            Decision::Inconclusive if passes.is_none() => vec!["no threshold could be calibrated".into()],
            Decision::Inconclusive => vec!["the threshold and the p-value disagree".into()],
            _ => Vec::new(),
        },
        warnings: Vec::new(),
        details: serde_json::json!({ "probes": 100 }),
    }
}

/// The synthetic report: ipguard-TL (higher = copy) and sac-m (a distance: lower = copy).
#[doc(hidden)]
pub fn example_report() -> BenchReport {
    let alpha = 0.05;
    let victim = model("train(arc-c,digits,seed=1,epochs=30)", ModelRole::Victim, None, "arc", 0.97, 0);
    let models = vec![
        model("ftal(2)", ModelRole::Stolen, Some(("ftal(2)", "post-processing")), "arc", 0.96, 0),
        model(
            "extract(arc-a,labels,same,budget=1000,epochs=4)",
            ModelRole::Stolen,
            Some(("extract(arc-a,labels,same,budget=1000,epochs=4)", "functionality-stealing")),
            "arc",
            0.91,
            1000,
        ),
        model("train(lenet5,digits,seed=21)", ModelRole::Independent, None, "lenet", 0.95, 0),
        model("train(mlp,digits,seed=22)", ModelRole::Independent, None, "mlp", 0.93, 0),
        model("train(arc-b,digits,seed=23)", ModelRole::Independent, None, "arc", 0.96, 0),
    ];
    let methods = [
        Method {
            name: "ipguard-TL",
            direction: Direction::Higher,
            rows: [
                (0.93, Some(1.4e-24), 100),
                (0.21, Some(0.31), 100),
                (0.14, Some(0.96), 100),
                (0.19, Some(0.62), 100),
                (0.31, Some(0.08), 100),
            ],
            uncalibrated: None,
        },
        Method {
            name: "sac-m",
            direction: Direction::Lower,
            rows: [
                (0.012, Some(3.0e-5), 250),
                (0.041, Some(0.2), 250),
                (0.35, Some(0.9), 250),
                (0.28, None, 250),
                (0.19, Some(0.4), 250),
            ],
            uncalibrated: Some(3),
        },
    ];
    let results = methods
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let rows: Vec<SuspectRow> = (0..models.len())
                .map(|i| SuspectRow {
                    model: models[i].name.clone(),
                    suspect: models[i].name.clone(),
                    suspect_sha256: models[i].sha256.clone(),
                    role: models[i].role,
                    verdict: judge(m, &models, i, alpha),
                    copy_build_seconds: None,
                    copy: None,
                    seconds: 0.4 + 0.1 * i as f64,
                })
                .collect();
            let oriented = |role| -> Vec<(String, f64)> {
                (0..models.len())
                    .filter(|&i| models[i].role == role)
                    .map(|i| (models[i].name.clone(), m.direction.orient(m.rows[i].0)))
                    .collect()
            };
            let neg = oriented(ModelRole::Independent);
            let summary = mown_eval::summarize(m.name, &oriented(ModelRole::Stolen), &neg).expect("finite scores");
            let by_family = ["post-processing", "functionality-stealing"]
                .iter()
                .map(|f| {
                    let pos: Vec<(String, f64)> = oriented(ModelRole::Stolen)
                        .into_iter()
                        .filter(|p| models.iter().any(|x| x.name == p.0 && x.attack_family.as_deref() == Some(f)))
                        .collect();
                    mown_eval::summarize(&format!("{} [{f}]", m.name), &pos, &neg).expect("finite scores")
                })
                .collect();
            MethodResult {
                spec: if k == 0 { "ipguard".into() } else { "sac-m".into() },
                name: m.name.into(),
                entry: if k == 0 { "ipguard".into() } else { "sac".into() },
                evidence_kind: if k == 0 { "fingerprint".into() } else { "correlation".into() },
                requires: if k == 0 { "labels".into() } else { "probs".into() },
                direction: if m.direction == Direction::Higher { "higher".into() } else { "lower".into() },
                owner_effect: "reads the owner".into(),
                evidence_sha256: format!("{:0>64}", k + 1),
                owner_sha256: victim.sha256.clone(),
                settings: serde_json::json!({ "seed": 7, "n": 100 }),
                generation_summary: format!("{}: 100 points, all converged", m.name),
                generate_seconds: 3.5 * (k + 1) as f64,
                generate_timings: serde_json::Value::Null,
                measure_seconds: rows.iter().map(|r| r.seconds).sum(),
                rows,
                summary,
                by_family,
            }
        })
        .collect();
    BenchReport {
        draw_sizes: None,
        title: "example benchmark".into(),
        tool: "mown (example)".into(),
        config_path: "bench/example.toml".into(),
        config_text: "title = \"example benchmark\"\nmethods = [\"ipguard\", \"sac-m\"]\nalpha = 0.05\n".into(),
        alpha,
        victim,
        models,
        methods: results,
        wall_seconds: 12.5,
        shards: 1,
    }
}
