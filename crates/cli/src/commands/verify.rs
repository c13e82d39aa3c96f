//! `mown verify`: is the suspect a copy of the fingerprinted owner model? Labels-only access.

use std::path::PathBuf;

use anyhow::bail;
use mown_access::{AccessLevel, LocalModel};
use mown_methods::Fingerprint;
use mown_nn::io;

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[arg(long)]
    pub fingerprint: PathBuf,
    /// The suspect model file.
    #[arg(long)]
    pub suspect: PathBuf,
    /// Decision threshold on the matching rate, if not calibrated.
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Independent models (comma-separated files) to calibrate the threshold and the p-value on.
    #[arg(long, value_delimiter = ',')]
    pub negatives: Vec<PathBuf>,
    /// Target false-positive rate for calibration.
    #[arg(long, default_value_t = 0.01)]
    pub target_fpr: f64,
    /// Also write the verdict as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: VerifyArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    let fp = Fingerprint::load(&a.fingerprint)?;
    let mut rates = Vec::new();
    for path in &a.negatives {
        let model = io::load(path, &device)?;
        let mut api = LocalModel::new(model, AccessLevel::Labels, None).with_name(path.display().to_string());
        rates.push(fp.match_suspect(&mut api)?.matching_rate);
    }
    if a.threshold.is_none() && (1..5).contains(&rates.len()) {
        eprintln!(
            "warning: calibrating on only {} independent models; the threshold is their highest score and \
             another independent model can exceed it. Use more negatives for a dispute.",
            rates.len()
        );
    }
    let threshold = match (a.threshold, rates.is_empty()) {
        (Some(t), _) => mown_eval::given(t)?,
        (None, false) => mown_eval::calibrate(&rates, a.target_fpr)?,
        (None, true) => bail!("give --threshold or --negatives (independent models to calibrate on)"),
    };
    let model = io::load(&a.suspect, &device)?;
    let mut suspect = LocalModel::new(model, AccessLevel::Labels, None).with_name(a.suspect.display().to_string());
    let verdict = mown_methods::verify::verify(&fp, &mut suspect, threshold, &rates)?;
    println!("{verdict}");
    if let Some(path) = &a.report {
        std::fs::write(path, serde_json::to_vec_pretty(&verdict)?)?;
    }
    Ok(())
}
