//! `mown steal`: derive a stolen model from a victim file with an attack recipe.

use std::path::PathBuf;

use anyhow::Context;
use mown_adversary::build::{Builder, StepData};
use mown_adversary::{Chain, Step};
use mown_nn::{TrainConfig, io};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct StealArgs {
    /// The victim model file.
    #[arg(long)]
    pub victim: PathBuf,
    /// Attack recipe, e.g. "prune(w,0.5,ft=2)-ftal(5)" or "extract(arc-c,probs,mnist,budget=5000)".
    #[arg(long)]
    pub attack: String,
    /// Dataset the attacker works with (digits, fmnist, mnist, cifar10); default: the victim's.
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
    let victim = io::load(&a.victim, &device)?;
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
