//! `mown watermark`, then `mown verify --key` against the model file, its ONNX export and an
//! independent model: one verify command for keys and every kind of suspect.

mod common;

use common::{mown, ok};

#[test]
fn watermark_then_verify_the_file_its_onnx_export_and_an_independent_model() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let t = watermark_digits(
        &p("owner.safetensors"),
        &p("wm.json"),
        &["--arch", "arc-c", "--epochs", "12", "--batch-size", "64"],
    );
    assert!(t.contains("watermark accuracy 1.0000 on 25 triggers"), "{t}");
    ok(mown(&[
        "train",
        "--arch",
        "arc-c",
        "--data",
        "digits",
        "--epochs",
        "12",
        "--seed",
        "7",
        "--batch-size",
        "64",
        "--out",
        &p("other.safetensors"),
        "--no-progress",
    ]));
    ok(mown(&["export-onnx", &p("owner.safetensors"), "--out", &p("owner.onnx")]));

    // No negatives: the threshold comes from the chance null 1/(C-1) at 1% FPR.
    for suspect in [p("owner.safetensors"), p("owner.onnx")] {
        let t = ok(mown(&["verify", "--key", &p("wm.json"), "--suspect", &suspect, "--report", &p("v.json")]));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p("v.json")).unwrap()).unwrap();
        assert_eq!(v["decision"], "STOLEN", "{t}");
        assert_eq!(v["score"], 1.0, "{t}");
        assert_eq!(v["threshold"]["source"]["kind"], "ChanceNull", "{t}");
        assert!(v["p_value"].as_f64().unwrap() < 1e-20, "{t}");
        assert_eq!(v["queries"], 25);
    }
    ok(mown(&["verify", "--key", &p("wm.json"), "--suspect", &p("other.safetensors"), "--report", &p("i.json")]));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p("i.json")).unwrap()).unwrap();
    assert_eq!(v["decision"], "NOT_STOLEN", "{v}");
    assert!(v["score"].as_f64().unwrap() < 0.3, "{v}");

    // A key and a fingerprint at once is refused, and so is a key that is not one.
    std::fs::write(p("junk.json"), b"{}").unwrap();
    let o = mown(&["verify", "--key", &p("junk.json"), "--suspect", &p("owner.safetensors")]);
    let t = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success() && t.contains("not an evidence file") && !t.contains("panicked"), "{t}");
}

/// A watermark that did not take (its trigger loss weighted 1000 times below the default) is
/// saved, but with a warning that the owner does not give back its own trigger labels.
#[test]
fn watermark_that_does_not_take_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let t = watermark_digits(
        &p("owner.safetensors"),
        &p("wm.json"),
        &["--arch", "mlp", "--epochs", "2", "--lambda", "0.001"],
    );
    assert!(t.contains("warning: the watermarked model gives only") && t.contains("of its 25 trigger labels"), "{t}");
}

/// `eval-watermark --controls`: each stolen recipe is also applied to the owner's no-watermark
/// twin, and that copy is scored against the key but counted as neither positive nor negative.
/// A fine-tuned copy of the watermarked owner keeps the watermark; the same fine-tuning of the
/// twin does not, which is what separates carried watermarks from attacks that land on the labels.
#[test]
fn eval_watermark_controls_score_the_twin_copies_apart() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    std::fs::write(
        p("zoo.toml"),
        "victim = \"train(arc-c,digits,seed=1,epochs=12,part=1/2)\"\nstolen = [\"ftal(1)\"]\nindependent = [\"train(mlp,digits,seed=3,epochs=10,part=2/2)\", \"train(lenet5,digits,seed=4,epochs=10,part=2/2)\"]\n[training]\nbatch_size = 64\n",
    )
    .unwrap();
    let t = ok(mown(&[
        "eval-watermark",
        "margin",
        "--zoo",
        &p("zoo.toml"),
        "--triggers",
        "25",
        "--controls",
        "--json",
        &p("wm.json"),
    ]));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(p("wm.json")).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let row = |role: &str| rows.iter().find(|r| r["role"] == role).unwrap_or_else(|| panic!("no {role} row: {t}"));
    let (stolen, twin) = (row("stolen"), row("twin copy"));
    assert_eq!(rows.iter().filter(|r| r["role"] == "twin copy").count(), 1, "{t}");
    assert_eq!(stolen["model"], "W-ftal(1,lr=0.01)", "{t}");
    assert_eq!(twin["model"], "T-ftal(1,lr=0.01)", "{t}");
    let (w, c) = (stolen["watermark_accuracy"].as_f64().unwrap(), twin["watermark_accuracy"].as_f64().unwrap());
    assert!(w >= 0.8 && c <= 0.3, "stolen {w}, twin copy {c}: {t}");
    // The summary counts the one stolen copy and the two independent models, not the twin copy.
    assert_eq!(report["summaries"][0]["n_positives"], 1, "{t}");
    assert_eq!(report["summaries"][0]["n_negatives"], 2, "{t}");
    assert!(t.contains("twin copy"), "{t}");
}

/// `mown watermark margin` on the embedded digits with 25 triggers and `options`; asserts it
/// succeeded and returns what it printed.
fn watermark_digits(out: &str, key: &str, options: &[&str]) -> String {
    let mut args = vec!["watermark", "margin", "--data", "digits", "--triggers", "25", "--out", out, "--key", key];
    args.extend_from_slice(options);
    args.push("--no-progress");
    ok(mown(&args))
}
