//! Query-based model extraction (Tramèr et al. 2016; as used by seeds 001, 003, 004): label a
//! query set through the victim's prediction interface and train a student on the answers.
//!
//! The victim is a `&mut dyn QueryModel`: this module cannot see weights, only answers, and every
//! image it asks about is counted against the victim's budget.

use mown_access::{AccessLevel, QueryModel};
use mown_data::{Dataset, ImageShape};
use mown_nn::burn::prelude::*;
use mown_nn::train::{Objective, train_with};
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::AttackError;

/// Images per query request (a real API takes batches; the budget counts images, not requests).
pub const QUERY_BATCH: usize = 256;

#[derive(Clone, Debug)]
pub struct ExtractConfig {
    pub student: Arch,
    pub level: AccessLevel,
    /// At most this many images are sent to the victim.
    pub budget: usize,
    pub train: TrainConfig,
    /// Where the student trains.
    pub device: Device,
}

/// The stolen copy and what it cost.
pub struct Extracted {
    pub model: Model,
    pub queries_used: usize,
}

/// Cross-entropy against per-example soft targets (the victim's answers), looked up by index.
struct SoftTargets {
    targets: Vec<f32>,
    classes: usize,
}

impl Objective for SoftTargets {
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        mown_nn::loss::cross_entropy(model.forward(images), labels)
    }

    fn loss_indexed(&mut self, model: &Model, images: Tensor<4>, _labels: &[usize], indices: &[usize]) -> Tensor<1> {
        let device = images.device();
        let k = self.classes;
        let rows: Vec<f32> = indices.iter().flat_map(|&i| self.targets[i * k..(i + 1) * k].iter().copied()).collect();
        let targets = Tensor::<1>::from_floats(rows.as_slice(), &device).reshape([indices.len(), k]);
        mown_nn::loss::soft_cross_entropy(model.forward(images), targets)
    }
}

/// Steals a copy of `victim` by querying it on (up to `cfg.budget` of) `queries` — whose own
/// labels are ignored — and training a fresh `cfg.student` on the answers.
pub fn extract(victim: &mut dyn QueryModel, queries: &Dataset, cfg: &ExtractConfig) -> Result<Extracted, AttackError> {
    let shape = victim.input_shape();
    if queries.shape != shape {
        return Err(AttackError::BadParameter(format!(
            "query images are {:?} but the victim takes {:?}; resize them first",
            queries.shape, shape
        )));
    }
    let classes = victim.num_classes();
    let limit = victim.queries_left().map_or(cfg.budget, |left| left.min(cfg.budget));
    let n = limit.min(queries.len());
    if n == 0 {
        return Err(AttackError::BadParameter(format!(
            "nothing to query: budget {}, {} query images, {:?} queries left",
            cfg.budget,
            queries.len(),
            victim.queries_left()
        )));
    }
    if cfg.budget > queries.len() {
        // The chain's name carries the budget asked for; say when the data could not supply it.
        tracing::warn!(
            budget = cfg.budget,
            available = queries.len(),
            source = %queries.name,
            "extraction budget exceeds the query images: only {n} queries are sent"
        );
    }
    let order = queries.shuffled_indices(cfg.train.seed);
    let chosen = queries.subset(&order[..n], "/queries")?;
    let numel = shape.numel();
    let mut targets = Vec::with_capacity(n * classes);
    for start in (0..n).step_by(QUERY_BATCH) {
        let end = (start + QUERY_BATCH).min(n);
        let answer = victim.query(&chosen.images()[start * numel..end * numel], cfg.level)?;
        targets.extend(answer.soft_labels(classes));
    }
    let labels = mown_nn::model::argmax_rows(&targets, classes);
    let names: Vec<String> = (0..classes).map(|c| c.to_string()).collect();
    let (images, _) = chosen.into_parts();
    let labelled = Dataset::new(format!("{}/answers", queries.name), shape, classes, names, images, labels)?;
    let spec = ModelSpec::new(cfg.student, shape, classes)?;
    let student = Model::init(ModelMeta::for_dataset(spec, &labelled)?, &cfg.device, cfg.train.seed);
    let mut objective = SoftTargets { targets, classes };
    let (model, _) = train_with(student, &labelled, None, &cfg.train, &mut objective)?;
    Ok(Extracted { model, queries_used: n })
}

/// `n` images of uniform random pixels: the "no data at all" query source.
pub fn noise_queries(shape: ImageShape, n: usize, seed: u64) -> Result<Dataset, AttackError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let images: Vec<f32> = (0..n * shape.numel()).map(|_| rng.random::<f32>()).collect();
    Ok(Dataset::new("noise", shape, 1, vec!["noise".into()], images, vec![0; n])?)
}
