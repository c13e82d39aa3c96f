//! Tokens from a local time-stamping authority: `openssl ts -reply`, with a throwaway RSA or
//! P-256 certificate made by `openssl req`, in a temporary folder.

use std::path::Path;
use std::process::Command;

use super::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl (scripts/fetch-data.sh installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A TSA in `dir`: key and certificate (`rsa` or `ec`), its configuration and serial file.
fn tsa(dir: &Path, kind: &str, time_stamping: bool) {
    let key = match kind {
        "rsa" => vec!["-newkey", "rsa:2048"],
        _ => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    };
    let eku = if time_stamping { "extendedKeyUsage=critical,timeStamping" } else { "extendedKeyUsage=serverAuth" };
    let mut args = vec!["req", "-x509", "-nodes", "-keyout", "tsa.key", "-out", "tsa.crt", "-days", "3650"];
    args.extend(key);
    args.extend(["-subj", "/CN=mown test TSA", "-addext", eku]);
    openssl(dir, &args);
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    let cnf = format!(
        "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\ndir = {}\nserial = $dir/serial\ncrypto_device = builtin\n\
         signer_cert = $dir/tsa.crt\ncerts = $dir/tsa.crt\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\n\
         default_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\nordering = yes\ntsa_name = yes\n\
         ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
        dir.display()
    );
    std::fs::write(dir.join("tsa.cnf"), cnf).unwrap();
}

/// The TSA's response to mown's own request for `data`.
fn stamp(dir: &Path, data: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("req.tsq"), request(data, Some(42)).unwrap()).unwrap();
    openssl(dir, &["ts", "-reply", "-config", "tsa.cnf", "-queryfile", "req.tsq", "-out", "resp.tsr"]);
    std::fs::read(dir.join("resp.tsr")).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn tokens_of_a_local_tsa_verify_and_name_their_time() {
    for kind in ["rsa", "ec"] {
        let dir = tempfile::tempdir().unwrap();
        tsa(dir.path(), kind, true);
        let claim = b"{\"a claim\": 1}\n";
        let resp = stamp(dir.path(), claim);
        let cert = std::fs::read(dir.path().join("tsa.crt")).unwrap();
        let t = verify(&resp, claim, &cert).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(t.unix_seconds.abs_diff(now()) < 120, "{kind}: stamped {} ({})", t.time, t.unix_seconds);
        assert!(t.tsa.contains("mown test TSA") && t.policy == "1.2.3.4.1", "{t:?}");
        assert_eq!(t.data_sha256, crate::sha256_hex(claim));
        // The bare token (what `openssl ts -reply -token_out` writes) verifies the same.
        openssl(
            dir.path(),
            &["ts", "-reply", "-config", "tsa.cnf", "-queryfile", "req.tsq", "-token_out", "-out", "token.der"],
        );
        let token = std::fs::read(dir.path().join("token.der")).unwrap();
        assert_eq!(verify(&token, claim, &cert).unwrap().data_sha256, t.data_sha256);
        // DER certificates are read as well as PEM.
        openssl(dir.path(), &["x509", "-in", "tsa.crt", "-outform", "DER", "-out", "tsa.der"]);
        assert!(verify(&resp, claim, &std::fs::read(dir.path().join("tsa.der")).unwrap()).is_ok());
    }
}

#[test]
fn a_token_for_other_bytes_an_altered_token_or_another_tsa_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    tsa(dir.path(), "rsa", true);
    let claim = b"the owner's claim";
    let resp = stamp(dir.path(), claim);
    let cert = std::fs::read(dir.path().join("tsa.crt")).unwrap();
    let err = verify(&resp, b"the thief's claim", &cert).unwrap_err().to_string();
    assert!(err.contains("stamps other bytes"), "{err}");
    // Any altered byte of what is signed fails: the TSTInfo (the imprint, the time, the serial)
    // and the signature at the end of the response. (The embedded certificate is not signed and
    // not used: the checker gives the certificate it trusts.)
    let token = TimeStampResp::from_der(&resp).unwrap().time_stamp_token.unwrap();
    let signed = TokenSignedData::from_der(&token.content.to_der().unwrap()).unwrap();
    let tst = signed.encap.econtent.unwrap().value().to_vec();
    let start = resp.windows(tst.len()).position(|w| w == tst.as_slice()).expect("the TSTInfo is in the response");
    let positions: Vec<usize> = (start..start + tst.len()).step_by(7).chain(resp.len() - 40..resp.len()).collect();
    for &at in &positions {
        let mut bad = resp.clone();
        bad[at] ^= 0x01;
        assert!(verify(&bad, claim, &cert).is_err(), "a token altered at byte {at} of {} verified", resp.len());
    }
    // Another TSA's certificate (a thief's own) does not vouch for this token.
    let other = tempfile::tempdir().unwrap();
    tsa(other.path(), "rsa", true);
    let err = verify(&resp, claim, &std::fs::read(other.path().join("tsa.crt")).unwrap()).unwrap_err().to_string();
    assert!(err.contains("not by the given TSA certificate") || err.contains("does not verify"), "{err}");
    // Garbage is a clear error, not a panic.
    assert!(verify(b"not a token", claim, &cert).unwrap_err().to_string().contains("neither an RFC 3161"));
    assert!(verify(&resp, claim, b"not a certificate").unwrap_err().to_string().contains("not a PEM or DER"));
}

#[test]
fn a_certificate_not_for_time_stamping_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    tsa(dir.path(), "ec", false);
    // openssl itself refuses to sign with it, so sign with a proper TSA and pin a lookalike
    // certificate of the same key without the time-stamping usage.
    let ok_dir = tempfile::tempdir().unwrap();
    tsa(ok_dir.path(), "ec", true);
    let claim = b"x";
    let resp = stamp(ok_dir.path(), claim);
    openssl(
        ok_dir.path(),
        &[
            "req",
            "-x509",
            "-key",
            "tsa.key",
            "-out",
            "plain.crt",
            "-days",
            "10",
            "-subj",
            "/CN=mown test TSA",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-set_serial",
            "7",
        ],
    );
    let err = verify(&resp, claim, &std::fs::read(ok_dir.path().join("plain.crt")).unwrap()).unwrap_err().to_string();
    assert!(err.contains("not by the given TSA certificate") || err.contains("not for time stamping"), "{err}");
}
