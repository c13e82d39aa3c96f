//! mown-methods: the ownership-verification methods, one module per paper, behind one interface.
//!
//! A fingerprinting method ([`Fingerprinter::generate`]) turns the owner's model (white-box) into a
//! [`Fingerprint`]: points and the owner's labels on them. A watermarking method
//! ([`Watermarker::embed`]) trains the owner's model so that it gives chosen labels on secret
//! triggers, kept in a [`WatermarkKey`]. Both are [`Evidence`]: each declares the access it needs
//! from a suspect (labels here) and measures it through `mown_access::QueryModel`, so it works on
//! a file, an ONNX export or an HTTP API alike, and `verify::verify` turns the measurements of the
//! suspect and of independent models into a verdict with `mown_eval::decide`.

pub mod akh;
pub mod baselines;
pub mod dataset_inference;
pub mod evidence;
pub mod extfeat;
pub mod fingerprint;
pub mod ipguard;
pub mod near_boundary;
pub mod probes;
pub mod registry;
pub mod sac;
pub mod uap;
pub mod verify;
pub mod watermark;

pub use evidence::{Evidence, EvidenceKind, LabelProbe, MatchResult, Measured};
pub use fingerprint::{Fingerprint, Fingerprinter};
pub use watermark::{WatermarkKey, Watermarker};

/// Why generating, embedding or verifying ownership evidence failed.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("invalid parameter: {0}")]
    BadParameter(String),
    #[error("fingerprint file {path}: {reason}")]
    BadFingerprint { path: std::path::PathBuf, reason: String },
    #[error("watermark key {path}: {reason}")]
    BadKey { path: std::path::PathBuf, reason: String },
    #[error("evidence file {path}: {reason}")]
    BadEvidence { path: std::path::PathBuf, reason: String },
    #[error("style transform {0}")]
    Style(String),
    #[error("suspect refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Decision(#[from] mown_eval::EvalError),
    #[error("suspect does not fit the evidence: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Model(#[from] mown_nn::NnError),
    #[error(transparent)]
    Data(#[from] mown_data::DataError),
    #[error(transparent)]
    Access(#[from] mown_access::AccessError),
    #[error(transparent)]
    Attack(#[from] mown_adversary::AttackError),
}

/// SHA-256 of `bytes` as lowercase hex: how evidence names files, encoders and perturbations.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
