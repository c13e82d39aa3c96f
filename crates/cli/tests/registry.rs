//! The method registry on the command line: `mown methods` lists every method, parameters are
//! set by key (flags, `--set`, `NAME[...]`), and a parameter or a command that does not fit the
//! method is a clear error, never silently ignored.

mod common;

use common::{assert_clean_failure, mown, ok, train_digits_mlp};

#[test]
fn methods_lists_every_method_with_its_paper_and_parameters() {
    let t = ok(mown(&["methods"]));
    for name in [
        "ipguard",
        "uap",
        "sac-w",
        "sac-m",
        "akh",
        "near-boundary",
        "margin",
        "plain",
        "extfeat",
        "badnets",
        "dataset-inference",
    ] {
        assert!(t.lines().any(|l| l.starts_with(name)), "{name} missing: {t}");
    }
    let t = ok(mown(&["methods", "sac-m"]));
    assert!(t.contains("Sample Correlation") && t.contains("block") && t.contains("level"), "{t}");
    let json: serde_json::Value = serde_json::from_slice(&mown(&["methods", "--json"]).stdout).unwrap();
    let uap = json.as_array().unwrap().iter().find(|m| m["name"] == "uap").unwrap();
    assert_eq!((uap["needs"].as_str(), uap["references"].as_bool()), (Some("probs"), Some(true)));
    assert_eq!(uap["defaults"]["kmeans"]["clusters"], 100);
    assert_clean_failure(&mown(&["methods", "nope"]), "unknown method 'nope'");
}

#[test]
fn fingerprint_settings_reach_the_method_and_foreign_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    train_digits_mlp(&p("owner.safetensors"), "5", "1");
    // The bracket, a flag and --set all land in the evidence file's parameters.
    ok(mown(&[
        "fingerprint",
        "sac-m[n=40]",
        "--model",
        &p("owner.safetensors"),
        "--block",
        "10",
        "--set",
        "level=labels",
        "--out",
        &p("sac.json"),
    ]));
    let e: serde_json::Value = serde_json::from_slice(&std::fs::read(p("sac.json")).unwrap()).unwrap();
    assert_eq!(
        (e["method"].as_str(), e["params"]["n"].as_u64(), e["params"]["block"].as_u64()),
        (Some("sac-m[labels]"), Some(40), Some(10))
    );
    // SAC's probes flag is not IPGuard's: an error naming IPGuard's own keys.
    let o = mown(&[
        "fingerprint",
        "ipguard",
        "--model",
        &p("owner.safetensors"),
        "--probes",
        "cutmix",
        "--out",
        &p("x.json"),
    ]);
    assert_clean_failure(&o, "ipguard has no parameter 'probes'");
    let o = mown(&["fingerprint", "akh", "--model", &p("owner.safetensors"), "--set", "n", "--out", &p("x.json")]);
    assert_clean_failure(&o, "not KEY=VALUE");
    // A watermark trains its owner: `mown fingerprint` points to `mown watermark`.
    let o = mown(&["fingerprint", "margin", "--model", &p("owner.safetensors"), "--out", &p("x.json")]);
    assert_clean_failure(&o, "mown watermark margin");
    let o = mown(&["fingerprint", "near-boundary", "--model", &p("owner.safetensors"), "--out", &p("x.json")]);
    assert_clean_failure(&o, "--owner-out");
    assert!(!std::path::Path::new(&p("x.json")).exists(), "no evidence is written when a method is refused");
}

/// `mown watermark extfeat` with the labelled stand-in style (tests must not need the ONNX
/// style model): the key verifies the owner itself, and says that the style is a stand-in.
#[test]
fn extfeat_watermark_through_the_registry_writes_a_key_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let t = ok(mown(&[
        "watermark",
        "extfeat",
        "--set",
        "style=texture:3",
        "--set",
        "verify_images=60",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--epochs",
        "10",
        "--no-progress",
        "--out",
        &p("owner.safetensors"),
        "--key",
        &p("key.json"),
    ]));
    assert!(t.contains("stylised") && t.contains("stand-in"), "{t}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(p("key.json")).unwrap()).unwrap();
    assert_eq!((key["kind"].as_str(), key["stand_in"].as_bool()), (Some("extfeat-key"), Some(true)));
    assert_eq!(key["labels"].as_array().unwrap().len(), 60);
    let t = ok(mown(&["verify", "--evidence", &p("key.json"), "--suspect", &p("owner.safetensors")]));
    assert!(t.contains("extfeat[stand-in style]"), "{t}");
    // A trigger-set flag means nothing to extfeat's registry entry; a wrong key is refused.
    let o = mown(&[
        "watermark",
        "extfeat",
        "--set",
        "triggers=5",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--epochs",
        "1",
        "--out",
        &p("o2.safetensors"),
        "--key",
        &p("k2.json"),
    ]);
    assert_clean_failure(&o, "extfeat has no parameter 'triggers'");
}

/// The paper's white-box verifier (`verifier=meta`): the key holds a meta-classifier, a model
/// file of the owner's architecture is measured through its parameter gradients, and what cannot
/// give them (a prediction API, a model of another architecture) is a clear error.
#[test]
fn extfeat_meta_classifier_needs_white_box_suspects_of_the_owners_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let t = ok(mown(&[
        "watermark",
        "extfeat",
        "-s",
        "style=texture:3",
        "-s",
        "verify_images=40",
        "-s",
        "verifier=meta",
        "-s",
        "benign=1",
        "-s",
        "train_images=60",
        "-s",
        "classifier_epochs=5",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--epochs",
        "8",
        "--no-progress",
        "--out",
        &p("owner.safetensors"),
        "--key",
        &p("key.json"),
    ]));
    assert!(t.contains("meta-classifier on") && t.contains("gradient features"), "{t}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(p("key.json")).unwrap()).unwrap();
    assert_eq!(key["method"].as_str(), Some("extfeat-meta"));
    let meta = &key["meta"];
    assert_eq!(meta["architecture"].as_str(), Some("mlp"));
    assert_eq!(meta["benign_sha256"].as_array().unwrap().len(), 1, "honest protocol: one benign, one reference");
    assert_eq!(meta["reference_scores"].as_array().unwrap().len(), 40);
    // The owner file is measured white-box; Definition 2 is reported beside the verdict.
    train_digits_mlp(&p("other.safetensors"), "6", "7");
    let report = p("verdict.json");
    ok(mown(&["verify", "--evidence", &p("key.json"), "--suspect", &p("owner.safetensors"), "--report", &report]));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["details"]["definition_2"]["result"]["m"], 10, "{v}");
    assert!(v["score"].as_f64().unwrap() > 0.5, "the owner's P(stolen): {v}");
    ok(mown(&[
        "verify",
        "--evidence",
        &p("key.json"),
        "--suspect",
        &p("owner.safetensors"),
        "--negatives",
        &p("other.safetensors"),
    ]));
    // A prediction API cannot give parameter gradients, whatever it serves.
    let o = mown(&["verify", "--evidence", &p("key.json"), "--suspect", "http://127.0.0.1:9/"]);
    assert_clean_failure(&o, "white-box");
    // Gradients of another architecture live in another space.
    ok(mown(&[
        "train",
        "--arch",
        "lenet5",
        "--data",
        "digits",
        "--epochs",
        "1",
        "--out",
        &p("lenet.safetensors"),
        "--no-progress",
    ]));
    let o = mown(&["verify", "--evidence", &p("key.json"), "--suspect", &p("lenet.safetensors")]);
    assert_clean_failure(&o, "reads gradients of mlp models only");
}

/// BadNets (seed 001's Table 6 baseline) through the registry: stamped held-out images trained to
/// one target class; the owner holds its trigger and margin-only flags are not passed to it.
#[test]
fn badnets_watermark_trains_its_target_and_verifies_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let t = ok(mown(&[
        "watermark",
        "badnets",
        "-s",
        "target=3",
        "-s",
        "n=40",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--epochs",
        "10",
        "--no-progress",
        "--out",
        &p("owner.safetensors"),
        "--key",
        &p("key.json"),
    ]));
    assert!(t.contains("watermark accuracy"), "{t}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(p("key.json")).unwrap()).unwrap();
    assert_eq!(key["scheme"].as_str(), Some("badnets"));
    assert!(key["labels"].as_array().unwrap().iter().all(|l| l == 3));
    assert!(key["true_labels"].as_array().unwrap().iter().all(|l| l != 3));
    assert!(key["stats"]["watermark_accuracy"].as_f64().unwrap() > 0.8, "{}", key["stats"]);
    let o = mown(&[
        "watermark",
        "badnets",
        "-s",
        "eps=0.1",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--out",
        &p("x"),
        "--key",
        &p("y"),
    ]);
    assert_clean_failure(&o, "badnets has no parameter 'eps'");
}
