//! Signed claims and reports end to end: round trips, and that every modification is detected.

use std::path::Path;

use mown_claim::{
    ClaimError, DocumentKind, SignedDocument, SigningIdentity, check, check_document, create, key_fingerprint,
    parse_public_key, read_public_key_file, sha256_hex, sign_report,
};
use serde_json::json;

const OWNER_SHA: &str = "5f2b7c0d4e6a8b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c";

fn owner() -> SigningIdentity {
    SigningIdentity::from_secret_bytes(&[7u8; 32])
}

fn attacker() -> SigningIdentity {
    SigningIdentity::from_secret_bytes(&[9u8; 32])
}

/// A small fingerprint file in the shape `mown fingerprint` writes.
fn fingerprint_json() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format_version": 1,
        "method": "ipguard-TL",
        "params": {"n": 2, "k": 10.0, "init": "TL", "seed": 3},
        "seed": 3,
        "owner_sha256": OWNER_SHA,
        "owner_derivation": "train(mlp,digits,seed=1)",
        "input_shape": {"channels": 1, "height": 1, "width": 2},
        "num_classes": 3,
        "points": [0.25, 0.5, 0.75, 1.0],
        "labels": [0, 2],
        "stats": {},
        "producer": "mown 0.1.0"
    }))
    .unwrap()
}

fn write_evidence(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("fp.json");
    std::fs::write(&path, fingerprint_json()).unwrap();
    path
}

fn claim_bytes(dir: &Path) -> Vec<u8> {
    let evidence = write_evidence(dir);
    create(&evidence, &owner(), Some("published on 2026-01-01")).unwrap().to_bytes()
}

fn report_bytes() -> Vec<u8> {
    let verdict = json!({
        "method": "ipguard-TL", "suspect": "stolen.safetensors", "score": 0.97,
        "threshold": {"value": 0.5, "how": "given"}, "p_value": 3.1e-40,
        "p_value_null": "chance", "queries": 100, "stolen": true, "details": {}
    });
    sign_report(DocumentKind::VerificationReport, &verdict, &owner()).unwrap().to_bytes()
}

/// Flips every bit of every byte in turn; `check` must reject each variant.
fn assert_every_bit_flip_detected(bytes: &[u8], check: impl Fn(&[u8]) -> Result<(), ClaimError>) {
    check(bytes).expect("the unmodified document checks");
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for pos in 0..bytes.len() {
        for bit in 0..8 {
            let mut m = bytes.to_vec();
            m[pos] ^= 1 << bit;
            match check(&m) {
                Ok(()) => panic!(
                    "flipping bit {bit} of byte {pos} ({:?} -> {:?}) went undetected",
                    bytes[pos] as char, m[pos] as char
                ),
                Err(e) => {
                    let name = format!("{e:?}");
                    *kinds.entry(name.split(['(', ' ', '{']).next().unwrap().to_string()).or_default() += 1;
                }
            }
        }
    }
    // Both the parser and the signature catch some flips (a single flipped bit never turns
    // JSON whitespace into other whitespace, so the canonical-form check is exercised by
    // `truncation_reformatting_and_appended_bytes_are_detected`).
    for k in ["Unparseable", "BadSignature"] {
        assert!(kinds.contains_key(k), "no flip caught as {k}: {kinds:?}");
    }
}

#[test]
fn create_then_check_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = write_evidence(dir.path());
    let doc = create(&evidence, &owner(), Some("first")).unwrap();
    let path = dir.path().join("claim.json");
    doc.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.ends_with(b"}\n"));
    let ev = std::fs::read(&evidence).unwrap();
    let checked = check(&bytes, Some(&owner().public_key_hex()), Some(&ev), Some(OWNER_SHA)).unwrap();
    let c = &checked.claim;
    assert_eq!(c.evidence_kind, "fingerprint");
    assert_eq!(c.method, "ipguard-TL");
    assert_eq!(c.evidence_file, "fp.json");
    assert_eq!(c.evidence_sha256, sha256_hex(&ev));
    assert_eq!(c.owner_sha256, OWNER_SHA);
    assert_eq!(c.seed, Some(3));
    assert_eq!(c.params["init"], "TL");
    assert_eq!(c.note.as_deref(), Some("first"));
    assert!(c.producer.starts_with("mown "));
    assert_eq!(c.created.len(), 20, "{}", c.created);
    assert!(c.created.ends_with('Z') && c.created.as_bytes()[10] == b'T');
    assert!(checked.document.key_trusted && checked.evidence_checked && checked.model_checked);
    assert_eq!(checked.document.signer_fingerprint, owner().fingerprint());
    assert_eq!(checked.document.kind, DocumentKind::OwnershipClaim);
    // Without a trust anchor the check still passes but says so.
    let untrusted = check(&bytes, None, None, None).unwrap();
    assert!(!untrusted.document.key_trusted && !untrusted.evidence_checked && !untrusted.model_checked);
    // A model hash given in upper case is the same hash.
    check(&bytes, None, None, Some(&OWNER_SHA.to_ascii_uppercase())).unwrap();
}

#[test]
fn uap_fingerprints_are_claimed_with_their_encoder_and_references() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uap.json");
    let (enc, r) = ("ab".repeat(32), "cd".repeat(32));
    let fp = json!({"kind": "uap-fingerprint", "format_version": 1, "params": {"seed": 4}, "owner_sha256": OWNER_SHA,
        "points": [0.5], "encoder_sha256": enc, "references": [{"name": "pir1", "role": "piracy", "sha256": r}]});
    std::fs::write(&path, serde_json::to_vec(&fp).unwrap()).unwrap();
    let bytes = create(&path, &owner(), None).unwrap().to_bytes();
    let c = check(&bytes, Some(&owner().public_key_hex()), None, None).unwrap().claim;
    assert_eq!(c.evidence_kind, "uap-fingerprint");
    assert_eq!(c.method, "uap");
    assert_eq!(c.artefacts, vec![("encoder".to_string(), enc), ("reference pir1".to_string(), r)]);
}

#[test]
fn watermark_keys_are_claimed_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wm.key.json");
    let key = json!({"format_version": 1, "scheme": "margin", "params": {"epochs": 2}, "seed": 11,
        "owner_sha256": OWNER_SHA, "triggers": [0.5], "labels": [1], "true_labels": [0]});
    std::fs::write(&path, serde_json::to_vec(&key).unwrap()).unwrap();
    let bytes = create(&path, &owner(), None).unwrap().to_bytes();
    let c = check(&bytes, Some(&owner().public_key_hex()), None, None).unwrap().claim;
    assert_eq!(c.evidence_kind, "watermark-key");
    assert_eq!(c.method, "margin-watermark");
    assert_eq!(c.seed, Some(11));
    assert_eq!(c.note, None);
}

#[test]
fn files_that_are_not_evidence_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("a.json", "not json".to_string()),
        ("b.json", json!({"method": "ipguard", "owner_sha256": OWNER_SHA}).to_string()),
        ("c.json", json!({"method": "ipguard", "points": [], "owner_sha256": "abc"}).to_string()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let e = create(&path, &owner(), None).unwrap_err();
        assert!(matches!(e, ClaimError::BadEvidence(_)), "{name}: {e}");
    }
}

#[test]
fn every_flipped_bit_of_a_claim_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = claim_bytes(dir.path());
    let key = owner().public_key_hex();
    // Without a trust anchor too: tampering is caught by form and signature alone.
    assert_every_bit_flip_detected(&bytes, |b| check(b, None, None, None).map(|_| ()));
    assert_every_bit_flip_detected(&bytes, |b| check(b, Some(&key), None, None).map(|_| ()));
}

#[test]
fn every_flipped_bit_of_a_signed_report_is_detected() {
    let bytes = report_bytes();
    let checked = check_document(&bytes, Some(DocumentKind::VerificationReport), None).unwrap();
    assert_eq!(checked.payload["score"], 0.97);
    assert_every_bit_flip_detected(&bytes, |b| {
        check_document(b, Some(DocumentKind::VerificationReport), None).map(|_| ())
    });
}

#[test]
fn truncation_reformatting_and_appended_bytes_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = claim_bytes(dir.path());
    let doc: SignedDocument = serde_json::from_slice(&bytes).unwrap();
    let compact = serde_json::to_vec(&doc).unwrap();
    let mut appended = bytes.clone();
    appended.push(b'\n');
    let crlf = String::from_utf8(bytes.clone()).unwrap().replace('\n', "\r\n").into_bytes();
    for (what, b) in [("compact", compact), ("appended newline", appended), ("CRLF", crlf)] {
        let e = check(&b, None, None, None).unwrap_err();
        assert!(matches!(e, ClaimError::NotCanonical), "{what}: {e}");
    }
    for n in 0..bytes.len() {
        assert!(check(&bytes[..n], None, None, None).is_err(), "truncated to {n} bytes");
    }
}

#[test]
fn a_report_is_not_a_claim() {
    let e = check(&report_bytes(), None, None, None).unwrap_err();
    assert!(matches!(e, ClaimError::WrongKind { .. }), "{e}");
    // Relabelling the report as a claim breaks the signature (the kind is signed).
    let mut doc: SignedDocument = serde_json::from_slice(&report_bytes()).unwrap();
    doc.kind = "ownership-claim".into();
    let e = check_document(&doc.to_bytes(), None, None).unwrap_err();
    assert!(matches!(e, ClaimError::BadSignature(_)), "{e}");
}

#[test]
fn wrong_expected_public_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = claim_bytes(dir.path());
    let e = check(&bytes, Some(&attacker().public_key_hex()), None, None).unwrap_err();
    match &e {
        ClaimError::PublicKeyMismatch { expected, found } => {
            assert_eq!(expected, &attacker().fingerprint());
            assert_eq!(found, &owner().fingerprint());
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("public key mismatch"), "{e}");
    let e = check(&bytes, Some("not a key"), None, None).unwrap_err();
    assert!(matches!(e, ClaimError::BadPublicKey(_)), "{e}");
}

#[test]
fn evidence_with_any_changed_byte_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = claim_bytes(dir.path());
    let evidence = fingerprint_json();
    check(&bytes, None, Some(&evidence), None).unwrap();
    for pos in 0..evidence.len() {
        let mut m = evidence.clone();
        m[pos] ^= 0x01;
        let e = check(&bytes, None, Some(&m), None).unwrap_err();
        assert!(matches!(e, ClaimError::EvidenceHashMismatch { .. }), "byte {pos}: {e}");
    }
    let e = check(&bytes, None, None, Some(&"0".repeat(64))).unwrap_err();
    assert!(matches!(e, ClaimError::ModelHashMismatch { .. }), "{e}");
    assert!(e.to_string().contains("model hash mismatch"), "{e}");
}

#[test]
fn a_claim_resigned_by_another_key_is_caught_by_the_trust_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = claim_bytes(dir.path());
    let original: SignedDocument = serde_json::from_slice(&bytes).unwrap();
    // Seed 000's attacker copies the owner's claim and signs it as their own.
    let forged = SignedDocument::sign(DocumentKind::OwnershipClaim, original.payload.clone(), &attacker()).to_bytes();
    let e = check(&forged, Some(&owner().public_key_hex()), None, None).unwrap_err();
    assert!(matches!(e, ClaimError::PublicKeyMismatch { .. }), "{e}");
    let accepted = check(&forged, None, None, None).unwrap();
    assert_eq!(accepted.document.signer_fingerprint, attacker().fingerprint());
    assert_ne!(accepted.document.signer_fingerprint, owner().fingerprint());
    assert!(!accepted.document.key_trusted);
    // Swapping only the public key (keeping the owner's signature) fails the signature.
    let mut swapped = original;
    swapped.public_key = attacker().public_key_hex();
    let e = check(&swapped.to_bytes(), None, None, None).unwrap_err();
    assert!(matches!(e, ClaimError::BadSignature(_)), "{e}");
}

#[test]
fn upper_case_hex_in_a_document_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = claim_bytes(dir.path());
    let doc: SignedDocument = serde_json::from_slice(&bytes).unwrap();
    let mut a = doc.clone();
    a.public_key = a.public_key.to_ascii_uppercase();
    assert!(matches!(check(&a.to_bytes(), None, None, None), Err(ClaimError::BadPublicKey(_))));
    let mut b = doc;
    b.signature = b.signature.to_ascii_uppercase();
    assert!(matches!(check(&b.to_bytes(), None, None, None), Err(ClaimError::BadSignature(_))));
}

#[test]
fn key_files_round_trip_and_the_secret_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("owner.key");
    let id = SigningIdentity::generate().unwrap();
    let pub_path = id.save(&path, false).unwrap();
    assert_eq!(pub_path, dir.path().join("owner.key.pub"));
    let loaded = SigningIdentity::load(&path).unwrap();
    assert_eq!(loaded.public_key_hex(), id.public_key_hex());
    assert_eq!(read_public_key_file(&pub_path).unwrap(), id.public_key_hex());
    assert_eq!(key_fingerprint(&id.public_key_hex()).unwrap(), id.fingerprint());
    assert_eq!(id.fingerprint().len(), 16);
    assert_eq!(parse_public_key(&format!(" {}\n", id.public_key_hex().to_uppercase())).unwrap(), id.public_key_hex());
    assert!(!format!("{id:?}").contains(&hex_secret(&path)), "Debug must not print the secret");
    assert_ne!(SigningIdentity::generate().unwrap().public_key_hex(), id.public_key_hex());
    // An existing key is never replaced silently.
    let e = SigningIdentity::generate().unwrap().save(&path, false).unwrap_err();
    assert!(e.to_string().contains("refusing to overwrite"), "{e}");
    assert_eq!(SigningIdentity::load(&path).unwrap().public_key_hex(), id.public_key_hex());
    std::fs::write(dir.path().join("not.key"), "zz\n").unwrap();
    assert!(matches!(SigningIdentity::load(&dir.path().join("not.key")), Err(ClaimError::KeyFile { .. })));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        // Replacing a world-readable file with --force leaves it private.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let other = SigningIdentity::generate().unwrap();
        other.save(&path, true).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(SigningIdentity::load(&path).unwrap().public_key_hex(), other.public_key_hex());
    }
}

fn hex_secret(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}
