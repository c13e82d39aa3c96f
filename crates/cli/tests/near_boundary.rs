//! `mown fingerprint near-boundary` and `mown verify --evidence` on it as a user runs them: phase 3
//! needs somewhere to write the tuned owner, the verdict on the tuned owner's copy reports the
//! samples rule, the lower-is-closer direction and the queries.

mod common;

use common::{assert_clean_failure, mown, ok, train_digits_mlp};

#[test]
fn near_boundary_evidence_and_its_verdict_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    train_digits_mlp(&p("owner"), "8", "1");
    for (out, seed) in [("neg1", "21"), ("neg2", "22"), ("neg3", "23")] {
        train_digits_mlp(&p(out), "8", seed);
    }
    let args = [
        "fingerprint",
        "near-boundary",
        "--model",
        &p("owner"),
        "--boundary",
        "3,5",
        "--seeds",
        "120",
        "--gan-steps",
        "200",
        "--gan-widths",
        "32,16",
    ];
    let out = p("nb.json");
    assert_clean_failure(&mown(&[&args[..], &["--out", &out]].concat()), "--tuned-out");
    let t = ok(mown(&[&args[..], &["--out", &out, "--n", "40", "--tuned-out", &p("tuned")]].concat()));
    assert!(t.contains("near-boundary(3,5): 40 samples") && t.contains("boundary-tuned owner written"), "{t}");
    ok(mown(&["steal", "--victim", &p("tuned"), "--attack", "ftal(1,lr=0.001)", "--out", &p("copy")]));
    let negatives = format!("{},{},{}", p("neg1"), p("neg2"), p("neg3"));
    let t = ok(mown(&[
        "verify",
        "--evidence",
        &out,
        "--suspect",
        &p("copy"),
        "--negatives",
        &negatives,
        "--pooled-threshold",
        "--report",
        &p("v.json"),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p("v.json")).unwrap()).unwrap();
    assert_eq!((v["queries"].as_u64(), v["direction"].as_str()), (Some(40), Some("lower")), "{t}");
    assert!(v["rule"].as_str().unwrap().starts_with("samples") && v["p_value"].is_number(), "{t}");
    assert_eq!(v["method"], "near-boundary(3,5)", "{t}");
    let e: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(e["kind"], "near-boundary");
    assert_ne!(e["owner_sha256"], e["untuned_owner_sha256"]);
    // A thief forges evidence on the copy; `mown dispute` measures both on it and says who wins.
    ok(mown(&[
        "fingerprint",
        "near-boundary",
        "--model",
        &p("copy"),
        "--boundary",
        "3,5",
        "--seeds",
        "120",
        "--n",
        "40",
        "--no-finetune",
        "--seed",
        "9",
        "--out",
        &p("forged.json"),
    ]));
    let t = ok(mown(&[
        "dispute",
        "--owner-evidence",
        &out,
        "--claimant-evidence",
        &p("forged.json"),
        "--suspect",
        &p("copy"),
        "--report",
        &p("d.json"),
    ]));
    assert!(t.contains("DISPUTE over boundary (3, 5)"), "{t}");
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(p("d.json")).unwrap()).unwrap();
    assert!(["owner", "claimant", "neither"].contains(&d["winner"].as_str().unwrap()), "{t}");
    assert_eq!(d["queries"], 80, "{t}");
    // Priority by RFC 3161 time stamps: both parties claim their evidence, a local TSA (openssl
    // ts) stamps the owner's claim first, and the dispute reports the verified order.
    ok(mown(&["keygen", "--out", &p("owner.key")]));
    ok(mown(&["keygen", "--out", &p("thief.key")]));
    for (who, evidence) in [("owner", out.as_str()), ("thief", p("forged.json").as_str())] {
        let claim = p(&format!("{who}-claim.json"));
        ok(mown(&["claim", "create", "--evidence", evidence, "--key", &p(&format!("{who}.key")), "--out", &claim]));
        ok(mown(&["claim", "stamp-request", &claim, "--out", &p(&format!("{who}.tsq"))]));
        common::tsa_reply(dir.path(), &format!("{who}.tsq"), &format!("{who}.tsr"));
        if who == "owner" {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
    }
    let t =
        ok(mown(&["claim", "check", &p("owner-claim.json"), "--stamp", &p("owner.tsr"), "--tsa-cert", &p("tsa.crt")]));
    assert!(t.contains("time-stamped") && t.contains("verified"), "{t}");
    // The thief's stamp is not a stamp of the owner's claim.
    assert_clean_failure(
        &mown(&["claim", "check", &p("owner-claim.json"), "--stamp", &p("thief.tsr"), "--tsa-cert", &p("tsa.crt")]),
        "stamps other bytes",
    );
    let t = ok(mown(&[
        "dispute",
        "--owner-evidence",
        &out,
        "--claimant-evidence",
        &p("forged.json"),
        "--suspect",
        &p("copy"),
        "--owner-claim",
        &p("owner-claim.json"),
        "--owner-stamp",
        &p("owner.tsr"),
        "--claimant-claim",
        &p("thief-claim.json"),
        "--claimant-stamp",
        &p("thief.tsr"),
        "--tsa-cert",
        &p("tsa.crt"),
        "--report",
        &p("d.json"),
    ]));
    assert!(t.contains("the owner claimed this evidence first"), "{t}");
    let d: serde_json::Value = serde_json::from_slice(&std::fs::read(p("d.json")).unwrap()).unwrap();
    assert_eq!(d["priority"]["first"], "owner", "{t}");
    // A claim swapped onto the other party's evidence fails its check.
    assert_clean_failure(
        &mown(&[
            "dispute",
            "--owner-evidence",
            &out,
            "--claimant-evidence",
            &p("forged.json"),
            "--suspect",
            &p("copy"),
            "--owner-claim",
            &p("thief-claim.json"),
            "--owner-stamp",
            &p("thief.tsr"),
            "--claimant-claim",
            &p("owner-claim.json"),
            "--claimant-stamp",
            &p("owner.tsr"),
            "--tsa-cert",
            &p("tsa.crt"),
        ]),
        "evidence hash mismatch",
    );
    // A boundary outside the owner's classes is a clear error.
    assert_clean_failure(
        &mown(&[
            "fingerprint",
            "near-boundary",
            "--model",
            &p("owner"),
            "--boundary",
            "3,12",
            "--no-finetune",
            "--out",
            &out,
        ]),
        "two different classes",
    );
}
