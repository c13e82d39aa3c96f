//! Speed of an imported model against the same network built natively (issue #29: within
//! 1.2x): a ResNet-20 (3x32x32, 10 classes, the weights of a fresh seeded model) exported with
//! `export-onnx` and imported back; logits and cross-entropy input gradients of the same images.
//!
//!     cargo run --release --example import_speed [-- IMAGES REPS]

use std::time::Instant;

use mown_access::onnx::{ImportOptions, import_onnx_bytes, onnx_bytes};
use mown_data::{ImageShape, Normalization};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec};

fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (n, reps) = (args.first().copied().unwrap_or(256), args.get(1).copied().unwrap_or(3));
    let shape = ImageShape::new(3, 32, 32);
    let spec = ModelSpec::new(Arch::Resnet20, shape, 10).unwrap();
    let meta = ModelMeta::new(spec, Normalization::identity(3), (0..10).map(|c| c.to_string()).collect()).unwrap();
    let native = Model::init(meta, &Device::flex(), 1);
    let imported =
        import_onnx_bytes(&onnx_bytes(&native).unwrap(), &ImportOptions::default(), &Device::flex()).unwrap().model;
    let images: Vec<f32> = (0..n * shape.numel()).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let labels: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let diff = native
        .logits(&images)
        .unwrap()
        .iter()
        .zip(imported.logits(&images).unwrap())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("ResNet-20, {n} images of 3x32x32, best of {reps}; max |logit difference| {diff:.1e}");
    for (what, model) in [("native", &native), ("imported", &imported)] {
        let forward = best_of(reps, || {
            model.logits(&images).unwrap();
        });
        let gradient = best_of(reps, || {
            model
                .row_blocks_input_gradient(&images, mown_nn::gradient::GRADIENT_BLOCKS, |l, rows| {
                    mown_nn::loss::cross_entropy(l, &labels[rows.clone()]).mul_scalar(rows.len() as f32)
                })
                .unwrap();
        });
        println!("{what:>9}: forward {forward:.3} s, input gradient {gradient:.3} s");
    }
}
