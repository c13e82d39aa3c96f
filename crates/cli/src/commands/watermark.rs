//! `mown watermark margin|plain|extfeat`: train the owner's model with a watermark (the trigger
//! sets of seed 004, or seed 001's external features) and write the model and its secret key.
//! Every scheme is a registry method that trains the owner; the flags below are the trigger sets'.
//! `--from` fine-tunes an existing owner instead (one trained elsewhere and imported): a departure
//! from seed 004, which embeds while training; the key records the model it started from.

use std::path::PathBuf;

use anyhow::Context;
use mown_methods::registry::{self, OwnerEffect, OwnerInputs};
use mown_methods::watermark::{LabelRule, Scheme, WatermarkKey, WatermarkParams};
use mown_nn::io;

use super::train::{TrainArgs, setup, setup_from};

#[derive(clap::Args, Debug)]
pub struct WatermarkArgs {
    /// margin (seed 004), plain (trigger set without margin, the paper's baseline) or extfeat
    /// (seed 001: stylised training images; set its gamma and style with --set).
    pub scheme: String,
    /// Any parameter of the scheme as KEY=VALUE (repeatable; `mown methods extfeat` lists them),
    /// e.g. --set gamma=0.1 --set style=multistyle26:19:4.
    #[arg(long = "set", short = 's')]
    pub set: Vec<String>,
    /// Where to write the watermark key (the secret triggers and labels).
    #[arg(long)]
    pub key: PathBuf,
    /// Fine-tune this trained model (a mown model file or an .onnx classifier) with the watermark
    /// for --epochs instead of training a fresh --arch from scratch.
    #[arg(long)]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub wm: WatermarkOptions,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// Watermark parameters shared by `watermark` and `eval-watermark`.
#[derive(clap::Args, Clone, Debug)]
pub struct WatermarkOptions {
    /// margin, plain: number of triggers, drawn from the test split (which then excludes them).
    #[arg(long, default_value_t = 100)]
    pub triggers: usize,
    /// Watermark labels: random (wrong class), most or least (likely under --clean).
    #[arg(long, default_value = "random")]
    pub labels: String,
    /// A clean model of the same task, for the most/least label rules.
    #[arg(long)]
    pub clean: Option<PathBuf>,
    /// Margin radius in pixel units (0..1); "5/255" is accepted.
    #[arg(long, default_value = "5/255")]
    pub eps: String,
    /// Projected-gradient-ascent steps per training step.
    #[arg(long, default_value_t = 5)]
    pub pga_steps: usize,
    /// PGA step size (default eps / steps).
    #[arg(long)]
    pub pga_step_size: Option<f64>,
    /// Weight of the trigger loss.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// Triggers in each training step.
    #[arg(long, default_value_t = 32)]
    pub trigger_batch: usize,
    /// Seed of the trigger choice and labels.
    #[arg(long, default_value_t = 1)]
    pub wm_seed: u64,
    /// Random transformations of each step's triggers (seed 004's Eq. 2), before the margin's
    /// PGA (plain: the transformed triggers are trained on as they are): crop:N, flip,
    /// crop:N+flip, or none.
    #[arg(long, default_value = "none")]
    pub trigger_aug: String,
}

impl WatermarkOptions {
    pub fn params(&self, scheme: Scheme) -> anyhow::Result<WatermarkParams> {
        let eps = match self.eps.split_once('/') {
            Some((a, b)) => a.trim().parse::<f64>()? / b.trim().parse::<f64>()?,
            None => self.eps.trim().parse()?,
        };
        Ok(WatermarkParams {
            scheme,
            n: self.triggers,
            label_rule: self.labels.parse::<LabelRule>()?,
            eps,
            steps: self.pga_steps,
            step_size: self.pga_step_size,
            lambda: self.lambda,
            trigger_batch: self.trigger_batch,
            seed: self.wm_seed,
            trigger_aug: self.trigger_aug.parse()?,
            badnets: (scheme == Scheme::Badnets).then(Default::default),
        })
    }
}

impl WatermarkOptions {
    /// The trigger-set flags as registry settings.
    fn settings(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("n".to_string(), self.triggers.to_string()),
            ("labels".to_string(), self.labels.clone()),
            ("eps".to_string(), self.eps.clone()),
            ("pga_steps".to_string(), self.pga_steps.to_string()),
            ("lambda".to_string(), self.lambda.to_string()),
            ("trigger_batch".to_string(), self.trigger_batch.to_string()),
            ("seed".to_string(), self.wm_seed.to_string()),
            ("trigger_aug".to_string(), self.trigger_aug.clone()),
        ];
        if let Some(step) = self.pga_step_size {
            out.push(("pga_step_size".to_string(), step.to_string()));
        }
        out
    }
}

pub fn run(a: WatermarkArgs) -> anyhow::Result<()> {
    let entry = registry::entry(&a.scheme)?;
    if entry.effect != OwnerEffect::Trains {
        anyhow::bail!(
            "{} is not a watermark trained into the owner: use `mown fingerprint {}`",
            entry.name,
            entry.name
        );
    }
    let trigger_set = a.scheme.parse::<Scheme>().is_ok();
    // The trigger-set flags go to the schemes that have them (BadNets has no margin or label rule).
    let mut settings: Vec<(String, String)> = if trigger_set { a.wm.settings() } else { Vec::new() };
    settings.retain(|(k, _)| entry.params.iter().any(|p| p.key == k));
    for text in &a.set {
        settings.push(registry::parse_setting(text)?);
    }
    let method = registry::method(entry.name, &settings)?;
    let (s, started_from) = match &a.from {
        Some(path) => {
            if !trigger_set {
                anyhow::bail!("--from fine-tunes a trigger-set watermark (margin, plain, badnets), not {}", entry.name);
            }
            if a.train.arch.is_some() {
                anyhow::bail!("--from keeps the model's own architecture: leave out --arch");
            }
            let model = super::load_model(path, &a.train.device.device()?)
                .with_context(|| format!("model to fine-tune {}", path.display()))?;
            let sha = io::model_sha256(&model)?;
            (setup_from(&a.train, model)?, Some(sha))
        }
        None => (setup(&a.train)?, None),
    };
    let clean = match &a.wm.clean {
        Some(path) => {
            Some(io::load(path, &s.model.device()).with_context(|| format!("clean model {}", path.display()))?)
        }
        None => None,
    };
    let verb = if started_from.is_some() { "fine-tuning" } else { "training" };
    eprintln!("{verb} {} with the {} watermark on {} ({} images)", s.arch, method.name(), s.source, s.train.len());
    let inputs = OwnerInputs::new(&s.model, &s.train, &s.test, &s.cfg).with_clean(clean.as_ref());
    let generated = method.generate(&inputs)?;
    let model = generated.owner.context("the watermark returned no model")?;
    let meta = io::save(&model, &a.train.out)?;
    generated.evidence.write(&a.key)?;
    if let Some(sha) = started_from {
        // The registry's evidence is opaque here; the key file is where the origin is recorded.
        let mut key = WatermarkKey::load(&a.key)?;
        key.fine_tuned_from = Some(sha.clone());
        key.save(&a.key)?;
        println!("fine-tuned from the model with sha256 {sha}");
    }
    println!("saved {} (weights sha256 {})", a.train.out.display(), meta.weights_sha256);
    let seconds = generated.timings["seconds"].as_f64().unwrap_or(f64::NAN);
    println!("saved key {} ({}; {seconds:.1}s); keep it secret until a dispute", a.key.display(), generated.summary);
    for warning in generated.evidence.warnings() {
        eprintln!("warning: {}", warning.trim_start_matches("warning: "));
    }
    Ok(())
}
