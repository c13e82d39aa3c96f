//! `mown fingerprint uap` and `mown verify --evidence` on it, as a user runs them: a copy and an
//! independent model get verdicts with the samples rule, the encoder's reference models are
//! refused as suspects, and a labels-only API is refused by a method that needs probabilities.

mod common;

use common::{assert_clean_failure, mown, ok, serve, text, train_digits_mlp};

#[test]
fn uap_fingerprint_then_verify_a_copy_an_independent_model_and_a_labels_only_api() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    train_digits_mlp(&p("owner"), "8", "1");
    for (out, attack) in
        [("pir1", "ftal(1)"), ("pir2", "extract(mlp,probs,same,budget=500,epochs=8)"), ("copy", "prune(w,0.4,ft=1)")]
    {
        ok(mown(&["steal", "--victim", &p("owner"), "--attack", attack, "--out", &p(out)]));
    }
    for (out, seed) in [("hom1", "11"), ("hom2", "12"), ("neg1", "21"), ("neg2", "22"), ("neg3", "23"), ("other", "31")]
    {
        train_digits_mlp(&p(out), "8", seed);
    }
    let t = ok(mown(&[
        "fingerprint",
        "uap",
        "--model",
        &p("owner"),
        "--out",
        &p("uap.json"),
        "--n",
        "10",
        "--views",
        "20",
        "--verify-views",
        "12",
        "--encoder-epochs",
        "10",
        "--piracy",
        &format!("{},{}", p("pir1"), p("pir2")),
        "--homologous",
        &format!("{},{}", p("hom1"), p("hom2")),
    ]));
    assert!(t.contains("12 verification fingerprints of 10 points"), "{t}");
    let negatives = format!("{},{},{}", p("neg1"), p("neg2"), p("neg3"));
    for suspect in ["copy", "other"] {
        let o = mown(&[
            "verify",
            "--evidence",
            &p("uap.json"),
            "--suspect",
            &p(suspect),
            "--negatives",
            &negatives,
            "--report",
            &p("v.json"),
        ]);
        let t = ok(o);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p("v.json")).unwrap()).unwrap();
        assert_eq!(v["queries"], 12 * 2 * 10, "{t}");
        assert!(v["rule"].as_str().unwrap().starts_with("samples"), "{t}");
        assert_eq!(v["effect_size"]["draws"], 30, "{t}");
        assert!(t.contains("uap score"), "{t}");
    }
    // The encoder's references can be neither suspects nor negatives.
    let o = mown(&["verify", "--evidence", &p("uap.json"), "--suspect", &p("pir1"), "--negatives", &negatives]);
    assert_clean_failure(&o, "fitted on");
    // A labels-only API cannot answer a probabilities method.
    let (_server, url) = serve(&[&p("owner"), "--port", "0", "--output", "labels", "--token", "t"]);
    let url = url.as_str();
    let o = mown(&["verify", "--evidence", &p("uap.json"), "--suspect", url, "--token", "t"]);
    assert_clean_failure(&o, "uap needs probs answers");
    assert!(text(&o).contains("labels"), "{}", text(&o));
}
