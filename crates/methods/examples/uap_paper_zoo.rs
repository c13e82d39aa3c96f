//! Seed 003's evaluation on its own kind of zoo (issue #25 parts 3-4): piracy models (the zoo's
//! stolen ones) against homologous models (its independent ones), every model measured once per
//! method and judged by the one decision rule (`verify::judge`) against the homologous models it
//! is not (leave-one-out), so no verdict uses a model twice. Prints Table 2's shape (per
//! architecture and optimizer: mean / std similarity and mean p), AUC, TPR at the lowest FPR the
//! negatives allow, the false-positive rate at alpha with its 95% bound, and costs.
//!   cargo run --release -p mown-methods --example uap_paper_zoo -- ZOO.toml 'PIRACY;...' 'HOMOLOGOUS;...' \
//!     [methods=uap,ipguard,akh,sac-m] [subset=K] [seed=0] [json=PATH]
//! Methods are registry specs with their own settings, e.g. `methods=uap[n=10,views=100,verify_views=20]`
//! or `uap[perturbation=local,local_candidates=top:3]` (`mown methods uap` lists the keys).

use std::collections::BTreeMap;
use std::time::Instant;

use mown_access::LocalModel;
use mown_adversary::zoo::Zoo;
use mown_adversary::{Chain, Step};
use mown_eval::{Decision, NegativeScore, Policy};
use mown_methods::registry::{OwnerInputs, from_spec_with, split_specs};
use mown_methods::uap::ReferenceRole;
use mown_methods::verify::judge;
use mown_methods::{Evidence, Measured};
use mown_nn::Model;
use mown_nn::burn::prelude::Device;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Error = Box<dyn std::error::Error>;

fn opt<'a>(args: &'a [String], key: &str, default: &'a str) -> &'a str {
    args.iter().find_map(|a| a.strip_prefix(&format!("{key}="))).unwrap_or(default)
}

/// A zoo member: its chain, whether it is a piracy model, its Table 2 group, recovery rate.
struct Member {
    name: String,
    piracy: bool,
    group: String,
    recovery: f64,
    model: Model,
}

/// Table 2's rows: homologous models by architecture and optimizer, piracy models by the
/// architecture of the copy and the last attack step.
fn group(chain: &Chain, piracy: bool) -> String {
    match (&chain.steps[0], piracy) {
        (Step::Train { arch, opt, .. }, false) => format!("{arch} {}", opt.map_or("sgd".into(), |o| o.to_string())),
        (_, true) => {
            let student = chain.steps.iter().find_map(|s| match s {
                Step::Extract { arch, .. } | Step::Distill { arch, .. } => Some(arch.to_string()),
                _ => None,
            });
            let last = chain.steps.last().map(|s| s.to_string()).unwrap_or_default();
            let last = last.split('(').next().unwrap_or("").to_string();
            format!("{} {last}", student.unwrap_or_else(|| "victim-arch".into()))
        }
        _ => "?".into(),
    }
}

/// A model's mean score, within-model std and p.
type Row = (f64, f64, f64);

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [zoo_path, piracy_refs, homologous_refs, ..] = args.as_slice() else {
        return Err("usage: uap_paper_zoo ZOO.toml 'PIRACY;...' 'HOMOLOGOUS;...' [key=value ...]".into());
    };
    let zoo = Zoo::load(std::path::Path::new(zoo_path))?;
    let mut b = zoo.builder(Device::flex());
    let victim = b.build(&zoo.victim)?.model;
    let data = b.step_data(&zoo.victim.steps[0])?;
    let victim_accuracy = victim.accuracy(&data.test)?;
    // subset=K keeps every K-th piracy and homologous model (the ablations' cheaper runs).
    let every: usize = opt(&args, "subset", "1").parse()?;
    let keep = |list: &[Chain]| list.iter().step_by(every.max(1)).cloned().collect::<Vec<_>>();
    let (stolen, independent) = (keep(&zoo.stolen), keep(&zoo.independent));
    let mut members = Vec::new();
    for (chain, piracy) in stolen.iter().map(|c| (c, true)).chain(independent.iter().map(|c| (c, false))) {
        let model = b.build(chain)?.model;
        let recovery = model.accuracy(&data.test)? / victim_accuracy;
        members.push(Member { name: chain.to_string(), piracy, group: group(chain, piracy), recovery, model });
    }
    let mut references = Vec::new();
    for recipe in piracy_refs.split(';').filter(|s| !s.trim().is_empty()) {
        let chain = zoo.victim.then(&Chain::parse_attack(recipe)?);
        references.push((chain.to_string(), ReferenceRole::Piracy, b.build(&chain)?.model));
    }
    for text in homologous_refs.split(';').filter(|s| !s.trim().is_empty()) {
        let chain: Chain = text.parse()?;
        references.push((chain.to_string(), ReferenceRole::Homologous, b.build(&chain)?.model));
    }
    if let Some(r) = references.iter().find(|r| members.iter().any(|m| m.name == r.0)) {
        return Err(format!("encoder reference {} is also a zoo member", r.0).into());
    }
    println!("# victim {} test accuracy {victim_accuracy:.4}", zoo.victim);
    let methods = opt(&args, "methods", "uap,ipguard,akh,sac-m");
    let seed = vec![("seed".to_string(), opt(&args, "seed", "0").to_string())];
    let cfg = zoo.training.train_config();
    let inputs = OwnerInputs::new(&victim, &data.owner, &data.test, &cfg).with_references(&references);
    let mut report = Vec::new();
    for spec in split_specs(methods)? {
        let t0 = Instant::now();
        // Every method of the registry, with its own settings: `uap[n=10,level=topk:3]`.
        let method = from_spec_with(&spec, &seed)?;
        let made = method.generate(&inputs)?;
        println!("# {} ({}; {:.1} s)", made.summary, made.timings, t0.elapsed().as_secs_f64());
        let evidence: Box<dyn Evidence> = made.evidence;
        let generated = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let measured: Vec<Measured> = members
            .iter()
            .map(|m| evidence.measure(&mut LocalModel::new(m.model.clone(), evidence.requires(), None)))
            .collect::<Result<_, _>>()?;
        let per_model = t1.elapsed().as_secs_f64() / members.len() as f64;
        let queries = measured.first().map_or(0, |m| m.queries);
        let negative = |i: usize| NegativeScore {
            name: members[i].name.clone(),
            family: Some(members[i].model.meta.spec.arch.family().into()),
            measurement: measured[i].measurement.clone(),
        };
        println!(
            "\n## {}: generated in {generated:.1} s; {per_model:.2} s and {queries} queries per model measured",
            evidence.method()
        );
        for (policy_name, policy) in
            [("pooled", Policy { family_bound: false, ..Policy::default() }), ("bounded", Policy::default())]
        {
            let mut rows = Vec::new();
            for (i, m) in members.iter().enumerate() {
                let negatives: Vec<NegativeScore> =
                    (0..members.len()).filter(|&j| j != i && !members[j].piracy).map(negative).collect();
                let v = judge(evidence.as_ref(), &m.name, measured[i].clone(), &negatives, &policy)?;
                rows.push(v);
            }
            let stolen = |piracy: bool| {
                rows.iter().zip(&members).filter(|(v, m)| m.piracy == piracy && v.decision == Decision::Stolen).count()
            };
            let (n_pir, n_hom) =
                (members.iter().filter(|m| m.piracy).count(), members.iter().filter(|m| !m.piracy).count());
            let fp = stolen(false);
            println!(
                "[{policy_name}] piracy STOLEN {}/{n_pir}; homologous STOLEN (false positives, leave-one-out) {fp}/{n_hom}, \
                 95% upper bound {:.3}; inconclusive {}",
                stolen(true),
                mown_eval::fpr_upper_bound(fp, n_hom, 0.95)?,
                rows.iter().filter(|v| v.decision == Decision::Inconclusive).count()
            );
            if policy_name == "pooled" {
                print_tables(&members, &measured, &rows);
                let score = |piracy: bool| -> Vec<(String, f64)> {
                    members
                        .iter()
                        .zip(&rows)
                        .filter(|(m, _)| m.piracy == piracy)
                        .map(|(m, v)| (m.name.clone(), v.direction.orient(v.score)))
                        .collect()
                };
                let summary = mown_eval::summarize(&evidence.method(), &score(true), &score(false))?;
                print!("{}", mown_eval::summary_table(std::slice::from_ref(&summary)));
                report.push(serde_json::json!({
                    "method": evidence.method(), "summary": summary, "seconds_generate": generated,
                    "seconds_per_verification": per_model, "queries_per_verification": queries,
                    "models": members.iter().zip(&rows).map(|(m, v)| serde_json::json!({
                        "model": m.name, "piracy": m.piracy, "group": m.group, "recovery": m.recovery,
                        "score": v.score, "p": v.p_value, "decision": v.decision.to_string(),
                        "threshold": v.threshold.as_ref().map(|t| t.value),
                    })).collect::<Vec<_>>(),
                }));
            }
        }
    }
    if let Some(path) = args.iter().find_map(|a| a.strip_prefix("json=")) {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

/// Per model, then Table 2's shape: per group, mean / std of the per-fingerprint similarities
/// (samples) or the score (counts), and the mean p.
fn print_tables(members: &[Member], measured: &[Measured], rows: &[mown_eval::Verdict]) {
    // (homologous?, group) -> per model (mean, within-model std, p)
    let mut groups: BTreeMap<(bool, String), Vec<Row>> = BTreeMap::new();
    println!("role        recovery   score    std        p  decision       model");
    for ((m, me), v) in members.iter().zip(measured).zip(rows) {
        let (mean, std) = match &me.measurement {
            mown_eval::Measurement::Samples { values } => mean_std(values),
            counts => (counts.score(), f64::NAN),
        };
        let p = v.p_value.unwrap_or(f64::NAN);
        println!(
            "{:<10} {:>9.3} {mean:>7.3} {std:>6.3} {p:>8.1e}  {:<13} {}",
            if m.piracy { "piracy" } else { "homologous" },
            m.recovery,
            v.decision.to_string(),
            m.name
        );
        groups.entry((!m.piracy, m.group.clone())).or_default().push((mean, std, p));
    }
    println!("Table 2's shape: group, models, mean score (std over models), mean within-model std, mean p");
    for ((homologous, name), values) in &groups {
        let (mean, spread) = mean_std(&values.iter().map(|v| v.0).collect::<Vec<_>>());
        let within = values.iter().map(|v| v.1).sum::<f64>() / values.len() as f64;
        let p = values.iter().map(|v| v.2).sum::<f64>() / values.len() as f64;
        let role = if *homologous { "homologous" } else { "piracy" };
        println!("  {role:<10} {name:<22} {:>2}  {mean:>7.3} ({spread:.3})  {within:.3}  {p:.2e}", values.len());
    }
}
