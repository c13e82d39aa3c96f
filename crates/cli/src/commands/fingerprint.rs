//! `mown fingerprint METHOD`: fingerprint the owner's model (white-box).

use std::path::PathBuf;

use anyhow::Context;
use mown_adversary::build::Builder;
use mown_methods::registry::{GenOptions, by_name, parse_suffix};
use mown_nn::{TrainConfig, io};

use super::DeviceArgs;

/// Generation options on the command line (shared with `eval-method`).
#[derive(clap::Args, Debug, Clone)]
pub struct GenArgs {
    /// Number of fingerprint points.
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    /// IPGuard margin k (CW-L2 confidence).
    #[arg(long, default_value_t = 10.0)]
    pub k: f64,
    /// Adam learning rate on the input (IPGuard, CW-L2).
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    /// Initialisation and target label: TL, TR, RL or RR (IPGuard §5.1.4).
    #[arg(long, default_value = "TL")]
    pub init: String,
    /// FGSM/IGSM radius.
    #[arg(long, default_value_t = 0.1)]
    pub eps: f64,
    /// CW-L2 constant c.
    #[arg(long, default_value_t = 1.0)]
    pub c: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// IPGuard: start points optimised to obtain n converged ones; the first n to converge are
    /// kept and the rest abandoned (0 = exactly n, the paper's procedure).
    #[arg(long, default_value_t = 0)]
    pub candidates: usize,
    /// IPGuard: draw this many start points and optimise the max(candidates, n) with the lowest
    /// initial loss (0 = no ranking, the paper's random start points).
    #[arg(long, default_value_t = 0)]
    pub screen: usize,
}

impl GenArgs {
    pub fn options(&self) -> anyhow::Result<GenOptions> {
        let (init, target) = parse_suffix(&self.init)?;
        Ok(GenOptions {
            n: self.n,
            k: self.k,
            lr: self.lr,
            iterations: self.iterations,
            init,
            target,
            eps: self.eps,
            c: self.c,
            seed: self.seed,
            candidates: self.candidates,
            screen: self.screen,
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct FingerprintArgs {
    /// ipguard, cw-l2, fgsm, igsm or random.
    pub method: String,
    /// The owner's model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Seed images for "T" initialisation (digits, fmnist, mnist, cifar10, any with [A-B] for
    /// classes A to B); default: the model's dataset.
    #[arg(long)]
    pub data: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub generation: GenArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: FingerprintArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    let owner = io::load(&a.model, &device)?;
    let generator = by_name(&a.method, &a.generation.options()?)?;
    let data = a.data.clone().unwrap_or_else(|| owner.meta.provenance.dataset.clone());
    let mut builder = Builder::new(None, device, TrainConfig::default());
    let (train, _) = builder.dataset(&data).with_context(|| format!("seed images '{data}' (set --data)"))?;
    let fp = generator.generate(&owner, &train)?;
    fp.save(&a.out)?;
    println!(
        "{}: {} points of {} written to {} ({})",
        fp.method,
        fp.len(),
        a.model.display(),
        a.out.display(),
        fp.stats
    );
    Ok(())
}
