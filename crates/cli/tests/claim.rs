//! `mown keygen`, `mown claim create|check` and `mown verify --sign-key`, as a user runs them.

mod common;

use common::{assert_clean_failure, mown, ok, train_digits_mlp};

#[test]
fn keygen_claim_check_and_signed_report() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let train = |out: &str, seed: &str| train_digits_mlp(&p(out), "1", seed);
    train("owner.safetensors", "1");
    train("other.safetensors", "2");
    ok(mown(&["fingerprint", "random", "--model", &p("owner.safetensors"), "--out", &p("fp.json"), "--n", "20"]));

    ok(mown(&["keygen", "--out", &p("owner.key")]));
    ok(mown(&["keygen", "--out", &p("thief.key")]));
    assert_clean_failure(&mown(&["keygen", "--out", &p("owner.key")]), "refusing to overwrite");

    // The model given to `claim create` must be the evidence's owner.
    assert_clean_failure(
        &mown(&[
            "claim",
            "create",
            "--evidence",
            &p("fp.json"),
            "--key",
            &p("owner.key"),
            "--model",
            &p("other.safetensors"),
            "--out",
            &p("bad.json"),
        ]),
        "model hash mismatch",
    );
    let t = ok(mown(&[
        "claim",
        "create",
        "--evidence",
        &p("fp.json"),
        "--key",
        &p("owner.key"),
        "--model",
        &p("owner.safetensors"),
        "--note",
        "first",
        "--out",
        &p("claim.json"),
    ]));
    assert!(t.contains("signed ownership claim"), "{t}");

    let t = ok(mown(&[
        "claim",
        "check",
        &p("claim.json"),
        "--public-key-file",
        &p("owner.key.pub"),
        "--evidence",
        &p("fp.json"),
        "--model",
        &p("owner.safetensors"),
    ]));
    assert!(t.contains("OK: signed ownership claim") && t.contains("the expected key"), "{t}");
    assert!(t.contains("the evidence file matches") && t.contains("the model's weights match"), "{t}");
    let t = ok(mown(&["claim", "check", &p("claim.json")]));
    assert!(t.contains("NOT compared with a trusted key"), "{t}");
    assert_clean_failure(
        &mown(&["claim", "check", &p("claim.json"), "--public-key-file", &p("thief.key.pub")]),
        "public key mismatch",
    );
    assert_clean_failure(
        &mown(&["claim", "check", &p("claim.json"), "--model", &p("other.safetensors")]),
        "model hash mismatch",
    );
    let mut evidence = std::fs::read(p("fp.json")).unwrap();
    evidence.push(b' ');
    std::fs::write(p("fp2.json"), &evidence).unwrap();
    assert_clean_failure(
        &mown(&["claim", "check", &p("claim.json"), "--evidence", &p("fp2.json")]),
        "evidence hash mismatch",
    );
    let mut claim = std::fs::read(p("claim.json")).unwrap();
    let i = claim.len() / 2;
    claim[i] ^= 1;
    std::fs::write(p("claim.json"), &claim).unwrap();
    assert_clean_failure(&mown(&["claim", "check", &p("claim.json")]), "FAILED the check");

    // A signed verification report.
    assert_clean_failure(
        &mown(&[
            "verify",
            "--fingerprint",
            &p("fp.json"),
            "--suspect",
            &p("owner.safetensors"),
            "--threshold",
            "0.5",
            "--sign-key",
            &p("owner.key"),
        ]),
        "--report",
    );
    ok(mown(&[
        "verify",
        "--fingerprint",
        &p("fp.json"),
        "--suspect",
        &p("owner.safetensors"),
        "--threshold",
        "0.5",
        "--report",
        &p("report.json"),
        "--sign-key",
        &p("owner.key"),
    ]));
    let t = ok(mown(&["claim", "check", &p("report.json"), "--public-key-file", &p("owner.key.pub")]));
    // A given threshold with no negatives and no chance rate has no null: INCONCLUSIVE, signed
    // as such; turning it into STOLEN breaks the signature.
    assert!(t.contains("OK: signed verification report") && t.contains("\"decision\": \"INCONCLUSIVE\""), "{t}");
    let report = String::from_utf8(std::fs::read(p("report.json")).unwrap()).unwrap();
    std::fs::write(p("report.json"), report.replace("INCONCLUSIVE", "STOLEN")).unwrap();
    assert_clean_failure(&mown(&["claim", "check", &p("report.json")]), "FAILED the check");
}
