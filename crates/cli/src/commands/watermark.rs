//! `mown watermark margin|plain`: train the owner's model with a trigger-set watermark (seed 004)
//! and write the model and its secret key.

use std::path::PathBuf;

use anyhow::Context;
use mown_methods::watermark::{LabelRule, Scheme, TriggerWatermark, WatermarkParams, without_triggers};
use mown_methods::{Evidence, Watermarker};
use mown_nn::io;

use super::train::{TrainArgs, setup};

#[derive(clap::Args, Debug)]
pub struct WatermarkArgs {
    /// margin (seed 004) or plain (trigger set without margin, the paper's baseline).
    pub scheme: String,
    /// Where to write the watermark key (the secret triggers and labels).
    #[arg(long)]
    pub key: PathBuf,
    #[command(flatten)]
    pub wm: WatermarkOptions,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// Watermark parameters shared by `watermark` and `eval-watermark`.
#[derive(clap::Args, Clone, Debug)]
pub struct WatermarkOptions {
    /// Number of triggers, drawn from the test split (which then excludes them).
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
        })
    }
}

pub fn run(a: WatermarkArgs) -> anyhow::Result<()> {
    let scheme: Scheme = a.scheme.parse()?;
    let params = a.wm.params(scheme)?;
    let s = setup(&a.train)?;
    let mut marker = TriggerWatermark::new(params);
    if let Some(path) = &a.wm.clean {
        marker.clean =
            Some(io::load(path, &s.model.device()).with_context(|| format!("clean model {}", path.display()))?);
    }
    eprintln!(
        "training {} with a {scheme} watermark ({} triggers from {}) on {} ({} images)",
        s.arch,
        marker.params.n,
        s.test.name,
        s.source,
        s.train.len()
    );
    let (mut model, mut key) = marker.embed(s.model, &s.train, &s.test, &s.cfg)?;
    let clean_test = without_triggers(&s.test, &key.source_indices)?;
    let accuracy = model.accuracy(&clean_test)?;
    key.stats["clean_accuracy"] = serde_json::json!(accuracy);
    key.stats["clean_test_images"] = serde_json::json!(clean_test.len());
    model.meta.provenance.test_accuracy = Some(accuracy);
    let meta = io::save(&model, &a.train.out)?;
    key.save(&a.key)?;
    println!(
        "saved {} (clean accuracy {accuracy:.4} on {} test images without the triggers, weights sha256 {})",
        a.train.out.display(),
        clean_test.len(),
        meta.weights_sha256
    );
    println!(
        "saved key {} ({}: watermark accuracy {:.4} on {} triggers, {:.1}s); keep it secret until a dispute",
        a.key.display(),
        key.method(),
        key.stats["watermark_accuracy"].as_f64().unwrap_or(f64::NAN),
        key.len(),
        key.timings["seconds"].as_f64().unwrap_or(f64::NAN)
    );
    if let Some(warning) = key.embedding_warning() {
        eprintln!("{warning}");
    }
    Ok(())
}
