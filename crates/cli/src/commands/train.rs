use std::path::PathBuf;

use anyhow::{Context, bail};
use mown_data::{Augmentation, DataSource};
use mown_nn::{Arch, LrSchedule, Model, ModelMeta, ModelSpec, OptimizerKind, TrainConfig, io};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Architecture: mlp, lenet5, arc-a..arc-e, resnet20, resnet18, vgg11, vgg16 (required,
    /// except for `mown watermark --from`, which fine-tunes a model that has one).
    #[arg(long)]
    pub arch: Option<String>,
    /// Data: digits, fashion-mnist[:DIR], mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR.
    #[arg(long, default_value = "digits")]
    pub data: String,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Learning rate (default 0.05 for SGD, 0.001 for Adam/RMSprop).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// sgd, adam or rmsprop.
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    /// cosine, constant, or step:EVERY:GAMMA.
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// Random crop padding in pixels (0 = no cropping).
    #[arg(long, default_value_t = 0)]
    pub pad_crop: usize,
    /// Random horizontal flips (only sensible for natural images, not digits).
    #[arg(long)]
    pub flip: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Clip each parameter's gradient norm to this value.
    #[arg(long)]
    pub grad_clip: Option<f32>,
    /// Output model file.
    #[arg(long)]
    pub out: PathBuf,
    /// Checkpoint after each epoch here and resume from it.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn parse_optimizer(name: &str) -> anyhow::Result<OptimizerKind> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "sgd" => OptimizerKind::Sgd { momentum: 0.9, nesterov: false },
        "adam" => OptimizerKind::Adam,
        "rmsprop" => OptimizerKind::RmsProp,
        other => bail!("unknown optimizer '{other}' (sgd, adam, rmsprop)"),
    })
}

pub fn parse_schedule(s: &str) -> anyhow::Result<LrSchedule> {
    let parts: Vec<&str> = s.split(':').collect();
    Ok(match parts.as_slice() {
        ["cosine"] => LrSchedule::Cosine,
        ["constant"] => LrSchedule::Constant,
        ["step", every, gamma] => LrSchedule::Step {
            every: every.parse().context("step schedule: EVERY must be a whole number")?,
            gamma: gamma.parse().context("step schedule: GAMMA must be a number")?,
        },
        _ => bail!("unknown schedule '{s}' (cosine, constant, step:EVERY:GAMMA)"),
    })
}

/// What a training command starts from: the data, the configuration and a fresh model.
pub struct Setup {
    pub train: mown_data::Dataset,
    pub test: mown_data::Dataset,
    pub cfg: TrainConfig,
    pub model: Model,
    pub source: DataSource,
    pub arch: Arch,
}

pub fn setup(a: &TrainArgs) -> anyhow::Result<Setup> {
    let arch: Arch = a.arch.as_deref().context("--arch is required")?.parse()?;
    let (source, train, test, cfg) = data_and_config(a)?;
    let spec = ModelSpec::new(arch, train.shape, train.num_classes)?;
    let mut meta = ModelMeta::for_dataset(spec, &train)?;
    meta.provenance.derivation = format!("train({arch},{source},seed={})", a.seed);
    meta.provenance.dataset = source.to_string();
    meta.provenance.seed = a.seed;
    meta.provenance.epochs = a.epochs;
    meta.provenance.details = serde_json::to_value(&cfg)?;
    let model = Model::init(meta, &a.device.device()?, a.seed);
    Ok(Setup { train, test, cfg, model, source, arch })
}

/// A trained `model` to train further (`mown watermark --from`) on `a`'s data and settings; its
/// provenance stays its own, and the data must be its task.
pub fn setup_from(a: &TrainArgs, model: Model) -> anyhow::Result<Setup> {
    let (source, train, test, cfg) = data_and_config(a)?;
    if train.shape != model.input_shape() || !super::same_task(&test, &model.meta.class_names) {
        bail!(
            "{source} ({}, {} classes) is not the model's task ({}, {} classes)",
            train.shape,
            train.num_classes,
            model.input_shape(),
            model.num_classes()
        );
    }
    let arch = model.meta.spec.arch;
    Ok(Setup { train, test, cfg, model, source, arch })
}

fn data_and_config(a: &TrainArgs) -> anyhow::Result<(DataSource, mown_data::Dataset, mown_data::Dataset, TrainConfig)> {
    let source: DataSource = a.data.parse()?;
    let (train, test) = source.load().with_context(|| format!("loading {source}"))?;
    let optimizer = parse_optimizer(&a.optimizer)?;
    let lr = a.lr.unwrap_or(if matches!(optimizer, OptimizerKind::Sgd { .. }) { 0.05 } else { 1e-3 });
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr,
        weight_decay: a.weight_decay,
        optimizer,
        schedule: parse_schedule(&a.schedule)?,
        augmentation: Augmentation { pad_crop: a.pad_crop, horizontal_flip: a.flip },
        seed: a.seed,
        grad_clip_norm: a.grad_clip,
        checkpoint_dir: a.checkpoint_dir.clone(),
        progress: !a.no_progress,
    };
    Ok((source, train, test, cfg))
}

pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let Setup { train, test, cfg, model, source, arch } = setup(&a)?;
    eprintln!(
        "training {arch} ({} parameters) on {} ({} train / {} test images, {}x{}x{})",
        model.num_params(),
        source,
        train.len(),
        test.len(),
        train.shape.channels,
        train.shape.height,
        train.shape.width
    );
    let (mut model, report) = mown_nn::train::train(model, &train, Some(&test), &cfg)?;
    for e in &report.epochs {
        println!(
            "epoch {:>3}  loss {:.4}  train acc {:.4}  test acc {:.4}  {:.1}s  {:.0} img/s",
            e.epoch,
            e.loss,
            e.train_accuracy,
            e.test_accuracy.unwrap_or(f64::NAN),
            e.seconds,
            e.images_per_second
        );
    }
    model.meta.provenance.test_accuracy = report.final_test_accuracy();
    let meta = io::save(&model, &a.out)?;
    println!(
        "saved {} (test accuracy {:.4}, {:.1}s, weights sha256 {})",
        a.out.display(),
        report.final_test_accuracy().unwrap_or(f64::NAN),
        report.seconds,
        meta.weights_sha256
    );
    Ok(())
}
