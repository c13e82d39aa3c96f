//! mown-methods: the ownership-verification methods, one module per paper, behind one interface.
//!
//! A fingerprinting method ([`Fingerprinter::generate`]) turns the owner's model (white-box) into a
//! [`Fingerprint`]: points and the owner's labels on them. A watermarking method
//! ([`Watermarker::embed`]) trains the owner's model so that it gives chosen labels on secret
//! triggers, kept in a [`WatermarkKey`]. Both are [`Evidence`]: verification needs only labels
//! from the suspect, through `mown_access::QueryModel`, so it works on a file, an ONNX export or
//! an HTTP API alike, and `verify::verify` turns the agreement into a verdict.

pub mod baselines;
pub mod evidence;
pub mod fingerprint;
pub mod ipguard;
pub mod registry;
pub mod verify;
pub mod watermark;

pub use evidence::{Evidence, MatchResult};
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
    #[error("suspect does not fit the evidence: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Model(#[from] mown_nn::NnError),
    #[error(transparent)]
    Data(#[from] mown_data::DataError),
    #[error(transparent)]
    Access(#[from] mown_access::AccessError),
}
