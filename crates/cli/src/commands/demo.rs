//! The main job on the embedded digits. For now: train an owner model and evaluate it; the
//! ownership story (fingerprint, steal, verify) extends this as the methods land.

use std::path::PathBuf;
use std::time::Instant;

use mown_data::DataSource;
use mown_nn::{Arch, LrSchedule, Model, ModelMeta, ModelSpec, OptimizerKind, TrainConfig, io};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to write the owner model.
    #[arg(long, default_value = "mown-demo")]
    pub out_dir: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The owner's training recipe on the digits (also used by the integration tests).
pub fn owner_config(seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: 30,
        batch_size: 64,
        lr: 0.05,
        weight_decay: 5e-4,
        optimizer: OptimizerKind::Sgd { momentum: 0.9, nesterov: false },
        schedule: LrSchedule::Cosine,
        seed,
        ..TrainConfig::default()
    }
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let device = a.device.device()?;
    let (train, test) = DataSource::Digits.load()?;
    println!(
        "mown demo: the UCI handwritten digits (8x8, {} train / {} test images, embedded)",
        train.len(),
        test.len()
    );
    let spec = ModelSpec::new(Arch::ArcC, train.shape, train.num_classes)?;
    let mut meta = ModelMeta::for_dataset(spec, &train)?;
    meta.provenance.derivation = format!("train(arc-c,digits,seed={})", a.seed);
    meta.provenance.dataset = "digits".into();
    meta.provenance.seed = a.seed;
    let cfg = owner_config(a.seed);
    meta.provenance.epochs = cfg.epochs;
    let owner = Model::init(meta, &device, a.seed);
    println!("1. training the owner model: {} ({} parameters), {} epochs", spec.arch, owner.num_params(), cfg.epochs);
    let (mut owner, report) = mown_nn::train::train(owner, &train, Some(&test), &cfg)?;
    let acc = owner.accuracy(&test)?;
    owner.meta.provenance.test_accuracy = Some(acc);
    std::fs::create_dir_all(&a.out_dir)?;
    let path = a.out_dir.join("owner.safetensors");
    let meta = io::save(&owner, &path)?;
    println!("   test accuracy {:.2}% after {:.1}s; saved {}", acc * 100.0, report.seconds, path.display());
    println!("   weights sha256 {}", meta.weights_sha256);
    let reloaded = io::load(&path, &device)?;
    let same = reloaded.predict(test.images())? == owner.predict(test.images())?;
    println!("2. reloaded from disk: predictions identical = {same}");
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
