//! DeepFool, DeepFool adversarial training (seed 003 §5) and the overlapping training sets of
//! seed 003's homologous models, on the embedded digits.

use std::collections::HashSet;

use mown_adversary::build::{Builder, PARTS_SEED};
use mown_adversary::deepfool::{DeepFoolParams, deepfool, l2_norm};
use mown_adversary::{Chain, advtrain};
use mown_data::Dataset;
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};

fn digits() -> (Dataset, Dataset) {
    mown_data::DataSource::Digits.load().expect("embedded digits load")
}

/// An MLP trained on the digits' training split: about 0.95 test accuracy.
fn digits_mlp(train: &Dataset, seed: u64) -> Model {
    let spec = ModelSpec::new(Arch::Mlp, train.shape, train.num_classes).unwrap();
    let model = Model::init(ModelMeta::for_dataset(spec, train).unwrap(), &Device::flex(), seed);
    let cfg = TrainConfig { epochs: 8, batch_size: 64, lr: 0.05, seed, ..TrainConfig::default() };
    mown_nn::train::train(model, train, None, &cfg).unwrap().0
}

/// Median ||r|| over the images DeepFool flips.
fn median_flip_norm(model: &Model, images: &[f32]) -> (f64, usize) {
    let result = deepfool(model, images, &DeepFoolParams::default()).unwrap();
    let mut norms: Vec<f64> =
        result.norms().into_iter().zip(&result.flipped).filter(|(_, f)| **f).map(|(n, _)| n).collect();
    norms.sort_by(f64::total_cmp);
    (norms[norms.len() / 2], norms.len())
}

#[test]
fn deepfool_flips_a_trained_model_with_a_small_perturbation() {
    let (train, test) = digits();
    let model = digits_mlp(&train, 1);
    let numel = test.shape.numel();
    let images = &test.images()[..40 * numel];
    let result = deepfool(&model, images, &DeepFoolParams::default()).unwrap();
    let flipped = result.flipped.iter().filter(|&&f| f).count();
    assert!(flipped >= 38, "only {flipped} of 40 images flipped");
    // The labels reported are the model's at x + r, and x + r stays in the pixel box.
    let adversarial: Vec<f32> = images.iter().zip(&result.perturbations).map(|(x, r)| x + r).collect();
    assert!(adversarial.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(model.predict(&adversarial).unwrap(), result.labels);
    assert_eq!(model.predict(images).unwrap(), result.original);
    // Small: the median flip needs far less than the images' own norm (about 4 at 8x8).
    let (median, _) = median_flip_norm(&model, images);
    let image_norm = l2_norm(&images[..numel]);
    assert!(median < 0.3 * image_norm, "median perturbation {median} vs image norm {image_norm}");
}

#[test]
fn deepfool_training_pushes_the_boundary_away_and_keeps_the_accuracy() {
    let (train, test) = digits();
    let model = digits_mlp(&train, 2);
    let images = &test.images()[..60 * test.shape.numel()];
    let cfg = TrainConfig { lr: 0.02, seed: 5, ..TrainConfig::default() };
    let robust = advtrain::deepfool_training(&model, &train, 80, 64, &cfg).unwrap();
    let (before, _) = median_flip_norm(&model, images);
    let (after, flipped) = median_flip_norm(&robust, images);
    let (acc_before, acc_after) = (model.accuracy(&test).unwrap(), robust.accuracy(&test).unwrap());
    eprintln!(
        "DeepFool training: median flip norm {before:.3} -> {after:.3}, accuracy {acc_before:.3} -> {acc_after:.3}"
    );
    assert!(flipped >= 30, "DeepFool still flips the trained model: {flipped} of 60");
    assert!(after > 1.1 * before, "the boundary did not move away: median ||r|| {before} -> {after}");
    assert!(acc_after > acc_before - 0.1, "accuracy fell from {acc_before} to {acc_after}");
    // Seeded: the same call gives the same weights.
    let again = advtrain::deepfool_training(&model, &train, 80, 64, &cfg).unwrap();
    assert_eq!(
        mown_nn::io::model_sha256(&robust).unwrap(),
        mown_nn::io::model_sha256(&again).unwrap(),
        "same seed, same adversarially trained weights"
    );
    assert!(advtrain::deepfool_training(&model, &train, 0, 64, &cfg).is_err());
}

#[test]
fn an_overlapping_part_shares_the_asked_fraction_of_the_victims_part() {
    let mut builder = Builder::new(None, Device::flex(), TrainConfig::default());
    let (train, _) = digits();
    let parts = train.disjoint_parts(2, PARTS_SEED).unwrap();
    let key = |d: &Dataset, i: usize| d.image(i).iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    let victim: HashSet<Vec<u32>> = (0..parts[0].len()).map(|i| key(&parts[0], i)).collect();
    for (overlap, chain) in [
        (0.5, "train(mlp,digits,seed=3,epochs=1,part=1/2,overlap=0.5)"),
        (0.0, "train(mlp,digits,seed=3,epochs=1,part=1/2,overlap=0)"),
        (0.9, "train(mlp,digits,seed=4,epochs=1,part=1/2,overlap=0.9)"),
    ] {
        let chain: Chain = chain.parse().unwrap();
        let data = builder.step_data(&chain.steps[0]).unwrap();
        assert_eq!(data.owner.len(), parts[0].len(), "{chain}: the size of the victim's part");
        let shared = (0..data.owner.len()).filter(|&i| victim.contains(&key(&data.owner, i))).count();
        let expected = (overlap * parts[0].len() as f64).round() as usize;
        // Exact up to duplicate images across the parts (the digits have a few).
        assert!(shared.abs_diff(expected) <= 3, "{chain}: {shared} shared images, expected {expected}");
    }
    // Different seeds draw different samples of the victim's part.
    let a = builder.step_data(&"train(mlp,digits,seed=3,part=1/2,overlap=0.5)".parse::<Chain>().unwrap().steps[0]);
    let b = builder.step_data(&"train(mlp,digits,seed=4,part=1/2,overlap=0.5)".parse::<Chain>().unwrap().steps[0]);
    assert_ne!(a.unwrap().owner.images(), b.unwrap().owner.images());
}
