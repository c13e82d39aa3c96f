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
