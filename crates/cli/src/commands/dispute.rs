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
    /// The owner's signed claim to its evidence, with its RFC 3161 time stamp (--owner-stamp).
    #[arg(long, requires_all = ["owner_stamp", "tsa_cert"])]
    pub owner_claim: Option<PathBuf>,
    #[arg(long)]
    pub owner_stamp: Option<PathBuf>,
    /// The claimant's signed claim to its evidence, with its time stamp (--claimant-stamp).
    #[arg(long, requires_all = ["claimant_stamp", "tsa_cert"])]
    pub claimant_claim: Option<PathBuf>,
    #[arg(long)]
    pub claimant_stamp: Option<PathBuf>,
    /// The time-stamping authority's certificate (PEM or DER) both stamps are checked against.
    #[arg(long)]
    pub tsa_cert: Option<PathBuf>,
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
    let priority = priority(&a)?;
    let mut report = serde_json::to_value(&outcome)?;
    if let Some(p) = &priority {
        println!("{}", p.text);
        report["priority"] = serde_json::to_value(p)?;
    }
    if let Some(path) = &a.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

/// Who claimed first, by the time-stamping authority's verified times only (a claim's own
/// `created` is the signer's statement and is not used).
#[derive(Debug, serde::Serialize)]
struct Priority {
    owner: mown_claim::StampedTime,
    claimant: mown_claim::StampedTime,
    /// "owner", "claimant" or "tie".
    first: &'static str,
    text: String,
}

/// Checks each party's claim (signature, and that it claims the evidence file given here) and
/// its time stamp; `None` when no claims were given.
fn priority(a: &DisputeArgs) -> anyhow::Result<Option<Priority>> {
    let (Some(owner_claim), Some(claimant_claim)) = (&a.owner_claim, &a.claimant_claim) else {
        if a.owner_claim.is_some() || a.claimant_claim.is_some() {
            anyhow::bail!("priority needs both parties' claims (--owner-claim and --claimant-claim) with their stamps");
        }
        return Ok(None);
    };
    let cert = a.tsa_cert.as_deref().context("--tsa-cert is needed to check time stamps")?;
    let stamped = |claim: &std::path::Path, evidence: &std::path::Path, stamp: Option<&std::path::Path>| {
        let bytes = std::fs::read(claim).with_context(|| format!("reading {}", claim.display()))?;
        let evidence_bytes = std::fs::read(evidence).with_context(|| format!("reading {}", evidence.display()))?;
        mown_claim::check(&bytes, None, Some(&evidence_bytes), None)
            .map_err(|e| anyhow::anyhow!("{} FAILED the check against {}: {e}", claim.display(), evidence.display()))?;
        super::claim::stamped_time(&bytes, stamp.context("each claim needs its --*-stamp")?, cert)
    };
    let owner = stamped(owner_claim, &a.owner_evidence, a.owner_stamp.as_deref())?;
    let claimant = stamped(claimant_claim, &a.claimant_evidence, a.claimant_stamp.as_deref())?;
    let first = match owner.unix_seconds.cmp(&claimant.unix_seconds) {
        std::cmp::Ordering::Less => "owner",
        std::cmp::Ordering::Greater => "claimant",
        std::cmp::Ordering::Equal => "tie",
    };
    let text = format!(
        "priority (verified RFC 3161 time stamps): owner's claim {}, claimant's claim {}: {}",
        owner.time,
        claimant.time,
        match first {
            "owner" => "the owner claimed this evidence first",
            "claimant" => "the claimant claimed its evidence first",
            _ => "the same second: time stamps do not settle it",
        }
    );
    Ok(Some(Priority { owner, claimant, first, text }))
}
