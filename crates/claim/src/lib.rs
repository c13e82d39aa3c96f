//! mown-claim: signed ownership claims and signed verification reports.
//!
//! Why: fingerprints and watermark keys prove that a suspect agrees with *some* evidence, not
//! that the person holding the evidence made the model. Seed 000's ambiguity attack forges a
//! second, equally convincing fingerprint for a model the attacker does not own; a dispute
//! between two such claims is settled by who can show theirs existed first. An
//! [`OwnershipClaim`] binds the evidence file (its SHA-256), the owner model's weights hash, the
//! parameters and a creation time under the owner's ed25519 signature; published before a
//! dispute (or its hash, somewhere dated), it fixes the evidence in time and to one key.
//!
//! Everything is a [`SignedDocument`]: the exact payload JSON text, its kind, the signer's public
//! key and the signature. Checking rejects any modified byte of the file: the signature covers
//! the payload and the kind, and the envelope must be byte-for-byte in its canonical form.
//! Because anyone can sign with a key of their own, a checker who knows the owner's public key
//! should pass it (`expected_public_key`); otherwise the check only says *which* key signed.

mod claim;
mod document;
mod identity;
mod time;
mod timestamp;

pub use claim::{CLAIM_VERSION, CheckedClaim, OwnershipClaim, build_claim, check, create, sign_claim};
pub use document::{
    CheckedDocument, DocumentKind, FORMAT, SIGNATURE_DOMAIN, SignedDocument, check_document, sign_report,
};
pub use identity::{SigningIdentity, key_fingerprint, parse_public_key, public_key_path, read_public_key_file};
pub use time::rfc3339_utc;
pub use timestamp::{StampedTime, read_certificate, request as timestamp_request, verify as verify_timestamp};

use std::path::PathBuf;

/// Why a key could not be made or read, or a document failed its check. Every failure of a
/// check names what failed, so a person can tell tampering from a wrong file.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("unparseable: {0}")]
    Unparseable(String),
    #[error(
        "not in canonical form: the file differs from what mown writes for its own contents \
         (a modified, reformatted or truncated file)"
    )]
    NotCanonical,
    #[error("unknown document format '{0}' (expected '{FORMAT}')")]
    UnknownFormat(String),
    #[error("unknown document kind '{0}' (expected 'ownership-claim' or 'verification-report')")]
    UnknownKind(String),
    #[error("wrong document kind: expected {expected}, found {found}")]
    WrongKind { expected: DocumentKind, found: DocumentKind },
    #[error("bad public key: {0}")]
    BadPublicKey(String),
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error(
        "public key mismatch: signed by key {found} (fingerprint), not by the expected key {expected}; \
         anyone can sign a document with a key of their own"
    )]
    PublicKeyMismatch { expected: String, found: String },
    #[error("evidence hash mismatch: the claim is for evidence with SHA-256 {claimed}, this file has {found}")]
    EvidenceHashMismatch { claimed: String, found: String },
    #[error("model hash mismatch: {context} {claimed}, the model's weights have {found}")]
    ModelHashMismatch { context: String, claimed: String, found: String },
    #[error("bad evidence file: {0}")]
    BadEvidence(String),
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("time stamp: {0}")]
    TimeStamp(String),
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// True for exactly 64 lower-case hex digits (what mown writes for a SHA-256).
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
