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
    /// Number of fingerprint points (IPGuard and baselines, UAP clusters, AKH probes: 100; SAC
    /// probes: 200).
    #[arg(long)]
    pub n: Option<usize>,
    /// IPGuard margin k (CW-L2 confidence): a number, or auto (0.4 x the owner's median logit
    /// margin on the seed images; its best k grows with the owner's logits).
    #[arg(long, default_value = "auto")]
    pub k: String,
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
    /// `--n`, or the default of 100 points.
    pub fn n(&self) -> usize {
        self.n_or(100)
    }

    /// `--n`, or a method's own default (SAC: 200 probes).
    pub fn n_or(&self, default: usize) -> usize {
        self.n.unwrap_or(default)
    }

    /// The options for fingerprinting `owner` from `seeds` (which `--k auto` reads).
    pub fn options(&self, owner: &mown_nn::Model, seeds: &mown_data::Dataset) -> anyhow::Result<GenOptions> {
        let (init, target) = parse_suffix(&self.init)?;
        let k = if self.k.eq_ignore_ascii_case("auto") {
            let k = mown_methods::ipguard::auto_k(owner, seeds)?;
            eprintln!(
                "--k auto: k = {k:.3} ({} x the owner's median logit margin)",
                mown_methods::ipguard::AUTO_K_FRACTION
            );
            k
        } else {
            self.k.parse().map_err(|_| anyhow::anyhow!("--k must be a number or auto, got '{}'", self.k))?
        };
        Ok(GenOptions {
            n: self.n(),
            k,
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

/// Options of `mown fingerprint uap` (seed 003); `--n` is the number of clusters (points).
#[derive(clap::Args, Debug, Clone)]
pub struct UapArgs {
    /// UAP: piracy reference models for the encoder (copies of the owner), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub piracy: Vec<PathBuf>,
    /// UAP: homologous reference models for the encoder (independent models), comma-separated.
    /// Neither kind may be used as a suspect or as a negative later.
    #[arg(long, value_delimiter = ',')]
    pub homologous: Vec<PathBuf>,
    /// UAP: views per model in the encoder's training set (seed 003: 200).
    #[arg(long, default_value_t = 200)]
    pub views: usize,
    /// UAP: views kept for verification (2n queries each); the t-test draws 20 of them 30 times.
    #[arg(long, default_value_t = 40)]
    pub verify_views: usize,
    /// UAP: the L2 radius of the perturbation as a root-mean-square per pixel (xi = r sqrt(d)).
    #[arg(long, default_value_t = 0.3)]
    pub xi_rms: f64,
    /// UAP: encoder training epochs.
    #[arg(long, default_value_t = 50)]
    pub encoder_epochs: usize,
    /// UAP: universal (the method) or local: each point's own DeepFool perturbation (seed 003's
    /// LAP ablation).
    #[arg(long, default_value = "universal")]
    pub perturbation: String,
    /// UAP, SAC: what suspects will reveal: probs (the papers), topk:K (zero-filled) or labels
    /// (one-hot).
    #[arg(long, default_value = "probs")]
    pub level: String,
    /// SAC: probes that are the owner's mistakes (wrong: SAC-w) or CutMix mixtures of training
    /// images (cutmix: SAC-m).
    #[arg(long, default_value = "wrong")]
    pub probes: String,
    /// SAC: probes per block; each block's correlation distance is one sample of the t-test.
    #[arg(long, default_value_t = 20)]
    pub block: usize,
    /// SAC-w, AKH: look for owner mistakes among held-out and training images only, without
    /// augmented ones.
    #[arg(long)]
    pub no_augment: bool,
}

#[derive(clap::Args, Debug)]
pub struct FingerprintArgs {
    /// ipguard, cw-l2, fgsm, igsm, random, uap, sac, akh or near-boundary.
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
    pub uap: UapArgs,
    #[command(flatten)]
    pub near_boundary: super::near_boundary::NearBoundaryArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn run_uap(a: &FingerprintArgs, owner: &mown_nn::Model, builder: &mut Builder, data: &str) -> anyhow::Result<()> {
    use mown_methods::uap::{ReferenceRole, UapFingerprintParams, generate};
    let (train, test) = builder.dataset(data).with_context(|| format!("training images '{data}' (set --data)"))?;
    let mut references = Vec::new();
    for (paths, role) in [(&a.uap.piracy, ReferenceRole::Piracy), (&a.uap.homologous, ReferenceRole::Homologous)] {
        for path in paths {
            references.push((path.display().to_string(), role, io::load(path, &builder.device)?));
        }
    }
    let mut p = UapFingerprintParams {
        train_views: a.uap.views,
        verify_views: a.uap.verify_views,
        level: a.uap.level.parse()?,
        perturbation: match a.uap.perturbation.to_ascii_lowercase().as_str() {
            "universal" | "uap" => mown_methods::uap::PerturbationKind::Universal,
            "local" | "lap" => mown_methods::uap::PerturbationKind::Local,
            other => anyhow::bail!("--perturbation {other}: universal or local"),
        },
        seed: a.generation.seed,
        ..UapFingerprintParams::default()
    };
    p.kmeans.clusters = a.generation.n();
    p.uap.xi = mown_methods::uap::Radius::Rms(a.uap.xi_rms);
    p.encoder.epochs = a.uap.encoder_epochs;
    let fp = generate(owner, &train, &test, &references, &p)?;
    fp.save(&a.out)?;
    println!(
        "uap: {} verification fingerprints of {} points of {} written to {} (UAP {}; encoder on {} models; {:.1}s)",
        fp.views.len(),
        fp.n(),
        a.model.display(),
        a.out.display(),
        fp.uap_stats,
        references.len() + 1,
        fp.timings["seconds"].as_f64().unwrap_or(f64::NAN)
    );
    for w in mown_methods::Evidence::warnings(&fp) {
        eprintln!("warning: {w}");
    }
    Ok(())
}

/// SAC and AKH: probes without optimisation, from the owner's training and held-out data.
fn run_probes(a: &FingerprintArgs, owner: &mown_nn::Model, builder: &mut Builder, data: &str) -> anyhow::Result<()> {
    let (train, test) = builder.dataset(data).with_context(|| format!("images '{data}' (set --data)"))?;
    let mistakes = mown_methods::probes::MistakeParams { augment: !a.uap.no_augment, ..Default::default() };
    let (evidence, saved): (Box<dyn mown_methods::Evidence>, _) = if a.method.eq_ignore_ascii_case("sac") {
        let p = mown_methods::sac::SacParams {
            probes: a.uap.probes.parse()?,
            n: a.generation.n_or(mown_methods::sac::SacParams::default().n),
            block: a.uap.block,
            level: a.uap.level.parse()?,
            mistakes,
            seed: a.generation.seed,
        };
        let fp = mown_methods::sac::generate(owner, &train, &test, &p)?;
        fp.save(&a.out)?;
        let what = format!("{} probes in {} blocks, {}", fp.probes(), fp.probes() / p.block, fp.origins);
        (Box::new(fp), what)
    } else {
        let p = mown_methods::akh::AkhParams { n: a.generation.n(), mistakes, seed: a.generation.seed };
        let fp = mown_methods::akh::generate(owner, &train, &test, &p)?;
        fp.save(&a.out)?;
        let what = format!("{} owner mistakes, {}", fp.len(), fp.origins);
        (Box::new(fp), what)
    };
    println!("{}: {saved} of {} written to {}", evidence.method(), a.model.display(), a.out.display());
    for w in evidence.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(())
}

pub fn run(a: FingerprintArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    let owner = io::load(&a.model, &device)?;
    let data = a.data.clone().unwrap_or_else(|| owner.meta.provenance.dataset.clone());
    let mut builder = Builder::new(None, device, TrainConfig::default());
    if a.method.eq_ignore_ascii_case("uap") {
        return run_uap(&a, &owner, &mut builder, &data);
    }
    if a.method.eq_ignore_ascii_case("near-boundary") {
        return super::near_boundary::run(&a, &owner, &mut builder, &data);
    }
    if ["sac", "akh"].iter().any(|m| a.method.eq_ignore_ascii_case(m)) {
        return run_probes(&a, &owner, &mut builder, &data);
    }
    let (train, _) = builder.dataset(&data).with_context(|| format!("seed images '{data}' (set --data)"))?;
    let generator = by_name(&a.method, &a.generation.options(&owner, &train)?)?;
    let fp = generator.generate(&owner, &train)?;
    fp.save(&a.out)?;
    println!(
        "{}: {} points of {} written to {} ({}; {})",
        fp.method,
        fp.len(),
        a.model.display(),
        a.out.display(),
        fp.stats,
        fp.timings
    );
    if let Some(w) = fp.convergence_warning() {
        eprintln!("warning: {w}");
    }
    Ok(())
}
