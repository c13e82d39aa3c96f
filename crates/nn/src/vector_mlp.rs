//! A small MLP classifier on feature vectors rather than images: seed 001's ownership
//! meta-classifier ("Defending against Model Stealing via Verifying Embedded External Features",
//! §2.3, Eq. 5) on gradient-sign vectors.
//!
//! The paper gives neither the classifier nor its training; we follow the official code
//! (`train_clf.py`): each row L2-normalised, then standardised per feature with statistics of the
//! training split; an MLP with ReLU between layers and a softmax output; SGD with momentum 0.9,
//! weight decay 5e-4, batches of 8; a seeded 80/20 train/validation split and the weights of the
//! epoch with the best validation accuracy kept. Unlike that code, the normaliser is stored with
//! the weights and applied to every row the classifier later scores (the official verification
//! script feeds raw vectors to a classifier trained on normalised ones).

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::NnError;
use crate::model::tensor_to_vec;
use crate::seed::{SeedLock, derive};

/// Header metadata key of the JSON [`VectorMlpConfig`] in [`VectorMlp::to_bytes`].
pub const VECTOR_MLP_META_KEY: &str = "mown-vector-mlp";

/// Shape and input normalisation, stored with the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorMlpConfig {
    pub input: usize,
    /// Hidden widths (ReLU after each).
    pub hidden: Vec<usize>,
    pub classes: usize,
    /// Per-feature mean and scale of the (L2-normalised, with `row_norm`) training rows: a row
    /// is used as (x / ||x|| - mean) / scale, or (x - mean) / scale.
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    /// Whether rows are L2-normalised first (the official meta-classifier's `Normalizer`);
    /// features whose magnitude is the signal (distances) keep it.
    #[serde(default = "yes")]
    pub row_norm: bool,
}

fn yes() -> bool {
    true
}

impl VectorMlpConfig {
    fn validate(&self) -> Result<(), NnError> {
        let ok = self.input > 0
            && self.classes >= 2
            && self.hidden.iter().all(|&w| w > 0)
            && self.mean.len() == self.input
            && self.scale.len() == self.input
            && self.mean.iter().chain(&self.scale).all(|v| v.is_finite())
            && self.scale.iter().all(|&s| s > 0.0);
        if ok { Ok(()) } else { Err(corrupt(format!("bad classifier shape or normaliser (input {})", self.input))) }
    }

    /// The normalised copy of `rows` (`[n, input]`).
    fn normalise(&self, rows: &[f32]) -> Vec<f32> {
        let mut out = rows.to_vec();
        for row in out.chunks_mut(self.input) {
            let norm = if self.row_norm { row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12) } else { 1.0 };
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v / norm - m) / s;
            }
        }
        out
    }
}

/// How the classifier is trained (defaults: the official code's, except the widths).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorMlpParams {
    /// Hidden widths; empty: the official code's input/8 and input/16, each capped at 256 and
    /// 128 (uncapped, a 20,000-wide sign vector would need 50M weights in the first layer).
    pub hidden: Vec<usize>,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub batch: usize,
    pub epochs: usize,
    /// Share of the rows held out to pick the best epoch (official code: 0.2).
    pub validation: f64,
    pub seed: u64,
    /// L2-normalise each row before standardising (see [`VectorMlpConfig::row_norm`]).
    #[serde(default = "yes")]
    pub row_norm: bool,
}

impl Default for VectorMlpParams {
    fn default() -> Self {
        VectorMlpParams {
            hidden: Vec::new(),
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 5e-4,
            batch: 8,
            epochs: 100,
            validation: 0.2,
            seed: 0,
            row_norm: true,
        }
    }
}

impl VectorMlpParams {
    /// The widths for `input` features.
    pub fn widths(&self, input: usize) -> Vec<usize> {
        if self.hidden.is_empty() {
            vec![(input / 8).clamp(2, 256), (input / 16).clamp(2, 128)]
        } else {
            self.hidden.clone()
        }
    }
}

#[derive(Module, Debug)]
pub struct VectorMlpNet {
    pub layers: Vec<Linear>,
}

impl VectorMlpNet {
    fn new(config: &VectorMlpConfig, device: &Device) -> Self {
        let mut sizes = vec![config.input];
        sizes.extend_from_slice(&config.hidden);
        sizes.push(config.classes);
        Self { layers: sizes.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect() }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = relu(h);
            }
        }
        h
    }
}

/// A trained classifier on the plain CPU device.
#[derive(Debug)]
pub struct VectorMlp {
    pub config: VectorMlpConfig,
    pub net: VectorMlpNet,
}

/// What training reached.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VectorMlpReport {
    pub train_rows: usize,
    pub validation_rows: usize,
    /// Accuracy of the kept weights on the validation rows (on the training rows when there are
    /// none), and the epoch they come from (1-based).
    pub validation_accuracy: f64,
    pub best_epoch: usize,
    pub seconds: f64,
}

/// Trains a classifier on `rows` (`[n, dim]` row-major) with `labels` in `0..classes`. The same
/// data and parameters give identical weights.
pub fn train_vector_mlp(
    rows: &[f32],
    dim: usize,
    labels: &[usize],
    classes: usize,
    p: &VectorMlpParams,
) -> Result<(VectorMlp, VectorMlpReport), NnError> {
    let started = std::time::Instant::now();
    let bad = |m: String| Err(NnError::BadInput(m));
    if dim == 0 || !rows.len().is_multiple_of(dim) || rows.len() / dim != labels.len() || labels.len() < 2 {
        return bad(format!("{} values are not {} rows of {dim} (at least 2 rows)", rows.len(), labels.len()));
    }
    if rows.iter().any(|v| !v.is_finite()) {
        return bad("feature rows contain NaN or infinite values".into());
    }
    if let Some(l) = labels.iter().find(|&&l| l >= classes) {
        return bad(format!("label {l} with {classes} classes"));
    }
    if !(p.lr > 0.0 && p.lr.is_finite() && (0.0..1.0).contains(&p.validation) && p.batch > 0 && p.epochs > 0) {
        return bad(format!("bad classifier training parameters {p:?}"));
    }
    let n = labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(derive(p.seed, 1)));
    let n_val = ((p.validation * n as f64).round() as usize).min(n - 1);
    let (val_idx, train_idx) = order.split_at(n_val);
    let gather =
        |idx: &[usize]| -> Vec<f32> { idx.iter().flat_map(|&i| rows[i * dim..(i + 1) * dim].to_vec()).collect() };
    // The normaliser from the training rows only.
    let mut config = VectorMlpConfig {
        input: dim,
        hidden: p.widths(dim),
        classes,
        mean: vec![0.0; dim],
        scale: vec![1.0; dim],
        row_norm: p.row_norm,
    };
    let unit = config.normalise(&gather(train_idx));
    let mut sum = vec![0.0f64; dim];
    let mut sq = vec![0.0f64; dim];
    for row in unit.chunks(dim) {
        for (j, &v) in row.iter().enumerate() {
            sum[j] += v as f64;
            sq[j] += (v as f64) * (v as f64);
        }
    }
    let t = train_idx.len() as f64;
    for j in 0..dim {
        let mean = sum[j] / t;
        let var = (sq[j] / t - mean * mean).max(0.0);
        config.mean[j] = mean as f32;
        // A constant feature carries nothing: scale 1 leaves it at 0.
        config.scale[j] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
    }
    config.validate()?;
    let device = Device::flex();
    let train_device = device.clone().autodiff();
    let net = {
        let _lock = SeedLock::acquire(&device, derive(p.seed, 2));
        touch(VectorMlpNet::new(&config, &device))
    };
    let x_train = config.normalise(&gather(train_idx));
    let y_train: Vec<usize> = train_idx.iter().map(|&i| labels[i]).collect();
    let (x_val, y_val) = if val_idx.is_empty() {
        (x_train.clone(), y_train.clone())
    } else {
        (config.normalise(&gather(val_idx)), val_idx.iter().map(|&i| labels[i]).collect())
    };
    let mut net = net.fork(&train_device).train();
    let mut optim = SgdConfig::new()
        .with_momentum((p.momentum > 0.0).then_some(MomentumConfig {
            momentum: p.momentum,
            dampening: 0.0,
            nesterov: false,
        }))
        .with_weight_decay((p.weight_decay > 0.0).then(|| WeightDecayConfig::new(p.weight_decay as f32)))
        .init();
    let mut best: Option<(f64, usize, VectorMlpNet)> = None;
    let rows_train = y_train.len();
    for epoch in 0..p.epochs {
        let mut perm: Vec<usize> = (0..rows_train).collect();
        perm.shuffle(&mut StdRng::seed_from_u64(derive(p.seed, 100 + epoch as u64)));
        for (step, chunk) in perm.chunks(p.batch).enumerate() {
            let x: Vec<f32> = chunk.iter().flat_map(|&i| x_train[i * dim..(i + 1) * dim].iter().copied()).collect();
            let y: Vec<usize> = chunk.iter().map(|&i| y_train[i]).collect();
            let x = Tensor::<1>::from_floats(x.as_slice(), &train_device).reshape([chunk.len(), dim]);
            let loss = crate::loss::cross_entropy(net.forward(x), &y);
            let value = loss.clone().into_scalar::<f32>();
            if !value.is_finite() {
                return Err(NnError::Diverged { epoch: epoch + 1, batch: step + 1, loss: value });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(p.lr, net, grads);
        }
        let valid = net.valid();
        let acc = accuracy(&valid, &x_val, &y_val, dim, classes);
        if best.as_ref().is_none_or(|(b, _, _)| acc > *b) {
            best = Some((acc, epoch + 1, valid));
        }
    }
    let (validation_accuracy, best_epoch, net) = best.expect("at least one epoch");
    let report = VectorMlpReport {
        train_rows: rows_train,
        validation_rows: val_idx.len(),
        validation_accuracy,
        best_epoch,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((VectorMlp { config, net }, report))
}

fn accuracy(net: &VectorMlpNet, x: &[f32], y: &[usize], dim: usize, classes: usize) -> f64 {
    let probs = forward_probs(net, x, dim);
    let predicted = crate::model::argmax_rows(&probs, classes);
    predicted.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len().max(1) as f64
}

/// Rows scored per forward pass.
const SCORE_BATCH: usize = 1024;

fn forward_probs(net: &VectorMlpNet, x: &[f32], dim: usize) -> Vec<f32> {
    let device = Device::flex();
    let mut out = Vec::new();
    for chunk in x.chunks(SCORE_BATCH * dim) {
        let t = Tensor::<1>::from_floats(chunk, &device).reshape([chunk.len() / dim, dim]);
        out.extend(tensor_to_vec(softmax(net.forward(t), 1)));
    }
    out
}

/// Materialises burn's lazily initialised parameters now, while the seeded RNG is held.
fn touch(net: VectorMlpNet) -> VectorMlpNet {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    net.visit(&mut Touch);
    net
}

impl VectorMlp {
    /// Class probabilities `[n, classes]` of raw (unnormalised) rows `[n, input]`.
    pub fn probabilities(&self, rows: &[f32]) -> Result<Vec<f32>, NnError> {
        let dim = self.config.input;
        if rows.is_empty() || !rows.len().is_multiple_of(dim) {
            return Err(NnError::BadInput(format!("{} values are not rows of {dim} features", rows.len())));
        }
        if rows.iter().any(|v| !v.is_finite()) {
            return Err(NnError::BadInput("feature rows contain NaN or infinite values".into()));
        }
        Ok(forward_probs(&self.net, &self.config.normalise(rows), dim))
    }

    /// The weights as safetensors with the config (normaliser included) as JSON under
    /// [`VECTOR_MLP_META_KEY`] (`module_bytes`: equal weights give equal bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>, NnError> {
        crate::module_bytes::to_bytes(&self.net, VECTOR_MLP_META_KEY, &self.config, "vector classifier")
    }

    /// Reads [`VectorMlp::to_bytes`]'s output, checking every tensor against the stored shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<VectorMlp, NnError> {
        let (config, net) = crate::module_bytes::from_bytes(
            bytes,
            VECTOR_MLP_META_KEY,
            "vector classifier",
            |config: &VectorMlpConfig, device| {
                config.validate()?;
                Ok(VectorMlpNet::new(config, device))
            },
        )?;
        Ok(VectorMlp { config, net })
    }
}

fn corrupt(reason: String) -> NnError {
    NnError::CorruptModel { path: "<vector classifier>".into(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes told apart by the sign pattern of a few features among noise, as gradient
    /// signs of two models differ: the classifier must find them and generalise to new rows.
    fn synthetic(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
        use rand::RngExt;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut rows = Vec::with_capacity(n * dim);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class = i % 2;
            for j in 0..dim {
                let informative = j < 4 && rng.random::<f32>() < 0.9;
                let v = if informative {
                    if class == 1 { 1.0 } else { -1.0 }
                } else if rng.random::<bool>() {
                    1.0
                } else {
                    -1.0
                };
                rows.push(v);
            }
            labels.push(class);
        }
        (rows, labels)
    }

    #[test]
    fn separates_a_synthetic_case_and_round_trips() {
        let dim = 64;
        let (rows, labels) = synthetic(200, dim, 1);
        let p = VectorMlpParams { epochs: 20, ..VectorMlpParams::default() };
        let (mlp, report) = train_vector_mlp(&rows, dim, &labels, 2, &p).unwrap();
        assert!(report.validation_accuracy > 0.85, "{report:?}");
        let (test, test_labels) = synthetic(100, dim, 2);
        let probs = mlp.probabilities(&test).unwrap();
        let acc = crate::model::argmax_rows(&probs, 2).iter().zip(&test_labels).filter(|(a, b)| a == b).count();
        assert!(acc >= 85, "{acc} of 100 new rows");
        // Stored and read back, it scores the same; the same seed trains the same bytes.
        let bytes = mlp.to_bytes().unwrap();
        assert_eq!(VectorMlp::from_bytes(&bytes).unwrap().probabilities(&test).unwrap(), probs);
        assert_eq!(train_vector_mlp(&rows, dim, &labels, 2, &p).unwrap().0.to_bytes().unwrap(), bytes);
        // Bad input is an error.
        assert!(mlp.probabilities(&test[..dim - 1]).is_err());
        assert!(mlp.probabilities(&vec![f32::NAN; dim]).is_err());
        assert!(VectorMlp::from_bytes(&bytes[..bytes.len() / 2]).is_err());
        assert!(train_vector_mlp(&rows, dim, &vec![3; 200], 2, &p).is_err());
    }
}
