//! Query-based model extraction (Tramèr et al. 2016; as used by seeds 001, 003, 004): label a
//! query set through the victim's prediction interface and train a student on the answers.
//!
//! The victim is a `&mut dyn QueryModel`: this module cannot see weights, only answers, and every
//! image it asks about is counted against the victim's budget.

use mown_access::{AccessError, AccessLevel, QueryModel};
use mown_data::{Augmentation, Dataset, ImageShape};
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
    /// How the student trains. With `train.augmentation` set, the thief queries *live*: every
    /// training batch is augmented and sent to the victim, and the student matches those fresh
    /// answers (an answer belongs to the image that was sent, not to its un-augmented original).
    /// This is seed 004's extraction as its authors ran it: their code queries the victim on
    /// each randomly cropped and flipped training batch for all 200 epochs, images × epochs
    /// queries of fresh augmentations. The budget then covers every image sent: the thief uses
    /// `budget / epochs` of its images (fewer if it has fewer) and sends each once per epoch.
    pub train: TrainConfig,
    /// Where the student trains.
    pub device: Device,
    /// Temperature of the student's match to the victim's answers; 1 = the victim's
    /// probabilities as they are (the default and seed 004's Eq. 5 as written). Seed 004 leaves
    /// the victim's softmax handling open (§4.2 of its summary). A thief with full probability
    /// vectors can recover the logits up to a constant (ln p), so at T > 1 it matches
    /// softmax(ln p / T) with T²·CE(softmax(z / T), ·), as distillation does: the off-top
    /// classes, nearly zero on in-distribution queries at T = 1, then carry the victim's
    /// "dark knowledge". Needs probability answers and T >= 1 (below 1 it would sharpen the
    /// answers, which the T² scaling and the slower rate are not made for). At T > 1 the
    /// student trains at [`SOFT_MATCH_LR_FACTOR`] times `train.lr`.
    pub temperature: f64,
    /// 0 = off. Otherwise, when the budget exceeds the query images, the thief spends the rest
    /// on mixup queries, each a random convex combination of `mix` of its images (see
    /// [`mixup_queries`]), so a thief with few images of its own can still spend a large budget.
    /// Not with live (augmented) queries, which spend the budget their own way.
    pub mix: usize,
}

impl ExtractConfig {
    /// Whether the thief queries live, on augmented training batches (see [`ExtractConfig::train`]).
    pub fn is_live(&self) -> bool {
        !self.train.augmentation.is_identity()
    }

    /// How many query images the budget can use: all of it at once, or one image per epoch
    /// when live (so a noise source need not draw more).
    pub fn images_wanted(&self) -> usize {
        if self.is_live() { self.budget / self.train.epochs.max(1) } else { self.budget }
    }

    /// The student's training: at T > 1 at [`SOFT_MATCH_LR_FACTOR`] of the rate.
    fn student_training(&self) -> TrainConfig {
        if self.temperature == 1.0 {
            return self.train.clone();
        }
        TrainConfig { lr: self.train.lr * SOFT_MATCH_LR_FACTOR, ..self.train.clone() }
    }
}

/// Why live queries augmented by `aug` cannot be used with these settings, if they cannot (the
/// chain parser and [`extract`] both ask, so a bad recipe fails before its victim is built).
pub fn check_live(aug: Augmentation, mix: usize, epochs: usize, budget: usize) -> Result<(), String> {
    if aug.is_identity() {
        return Ok(());
    }
    if mix > 0 {
        return Err(format!("mix={mix} and live queries (aug={aug}) both decide how the budget is spent: use one"));
    }
    if epochs == 0 {
        return Err(format!("live queries (aug={aug}) are sent while training: epochs must be at least 1"));
    }
    if budget < epochs {
        return Err(format!(
            "live queries send every image once per epoch: a budget of {budget} covers less than one image for {epochs} epochs"
        ));
    }
    Ok(())
}

/// At T > 1 the T²-scaled match is about an L2 match of logits, as steep as distillation's soft
/// term, so the student trains at distillation's 1/5 of the from-scratch rate (`build::Builder`).
pub const SOFT_MATCH_LR_FACTOR: f64 = 0.2;

/// Floor of a returned probability before its logarithm: an f32 softmax underflows to 0 once a
/// logit gap exceeds about 87, which this floor (ln = −87.3) stands in for.
const MIN_PROBABILITY: f32 = f32::MIN_POSITIVE;

/// Why an extraction temperature `t` cannot be used with `level` answers, if it cannot: the
/// chain parser and [`extract`] both ask, so a bad recipe fails before its victim is built.
pub fn check_temperature(t: f64, level: AccessLevel) -> Result<(), String> {
    if !(t.is_finite() && t >= 1.0) {
        return Err(format!("extraction temperature t={t} must be a finite number >= 1"));
    }
    if t != 1.0 && level != AccessLevel::Probabilities {
        return Err(format!(
            "extraction temperature t={t} needs probability answers (probs; it reads the victim's logits \
             from log-probabilities), not {level}"
        ));
    }
    Ok(())
}

/// The victim's answers at temperature `t`: each row of `probs` becomes softmax(ln p / t).
pub fn soften(probs: &[f32], classes: usize, t: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(probs.len());
    for row in probs.chunks(classes) {
        let z: Vec<f64> = row.iter().map(|&p| f64::from(p.max(MIN_PROBABILITY)).ln() / t).collect();
        let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - top).exp()).collect();
        let sum: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| (v / sum) as f32));
    }
    out
}

/// `count` synthetic queries, each a convex combination of `components` images drawn (with
/// replacement) from `images` (whole images of `numel` pixels), weights uniform on the simplex
/// (Dirichlet(1, ..., 1)). Empty when there is nothing to mix.
///
/// Seed 004 (App. B.3) builds mixup *triggers* as averages of 2 or 5 images; the thief's side is
/// not in the paper. We give the thief the same construction to stretch a small different-source
/// set (8,000 digits against 60,000 Fashion-MNIST images), with random rather than equal weights
/// so the queries also fill the segments between images, not only their midpoints (Zhang et al.
/// 2018 draw λ ~ Beta(α, α); Dirichlet(1) is the α = 1 case for two components). Pixels stay in
/// the range of the images they mix.
pub fn mixup_queries(images: &[f32], numel: usize, count: usize, components: usize, seed: u64) -> Vec<f32> {
    let available = images.len() / numel.max(1);
    if numel == 0 || available == 0 || components == 0 {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = vec![0f32; count * numel];
    for query in out.chunks_mut(numel) {
        let picks: Vec<usize> = (0..components).map(|_| rng.random_range(0..available)).collect();
        let raw: Vec<f64> = (0..components).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
        let total: f64 = raw.iter().sum();
        for (&i, &w) in picks.iter().zip(&raw) {
            let w = (w / total) as f32;
            for (q, &x) in query.iter_mut().zip(&images[i * numel..(i + 1) * numel]) {
                *q += w * x;
            }
        }
    }
    out
}

/// Most images one mixup query may combine: beyond this a mix is close to the mean image whatever
/// is drawn, and the count is more likely a typo.
pub const MAX_MIX: usize = 16;

/// Most mixup queries per image of the thief's own (a budget this far beyond its images is more
/// likely a typo, and would otherwise fail as an allocation, not an error).
pub const MAX_MIXES_PER_IMAGE: usize = 100;

/// Why `mix` images per query cannot be used, if they cannot (the chain parser and [`extract`]
/// both ask).
pub fn check_mix(mix: usize) -> Result<(), String> {
    match mix {
        1 => Err("mix=1 mixes nothing: use 0 (off) or at least 2 images per query".into()),
        m if m > MAX_MIX => Err(format!("mix={m}: at most {MAX_MIX} images per mixup query")),
        _ => Ok(()),
    }
}

/// The stolen copy and what it cost.
pub struct Extracted {
    pub model: Model,
    pub queries_used: usize,
}

/// The student's loss against a batch of the victim's answers (`[n, classes]` rows), at
/// temperature `t` (see [`ExtractConfig::temperature`]).
fn match_answers(model: &Model, images: Tensor<4>, rows: &[f32], classes: usize, t: f64) -> Tensor<1> {
    let device = images.device();
    let targets = Tensor::<1>::from_floats(rows, &device).reshape([rows.len() / classes, classes]);
    if t == 1.0 {
        return mown_nn::loss::soft_cross_entropy(model.forward(images), targets);
    }
    // T² keeps the gradient's scale independent of T (Hinton et al.; seed 004 Eq. 7).
    mown_nn::loss::soft_cross_entropy(model.forward(images).div_scalar(t), targets).mul_scalar(t * t)
}

/// Cross-entropy against per-example soft targets (the victim's answers), looked up by index.
struct SoftTargets {
    targets: Vec<f32>,
    classes: usize,
    temperature: f64,
}

impl Objective for SoftTargets {
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        mown_nn::loss::cross_entropy(model.forward(images), labels)
    }

    fn loss_indexed(&mut self, model: &Model, images: Tensor<4>, _labels: &[usize], indices: &[usize]) -> Tensor<1> {
        let k = self.classes;
        let rows: Vec<f32> = indices.iter().flat_map(|&i| self.targets[i * k..(i + 1) * k].iter().copied()).collect();
        match_answers(model, images, &rows, k, self.temperature)
    }
}

/// Live extraction: sends each (augmented) training batch to the victim and matches its answers.
struct LiveAnswers<'a> {
    victim: &'a mut dyn QueryModel,
    level: AccessLevel,
    classes: usize,
    temperature: f64,
    /// The victim's refusal (budget, network, bad answer), kept for [`extract`] to return as is.
    failure: Option<AccessError>,
}

impl LiveAnswers<'_> {
    /// The victim's answers to `images` (`[n, classes]` rows at the match's temperature).
    fn answers(&mut self, images: &Tensor<4>) -> Result<Vec<f32>, AccessError> {
        let answer = self.victim.query(&mown_nn::model::tensor_to_vec(images.clone()), self.level)?;
        let rows = answer.soft_labels(self.classes);
        let sent = images.dims()[0];
        if rows.len() != sent * self.classes {
            let why = format!("answered {} values for {sent} images of {} classes", rows.len(), self.classes);
            return Err(AccessError::Suspect(why));
        }
        Ok(if self.temperature == 1.0 { rows } else { soften(&rows, self.classes, self.temperature) })
    }
}

impl Objective for LiveAnswers<'_> {
    fn loss(&mut self, model: &Model, images: Tensor<4>, _labels: &[usize]) -> Tensor<1> {
        match self.answers(&images) {
            Ok(rows) => match_answers(model, images, &rows, self.classes, self.temperature),
            Err(e) => {
                self.failure = Some(e);
                // Never trained on: training stops at `failure()`.
                Tensor::<1>::zeros([1], &images.device())
            }
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.as_ref().map(|e| format!("the victim refused a query: {e}"))
    }
}

/// Steals a copy of `victim` by querying it on (up to `cfg.budget` of) `queries` — whose own
/// labels are ignored — and, with `cfg.mix`, on mixes of them up to the budget, then training a
/// fresh `cfg.student` on the answers. With augmentation in `cfg.train` the queries are sent
/// during training instead, batch by batch (see [`ExtractConfig::train`]).
pub fn extract(victim: &mut dyn QueryModel, queries: &Dataset, cfg: &ExtractConfig) -> Result<Extracted, AttackError> {
    let t = cfg.temperature;
    check_temperature(t, cfg.level).map_err(AttackError::BadParameter)?;
    let shape = victim.input_shape();
    if queries.shape != shape {
        return Err(AttackError::BadParameter(format!(
            "query images are {:?} but the victim takes {:?}; resize them first",
            queries.shape, shape
        )));
    }
    let classes = victim.num_classes();
    check_mix(cfg.mix).map_err(AttackError::BadParameter)?;
    let limit = victim.queries_left().map_or(cfg.budget, |left| left.min(cfg.budget));
    if cfg.is_live() {
        return extract_live(victim, queries, cfg, limit);
    }
    let n = limit.min(queries.len());
    // With mixup the whole budget is spent: the images first, then synthetic queries.
    let synthetic = if cfg.mix >= 2 && n > 0 { limit - n } else { 0 };
    if n == 0 {
        return Err(AttackError::BadParameter(format!(
            "nothing to query: budget {}, {} query images, {:?} queries left",
            cfg.budget,
            queries.len(),
            victim.queries_left()
        )));
    }
    if synthetic > MAX_MIXES_PER_IMAGE * n {
        return Err(AttackError::BadParameter(format!(
            "budget {limit} would need {synthetic} mixup queries from {n} images; at most {MAX_MIXES_PER_IMAGE} per image"
        )));
    }
    if cfg.mix >= 2 && synthetic == 0 {
        tracing::warn!(
            budget = cfg.budget,
            available = queries.len(),
            "mix={} has no effect: the budget fits in the query images",
            cfg.mix
        );
    }
    if cfg.budget > queries.len() && cfg.mix == 0 {
        // The chain's name carries the budget asked for; say when the data could not supply it.
        tracing::warn!(
            budget = cfg.budget,
            available = queries.len(),
            source = %queries.name,
            "extraction budget exceeds the query images: only {n} queries are sent"
        );
    }
    let order = queries.shuffled_indices(cfg.train.seed);
    let (mut images, _) = queries.subset(&order[..n], "/queries")?.into_parts();
    let numel = shape.numel();
    if synthetic > 0 {
        // The thief mixes only the images it chose to send.
        let seed = mown_nn::seed::derive(cfg.train.seed, 0x6d6978);
        images.extend(mixup_queries(&images, numel, synthetic, cfg.mix, seed));
    }
    let sent = n + synthetic;
    let mut targets = Vec::with_capacity(sent * classes);
    for batch in images.chunks(QUERY_BATCH * numel) {
        let answer = victim.query(batch, cfg.level)?;
        targets.extend(answer.soft_labels(classes));
    }
    let labels = mown_nn::model::argmax_rows(&targets, classes);
    let targets = if t == 1.0 { targets } else { soften(&targets, classes, t) };
    let labelled =
        Dataset::new(format!("{}/answers", queries.name), shape, classes, index_names(classes), images, labels)?;
    let student = new_student(cfg, &labelled)?;
    let mut objective = SoftTargets { targets, classes, temperature: t };
    let (model, _) = train_with(student, &labelled, None, &cfg.student_training(), &mut objective)?;
    Ok(Extracted { model, queries_used: sent })
}

/// A copy knows its victim's classes only by index (`build` gives it the victim's names).
fn index_names(classes: usize) -> Vec<String> {
    (0..classes).map(|c| c.to_string()).collect()
}

/// A fresh `cfg.student` for `data` (its shape, classes and normalisation).
fn new_student(cfg: &ExtractConfig, data: &Dataset) -> Result<Model, AttackError> {
    let spec = ModelSpec::new(cfg.student, data.shape, data.num_classes)?;
    Ok(Model::init(ModelMeta::for_dataset(spec, data)?, &cfg.device, cfg.train.seed))
}

/// [`extract`] with live, augmented queries (see [`ExtractConfig::train`]).
fn extract_live(
    victim: &mut dyn QueryModel,
    queries: &Dataset,
    cfg: &ExtractConfig,
    limit: usize,
) -> Result<Extracted, AttackError> {
    check_live(cfg.train.augmentation, cfg.mix, cfg.train.epochs, cfg.budget).map_err(AttackError::BadParameter)?;
    let epochs = cfg.train.epochs;
    let n = (limit / epochs).min(queries.len());
    if n == 0 {
        return Err(AttackError::BadParameter(format!(
            "nothing to query: live queries send every image once per epoch, and a budget of {} ({:?} left) \
             covers less than one image for {epochs} epochs ({} query images)",
            cfg.budget,
            victim.queries_left(),
            queries.len()
        )));
    }
    if cfg.budget > queries.len().saturating_mul(epochs) {
        // As in `extract`: the chain's name carries the budget asked for.
        tracing::warn!(
            budget = cfg.budget,
            available = queries.len(),
            epochs,
            source = %queries.name,
            "live extraction budget exceeds the query images times the epochs: only {} queries are sent",
            n * epochs
        );
    }
    let order = queries.shuffled_indices(cfg.train.seed);
    let (images, _) = queries.subset(&order[..n], "/queries")?.into_parts();
    let classes = victim.num_classes();
    // The answers arrive batch by batch during training: these labels are never read (the
    // objective ignores them; only the discarded report's training accuracy would).
    let unlabelled = Dataset::new(
        format!("{}/live", queries.name),
        queries.shape,
        classes,
        index_names(classes),
        images,
        vec![0; n],
    )?;
    let student = new_student(cfg, &unlabelled)?;
    let used_before = victim.queries_used();
    let mut objective = LiveAnswers { victim, level: cfg.level, classes, temperature: cfg.temperature, failure: None };
    let trained = train_with(student, &unlabelled, None, &cfg.student_training(), &mut objective);
    if let Some(e) = objective.failure.take() {
        return Err(e.into());
    }
    let (model, _) = trained?;
    Ok(Extracted { model, queries_used: objective.victim.queries_used() - used_before })
}

/// `n` images of uniform random pixels: the "no data at all" query source.
pub fn noise_queries(shape: ImageShape, n: usize, seed: u64) -> Result<Dataset, AttackError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let images: Vec<f32> = (0..n * shape.numel()).map(|_| rng.random::<f32>()).collect();
    Ok(Dataset::new("noise", shape, 1, vec!["noise".into()], images, vec![0; n])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softening_keeps_the_order_and_divides_log_ratios_by_t() {
        let p = [0.97f32, 0.02, 0.01, 0.0];
        let same = soften(&p, 4, 1.0);
        for (a, b) in same.iter().zip(&p[..3]) {
            assert!((a - b).abs() < 1e-6, "{same:?}");
        }
        let q = soften(&p, 4, 20.0);
        assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(q[0] > q[1] && q[1] > q[2] && q[2] > q[3], "{q:?}");
        assert!(q[1] > 0.2, "the off-top classes gain mass at T = 20: {q:?}");
        let ratio = (f64::from(q[0]) / f64::from(q[1])).ln();
        assert!((ratio - (0.97f64 / 0.02).ln() / 20.0).abs() < 1e-4, "{ratio}");
        // A probability that underflowed to 0 is floored, not a NaN.
        assert!(q[3].is_finite() && q[3] > 0.0);
    }

    #[test]
    fn mixup_queries_are_seeded_convex_combinations() {
        // Three 2-pixel images: every mix lies in their convex hull, so each pixel stays in the
        // images' range and the two pixels sum to 1 as in every source image.
        let images = [1.0f32, 0.0, 0.0, 1.0, 0.5, 0.5];
        let a = mixup_queries(&images, 2, 50, 2, 7);
        assert_eq!(a.len(), 100);
        for q in a.chunks(2) {
            assert!(q.iter().all(|&p| (0.0..=1.0).contains(&p)), "{q:?}");
            assert!((q[0] + q[1] - 1.0).abs() < 1e-5, "{q:?}");
        }
        // Random weights: the queries are spread out, not only midpoints and copies.
        let distinct = a.chunks(2).map(|q| (q[0] * 1000.0).round() as i32).collect::<std::collections::BTreeSet<_>>();
        assert!(distinct.len() > 20, "{distinct:?}");
        assert_eq!(a, mixup_queries(&images, 2, 50, 2, 7), "same seed, same queries");
        assert_ne!(a, mixup_queries(&images, 2, 50, 2, 8));
        assert!(mixup_queries(&[], 2, 5, 2, 7).is_empty());
    }
}
