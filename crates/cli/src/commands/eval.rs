use std::path::PathBuf;

use anyhow::Context;
use mown_data::DataSource;

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model file.
    pub model: PathBuf,
    /// Data source (defaults to the one the model was trained on).
    #[arg(long)]
    pub data: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    let model = mown_nn::io::load(&a.model, &device)?;
    let data = a.data.clone().unwrap_or_else(|| model.meta.provenance.dataset.clone());
    let source: DataSource =
        data.parse().with_context(|| format!("the model records dataset '{data}'; pass --data"))?;
    let (_, test) = source.load()?;
    let started = std::time::Instant::now();
    let acc = model.accuracy(&test)?;
    println!(
        "{}: accuracy {:.4} on {} ({} images, {:.2}s)",
        a.model.display(),
        acc,
        test.name,
        test.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
