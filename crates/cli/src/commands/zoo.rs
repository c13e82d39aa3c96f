//! `mown zoo`: build a victim, its stolen variants and independent models from a TOML file.

use std::path::PathBuf;

use mown_adversary::build::Builder;
use mown_adversary::zoo::{Zoo, table};
use mown_nn::TrainConfig;

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct ZooArgs {
    /// Zoo configuration (TOML; see `mown_adversary::zoo`).
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: ZooArgs) -> anyhow::Result<()> {
    let zoo = Zoo::load(&a.config)?;
    let base = TrainConfig {
        batch_size: zoo.training.batch_size,
        lr: zoo.training.lr,
        weight_decay: zoo.training.weight_decay,
        ..TrainConfig::default()
    };
    let mut builder = Builder::new(Some(zoo.cache_dir.clone()), a.device.device()?, base);
    let total = zoo.members().len() as u64;
    let bar = (!a.no_progress).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} models  {elapsed}  {msg}") {
            bar.set_style(style);
        }
        bar
    });
    let entries = zoo.build(&mut builder, |e| {
        if let Some(bar) = &bar {
            bar.inc(1);
            bar.set_message(format!("{} ({:.3})", e.name, e.accuracy));
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print!("{}", table(&entries));
    println!(
        "{} models ({} trained this run, the rest from {}); table saved as {}",
        entries.len(),
        builder.trained,
        zoo.cache_dir.display(),
        zoo.cache_dir.join("zoo.json").display()
    );
    Ok(())
}
