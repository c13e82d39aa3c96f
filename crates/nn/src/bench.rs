//! Throughput of the three operations everything in mown is made of: a forward pass, a training
//! step (forward, backward, SGD update) and an input gradient. `mown bench nn` prints these next
//! to the same measurements taken by `bench/pytorch_nn.py` in the same run.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use mown_data::{ImageShape, Normalization};
use serde::{Deserialize, Serialize};

use crate::model::{Model, ModelMeta, images_tensor};
use crate::{Arch, ModelSpec, NnError, TrainConfig};

/// One benchmarked network.
#[derive(Clone, Copy, Debug)]
pub struct BenchCase {
    pub name: &'static str,
    pub arch: Arch,
    pub shape: ImageShape,
}

/// The cases of `mown bench nn` (and of the PyTorch reference script).
pub const CASES: [BenchCase; 4] = [
    BenchCase { name: "lenet5-28x28x1", arch: Arch::Lenet5, shape: ImageShape { channels: 1, height: 28, width: 28 } },
    BenchCase { name: "arc-a-28x28x1", arch: Arch::ArcA, shape: ImageShape { channels: 1, height: 28, width: 28 } },
    BenchCase {
        name: "resnet20-32x32x3",
        arch: Arch::Resnet20,
        shape: ImageShape { channels: 3, height: 32, width: 32 },
    },
    BenchCase { name: "vgg11bn-32x32x3", arch: Arch::Vgg11, shape: ImageShape { channels: 3, height: 32, width: 32 } },
];

/// Images per second for each operation (median over the timed iterations).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Throughput {
    pub forward: f64,
    pub train_step: f64,
    pub input_gradient: f64,
}

/// Median seconds of `iters` runs of `f` after `warmup` untimed runs.
fn median_seconds(warmup: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Measures one case at `batch` images on `device`.
pub fn measure(
    case: &BenchCase,
    device: &Device,
    batch: usize,
    warmup: usize,
    iters: usize,
) -> Result<Throughput, NnError> {
    let spec = ModelSpec::new(case.arch, case.shape, 10)?;
    let classes: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let meta = ModelMeta::new(spec, Normalization::identity(case.shape.channels), classes)?;
    let model = Model::init(meta, device, 7);
    let pixels: Vec<f32> = (0..batch * case.shape.numel()).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let x = images_tensor(&pixels, case.shape, device);

    // The inference path mown runs: evaluation mode with BatchNorm folded (`models::folded`).
    let net = model.inference_net();
    let forward = median_seconds(warmup, iters, || {
        let _ = model.forward_inference(&net, x.clone()).into_data();
    });

    let train_device = device.clone().autodiff();
    let mut optim = TrainConfig::default().optimizer();
    let mut trained = Model { meta: model.meta.clone(), net: model.net.clone().fork(&train_device).train() };
    let xt = x.clone().autodiff();
    let train_step = median_seconds(warmup, iters, || {
        let loss = crate::loss::cross_entropy(trained.forward(xt.clone()), &labels);
        let grads = GradientsParams::from_grads(loss.backward(), &trained.net);
        trained.net = optim.step(0.01, trained.net.clone(), grads);
        let _ = loss.into_data();
    });

    let input_gradient = median_seconds(warmup, iters, || {
        let g = model.input_gradient(x.clone(), |logits| crate::loss::cross_entropy(logits, &labels));
        let _ = g.grad.into_data();
    });
    let ips = |s: f64| batch as f64 / s.max(1e-12);
    Ok(Throughput { forward: ips(forward), train_step: ips(train_step), input_gradient: ips(input_gradient) })
}
