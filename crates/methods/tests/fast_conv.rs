//! mown's convolution (crates/nn/src/conv) against burn-flex's own op on the embedded digits
//! (issue #31): the same training recipe reaches the same accuracy, and IPGuard, the method that
//! leans hardest on input gradients, finds the same fingerprint. A test binary of its own: it
//! flips the process-wide switch, which would race with other tests.

use mown_access::{AccessLevel, LocalModel};
use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_methods::ipguard::{IpGuard, IpGuardParams};
use mown_methods::{Fingerprinter, LabelProbe};
use mown_nn::TrainConfig;
use mown_nn::burn::prelude::Device;
use mown_nn::conv::set_fast;

fn train(chain: &str, fast: bool) -> (mown_nn::Model, f64, std::sync::Arc<mown_data::Dataset>) {
    set_fast(fast);
    let mut b = Builder::new(None, Device::flex(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let chain: Chain = chain.parse().unwrap();
    let model = b.build(&chain).unwrap().model;
    let data = b.step_data(&chain.steps[0]).unwrap();
    let accuracy = model.accuracy(&data.test).unwrap();
    (model, accuracy, data.owner)
}

#[test]
fn mowns_convolution_trains_and_fingerprints_as_burns_does() {
    for chain in ["train(arc-c,digits,seed=1,epochs=20,part=1/2)", "train(lenet5,digits,seed=2,epochs=20,part=2/2)"] {
        let (owner, burn_accuracy, seeds) = train(chain, false);
        let (_, mown_accuracy, _) = train(chain, true);
        eprintln!("{chain}: accuracy with burn's convolution {burn_accuracy:.4}, with mown's {mown_accuracy:.4}");
        assert!((burn_accuracy - mown_accuracy).abs() <= 0.005, "{chain}: {burn_accuracy} vs {mown_accuracy}");

        // One owner, fingerprinted twice: 100 points from the same seeds and steps.
        let params = IpGuardParams { n: 100, seed: 5, ..IpGuardParams::default() };
        let fingerprint = |fast: bool| {
            set_fast(fast);
            IpGuard(params.clone()).generate(&owner, &seeds).unwrap()
        };
        let (before, after) = (fingerprint(false), fingerprint(true));
        let same_label = before.labels.iter().zip(&after.labels).filter(|(a, b)| a == b).count();
        // The points themselves: the descent amplifies rounding differences through its sign
        // steps, so a few pixels move; the mean absolute difference stays small.
        let gap = before.points.iter().zip(&after.points).map(|(x, y)| (x - y).abs() as f64).sum::<f64>()
            / before.points.len() as f64;
        eprintln!("{chain}: IPGuard points with the same label {same_label}/100, mean |pixel difference| {gap:.5}");
        assert!(same_label >= 99, "{chain}: only {same_label} of 100 points keep their label");
        assert!(gap <= 0.01, "{chain}: the points moved by {gap} on average");
        // Each fingerprint verifies the owner through the other path.
        set_fast(true);
        let mut suspect = LocalModel::new(owner.clone(), AccessLevel::Labels, None);
        assert!(before.match_suspect(&mut suspect).unwrap().matching_rate >= 0.99);
    }
}
