//! Seed 003's contrastive encoder E_θ (§4.3, Eq. 7): it maps fingerprints so that the owner's and
//! its piracy models' land together and homologous models' apart, and verification compares a
//! suspect's fingerprint with the owner's by the cosine of their encodings.
//!
//! The paper says only "two parallel networks, similar to SimCLR". We read it as SimCLR's shared
//! weights (both fingerprints of a pair pass through this one network) and SimCLR's layout: an
//! MLP encoder h = f(F) followed by a projection head z = g(h) (one hidden ReLU layer). Unlike
//! SimCLR, which keeps h for downstream tasks, the similarity here is the cosine of the L2-
//! normalised z: Eq. 7 trains exactly that cosine, and verification (Algorithm 1, line 20) needs
//! nothing else. Widths, optimiser (Adam), learning rate and epochs are not given in the paper
//! and are parameters.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::relu;
use mown_nn::NnError;
use mown_nn::model::tensor_to_vec;
use mown_nn::seed::{SeedLock, derive};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::MethodError;

/// Header metadata key of the JSON [`EncoderConfig`] in [`Encoder::to_bytes`].
pub const ENCODER_META_KEY: &str = "mown-uap-encoder";

/// The network's shape, stored with its weights.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderConfig {
    /// Fingerprint length 2·n·N.
    pub input: usize,
    /// Encoder widths (ReLU after each).
    pub hidden: Vec<usize>,
    /// Projection head widths; the last is z's dimension (ReLU between, none after).
    pub projection: Vec<usize>,
}

impl EncoderConfig {
    fn validate(&self) -> Result<(), MethodError> {
        if self.input == 0 || self.projection.is_empty() || self.hidden.iter().chain(&self.projection).any(|&w| w == 0)
        {
            return Err(MethodError::BadParameter(format!("bad encoder shape {self:?}")));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderParams {
    /// Encoder widths (ours: 256, 128; the paper gives none).
    pub hidden: Vec<usize>,
    /// Projection head: one hidden layer and the output, as in SimCLR (ours: 128, 64).
    pub projection: Vec<usize>,
    /// τ of Eq. 7 (not given by seed 003; 0.1 is SupCon's recommended value, Khosla et al.).
    pub temperature: f64,
    /// Fingerprints per batch: seed 003 §5.1 uses 512 ("large, as recommended" by SimCLR).
    pub batch: usize,
    pub epochs: usize,
    /// Adam's learning rate (ours: 1e-3, Adam's usual default).
    pub lr: f64,
    /// Seeds the initial weights and every epoch's order.
    pub seed: u64,
}

impl Default for EncoderParams {
    fn default() -> Self {
        Self {
            hidden: vec![256, 128],
            projection: vec![128, 64],
            temperature: 0.1,
            batch: 512,
            epochs: 50,
            lr: 1e-3,
            seed: 0,
        }
    }
}

/// The burn module: encoder layers, then the projection head.
#[derive(Module, Debug)]
pub struct EncoderNet {
    pub encoder: Vec<Linear>,
    pub head: Vec<Linear>,
}

impl EncoderNet {
    fn new(config: &EncoderConfig, device: &Device) -> Self {
        let mut sizes = vec![config.input];
        sizes.extend_from_slice(&config.hidden);
        let encoder = sizes.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        let mut head_sizes = vec![*sizes.last().expect("input width")];
        head_sizes.extend_from_slice(&config.projection);
        let head = head_sizes.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        Self { encoder, head }
    }

    /// z for fingerprints `[b, input]` (not normalised).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for layer in &self.encoder {
            h = relu(layer.forward(h));
        }
        let last = self.head.len() - 1;
        for (i, layer) in self.head.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = relu(h);
            }
        }
        h
    }
}

/// A trained encoder on a plain (non-autodiff) CPU device.
#[derive(Debug)]
pub struct Encoder {
    pub config: EncoderConfig,
    pub net: EncoderNet,
}

/// The supervised contrastive loss of Khosla et al. (2020), seed 003 Eq. 7: with s_ij the cosine
/// of rows i and j of `z` (normalised here), A(i) all j ≠ i and P(i) those with i's label,
///
///   L = mean over anchors i with P(i) ≠ ∅ of  −1/|P(i)| Σ_{p∈P(i)} log( e^{s_ip/τ} / Σ_{a∈A(i)} e^{s_ia/τ} ).
///
/// Eq. 7 sums over anchors; the mean (Khosla et al.'s form) makes the learning rate independent
/// of the batch size and changes nothing else. Anchors without a positive have no term (Eq. 7
/// would divide by zero); with none at all the loss is 0. Exponents are shifted by −1/τ, the
/// largest possible (a row's cosine with itself), which cancels exactly and keeps e^x ≤ 1.
pub fn supcon_loss(z: Tensor<2>, labels: &[usize], tau: f64) -> Tensor<1> {
    let [b, _] = z.dims();
    let device = z.device();
    let norm = (z.clone().square().sum_dim(1) + 1e-12).sqrt();
    let zn = z / norm;
    let logits = zn.clone().matmul(zn.transpose()).sub_scalar(1.0).div_scalar(tau);
    let mut others = vec![1f32; b * b];
    let mut positives = vec![0f32; b * b];
    let mut weights = vec![0f32; b];
    for i in 0..b {
        others[i * b + i] = 0.0;
        let mut count = 0;
        for j in (0..b).filter(|&j| j != i && labels[j] == labels[i]) {
            positives[i * b + j] = 1.0;
            count += 1;
        }
        if count > 0 {
            weights[i] = 1.0 / count as f32;
        }
    }
    let anchors = weights.iter().filter(|&&w| w > 0.0).count();
    if anchors == 0 {
        return Tensor::<1>::zeros([1], &device);
    }
    weights.iter_mut().for_each(|w| *w /= anchors as f32);
    let others = Tensor::<1>::from_floats(others.as_slice(), &device).reshape([b, b]);
    let positives = Tensor::<1>::from_floats(positives.as_slice(), &device).reshape([b, b]);
    let weights = Tensor::<1>::from_floats(weights.as_slice(), &device).reshape([b, 1]);
    let log_denominator = (logits.clone().exp() * others).sum_dim(1).log();
    let log_prob = logits - log_denominator;
    ((log_prob * positives).sum_dim(1) * weights).sum().neg()
}

/// Trains an encoder on `fingerprints` (`[rows, dim]` row-major) with their SupCon `labels`
/// (seed 003: 0 for the owner and piracy models, 1 for homologous ones). The same data and
/// parameters give identical weights.
pub fn train_encoder(
    fingerprints: &[f32],
    dim: usize,
    labels: &[usize],
    params: &EncoderParams,
) -> Result<Encoder, MethodError> {
    let bad = |m: String| Err(MethodError::BadParameter(m));
    if dim == 0 || !fingerprints.len().is_multiple_of(dim) || fingerprints.len() / dim != labels.len() {
        return bad(format!("{} values are not {} fingerprints of {dim}", fingerprints.len(), labels.len()));
    }
    if fingerprints.iter().any(|v| !v.is_finite()) {
        return bad("fingerprints contain NaN or infinite values".into());
    }
    if !(params.temperature.is_finite() && params.temperature > 0.0 && params.lr.is_finite() && params.lr > 0.0) {
        return bad(format!("temperature and learning rate must be positive, got {params:?}"));
    }
    if params.batch < 2 {
        return bad("a contrastive batch needs at least 2 fingerprints".into());
    }
    let config = EncoderConfig { input: dim, hidden: params.hidden.clone(), projection: params.projection.clone() };
    config.validate()?;
    let device = Device::flex();
    let train_device = device.clone().autodiff();
    let net = {
        let _lock = SeedLock::acquire(&device, derive(params.seed, 1));
        touch(EncoderNet::new(&config, &device))
    };
    let mut net = net.fork(&train_device).train();
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let rows = labels.len();
    for epoch in 0..params.epochs {
        let mut order: Vec<usize> = (0..rows).collect();
        order.shuffle(&mut StdRng::seed_from_u64(derive(params.seed, 100 + epoch as u64)));
        for (step, chunk) in order.chunks(params.batch).enumerate() {
            let batch_labels: Vec<usize> = chunk.iter().map(|&i| labels[i]).collect();
            // A batch without any positive pair has no loss term (e.g. a trailing single row).
            if !batch_labels.iter().enumerate().any(|(a, l)| batch_labels[a + 1..].contains(l)) {
                continue;
            }
            let x: Vec<f32> =
                chunk.iter().flat_map(|&i| fingerprints[i * dim..(i + 1) * dim].iter().copied()).collect();
            let x = Tensor::<1>::from_floats(x.as_slice(), &train_device).reshape([chunk.len(), dim]);
            let loss = supcon_loss(net.forward(x), &batch_labels, params.temperature);
            let value = loss.clone().into_scalar::<f32>();
            if !value.is_finite() {
                return Err(NnError::Diverged { epoch: epoch + 1, batch: step + 1, loss: value }.into());
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(params.lr, net, grads);
        }
    }
    Ok(Encoder { config, net: net.valid() })
}

/// Materialises burn's lazily initialised parameters now, while the seeded RNG is held.
fn touch(net: EncoderNet) -> EncoderNet {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    net.visit(&mut Touch);
    net
}

/// Rows of fingerprints encoded per forward pass.
const ENCODE_BATCH: usize = 1024;

impl Encoder {
    /// The L2-normalised projections z / ||z|| of `fingerprints` (`[rows, input]`), row-major
    /// `[rows, z dim]`: the cosine of two fingerprints is the dot product of their rows.
    pub fn encode(&self, fingerprints: &[f32]) -> Result<Vec<f32>, MethodError> {
        let dim = self.config.input;
        if !fingerprints.len().is_multiple_of(dim) {
            return Err(MethodError::Mismatch(format!(
                "{} values are not fingerprints of length {dim}",
                fingerprints.len()
            )));
        }
        let device = Device::flex();
        let out_dim = *self.config.projection.last().expect("validated");
        let mut out = Vec::with_capacity(fingerprints.len() / dim * out_dim);
        for chunk in fingerprints.chunks(ENCODE_BATCH * dim) {
            let x = Tensor::<1>::from_floats(chunk, &device).reshape([chunk.len() / dim, dim]);
            let mut z = tensor_to_vec(self.net.forward(x));
            for row in z.chunks_mut(out_dim) {
                let norm = super::l2_norm(row).max(1e-12) as f32;
                row.iter_mut().for_each(|v| *v /= norm);
            }
            out.extend(z);
        }
        Ok(out)
    }

    /// The cosine similarity of two fingerprints (seed 003 Algorithm 1, line 20).
    pub fn similarity(&self, a: &[f32], b: &[f32]) -> Result<f32, MethodError> {
        let (za, zb) = (self.encode(a)?, self.encode(b)?);
        if za.len() != zb.len() || za.len() != self.config.projection[self.config.projection.len() - 1] {
            return Err(MethodError::Mismatch("similarity compares exactly one fingerprint with one".into()));
        }
        Ok(za.iter().zip(&zb).map(|(x, y)| x * y).sum())
    }

    /// The weights as safetensors, with the config as JSON under [`ENCODER_META_KEY`]
    /// (`mown_nn::module_bytes`: the same weights always give the same bytes to hash).
    pub fn to_bytes(&self) -> Result<Vec<u8>, MethodError> {
        Ok(mown_nn::module_bytes::to_bytes(&self.net, ENCODER_META_KEY, &self.config, "uap encoder")?)
    }

    /// Reads [`Encoder::to_bytes`]'s output, checking every tensor against the stored shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Encoder, MethodError> {
        let (config, net) = mown_nn::module_bytes::from_bytes(
            bytes,
            ENCODER_META_KEY,
            "uap encoder",
            |config: &EncoderConfig, device| {
                config
                    .validate()
                    .map_err(|e| NnError::CorruptModel { path: "<uap encoder>".into(), reason: e.to_string() })?;
                Ok(EncoderNet::new(config, device))
            },
        )?;
        Ok(Encoder { config, net })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supcon_matches_a_hand_computed_value() {
        // z1 = (1,0), z2 = (2,2) (cosine 1/√2 with z1; its norm must not matter), z3 = (0,1),
        // z4 = (−1,0); labels 0,0,1,1; τ = 0.5, so s/τ = 2·cosine:
        //   s12 = √2 = 1.414214, s13 = 0, s14 = −2, s23 = √2, s24 = −√2, s34 = 0.
        // Anchor 1 (positive 2): ln(e^√2 + e^0 + e^−2) − √2 = ln 5.248586 − 1.414214 = 0.243745
        // Anchor 2 (positive 1): ln(2e^√2 + e^−√2) − √2 = ln 8.469617 − 1.414214 = 0.722272
        // Anchor 3 (positive 4): ln(e^0 + e^√2 + e^0) − 0 = ln 6.113250 = 1.810459
        // Anchor 4 (positive 3): ln(e^−2 + e^−√2 + e^0) − 0 = ln 1.378452 = 0.320961
        // Mean: (0.243745 + 0.722272 + 1.810459 + 0.320961) / 4 = 0.774359.
        let device = Device::flex();
        let z = Tensor::<1>::from_floats([1.0, 0.0, 2.0, 2.0, 0.0, 1.0, -1.0, 0.0], &device).reshape([4, 2]);
        let loss = supcon_loss(z.clone(), &[0, 0, 1, 1], 0.5).into_scalar::<f32>();
        assert!((loss - 0.774359).abs() < 1e-5, "SupCon {loss}");
        // A fifth row with a label of its own is no anchor but still a negative for the others.
        let z5 =
            Tensor::<1>::from_floats([1.0, 0.0, 2.0, 2.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0], &device).reshape([5, 2]);
        let with_singleton = supcon_loss(z5, &[0, 0, 1, 1, 2], 0.5).into_scalar::<f32>();
        assert!(with_singleton > loss);
        assert_eq!(supcon_loss(z, &[0, 1, 2, 3], 0.5).into_scalar::<f32>(), 0.0);
    }

    /// Two groups of 40 noisy fingerprints around different random centres.
    fn two_groups(dim: usize) -> (Vec<f32>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(9);
        use rand::RngExt;
        let centres: Vec<Vec<f32>> = (0..2).map(|_| (0..dim).map(|_| rng.random::<f32>()).collect()).collect();
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for r in 0..80 {
            let g = r % 2;
            x.extend(centres[g].iter().map(|c| c + 0.6 * (rng.random::<f32>() - 0.5)));
            labels.push(g);
        }
        (x, labels)
    }

    #[test]
    fn encoder_pulls_groups_together_and_reproduces_its_bytes() {
        let dim = 24;
        let (x, labels) = two_groups(dim);
        let params = EncoderParams {
            hidden: vec![32],
            projection: vec![16, 8],
            epochs: 30,
            seed: 4,
            ..EncoderParams::default()
        };
        let encoder = train_encoder(&x, dim, &labels, &params).unwrap();
        let z = encoder.encode(&x).unwrap();
        let (mut within, mut across, mut nw, mut na) = (0.0, 0.0, 0, 0);
        for i in 0..80 {
            for j in (i + 1)..80 {
                let c: f32 = z[i * 8..(i + 1) * 8].iter().zip(&z[j * 8..(j + 1) * 8]).map(|(a, b)| a * b).sum();
                if labels[i] == labels[j] {
                    (within, nw) = (within + c, nw + 1);
                } else {
                    (across, na) = (across + c, na + 1);
                }
            }
        }
        let (within, across) = (within / nw as f32, across / na as f32);
        eprintln!("encoder: mean cosine within {within:.3}, across {across:.3}");
        assert!(within > 0.9 && across < 0.0, "within {within}, across {across}");
        assert!((encoder.similarity(&x[..dim], &x[2 * dim..3 * dim]).unwrap() - within).abs() < 0.1);

        let bytes = encoder.to_bytes().unwrap();
        let loaded = Encoder::from_bytes(&bytes).unwrap();
        assert_eq!(loaded.config, encoder.config);
        assert_eq!(loaded.encode(&x).unwrap(), z);
        assert_eq!(loaded.to_bytes().unwrap(), bytes);
        assert_eq!(train_encoder(&x, dim, &labels, &params).unwrap().to_bytes().unwrap(), bytes);
        let other = train_encoder(&x, dim, &labels, &EncoderParams { seed: 5, ..params }).unwrap();
        assert_ne!(other.to_bytes().unwrap(), bytes);
        assert!(Encoder::from_bytes(b"not safetensors").is_err());
    }
}
