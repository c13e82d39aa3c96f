//! `mown steal`: derive a stolen model from a victim file with an attack recipe.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mown_access::{HttpModel, HttpOptions, TOKEN_ENV};
use mown_adversary::build::{Builder, StepData, extract_config};
use mown_adversary::chain::QuerySource;
use mown_adversary::extract::{extract, noise_queries};
use mown_adversary::{Chain, Step};
use mown_nn::{TrainConfig, io};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct StealArgs {
    /// The victim: a model file, an .onnx classifier (imported), or a prediction API URL (then the attack must start with extract).
    #[arg(long)]
    pub victim: String,
    /// Bearer token for a URL victim (default: $MOWN_SUSPECT_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Attack recipe, e.g. "prune(w,0.5,ft=2)-ftal(5)" or "extract(arc-c,probs,mnist,budget=5000)".
    #[arg(long)]
    pub attack: String,
    /// Dataset the attacker works with (digits, fmnist, mnist, cifar10, any with [A-B] for classes
    /// A to B); default: the victim's.
    #[arg(long)]
    pub data: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: StealArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    if a.victim.starts_with("http://") || a.victim.starts_with("https://") {
        return steal_from_api(&a, device);
    }
    let victim = super::load_model(Path::new(&a.victim), &device)?;
    let steps = Chain::parse_attack(&a.attack)?;
    let data = a.data.clone().unwrap_or_else(|| victim.meta.provenance.dataset.clone());
    let mut builder = Builder::new(None, device, TrainConfig::default());
    let (train, test) = builder.dataset(&data).with_context(|| format!("attacker data '{data}' (set --data)"))?;
    let step_data = StepData { owner: train.clone(), attacker: train, test: test.clone() };
    let mut model = victim.clone();
    let mut queries = 0;
    for (i, step) in steps.iter().enumerate() {
        eprintln!("applying {step} ...");
        let (next, q) = builder.derive(&model, step, &step_data, mown_nn::seed::derive(a.seed, i as u64 + 1))?;
        model = next;
        queries += q;
    }
    let recipe: Vec<String> = steps.iter().map(Step::to_string).collect();
    model.meta.provenance.derivation = format!("{}-{}", victim.meta.provenance.derivation, recipe.join("-"));
    model.meta.provenance.details =
        serde_json::json!({ "queries_used": queries, "victim_sha256": victim.meta.weights_sha256 });
    let acc = model.accuracy(&test)?;
    model.meta.provenance.test_accuracy = Some(acc);
    let fidelity = model.agreement(&victim, test.images())?;
    io::save(&model, &a.out)?;
    println!(
        "saved {}: accuracy {:.4}, fidelity to the victim {:.4}, {} victim queries",
        a.out.display(),
        acc,
        fidelity,
        queries
    );
    Ok(())
}

/// Extraction through a remote API (`mown serve` or any server of docs/http-api.md): the first
/// step must be `extract(...)`, which is all a thief with only an API can do; later steps apply
/// to the extracted copy.
fn steal_from_api(a: &StealArgs, device: mown_nn::burn::prelude::Device) -> anyhow::Result<()> {
    let steps = Chain::parse_attack(&a.attack)?;
    let Some(first @ Step::Extract { level, source, budget, .. }) = steps.first() else {
        bail!("a victim behind an API can only be stolen by extraction first: start the attack with extract(...)");
    };
    let Some(data) = a.data.clone() else {
        bail!("give --data (the attacker's dataset, for query images and the test split) with a URL victim");
    };
    let token = a.token.clone().or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()));
    let opts = HttpOptions { token, level: Some(*level), budget: Some(*budget), ..HttpOptions::new(&a.victim) };
    let mut victim = HttpModel::connect(opts)?;
    let mut builder = Builder::new(None, device.clone(), TrainConfig::default());
    let (train, test) = builder.dataset(&data).with_context(|| format!("attacker data '{data}'"))?;
    let shape = mown_access::QueryModel::input_shape(&victim);
    let student = TrainConfig { seed: mown_nn::seed::derive(a.seed, 1), ..builder.base.clone() };
    let cfg = extract_config(first, student, device)?;
    let queries = match source {
        QuerySource::Same => (*train).clone(),
        QuerySource::Noise => noise_queries(shape, cfg.images_wanted(), a.seed)?,
        QuerySource::Dataset(name) => (*builder.dataset(name)?.0).clone(),
    };
    let queries = if queries.shape == shape { queries } else { queries.resized(shape)? };
    eprintln!("applying {} through {} ...", steps[0], victim.url());
    let stolen = extract(&mut victim, &queries, &cfg)?;
    let (mut model, queries_used) = (stolen.model, stolen.queries_used);
    let step_data = StepData { owner: train.clone(), attacker: train, test: test.clone() };
    for (i, step) in steps.iter().enumerate().skip(1) {
        eprintln!("applying {step} ...");
        model = builder.derive(&model, step, &step_data, mown_nn::seed::derive(a.seed, i as u64 + 1))?.0;
    }
    let recipe: Vec<String> = steps.iter().map(Step::to_string).collect();
    model.meta.provenance.derivation = format!("api({})-{}", victim.url(), recipe.join("-"));
    // The copy serves the attacker's task data (`mown eval` falls back to it).
    model.meta.provenance.dataset = data.clone();
    model.meta.provenance.details = serde_json::json!({ "queries_used": queries_used, "victim_url": victim.url() });
    let acc = if test.shape == shape && super::same_task(&test, &model.meta.class_names) {
        Some(model.accuracy(&test)?)
    } else {
        None
    };
    model.meta.provenance.test_accuracy = acc;
    io::save(&model, &a.out)?;
    let acc = acc.map_or("-".to_string(), |v| format!("{v:.4}"));
    println!("saved {}: accuracy {acc}, {queries_used} queries to {}", a.out.display(), victim.url());
    Ok(())
}
