//! `mown dispute`: two parties' near-boundary evidence for one boundary, measured on the disputed
//! model; whose samples sit closer wins (`mown_methods::near_boundary::dispute`).

use std::path::PathBuf;

use anyhow::Context;
use mown_access::{OnnxOutput, SuspectOptions, open_suspect};
use mown_methods::near_boundary::{NearBoundaryEvidence, dispute};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct DisputeArgs {
    /// The owner's near-boundary evidence (`mown fingerprint near-boundary`).
    #[arg(long)]
    pub owner_evidence: PathBuf,
    /// The claimant's near-boundary evidence for the same boundary.
    #[arg(long)]
    pub claimant_evidence: PathBuf,
    /// The disputed model: a model file, an .onnx file or a prediction API URL.
    #[arg(long)]
    pub suspect: String,
    /// Bearer token for a URL suspect (default: $MOWN_SUSPECT_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    #[arg(long, default_value_t = mown_eval::DEFAULT_ALPHA)]
    pub alpha: f64,
    /// ONNX suspects: probs, logits or auto (see `mown verify`).
    #[arg(long, default_value = "auto")]
    pub onnx_output: String,
    /// Also write the outcome as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: DisputeArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    let owner = NearBoundaryEvidence::load(&a.owner_evidence)?;
    let claimant = NearBoundaryEvidence::load(&a.claimant_evidence)?;
    let level = mown_access::AccessLevel::Probabilities;
    let onnx_output: OnnxOutput = a.onnx_output.parse()?;
    let opts = SuspectOptions {
        token: a.token.clone(),
        input_shape: Some(owner.input_shape),
        onnx_output,
        ..SuspectOptions::new(level)
    };
    let mut suspect = open_suspect(&a.suspect, &opts, &device)
        .with_context(|| format!("a dispute needs {level} answers from {}", a.suspect))?;
    let outcome = dispute(&owner, &claimant, &mut *suspect, a.alpha)?;
    print!("{outcome}");
    if let Some(path) = &a.report {
        std::fs::write(path, serde_json::to_vec_pretty(&outcome)?)?;
    }
    Ok(())
}
