//! mown-methods: the ownership-verification methods, one module per paper, behind one interface.
//!
//! A fingerprinting method turns the owner's model (white-box) into a [`Fingerprint`]: points
//! and the owner's labels on them. Verification needs only labels from the suspect, through
//! `mown_access::QueryModel`, so it works on a file, an ONNX export or an HTTP API alike.

pub mod baselines;
pub mod fingerprint;
pub mod ipguard;
pub mod registry;
pub mod verify;

pub use fingerprint::{Fingerprint, Fingerprinter, MatchResult};

/// Why generating or verifying a fingerprint failed.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("invalid parameter: {0}")]
    BadParameter(String),
    #[error("fingerprint file {path}: {reason}")]
    BadFingerprint { path: std::path::PathBuf, reason: String },
    #[error("suspect does not fit the fingerprint: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Model(#[from] mown_nn::NnError),
    #[error(transparent)]
    Data(#[from] mown_data::DataError),
    #[error(transparent)]
    Access(#[from] mown_access::AccessError),
}
