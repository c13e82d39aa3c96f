//! Supervised training: one loop for every architecture and objective (cross-entropy,
//! distillation, watermark objectives from later modules), with seeded data order, SGD/Adam/
//! RMSprop, step or cosine schedules, a progress bar with images/s, and a checkpoint per epoch.

use std::path::PathBuf;
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, RmsPropConfig, SgdConfig};
use burn::prelude::*;
use mown_data::{Augmentation, BatchOrder, Dataset};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::NnError;
use crate::checkpoint::Checkpoint;
use crate::model::{Model, images_tensor};
use crate::models::Network;
use crate::seed::{SeedLock, derive};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum OptimizerKind {
    /// SGD with momentum; dampening is 0 as in PyTorch (burn's default is 0.1).
    Sgd { momentum: f64, nesterov: bool },
    /// Adam with PyTorch's defaults (betas 0.9/0.999, eps 1e-8).
    Adam,
    /// RMSprop (alpha 0.99, eps 1e-8, no momentum), as PyTorch's defaults.
    RmsProp,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LrSchedule {
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        every: usize,
        gamma: f64,
    },
    /// Cosine decay from the base rate to 0 over all steps (per step).
    Cosine,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub optimizer: OptimizerKind,
    pub schedule: LrSchedule,
    pub augmentation: Augmentation,
    pub seed: u64,
    /// Clip each parameter's gradient to this L2 norm (burn's per-parameter norm clipping).
    /// Guards the plain-SGD architectures without BatchNorm (Arc B diverged at lr 0.05 without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip_norm: Option<f32>,
    /// Save a checkpoint after every epoch here, and resume from it if one matches this config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Show an indicatif progress bar on stderr.
    #[serde(default)]
    pub progress: bool,
}

impl Default for TrainConfig {
    /// SGD 0.05 with momentum 0.9, weight decay 5e-4, cosine schedule: a sound default for the
    /// small CNNs and ResNets on Fashion-MNIST and digits.
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            lr: 0.05,
            weight_decay: 5e-4,
            optimizer: OptimizerKind::Sgd { momentum: 0.9, nesterov: false },
            schedule: LrSchedule::Cosine,
            augmentation: Augmentation::default(),
            seed: 0,
            grad_clip_norm: None,
            checkpoint_dir: None,
            progress: false,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |m: String| Err(NnError::BadTrainConfig(m));
        if self.batch_size == 0 {
            return bad("batch size must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("learning rate must be positive, got {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight decay must be >= 0, got {}", self.weight_decay));
        }
        if let Some(c) = self.grad_clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            return bad(format!("gradient clipping norm must be positive, got {c}"));
        }
        if let LrSchedule::Step { every: 0, .. } = self.schedule {
            return bad("step schedule needs every >= 1".into());
        }
        if let LrSchedule::Step { gamma, .. } = self.schedule
            && !(gamma.is_finite() && gamma > 0.0 && gamma <= 1.0)
        {
            // gamma > 1 grows the rate without bound; gamma <= 0 flips or zeroes it.
            return bad(format!("step schedule needs 0 < gamma <= 1, got {gamma}"));
        }
        Ok(())
    }

    /// The learning rate at `epoch` (0-based), step `step` of `steps_per_epoch`.
    pub fn lr_at(&self, epoch: usize, step: usize, steps_per_epoch: usize) -> f64 {
        match self.schedule {
            LrSchedule::Constant => self.lr,
            LrSchedule::Step { every, gamma } => self.lr * gamma.powi((epoch / every.max(1)) as i32),
            LrSchedule::Cosine => {
                let total = (self.epochs * steps_per_epoch).max(1) as f64;
                let t = (epoch * steps_per_epoch + step) as f64;
                0.5 * self.lr * (1.0 + (std::f64::consts::PI * t / total).cos())
            }
        }
    }

    pub(crate) fn optimizer(&self) -> ModuleOptimizer {
        let wd = (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        let clip = self.grad_clip_norm.map(GradientClippingConfig::Norm);
        match self.optimizer {
            OptimizerKind::Sgd { momentum, nesterov } => SgdConfig::new()
                .with_momentum((momentum > 0.0).then_some(MomentumConfig { momentum, dampening: 0.0, nesterov }))
                .with_weight_decay(wd)
                .with_gradient_clipping(clip)
                .init(),
            OptimizerKind::Adam => {
                AdamConfig::new().with_epsilon(1e-8).with_weight_decay(wd).with_grad_clipping(clip).init()
            }
            OptimizerKind::RmsProp => {
                RmsPropConfig::new().with_momentum(0.0).with_epsilon(1e-8).with_weight_decay(wd).init()
            }
        }
    }
}

/// What one epoch did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: Option<f64>,
    pub seconds: f64,
    pub images_per_second: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrainReport {
    pub epochs: Vec<EpochStats>,
    pub seconds: f64,
    /// Epochs skipped because a matching checkpoint was found.
    pub resumed_from_epoch: usize,
}

impl TrainReport {
    pub fn final_test_accuracy(&self) -> Option<f64> {
        self.epochs.last().and_then(|e| e.test_accuracy)
    }
}

/// A training objective: the scalar loss of one batch. Implemented by plain cross-entropy here,
/// and by distillation and the watermarking methods elsewhere.
pub trait Objective {
    /// `images` are pixel-space and on the training (autodiff) device; `model` is in training mode.
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1>;

    /// The loss when the objective needs to know which examples are in the batch (`indices` are
    /// positions in the training dataset, e.g. to look up a victim's soft labels). Defaults to
    /// [`Objective::loss`].
    fn loss_indexed(&mut self, model: &Model, images: Tensor<4>, labels: &[usize], indices: &[usize]) -> Tensor<1> {
        let _ = indices;
        self.loss(model, images, labels)
    }

    /// Called after every optimizer step; may rewrite the weights (e.g. re-apply a pruning mask
    /// so pruned weights stay zero while the rest is fine-tuned).
    fn after_step(&mut self, net: Network) -> Network {
        net
    }

    /// Why the last loss could not be computed, if it could not (e.g. an extraction objective
    /// whose victim refused a query): training stops with [`NnError::ObjectiveFailed`], and the
    /// objective keeps the cause for its caller.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// Mean cross-entropy against the dataset labels.
pub struct CrossEntropy;

impl Objective for CrossEntropy {
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        crate::loss::cross_entropy(model.forward(images), labels)
    }
}

/// Distillation from a teacher's logits (the teacher runs in evaluation mode, no gradients).
pub struct Distillation {
    pub teacher: Model,
    pub alpha: f64,
    pub temperature: f64,
}

impl Objective for Distillation {
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        let teacher_logits = self.teacher.valid().forward(images.clone().without_autodiff());
        let student = model.forward(images);
        crate::loss::distillation(student, teacher_logits.autodiff(), labels, self.alpha, self.temperature)
    }
}

/// Trains with cross-entropy. See [`train_with`].
pub fn train(
    model: Model,
    data: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
) -> Result<(Model, TrainReport), NnError> {
    train_with(model, data, test, cfg, &mut CrossEntropy)
}

/// Trains `model` on `data`, evaluating on `test` after each epoch. The same seed, data and
/// configuration give the same weights.
pub fn train_with(
    model: Model,
    data: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
    objective: &mut dyn Objective,
) -> Result<(Model, TrainReport), NnError> {
    cfg.validate()?;
    if data.is_empty() {
        return Err(NnError::BadInput(format!("training set {} is empty", data.name)));
    }
    crate::model::check_dataset_shape(data, model.input_shape())?;
    if let Some(&bad) = data.labels().iter().find(|&&l| l >= model.num_classes()) {
        return Err(NnError::BadInput(format!("label {bad} but the model has {} classes", model.num_classes())));
    }
    let device = model.device().without_autodiff();
    let train_device = device.clone().autodiff();
    let _lock = SeedLock::acquire(&device, derive(cfg.seed, 1));
    let mut optim = cfg.optimizer();
    let mut model = Model { meta: model.meta, net: model.net.fork(&train_device).train() };
    let mut report = TrainReport::default();
    let checkpoint = cfg.checkpoint_dir.as_ref().map(|dir| Checkpoint::new(dir.clone(), cfg, data));
    if let Some(ck) = &checkpoint
        && let Some((net, opt, done)) = ck.resume(&model, &train_device)?
    {
        model.net = net;
        optim = optim.load_record(opt);
        report.resumed_from_epoch = done;
    }
    let steps = data.len().div_ceil(cfg.batch_size);
    let bar = progress_bar(cfg, steps);
    let started = Instant::now();
    for epoch in report.resumed_from_epoch..cfg.epochs {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(derive(cfg.seed, 100 + epoch as u64));
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let order = BatchOrder::Shuffled { seed: derive(cfg.seed, 1000 + epoch as u64) };
        for (step, mut batch) in data.batches(cfg.batch_size, order).enumerate() {
            if !cfg.augmentation.is_identity() {
                cfg.augmentation.apply(&mut batch, data.shape, &mut rng);
            }
            let x = images_tensor(&batch.images, data.shape, &train_device);
            let loss = objective.loss_indexed(&model, x, &batch.labels, &batch.indices);
            // Errors name epochs and batches from 1, as the progress bar does.
            if let Some(reason) = objective.failure() {
                return Err(NnError::ObjectiveFailed { epoch: epoch + 1, batch: step + 1, reason });
            }
            let value = loss.clone().into_scalar::<f32>();
            if !value.is_finite() {
                return Err(NnError::Diverged { epoch: epoch + 1, batch: step + 1, loss: value });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model.net);
            model.net = objective.after_step(optim.step(cfg.lr_at(epoch, step, steps), model.net, grads));
            loss_sum += value as f64 * batch.len as f64;
            seen += batch.len;
            if let Some(bar) = &bar {
                bar.inc(1);
                let rate = seen as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "epoch {}/{} loss {:.4} {:.0} img/s",
                    epoch + 1,
                    cfg.epochs,
                    loss_sum / seen as f64,
                    rate
                ));
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        // Training accuracy in evaluation mode on a fixed sample keeps the epoch cheap.
        let sample = data.subset(&(0..data.len().min(2000)).collect::<Vec<_>>(), "")?;
        // NaN weights from the epoch's last step show up here first: report them as divergence.
        let diverged = |e: NnError| match e {
            NnError::NonFiniteOutput { .. } => NnError::Diverged { epoch: epoch + 1, batch: steps, loss: f32::NAN },
            other => other,
        };
        correct += (model.accuracy(&sample).map_err(diverged)? * sample.len() as f64).round() as usize;
        let test_accuracy = match test {
            Some(t) => Some(model.accuracy(t).map_err(diverged)?),
            None => None,
        };
        report.epochs.push(EpochStats {
            epoch: epoch + 1,
            loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / sample.len() as f64,
            test_accuracy,
            seconds,
            images_per_second: seen as f64 / seconds.max(1e-9),
        });
        tracing::info!(epoch = epoch + 1, loss = loss_sum / seen.max(1) as f64, ?test_accuracy, "epoch done");
        if let Some(ck) = &checkpoint {
            ck.save(&model, &optim, epoch + 1)?;
        }
        if let Some(bar) = &bar {
            bar.reset();
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report.seconds = started.elapsed().as_secs_f64();
    // Hand back a plain-device model (running statistics synced by `valid`).
    let net = model.net.valid();
    Ok((Model { meta: model.meta, net }, report))
}

/// The model with BatchNorm (and every other layer with a training mode: dropout) held in
/// inference behaviour (`frozen`), or given its training behaviour back. Frozen, a training step
/// on the autodiff device normalises with the running statistics and leaves them untouched
/// (burn 0.22's `training` flag), while the weights, BatchNorm's scale and shift included, still
/// train: a fine-tuning that must not move the statistics the model is evaluated with
/// (near-boundary's phase 3, docs/results/near-boundary-fmnist-resnet20.txt).
pub fn with_frozen_normalization(model: Model, frozen: bool) -> Model {
    struct Flags(bool);
    impl burn::module::ModuleMapper for Flags {
        fn map_flag(
            &mut self,
            flag: burn::module::Param<burn::module::Flag>,
        ) -> burn::module::Param<burn::module::Flag> {
            flag.with_value(self.0)
        }
    }
    Model { net: model.net.map(&mut Flags(!frozen)), meta: model.meta }
}

/// Re-estimates BatchNorm's running statistics on `data`: up to `batches` batches (in a seeded
/// order) forwarded in training mode, without a gradient step, after a tuning whose batches
/// were not training images (near-boundary's phase 3 forwards its private samples). With burn's
/// momentum 0.1, 100 batches leave 0.9^100 (3e-5) of the previous statistics. Weights are not
/// changed; a model without BatchNorm comes back as it was.
pub fn recalibrate_batch_norm(
    model: Model,
    data: &Dataset,
    batches: usize,
    batch_size: usize,
    seed: u64,
) -> Result<Model, NnError> {
    if !model.spec().arch.has_batch_norm() {
        return Ok(model);
    }
    crate::model::check_dataset_shape(data, model.input_shape())?;
    if data.is_empty() || batches == 0 || batch_size == 0 {
        return Err(NnError::BadInput("BatchNorm recalibration needs data, batches and a batch size".into()));
    }
    let device = model.device().without_autodiff().autodiff();
    let net = model.net.fork(&device).train();
    let recalibrating = Model { meta: model.meta, net };
    // As many passes over `data` as it takes to see `batches` batches (a small set repeats).
    let mut seen = 0;
    for pass in 0.. {
        let order = BatchOrder::Shuffled { seed: derive(seed, 7 + pass) };
        for batch in data.batches(batch_size, order) {
            if seen == batches {
                return Ok(Model { net: recalibrating.net.valid(), meta: recalibrating.meta });
            }
            // A backward pass on each batch releases its autodiff graph, as a training step does:
            // forwards alone kept every batch's graph alive through the running statistics (a
            // phase-3 run on the ResNet-20 Fashion-MNIST owner grew to 12.8 GB).
            let logits = recalibrating.forward(images_tensor(&batch.images, data.shape, &device));
            let _ = logits.sum().backward();
            seen += 1;
        }
    }
    unreachable!("the passes end when {batches} batches were seen")
}

fn progress_bar(cfg: &TrainConfig, steps: usize) -> Option<indicatif::ProgressBar> {
    cfg.progress.then(|| {
        let bar = indicatif::ProgressBar::new(steps as u64);
        let style = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    })
}
