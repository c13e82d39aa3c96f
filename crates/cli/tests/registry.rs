//! The method registry on the command line: `mown methods` lists every method, parameters are
//! set by key (flags, `--set`, `NAME[...]`), and a parameter or a command that does not fit the
//! method is a clear error, never silently ignored.

mod common;

use common::{assert_clean_failure, mown, ok, train_digits_mlp};

#[test]
fn methods_lists_every_method_with_its_paper_and_parameters() {
    let t = ok(mown(&["methods"]));
    for name in ["ipguard", "uap", "sac-w", "sac-m", "akh", "near-boundary", "margin", "plain", "extfeat"] {
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
