//! Trigger-set watermarks on the embedded digits: the margin watermark holds in the owner, costs
//! little clean accuracy, and independent models score near chance; keys reproduce and refuse
//! tampering; the margin search stays inside its ball.

use mown_access::{AccessLevel, LocalModel};
use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_methods::watermark::{LabelRule, Scheme, TriggerWatermark, WatermarkParams, margin_pga, without_triggers};
use mown_methods::{Evidence, LabelProbe, WatermarkKey, Watermarker};
use mown_nn::burn::prelude::*;
use mown_nn::{Model, ModelMeta, ModelSpec, TrainConfig};

fn base() -> TrainConfig {
    TrainConfig { batch_size: 64, ..TrainConfig::default() }
}

fn watermark_rate(key: &WatermarkKey, model: &Model) -> f64 {
    key.match_suspect(&mut LocalModel::new(model.clone(), AccessLevel::Labels, None)).unwrap().matching_rate
}

#[test]
fn margin_watermark_holds_in_the_owner_and_not_in_independent_models() {
    let mut b = Builder::new(None, Device::flex(), base());
    // All 1,437 training digits: the triggers (30, drawn from the test split) are then 2% of the
    // data; on a half split 50 triggers (7%) cost 5 points of clean accuracy, the paper's 100 of
    // 50,000 CIFAR images about 4.
    let root: Chain = "train(arc-c,digits,seed=1,epochs=20)".parse().unwrap();
    let data = b.step_data(&root.steps[0]).unwrap();
    let clean = b.build(&root).unwrap().model;
    let independent = b.build(&"train(arc-c,digits,seed=9,epochs=20)".parse().unwrap()).unwrap().model;

    let params = WatermarkParams { n: 30, seed: 4, ..WatermarkParams::default() };
    let spec = ModelSpec::new(mown_nn::Arch::ArcC, data.owner.shape, data.owner.num_classes).unwrap();
    let init = Model::init(ModelMeta::for_dataset(spec, &data.owner).unwrap(), &Device::flex(), 1);
    let cfg = TrainConfig { epochs: 20, seed: 1, ..base() };
    let (marked, key) = TriggerWatermark::new(params).embed(init, &data.owner, &data.test, &cfg).unwrap();
    assert!(key.labels.iter().zip(&key.true_labels).all(|(l, t)| l != t));
    assert_eq!(key.owner_sha256, mown_nn::io::model_sha256(&marked).unwrap());

    let test = without_triggers(&data.test, &key.source_indices).unwrap();
    assert_eq!(test.len(), data.test.len() - 30);
    let (acc_marked, acc_clean) = (marked.accuracy(&test).unwrap(), clean.accuracy(&test).unwrap());
    let (own, ind, cln) =
        (watermark_rate(&key, &marked), watermark_rate(&key, &independent), watermark_rate(&key, &clean));
    eprintln!(
        "clean acc {acc_clean:.3} marked {acc_marked:.3}; watermark acc owner {own} independent {ind} clean {cln}"
    );
    assert!(own >= 0.95, "watermarked model hits only {own} of its triggers");
    assert!(acc_marked >= acc_clean - 0.04, "clean accuracy {acc_clean} -> {acc_marked}");
    assert!(ind <= 0.2 && cln <= 0.2, "independent {ind}, clean twin {cln}: should be near chance 1/9");

    // Verdicts: the chance null 1/(C-1) decides without negatives: a tiny p-value for the owner,
    // a large one otherwise.
    let policy = mown_eval::Policy { threshold: Some(0.5), ..mown_eval::Policy::default() };
    let verdict = |name: &str, m: &Model, negatives: Vec<(String, Model)>| {
        mown_methods::verify::verify_models(&key, (name, m.clone()), negatives, &policy).unwrap()
    };
    let (v_own, v_ind) = (verdict("owner", &marked, vec![]), verdict("independent", &independent, vec![]));
    assert!(v_own.is_stolen() && v_own.p_value.unwrap() < 1e-20, "{v_own}"); // (1/9)^30 = 4e-29
    assert_eq!(v_ind.decision, mown_eval::Decision::NotStolen, "{v_ind}");
    assert!(v_ind.p_value.unwrap() > 1e-3, "{v_ind}");
    assert_eq!(v_own.queries, 30);
    assert!(v_own.p_value_null.as_deref().unwrap().contains("0.1111"));
    assert!(v_own.other_p_values.is_empty(), "no negatives, no fitted null");

    // With three measured negatives, a p-value under a beta-binomial null fitted to them as
    // well; with fewer, none (they say nothing about the spread between models).
    let third = b.build(&"train(arc-c,digits,seed=5,epochs=20)".parse().unwrap()).unwrap().model;
    let negatives: Vec<(String, Model)> =
        vec![("clean".into(), clean.clone()), ("independent".into(), independent.clone()), ("third".into(), third)];
    let f_own = verdict("owner", &marked, negatives.clone());
    eprintln!("{f_own}");
    assert!(f_own.is_stolen(), "{f_own}");
    let decisive = mown_eval::PValue { p: f_own.p_value.unwrap(), null: f_own.p_value_null.clone().unwrap() };
    let fitted: Vec<&mown_eval::PValue> = std::iter::once(&decisive)
        .chain(&f_own.other_p_values)
        .filter(|p| p.null.contains("like the 3 independent models"))
        .collect();
    assert!(fitted.len() == 1 && fitted[0].p < 1e-6, "{f_own}");
    // All three are one family: the verdict says so.
    assert!(f_own.warnings.iter().any(|w| w.contains("span 1 architecture family")), "{f_own}");
    let two = verdict("owner", &marked, negatives[..2].to_vec());
    assert!(
        !two.p_value_null.as_deref().unwrap().contains("like the")
            && two.other_p_values.iter().all(|p| !p.null.contains("like the")),
        "{two}"
    );
    // The owner's clean twin as a suspect while it is also a negative: refused.
    let err = mown_methods::verify::verify_models(&key, ("clean", clean.clone()), negatives, &policy).unwrap_err();
    assert!(err.to_string().contains("also one of the independent models"), "{err}");
}

#[test]
fn keys_reproduce_and_refuse_tampering() {
    let mut b = Builder::new(None, Device::flex(), base());
    let root: Chain = "train(mlp,digits,seed=2,epochs=1)".parse().unwrap();
    let data = b.step_data(&root.steps[0]).unwrap();
    let spec = ModelSpec::new(mown_nn::Arch::Mlp, data.owner.shape, data.owner.num_classes).unwrap();
    let meta = ModelMeta::for_dataset(spec, &data.owner).unwrap();
    let cfg = TrainConfig { epochs: 2, seed: 2, ..base() };
    let embed_with = |params: WatermarkParams| {
        let init = Model::init(meta.clone(), &Device::flex(), 2);
        let mut key = TriggerWatermark::new(params).embed(init, &data.owner, &data.test, &cfg).unwrap().1;
        key.stats = serde_json::Value::Null; // wall time differs between runs
        key
    };
    let embed = |seed: u64, scheme: Scheme| {
        embed_with(WatermarkParams { n: 20, seed, scheme, steps: 2, ..WatermarkParams::default() })
    };
    let dir = tempfile::tempdir().unwrap();
    let bytes = |key: &WatermarkKey, name: &str| {
        let path = dir.path().join(name);
        key.save(&path).unwrap();
        std::fs::read(path).unwrap()
    };
    let a = embed(5, Scheme::Margin);
    assert_eq!(bytes(&a, "a.json"), bytes(&embed(5, Scheme::Margin), "b.json"));
    let c = embed(6, Scheme::Margin);
    assert_ne!((&a.source_indices, &a.labels), (&c.source_indices, &c.labels), "another seed, other triggers");
    let loaded = WatermarkKey::load(&dir.path().join("a.json")).unwrap();
    // Everything but the timings, which are never written.
    assert!(a.timings["seconds"].is_number() && loaded.timings.is_null());
    assert_eq!(loaded, WatermarkKey { timings: serde_json::Value::Null, ..a.clone() });
    assert_eq!(loaded.method(), "margin-watermark");
    assert_eq!(embed(5, Scheme::Plain).scheme, "plain");
    // Transformed triggers (Eq. 2's tr(x_q)): the same triggers and labels, another owner, the
    // transformation recorded in the key, and the same seed still gives the same key.
    let shifted = || {
        let aug = mown_data::Augmentation { pad_crop: 1, horizontal_flip: true };
        embed_with(WatermarkParams { n: 20, seed: 5, steps: 2, trigger_aug: aug, ..WatermarkParams::default() })
    };
    let t = shifted();
    assert_eq!((&t.source_indices, &t.labels), (&a.source_indices, &a.labels));
    assert_ne!(t.owner_sha256, a.owner_sha256, "transformed triggers train another owner");
    assert_eq!(t.params["watermark"]["trigger_aug"]["pad_crop"], 1, "{}", t.params);
    assert!(a.params["watermark"].get("trigger_aug").is_none(), "keys without it stay as they were");
    assert_eq!(bytes(&t, "t.json"), bytes(&shifted(), "t2.json"));

    // A key whose watermark label equals the true label, or with NaN triggers, is refused.
    let mut bad = a.clone();
    bad.labels[0] = bad.true_labels[0];
    std::fs::write(dir.path().join("bad.json"), serde_json::to_vec(&bad).unwrap()).unwrap();
    let err = WatermarkKey::load(&dir.path().join("bad.json")).unwrap_err().to_string();
    assert!(err.contains("true label"), "{err}");
    let mut nan = a.clone();
    nan.triggers[3] = f32::NAN;
    assert!(nan.validate().unwrap_err().contains("NaN"));
    std::fs::write(dir.path().join("junk.json"), b"{not json").unwrap();
    let err = WatermarkKey::load(&dir.path().join("junk.json")).unwrap_err().to_string();
    assert!(err.contains("watermark key") && err.contains("not JSON"), "{err}");
    // The likelihood rules need a clean reference model.
    let params = WatermarkParams { n: 5, label_rule: LabelRule::MostLikely, ..WatermarkParams::default() };
    let init = Model::init(meta.clone(), &Device::flex(), 2);
    assert!(TriggerWatermark::new(params).embed(init, &data.owner, &data.test, &cfg).is_err());
}

#[test]
fn margin_search_stays_in_the_ball_and_weakens_the_label() {
    let mut b = Builder::new(None, Device::flex(), base());
    let chain: Chain = "train(mlp,digits,seed=3,epochs=3)".parse().unwrap();
    let model = b.build(&chain).unwrap().model;
    let data = b.step_data(&chain.steps[0]).unwrap();
    let n = 32;
    let images = &data.test.images()[..n * data.test.shape.numel()];
    let labels = model.predict(images).unwrap();
    let device = Device::flex();
    let x = mown_nn::model::images_tensor(images, data.test.shape, &device);
    let eps = 0.05;
    let moved = margin_pga(&model, x.clone(), &labels, eps, eps / 5.0, 5);
    let diff = mown_nn::model::tensor_to_vec((moved.clone() - x).abs().max());
    assert!(diff[0] <= eps as f32 + 1e-6, "moved {} beyond eps {eps}", diff[0]);
    let after = mown_nn::model::tensor_to_vec(moved.clone());
    assert!(after.iter().all(|v| (0.0..=1.0).contains(v)));
    let ce = |t: Tensor<4>| mown_nn::loss::cross_entropy(model.valid().forward(t), &labels).into_scalar::<f32>();
    let (before, after) = (ce(mown_nn::model::images_tensor(images, data.test.shape, &device)), ce(moved));
    assert!(after > before, "PGA should raise the loss of the labels: {before} -> {after}");
}
