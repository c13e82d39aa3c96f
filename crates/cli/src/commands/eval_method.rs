//! `mown eval-method`: robustness, uniqueness, ARUC, ROC AUC and TPR at 1% FPR of ownership
//! methods over a zoo's stolen (positive) and independent (negative) models, and each method's
//! verdicts by the one rule (stolen models against all independents, independents leave-one-out).
//!
//! A thin front end over the benchmark (crate mown-bench): the flags are written as a bench
//! config, run as one unsharded `mown bench methods` (so evidence and scores are cached in the
//! zoo's cache folder, and methods that change the owner get their own owner and copies), and the
//! report is printed as R/U summaries instead of the verdict grid.

use std::path::PathBuf;

use anyhow::Context;
use mown_bench::config::UapReferences;
use mown_bench::{BenchConfig, BenchReport, MethodResult, ModelRole, Shard, Stage};
use mown_eval::Decision;
use mown_methods::registry;

use super::DeviceArgs;
use super::fingerprint::MethodFlags;

#[derive(clap::Args, Debug)]
pub struct EvalMethodArgs {
    /// Comma-separated methods of the registry (`mown methods`), each NAME or NAME[KEY=VALUE,...]:
    /// ipguard, cw-l2, fgsm, igsm, random, uap, sac-w, sac-m, akh (SAC on labels: sac-w[labels]).
    /// The parameter flags below apply to every listed method that has the parameter.
    pub methods: String,
    /// uap: attack recipes applied to the victim for the encoder's piracy references,
    /// ';'-separated (none of the zoo's own models may be among them).
    #[arg(long, value_delimiter = ';')]
    pub uap_piracy: Vec<String>,
    /// uap: train(...) chains of the encoder's homologous references, ';'-separated.
    #[arg(long, value_delimiter = ';')]
    pub uap_homologous: Vec<String>,
    /// The zoo (victim, stolen variants, independent models); built or loaded from its cache.
    /// The victim is the owner every method reads (or starts its own owner from).
    #[arg(long)]
    pub zoo: PathBuf,
    #[command(flatten)]
    pub flags: MethodFlags,
    /// Write the summaries (with the R/U curves and every score) as JSON here: `all` (every stolen
    /// model), `by_family` (post-processing, functionality stealing, adversarial training),
    /// `verdicts` (each model's decision and p-value) and `agreement_with_victim`.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Significance level of the verdicts.
    #[arg(long, default_value_t = mown_eval::DEFAULT_ALPHA)]
    pub alpha: f64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: EvalMethodArgs) -> anyhow::Result<()> {
    let cfg = bench_config(&a)?;
    let result =
        mown_bench::run_shard(&cfg, a.device.device()?, Shard::WHOLE, Stage::All, &mut |line| eprintln!("{line}"))?;
    let report = mown_bench::assemble(&cfg, &[result])?;
    let summaries: Vec<_> = report.methods.iter().map(|m| m.summary.clone()).collect();
    let by_family: Vec<_> = report.methods.iter().flat_map(|m| m.by_family.clone()).collect();
    println!("all stolen models against the independent ones:");
    print!("{}", mown_eval::summary_table(&summaries));
    if report.methods.first().is_some_and(|m| m.by_family.len() > 1) {
        // IPGuard's own zoo (seed 002 §4.1) is post-processing only; this row is the comparable one.
        println!("\nby attack family (each against all independent models):");
        print!("{}", mown_eval::summary_table(&by_family));
    }
    println!("\nverdicts by the one rule (stolen models against all independent ones; independents leave-one-out):");
    for method in &report.methods {
        println!("  {}", verdict_line(method, report.alpha)?);
    }
    if let Some(path) = &a.json {
        let verdicts: Vec<serde_json::Value> = report
            .methods
            .iter()
            .map(|m| serde_json::json!({ "method": m.name, "verdicts": verdict_rows(m) }))
            .collect();
        let fidelity: Vec<serde_json::Value> = report
            .models
            .iter()
            .map(|m| {
                serde_json::json!({
                    "model": m.name,
                    "stolen": m.role == ModelRole::Stolen,
                    "agreement": m.agreement_with_victim,
                })
            })
            .collect();
        let out = serde_json::json!({
            "all": summaries,
            "by_family": by_family,
            "verdicts": verdicts,
            "agreement_with_victim": fidelity,
            "seconds": seconds(&report),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The flags as a bench config, checked by the same code as a config file.
fn bench_config(a: &EvalMethodArgs) -> anyhow::Result<BenchConfig> {
    let title = format!("mown eval-method {} --zoo {}", a.methods, a.zoo.display());
    let uap = UapReferences { piracy: a.uap_piracy.clone(), homologous: a.uap_homologous.clone() };
    let methods = registry::split_specs(&a.methods)?;
    BenchConfig::from_parts(&title, &a.zoo, &methods, a.alpha, &a.flags.settings()?, &uap)
}

/// Detections, inconclusive, false positives with their 95% upper bound.
fn verdict_line(m: &MethodResult, alpha: f64) -> anyhow::Result<String> {
    let count =
        |role: ModelRole, d: Decision| m.rows.iter().filter(|r| r.role == role && r.verdict.decision == d).count();
    let stolen = m.rows.iter().filter(|r| r.role == ModelRole::Stolen).count();
    let (fp, independents) = m.false_positives();
    Ok(format!(
        "{}: STOLEN {}/{stolen} stolen models ({} inconclusive); false positives {fp}/{independents} independents \
         leave-one-out (95% upper bound {:.3}) at alpha {alpha}",
        m.name,
        count(ModelRole::Stolen, Decision::Stolen),
        count(ModelRole::Stolen, Decision::Inconclusive),
        if independents > 0 { mown_eval::fpr_upper_bound(fp, independents, 0.95)? } else { 1.0 },
    ))
}

/// Each zoo member's decision and p-value, stolen and independent apart.
fn verdict_rows(m: &MethodResult) -> serde_json::Value {
    let rows = |role: ModelRole| -> Vec<serde_json::Value> {
        m.rows
            .iter()
            .filter(|r| r.role == role)
            .map(|r| {
                serde_json::json!({
                    "model": r.model,
                    "decision": r.verdict.decision.to_string(),
                    "p_value": r.verdict.p_value,
                })
            })
            .collect()
    };
    serde_json::json!({ "stolen": rows(ModelRole::Stolen), "independent": rows(ModelRole::Independent) })
}

/// Seconds per method (generation, measurement of all suspects, building the copies of a
/// method's own owner; 0 where cached) and the wall time.
fn seconds(report: &BenchReport) -> serde_json::Value {
    let methods: Vec<serde_json::Value> = report
        .methods
        .iter()
        .map(|m| {
            let copies: f64 = m.rows.iter().filter_map(|r| r.copy_build_seconds).sum();
            serde_json::json!({
                "method": m.name,
                "generate": m.generate_seconds,
                "measure": m.measure_seconds,
                "build_copies": copies,
            })
        })
        .collect();
    serde_json::json!({ "wall": report.wall_seconds, "methods": methods })
}
