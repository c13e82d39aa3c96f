//! `mown eval-watermark`: embed each watermark scheme into the zoo's victim (same architecture,
//! data, seed and epochs), apply the zoo's attack recipes to the watermarked owner, and measure
//! the watermark accuracy of every stolen copy and every independent model, side by side.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mown_access::{AccessLevel, LocalModel};
use mown_adversary::Step;
use mown_adversary::zoo::Zoo;
use mown_methods::watermark::{Scheme, TriggerWatermark, without_triggers};
use mown_methods::{Evidence, LabelProbe, WatermarkKey, Watermarker};
use mown_nn::{Model, ModelMeta, ModelSpec, TrainConfig, io};
use serde::Serialize;

use super::DeviceArgs;
use super::watermark::WatermarkOptions;

#[derive(clap::Args, Debug)]
pub struct EvalWatermarkArgs {
    /// Comma-separated schemes: margin, plain.
    pub schemes: String,
    /// The zoo: its victim's root step is trained with each watermark, its stolen recipes are
    /// applied to the watermarked model, its independent models are the negatives.
    #[arg(long)]
    pub zoo: PathBuf,
    #[command(flatten)]
    pub wm: WatermarkOptions,
    /// Also apply every stolen recipe to the owner's no-watermark twin and score that copy
    /// against each key ("twin copy" rows): the control that tells a watermark carried into the
    /// copy from an attack that lands on the watermark labels by itself. Twin copies are neither
    /// positives nor negatives in the summaries; they cost one more run of each recipe.
    #[arg(long)]
    pub controls: bool,
    /// Write every row and the summaries as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// One model's scores against one scheme's key.
#[derive(Clone, Debug, Serialize)]
struct Row {
    scheme: String,
    role: &'static str,
    model: String,
    accuracy: f64,
    watermark_accuracy: f64,
    /// Binomial tail against the chance rate 1/(C-1).
    p_value_chance: f64,
    /// Beta-binomial tail under a null fitted to the independent models (`mown_eval::fitted`);
    /// an independent model's own row is left out of the fit for its p-value.
    p_value_fitted: Option<f64>,
    matches: usize,
    probes: usize,
    queries: usize,
    /// Time to build the model; `None` when it came from the zoo's cache (build time is not
    /// stored with a cached model).
    seconds: Option<f64>,
}

pub fn run(a: EvalWatermarkArgs) -> anyhow::Result<()> {
    let zoo = Zoo::load(&a.zoo)?;
    let device = a.device.device()?;
    let base = zoo.training.train_config();
    let mut builder = zoo.builder(device.clone());
    let root = zoo.victim.steps[0].clone();
    let Step::Train { arch, data: data_name, seed, epochs, .. } = &root else {
        anyhow::bail!(
            "eval-watermark trains the watermarked owners from the victim's train(...) step; this zoo's victim is {root}"
        )
    };
    let data = builder.step_data(&root)?;
    let clean_victim = builder.build(&zoo.victim)?;
    // The twin's copies do not depend on the scheme: build them once.
    let mut twin_copies = Vec::new();
    if a.controls {
        for chain in &zoo.stolen {
            let built = builder.build(chain)?;
            let seconds = built_seconds(&built);
            twin_copies.push((format!("T-{}", recipe_label(chain)), built.model, seconds));
        }
    }
    let (mut rows, mut summaries) = (Vec::new(), Vec::new());
    for scheme in a.schemes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let params = a.wm.params(scheme.parse::<Scheme>()?)?;
        // Trigger transformations are named only when set, so earlier owners keep their keys.
        let aug = if params.trigger_aug.is_identity() { String::new() } else { format!(",aug={}", params.trigger_aug) };
        let name = format!(
            "{}-wm({},n={},labels={},eps={:.5},k={},lambda={},tb={}{aug},seed={})",
            zoo.victim,
            params.scheme,
            params.n,
            params.label_rule,
            params.eps,
            params.steps,
            params.lambda,
            params.trigger_batch,
            params.seed
        );
        let path = builder.cache_path_for(&name).context("the zoo needs a cache directory")?;
        let key_path = path.with_extension("key.json");
        let t0 = std::time::Instant::now();
        let (owner, key, owner_cached) = match load_owner(&path, &key_path, &name, &device) {
            Some((owner, key)) => (owner, key, true),
            None => {
                let spec = ModelSpec::new(*arch, data.owner.shape, data.owner.num_classes)?;
                let mut meta = ModelMeta::for_dataset(spec, &data.owner)?;
                meta.provenance.derivation = zoo.victim.to_string();
                meta.provenance.dataset = data_name.clone();
                let init = Model::init(meta, &device, *seed);
                let cfg = TrainConfig { epochs: *epochs, seed: *seed, ..base.clone() };
                let mut marker = TriggerWatermark::new(params.clone());
                if params.label_rule != mown_methods::watermark::LabelRule::Random {
                    marker.clean = Some(clean_victim.model.clone());
                }
                let (mut owner, key) = marker.embed(init, &data.owner, &data.test, &cfg)?;
                owner.meta.provenance.derivation = name.clone();
                io::save(&owner, &path)?;
                key.save(&key_path)?;
                (owner, key, false)
            }
        };
        let embed_seconds = (!owner_cached).then(|| t0.elapsed().as_secs_f64());
        let test = without_triggers(&data.test, &key.source_indices)?;
        let score =
            |role: &'static str, model_name: String, model: &Model, seconds: Option<f64>| -> anyhow::Result<Row> {
                let mut api = LocalModel::new(model.clone(), AccessLevel::Labels, None);
                let m = key.match_suspect(&mut api)?;
                let chance = key.chance_rate().unwrap_or(1.0 / (key.num_classes - 1) as f64);
                let row = Row {
                    scheme: params.scheme.to_string(),
                    role,
                    model: model_name,
                    accuracy: model.accuracy(&test)?,
                    watermark_accuracy: m.matching_rate,
                    p_value_chance: mown_eval::binomial_upper_tail(m.matches, m.n, chance)?,
                    p_value_fitted: None,
                    matches: m.matches,
                    probes: m.n,
                    queries: m.queries,
                    seconds,
                };
                eprintln!(
                    "{:<7} {:<11} acc {:.4}  wm acc {:.4}  p {:.1e}  {:>8}  {}",
                    row.scheme,
                    row.role,
                    row.accuracy,
                    row.watermark_accuracy,
                    row.p_value_chance,
                    seconds_cell(seconds),
                    row.model
                );
                Ok(row)
            };
        let owner_row = score("owner", name.clone(), &owner, embed_seconds)?;
        if let Some(warning) = mown_methods::watermark::embedding_warning(owner_row.matches, owner_row.probes) {
            eprintln!("{warning}");
        }
        let mut scheme_rows = vec![
            owner_row,
            score("no-wm twin", zoo.victim.to_string(), &clean_victim.model, built_seconds(&clean_victim))?,
        ];
        for chain in &zoo.stolen {
            let built = builder.build_on(&name, &owner, &root, &chain.steps[1..])?;
            scheme_rows.push(score(
                "stolen",
                format!("W-{}", recipe_label(chain)),
                &built.model,
                built_seconds(&built),
            )?);
        }
        for (label, model, seconds) in &twin_copies {
            scheme_rows.push(score("twin copy", label.clone(), model, *seconds)?);
        }
        for chain in &zoo.independent {
            let built = builder.build(chain)?;
            scheme_rows.push(score("independent", chain.to_string(), &built.model, built_seconds(&built))?);
        }
        fill_fitted_p_values(&mut scheme_rows)?;
        let pick = |role: &str| -> Vec<(String, f64)> {
            scheme_rows.iter().filter(|r| r.role == role).map(|r| (r.model.clone(), r.watermark_accuracy)).collect()
        };
        let (pos, neg) = (pick("stolen"), pick("independent"));
        if !pos.is_empty() && !neg.is_empty() {
            summaries.push(mown_eval::summarize(&key.method(), &pos, &neg)?);
        }
        rows.extend(scheme_rows);
    }
    print_table(&rows);
    if !summaries.is_empty() {
        print!("{}", mown_eval::summary_table(&summaries));
    }
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_vec_pretty(&serde_json::json!({ "rows": rows, "summaries": summaries }))?)?;
    }
    Ok(())
}

/// A built model's build time, or `None` when it came from the cache.
fn built_seconds(built: &mown_adversary::build::Built) -> Option<f64> {
    (!built.from_cache).then_some(built.seconds)
}

/// The seconds column: the build time, or "cached".
fn seconds_cell(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "cached".to_string(), |s| format!("{s:.1}"))
}

/// A stolen recipe's steps after the victim, as the chain grammar prints them.
fn recipe_label(chain: &mown_adversary::Chain) -> String {
    chain.steps[1..].iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-")
}

/// A watermarked owner built earlier, if its file and key are both there and belong together.
fn load_owner(
    path: &Path,
    key_path: &Path,
    name: &str,
    device: &mown_nn::burn::prelude::Device,
) -> Option<(Model, WatermarkKey)> {
    let model = io::load(path, device).ok()?;
    let key = WatermarkKey::load(key_path).ok()?;
    let sha = io::model_sha256(&model).ok()?;
    (model.meta.provenance.derivation == name && key.owner_sha256 == sha).then_some((model, key))
}

/// Each row's p-value under the beta-binomial null fitted to the independent models; an
/// independent model is scored against a null fitted to the others, never to itself.
fn fill_fitted_p_values(rows: &mut [Row]) -> anyhow::Result<()> {
    let negatives: Vec<(usize, usize)> =
        rows.iter().enumerate().filter(|(_, r)| r.role == "independent").map(|(i, r)| (i, r.matches)).collect();
    for (i, row) in rows.iter_mut().enumerate() {
        let hits: Vec<usize> = negatives.iter().filter(|(j, _)| *j != i).map(|(_, h)| *h).collect();
        if hits.len() < mown_eval::fitted::MIN_NEGATIVES {
            continue;
        }
        let null = mown_eval::BetaBinomialNull::fit(&hits, row.probes)?;
        row.p_value_fitted = Some(null.upper_tail(row.matches, row.probes)?);
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<7} {:<11} {:>8} {:>8} {:>9} {:>9} {:>8}  model",
        "scheme", "role", "accuracy", "wm acc", "p(chance)", "p(fitted)", "seconds"
    );
    for r in rows {
        let fitted = r.p_value_fitted.map_or("-".to_string(), |p| format!("{p:.1e}"));
        println!(
            "{:<7} {:<11} {:>8.4} {:>8.4} {:>9.1e} {:>9} {:>8}  {}",
            r.scheme,
            r.role,
            r.accuracy,
            r.watermark_accuracy,
            r.p_value_chance,
            fitted,
            seconds_cell(r.seconds),
            r.model
        );
    }
}
