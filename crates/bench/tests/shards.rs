//! A benchmark on the embedded digits: the merged report of two shards is the unsharded one, and
//! a second run from the warm cache measures nothing again. Among the independent models is one
//! nobody here trained: scikit-learn's MLP, exported with skl2onnx (the committed fixture of
//! crates/access), named in the zoo by its SHA-256.

use std::path::Path;

use mown_bench::{BenchConfig, Shard, Stage, assemble, run_shard};

const ZOO: &str = r#"
victim = "train(mlp,digits,seed=1,epochs=5,part=1/2)"
cache_dir = "cache"
stolen = ["ftal(1)", "extract(mlp,labels,same,budget=300,epochs=5)"]
independent = [
  "train(mlp,digits,seed=21,epochs=5,part=2/2)",
  "train(lenet5,digits,seed=22,epochs=3,part=2/2)",
  "train(arc-c,digits,seed=23,epochs=3,part=2/2)",
  "model(SKLEARN_SHA,digits,seed=24)",
]
models = ["SKLEARN_FILE"]
"#;

const BENCH: &str = r#"
title = "shards test"
zoo = "zoo.toml"
methods = ["ipguard", "akh", "sac-m"]
alpha = 0.05
[settings]
n = 40
"#;

fn device() -> mown_nn::burn::prelude::Device {
    mown_nn::Backend::Cpu.device().unwrap()
}

/// The zoo with the scikit-learn MLP's file and hash filled in.
fn zoo_text() -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../access/tests/fixtures/sklearn/mlp32.onnx");
    let opts = mown_access::onnx::ImportOptions {
        input_shape: Some(mown_data::ImageShape::new(1, 8, 8)),
        ..Default::default()
    };
    let model = mown_access::onnx::import_onnx(&file, &opts, &device()).unwrap().model;
    let sha = mown_nn::io::model_sha256(&model).unwrap();
    ZOO.replace("SKLEARN_SHA", &sha).replace("SKLEARN_FILE", &file.display().to_string())
}

/// The report without what legitimately differs between runs (wall time, shard count).
fn comparable(report: &mown_bench::BenchReport) -> serde_json::Value {
    let mut v = serde_json::to_value(report).unwrap();
    let map = v.as_object_mut().unwrap();
    map.remove("wall_seconds");
    map.remove("shards");
    v
}

/// The first path where two JSON values differ (assert_eq! on whole reports prints megabytes).
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value::{Array, Object};
    match (a, b) {
        (Object(x), Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(u, v, format!("{at}.{k}")),
                _ => Some(format!("{at}.{k}: present on one side only")),
            })
        }
        (Array(x), Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (u, v))| first_difference(u, v, format!("{at}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{at}: {a} vs {b}")),
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn merged_shards_equal_the_unsharded_report_and_a_warm_run_measures_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zoo.toml"), zoo_text()).unwrap();
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, BENCH).unwrap();
    let cfg = BenchConfig::load(&path).unwrap();
    let mut quiet = |_: &str| {};

    let whole = run_shard(&cfg, device(), Shard::WHOLE, Stage::All, &mut quiet).unwrap();
    let report = assemble(&cfg, &[whole]).unwrap();
    assert_eq!(report.methods.len(), 3);
    // The method's own seconds per phase reach the report (and stay with the cached evidence).
    let ipguard = &report.methods[0].generate_timings;
    assert!(ipguard["seconds"].as_f64().is_some_and(|s| s > 0.0), "{ipguard}");
    assert_eq!(report.models.len(), 6);
    // A cold run reports what each model took to build, the owner's included.
    assert!(report.victim.build_seconds.is_some_and(|s| s > 0.0), "{:?}", report.victim);
    assert!(report.models.iter().filter(|m| !m.name.starts_with("model(")).all(|m| m.build_seconds.is_some()));
    for m in &report.methods {
        assert_eq!(m.rows.len(), 6, "{}: a row per zoo member", m.name);
        assert!(m.rows.iter().all(|r| r.verdict.alpha == 0.05));
        // The third-party model is judged like the others, and no method calls it stolen.
        let sklearn = m.rows.iter().find(|r| r.model.starts_with("model(")).unwrap();
        assert_ne!(sklearn.verdict.decision, mown_eval::Decision::Stolen, "{}: {:?}", m.name, sklearn.verdict);
    }
    let sklearn = report.models.iter().find(|m| m.name.starts_with("model(")).unwrap();
    assert_eq!(sklearn.arch_family, "imported");
    assert!(sklearn.accuracy > 0.8, "the MLP as imported classifies the digits: {sklearn:?}");
    let scores = dir.path().join("cache/bench/scores");
    let measured = count_files(&scores);
    assert_eq!(measured, 18, "one cached measurement per (method, suspect)");

    // Two shards, the second given first; evidence and measurements come from the cache.
    let s2 = run_shard(&cfg, device(), "2/2".parse().unwrap(), Stage::All, &mut quiet).unwrap();
    let s1 = run_shard(&cfg, device(), "1/2".parse().unwrap(), Stage::All, &mut quiet).unwrap();
    assert_eq!(s1.models.len() + s2.models.len(), 6, "each member is one shard's");
    assert_eq!(count_files(&scores), measured, "a warm run measures nothing again");
    let merged = assemble(&cfg, &[s2.clone(), s1.clone()]).unwrap();
    assert_eq!(merged.shards, 2);
    assert_eq!(first_difference(&comparable(&merged), &comparable(&report), String::new()), None);

    // A missing or repeated shard, or a shard of another config, is refused by name.
    let err = assemble(&cfg, std::slice::from_ref(&s1)).unwrap_err().to_string();
    assert!(err.contains("shard 2/2 is missing"), "{err}");
    let err = assemble(&cfg, &[s1.clone(), s1.clone()]).unwrap_err().to_string();
    assert!(err.contains("given twice"), "{err}");
    std::fs::write(&path, BENCH.replace("alpha = 0.05", "alpha = 0.01")).unwrap();
    let other = BenchConfig::load(&path).unwrap();
    let err = assemble(&other, &[s1, s2]).unwrap_err().to_string();
    assert!(err.contains("another config"), "{err}");
}

/// When every method of a config has its own owner, the zoo's recipes are applied to those
/// owners only: the zoo's own copies of the victim are never built, and each stolen row's model
/// record describes the (first) method's copy that was measured, whose accuracy and agreement
/// with its own owner the row also carries.
#[test]
fn copies_of_the_zoo_victim_are_not_built_when_no_method_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zoo.toml"), zoo_text()).unwrap();
    let path = dir.path().join("bench.toml");
    let methods = "methods = [\"extfeat[style=texture:3,verify_images=60]\"]";
    std::fs::write(&path, BENCH.replace("methods = [\"ipguard\", \"akh\", \"sac-m\"]", methods)).unwrap();
    let cfg = BenchConfig::load(&path).unwrap();
    let whole = run_shard(&cfg, device(), Shard::WHOLE, Stage::All, &mut |_: &str| {}).unwrap();
    let report = assemble(&cfg, &[whole]).unwrap();
    let builder = cfg.zoo.builder(device());
    let rows = &report.methods[0].rows;
    let mut stolen = 0;
    for (model, row) in report.models.iter().zip(rows) {
        let member = builder.cache_path_for(&model.name).unwrap();
        if model.role == mown_bench::ModelRole::Stolen {
            stolen += 1;
            assert!(!member.exists(), "{} was built though no method measures it", model.name);
            assert_eq!(model.sha256, row.suspect_sha256, "the record describes the copy measured");
            assert!(row.suspect.contains("extfeat"), "the suspect is a copy of extfeat's owner: {}", row.suspect);
            assert!(model.accuracy > 0.5, "{model:?}");
            // The copy's own figures, the same ones the member's record gives here.
            let copy = row.copy.expect("a copy of the method's owner carries its accuracy");
            assert_eq!(copy.accuracy, model.accuracy, "one pass over the same test split");
            assert!((0.0..=1.0).contains(&copy.agreement_with_owner), "{copy:?}");
            if model.name.ends_with("ftal(1)") {
                assert!(copy.agreement_with_owner > 0.8, "a fine-tuned copy keeps its owner's labels: {copy:?}");
            }
        } else {
            assert_eq!(model.sha256, row.suspect_sha256);
            assert!(row.copy.is_none(), "an independent model is no copy: {row:?}");
        }
    }
    assert_eq!(stolen, 2);
}
