//! `mown keygen` and `mown claim create|check`: signed ownership claims.
//!
//! Seed 000's ambiguity attack forges a second fingerprint that verifies as well as the owner's;
//! a claim signed with the owner's key and published before the dispute shows whose evidence
//! came first. See the `mown-claim` crate.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mown_claim::{ClaimError, DocumentKind, SigningIdentity};

#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// The secret key file to write (mode 0600); the public key goes to the same path + ".pub".
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing key (the old key can then no longer sign).
    #[arg(long)]
    pub force: bool,
}

pub fn run_keygen(a: KeygenArgs) -> anyhow::Result<()> {
    let id = SigningIdentity::generate()?;
    let pub_path = id.save(&a.out, a.force)?;
    println!("secret key: {} (keep it private; it signs as you)", a.out.display());
    println!("public key: {} (publish it)", pub_path.display());
    println!("  {}", id.public_key_hex());
    println!("  fingerprint {}", id.fingerprint());
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ClaimArgs {
    #[command(subcommand)]
    pub command: ClaimCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ClaimCommand {
    /// Sign a claim to a fingerprint or watermark key (its SHA-256, the owner's weights hash,
    /// parameters, creation time). Publish the claim before any dispute.
    Create(CreateArgs),
    /// Check a signed claim (or a signed verification report): signature, canonical form, and
    /// optionally the signer's key, the evidence file, the owner model and an RFC 3161 time stamp.
    Check(CheckArgs),
    /// Write the RFC 3161 time-stamp request for a claim file (SHA-256 imprint), to send to a
    /// time-stamping authority; its answer (a .tsr) is checked with `check --stamp`.
    StampRequest(StampRequestArgs),
}

#[derive(clap::Args, Debug)]
pub struct StampRequestArgs {
    /// The signed claim to time-stamp (its exact bytes are hashed).
    pub claim: PathBuf,
    /// Where to write the DER request (.tsq).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The fingerprint (`mown fingerprint`) or watermark key (`mown watermark`) to claim.
    #[arg(long)]
    pub evidence: PathBuf,
    /// The owner's secret key (`mown keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// The owner model: refuse unless its weights hash is the evidence's owner_sha256.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Free text signed with the claim.
    #[arg(long)]
    pub note: Option<String>,
    /// Where to write the signed claim.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The signed claim or report.
    pub document: PathBuf,
    /// The public key expected to have signed it (64 hex digits). Without it (or
    /// --public-key-file) the check only says which key signed: anyone can sign with their own.
    #[arg(long, conflicts_with = "public_key_file")]
    pub public_key: Option<String>,
    /// A `.pub` file written by `mown keygen`, as --public-key.
    #[arg(long)]
    pub public_key_file: Option<PathBuf>,
    /// The evidence file: check that it is the one claimed (SHA-256).
    #[arg(long)]
    pub evidence: Option<PathBuf>,
    /// The owner model: check that its weights are the ones claimed (SHA-256).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// An RFC 3161 time stamp of the claim file (a TSA's response .tsr, or its token): the
    /// claim's time is then the TSA's, not the signer's own statement.
    #[arg(long, requires = "tsa_cert")]
    pub stamp: Option<PathBuf>,
    /// The certificate (PEM or DER) of the time-stamping authority you trust for --stamp.
    #[arg(long)]
    pub tsa_cert: Option<PathBuf>,
}

/// The TSA's verified time for `claim_bytes`, from a stamp file and the trusted certificate.
pub fn stamped_time(claim_bytes: &[u8], stamp: &Path, tsa_cert: &Path) -> anyhow::Result<mown_claim::StampedTime> {
    let token = std::fs::read(stamp).with_context(|| format!("reading {}", stamp.display()))?;
    let cert = std::fs::read(tsa_cert).with_context(|| format!("reading {}", tsa_cert.display()))?;
    mown_claim::verify_timestamp(&token, claim_bytes, &cert)
        .with_context(|| format!("{} FAILED the time-stamp check", stamp.display()))
}

fn stamp_request(a: StampRequestArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&a.claim).with_context(|| format!("reading {}", a.claim.display()))?;
    // Only a claim that checks is worth a third party's time stamp.
    mown_claim::check(&bytes, None, None, None)
        .map_err(|e| anyhow::anyhow!("{} is not a valid signed claim: {e}", a.claim.display()))?;
    std::fs::write(&a.out, mown_claim::timestamp_request(&bytes, None)?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "time-stamp request for {} (SHA-256 {}) written to {}",
        a.claim.display(),
        mown_claim::sha256_hex(&bytes),
        a.out.display()
    );
    println!(
        "  send it to a time-stamping authority, e.g. `openssl ts -reply -queryfile {} ...` or an RFC 3161 HTTP service",
        a.out.display()
    );
    Ok(())
}

pub fn run(a: ClaimArgs) -> anyhow::Result<()> {
    match a.command {
        ClaimCommand::Create(a) => create(a),
        ClaimCommand::Check(a) => check(a),
        ClaimCommand::StampRequest(a) => stamp_request(a),
    }
}

/// SHA-256 of a model file's weights (what evidence files record as owner_sha256), after checking
/// that it is a mown model whose stored hash matches its weights.
fn model_sha256(path: &Path) -> anyhow::Result<String> {
    let meta = mown_nn::io::read_meta(path)?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let found = mown_nn::io::file_sha256(&bytes, path)?;
    if !meta.weights_sha256.is_empty() && meta.weights_sha256 != found {
        bail!(
            "{}: the weights hash to {found}, the header says {} (corrupt file)",
            path.display(),
            meta.weights_sha256
        );
    }
    Ok(found)
}

fn create(a: CreateArgs) -> anyhow::Result<()> {
    let id = SigningIdentity::load(&a.key)?;
    let evidence = std::fs::read(&a.evidence).with_context(|| format!("reading {}", a.evidence.display()))?;
    let name = a.evidence.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let claim = mown_claim::build_claim(&evidence, &name, a.note.as_deref(), std::time::SystemTime::now())?;
    if let Some(model) = &a.model {
        let found = model_sha256(model)?;
        if found != claim.owner_sha256 {
            return Err(ClaimError::ModelHashMismatch {
                context: format!("{} belongs to owner weights with SHA-256", a.evidence.display()),
                claimed: claim.owner_sha256,
                found,
            }
            .into());
        }
    }
    let doc = mown_claim::sign_claim(&claim, &id);
    doc.save(&a.out)?;
    // Never publish a claim that would not check.
    mown_claim::check(&doc.to_bytes(), Some(&id.public_key_hex()), Some(&evidence), None)
        .context("the claim just written does not check")?;
    println!("signed ownership claim: {}", a.out.display());
    println!("  {} {} ({}), SHA-256 {}", claim.evidence_kind.as_str(), name, claim.method, claim.evidence_sha256);
    println!("  owner weights SHA-256 {}{}", claim.owner_sha256, if a.model.is_some() { " (checked)" } else { "" });
    println!("  created {}", claim.created);
    println!("  signer fingerprint {} (public key {})", id.fingerprint(), id.public_key_hex());
    println!("publish the claim (or its SHA-256, {}) somewhere dated now", mown_claim::sha256_hex(&doc.to_bytes()));
    Ok(())
}

fn check(a: CheckArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&a.document).with_context(|| format!("reading {}", a.document.display()))?;
    let expected = match (&a.public_key, &a.public_key_file) {
        (Some(hex), _) => Some(mown_claim::parse_public_key(hex)?),
        (None, Some(path)) => Some(mown_claim::read_public_key_file(path)?),
        (None, None) => None,
    };
    let fail = |e: ClaimError| anyhow::anyhow!("{} FAILED the check: {e}", a.document.display());
    let doc = mown_claim::check_document(&bytes, None, expected.as_deref()).map_err(fail)?;
    let signer = if doc.key_trusted {
        format!("the expected key, fingerprint {}", doc.signer_fingerprint)
    } else {
        format!(
            "key {} (fingerprint {}); NOT compared with a trusted key: pass --public-key or --public-key-file",
            doc.public_key, doc.signer_fingerprint
        )
    };
    if doc.kind == DocumentKind::VerificationReport {
        if a.evidence.is_some() || a.model.is_some() {
            bail!("{} is a verification report: --evidence and --model apply to claims", a.document.display());
        }
        println!("OK: signed verification report {}", a.document.display());
        println!("  signature valid, canonical form; signed by {signer}");
        println!("  verdict: {}", serde_json::to_string_pretty(&doc.payload)?.replace('\n', "\n  "));
        return Ok(());
    }
    let evidence = match &a.evidence {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let model = a.model.as_deref().map(model_sha256).transpose()?;
    let checked =
        mown_claim::check(&bytes, expected.as_deref(), evidence.as_deref(), model.as_deref()).map_err(fail)?;
    let c = &checked.claim;
    println!("OK: signed ownership claim {}", a.document.display());
    println!("  signature valid, canonical form; signed by {signer}");
    println!("  {} '{}' ({}), created {}", c.evidence_kind.as_str(), c.evidence_file, c.method, c.created);
    let evidence_state =
        if checked.evidence_checked { "the evidence file matches" } else { "not checked (--evidence)" };
    let model_state = if checked.model_checked { "the model's weights match" } else { "not checked (--model)" };
    println!("  evidence SHA-256 {}: {evidence_state}", c.evidence_sha256);
    println!("  owner weights SHA-256 {}: {model_state}", c.owner_sha256);
    match c.seed {
        Some(seed) => println!("  seed {seed}, params {}", c.params),
        None => println!("  params {}", c.params),
    }
    if let Some(note) = &c.note {
        println!("  note: {note}");
    }
    match (&a.stamp, &a.tsa_cert) {
        (Some(stamp), Some(cert)) => {
            let t = stamped_time(&bytes, stamp, cert)?;
            println!("  time-stamped {} by {} (serial {}, policy {}): verified", t.time, t.tsa, t.serial, t.policy);
        }
        _ => println!("  created {} is the signer's own statement; a TSA's time stamp (--stamp) proves it", c.created),
    }
    Ok(())
}
