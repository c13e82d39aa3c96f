//! `mown import` on the ONNX fixtures of scripts/make_onnx_import_fixtures.py: the imported
//! model is a mown model file that `info`, `eval`, `export-onnx` and IPGuard take.

mod common;

use common::{assert_clean_failure, mown, ok};

fn fixture(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../access/tests/fixtures/onnx_import");
    dir.join(name).to_str().unwrap().to_string()
}

#[test]
fn import_an_onnx_classifier_and_use_it_as_an_owner() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let t = ok(mown(&["import", &fixture("misc.onnx"), "--out", &p("owner.safetensors"), "--classes", "10"]));
    assert!(t.contains("input 1x8x8") && t.contains("10 classes"), "{t}");
    assert!(t.contains("ops: 11 nodes: Conv x1, Elu x1"), "{t}");
    assert!(t.contains("final LogSoftmax(axis=-1) removed"), "{t}");
    assert!(t.contains("derivation: import(sha256="), "{t}");
    assert!(t.contains("model sha256: "), "{t}");
    let t = ok(mown(&["info", &p("owner.safetensors")]));
    assert!(t.contains("architecture    imported") && t.contains("graph           11 nodes: Conv x1"), "{t}");
    ok(mown(&["eval", &p("owner.safetensors"), "--data", "digits"]));
    let t = ok(mown(&["export-onnx", &p("owner.safetensors"), "--out", &p("again.onnx")]));
    assert!(t.contains("labels agree on 64/64"), "{t}");
    let t = ok(mown(&[
        "fingerprint",
        "ipguard",
        "--model",
        &p("owner.safetensors"),
        "--out",
        &p("fp.json"),
        "--n",
        "10",
        "--data",
        "digits",
    ]));
    assert!(std::fs::metadata(p("fp.json")).is_ok(), "{t}");

    // The .onnx file itself is taken where a white-box model is: a thief prunes and fine-tunes it.
    let t = ok(mown(&[
        "steal",
        "--victim",
        &fixture("misc.onnx"),
        "--attack",
        "prune(w,0.5)-ftal(1)",
        "--data",
        "digits",
        "--out",
        &p("copy.safetensors"),
    ]));
    assert!(t.contains("imported as import(sha256="), "{t}");
    let t = ok(mown(&["info", &p("copy.safetensors")]));
    assert!(t.contains("import(sha256=") && t.contains("-prune(w,0.5,"), "{t}");

    // NHWC and 0-255 from the command line.
    let t = ok(mown(&[
        "import",
        &fixture("keras.onnx"),
        "--out",
        &p("keras.safetensors"),
        "--layout",
        "nhwc",
        "--input-range",
        "0-255",
    ]));
    assert!(t.contains("input 3x8x8 (Nhwc in the file)"), "{t}");
    assert!(t.contains("std [0.003921"), "{t}");

    // Errors: a wrong class count, a file that is not ONNX.
    assert_clean_failure(
        &mown(&["import", &fixture("resnet.onnx"), "--out", &p("x.safetensors"), "--classes", "7"]),
        "--classes says 7",
    );
    assert_clean_failure(
        &mown(&["import", &fixture("expected.json"), "--out", &p("x.safetensors")]),
        "not an ONNX model",
    );
}

/// `mown import --arch`: a PyTorch state_dict (crates/nn's fixture, written by
/// scripts/make_pytorch_fixture.py) becomes a mown ResNet-20 that `info` reads and `export-onnx`
/// writes back out; what the import needs and does not get is refused by name.
#[test]
fn import_a_pytorch_state_dict() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let state =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nn/tests/fixtures/pytorch/resnet20.safetensors");
    let state = state.to_str().unwrap();
    let t =
        ok(mown(&["import", "--arch", "resnet20", state, "--input-shape", "1,28,28", "--out", &p("r.safetensors")]));
    assert!(t.contains("resnet20, input 1x28x28, 10 classes (PyTorch state_dict)"), "{t}");
    assert!(t.contains("derivation: import-pytorch(resnet20,sha256="), "{t}");
    assert!(t.contains("mean [0.0], std [1.0]"), "{t}");
    // A network that takes values in [0, 255]: std 1/255 of mown's pixels, mean given in its units.
    let t = ok(mown(&[
        "import",
        "--arch",
        "resnet20",
        state,
        "--input-shape",
        "1,28,28",
        "--input-range",
        "0-255",
        "--mean",
        "127.5",
        "--out",
        &p("r255.safetensors"),
    ]));
    assert!(t.contains("mean [0.5], std [0.003921"), "{t}");
    let t = ok(mown(&["info", &p("r.safetensors")]));
    assert!(t.contains("resnet20"), "{t}");
    let t = ok(mown(&["export-onnx", &p("r.safetensors"), "--out", &p("r.onnx")]));
    assert!(t.contains("agree"), "{t}");
    assert_clean_failure(
        &mown(&["import", "--arch", "resnet20", state, "--out", &p("x.safetensors")]),
        "--input-shape",
    );
    assert_clean_failure(
        &mown(&["import", "--arch", "lenet5", state, "--input-shape", "1,28,28", "--out", &p("x.safetensors")]),
        "fc3.bias",
    );
    assert_clean_failure(
        &mown(&["import", "--arch", "resnet20", state, "--input-shape", "1,28,28", "--classes", "5", "--out", &p("x")]),
        "--classes says 5",
    );
}

/// The UAP fingerprint on an owner that came in as ONNX (a trained network, exported and
/// imported, as an owner from another toolchain would): generation runs on the imported graph, the
/// evidence names the imported model, and a fine-tuned copy of it scores above an independent
/// model with p < alpha.
#[test]
fn uap_fingerprints_an_imported_owner() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let train = |arch: &str, seed: &str, out: &str| {
        ok(mown(&["train", "--arch", arch, "--data", "digits", "--epochs", "8", "--seed", seed, "--out", &p(out)]));
    };
    let steal = |attack: &str, out: &str| {
        ok(mown(&[
            "steal",
            "--victim",
            &p("owner.safetensors"),
            "--attack",
            attack,
            "--data",
            "digits",
            "--out",
            &p(out),
        ]));
    };
    train("arc-c", "1", "native.safetensors");
    ok(mown(&["export-onnx", &p("native.safetensors"), "--out", &p("owner.onnx")]));
    let t = ok(mown(&["import", &p("owner.onnx"), "--out", &p("owner.safetensors")]));
    let sha = t.lines().find_map(|l| l.trim().strip_prefix("model sha256: ")).unwrap().split(' ').next().unwrap();
    steal("ftal(2)", "piracy1.safetensors");
    steal("prune(w,0.3,ft=1)", "piracy2.safetensors");
    train("lenet5", "5", "homologous1.safetensors");
    train("mlp", "6", "homologous2.safetensors");
    let t = ok(mown(&[
        "fingerprint",
        "uap",
        "--model",
        &p("owner.safetensors"),
        "--data",
        "digits",
        "--piracy",
        &format!("{},{}", p("piracy1.safetensors"), p("piracy2.safetensors")),
        "--homologous",
        &format!("{},{}", p("homologous1.safetensors"), p("homologous2.safetensors")),
        "--out",
        &p("uap.json"),
        "--set",
        "n=20",
        "--set",
        "views=40",
        "--set",
        "verify_views=10",
        "--set",
        "encoder_epochs=10",
        "--set",
        "uap_images=300",
    ]));
    assert!(t.contains("encoder on 5 models"), "{t}");
    let evidence = std::fs::read_to_string(p("uap.json")).unwrap();
    assert!(evidence.contains(sha), "the evidence names the imported owner {sha}");
    steal("ftal(1)", "copy.safetensors");
    train("arc-b", "9", "independent.safetensors");
    std::fs::create_dir(p("negatives")).unwrap();
    for (arch, seed) in [("resnet20", "12"), ("mlp", "13"), ("lenet5", "14")] {
        train(arch, seed, &format!("negatives/{arch}.safetensors"));
    }
    let verdict = |suspect: &str| -> serde_json::Value {
        let report = p(&format!("{suspect}.json"));
        ok(mown(&[
            "verify",
            "--evidence",
            &p("uap.json"),
            "--suspect",
            &p(suspect),
            "--negatives",
            &p("negatives"),
            "--report",
            &report,
        ]));
        serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap()
    };
    let (copy, independent) = (verdict("copy.safetensors"), verdict("independent.safetensors"));
    assert!(copy["score"].as_f64().unwrap() > independent["score"].as_f64().unwrap(), "{copy}\n{independent}");
    assert!(copy["p_value"].as_f64().unwrap() < 0.05, "{copy}");
    assert_ne!(independent["decision"], "STOLEN", "{independent}");
}
