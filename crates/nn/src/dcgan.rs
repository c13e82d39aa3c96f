//! A DCGAN (Radford, Metz and Chintala 2015, "Unsupervised Representation Learning with Deep
//! Convolutional Generative Adversarial Networks") for small images, in the paper's recipe:
//! the generator projects a Gaussian latent to a small map and doubles it with stride-2
//! transposed convolutions (BatchNorm and ReLU between, tanh at the end); the discriminator
//! halves it with stride-2 convolutions (LeakyReLU 0.2, BatchNorm on all but the first), one
//! logit at the end; both train with Adam at 2e-4, beta1 0.5, on the standard minimax loss with
//! the generator's non-saturating form (-log D(G(z))), one discriminator step then one generator
//! step per batch. Radford's 64x64 widths (1024-512-256-128) are far too wide for 8x8 or 28x28
//! images: the widths here are a parameter (ours 128, 64). Images are [0, 1] pixels outside and
//! [-1, 1] inside, as tanh gives.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, log_sigmoid, relu};
use mown_data::ImageShape;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::NnError;
use crate::model::{images_tensor, tensor_to_vec};
use crate::models::blocks::batch_norm;
use crate::seed::{SeedLock, derive};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcganParams {
    /// Latent size (Radford: 100).
    pub latent: usize,
    /// Generator widths from the projected map up; the discriminator uses them in reverse. One
    /// stride-2 layer per width, so the map doubles `widths.len()` times.
    pub widths: Vec<usize>,
    /// Training iterations (one discriminator and one generator step each).
    pub steps: usize,
    pub batch_size: usize,
    /// Adam's rate and beta1 (Radford: 2e-4 and 0.5).
    pub lr: f64,
    pub beta1: f64,
    pub seed: u64,
}

impl Default for DcganParams {
    fn default() -> Self {
        DcganParams { latent: 100, widths: vec![128, 64], steps: 1000, batch_size: 64, lr: 2e-4, beta1: 0.5, seed: 0 }
    }
}

#[derive(Module, Debug)]
struct GeneratorNet {
    project: Linear,
    project_bn: BatchNorm,
    ups: Vec<ConvTranspose2d>,
    bns: Vec<BatchNorm>,
    /// The projected map's size and the crop that brings the output to the image size.
    base: [usize; 3],
    crop: [usize; 2],
}

impl GeneratorNet {
    fn forward(&self, z: Tensor<2>, shape: ImageShape) -> Tensor<4> {
        let n = z.dims()[0];
        let [c0, h0, w0] = self.base;
        let mut x = relu(crate::conv::batch_norm(&self.project_bn, self.project.forward(z).reshape([n, c0, h0, w0])));
        let last = self.ups.len() - 1;
        for (i, up) in self.ups.iter().enumerate() {
            x = up.forward(x);
            x = if i < last { relu(crate::conv::batch_norm(&self.bns[i], x)) } else { x.tanh() };
        }
        let [oy, ox] = self.crop;
        x.slice([0..n, 0..shape.channels, oy..oy + shape.height, ox..ox + shape.width])
    }
}

#[derive(Module, Debug)]
struct DiscriminatorNet {
    convs: Vec<Conv2d>,
    /// BatchNorm after every convolution but the first (Radford §3).
    bns: Vec<BatchNorm>,
    head: Linear,
}

impl DiscriminatorNet {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for (i, conv) in self.convs.iter().enumerate() {
            x = crate::conv::conv2d(conv, x);
            if i > 0 {
                x = crate::conv::batch_norm(&self.bns[i - 1], x);
            }
            x = leaky_relu(x, 0.2);
        }
        self.head.forward(x.flatten(1, 3))
    }
}

/// A trained generator: Gaussian latents to images of `shape` in [0, 1].
#[derive(Debug)]
pub struct Generator {
    net: GeneratorNet,
    pub shape: ImageShape,
    pub latent: usize,
}

/// What training did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DcganReport {
    pub steps: usize,
    /// Mean losses over the last tenth of the steps.
    pub discriminator_loss: f64,
    pub generator_loss: f64,
    pub seconds: f64,
}

/// Map sizes after each stride-2 layer (kernel 4, padding 1): ⌊n/2⌋.
fn halvings(n: usize, times: usize) -> Option<usize> {
    (0..times).try_fold(n, |n, _| (n >= 2).then_some(n / 2))
}

fn validate(shape: ImageShape, p: &DcganParams) -> Result<(), NnError> {
    let bad = |m: String| Err(NnError::BadInput(format!("DCGAN: {m}")));
    if p.latent == 0 || p.widths.is_empty() || p.widths.contains(&0) || p.batch_size < 2 || p.steps == 0 {
        return bad(format!("needs latent, widths, steps > 0 and a batch of >= 2, got {p:?}"));
    }
    if !(p.lr.is_finite() && p.lr > 0.0 && (0.0..1.0).contains(&p.beta1)) {
        return bad(format!("needs lr > 0 and beta1 in [0, 1), got {} and {}", p.lr, p.beta1));
    }
    if halvings(shape.height, p.widths.len()).is_none() || halvings(shape.width, p.widths.len()).is_none() {
        return bad(format!("{} stride-2 layers do not fit {shape:?} images: use fewer widths", p.widths.len()));
    }
    Ok(())
}

fn generator(shape: ImageShape, p: &DcganParams, device: &Device) -> GeneratorNet {
    let layers = p.widths.len();
    let (h0, w0) = (shape.height.div_ceil(1 << layers), shape.width.div_ceil(1 << layers));
    let mut outs: Vec<usize> = p.widths[1..].to_vec();
    outs.push(shape.channels);
    let ups = p
        .widths
        .iter()
        .zip(&outs)
        .map(|(&cin, &cout)| {
            ConvTranspose2dConfig::new([cin, cout], [4, 4]).with_stride([2, 2]).with_padding([1, 1]).init(device)
        })
        .collect();
    GeneratorNet {
        project: LinearConfig::new(p.latent, p.widths[0] * h0 * w0).init(device),
        project_bn: batch_norm(p.widths[0], device),
        ups,
        bns: outs[..layers - 1].iter().map(|&c| batch_norm(c, device)).collect(),
        base: [p.widths[0], h0, w0],
        crop: [((h0 << layers) - shape.height) / 2, ((w0 << layers) - shape.width) / 2],
    }
}

fn discriminator(shape: ImageShape, p: &DcganParams, device: &Device) -> DiscriminatorNet {
    let layers = p.widths.len();
    let mut widths: Vec<usize> = p.widths.iter().rev().copied().collect();
    widths.insert(0, shape.channels);
    let convs = widths
        .windows(2)
        .map(|w| {
            Conv2dConfig::new([w[0], w[1]], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        })
        .collect();
    let (h, w) = (halvings(shape.height, layers).unwrap_or(1), halvings(shape.width, layers).unwrap_or(1));
    DiscriminatorNet {
        convs,
        bns: widths[2..].iter().map(|&c| batch_norm(c, device)).collect(),
        head: LinearConfig::new(widths[layers] * h * w, 1).init(device),
    }
}

/// `n` standard normal latents (Box-Muller), row-major `[n, latent]`.
fn latents(n: usize, latent: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n * latent)
        .map(|_| {
            let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

/// Trains a DCGAN on `real` (NCHW pixels in [0, 1]) as the data distribution.
pub fn train_dcgan(real: &[f32], shape: ImageShape, p: &DcganParams) -> Result<(Generator, DcganReport), NnError> {
    validate(shape, p)?;
    let numel = shape.numel();
    if real.is_empty() || !real.len().is_multiple_of(numel) {
        return Err(NnError::BadInput(format!("DCGAN: {} values are not whole {shape:?} images", real.len())));
    }
    if real.iter().any(|v| !v.is_finite()) {
        return Err(NnError::BadInput("DCGAN: the real images contain NaN or infinite values".into()));
    }
    let started = std::time::Instant::now();
    let count = real.len() / numel;
    let device = Device::flex();
    let train_device = device.clone().autodiff();
    let (g, d) = {
        let _lock = SeedLock::acquire(&device, derive(p.seed, 1));
        (generator(shape, p, &device), discriminator(shape, p, &device))
    };
    let (mut g, mut d) = (g.fork(&train_device).train(), d.fork(&train_device).train());
    let adam = || AdamConfig::new().with_beta_1(p.beta1 as f32).with_epsilon(1e-8);
    let (mut g_opt, mut d_opt) = (adam().init(), adam().init());
    let mut rng = StdRng::seed_from_u64(derive(p.seed, 2));
    let tail = (p.steps / 10).max(1);
    let (mut d_tail, mut g_tail) = (0f64, 0f64);
    for step in 0..p.steps {
        // Real batch: uniform draws with replacement (the evidence sets are small).
        let mut batch = Vec::with_capacity(p.batch_size * numel);
        for _ in 0..p.batch_size {
            let i = rng.random_range(0..count);
            batch.extend(real[i * numel..(i + 1) * numel].iter().map(|v| v * 2.0 - 1.0));
        }
        let x = images_tensor(&batch, shape, &train_device);
        let z = Tensor::<1>::from_floats(latents(p.batch_size, p.latent, &mut rng).as_slice(), &train_device)
            .reshape([p.batch_size, p.latent]);
        let fake = g.forward(z, shape);
        // Discriminator: log D(x) + log(1 - D(G(z))), on a detached fake.
        let d_loss = -(log_sigmoid(d.forward(x)).mean() + log_sigmoid(-d.forward(fake.clone().detach())).mean());
        let d_value = d_loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(d_loss.backward(), &d);
        d = d_opt.step(p.lr, d, grads);
        // Generator, non-saturating: -log D(G(z)) through the updated discriminator.
        let g_loss = -log_sigmoid(d.forward(fake)).mean();
        let g_value = g_loss.clone().into_scalar::<f32>();
        if !(d_value.is_finite() && g_value.is_finite()) {
            return Err(NnError::Diverged {
                epoch: 1,
                batch: step + 1,
                loss: if d_value.is_finite() { g_value } else { d_value },
            });
        }
        let grads = GradientsParams::from_grads(g_loss.backward(), &g);
        g = g_opt.step(p.lr, g, grads);
        if step + tail >= p.steps {
            d_tail += f64::from(d_value) / tail as f64;
            g_tail += f64::from(g_value) / tail as f64;
        }
    }
    let report = DcganReport {
        steps: p.steps,
        discriminator_loss: d_tail,
        generator_loss: g_tail,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((Generator { net: g.valid(), shape, latent: p.latent }, report))
}

/// Images generated per forward pass.
const SAMPLE_BATCH: usize = 512;

impl Generator {
    /// `n` images (NCHW, [0, 1]) from seeded Gaussian latents; BatchNorm uses its running
    /// statistics, so an image depends only on its latent.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let device = Device::flex();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(n * self.shape.numel());
        let mut left = n;
        while left > 0 {
            let m = left.min(SAMPLE_BATCH);
            let z = Tensor::<1>::from_floats(latents(m, self.latent, &mut rng).as_slice(), &device)
                .reshape([m, self.latent]);
            out.extend(tensor_to_vec(self.net.forward(z, self.shape)).into_iter().map(|v| (v + 1.0) * 0.5));
            left -= m;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(c: usize, h: usize, w: usize) -> ImageShape {
        ImageShape { channels: c, height: h, width: w }
    }

    #[test]
    fn generated_images_have_the_data_shape_and_range() {
        for s in [shape(1, 8, 8), shape(1, 28, 28), shape(3, 32, 32), shape(1, 10, 6)] {
            let real = vec![0.5f32; 4 * s.numel()];
            let p = DcganParams { widths: vec![8, 4], steps: 2, batch_size: 4, latent: 6, ..Default::default() };
            let (g, report) = train_dcgan(&real, s, &p).unwrap();
            assert_eq!(report.steps, 2);
            let x = g.sample(3, 7);
            assert_eq!(x.len(), 3 * s.numel(), "{s:?}");
            assert!(x.iter().all(|v| (0.0..=1.0).contains(v)), "{s:?}");
            assert_eq!(x, g.sample(3, 7), "same seed, same images");
        }
    }

    #[test]
    fn the_generator_learns_a_simple_distribution() {
        // Real images: a bright left half and a dark right half. An untrained generator's mean
        // contrast is near zero; a trained one's approaches the data's.
        let s = shape(1, 8, 8);
        let img: Vec<f32> = (0..64).map(|i| if i % 8 < 4 { 0.9 } else { 0.1 }).collect();
        let real: Vec<f32> = (0..32).flat_map(|_| img.iter().copied()).collect();
        let contrast = |x: &[f32]| {
            let (mut l, mut r) = (0f64, 0f64);
            for (i, v) in x.iter().enumerate() {
                if i % 8 < 4 { l += f64::from(*v) } else { r += f64::from(*v) }
            }
            (l - r) / (x.len() as f64 / 2.0)
        };
        let p = DcganParams {
            widths: vec![32, 16],
            steps: 300,
            batch_size: 16,
            latent: 16,
            lr: 1e-3,
            ..Default::default()
        };
        let (untrained, _) = train_dcgan(&real, s, &DcganParams { steps: 1, ..p.clone() }).unwrap();
        let (trained, report) = train_dcgan(&real, s, &p).unwrap();
        let (before, after) = (contrast(&untrained.sample(64, 1)), contrast(&trained.sample(64, 1)));
        assert!(before.abs() < 0.3 && after > 0.5, "contrast {before:.3} -> {after:.3} ({report:?})");
    }

    #[test]
    fn bad_input_is_refused() {
        let s = shape(1, 8, 8);
        assert!(train_dcgan(&[0.5; 10], s, &DcganParams::default()).is_err());
        assert!(train_dcgan(&[f32::NAN; 64], s, &DcganParams::default()).is_err());
        let deep = DcganParams { widths: vec![8, 8, 8, 8], ..Default::default() };
        let err = train_dcgan(&[0.5; 64], s, &deep).unwrap_err();
        assert!(err.to_string().contains("stride-2"), "{err}");
    }
}
