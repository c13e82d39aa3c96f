//! The baselines honour their definitions on a small digits model.

use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_methods::Fingerprinter;
use mown_methods::baselines::{Baseline, BaselineKind, BaselineParams};
use mown_methods::ipguard::{Init, TargetRule};
use mown_nn::TrainConfig;
use mown_nn::burn::prelude::Device;

#[test]
fn baselines_stay_in_their_budgets_and_reach_their_targets() {
    let mut b = Builder::new(None, Device::flex(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let chain: Chain = "train(arc-c,digits,seed=1,epochs=10)".parse().unwrap();
    let owner = b.build(&chain).unwrap().model;
    let seeds = b.step_data(&chain.steps[0]).unwrap().owner;
    let params = |kind| BaselineParams { kind, n: 30, init: Init::Train, target: TargetRule::LeastLikely, seed: 4 };
    let start = {
        let fp = Baseline(params(BaselineKind::Fgsm { eps: 0.0 })).generate(&owner, &seeds).unwrap();
        fp.points
    };
    let max_change = |points: &[f32]| points.iter().zip(&start).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);

    let fgsm = Baseline(params(BaselineKind::Fgsm { eps: 0.1 })).generate(&owner, &seeds).unwrap();
    assert_eq!(fgsm.method, "fgsm-TL");
    assert!(max_change(&fgsm.points) <= 0.1 + 1e-6 && max_change(&fgsm.points) > 0.05);

    let igsm = Baseline(params(BaselineKind::Igsm { eps: 0.2, alpha: 1.0 / 255.0, iterations: 200 }))
        .generate(&owner, &seeds)
        .unwrap();
    assert!(max_change(&igsm.points) <= 0.2 + 1e-6);

    let cw = Baseline(params(BaselineKind::CwL2 { c: 1.0, kappa: 1.0, lr: 0.05, iterations: 300 }))
        .generate(&owner, &seeds)
        .unwrap();
    let pairs = mown_methods::ipguard::label_pairs(
        &owner.logits(&start).unwrap(),
        10,
        TargetRule::LeastLikely,
        &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0),
    );
    let reached = cw.labels.iter().zip(&pairs.1).filter(|(a, b)| a == b).count();
    assert!(reached >= 24, "CW-L2 reached the target on only {reached} of 30 points");
    assert!(cw.points.iter().all(|v| (0.0..=1.0).contains(v)));

    let random = Baseline(params(BaselineKind::Random)).generate(&owner, &seeds).unwrap();
    assert_eq!(random.method, "random");
    assert_eq!(random.labels, owner.predict(&random.points).unwrap());

    // Seed images of another shape are a named mismatch, not points cut from the wrong pixels:
    // 30 seeds of 16x16 would have divided evenly into 120 of the owner's 8x8 images.
    let large = seeds.resized(mown_data::ImageShape { channels: 1, height: 16, width: 16 }).unwrap();
    let err = Baseline(params(BaselineKind::Fgsm { eps: 0.1 })).generate(&owner, &large).unwrap_err();
    assert!(err.to_string().contains("seed images"), "{err}");
    // Random points take the owner's shape whatever the seed images are.
    let random = Baseline(params(BaselineKind::Random)).generate(&owner, &large).unwrap();
    assert_eq!(random.points.len(), 30 * 64);
}
