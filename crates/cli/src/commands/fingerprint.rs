//! `mown fingerprint METHOD`: evidence of the owner's model (white-box) from the method registry.
//! The flags below are shorthands for the methods' own parameters (`--n 50` is `--set n=50`); a
//! flag the method does not take is an error, never silently ignored.

use std::path::PathBuf;

use anyhow::Context;
use mown_adversary::build::Builder;
use mown_methods::registry::{self, OwnerEffect, OwnerInputs};
use mown_methods::uap::ReferenceRole;
use mown_nn::{TrainConfig, io};

use super::DeviceArgs;

/// Shorthand flags for method parameters: each one that is given becomes `KEY=VALUE` for the
/// method (`mown methods` lists every method's keys and defaults).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MethodFlags {
    /// Points (IPGuard and baselines, UAP clusters), probes (SAC, AKH), samples (near-boundary).
    #[arg(long)]
    pub n: Option<usize>,
    /// IPGuard margin k / CW-L2 confidence: a number, or auto (0.4 x the owner's median logit
    /// margin on the seed images; the default).
    #[arg(long)]
    pub k: Option<String>,
    /// Adam learning rate on the input (IPGuard, CW-L2).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Initialisation and target label: TL, TR, RL or RR (IPGuard §5.1.4).
    #[arg(long)]
    pub init: Option<String>,
    /// FGSM/IGSM radius.
    #[arg(long)]
    pub eps: Option<String>,
    /// CW-L2 constant c.
    #[arg(long)]
    pub c: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// IPGuard: start points optimised to obtain n converged ones.
    #[arg(long)]
    pub candidates: Option<usize>,
    /// IPGuard: start points drawn and ranked by initial loss.
    #[arg(long)]
    pub screen: Option<usize>,
    /// UAP: views per model in the encoder's training set (seed 003: 200).
    #[arg(long, alias = "uap-views")]
    pub views: Option<usize>,
    /// UAP: views kept for verification (2n queries each).
    #[arg(long)]
    pub verify_views: Option<usize>,
    /// UAP: the perturbation's L2 radius as a root-mean-square per pixel.
    #[arg(long)]
    pub xi_rms: Option<f64>,
    /// UAP: encoder training epochs.
    #[arg(long)]
    pub encoder_epochs: Option<usize>,
    /// UAP: universal (the method) or local (the LAP ablation).
    #[arg(long)]
    pub perturbation: Option<String>,
    /// UAP, SAC: what suspects will reveal: probs, topk:K or labels.
    #[arg(long)]
    pub level: Option<String>,
    /// SAC: wrong (SAC-w) or cutmix (SAC-m).
    #[arg(long)]
    pub probes: Option<String>,
    /// SAC: probes per block.
    #[arg(long)]
    pub block: Option<usize>,
    /// SAC-w, AKH: no augmented images when natural mistakes run out.
    #[arg(long)]
    pub no_augment: bool,
    /// near-boundary: the boundary S,T (class indices).
    #[arg(long)]
    pub boundary: Option<String>,
    /// near-boundary: Definition 2's largest gap.
    #[arg(long)]
    pub tau: Option<f64>,
    /// near-boundary: training images of class S that CW-L2 starts from.
    #[arg(long)]
    pub seeds: Option<usize>,
    /// near-boundary: skip phase 3 (the evidence then names the owner as it is).
    #[arg(long)]
    pub no_finetune: bool,
    /// near-boundary: epochs of boundary fine-tuning.
    #[arg(long)]
    pub ft_epochs: Option<usize>,
    /// near-boundary: Loss_FT on probs or logits.
    #[arg(long)]
    pub ft_space: Option<String>,
    /// near-boundary: the first fine-tuning rate.
    #[arg(long)]
    pub ft_lr: Option<f64>,
    /// near-boundary: the most accuracy (0-1) phase 3 may cost.
    #[arg(long)]
    pub ft_max_drop: Option<f64>,
    /// near-boundary: skip phase 2 (the DCGAN).
    #[arg(long)]
    pub no_gan: bool,
    /// near-boundary: DCGAN training steps.
    #[arg(long)]
    pub gan_steps: Option<usize>,
    /// near-boundary: DCGAN generator widths, e.g. 128,64.
    #[arg(long)]
    pub gan_widths: Option<String>,
    /// near-boundary: DCGAN latent size.
    #[arg(long)]
    pub gan_latent: Option<usize>,
    /// Any method parameter as KEY=VALUE (repeatable), e.g. --set local_candidates=top:3.
    #[arg(long = "set", short = 's')]
    pub set: Vec<String>,
}

impl MethodFlags {
    /// The given flags, then `--set`, as `KEY=VALUE` pairs.
    pub fn settings(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                out.push((key.to_string(), v));
            }
        };
        let s = |v: &Option<String>| v.clone();
        put("n", self.n.map(|v| v.to_string()));
        put("k", s(&self.k));
        put("lr", self.lr.map(|v| v.to_string()));
        put("iterations", self.iterations.map(|v| v.to_string()));
        put("init", s(&self.init));
        put("eps", s(&self.eps));
        put("c", self.c.map(|v| v.to_string()));
        put("seed", self.seed.map(|v| v.to_string()));
        put("candidates", self.candidates.map(|v| v.to_string()));
        put("screen", self.screen.map(|v| v.to_string()));
        put("views", self.views.map(|v| v.to_string()));
        put("verify_views", self.verify_views.map(|v| v.to_string()));
        put("xi_rms", self.xi_rms.map(|v| v.to_string()));
        put("encoder_epochs", self.encoder_epochs.map(|v| v.to_string()));
        put("perturbation", s(&self.perturbation));
        put("level", s(&self.level));
        put("probes", s(&self.probes));
        put("block", self.block.map(|v| v.to_string()));
        put("augment", self.no_augment.then(|| "false".into()));
        put("boundary", s(&self.boundary));
        put("tau", self.tau.map(|v| v.to_string()));
        put("seeds", self.seeds.map(|v| v.to_string()));
        put("finetune", self.no_finetune.then(|| "false".into()));
        put("ft_epochs", self.ft_epochs.map(|v| v.to_string()));
        put("ft_space", s(&self.ft_space));
        put("ft_lr", self.ft_lr.map(|v| v.to_string()));
        put("ft_max_drop", self.ft_max_drop.map(|v| v.to_string()));
        put("gan", self.no_gan.then(|| "false".into()));
        put("gan_steps", self.gan_steps.map(|v| v.to_string()));
        put("gan_widths", s(&self.gan_widths));
        put("gan_latent", self.gan_latent.map(|v| v.to_string()));
        for text in &self.set {
            out.push(registry::parse_setting(text)?);
        }
        Ok(out)
    }
}

#[derive(clap::Args, Debug)]
pub struct FingerprintArgs {
    /// The method (`mown methods` lists them): ipguard, cw-l2, fgsm, igsm, random, uap, sac-w,
    /// sac-m, akh or near-boundary; NAME[KEY=VALUE,...] sets parameters too.
    pub method: String,
    /// The owner's model file, or an .onnx classifier (imported with `mown import`'s defaults).
    #[arg(long)]
    pub model: PathBuf,
    /// The owner's data (digits, fmnist, mnist, cifar10, any with [A-B] for classes A to B):
    /// training images and held-out ones; default: the model's dataset.
    #[arg(long)]
    pub data: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub flags: MethodFlags,
    /// UAP: piracy reference models for the encoder (copies of the owner), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub piracy: Vec<PathBuf>,
    /// UAP: homologous reference models for the encoder (independent models), comma-separated.
    /// Neither kind may be used as a suspect or as a negative later.
    #[arg(long, value_delimiter = ',')]
    pub homologous: Vec<PathBuf>,
    /// Methods that change the owner (near-boundary's phase 3): where the changed owner is
    /// written. The evidence names its SHA-256, and it is the model to deploy.
    #[arg(long, alias = "tuned-out")]
    pub owner_out: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: FingerprintArgs) -> anyhow::Result<()> {
    let method = registry::from_spec_with(&a.method, &a.flags.settings()?)?;
    let entry = method.entry();
    if entry.effect == OwnerEffect::Trains {
        anyhow::bail!(
            "{} trains the owner from the start: use `mown watermark {}` (or `mown bench`), not `mown fingerprint`",
            entry.name,
            entry.name
        );
    }
    if method.changes_owner() && a.owner_out.is_none() {
        anyhow::bail!(
            "{} changes the owner: give --owner-out FILE (or --tuned-out FILE) for the changed model \
             (near-boundary: or --no-finetune)",
            entry.name
        );
    }
    let has_references = !a.piracy.is_empty() || !a.homologous.is_empty();
    if has_references && !entry.references {
        anyhow::bail!("{} takes no reference models (--piracy, --homologous are UAP's)", entry.name);
    }
    let device = a.device.device()?;
    let owner = super::load_model(&a.model, &device)?;
    let data = a.data.clone().unwrap_or_else(|| owner.meta.provenance.dataset.clone());
    let mut builder = Builder::new(None, device, TrainConfig::default());
    let (mut train, held_out) = builder.dataset(&data).with_context(|| format!("owner data '{data}' (set --data)"))?;
    // An owner whose derivation names the part of the data it trained on (a zoo victim,
    // `train(...,part=1/4)`) gets that part as its training data: dataset inference's private
    // images must be images the owner saw, and seed images are drawn where it learned.
    if a.data.is_none()
        && let Ok(chain) = owner.meta.provenance.derivation.parse::<mown_adversary::Chain>()
        && let Some(root) = chain.steps.first()
        && root.root_data().is_some_and(|r| r.part.is_some())
    {
        train = builder.step_data(root)?.owner;
    }
    let mut references = Vec::new();
    for (paths, role) in [(&a.piracy, ReferenceRole::Piracy), (&a.homologous, ReferenceRole::Homologous)] {
        for path in paths {
            references.push((path.display().to_string(), role, io::load(path, &builder.device)?));
        }
    }
    let cfg = TrainConfig::default();
    let inputs = OwnerInputs::new(&owner, &train, &held_out, &cfg).with_references(&references);
    let generated = method.generate(&inputs)?;
    generated.evidence.write(&a.out)?;
    if let (Some(path), Some(changed)) = (&a.owner_out, &generated.owner) {
        let meta = io::save(changed, path)?;
        println!(
            "boundary-tuned owner written to {} (sha256 {}): the model to deploy",
            path.display(),
            meta.weights_sha256
        );
    }
    let seconds = generated.timings["seconds"].as_f64().map(|s| format!("; {s:.1}s")).unwrap_or_default();
    println!("{} of {} written to {}{seconds}", generated.summary, a.model.display(), a.out.display());
    for w in generated.evidence.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(())
}
