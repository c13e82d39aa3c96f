//! Issue #29 end to end: the margin watermark fine-tuned into an owner trained elsewhere (the
//! digits classifier misc.onnx, imported on the fly), its fine-tuned copy detected by `mown
//! verify`, an independent model not. misc.onnx is an operator fixture with untrained weights
//! (accuracy 0.11 on the digits), so the 20 epochs here teach the task as well as the watermark.

mod common;

use common::{mown, ok};

fn fixture(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../access/tests/fixtures/onnx_import");
    dir.join(name).to_str().unwrap().to_string()
}

#[test]
fn margin_watermark_fine_tuned_into_an_imported_owner_survives_a_fine_tuned_copy() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let t = ok(mown(&[
        "watermark",
        "margin",
        "--from",
        &fixture("misc.onnx"),
        "--data",
        "digits",
        "--triggers",
        "25",
        "--epochs",
        "20",
        "--batch-size",
        "64",
        "--out",
        &p("wm.safetensors"),
        "--key",
        &p("wm.json"),
        "--no-progress",
    ]));
    assert!(t.contains("fine-tuned from the model with sha256"), "{t}");
    assert!(!t.contains("warning: the watermarked model gives only"), "{t}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(p("wm.json")).unwrap()).unwrap();
    assert!(key["fine_tuned_from"].as_str().is_some_and(|s| s.len() == 64), "{key}");
    assert!(key["owner_derivation"].as_str().unwrap().starts_with("import(sha256="), "{key}");

    // The thief fine-tunes the watermarked model; the owner's negatives are independent models.
    ok(mown(&[
        "steal",
        "--victim",
        &p("wm.safetensors"),
        "--attack",
        "ftal(1)",
        "--data",
        "digits",
        "--out",
        &p("copy.safetensors"),
    ]));
    ok(mown(&[
        "negatives",
        "--data",
        "digits",
        "--out",
        &p("negatives"),
        "--archs",
        "mlp,lenet5,arc-b",
        "--per-arch",
        "1",
        "--epochs",
        "4",
    ]));
    ok(mown(&[
        "train",
        "--arch",
        "arc-c",
        "--data",
        "digits",
        "--epochs",
        "4",
        "--seed",
        "7",
        "--batch-size",
        "64",
        "--out",
        &p("other.safetensors"),
        "--no-progress",
    ]));
    let verify = |suspect: &str| {
        let report = p("v.json");
        let t = ok(mown(&[
            "verify",
            "--key",
            &p("wm.json"),
            "--suspect",
            suspect,
            "--negatives",
            &p("negatives"),
            "--report",
            &report,
        ]));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        (t, v)
    };
    let (t, v) = verify(&p("copy.safetensors"));
    assert_eq!(v["decision"], "STOLEN", "{t}");
    assert!(t.contains("VERDICT: STOLEN"), "{t}");
    let (t, v) = verify(&p("other.safetensors"));
    assert_eq!(v["decision"], "NOT_STOLEN", "{t}");
    assert!(t.contains("VERDICT: NOT STOLEN"), "{t}");

    // --from keeps the model's architecture; without either there is no model to train.
    let o = mown(&[
        "watermark",
        "margin",
        "--from",
        &fixture("misc.onnx"),
        "--arch",
        "mlp",
        "--key",
        &p("x.json"),
        "--out",
        &p("x.safetensors"),
    ]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("leave out --arch"));

    let o = mown(&["watermark", "margin", "--key", &p("x.json"), "--out", &p("x.safetensors")]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--arch is required"));
}
