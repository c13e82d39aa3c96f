//! Benchmark for issue #4: time to generate 100 IPGuard points on a ResNet-20 at 32x32x3 on this
//! machine. No CIFAR-10 is available offline, so the owner is a ResNet-20 trained briefly on
//! Fashion-MNIST images resized to 32x32x3 (the cost per step depends on the architecture and
//! input size, not on the data). Run: `cargo run --release -p mown-methods --example ipguard_resnet20`.

use std::time::Instant;

use mown_data::{DataSource, ImageShape};
use mown_methods::Fingerprinter;
use mown_methods::ipguard::{IpGuard, IpGuardParams};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (train, test) = DataSource::FashionMnist { dir: None }.load()?;
    let shape = ImageShape { channels: 3, height: 32, width: 32 };
    let train = train.take_per_class(200, 1)?.resized(shape)?;
    let test = test.take_per_class(50, 1)?.resized(shape)?;
    let spec = ModelSpec::new(Arch::Resnet20, shape, 10)?;
    let owner = Model::init(ModelMeta::for_dataset(spec, &train)?, &Device::flex(), 1);
    let t0 = Instant::now();
    let cfg = TrainConfig { epochs: 2, batch_size: 64, ..TrainConfig::default() };
    let (owner, _) = mown_nn::train::train(owner, &train, None, &cfg)?;
    println!(
        "owner: ResNet-20 on {} resized images, {:.1}s, test accuracy {:.3}",
        train.len(),
        t0.elapsed().as_secs_f64(),
        owner.accuracy(&test)?
    );
    for k in [2.0, 10.0] {
        let params = IpGuardParams { n: 100, k, seed: 1, ..IpGuardParams::default() };
        let t = Instant::now();
        let fp = IpGuard(params).generate(&owner, &train)?;
        println!(
            "IPGuard-TL n=100 k={k}: {:.1}s, {} converged, {} iterations",
            t.elapsed().as_secs_f64(),
            fp.stats["converged"],
            fp.stats["iterations"]
        );
    }
    Ok(())
}
