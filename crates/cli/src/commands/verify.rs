//! `mown verify`: is the suspect a copy of the owner's model? One command for every kind of
//! evidence; the decision is `mown_methods::verify::verify`, this file parses and prints.

use std::path::PathBuf;

use anyhow::{Context, bail};
use mown_access::{OnnxOutput, SuspectOptions, open_suspect};
use mown_eval::{DEFAULT_ALPHA, DEFAULT_TARGET_FPR, Policy};
use mown_methods::verify::{identify, load_negatives, verify};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// An evidence file: a fingerprint (`mown fingerprint`) or a watermark key (`mown watermark`).
    #[arg(long, conflicts_with_all = ["fingerprint", "key"], required_unless_present_any = ["fingerprint", "key"])]
    pub evidence: Option<PathBuf>,
    /// A fingerprint file (the same as --evidence).
    #[arg(long, conflicts_with = "key")]
    pub fingerprint: Option<PathBuf>,
    /// A watermark key (the same as --evidence).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The suspect: a model file, an .onnx file or a prediction API URL (http://host:port, see docs/http-api.md).
    #[arg(long)]
    pub suspect: String,
    /// Bearer token for a URL suspect (default: $MOWN_SUSPECT_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Decision threshold on the score, instead of one calibrated on the negatives (promises no FPR).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Independent models: model files, .onnx files or folders of them (`mown negatives`),
    /// comma-separated. With 1/target-fpr of them the threshold is calibrated on their scores;
    /// with 3 or more, on a null fitted to them; with fewer, only a method's chance rate can
    /// decide, and otherwise the verdict is INCONCLUSIVE.
    #[arg(long, value_delimiter = ',')]
    pub negatives: Vec<PathBuf>,
    /// Target false-positive rate of the calibrated threshold.
    #[arg(long, default_value_t = DEFAULT_TARGET_FPR)]
    pub target_fpr: f64,
    /// Calibrate on the pooled negatives only, without raising the threshold to the bound for a
    /// model of a family they lack (docs/decisions.md); for experiments, not disputes.
    #[arg(long)]
    pub pooled_threshold: bool,
    /// Significance level: STOLEN needs p < alpha as well as the threshold.
    #[arg(long, default_value_t = DEFAULT_ALPHA)]
    pub alpha: f64,
    /// ONNX suspects and negatives: how to read the score output: probs (used as given), logits
    /// (softmaxed) or auto (probabilities when the graph ends in Softmax or comes from skl2onnx).
    #[arg(long, default_value = "auto")]
    pub onnx_output: String,
    /// Also write the verdict as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Sign the --report with this key (`mown keygen`): it becomes a signed verification report
    /// that `mown claim check` verifies, so any later change to the verdict is detected.
    #[arg(long, requires = "report")]
    pub sign_key: Option<PathBuf>,
    /// Also write the verdict as a static HTML page here (the benchmark report's style: the
    /// suspect's score among the negatives', the threshold, the rule, the p-value).
    #[arg(long)]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Model files named directly, and the model files (`.safetensors`, `.onnx`) inside folders, in
/// name order.
pub fn expand_models(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading the folder {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors" || x == "onnx"))
            .collect();
        found.sort();
        if found.is_empty() {
            bail!("the folder {} holds no .safetensors or .onnx model", path.display());
        }
        out.extend(found);
    }
    Ok(out)
}

pub fn run(a: VerifyArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    // Read the signing key before any work, so a bad key fails fast.
    let sign_key = a.sign_key.as_deref().map(mown_claim::SigningIdentity::load).transpose()?;
    let path = a.evidence.as_ref().or(a.fingerprint.as_ref()).or(a.key.as_ref()).context("give --evidence")?;
    let evidence = mown_methods::evidence::load(path)?;
    let level = evidence.requires();
    let (shape, _) = evidence.task();
    let onnx_output: OnnxOutput = a.onnx_output.parse()?;
    let mut negatives = load_negatives(&expand_models(&a.negatives)?, level, shape, onnx_output, &device)?;
    let opts =
        SuspectOptions { token: a.token.clone(), input_shape: Some(shape), onnx_output, ..SuspectOptions::new(level) };
    let suspect_id = identify(&a.suspect)?;
    let mut suspect = open_suspect(&a.suspect, &opts, &device)
        .with_context(|| format!("{} needs {level} answers from {}", evidence.method(), a.suspect))?;
    let policy = Policy {
        alpha: a.alpha,
        target_fpr: a.target_fpr,
        threshold: a.threshold,
        family_bound: !a.pooled_threshold,
        ..Policy::default()
    };
    let verdict = verify(evidence.as_ref(), &mut *suspect, &suspect_id, &mut negatives, &policy)?;
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
    if let Some(html) = &a.html {
        let context = serde_json::json!({
            "evidence": path.display().to_string(),
            "suspect": a.suspect,
            "negatives": a.negatives.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "tool": format!("mown {}", env!("CARGO_PKG_VERSION")),
        });
        std::fs::write(html, mown_bench::html::verdict_html(&verdict, &context)?)
            .with_context(|| format!("writing {}", html.display()))?;
        println!("verdict page: {}", html.display());
    }
    Ok(())
}
