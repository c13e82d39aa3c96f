//! `mown fingerprint sac|akh` and `mown verify --evidence` on them as a user runs them: a model
//! file, an ONNX export and an HTTP API as suspects, queries counted, the verdict's rule and
//! direction in the report, and SAC on probabilities refused by a labels-only API while SAC on
//! labels and AKH answer it.

mod common;

use common::{assert_clean_failure, mown, ok, serve, train_digits_mlp};

#[test]
fn sac_and_akh_evidence_verify_files_onnx_and_http_suspects() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    train_digits_mlp(&p("owner"), "8", "1");
    ok(mown(&[
        "steal",
        "--victim",
        &p("owner"),
        "--attack",
        "extract(mlp,labels,same,budget=800,epochs=8)",
        "--out",
        &p("copy"),
    ]));
    for (out, seed) in [("neg1", "21"), ("neg2", "22"), ("neg3", "23")] {
        train_digits_mlp(&p(out), "8", seed);
    }
    ok(mown(&["export-onnx", &p("copy"), "--out", &p("copy.onnx")]));
    let negatives = format!("{},{},{}", p("neg1"), p("neg2"), p("neg3"));
    let t = ok(mown(&[
        "fingerprint",
        "sac",
        "--model",
        &p("owner"),
        "--out",
        &p("sac.json"),
        "--n",
        "60",
        "--block",
        "10",
    ]));
    assert!(t.contains("sac-w: 60 probes in 6 blocks"), "{t}");
    ok(mown(&[
        "fingerprint",
        "sac",
        "--model",
        &p("owner"),
        "--out",
        &p("sacl.json"),
        "--n",
        "60",
        "--block",
        "10",
        "--probes",
        "cutmix",
        "--level",
        "labels",
    ]));
    let t = ok(mown(&["fingerprint", "akh", "--model", &p("owner"), "--out", &p("akh.json"), "--n", "50"]));
    assert!(t.contains("akh: 50 owner mistakes"), "{t}");
    for (evidence, rule, queries) in
        [("sac.json", "samples", 60), ("sacl.json", "samples", 60), ("akh.json", "counts", 50)]
    {
        for suspect in [p("copy"), p("copy.onnx")] {
            let t = ok(mown(&[
                "verify",
                "--evidence",
                &p(evidence),
                "--suspect",
                &suspect,
                "--negatives",
                &negatives,
                "--report",
                &p("v.json"),
            ]));
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p("v.json")).unwrap()).unwrap();
            assert_eq!(v["queries"], queries, "{t}");
            assert!(v["rule"].as_str().unwrap().starts_with(rule), "{t}");
            assert!(v["p_value"].is_number() && v["alpha"] == 0.05, "{t}");
            let direction = if evidence == "akh.json" { "higher" } else { "lower" };
            assert_eq!(v["direction"], direction, "{t}");
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p("v.json")).unwrap()).unwrap();
    assert!(v["method"] == "akh", "{v}");
    // A labels-only API: SAC on probabilities is refused, SAC on labels and AKH are answered.
    let (_server, url) = serve(&[&p("copy"), "--port", "0", "--output", "labels", "--token", "t"]);
    let o = mown(&["verify", "--evidence", &p("sac.json"), "--suspect", &url, "--token", "t"]);
    assert_clean_failure(&o, "sac-w needs probs answers");
    for evidence in ["sacl.json", "akh.json"] {
        ok(mown(&["verify", "--evidence", &p(evidence), "--suspect", &url, "--token", "t", "--negatives", &negatives]));
    }
}
