//! `Model`: a network plus the metadata that travels with it (architecture, normalisation, class
//! names, provenance), and the batched inference every other part of mown uses.

use burn::prelude::*;
use mown_data::{Dataset, ImageShape, Normalization};
use serde::{Deserialize, Serialize};

use crate::NnError;
use crate::arch::{Arch, ModelSpec};
use crate::models::{GraphDef, InferenceNet, Network};
use crate::seed::SeedLock;

/// Images per forward pass in batched inference; bounds memory for large evaluation sets.
pub const INFERENCE_BATCH: usize = 256;

/// Where a model came from. `derivation` is its ModelDiff-style name, e.g.
/// `train(resnet20,fashion-mnist,seed=1)-prune(w,0.5)`, which later serves as its cache key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub derivation: String,
    pub dataset: String,
    pub seed: u64,
    pub epochs: usize,
    pub test_accuracy: Option<f64>,
    /// Free-form details (the training configuration, attack parameters, ...).
    #[serde(default)]
    pub details: serde_json::Value,
}

/// Everything in a model file besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format_version: u32,
    pub spec: ModelSpec,
    pub normalization: Normalization,
    pub class_names: Vec<String>,
    pub provenance: Provenance,
    /// SHA-256 over the weight tensors (names, shapes and bytes); set when saved or loaded.
    #[serde(default)]
    pub weights_sha256: String,
    /// The mown version that wrote the file.
    #[serde(default)]
    pub producer: String,
    /// The network of an imported model (`Arch::Imported`); `None` for mown's architectures.
    /// Covered by `weights_sha256` (see `crate::io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphDef>,
}

pub const FORMAT_VERSION: u32 = 1;

impl ModelMeta {
    pub fn new(spec: ModelSpec, normalization: Normalization, class_names: Vec<String>) -> Result<Self, NnError> {
        Self::with_graph(spec, normalization, class_names, None)
    }

    /// Metadata of an imported model (`spec.arch` must be `Arch::Imported`) or, with `None`, of
    /// one of mown's architectures.
    pub fn with_graph(
        spec: ModelSpec,
        normalization: Normalization,
        class_names: Vec<String>,
        graph: Option<GraphDef>,
    ) -> Result<Self, NnError> {
        let meta = Self {
            format_version: FORMAT_VERSION,
            spec,
            normalization,
            class_names,
            provenance: Provenance::default(),
            weights_sha256: String::new(),
            producer: concat!("mown ", env!("CARGO_PKG_VERSION")).to_string(),
            graph,
        };
        meta.validate()?;
        Ok(meta)
    }

    /// The checks of [`ModelMeta::new`], run again on metadata read from a file: the header is not
    /// covered by the weights hash, so an edited one must fail here, not as a panic in a reshape.
    pub fn validate(&self) -> Result<(), NnError> {
        let (spec, normalization) = (&self.spec, &self.normalization);
        spec.validate()?;
        if normalization.mean.len() != spec.input.channels || normalization.std.len() != spec.input.channels {
            return Err(NnError::BadSpec(format!(
                "normalisation has {} means / {} stds for {} channels",
                normalization.mean.len(),
                normalization.std.len(),
                spec.input.channels
            )));
        }
        normalization.validate()?;
        match (&self.graph, spec.arch) {
            (Some(graph), Arch::Imported) => {
                let s = spec.input;
                let classes = graph.validate([s.channels, s.height, s.width]).map_err(NnError::BadSpec)?;
                if classes != spec.num_classes {
                    return Err(NnError::BadSpec(format!(
                        "the graph gives {classes} logits, the metadata says {} classes",
                        spec.num_classes
                    )));
                }
            }
            (None, Arch::Imported) => return Err(NnError::BadSpec("an imported model without its graph".into())),
            (Some(_), arch) => return Err(NnError::BadSpec(format!("a graph in the metadata of a {arch} model"))),
            (None, _) => {}
        }
        if self.class_names.len() != spec.num_classes {
            return Err(NnError::BadSpec(format!(
                "{} class names for {} classes",
                self.class_names.len(),
                spec.num_classes
            )));
        }
        Ok(())
    }

    /// Metadata for a model of `spec` trained on `data`, normalised with its channel statistics.
    pub fn for_dataset(spec: ModelSpec, data: &Dataset) -> Result<Self, NnError> {
        check_dataset_shape(data, spec.input)?;
        Self::new(spec, data.channel_stats(), data.class_names.clone())
    }
}

/// A network with its metadata.
#[derive(Clone, Debug)]
pub struct Model {
    pub meta: ModelMeta,
    pub net: Network,
}

impl Model {
    /// A freshly initialised model; the same seed gives the same weights. An imported model's
    /// graph is re-initialised with PyTorch's default initialisation.
    ///
    /// # Panics
    /// On metadata that does not validate (an imported architecture without a graph).
    pub fn init(meta: ModelMeta, device: &Device, seed: u64) -> Model {
        let _lock = SeedLock::acquire(device, seed);
        let net = Network::from_meta(&meta, device).expect("validated metadata builds its network");
        // Materialise lazily initialised parameters while the seeded RNG is held.
        let net = force_init(net);
        Model { meta, net }
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.meta.spec
    }

    pub fn input_shape(&self) -> ImageShape {
        self.meta.spec.input
    }

    pub fn num_classes(&self) -> usize {
        self.meta.spec.num_classes
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.net.devices().first().cloned().unwrap_or_else(Device::flex)
    }

    /// Logits for pixel-space images `[n, c, h, w]` in [0, 1]. Differentiable (training, input
    /// gradients) when the tensors are on an autodiff device.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.net.forward(self.normalize(images))
    }

    /// Applies the per-channel normalisation recorded in the metadata.
    pub fn normalize(&self, images: Tensor<4>) -> Tensor<4> {
        let device = images.device();
        let c = self.meta.spec.input.channels;
        let mean = Tensor::<1>::from_floats(self.meta.normalization.mean.as_slice(), &device).reshape([1, c, 1, 1]);
        let inv_std: Vec<f32> = self.meta.normalization.std.iter().map(|s| 1.0 / s).collect();
        let inv_std = Tensor::<1>::from_floats(inv_std.as_slice(), &device).reshape([1, c, 1, 1]);
        (images - mean) * inv_std
    }

    /// This model in evaluation mode on a plain (non-autodiff) device: BatchNorm uses running
    /// statistics, dropout is off, no graph is recorded.
    pub fn valid(&self) -> Model {
        Model { meta: self.meta.clone(), net: self.net.valid() }
    }

    /// The evaluation-mode network with BatchNorm folded into its convolutions
    /// (`models::folded`): what inference and input gradients run. Run it on normalised images,
    /// or through [`Model::forward_inference`].
    pub fn inference_net(&self) -> InferenceNet {
        InferenceNet::fold(self.net.valid())
    }

    /// Logits of pixel-space `images` through a network from [`Model::inference_net`].
    pub fn forward_inference(&self, net: &InferenceNet, images: Tensor<4>) -> Tensor<2> {
        net.forward(self.normalize(images))
    }

    /// Checks that a flat buffer holds whole images of this model's shape and no NaN/inf.
    pub fn check_images(&self, images: &[f32]) -> Result<usize, NnError> {
        check_images(images, self.input_shape())
    }

    /// Logits (row-major `[n, classes]`) for pixel-space images, in evaluation mode.
    pub fn logits(&self, images: &[f32]) -> Result<Vec<f32>, NnError> {
        let n = self.check_images(images)?;
        let device = self.device();
        let net = self.inference_net();
        let numel = self.input_shape().numel();
        // Batches of at most INFERENCE_BATCH images, GRADIENT_BLOCKS of them at a time on
        // burn's thread pool (so memory stays bounded by GRADIENT_BLOCKS batches whatever the
        // core count): as for input gradients, one batch at a time leaves a core idle in
        // burn-flex's single-threaded parts. Rows do not interact in evaluation mode, so the
        // logits match a single batch (byte-identical in our measurements).
        use rayon::prelude::*;
        let blocks = crate::gradient::GRADIENT_BLOCKS;
        let size = n.div_ceil(blocks).clamp(1, INFERENCE_BATCH);
        let mut out = Vec::with_capacity(n * self.num_classes());
        for group in block_ranges(n, size).chunks(blocks) {
            let logits: Vec<Vec<f32>> = group
                .par_iter()
                .map(|rows| {
                    let x = images_tensor(&images[rows.start * numel..rows.end * numel], self.input_shape(), &device);
                    tensor_to_vec(self.forward_inference(&net, x))
                })
                .collect();
            out.extend(logits.into_iter().flatten());
        }
        let bad = out.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(NnError::NonFiniteOutput { count: bad, total: out.len() });
        }
        Ok(out)
    }

    /// Softmax probabilities, row-major `[n, classes]`.
    pub fn probabilities(&self, images: &[f32]) -> Result<Vec<f32>, NnError> {
        let mut logits = self.logits(images)?;
        softmax_rows(&mut logits, self.num_classes());
        Ok(logits)
    }

    /// Predicted labels.
    pub fn predict(&self, images: &[f32]) -> Result<Vec<usize>, NnError> {
        Ok(argmax_rows(&self.logits(images)?, self.num_classes()))
    }

    /// Top-1 accuracy on a labelled dataset.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64, NnError> {
        check_dataset_shape(data, self.input_shape())?;
        if data.is_empty() {
            return Err(NnError::BadInput(format!("dataset {} is empty", data.name)));
        }
        let predicted = self.predict(data.images())?;
        let correct = predicted.iter().zip(data.labels()).filter(|(p, l)| p == l).count();
        Ok(correct as f64 / data.len() as f64)
    }

    /// Fraction of images on which two models predict the same label (fidelity).
    pub fn agreement(&self, other: &Model, images: &[f32]) -> Result<f64, NnError> {
        let a = self.predict(images)?;
        let b = other.predict(images)?;
        if a.is_empty() {
            return Err(NnError::BadInput("agreement over zero images".into()));
        }
        Ok(a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64)
    }

    /// Total number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.net.num_params()
    }
}

/// Forces every lazily-initialised parameter to take its value now (burn initialises on first
/// use), so that initialisation happens under the caller's seed.
fn force_init(net: Network) -> Network {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    net.visit(&mut Touch);
    net
}

/// Rejects a dataset whose images are not the shape a model takes.
pub fn check_dataset_shape(data: &Dataset, shape: ImageShape) -> Result<(), NnError> {
    if data.shape != shape {
        return Err(NnError::BadInput(format!(
            "dataset {} has images {:?}, the model expects {:?}",
            data.name, data.shape, shape
        )));
    }
    Ok(())
}

pub fn check_images(images: &[f32], shape: ImageShape) -> Result<usize, NnError> {
    let numel = shape.numel();
    if numel == 0 || !images.len().is_multiple_of(numel) {
        return Err(NnError::BadInput(format!(
            "{} values is not a whole number of {}x{}x{} images",
            images.len(),
            shape.channels,
            shape.height,
            shape.width
        )));
    }
    let bad = images.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        return Err(NnError::NonFinite { count: bad, total: images.len() });
    }
    Ok(images.len() / numel)
}

/// Consecutive row ranges of at most `size` (>= 1) rows covering `0..n`, in order.
pub(crate) fn block_ranges(n: usize, size: usize) -> Vec<std::ops::Range<usize>> {
    let size = size.max(1);
    (0..n).step_by(size).map(|start| start..(start + size).min(n)).collect()
}

/// A `[n, c, h, w]` tensor from a flat NCHW buffer.
pub fn images_tensor(images: &[f32], shape: ImageShape, device: &Device) -> Tensor<4> {
    let n = images.len() / shape.numel().max(1);
    Tensor::<1>::from_floats(images, device).reshape([n, shape.channels, shape.height, shape.width])
}

/// Labels as an integer tensor.
pub fn labels_tensor(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [labels.len()]), device)
}

/// Copies any float tensor into a flat `Vec<f32>`.
pub fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

pub fn softmax_rows(values: &mut [f32], classes: usize) {
    for row in values.chunks_mut(classes) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
}

pub fn argmax_rows(values: &[f32], classes: usize) -> Vec<usize> {
    values
        .chunks(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best })
                .0
        })
        .collect()
}
