use mown_access::AccessLevel;
use mown_data::{Dataset, ImageShape, Normalization};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};

use super::*;

fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn every_entry_is_found_by_its_name_and_aliases_and_makes_itself() {
    let mut seen = std::collections::HashSet::new();
    for e in registry() {
        assert!(seen.insert(e.name), "{} is registered twice", e.name);
        for name in std::iter::once(&e.name).chain(e.aliases) {
            assert_eq!(entry(name).unwrap().name, e.name);
            assert!(seen.insert(name) || *name == e.name, "alias {name} is taken twice");
        }
        let m = (e.make)();
        assert_eq!(m.entry().name, e.name, "{}'s method names another entry", e.name);
        assert!(!e.params.is_empty() && e.params.iter().any(|p| p.key == "seed"), "{} lacks a seed", e.name);
        assert!(m.settings().is_object(), "{}'s settings are not an object", e.name);
    }
    let err = entry("nope").unwrap_err().to_string();
    assert!(err.contains("unknown method 'nope'") && err.contains("ipguard") && err.contains("near-boundary"));
}

#[test]
fn a_key_of_another_method_is_refused_with_the_methods_own_keys() {
    // `probes` is SAC's: IPGuard must not ignore it silently.
    let err = method("ipguard", &settings(&[("probes", "cutmix")])).err().unwrap().to_string();
    assert!(err.contains("ipguard has no parameter 'probes'"), "{err}");
    assert!(err.contains("k,") && err.contains("init"), "{err}");
    // A known key with a bad value names the method, the key and the value.
    let err = method("ipguard", &settings(&[("k", "big")])).err().unwrap().to_string();
    assert!(err.contains("ipguard k=big") && err.contains("a number or auto"), "{err}");
    let err = method("near-boundary", &settings(&[("boundary", "1")])).err().unwrap().to_string();
    assert!(err.contains("two classes"), "{err}");
}

#[test]
fn settings_change_the_parameters_they_name() {
    let m = method("ipguard", &settings(&[("n", "7"), ("k", "3.5"), ("init", "rr"), ("seed", "9")])).unwrap();
    let s = m.settings();
    assert_eq!(
        (s["n"].as_u64(), s["k"].as_f64(), s["init"].as_str(), s["seed"].as_u64()),
        (Some(7), Some(3.5), Some("RR"), Some(9))
    );
    assert_eq!(m.name(), "ipguard-RR");
    assert_eq!(method("ipguard", &[]).unwrap().settings()["k"], "auto");
    // Dashes are accepted for underscores, as on the command line.
    let nb = method("near-boundary", &settings(&[("ft-max-drop", "0.05"), ("gan", "false"), ("boundary", "3:5")]));
    let s = nb.unwrap().settings();
    assert_eq!((s["finetune"]["max_accuracy_drop"].as_f64(), s["privatise"].is_null()), (Some(0.05), true));
    assert_eq!((s["source"].as_u64(), s["target"].as_u64()), (Some(3), Some(5)));
    let wm = method("margin", &settings(&[("eps", "8/255")])).unwrap();
    assert!((wm.settings()["eps"].as_f64().unwrap() - 8.0 / 255.0).abs() < 1e-12);
    let lap = method("uap", &settings(&[("perturbation", "local"), ("local_candidates", "top:3")])).unwrap();
    assert_eq!(lap.name(), "lap");
    assert_eq!(lap.settings()["local_candidates"]["Top"], 3);
}

#[test]
fn specs_set_the_access_level_and_lists_keep_bracketed_commas() {
    let m = from_spec("sac-m[labels]").unwrap();
    assert_eq!((m.name(), m.requires()), ("sac-m[labels]".to_string(), AccessLevel::Labels));
    let m = from_spec("SAC-W[level=topk:3,n=40]").unwrap();
    assert_eq!(
        (m.name(), m.requires(), m.settings()["n"].as_u64()),
        ("sac-w[topk:3]".into(), AccessLevel::TopK(3), Some(40))
    );
    // SAC's probes parameter moves between its two entries.
    assert_eq!(method("sac", &settings(&[("probes", "cutmix")])).unwrap().name(), "sac-m");
    assert_eq!(
        split_specs("ipguard, sac-m[level=labels,n=100],akh").unwrap(),
        vec!["ipguard", "sac-m[level=labels,n=100]", "akh"]
    );
    assert!(split_specs("sac-m[labels").is_err());
    assert!(split_specs("akh],ipguard").is_err());
    assert!(from_spec("sac-m[labels").is_err());
    assert!(parse_setting("n").is_err() && parse_setting("=3").is_err());
    assert_eq!(parse_setting(" n = 3 ").unwrap(), ("n".to_string(), "3".to_string()));
}

fn tiny_task() -> (Model, Dataset) {
    let shape = ImageShape::new(1, 4, 4);
    let n = 40;
    let images: Vec<f32> = (0..n * 16).map(|i| ((i * 37) % 17) as f32 / 17.0).collect();
    let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
    let names: Vec<String> = (0..3).map(|c| c.to_string()).collect();
    let data = Dataset::new("tiny", shape, 3, names.clone(), images, labels).unwrap();
    let spec = ModelSpec::new(Arch::Mlp, shape, 3).unwrap();
    let meta = ModelMeta::new(spec, Normalization::identity(1), names).unwrap();
    (Model::init(meta, &Device::flex(), 3), data)
}

#[test]
fn generation_through_the_registry_writes_evidence_that_loads_back() {
    let (model, data) = tiny_task();
    let cfg = TrainConfig::default();
    let inputs = OwnerInputs::new(&model, &data, &data, &cfg);
    let dir = std::env::temp_dir().join(format!("mown-registry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for spec in ["random[n=6]", "fgsm[n=6,eps=0.05]"] {
        let g = from_spec(spec).unwrap().generate(&inputs).unwrap();
        assert!(g.owner.is_none(), "{spec} reads the owner");
        let path = dir.join("evidence.json");
        g.evidence.write(&path).unwrap();
        let back = crate::evidence::load(&path).unwrap();
        assert_eq!((back.kind(), back.method()), (g.evidence.kind(), g.evidence.method()));
        assert_eq!(back.owner_sha256(), mown_nn::io::model_sha256(&model).unwrap());
    }
    // UAP without reference models is a named refusal, not a verifier fitted on nothing.
    let err = from_spec("uap").unwrap().generate(&inputs).err().unwrap().to_string();
    assert!(err.contains("reference model"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Dataset inference with the paper's white-box MinGD embedding: the owner separates its training
/// images from held-out ones by some margin, a white-box suspect is measured, and a suspect that
/// answers labels only is refused with the level named.
#[test]
fn dataset_inference_with_mingd_needs_a_white_box_suspect() {
    use mown_access::{LocalModel, QueryModel};
    let (model, data) = tiny_task();
    let cfg = TrainConfig::default();
    let inputs = OwnerInputs::new(&model, &data, &data, &cfg);
    let g = from_spec("dataset-inference[n=8,m=4,draws=5,embedding=mingd,mingd_steps=5]")
        .unwrap()
        .generate(&inputs)
        .unwrap();
    let evidence = g.evidence;
    assert_eq!(evidence.requires(), AccessLevel::WhiteBox);
    let mut white = LocalModel::new(model.clone(), AccessLevel::WhiteBox, None);
    let measured = evidence.measure(&mut white).unwrap();
    assert!(matches!(measured.measurement, mown_eval::Measurement::Samples { ref values } if values.len() == 8));
    assert!(white.queries_used() > 0, "MinGD's gradients are counted as queries");
    let mut labels = LocalModel::new(model, AccessLevel::Labels, None);
    let err = evidence.measure(&mut labels).err().unwrap().to_string();
    assert!(err.contains("white-box") || err.contains("WhiteBox") || err.contains("white"), "{err}");
}
