//! `mown verify`: is the suspect a copy of the owner's model? One command for fingerprints and
//! watermark keys (both are `Evidence`); labels-only access.

use std::path::PathBuf;

use anyhow::bail;
use mown_access::{AccessLevel, LocalModel, SuspectOptions, open_suspect};
use mown_methods::{Evidence, Fingerprint, WatermarkKey};
use mown_nn::io;

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A fingerprint file (`mown fingerprint`).
    #[arg(long, conflicts_with = "key", required_unless_present = "key")]
    pub fingerprint: Option<PathBuf>,
    /// A watermark key (`mown watermark`).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The suspect: a model file, an .onnx file or a prediction API URL (http://host:port, see docs/http-api.md).
    #[arg(long)]
    pub suspect: String,
    /// Bearer token for a URL suspect (default: $MOWN_SUSPECT_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Decision threshold on the matching rate, if not calibrated.
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Independent models (comma-separated files) to calibrate the threshold and the p-value on;
    /// with 3 or more, a second p-value under a beta-binomial null fitted to them.
    #[arg(long, value_delimiter = ',')]
    pub negatives: Vec<PathBuf>,
    /// Target false-positive rate for calibration.
    #[arg(long, default_value_t = 0.01)]
    pub target_fpr: f64,
    /// Also write the verdict as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Sign the --report with this key (`mown keygen`): it becomes a signed verification report
    /// that `mown claim check` verifies, so any later change to the verdict is detected.
    #[arg(long, requires = "report")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: VerifyArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    // Read the signing key before any work, so a bad key fails fast.
    let sign_key = a.sign_key.as_deref().map(mown_claim::SigningIdentity::load).transpose()?;
    let evidence: Box<dyn Evidence> = match (&a.fingerprint, &a.key) {
        (Some(path), _) => Box::new(Fingerprint::load(path)?),
        (None, Some(path)) => Box::new(WatermarkKey::load(path)?),
        (None, None) => bail!("give --fingerprint or --key"),
    };
    let fp = evidence.as_ref();
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
        (None, true) => match fp.chance_rate() {
            Some(p0) => mown_eval::from_chance(fp.probe().labels.len(), p0, a.target_fpr)?,
            None => bail!("give --threshold or --negatives (independent models to calibrate on)"),
        },
    };
    let opts = SuspectOptions { level: AccessLevel::Labels, token: a.token.clone(), budget: None };
    let mut suspect = open_suspect(&a.suspect, &opts, &device)?;
    let verdict = mown_methods::verify::verify(fp, &mut *suspect, threshold, &rates)?;
    println!("{verdict}");
    if let Some(path) = &a.report {
        match &sign_key {
            Some(id) => {
                let kind = mown_claim::DocumentKind::VerificationReport;
                mown_claim::sign_report(kind, &serde_json::to_value(&verdict)?, id)?.save(path)?;
                println!("signed report: {} (signer fingerprint {})", path.display(), id.fingerprint());
            }
            None => std::fs::write(path, serde_json::to_vec_pretty(&verdict)?)?,
        }
    }
    Ok(())
}
