//! Data-free adversarial distillation (Fang, Song, Wang, Shen, Wang, Song, "Data-Free Adversarial
//! Distillation", 2019): the "zero-shot" thief of seed 001 (model-accessible, no data). A generator
//! makes inputs on which student and teacher disagree most (it maximises the mean absolute
//! difference of their logits), and the student learns to agree on them (minimises it): 5 student
//! steps, each on a fresh latent batch, then 1 generator step, per iteration.
//!
//! The generator is the official code's `GeneratorA` (seed-001 notes §10.5): z (100-d) → Linear to
//! 2·ngf maps of a quarter of the image side → BatchNorm → ×2 nearest upsampling → conv3x3 → BN →
//! LeakyReLU(0.2) → ×2 → conv3x3 (ngf) → BN → LeakyReLU → conv3x3 (channels) → tanh → per-channel
//! batch standardisation (BatchNorm without affine terms). Its output lives in the teacher's
//! normalised input space, as in the official code; mown models take pixels and normalise inside,
//! so the output is mapped back through the teacher's own mean and std (pixels may leave [0, 1]:
//! a data-free thief feeds the networks whatever maximises the discrepancy). Student: SGD with
//! momentum 0.9 and weight decay 1e-4 (the MNIST script); generator: Adam at 1e-3. The official
//! code keeps the student with the best accuracy on the real test set, which a data-free thief
//! cannot do: we keep the last one.

use crate::conv::conv2d;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, tanh};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::NnError;
use crate::model::Model;
use crate::models::blocks::batch_norm;
use crate::seed::{SeedLock, derive};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DfadParams {
    /// Latent size (official MNIST script: 100).
    pub latent: usize,
    /// Generator width ngf (official: 64).
    pub width: usize,
    /// Iterations of 5 student steps and 1 generator step (official MNIST: 40 epochs of 50).
    pub iterations: usize,
    pub student_steps: usize,
    /// Generated images per step (official MNIST: 512; smaller fits 2 cores).
    pub batch: usize,
    pub student_lr: f64,
    pub generator_lr: f64,
    pub seed: u64,
}

impl Default for DfadParams {
    fn default() -> Self {
        DfadParams {
            latent: 100,
            width: 64,
            iterations: 500,
            student_steps: 5,
            batch: 256,
            student_lr: 0.01,
            generator_lr: 1e-3,
            seed: 0,
        }
    }
}

/// What the attack did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DfadReport {
    pub iterations: usize,
    /// Images generated and passed through teacher and student.
    pub generated: usize,
    /// Mean |student - teacher| logit gap over the last iteration's student steps.
    pub final_gap: f64,
    pub seconds: f64,
}

#[derive(Module, Debug)]
struct GeneratorA {
    project: Linear,
    bn0: BatchNorm,
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    /// 2·ngf maps of side (h/4, w/4), and the image's channels.
    base: [usize; 3],
    channels: usize,
}

/// Nearest-neighbour upsampling by 2.
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1]).repeat_dim(3, 2).repeat_dim(5, 2).reshape([n, c, 2 * h, 2 * w])
}

/// Per-channel standardisation over the batch (BatchNorm without affine terms, training mode).
fn standardise(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let flat = x.clone().swap_dims(0, 1).reshape([c, n * h * w]);
    let mean = flat.clone().mean_dim(1);
    let var = (flat - mean.clone()).powf_scalar(2.0).mean_dim(1);
    (x - mean.reshape([1, c, 1, 1])) / (var.reshape([1, c, 1, 1]) + 1e-5).sqrt()
}

impl GeneratorA {
    fn new(p: &DfadParams, channels: usize, side: (usize, usize), device: &Device) -> Self {
        let (h4, w4) = (side.0 / 4, side.1 / 4);
        let wide = 2 * p.width;
        let conv = |i, o| Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
        GeneratorA {
            project: LinearConfig::new(p.latent, wide * h4 * w4).init(device),
            bn0: batch_norm(wide, device),
            conv1: conv(wide, wide).init(device),
            bn1: batch_norm(wide, device),
            conv2: conv(wide, p.width).init(device),
            bn2: batch_norm(p.width, device),
            conv3: conv(p.width, channels).init(device),
            base: [wide, h4, w4],
            channels,
        }
    }

    /// Images in the teacher's normalised space `[n, channels, h, w]`.
    fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let n = z.dims()[0];
        let [c, h, w] = self.base;
        let x = crate::conv::batch_norm(&self.bn0, self.project.forward(z).reshape([n, c, h, w]));
        let x = leaky_relu(crate::conv::batch_norm(&self.bn1, conv2d(&self.conv1, upsample2(x))), 0.2);
        let x = leaky_relu(crate::conv::batch_norm(&self.bn2, conv2d(&self.conv2, upsample2(x))), 0.2);
        standardise(tanh(conv2d(&self.conv3, x)))
    }
}

fn gaussian(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random::<f64>().max(1e-12);
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// Trains `student` (fresh, of the thief's architecture) from `teacher` without data.
pub fn dfad(teacher: &Model, student: Model, p: &DfadParams) -> Result<(Model, DfadReport), NnError> {
    let started = std::time::Instant::now();
    let shape = teacher.input_shape();
    if student.input_shape() != shape || student.num_classes() != teacher.num_classes() {
        return Err(NnError::BadInput("the student must take the teacher's images and classes".into()));
    }
    if !shape.height.is_multiple_of(4) || !shape.width.is_multiple_of(4) {
        return Err(NnError::BadInput(format!(
            "DFAD's generator builds images from a quarter of their side: {shape} is not divisible by 4"
        )));
    }
    if p.latent == 0 || p.width == 0 || p.batch < 2 || p.student_steps == 0 || p.iterations == 0 {
        return Err(NnError::BadInput(format!("bad DFAD parameters {p:?}")));
    }
    if !(p.student_lr > 0.0 && p.generator_lr > 0.0) {
        return Err(NnError::BadInput("DFAD learning rates must be positive".into()));
    }
    let device = student.device().without_autodiff();
    let train_device = device.clone().autodiff();
    let _lock = SeedLock::acquire(&device, derive(p.seed, 1));
    let mut generator = GeneratorA::new(p, shape.channels, (shape.height, shape.width), &device).fork(&train_device);
    generator = generator.train();
    let mut student = Model { meta: student.meta, net: student.net.fork(&train_device).train() };
    let teacher_net = teacher.inference_net();
    // Normalised space -> the teacher's pixels: x · std + mean per channel.
    let c = shape.channels;
    let std = Tensor::<1>::from_floats(teacher.meta.normalization.std.as_slice(), &train_device).reshape([1, c, 1, 1]);
    let mean =
        Tensor::<1>::from_floats(teacher.meta.normalization.mean.as_slice(), &train_device).reshape([1, c, 1, 1]);
    let to_pixels = |x: Tensor<4>| x * std.clone() + mean.clone();
    let mut student_opt = SgdConfig::new()
        .with_momentum(Some(MomentumConfig { momentum: 0.9, dampening: 0.0, nesterov: false }))
        .with_weight_decay(Some(WeightDecayConfig::new(1e-4)))
        .init();
    let mut generator_opt = AdamConfig::new().with_epsilon(1e-8).init();
    let mut rng = StdRng::seed_from_u64(derive(p.seed, 2));
    let mut final_gap = f64::NAN;
    for it in 0..p.iterations {
        let mut gaps = 0.0;
        for step in 0..p.student_steps {
            let z = Tensor::<1>::from_floats(gaussian(p.batch * p.latent, &mut rng).as_slice(), &train_device)
                .reshape([p.batch, p.latent]);
            let x = to_pixels(generator.forward(z)).detach();
            let t = teacher.forward_inference(&teacher_net, x.clone().without_autodiff()).autodiff();
            let loss = (student.forward(x) - t).abs().mean();
            let value = loss.clone().into_scalar::<f32>();
            if !value.is_finite() {
                return Err(NnError::Diverged { epoch: it + 1, batch: step + 1, loss: value });
            }
            gaps += value as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &student.net);
            student.net = student_opt.step(p.student_lr, student.net, grads);
        }
        final_gap = gaps / p.student_steps as f64;
        let z = Tensor::<1>::from_floats(gaussian(p.batch * p.latent, &mut rng).as_slice(), &train_device)
            .reshape([p.batch, p.latent]);
        let x = to_pixels(generator.forward(z));
        let t = teacher.forward_inference(&teacher_net, x.clone());
        let loss = (student.forward(x) - t).abs().mean().neg();
        let grads = GradientsParams::from_grads(loss.backward(), &generator);
        generator = generator_opt.step(p.generator_lr, generator, grads);
    }
    let report = DfadReport {
        iterations: p.iterations,
        generated: p.iterations * (p.student_steps + 1) * p.batch,
        final_gap,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((Model { meta: student.meta, net: student.net.valid() }, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arch, ModelMeta, ModelSpec};
    use mown_data::{ImageShape, Normalization};

    #[test]
    fn a_student_learns_to_agree_with_its_teacher_without_data() {
        let (train, test) = mown_data::DataSource::Digits.load().unwrap();
        let device = Device::flex();
        let meta = |seed: u64| {
            let spec = ModelSpec::new(Arch::Mlp, train.shape, train.num_classes).unwrap();
            (ModelMeta::for_dataset(spec, &train).unwrap(), seed)
        };
        let fresh = |(m, seed): (ModelMeta, u64)| Model::init(m, &device, seed);
        let cfg = crate::TrainConfig { epochs: 10, seed: 1, ..crate::TrainConfig::default() };
        let (teacher, _) = crate::train::train(fresh(meta(1)), &train, None, &cfg).unwrap();
        let p = DfadParams { iterations: 60, batch: 64, width: 16, latent: 32, ..DfadParams::default() };
        let (student, report) = dfad(&teacher, fresh(meta(2)), &p).unwrap();
        // Agreement with the teacher on real digits the thief never saw, before and after.
        let agree = |m: &Model| m.agreement(&teacher, test.images()).unwrap();
        let (before, after) = (agree(&fresh(meta(2))), agree(&student));
        assert!(after > before + 0.2, "agreement {before:.3} -> {after:.3} ({report:?})");
        // Same seed, same student.
        let (again, _) = dfad(&teacher, fresh(meta(2)), &p).unwrap();
        assert_eq!(again.logits(test.images()).unwrap(), student.logits(test.images()).unwrap());
        // Image sides must be multiples of 4.
        let odd = ImageShape::new(1, 6, 6);
        let spec = ModelSpec::new(Arch::Mlp, odd, 3).unwrap();
        let m = ModelMeta::new(spec, Normalization::identity(1), (0..3).map(|c| c.to_string()).collect()).unwrap();
        let t = Model::init(m.clone(), &device, 1);
        assert!(dfad(&t, Model::init(m, &device, 2), &p).is_err());
    }
}
