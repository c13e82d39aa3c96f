//! Training on the real (embedded) digits: accuracy, determinism, resume, objectives.

mod common;

use common::*;
use mown_nn::burn::prelude::*;
use mown_nn::train::{Distillation, train, train_with};
use mown_nn::{Arch, OptimizerKind, TrainConfig, io};

#[test]
fn owner_model_reaches_95_percent_on_digits() {
    let (train_set, test) = digits();
    let m = digits_model(Arch::ArcC, &train_set, 1);
    let cfg = TrainConfig { epochs: 30, ..quick_config(30, 1) };
    let (m, report) = train(m, &train_set, Some(&test), &cfg).unwrap();
    let acc = m.accuracy(&test).unwrap();
    assert!(acc >= 0.95, "test accuracy {acc}");
    assert_eq!(report.epochs.len(), 30);
    assert!(report.epochs[29].loss < report.epochs[0].loss);
}

#[test]
fn same_seed_gives_identical_weights_after_one_epoch() {
    let (train_set, _) = digits();
    let run = |seed| {
        let m = digits_model(Arch::ArcE, &train_set, seed); // Arc E has dropout: RNG in the loop too.
        let (m, _) = train(m, &train_set, None, &quick_config(1, seed)).unwrap();
        io::model_sha256(&m).unwrap()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

/// Cross-entropy that "crashes" (returns NaN, so training stops with an error) after `steps`.
struct CrashAfter {
    steps: usize,
}

impl mown_nn::train::Objective for CrashAfter {
    fn loss(&mut self, model: &mown_nn::Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        let loss = mown_nn::loss::cross_entropy(model.forward(images), labels);
        if self.steps == 0 {
            return loss.mul_scalar(f32::NAN);
        }
        self.steps -= 1;
        loss
    }
}

#[test]
fn resuming_from_a_checkpoint_equals_training_straight_through() {
    let (train_set, _) = digits();
    let dir = tempfile::tempdir().unwrap();
    let straight = {
        let m = digits_model(Arch::Lenet5, &train_set, 4);
        train(m, &train_set, None, &quick_config(2, 4)).unwrap().0
    };
    let mut cfg = quick_config(2, 4);
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    let steps_per_epoch = train_set.len().div_ceil(cfg.batch_size);
    // Crash halfway through epoch 2: the checkpoint of epoch 1 is left behind.
    let m = digits_model(Arch::Lenet5, &train_set, 4);
    let mut crash = CrashAfter { steps: steps_per_epoch + steps_per_epoch / 2 };
    let err = train_with(m, &train_set, None, &cfg, &mut crash).unwrap_err();
    let at = format!("at epoch 2, batch {}", steps_per_epoch / 2 + 1);
    assert!(err.to_string().contains("diverged") && err.to_string().contains(&at), "{err}");
    let m = digits_model(Arch::Lenet5, &train_set, 4);
    let (resumed, report) = train(m, &train_set, None, &cfg).unwrap();
    assert_eq!(report.resumed_from_epoch, 1);
    assert_eq!(report.epochs.len(), 1);
    assert_eq!(io::model_sha256(&resumed).unwrap(), io::model_sha256(&straight).unwrap());
    // A different configuration does not pick up this checkpoint.
    let mut other = cfg.clone();
    other.lr = 0.01;
    let m = digits_model(Arch::Lenet5, &train_set, 4);
    assert_eq!(train(m, &train_set, None, &other).unwrap().1.resumed_from_epoch, 0);
    // Nor does other data of the same shape, whose weights would load without complaint.
    let half: Vec<usize> = (0..train_set.len() / 2).collect();
    let other_data = train_set.subset(&half, "-half").unwrap();
    let m = digits_model(Arch::Lenet5, &other_data, 4);
    assert_eq!(train(m, &other_data, None, &cfg).unwrap().1.resumed_from_epoch, 0);
}

/// Cross-entropy whose source "refuses" at call `refuse_at` (as an extraction victim may):
/// the loss stays finite, and only `failure` says what happened.
struct RefuseAt {
    calls: usize,
    refuse_at: usize,
}

impl mown_nn::train::Objective for RefuseAt {
    fn loss(&mut self, model: &mown_nn::Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        self.calls += 1;
        mown_nn::loss::cross_entropy(model.forward(images), labels)
    }

    fn failure(&self) -> Option<String> {
        (self.calls >= self.refuse_at).then(|| "the source refused".to_string())
    }
}

#[test]
fn an_objective_that_fails_stops_training_at_once() {
    let (train_set, _) = digits();
    let steps = train_set.len().div_ceil(quick_config(3, 1).batch_size);
    let mut refusing = RefuseAt { calls: 0, refuse_at: steps + 3 };
    let m = digits_model(Arch::Mlp, &train_set, 1);
    let err = train_with(m, &train_set, None, &quick_config(3, 1), &mut refusing).unwrap_err();
    assert!(matches!(err, mown_nn::NnError::ObjectiveFailed { epoch: 2, batch: 3, .. }), "{err}");
    assert!(err.to_string().contains("the source refused"), "{err}");
    assert_eq!(refusing.calls, steps + 3, "no batch after the failing one");
}

#[test]
fn adam_and_rmsprop_train_too() {
    let (train_set, test) = digits();
    for optimizer in [OptimizerKind::Adam, OptimizerKind::RmsProp] {
        let m = digits_model(Arch::Mlp, &train_set, 3);
        let cfg = TrainConfig { optimizer, lr: 1e-3, ..quick_config(5, 3) };
        let (m, _) = train(m, &train_set, Some(&test), &cfg).unwrap();
        let acc = m.accuracy(&test).unwrap();
        assert!(acc > 0.85, "{optimizer:?}: {acc}");
    }
}

#[test]
fn distilled_student_agrees_with_its_teacher() {
    let (train_set, test) = digits();
    let teacher = train(digits_model(Arch::ArcC, &train_set, 1), &train_set, None, &quick_config(15, 1)).unwrap().0;
    let mut objective = Distillation { teacher: teacher.clone(), alpha: 0.7, temperature: 20.0 };
    let student = digits_model(Arch::Mlp, &train_set, 2);
    let (student, _) = train_with(student, &train_set, None, &quick_config(15, 2), &mut objective).unwrap();
    let fidelity = student.agreement(&teacher, test.images()).unwrap();
    assert!(fidelity > 0.9, "fidelity {fidelity}");
}

#[test]
fn bad_training_input_is_rejected() {
    let (train_set, _) = digits();
    let m = digits_model(Arch::Mlp, &train_set, 1);
    let bad = TrainConfig { batch_size: 0, ..quick_config(1, 1) };
    assert!(train(m.clone(), &train_set, None, &bad).unwrap_err().to_string().contains("batch size"));
    let bad = TrainConfig { lr: f64::NAN, ..quick_config(1, 1) };
    assert!(train(m.clone(), &train_set, None, &bad).unwrap_err().to_string().contains("learning rate"));
    let diverge = TrainConfig {
        lr: 1e30,
        optimizer: OptimizerKind::Sgd { momentum: 0.0, nesterov: false },
        ..quick_config(1, 1)
    };
    let err = train(m, &train_set, None, &diverge).unwrap_err().to_string();
    assert!(err.contains("diverged"), "{err}");
}

#[test]
fn distillation_loss_reduces_to_its_parts() {
    let dev = device();
    let logits = Tensor::<2>::from_floats([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]], &dev);
    let labels = [1usize, 2];
    let ce = mown_nn::loss::cross_entropy(logits.clone(), &labels).into_scalar::<f32>();
    let d0 = mown_nn::loss::distillation(logits.clone(), logits.clone() * 3.0, &labels, 0.0, 4.0).into_scalar::<f32>();
    assert!((ce - d0).abs() < 1e-6);
    let kl_self = mown_nn::loss::kl_divergence(logits.clone(), logits.clone(), 20.0).into_scalar::<f32>();
    assert!(kl_self.abs() < 1e-6);
    // Hand-computed CE for the first row: -log softmax([1, 2, 0.5])[1].
    let row: f32 = -(2.0f32 - (1.0f32.exp() + 2.0f32.exp() + 0.5f32.exp()).ln());
    let ce0 = mown_nn::loss::cross_entropy(logits.slice([0..1, 0..3]), &labels[..1]).into_scalar::<f32>();
    assert!((ce0 - row).abs() < 1e-5);
}

/// 64 images of the digits' shape, every pixel 0.9: far from anything BatchNorm saw in training.
fn constant_images(train: &mown_data::Dataset) -> mown_data::Dataset {
    let n = 64;
    mown_data::Dataset::new(
        "constant",
        train.shape,
        10,
        train.class_names.clone(),
        vec![0.9; n * train.shape.numel()],
        vec![0; n],
    )
    .unwrap()
}

/// BatchNorm recalibration forgets what the running statistics saw before (near-boundary's
/// phase 3 forwards private samples in training mode): statistics fed constant images and then
/// recalibrated on the digits give the logits of statistics recalibrated on the digits alone.
#[test]
fn batch_norm_recalibration_forgets_earlier_batches() {
    use mown_nn::train::recalibrate_batch_norm;
    let (train, test) = common::digits();
    let model = common::digits_model(Arch::Resnet20, &train, 4);
    let images = &test.images()[..64 * train.shape.numel()];
    let constant = constant_images(&train);
    let clean = recalibrate_batch_norm(model.clone(), &train, 100, 32, 1).unwrap();
    let fed = recalibrate_batch_norm(model.clone(), &constant, 20, 32, 1).unwrap();
    let back = recalibrate_batch_norm(fed.clone(), &train, 100, 32, 1).unwrap();
    let (c, f, b) = (clean.logits(images).unwrap(), fed.logits(images).unwrap(), back.logits(images).unwrap());
    let gap = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let scale = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(gap(&c, &f) > 0.1 * scale, "constant images must move the statistics: {} vs {scale}", gap(&c, &f));
    assert!(gap(&c, &b) < 0.01 * scale.max(1.0), "recalibration must forget them: {} vs {scale}", gap(&c, &b));
    // Weights are untouched, and a model without BatchNorm comes back as it was.
    let mlp = common::digits_model(Arch::Mlp, &train, 4);
    let same = recalibrate_batch_norm(mlp.clone(), &train, 5, 32, 1).unwrap();
    assert_eq!(mlp.logits(images).unwrap(), same.logits(images).unwrap());
}

/// Frozen normalisation: a training pass over constant images (which would drag BatchNorm's
/// running statistics far off, as the test above shows) leaves them alone, while the weights
/// still train; unfrozen again, the model trains as before.
#[test]
fn frozen_normalization_keeps_the_running_statistics() {
    use mown_nn::train::with_frozen_normalization;
    let (train, test) = common::digits();
    let model = common::digits_model(Arch::Resnet20, &train, 4);
    let images = &test.images()[..64 * train.shape.numel()];
    let constant = constant_images(&train);
    let gap = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let before = model.logits(images).unwrap();
    let still = TrainConfig { epochs: 2, lr: 1e-12, batch_size: 32, seed: 1, ..TrainConfig::default() };
    let run = |m: mown_nn::Model, cfg: &TrainConfig| mown_nn::train::train(m, &constant, None, cfg).unwrap().0;
    let moved = run(model.clone(), &still).logits(images).unwrap();
    let frozen = with_frozen_normalization(model.clone(), true);
    let kept = with_frozen_normalization(run(frozen.clone(), &still), false).logits(images).unwrap();
    let scale = before.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(gap(&before, &moved) > 0.1 * scale, "unfrozen, the statistics move: {}", gap(&before, &moved));
    assert!(gap(&before, &kept) < 1e-4 * scale.max(1.0), "frozen, they stay: {}", gap(&before, &kept));
    let learning = TrainConfig { lr: 0.05, ..still };
    let trained = run(frozen, &learning).logits(images).unwrap();
    assert!(gap(&before, &trained) > 1e-3, "frozen normalisation still trains the weights");
}
