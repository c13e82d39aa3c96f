//! `mown bench methods` and `mown bench merge` as a user runs them, on a tiny digits zoo.

mod common;

use common::{assert_clean_failure, mown, ok};

const ZOO: &str = r#"
victim = "train(mlp,digits,seed=1,epochs=5,part=1/2)"
cache_dir = "cache"
stolen = ["ftal(1)", "prune(w,0.5,ft=1)"]
independent = [
  "train(mlp,digits,seed=21,epochs=5,part=2/2)",
  "train(lenet5,digits,seed=22,epochs=5,part=2/2)",
  "train(arc-b,digits,seed=23,epochs=5,part=2/2)",
]
"#;

const BENCH: &str = "zoo = \"zoo.toml\"\nmethods = [\"ipguard\", \"akh\"]\n[settings]\nn = 40\n";

fn decisions(path: &std::path::Path) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    report["methods"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| {
            m["rows"].as_array().unwrap().iter().map(|r| format!("{} {}", r["model"], r["verdict"]["decision"]))
        })
        .collect()
}

#[test]
fn bench_methods_writes_the_report_and_shards_merge_into_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zoo.toml"), ZOO).unwrap();
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, BENCH).unwrap();
    let (cfg, whole, sharded) = (config.to_str().unwrap(), dir.path().join("whole"), dir.path().join("sharded"));
    let t = ok(mown(&["bench", "methods", "--config", cfg, "--out", whole.to_str().unwrap()]));
    assert!(t.contains("ipguard-TL") && t.contains("akh") && t.contains("A2"), "{t}");
    let html = std::fs::read_to_string(whole.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("ipguard-TL"), "the page draws the methods");
    for i in ["1/2", "2/2"] {
        ok(mown(&["bench", "methods", "--config", cfg, "--out", sharded.to_str().unwrap(), "--shard", i]));
    }
    let shards = [sharded.join("shard-1-of-2.json"), sharded.join("shard-2-of-2.json")];
    let (s1, s2) = (shards[0].to_str().unwrap(), shards[1].to_str().unwrap());
    ok(mown(&["bench", "merge", "--config", cfg, "--shard-file", s1, s2, "--out", sharded.to_str().unwrap()]));
    assert_eq!(decisions(&whole.join("report.json")), decisions(&sharded.join("report.json")));

    assert_clean_failure(&mown(&["bench", "merge", "--config", cfg, "--shard-file", s1]), "shard 2/2 is missing");
    assert_clean_failure(&mown(&["bench", "methods", "--config", cfg, "--shard", "3/2"]), "1 <= I <= N");
    assert_clean_failure(&mown(&["bench", "methods"]), "--config FILE is required");
}

/// `--draw-sizes`: the samples verdicts decided again at other draw sizes from the cached
/// measurements. At the evidence's own size the sweep gives the report's p-values; count methods
/// take no draws and stay out of it; a size under 2, or a shard, is refused before any work.
#[test]
fn draw_size_sweep_redecides_the_samples_verdicts_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zoo.toml"), ZOO).unwrap();
    let config = dir.path().join("bench.toml");
    let methods = "methods = [\"akh\", \"extfeat[style=texture:3,verify_images=60]\"]\n[settings]\nn = 40\n";
    std::fs::write(&config, format!("zoo = \"zoo.toml\"\n{methods}")).unwrap();
    let (cfg, out) = (config.to_str().unwrap(), dir.path().join("out"));
    let out_s = out.to_str().unwrap();
    assert_clean_failure(&mown(&["bench", "methods", "--config", cfg, "--draw-sizes", "1,10"]), "at least 2 samples");
    assert_clean_failure(
        &mown(&["bench", "methods", "--config", cfg, "--draw-sizes", "5", "--shard", "1/2"]),
        "unsharded run",
    );
    let t = ok(mown(&["bench", "methods", "--config", cfg, "--out", out_s, "--draw-sizes", "4,20"]));
    assert!(t.contains("delta-mu / p") && t.contains("m=4") && t.contains("m=20"), "{t}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let sweep = &report["draw_sizes"];
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("p-value against samples per draw"), "the page draws the sweep");
    let swept = sweep["methods"].as_array().unwrap();
    assert_eq!(swept.len(), 1, "only extfeat decides on draws: {sweep}");
    let extfeat = report["methods"].as_array().unwrap().iter().find(|m| m["spec"] == swept[0]["spec"]).unwrap();
    let rows = extfeat["rows"].as_array().unwrap();
    assert_eq!(swept[0]["rows"].as_array().unwrap().len(), rows.len());
    let mut differ = 0;
    for (row, cells) in rows.iter().zip(swept[0]["rows"].as_array().unwrap()) {
        let (at4, at20) = (&cells["cells"][0]["p_value"], &cells["cells"][1]["p_value"]);
        assert_eq!(at20, &row["verdict"]["p_value"], "m = 20 is the key's own size: {row}");
        differ += usize::from(at4 != at20);
    }
    assert!(differ > 0, "four samples per draw decide differently from twenty: {sweep}");
}
