//! One process's share of a benchmark: the evidence of its methods, and the measurements of its
//! zoo members under every method, each cached by content in the zoo's cache folder so that a
//! second run (or another shard on a shared folder) measures nothing twice.
//!
//! Work is split two ways: evidence by method (method m belongs to shard m mod N) and
//! measurements by zoo member (member j belongs to shard j mod N, which also builds that model and
//! the copies of it that owner-changing methods need). A shard that needs evidence another shard
//! has not written yet generates it itself (identical bytes: every method is seeded); running
//! `--stage evidence` as a first array job avoids that duplicate work.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use mown_access::LocalModel;
use mown_adversary::build::Builder;
use mown_adversary::{AttackFamily, Chain};
use mown_eval::Measurement;
use mown_methods::Evidence;
use mown_methods::registry::{self, Method, OwnerEffect, OwnerInputs};
use mown_methods::uap::ReferenceRole;
use mown_nn::{Model, io};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{BenchConfig, Shard};
use crate::record::{CopyQuality, ModelRecord, ModelRole};

/// Which part of the work a process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Evidence of this shard's methods, then this shard's measurements.
    All,
    /// Only the evidence of this shard's methods (a first array job).
    Evidence,
}

impl std::str::FromStr for Stage {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Stage> {
        match s {
            "all" => Ok(Stage::All),
            "evidence" => Ok(Stage::Evidence),
            other => anyhow::bail!("stage '{other}': all or evidence"),
        }
    }
}

/// How a method's evidence was made, kept beside it in the cache.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GenerationRecord {
    pub spec: String,
    pub evidence_path: PathBuf,
    pub evidence_sha256: String,
    pub settings: serde_json::Value,
    pub summary: String,
    pub seconds: f64,
    /// The method's own seconds per phase (e.g. near-boundary's CW-L2, DCGAN and fine-tuning),
    /// as it reported them when it generated; null when loaded from the cache.
    #[serde(default)]
    pub timings: serde_json::Value,
}

/// One suspect measured under one method, as cached.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeasuredRecord {
    /// The model measured: the zoo member, or for a method with its own owner, the copy of it.
    pub suspect: String,
    pub suspect_sha256: String,
    pub measurement: Measurement,
    pub queries: usize,
    pub details: serde_json::Value,
    pub seconds: f64,
    /// For a copy of a method's own owner: seconds to build it, when this bench built it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_build_seconds: Option<f64>,
    /// For a copy of a method's own owner: its accuracy and its agreement with that owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<CopyQuality>,
}

/// A method's part of a shard's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodShard {
    pub spec: String,
    pub generation: GenerationRecord,
    /// (zoo member index, measurement) for the members this shard owns.
    pub measured: Vec<(usize, MeasuredRecord)>,
}

/// What one shard writes (`shard-I-of-N.json`); `mown bench merge` joins them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardResult {
    pub config_fingerprint: String,
    pub shard_index: usize,
    pub shard_count: usize,
    pub victim: ModelRecord,
    /// (zoo member index, record) for the members this shard owns.
    pub models: Vec<(usize, ModelRecord)>,
    pub methods: Vec<MethodShard>,
    pub wall_seconds: f64,
}

/// The zoo's members in report order: stolen chains, then independent ones.
pub fn members(cfg: &BenchConfig) -> Vec<(Chain, ModelRole)> {
    let zoo = &cfg.zoo;
    zoo.stolen
        .iter()
        .map(|c| (c.clone(), ModelRole::Stolen))
        .chain(zoo.independent.iter().map(|c| (c.clone(), ModelRole::Independent)))
        .collect()
}

/// Runs `shard`'s work at `stage` and returns its results (no measurements for `Stage::Evidence`).
pub fn run_shard(
    cfg: &BenchConfig,
    device: mown_nn::burn::prelude::Device,
    shard: Shard,
    stage: Stage,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<ShardResult> {
    let started = Instant::now();
    let zoo = &cfg.zoo;
    let mut builder = zoo.builder(device);
    let built_victim = builder.build(&zoo.victim)?;
    let victim_seconds = (!built_victim.from_cache).then_some(built_victim.seconds);
    let victim = built_victim.model;
    let victim_sha = io::model_sha256(&victim)?;
    let data = builder.step_data(&zoo.victim.steps[0])?;
    let victim_labels = victim.predict(data.test.images())?;
    // Accuracy and agreement cost a pass over the test images: cached by the two models' hashes
    // (with the seconds the model took to build here, so that every later run reports the same).
    let record_for = |name: String,
                      role: ModelRole,
                      model: &Model,
                      queries: usize,
                      build_seconds: Option<f64>|
     -> anyhow::Result<ModelRecord> {
        let path = zoo.cache_dir.join("bench").join("models").join(format!(
            "{}-{}.json",
            &io::model_sha256(model)?[..16],
            &victim_sha[..16]
        ));
        match read_json::<ModelRecord>(&path) {
            Some(r) if r.name == name && r.role == role => Ok(r),
            _ => {
                let attack = name.strip_prefix(&format!("{}-", zoo.victim)).map(String::from);
                let r = model_record(&name, role, attack, model, &victim_labels, &data.test, queries, build_seconds)?;
                write_json_atomic(&path, &r)?;
                read_json(&path).context("re-reading a model record just cached")
            }
        }
    };
    let victim_record = record_for(zoo.victim.to_string(), ModelRole::Victim, &victim, 0, victim_seconds)?;
    let members = members(cfg);
    let methods: Vec<Box<dyn Method>> =
        cfg.methods.iter().map(|spec| configured(spec, &cfg.settings)).collect::<anyhow::Result<_>>()?;
    let mut gens: Vec<Option<Generation>> = methods.iter().map(|_| None).collect();
    // This shard's evidence first, so that shards run side by side each make their own; then,
    // to measure, any other method's (from the cache, or made here when no shard wrote it yet).
    let passes: &[bool] = if stage == Stage::Evidence { &[true] } else { &[true, false] };
    for &own in passes {
        for (m, method) in methods.iter().enumerate() {
            if shard.owns(m) == own && gens[m].is_none() {
                let made = generation(
                    cfg,
                    &cfg.methods[m],
                    method.as_ref(),
                    &mut builder,
                    &victim,
                    &victim_sha,
                    &members,
                    log,
                )?;
                gens[m] = Some(made);
            }
        }
    }
    let mut result = ShardResult {
        config_fingerprint: cfg.fingerprint.clone(),
        shard_index: shard.index,
        shard_count: shard.count,
        victim: victim_record,
        models: Vec::new(),
        methods: Vec::new(),
        wall_seconds: 0.0,
    };
    if stage == Stage::Evidence {
        result.wall_seconds = started.elapsed().as_secs_f64();
        return Ok(result);
    }
    let mut per_method: Vec<Vec<(usize, MeasuredRecord)>> = methods.iter().map(|_| Vec::new()).collect();
    // The own owners' labels on the test split, for their copies' agreement: made on first need,
    // so that a warm run (every measurement cached) makes none.
    let mut owner_labels: Vec<Option<Vec<usize>>> = methods.iter().map(|_| None).collect();
    for (j, (chain, role)) in members.iter().enumerate() {
        if !shard.owns(j) {
            continue;
        }
        // A stolen member is the zoo's recipe applied to each method's owner: to the zoo's victim
        // for methods that read it, to their own owner for methods that change it. When no method
        // reads the zoo's victim, its copy would be built for nothing: the row's model record then
        // describes the first method's copy (its accuracy, agreement and hash).
        let own_copies = *role == ModelRole::Stolen;
        let mut suspects: Vec<Option<(Model, Option<f64>, usize)>> = Vec::with_capacity(gens.len());
        for made in &gens {
            let (_, _, own_owner) = made.as_ref().expect("generated above");
            suspects.push(match (own_owner, own_copies) {
                (Some((owner_name, owner)), true) => {
                    let copy = builder
                        .build_on(owner_name, owner, &zoo.victim.steps[0], &chain.steps[1..])
                        .with_context(|| format!("building {chain} on {owner_name}"))?;
                    let seconds = (!copy.from_cache).then_some(copy.seconds);
                    Some((copy.model, seconds, copy.queries_used))
                }
                _ => None,
            });
        }
        let needs_member = suspects.iter().any(Option::is_none);
        let built =
            if needs_member { Some(builder.build(chain).with_context(|| format!("building {chain}"))?) } else { None };
        let (described, queries, build_seconds) = match &built {
            Some(b) => (&b.model, b.queries_used, (!b.from_cache).then_some(b.seconds)),
            None => {
                let (model, seconds, queries) = suspects[0].as_ref().expect("no member: every method has its copy");
                (model, *queries, *seconds)
            }
        };
        let record = record_for(chain.to_string(), *role, described, queries, build_seconds)?;
        result.models.push((j, record));
        for (m, (made, own)) in gens.iter().zip(suspects).enumerate() {
            let (gen_record, evidence, own_owner) = made.as_ref().expect("generated above");
            let (suspect, copy_seconds) = match own {
                Some((model, seconds, _)) => (model, seconds),
                None => (built.as_ref().expect("built when a method reads the member").model.clone(), None),
            };
            let mut quality = |copy: &Model| -> anyhow::Result<Option<CopyQuality>> {
                let Some((_, owner)) = own_owner.as_ref().filter(|_| own_copies) else { return Ok(None) };
                let labels = match &mut owner_labels[m] {
                    Some(l) => l,
                    slot => slot.insert(owner.predict(data.test.images())?),
                };
                let (accuracy, agreement_with_owner) = accuracy_and_agreement(copy, labels, &data.test)?;
                Ok(Some(CopyQuality { accuracy, agreement_with_owner }))
            };
            let measured = measure_cached(cfg, gen_record, evidence.as_ref(), &suspect, copy_seconds, &mut quality)
                .with_context(|| format!("{} on {chain}", gen_record.spec))?;
            per_method[m].push((j, measured));
        }
        let how = match &built {
            Some(b) if b.from_cache => "from the cache".to_string(),
            Some(b) => format!("built in {:.1} s", b.seconds),
            None => "not built: every method measured its own owner's copy".to_string(),
        };
        log(&format!("measured {chain} under {} methods (model {how})", methods.len()));
    }
    for (made, measured) in gens.into_iter().zip(per_method) {
        let (generation, _, _) = made.expect("generated above");
        result.methods.push(MethodShard { spec: generation.spec.clone(), generation, measured });
    }
    result.wall_seconds = started.elapsed().as_secs_f64();
    Ok(result)
}

/// `spec` with the config's shared settings that its entry takes.
pub fn configured(spec: &str, settings: &[(String, String)]) -> anyhow::Result<Box<dyn Method>> {
    let (name, _) = registry::parse_spec(spec)?;
    let entry = registry::entry(&name)?;
    let shared: Vec<(String, String)> =
        settings.iter().filter(|(k, _)| entry.params.iter().any(|p| p.key == k)).cloned().collect();
    Ok(registry::from_spec_with(spec, &shared)?)
}

type Generation = (GenerationRecord, Box<dyn Evidence>, Option<(String, Model)>);

/// The method's evidence (and its own owner, for methods that change it), from the cache or made.
#[allow(clippy::too_many_arguments)]
fn generation(
    cfg: &BenchConfig,
    spec: &str,
    method: &dyn Method,
    builder: &mut Builder,
    victim: &Model,
    victim_sha: &str,
    members: &[(Chain, ModelRole)],
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<Generation> {
    let zoo = &cfg.zoo;
    let entry = method.entry();
    let spec = spec.to_string();
    let references_named: Vec<String> =
        if entry.references { reference_chains(cfg)?.iter().map(|c| c.0.to_string()).collect() } else { Vec::new() };
    let key_text =
        format!("{}\u{0}{}\u{0}{victim_sha}\u{0}{}", entry.name, method.settings(), references_named.join(";"));
    let key = hex::encode(Sha256::digest(key_text.as_bytes()));
    let dir = zoo.cache_dir.join("bench");
    let record_path = dir.join("generated").join(format!("{}-{}.json", sanitize(&spec), &key[..16]));
    if entry.effect != OwnerEffect::Reads {
        let t0 = Instant::now();
        let owner = crate::owner::method_owner(method, zoo, builder, victim)?;
        let evidence_path = builder
            .cache_path_for(&owner.name)
            .map(|p| p.with_extension("evidence.json"))
            .context("the bench needs a cache folder")?;
        let fresh = !owner.from_cache;
        let record = match read_json::<GenerationRecord>(&record_path) {
            Some(r) if !fresh && r.evidence_sha256 == file_sha256(&evidence_path)? => r,
            _ => {
                let r = GenerationRecord {
                    spec: spec.clone(),
                    evidence_sha256: file_sha256(&evidence_path)?,
                    evidence_path,
                    settings: method.settings(),
                    summary: owner.summary.clone(),
                    seconds: if fresh { t0.elapsed().as_secs_f64() } else { 0.0 },
                    timings: owner.timings.clone(),
                };
                write_json_atomic(&record_path, &r)?;
                r
            }
        };
        log(&generation_line(&spec, &record));
        return Ok((record, owner.evidence, Some((owner.name, owner.model))));
    }
    if let Some(record) = read_json::<GenerationRecord>(&record_path)
        && file_sha256(&record.evidence_path).ok().as_deref() == Some(record.evidence_sha256.as_str())
        && let Ok(evidence) = mown_methods::evidence::load(&record.evidence_path)
        && evidence.owner_sha256() == victim_sha
    {
        log(&format!("{spec}: evidence from the cache ({})", record.evidence_path.display()));
        return Ok((record, evidence, None));
    }
    let t0 = Instant::now();
    let references = if entry.references { build_references(cfg, builder, members)? } else { Vec::new() };
    let data = builder.step_data(&zoo.victim.steps[0])?;
    let train_cfg = zoo.training.train_config();
    let inputs = OwnerInputs::new(victim, &data.owner, &data.test, &train_cfg).with_references(&references);
    let generated = method.generate(&inputs)?;
    let evidence_path = dir.join("evidence").join(format!("{}-{}.evidence.json", sanitize(&spec), &key[..16]));
    std::fs::create_dir_all(evidence_path.parent().expect("has a parent"))?;
    let tmp = evidence_path.with_extension(format!("tmp{}", std::process::id()));
    generated.evidence.write(&tmp)?;
    std::fs::rename(&tmp, &evidence_path)?;
    let record = GenerationRecord {
        spec: spec.clone(),
        evidence_sha256: file_sha256(&evidence_path)?,
        evidence_path,
        settings: method.settings(),
        summary: generated.summary,
        seconds: t0.elapsed().as_secs_f64(),
        timings: generated.timings.clone(),
    };
    write_json_atomic(&record_path, &record)?;
    log(&generation_line(&spec, &record));
    Ok((record, generated.evidence, None))
}

/// The log line of a method's evidence: its summary, and its seconds (per phase, where the
/// method reports them) when it was made here.
fn generation_line(spec: &str, record: &GenerationRecord) -> String {
    match (record.timings.is_null(), record.seconds > 0.0) {
        (true, false) => format!("{spec}: {}", record.summary),
        (true, true) => format!("{spec}: {} ({:.1} s)", record.summary, record.seconds),
        (false, _) => format!("{spec}: {} ({:.1} s; phases {})", record.summary, record.seconds, record.timings),
    }
}

/// UAP's encoder references as chains (piracy recipes applied to the victim, homologous chains).
fn reference_chains(cfg: &BenchConfig) -> anyhow::Result<Vec<(Chain, ReferenceRole)>> {
    let mut out = Vec::new();
    for recipe in &cfg.uap.piracy {
        out.push((cfg.zoo.victim.then(&Chain::parse_attack(recipe)?), ReferenceRole::Piracy));
    }
    for text in &cfg.uap.homologous {
        out.push((text.parse::<Chain>()?, ReferenceRole::Homologous));
    }
    Ok(out)
}

fn build_references(
    cfg: &BenchConfig,
    builder: &mut Builder,
    members: &[(Chain, ModelRole)],
) -> anyhow::Result<Vec<(String, ReferenceRole, Model)>> {
    let mut out = Vec::new();
    for (chain, role) in reference_chains(cfg)? {
        if members.iter().any(|m| m.0 == chain) {
            anyhow::bail!(
                "the encoder reference {chain} is also a zoo member: it would be judged by a verifier fitted on it"
            );
        }
        out.push((chain.to_string(), role, builder.build(&chain)?.model));
    }
    Ok(out)
}

/// The suspect measured under the evidence, or the cached measurement of the same pair.
fn measure_cached(
    cfg: &BenchConfig,
    made: &GenerationRecord,
    evidence: &dyn Evidence,
    suspect: &Model,
    copy_build_seconds: Option<f64>,
    copy_quality: &mut dyn FnMut(&Model) -> anyhow::Result<Option<CopyQuality>>,
) -> anyhow::Result<MeasuredRecord> {
    let suspect_sha = io::model_sha256(suspect)?;
    let path = cfg.zoo.cache_dir.join("bench").join("scores").join(format!(
        "{}-{}.json",
        &made.evidence_sha256[..16],
        &suspect_sha[..16]
    ));
    if let Some(record) = read_json::<MeasuredRecord>(&path)
        && record.suspect_sha256 == suspect_sha
    {
        return Ok(record);
    }
    let t0 = Instant::now();
    let mut api = LocalModel::new(suspect.clone(), evidence.requires(), None);
    let measured = evidence.measure(&mut api)?;
    let record = MeasuredRecord {
        suspect: suspect.meta.provenance.derivation.clone(),
        suspect_sha256: suspect_sha,
        measurement: measured.measurement,
        queries: measured.queries,
        details: measured.details,
        seconds: t0.elapsed().as_secs_f64(),
        copy_build_seconds,
        copy: copy_quality(suspect)?,
    };
    write_json_atomic(&path, &record)?;
    // What a warm run will read: serde_json's default float parsing is not always the exact
    // inverse of its printing, and a cold and a warm report must decide on the same numbers.
    read_json(&path).context("re-reading a measurement just cached")
}

/// `victim_labels`: the victim's labels on `test`, computed once per run (each model's own
/// labels are its one pass over the test images: accuracy and agreement both come from them).
#[allow(clippy::too_many_arguments)]
fn model_record(
    name: &str,
    role: ModelRole,
    attack: Option<String>,
    model: &Model,
    victim_labels: &[usize],
    test: &mown_data::Dataset,
    queries: usize,
    build_seconds: Option<f64>,
) -> anyhow::Result<ModelRecord> {
    let (accuracy, agreement_with_victim) = accuracy_and_agreement(model, victim_labels, test)?;
    let chain: Option<Chain> = name.parse().ok();
    let attack_family = match role {
        ModelRole::Stolen => {
            Some(chain.and_then(|c| c.family()).unwrap_or(AttackFamily::PostProcessing).name().to_string())
        }
        _ => None,
    };
    Ok(ModelRecord {
        name: name.to_string(),
        role,
        attack,
        attack_family,
        arch_family: model.meta.spec.arch.family().to_string(),
        sha256: io::model_sha256(model)?,
        accuracy,
        agreement_with_victim,
        queries,
        build_seconds,
    })
}

/// `model`'s accuracy on `test` and its agreement with `labels` there: one pass over the images.
fn accuracy_and_agreement(model: &Model, labels: &[usize], test: &mown_data::Dataset) -> anyhow::Result<(f64, f64)> {
    let predicted = model.predict(test.images())?;
    let share = |other: &[usize]| {
        predicted.iter().zip(other).filter(|(a, b)| a == b).count() as f64 / predicted.len().max(1) as f64
    };
    Ok((share(test.labels()), share(labels)))
}

/// A file name part from a method spec (`extfeat[style=patch]` -> `extfeat_style_patch_`).
fn sanitize(spec: &str) -> String {
    spec.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

pub(crate) fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// A cached record, or None when it is missing or unreadable (then it is made again).
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes through a temporary file and a rename, so that a shard reading a shared cache never
/// sees half a record.
pub(crate) fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let dir = path.parent().context("a cache file has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
