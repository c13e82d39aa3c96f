//! White-box attacks on the embedded digits: fine-tuning (FTLL/FTAL/RTLL/RTAL), weight and
//! filter pruning with masked retraining, IPGuard's pruning sweep and INT8 quantisation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use mown_adversary::AttackError;
use mown_adversary::whitebox::prune::{NamedTensor, named_tensors, pruned_count};
use mown_adversary::whitebox::{
    FineTuneMode, PruneKind, fine_tune, prune, prune_and_finetune, prune_sweep, quantize_int8, sparsity,
};
use mown_data::Dataset;
use mown_nn::burn::prelude::Device;
use mown_nn::train::train;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig, io};

fn device() -> Device {
    Device::flex()
}

fn digits() -> (Dataset, Dataset) {
    mown_data::DataSource::Digits.load().expect("embedded digits load")
}

fn digits_model(arch: Arch, train: &Dataset, seed: u64) -> Model {
    let spec = ModelSpec::new(arch, train.shape, train.num_classes).unwrap();
    Model::init(ModelMeta::for_dataset(spec, train).unwrap(), &device(), seed)
}

fn quick_config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig { epochs, batch_size: 64, lr: 0.05, seed, ..TrainConfig::default() }
}

const VICTIM: &str = "train(arc-c,digits,seed=1)";

/// An Arc C owner trained for 15 epochs, built once and shared as model-file bytes.
fn victim() -> Model {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    let bytes = BYTES.get_or_init(|| {
        let (train_set, _) = digits();
        let m = digits_model(Arch::ArcC, &train_set, 1);
        let (mut m, _) = train(m, &train_set, None, &quick_config(15, 1)).unwrap();
        m.meta.provenance.derivation = VICTIM.into();
        io::to_bytes(&m).unwrap().0
    });
    io::from_bytes(bytes.clone(), Path::new("<victim>"), &device()).unwrap()
}

fn tensors(m: &Model) -> BTreeMap<String, NamedTensor> {
    named_tensors(&m.net).into_iter().map(|t| (t.path.clone(), t)).collect()
}

fn bits(t: &NamedTensor) -> Vec<u32> {
    t.values.iter().map(|v| v.to_bits()).collect()
}

/// Paths whose values differ (bit for bit) between two models of one architecture.
fn changed(a: &Model, b: &Model) -> BTreeSet<String> {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    ta.iter().filter(|(p, t)| bits(t) != bits(&tb[*p])).map(|(p, _)| p.clone()).collect()
}

fn is_bad_parameter<T>(r: Result<T, AttackError>) -> bool {
    matches!(r, Err(AttackError::BadParameter(_)))
}

#[test]
fn modes_and_kinds_parse_and_print() {
    for mode in FineTuneMode::ALL {
        assert_eq!(mode.to_string().parse::<FineTuneMode>().unwrap(), mode);
        let json = serde_json::to_string(&mode).unwrap();
        assert_eq!(json, format!("\"{mode}\""));
    }
    assert_eq!("FLL".parse::<FineTuneMode>().unwrap(), FineTuneMode::Ftll);
    assert!("ftxx".parse::<FineTuneMode>().is_err());
    assert_eq!("weight".parse::<PruneKind>().unwrap(), PruneKind::Weight);
    assert_eq!("f".parse::<PruneKind>().unwrap(), PruneKind::Filter);
    assert_eq!(PruneKind::Weight.to_string(), "w");
    assert_eq!(PruneKind::Filter.to_string(), "f");
    assert!("x".parse::<PruneKind>().is_err());
}

#[test]
fn weight_pruning_zeroes_exactly_floor_ratio_per_layer() {
    let (train_set, _) = digits();
    for arch in [Arch::ArcC, Arch::Mlp] {
        let m = digits_model(arch, &train_set, 7);
        assert_eq!(sparsity(&m).zeros(), 0, "{arch}: fresh weights have no zeros");
        let (p, mask) = prune(&m, PruneKind::Weight, 0.5).unwrap();
        let report = sparsity(&p);
        assert!(!report.layers.is_empty());
        let (mut zeros, mut total) = (0, 0);
        for (path, z, n) in &report.layers {
            assert_eq!(*z, n / 2, "{arch} {path}");
            zeros += n / 2;
            total += n;
        }
        assert_eq!(report.fraction(), zeros as f64 / total as f64);
        assert_eq!(mask.pruned(), zeros);
        // The pruned weights are the smallest of each layer.
        let before = tensors(&m);
        for t in named_tensors(&p.net).iter().filter(|t| t.is_weight()) {
            let orig = &before[&t.path].values;
            let (mut max_pruned, mut min_kept) = (0.0f32, f32::INFINITY);
            for (o, v) in orig.iter().zip(&t.values) {
                if *v == 0.0 {
                    max_pruned = max_pruned.max(o.abs());
                } else {
                    assert_eq!(o, v, "kept weights are unchanged");
                    min_kept = min_kept.min(o.abs());
                }
            }
            assert!(max_pruned <= min_kept, "{}", t.path);
        }
        // Biases are not pruned.
        assert!(changed(&m, &p).iter().all(|path| path.ends_with("weight")));
        assert_eq!(p.meta.provenance.derivation, "prune(w,0.5)");
    }
    let m = digits_model(Arch::ArcC, &train_set, 7);
    let (p, mask) = prune(&m, PruneKind::Weight, 0.0).unwrap();
    assert!(mask.is_empty());
    assert!(changed(&m, &p).is_empty());
    for bad in [1.0, 1.5, -0.1, f64::NAN, f64::INFINITY] {
        assert!(is_bad_parameter(prune(&m, PruneKind::Weight, bad)), "{bad}");
        assert!(is_bad_parameter(prune(&m, PruneKind::Filter, bad)), "{bad}");
    }
    assert_eq!(pruned_count(0.29, 100), 29);
}

/// Output channels of a rank-4 weight whose whole filter is zero.
fn zero_filters(t: &NamedTensor) -> BTreeSet<usize> {
    let per = t.values.len() / t.shape[0];
    t.values.chunks(per).enumerate().filter(|(_, f)| f.iter().all(|&v| v == 0.0)).map(|(i, _)| i).collect()
}

#[test]
fn filter_pruning_zeroes_whole_filters_and_their_channels() {
    let (train_set, test) = digits();
    // LeNet-5: convs with biases.
    let m = digits_model(Arch::Lenet5, &train_set, 3);
    let (p, _) = prune(&m, PruneKind::Filter, 0.5).unwrap();
    let t = tensors(&p);
    let mut convs = 0;
    for w in t.values().filter(|t| t.shape.len() == 4) {
        let zeros = zero_filters(w);
        assert_eq!(zeros.len(), pruned_count(0.5, w.shape[0]), "{}", w.path);
        let bias = &t[&w.path.replace(".weight", ".bias")].values;
        for (c, b) in bias.iter().enumerate() {
            assert_eq!(*b == 0.0, zeros.contains(&c), "{} bias {c}", w.path);
        }
        convs += 1;
    }
    assert_eq!(convs, 2);
    assert!(changed(&m, &p).iter().all(|path| path.contains("conv")));

    // ResNet-20: BatchNorm gamma/beta follow the pruned filters; block outputs are kept.
    let m = digits_model(Arch::Resnet20, &train_set, 3);
    let (p, _) = prune(&m, PruneKind::Filter, 0.25).unwrap();
    let t = tensors(&p);
    let (mut pruned_layers, mut kept_layers) = (0, 0);
    for w in t.values().filter(|t| t.shape.len() == 4) {
        let zeros = zero_filters(w);
        if w.path.contains(".conv2.") || w.path.contains(".shortcut.") {
            assert!(zeros.is_empty(), "{} is a block output", w.path);
            kept_layers += 1;
            continue;
        }
        assert_eq!(zeros.len(), pruned_count(0.25, w.shape[0]), "{}", w.path);
        let bn = w.path.replace(".weight", "").replace("conv", "bn");
        for param in ["gamma", "beta"] {
            let v = &t[&format!("{bn}.{param}")].values;
            for c in &zeros {
                assert_eq!(v[*c], 0.0, "{bn}.{param}[{c}]");
            }
        }
        pruned_layers += 1;
    }
    assert_eq!(pruned_layers, 1 + 9, "stem + conv1 of 9 blocks");
    assert_eq!(kept_layers, 9 + 2, "conv2 of 9 blocks + 2 shortcuts");
    // A zeroed filter with zeroed gamma/beta is a removed channel: outputs stay finite.
    assert!(p.accuracy(&test).unwrap().is_finite());

    let mlp = digits_model(Arch::Mlp, &train_set, 3);
    assert!(is_bad_parameter(prune(&mlp, PruneKind::Filter, 0.5)));
}

/// Filter pruning of an imported graph reads its convolutions, the BatchNorms after them and its
/// residual blocks' outputs off the graph: a ResNet-20 exported to ONNX and imported prunes to the
/// same function as the native one.
#[test]
fn filter_pruning_an_imported_resnet_matches_the_native_one() {
    let (train_set, test) = digits();
    let m = digits_model(Arch::Resnet20, &train_set, 5);
    let (m, _) = train(m, &train_set, None, &quick_config(1, 5)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    mown_access::onnx::export_onnx(&m, &dir.path().join("r.onnx")).unwrap();
    let opts = mown_access::onnx::ImportOptions::default();
    let imported = mown_access::onnx::import_onnx(&dir.path().join("r.onnx"), &opts, &device()).unwrap().model;
    let (native, _) = prune(&m, PruneKind::Filter, 0.25).unwrap();
    let (graph, mask) = prune(&imported, PruneKind::Filter, 0.25).unwrap();
    let zero_count = |model: &Model| -> usize {
        tensors(model).values().filter(|t| t.shape.len() == 4).map(|t| zero_filters(t).len()).sum()
    };
    assert_eq!(zero_count(&graph), zero_count(&native));
    assert!(zero_count(&graph) > 0 && !mask.is_empty());
    let images = &test.images()[..64 * test.shape.numel()];
    let (a, b) = (native.logits(images).unwrap(), graph.logits(images).unwrap());
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-3, "the pruned graph computes another function: max logit difference {diff}");
    assert_ne!(a, m.logits(images).unwrap(), "pruning changed nothing");
}

#[test]
fn pruned_retraining_keeps_the_mask_and_the_accuracy() {
    let (train_set, test) = digits();
    let v = victim();
    let base = v.accuracy(&test).unwrap();
    assert!(base > 0.9, "victim accuracy {base}");
    for (kind, ratio) in [(PruneKind::Weight, 0.5), (PruneKind::Filter, 0.25)] {
        let (_, mask) = prune(&v, kind, ratio).unwrap();
        let ft = prune_and_finetune(&v, kind, ratio, &train_set, &quick_config(2, 5)).unwrap();
        let t = tensors(&ft);
        let mut held = 0;
        for path in mask.paths() {
            let m = mask.get(path).unwrap();
            for (z, v) in m.iter().zip(&t[path].values) {
                if *z {
                    assert_eq!(*v, 0.0, "{path}");
                    held += 1;
                }
            }
        }
        assert_eq!(held, mask.pruned());
        if kind == PruneKind::Weight {
            // Retraining moved the kept weights but did not zero any more of them.
            assert_eq!(sparsity(&ft).zeros(), mask.pruned());
        }
        assert!(!changed(&v, &ft).is_empty());
        let acc = ft.accuracy(&test).unwrap();
        assert!(acc > 0.85, "{kind} {ratio}: accuracy {acc}");
        let d = &ft.meta.provenance.derivation;
        assert_eq!(d, &format!("{VICTIM}-prune({kind},{ratio},ft=2)"));
    }
}

#[test]
fn head_only_fine_tuning_leaves_the_body_and_batchnorm_untouched() {
    let (train_set, test) = digits();
    let (victim, _) =
        train(digits_model(Arch::Resnet20, &train_set, 2), &train_set, None, &quick_config(1, 2)).unwrap();
    let before = tensors(&victim);
    let head = ["ResNet.fc.weight", "ResNet.fc.bias"];
    let cfg = TrainConfig { lr: 0.01, ..quick_config(1, 3) };
    let ftll = fine_tune(&victim, FineTuneMode::Ftll, &train_set, &cfg).unwrap();
    let diff = changed(&victim, &ftll);
    assert!(!diff.is_empty());
    assert!(diff.iter().all(|p| head.contains(&p.as_str())), "{diff:?}");
    assert!(
        tensors(&ftll).keys().any(|p| p.ends_with("running_var")),
        "running statistics are among the compared tensors"
    );
    let ftal = fine_tune(&victim, FineTuneMode::Ftal, &train_set, &cfg).unwrap();
    let diff = changed(&victim, &ftal);
    assert!(diff.iter().any(|p| p.ends_with("conv1.weight")));
    assert!(diff.iter().any(|p| p.ends_with("running_mean")));
    // The victim itself (including its running statistics, which burn shares between clones)
    // is unchanged by either attack.
    let after = tensors(&victim);
    assert!(before.iter().all(|(p, t)| bits(t) == bits(&after[p])));
    assert!(ftal.agreement(&victim, test.images()).unwrap() > 0.5);
}

#[test]
fn fine_tuning_attacks_on_a_trained_victim() {
    let (train_set, test) = digits();
    let v = victim();
    let head = ["Simple.fc2.weight", "Simple.fc2.bias"];
    let cfg = TrainConfig { lr: 0.01, ..quick_config(2, 9) };
    for mode in FineTuneMode::ALL {
        let ft = fine_tune(&v, mode, &train_set, &cfg).unwrap();
        let diff = changed(&v, &ft);
        for h in head {
            assert!(diff.contains(h), "{mode}: {h} unchanged");
        }
        let body_changed = diff.iter().any(|p| !head.contains(&p.as_str()));
        assert_eq!(body_changed, mode.trains_all(), "{mode}: {diff:?}");
        let agreement = ft.agreement(&v, test.images()).unwrap();
        if !mode.reinitialises_head() {
            assert!(agreement > 0.8, "{mode}: agreement {agreement}");
        }
        assert!(ft.accuracy(&test).unwrap() > 0.8, "{mode}");
        let d = &ft.meta.provenance.derivation;
        assert_eq!(d, &format!("{VICTIM}-{mode}(2)"));
        let attacks = ft.meta.provenance.details["attacks"].as_array().unwrap();
        assert_eq!(attacks.len(), 1);
        assert_eq!(attacks[0]["details"]["attack"], mode.name());
        // The attacked model is an ordinary model file.
        let (bytes, meta) = io::to_bytes(&ft).unwrap();
        let loaded = io::from_bytes(bytes, Path::new("<ft>"), &device()).unwrap();
        assert_eq!(loaded.meta.provenance, meta.provenance);
        assert!(changed(&ft, &loaded).is_empty(), "{mode}: save/load");
        assert_eq!(loaded.predict(test.images()).unwrap(), ft.predict(test.images()).unwrap());
    }
    // RTLL is reproducible from the seed; a different seed gives a different head.
    let zero = TrainConfig { epochs: 0, ..cfg.clone() };
    let a = fine_tune(&v, FineTuneMode::Rtll, &train_set, &zero).unwrap();
    let b = fine_tune(&v, FineTuneMode::Rtll, &train_set, &zero).unwrap();
    assert!(changed(&a, &b).is_empty());
    let c = fine_tune(&v, FineTuneMode::Rtll, &train_set, &TrainConfig { seed: 10, ..zero.clone() });
    assert_eq!(changed(&a, &c.unwrap()).len(), 2);
    let ftll0 = fine_tune(&v, FineTuneMode::Ftll, &train_set, &zero).unwrap();
    assert!(changed(&v, &ftll0).is_empty(), "zero epochs train nothing");
    // A chain: FTLL then FTAL trains the body again (FTLL's freeze does not stick).
    let ftal = fine_tune(&ftll0, FineTuneMode::Ftal, &train_set, &cfg).unwrap();
    assert!(changed(&v, &ftal).iter().any(|p| p.contains("convs")));
}

#[test]
fn int8_quantisation_keeps_255_levels_and_the_accuracy() {
    let (_, test) = digits();
    let v = victim();
    let q = quantize_int8(&v).unwrap();
    let (tv, tq) = (tensors(&v), tensors(&q));
    for (path, t) in &tq {
        if t.is_weight() {
            let distinct: BTreeSet<u32> = t.values.iter().map(|v| v.to_bits()).collect();
            assert!(distinct.len() <= 255, "{path}: {} values", distinct.len());
            assert!(distinct.len() > 16, "{path}: {} values", distinct.len());
            let max = tv[path].values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (a, b) in tv[path].values.iter().zip(&t.values) {
                assert!((a - b).abs() <= max / 254.0 * 1.0001, "{path}: {a} -> {b}");
            }
        } else {
            assert_eq!(bits(t), bits(&tv[path]), "{path} is not a weight");
        }
    }
    let (a, b) = (v.accuracy(&test).unwrap(), q.accuracy(&test).unwrap());
    assert!(a - b < 0.02, "accuracy {a} -> {b}");
    assert_eq!(q.meta.provenance.derivation, format!("{VICTIM}-int8"));
    // Zeros stay zero: quantising a pruned model keeps its sparsity.
    let (p, mask) = prune(&v, PruneKind::Weight, 0.5).unwrap();
    assert!(sparsity(&quantize_int8(&p).unwrap()).zeros() >= mask.pruned());
    assert_eq!(mown_adversary::whitebox::quantize::quantize_values(&[0.0; 4]), None);
}

#[test]
fn pruning_sweep_stops_at_the_accuracy_limit() {
    let (train_set, test) = digits();
    let v = victim();
    // No retraining: pure pruning, ratios 0.1, 0.2, ... named exactly.
    let zero = quick_config(0, 1);
    let s = prune_sweep(&v, PruneKind::Weight, &train_set, &test, 0.03, 0.1, &zero).unwrap();
    assert!(!s.accepted.is_empty());
    for (i, (ratio, acc)) in s.accepted.iter().enumerate() {
        assert_eq!(*ratio, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9][i]);
        assert!(s.baseline_accuracy - acc <= 0.03, "{ratio}: {acc}");
    }
    if let Some((ratio, acc)) = s.rejected {
        assert!(s.baseline_accuracy - acc > 0.03);
        assert!(ratio > s.accepted.last().unwrap().0);
    }
    let best = s.best.as_ref().unwrap();
    let largest = s.accepted.last().unwrap().0;
    let d = &best.meta.provenance.derivation;
    assert_eq!(d, &format!("{VICTIM}-prune(w,{largest},ft=0)"));
    let expected: usize = sparsity(best).layers.iter().map(|(_, _, n)| pruned_count(largest, *n)).sum();
    assert_eq!(sparsity(best).zeros(), expected);

    // With retraining (coarse filter steps keep the test short; the paper uses 1/16).
    let s = prune_sweep(&v, PruneKind::Filter, &train_set, &test, 0.03, 0.25, &quick_config(1, 1)).unwrap();
    assert!(s.accepted.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(s.accepted.iter().all(|(_, a)| s.baseline_accuracy - a <= 0.03));
    assert!(s.accepted.len() <= 3);

    for (drop, step) in [(0.03, 0.0), (0.03, 1.0), (-0.1, 0.1), (f64::NAN, 0.1)] {
        let r = prune_sweep(&v, PruneKind::Weight, &train_set, &test, drop, step, &zero);
        assert!(is_bad_parameter(r), "{drop} {step}");
    }
}
