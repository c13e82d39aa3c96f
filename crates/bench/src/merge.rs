//! Shards' results joined into one report. An unsharded run is the merge of its one shard, so a
//! merged report is the unsharded one by construction: every verdict is decided here, by the one
//! rule (`mown_methods::verify::judge`), from the measurements the shards cached.

use std::collections::BTreeMap;

use anyhow::Context;
use mown_adversary::AttackFamily;
use mown_eval::{Direction, NegativeScore, Policy};

use crate::config::BenchConfig;
use crate::record::{BenchReport, MethodResult, ModelRecord, ModelRole, SuspectRow};
use crate::run::{MeasuredRecord, ShardResult, members};

/// Joins `shards` (every shard of one run of `cfg`, in any order) into the report.
pub fn assemble(cfg: &BenchConfig, shards: &[ShardResult]) -> anyhow::Result<BenchReport> {
    assemble_with(cfg, shards, None)
}

/// [`assemble`], with every samples verdict decided on draws of `draw_size` samples instead of
/// the size its evidence states (the draws and their seed stay the evidence's). Methods whose
/// evidence decides without draws, and count methods, are judged as in [`assemble`]. This is
/// how a draw-size sweep (seed 000's Fig. 4, seed 001's m) reuses the cached measurements.
pub fn assemble_with(
    cfg: &BenchConfig,
    shards: &[ShardResult],
    draw_size: Option<usize>,
) -> anyhow::Result<BenchReport> {
    let first = shards.first().context("no shard results to merge")?;
    let count = first.shard_count;
    let mut seen = vec![false; count];
    for s in shards {
        if s.config_fingerprint != cfg.fingerprint {
            anyhow::bail!(
                "shard {}/{} was run with another config (or zoo) than {}: its fingerprint differs",
                s.shard_index + 1,
                s.shard_count,
                cfg.path.display()
            );
        }
        if s.shard_count != count || s.shard_index >= count {
            anyhow::bail!("shard {}/{} does not belong to a run of {count} shards", s.shard_index + 1, s.shard_count);
        }
        if std::mem::replace(&mut seen[s.shard_index], true) {
            anyhow::bail!("shard {}/{count} is given twice", s.shard_index + 1);
        }
        if s.methods.is_empty() && !cfg.methods.is_empty() {
            anyhow::bail!(
                "shard {}/{count} holds evidence only (--stage evidence); merge the shards of the measuring run",
                s.shard_index + 1
            );
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        anyhow::bail!("shard {}/{count} is missing", missing + 1);
    }
    let members = members(cfg);
    let mut models: Vec<Option<ModelRecord>> = vec![None; members.len()];
    for s in shards {
        for (j, record) in &s.models {
            *models.get_mut(*j).context("a shard names a zoo member the config lacks")? = Some(record.clone());
        }
    }
    let models: Vec<ModelRecord> = models
        .into_iter()
        .zip(&members)
        .map(|(m, (chain, _))| m.with_context(|| format!("no shard measured zoo member {chain}")))
        .collect::<anyhow::Result<_>>()?;
    let policy = Policy { alpha: cfg.alpha, ..Policy::default() };
    let mut methods = Vec::new();
    for (m, spec) in cfg.methods.iter().enumerate() {
        let parts: Vec<_> = shards.iter().map(|s| s.methods.get(m)).collect::<Option<Vec<_>>>().with_context(|| {
            format!("a shard has no results for method {spec}: were all shards run with this config?")
        })?;
        let generation = &parts[0].generation;
        let mut measured: BTreeMap<usize, &MeasuredRecord> = BTreeMap::new();
        for p in &parts {
            if p.spec != *spec || p.generation.evidence_sha256 != generation.evidence_sha256 {
                anyhow::bail!("shards disagree on method {spec}'s evidence (different seeds or settings?)");
            }
            measured.extend(p.measured.iter().map(|(j, r)| (*j, r)));
        }
        methods.push(method_result(spec, generation, &measured, &models, &policy, draw_size)?);
    }
    distinguish_names(&mut methods);
    Ok(BenchReport {
        title: cfg.title.clone(),
        tool: format!("mown {}", env!("CARGO_PKG_VERSION")),
        config_path: cfg.path.display().to_string(),
        config_text: cfg.text.clone(),
        alpha: cfg.alpha,
        victim: first.victim.clone(),
        models,
        methods,
        wall_seconds: shards.iter().map(|s| s.wall_seconds).sum(),
        shards: count,
        draw_sizes: None,
    })
}

/// Methods whose evidence names them alike (`extfeat` at two gammas) are told apart by their
/// spec in every table and plot: the name alone would make two rows look like one method.
fn distinguish_names(methods: &mut [MethodResult]) {
    let names: Vec<String> = methods.iter().map(|m| m.name.clone()).collect();
    for m in methods.iter_mut() {
        if names.iter().filter(|n| **n == m.name).count() > 1 {
            let old = std::mem::take(&mut m.name);
            m.name = if old == m.entry { m.spec.clone() } else { format!("{old} {}", m.spec) };
            for s in std::iter::once(&mut m.summary).chain(m.by_family.iter_mut()) {
                if let Some(rest) = s.method.strip_prefix(&old) {
                    s.method = format!("{}{rest}", m.name);
                }
            }
        }
    }
}

fn method_result(
    spec: &str,
    generation: &crate::run::GenerationRecord,
    measured: &BTreeMap<usize, &MeasuredRecord>,
    models: &[ModelRecord],
    policy: &Policy,
    draw_size: Option<usize>,
) -> anyhow::Result<MethodResult> {
    let sha = crate::run::file_sha256(&generation.evidence_path)
        .with_context(|| format!("{spec}'s evidence (the merge reads the shared cache)"))?;
    if sha != generation.evidence_sha256 {
        anyhow::bail!("{} changed since the shards measured with it", generation.evidence_path.display());
    }
    let evidence = mown_methods::evidence::load(&generation.evidence_path)?;
    let mut policy = policy.clone();
    if let Some(size) = draw_size {
        policy.resampling = evidence.resampling().map(|r| mown_eval::Resampling { size, ..r });
    }
    let policy = &policy;
    let rows_in: Vec<(&ModelRecord, &MeasuredRecord)> = models
        .iter()
        .enumerate()
        .map(|(j, model)| {
            measured.get(&j).map(|r| (model, *r)).with_context(|| format!("{spec} was not measured on {}", model.name))
        })
        .collect::<anyhow::Result<_>>()?;
    let negatives: Vec<(usize, NegativeScore)> = rows_in
        .iter()
        .enumerate()
        .filter(|(_, (m, _))| m.role == ModelRole::Independent)
        .map(|(i, (m, r))| {
            (
                i,
                NegativeScore {
                    name: m.name.clone(),
                    family: Some(m.arch_family.clone()),
                    measurement: r.measurement.clone(),
                },
            )
        })
        .collect();
    let mut rows = Vec::new();
    for (i, (model, r)) in rows_in.iter().enumerate() {
        // Stolen models against every independent one; each independent one against the others.
        let against: Vec<NegativeScore> = negatives.iter().filter(|(k, _)| *k != i).map(|(_, n)| n.clone()).collect();
        let m = mown_methods::Measured {
            measurement: r.measurement.clone(),
            queries: r.queries,
            details: r.details.clone(),
        };
        let verdict = mown_methods::verify::judge(evidence.as_ref(), &r.suspect, m, &against, policy)?;
        rows.push(SuspectRow {
            model: model.name.clone(),
            suspect: r.suspect.clone(),
            suspect_sha256: r.suspect_sha256.clone(),
            role: model.role,
            verdict,
            copy_build_seconds: r.copy_build_seconds,
            copy: r.copy,
            seconds: r.seconds,
        });
    }
    let direction = evidence.direction();
    let name = evidence.method();
    let oriented = |role: ModelRole, keep: &dyn Fn(&ModelRecord) -> bool| -> Vec<(String, f64)> {
        rows_in
            .iter()
            .filter(|(m, _)| m.role == role && keep(m))
            .map(|(m, r)| (m.name.clone(), direction.orient(r.measurement.score())))
            .collect()
    };
    let neg = oriented(ModelRole::Independent, &|_| true);
    let summary = mown_eval::summarize(&name, &oriented(ModelRole::Stolen, &|_| true), &neg)?;
    // In the order the papers group attacks: post-processing, functionality stealing, adversarial training.
    let families =
        [AttackFamily::PostProcessing, AttackFamily::FunctionalityStealing, AttackFamily::AdversarialTraining]
            .map(AttackFamily::name)
            .into_iter()
            .filter(|f| models.iter().any(|m| m.attack_family.as_deref() == Some(*f)));
    let mut by_family = Vec::new();
    for family in families {
        let pos = oriented(ModelRole::Stolen, &|m| m.attack_family.as_deref() == Some(family));
        by_family.push(mown_eval::summarize(&format!("{name} [{family}]"), &pos, &neg)?);
    }
    let entry = mown_methods::registry::entry(&mown_methods::registry::parse_spec(spec)?.0)?;
    Ok(MethodResult {
        spec: spec.to_string(),
        name,
        entry: entry.name.to_string(),
        evidence_kind: evidence.kind().name().to_string(),
        requires: evidence.requires().to_string(),
        direction: match direction {
            Direction::Higher => "higher".into(),
            Direction::Lower => "lower".into(),
        },
        owner_effect: match entry.effect {
            mown_methods::registry::OwnerEffect::Reads => "reads the owner",
            mown_methods::registry::OwnerEffect::Tunes => "fine-tunes the owner",
            mown_methods::registry::OwnerEffect::Trains => "trains its own owner",
        }
        .to_string(),
        evidence_sha256: generation.evidence_sha256.clone(),
        owner_sha256: evidence.owner_sha256().to_string(),
        settings: generation.settings.clone(),
        generation_summary: generation.summary.clone(),
        generate_seconds: generation.seconds,
        generate_timings: generation.timings.clone(),
        measure_seconds: rows.iter().map(|r| r.seconds).sum(),
        rows,
        summary,
        by_family,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn methods_named_alike_are_told_apart_by_their_spec() {
        let mut r = crate::html::example::example_report();
        let (entry, spec) = (r.methods[0].entry.clone(), r.methods[1].spec.clone());
        for m in &mut r.methods {
            m.name = entry.clone();
            m.summary.method = entry.clone();
        }
        r.methods[1].entry = entry.clone();
        super::distinguish_names(&mut r.methods);
        assert_ne!(r.methods[0].name, r.methods[1].name);
        assert_eq!(r.methods[1].name, spec);
        assert_eq!(r.methods[1].summary.method, spec);
        // A name of its own (not the entry's) keeps it, with the spec beside it.
        let mut r = crate::html::example::example_report();
        r.methods[1].name = r.methods[0].name.clone();
        r.methods[1].entry = "other".into();
        r.methods[0].entry = "other".into();
        super::distinguish_names(&mut r.methods);
        assert!(r.methods[1].name.ends_with(&r.methods[1].spec) && r.methods[1].name.len() > r.methods[1].spec.len());
    }
}
