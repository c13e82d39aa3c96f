//! The ownership claim: "this evidence file, for the model whose weights hash to this, is mine,
//! as of this time", signed by the owner.
//!
//! Seed 000's ambiguity attack gives an attacker a forged fingerprint that verifies just as well
//! as the owner's; what the attacker cannot forge after the fact is a claim signed and published
//! before the dispute. The claim pins the evidence by its SHA-256 (not its contents: the
//! fingerprint or watermark key can stay secret until the dispute) and the owner model by the
//! SHA-256 of its weights. The `created` time is the signer's own statement; what proves it is
//! publishing the claim (or its SHA-256) somewhere dated and outside the signer's control.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::{CheckedDocument, DocumentKind, SignedDocument, check_document};
use crate::{ClaimError, SigningIdentity, is_sha256_hex, sha256_hex};

/// Version of the [`OwnershipClaim`] payload.
pub const CLAIM_VERSION: u32 = 1;

/// The signed payload of a claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnershipClaim {
    /// [`CLAIM_VERSION`].
    pub claim_version: u32,
    /// The evidence file's `kind` tag ("fingerprint", "watermark-key", "uap-fingerprint",
    /// "sac-fingerprint", ...): read from the file, so a new method needs no change here.
    pub evidence_kind: String,
    /// As verdicts name it: "ipguard-TL", "margin-watermark", ...
    pub method: String,
    /// The evidence file's name when the claim was made (informative; the hash is what counts).
    pub evidence_file: String,
    /// SHA-256 of the evidence file's bytes.
    pub evidence_sha256: String,
    /// SHA-256 of the owner model's weights, as recorded in the evidence file.
    pub owner_sha256: String,
    /// The evidence's generation or embedding parameters.
    pub params: Value,
    pub seed: Option<u64>,
    /// When the claim was signed, RFC 3339 UTC (the signer's statement).
    pub created: String,
    /// Free text from the owner.
    pub note: Option<String>,
    /// "mown <version>".
    pub producer: String,
    /// What else the verdicts of this evidence depend on, by SHA-256 (a UAP fingerprint's encoder
    /// and reference models). They are inside the evidence file, which `evidence_sha256` pins;
    /// listed so that a reader of the claim sees them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artefacts: Vec<(String, String)>,
}

impl OwnershipClaim {
    fn validate(&self) -> Result<(), ClaimError> {
        let bad = |what: String| ClaimError::Unparseable(format!("signed payload is not a valid claim: {what}"));
        if self.claim_version != CLAIM_VERSION {
            return Err(bad(format!("unsupported claim version {}", self.claim_version)));
        }
        for (name, h) in [("evidence_sha256", &self.evidence_sha256), ("owner_sha256", &self.owner_sha256)] {
            if !is_sha256_hex(h) {
                return Err(bad(format!("{name} '{h}' is not a SHA-256")));
            }
        }
        Ok(())
    }
}

/// Builds the claim for an evidence file's bytes. The evidence is read as generic JSON (a
/// fingerprint has `method` and `points`, a watermark key `scheme` and `triggers`), so this crate
/// needs no dependency on the methods.
pub fn build_claim(
    evidence_bytes: &[u8],
    evidence_file: &str,
    note: Option<&str>,
    created: SystemTime,
) -> Result<OwnershipClaim, ClaimError> {
    let v: Value = serde_json::from_slice(evidence_bytes)
        .map_err(|e| ClaimError::BadEvidence(format!("{evidence_file} is not JSON: {e}")))?;
    let field = |name: &str| v.get(name).filter(|x| !x.is_null());
    let text = |name: &str| field(name).and_then(Value::as_str);
    let mut artefacts = Vec::new();
    // Hashes the verdicts depend on besides the owner's weights (a UAP fingerprint's encoder),
    // and reference models the verifier was fitted on.
    if let Some(map) = v.as_object() {
        for (key, value) in map {
            if let (Some(name), Some(h)) = (key.strip_suffix("_sha256"), value.as_str())
                && key != "owner_sha256"
                && is_sha256_hex(h)
            {
                artefacts.push((name.replace('_', " "), h.to_string()));
            }
        }
    }
    for r in field("references").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(name), Some(h)) = (r["name"].as_str(), r["sha256"].as_str()) {
            artefacts.push((format!("reference {name}"), h.to_string()));
        }
    }
    let (evidence_kind, method) = match (text("kind"), text("method"), text("scheme")) {
        (Some(kind), method, scheme) => {
            let method = method.map(str::to_string).or_else(|| scheme.map(|s| format!("{s}-watermark")));
            let fallback = kind.strip_suffix("-fingerprint").unwrap_or(kind).to_string();
            (kind.to_string(), method.unwrap_or(fallback))
        }
        // Files of mown before the kind tag.
        (None, _, Some(scheme)) if field("triggers").is_some() => {
            ("watermark-key".into(), format!("{scheme}-watermark"))
        }
        (None, Some(method), _) if field("points").is_some() => ("fingerprint".into(), method.to_string()),
        _ => {
            return Err(ClaimError::BadEvidence(format!(
                "{evidence_file} is not a mown evidence file (no kind tag, and neither a fingerprint nor a watermark key)"
            )));
        }
    };
    let owner_sha256 = text("owner_sha256")
        .filter(|h| is_sha256_hex(h))
        .ok_or_else(|| ClaimError::BadEvidence(format!("{evidence_file} has no owner_sha256 (64 hex digits)")))?;
    let seed = match field("seed") {
        None => None,
        Some(s) => Some(s.as_u64().ok_or_else(|| ClaimError::BadEvidence(format!("seed {s} is not a u64")))?),
    };
    Ok(OwnershipClaim {
        claim_version: CLAIM_VERSION,
        evidence_kind,
        method,
        evidence_file: evidence_file.to_string(),
        evidence_sha256: sha256_hex(evidence_bytes),
        owner_sha256: owner_sha256.to_string(),
        params: field("params").cloned().unwrap_or(Value::Null),
        seed,
        created: crate::rfc3339_utc(created),
        note: note.map(str::to_string),
        producer: format!("mown {}", env!("CARGO_PKG_VERSION")),
        artefacts,
    })
}

/// Signs a claim as an `ownership-claim` document.
pub fn sign_claim(claim: &OwnershipClaim, identity: &SigningIdentity) -> SignedDocument {
    let payload = serde_json::to_string(claim).expect("a claim serialises");
    SignedDocument::sign(DocumentKind::OwnershipClaim, payload, identity)
}

/// Reads the evidence file and signs a claim to it, dated now.
pub fn create(
    evidence_path: &Path,
    identity: &SigningIdentity,
    note: Option<&str>,
) -> Result<SignedDocument, ClaimError> {
    let bytes =
        std::fs::read(evidence_path).map_err(|source| ClaimError::Io { path: evidence_path.to_path_buf(), source })?;
    let name = evidence_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let claim = build_claim(&bytes, &name, note, SystemTime::now())?;
    Ok(sign_claim(&claim, identity))
}

/// A claim whose signature, form and (where given) hashes have been checked.
#[derive(Clone, Debug)]
pub struct CheckedClaim {
    pub claim: OwnershipClaim,
    pub document: CheckedDocument,
    /// The evidence file's SHA-256 was compared with the claim's.
    pub evidence_checked: bool,
    /// The owner model's weights hash was compared with the claim's.
    pub model_checked: bool,
}

/// Checks a claim file's bytes: everything [`check_document`] checks (any modified byte fails),
/// that it is an ownership claim, and, when given, that `evidence_bytes` hash to the claimed
/// evidence and `owner_model_sha256` (the weights hash of a model file) is the claimed owner.
pub fn check(
    doc_bytes: &[u8],
    expected_public_key: Option<&str>,
    evidence_bytes: Option<&[u8]>,
    owner_model_sha256: Option<&str>,
) -> Result<CheckedClaim, ClaimError> {
    let document = check_document(doc_bytes, Some(DocumentKind::OwnershipClaim), expected_public_key)?;
    let claim: OwnershipClaim = serde_json::from_str(&document.payload_text)
        .map_err(|e| ClaimError::Unparseable(format!("signed payload is not an ownership claim: {e}")))?;
    claim.validate()?;
    if let Some(evidence) = evidence_bytes {
        let found = sha256_hex(evidence);
        if found != claim.evidence_sha256 {
            return Err(ClaimError::EvidenceHashMismatch { claimed: claim.evidence_sha256, found });
        }
    }
    if let Some(model) = owner_model_sha256 {
        let found = model.trim().to_ascii_lowercase();
        if found != claim.owner_sha256 {
            return Err(ClaimError::ModelHashMismatch {
                context: "the claim is for owner weights with SHA-256".into(),
                claimed: claim.owner_sha256,
                found,
            });
        }
    }
    Ok(CheckedClaim {
        claim,
        document,
        evidence_checked: evidence_bytes.is_some(),
        model_checked: owner_model_sha256.is_some(),
    })
}
