//! `mown serve`, and URL suspects and victims in `mown verify` and `mown steal`, as a user runs
//! them; `mown bench serve` on a small load.

mod common;

use common::{mown, serve, text};

#[test]
fn serve_then_verify_and_steal_through_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (owner, fp) = (p("owner.safetensors"), p("fp.json"));
    let o = mown(&["train", "--arch", "mlp", "--data", "digits", "--epochs", "3", "--out", &owner, "--no-progress"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = mown(&["fingerprint", "ipguard", "--model", &owner, "--out", &fp, "--n", "20"]);
    assert!(o.status.success(), "{}", text(&o));

    let (server, url) = serve(&[&owner, "--port", "0", "--output", "topk:3", "--token", "t0ken"]);
    let url = url.as_str();

    // Through the URL the owner's own model matches every point; with no negatives IPGuard has no
    // null, so the verdict is INCONCLUSIVE and says why.
    let o = mown(&["verify", "--fingerprint", &fp, "--suspect", url, "--token", "t0ken", "--threshold", "0.5"]);
    let t = text(&o);
    assert!(o.status.success() && t.contains("score 1.0000") && t.contains(url), "{t}");
    assert!(t.contains("VERDICT: INCONCLUSIVE") && t.contains("no null to test against"), "{t}");
    let o = mown(&["verify", "--fingerprint", &fp, "--suspect", url, "--threshold", "0.5"]);
    let t = text(&o);
    assert!(!o.status.success() && t.contains("401") && !t.contains("panicked"), "{t}");

    let stolen = p("stolen.safetensors");
    let attack = "extract(mlp,topk:3,same,budget=300,epochs=2)";
    let o =
        mown(&["steal", "--victim", url, "--token", "t0ken", "--attack", attack, "--data", "digits", "--out", &stolen]);
    let t = text(&o);
    assert!(o.status.success() && t.contains("300 queries"), "{t}");
    let o = mown(&["info", &stolen]);
    assert!(text(&o).contains("api(http://"), "{}", text(&o));
    let o = mown(&[
        "steal", "--victim", url, "--token", "t0ken", "--attack", "ftal(1)", "--data", "digits", "--out", &stolen,
    ]);
    assert!(!o.status.success() && text(&o).contains("start the attack with extract"), "{}", text(&o));
    drop(server);

    let o = mown(&["bench", "serve", "--requests", "400", "--clients", "8"]);
    let t = text(&o);
    assert!(o.status.success() && t.contains("violations: 0") && t.contains("predictions/s"), "{t}");
}
