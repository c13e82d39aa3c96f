//! The signed envelope shared by ownership claims and verification reports.
//!
//! The payload is kept as the exact JSON text that was signed, so checking never depends on how
//! a JSON library re-serialises numbers or key order. The signature covers a domain-separation
//! prefix, the kind and the payload, so a signed verification report can never be passed off as
//! a signed claim (or a signature made for another program reused). The envelope itself must be
//! byte-for-byte what [`SignedDocument::to_bytes`] writes: together with the signature this makes
//! every byte of the file significant, so any modification (even whitespace) is detected.

use std::fmt;
use std::path::Path;

use ed25519_dalek::{Signature, Signer};
use serde::{Deserialize, Serialize};

use crate::identity::{decode_public_key, fingerprint_of, parse_public_key};
use crate::{ClaimError, SigningIdentity};

/// The envelope's format tag.
pub const FORMAT: &str = "mown-signed/1";
/// Prefix of every signed message: `SIGNATURE_DOMAIN || kind || 0x00 || payload`.
pub const SIGNATURE_DOMAIN: &[u8] = b"mown-signed/1\0";

/// What a signed document holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    /// An [`crate::OwnershipClaim`]: "this evidence for this model is mine, as of this time".
    OwnershipClaim,
    /// A verdict of `mown verify` (the `mown_eval::Verdict` JSON).
    VerificationReport,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::OwnershipClaim => "ownership-claim",
            DocumentKind::VerificationReport => "verification-report",
        }
    }

    fn parse(s: &str) -> Result<DocumentKind, ClaimError> {
        match s {
            "ownership-claim" => Ok(DocumentKind::OwnershipClaim),
            "verification-report" => Ok(DocumentKind::VerificationReport),
            other => Err(ClaimError::UnknownKind(other.to_string())),
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed document as stored on disk (pretty JSON, one trailing newline).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedDocument {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`DocumentKind::as_str`].
    pub kind: String,
    /// The exact JSON text that was signed.
    pub payload: String,
    /// The signer's ed25519 public key, 64 lower-case hex digits.
    pub public_key: String,
    /// ed25519 signature over [`SIGNATURE_DOMAIN`] + kind + NUL + payload, 128 lower-case hex digits.
    pub signature: String,
}

fn message(kind: &str, payload: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_DOMAIN.len() + kind.len() + 1 + payload.len());
    m.extend_from_slice(SIGNATURE_DOMAIN);
    m.extend_from_slice(kind.as_bytes());
    m.push(0);
    m.extend_from_slice(payload.as_bytes());
    m
}

impl SignedDocument {
    /// Signs `payload` (JSON text, kept verbatim) as a document of `kind`.
    pub fn sign(kind: DocumentKind, payload: String, identity: &SigningIdentity) -> SignedDocument {
        let signature = identity.signing_key().sign(&message(kind.as_str(), &payload));
        SignedDocument {
            format: FORMAT.to_string(),
            kind: kind.as_str().to_string(),
            payload,
            public_key: identity.public_key_hex(),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// The canonical file contents: pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a struct of strings serialises");
        bytes.push(b'\n');
        bytes
    }

    pub fn save(&self, path: &Path) -> Result<(), ClaimError> {
        std::fs::write(path, self.to_bytes()).map_err(|source| ClaimError::Io { path: path.to_path_buf(), source })
    }

    /// The signer's short key fingerprint as stated by the document (unchecked).
    pub fn signer_fingerprint(&self) -> Result<String, ClaimError> {
        Ok(fingerprint_of(&decode_public_key(&self.public_key)?))
    }
}

/// Signs `payload` as a document of `kind` (for `mown verify --sign-key`: a
/// [`DocumentKind::VerificationReport`] whose payload is the verdict). The payload is written as
/// compact JSON text.
pub fn sign_report(
    kind: DocumentKind,
    payload: &serde_json::Value,
    identity: &SigningIdentity,
) -> Result<SignedDocument, ClaimError> {
    let text = serde_json::to_string(payload).map_err(|e| ClaimError::Unparseable(format!("payload: {e}")))?;
    Ok(SignedDocument::sign(kind, text, identity))
}

/// A document whose signature and form have been checked.
#[derive(Clone, Debug)]
pub struct CheckedDocument {
    pub kind: DocumentKind,
    /// The signed payload text, verbatim.
    pub payload_text: String,
    /// The signed payload, parsed.
    pub payload: serde_json::Value,
    /// The key that signed (64 lower-case hex digits).
    pub public_key: String,
    /// Its short fingerprint.
    pub signer_fingerprint: String,
    /// True when the caller gave an expected public key and it signed; false when the document
    /// only shows that *some* key signed it.
    pub key_trusted: bool,
}

/// Checks a signed document's bytes: parseable, in canonical form, a known format and kind (and
/// `expected_kind` if given), a valid ed25519 signature (strict verification) by the embedded
/// key, and, if `expected_public_key` is given (hex, either case), that this key signed it.
pub fn check_document(
    bytes: &[u8],
    expected_kind: Option<DocumentKind>,
    expected_public_key: Option<&str>,
) -> Result<CheckedDocument, ClaimError> {
    let doc: SignedDocument = serde_json::from_slice(bytes)
        .map_err(|e| ClaimError::Unparseable(format!("not a mown signed document: {e}")))?;
    if doc.to_bytes() != bytes {
        return Err(ClaimError::NotCanonical);
    }
    if doc.format != FORMAT {
        return Err(ClaimError::UnknownFormat(doc.format));
    }
    let kind = DocumentKind::parse(&doc.kind)?;
    if let Some(expected) = expected_kind
        && expected != kind
    {
        return Err(ClaimError::WrongKind { expected, found: kind });
    }
    let key = decode_public_key(&doc.public_key)?;
    let sig_bytes: [u8; 64] = hex::decode(&doc.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .filter(|_| doc.signature.bytes().all(|b| !b.is_ascii_uppercase()))
        .ok_or_else(|| ClaimError::BadSignature("not 128 lower-case hex digits".into()))?;
    let signature = Signature::from_bytes(&sig_bytes);
    key.verify_strict(&message(&doc.kind, &doc.payload), &signature).map_err(|_| {
        ClaimError::BadSignature(format!(
            "the signature does not match the contents for key {} (modified after signing?)",
            fingerprint_of(&key)
        ))
    })?;
    let signer_fingerprint = fingerprint_of(&key);
    let key_trusted = match expected_public_key {
        None => false,
        Some(expected) => {
            let expected = parse_public_key(expected)?;
            if expected != doc.public_key {
                return Err(ClaimError::PublicKeyMismatch {
                    expected: fingerprint_of(&decode_public_key(&expected)?),
                    found: signer_fingerprint,
                });
            }
            true
        }
    };
    let payload = serde_json::from_str(&doc.payload)
        .map_err(|e| ClaimError::Unparseable(format!("signed payload is not JSON: {e}")))?;
    Ok(CheckedDocument {
        kind,
        payload_text: doc.payload,
        payload,
        public_key: doc.public_key,
        signer_fingerprint,
        key_trusted,
    })
}
