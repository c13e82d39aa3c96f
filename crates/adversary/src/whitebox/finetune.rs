//! Fine-tuning attacks (IPGuard, seed 002, §5 "post-processing"; reference summary §4.1): the
//! thief holds the victim's weights and retrains some or all of them on its own data, hoping the
//! result still works but no longer matches the owner's fingerprint.
//!
//! - FTLL: train only the last (classification) layer; every other layer is frozen.
//! - FTAL: train every layer.
//! - RTLL: re-initialise the last layer, then train only it.
//! - RTAL: re-initialise the last layer, then train every layer.
//!
//! "Frozen" includes BatchNorm running statistics: burn's `freeze()` also turns off the layers'
//! training flags, so a frozen body normalises with the victim's statistics and never updates
//! them. FTLL/RTLL therefore change the head's weights and nothing else, bit for bit.

use std::fmt;
use std::str::FromStr;

use mown_data::Dataset;
use mown_nn::burn::module::Module;
use mown_nn::burn::nn::{Linear, LinearConfig};
use mown_nn::burn::prelude::Device;
use mown_nn::models::Network;
use mown_nn::seed::{SeedLock, derive};
use mown_nn::train::{TrainConfig, train};
use mown_nn::{Model, ModelMeta};
use serde::{Deserialize, Serialize};

use crate::AttackError;

/// Sub-seed stream for the re-initialised head, so that RTLL/RTAL heads follow from the
/// configuration's seed without coinciding with its data-order streams.
const HEAD_STREAM: u64 = 0x5254_4845_4144; // "RTHEAD"

/// Which of IPGuard's four fine-tuning attacks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FineTuneMode {
    /// Fine-tune the last layer only (Tables 5-7 of the paper print it as "FLL").
    Ftll,
    /// Fine-tune all layers.
    Ftal,
    /// Re-initialise the last layer and train it alone.
    Rtll,
    /// Re-initialise the last layer and retrain all layers.
    Rtal,
}

impl FineTuneMode {
    pub const ALL: [FineTuneMode; 4] = [Self::Ftll, Self::Ftal, Self::Rtll, Self::Rtal];

    pub fn name(self) -> &'static str {
        match self {
            Self::Ftll => "ftll",
            Self::Ftal => "ftal",
            Self::Rtll => "rtll",
            Self::Rtal => "rtal",
        }
    }

    /// Whether every layer is trained (otherwise only the head).
    pub fn trains_all(self) -> bool {
        matches!(self, Self::Ftal | Self::Rtal)
    }

    /// Whether the head is re-initialised before training.
    pub fn reinitialises_head(self) -> bool {
        matches!(self, Self::Rtll | Self::Rtal)
    }
}

impl fmt::Display for FineTuneMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FineTuneMode {
    type Err = AttackError;

    /// Case-insensitive; "fll" is accepted because the paper's tables print FTLL that way.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ftll" | "fll" => Ok(Self::Ftll),
            "ftal" => Ok(Self::Ftal),
            "rtll" => Ok(Self::Rtll),
            "rtal" => Ok(Self::Rtal),
            other => Err(AttackError::BadParameter(format!(
                "unknown fine-tuning mode '{other}' (expected ftll, ftal, rtll or rtal)"
            ))),
        }
    }
}

/// Runs one fine-tuning attack on `victim` with `data` (IPGuard uses the training data) and
/// returns the stolen model, named `<victim derivation>-<mode>(<epochs>)`.
///
/// The victim is never modified. burn's clones share BatchNorm running statistics (they sit
/// behind an `Arc`, and a device move rewrites them in place), so we start from
/// `victim.valid()`, which gives the copy statistics of its own.
///
/// Zero epochs train nothing (RTLL/RTAL then only re-initialise the head). The returned model is
/// in evaluation mode with every layer trainable again, so that later attacks in a derivation
/// chain (e.g. pruning with retraining) can train all of it.
pub fn fine_tune(victim: &Model, mode: FineTuneMode, data: &Dataset, cfg: &TrainConfig) -> Result<Model, AttackError> {
    if data.is_empty() {
        return Err(AttackError::BadParameter(format!("fine-tuning data set '{}' is empty", data.name)));
    }
    let base = victim.valid();
    let device = base.device();
    let mut net: Network = base.net;
    if mode.reinitialises_head() {
        let head = fresh_head(&net.head()?, &device, cfg.seed);
        net = net.with_head(head)?;
    }
    let net = if mode.trains_all() {
        // `unfreeze` also undoes a freeze left by an earlier attack in the chain.
        net.unfreeze()
    } else {
        let head = net.head()?.unfreeze();
        net.freeze().with_head(head)?
    };
    let start = Model { meta: victim.meta.clone(), net };
    let (trained, report) = train(start, data, None, cfg)?;
    let step = format!("{mode}({})", cfg.epochs);
    let details = serde_json::json!({
        "attack": mode.name(),
        "data": data.name,
        "train": cfg,
        "seconds": (report.seconds * 1000.0).round() / 1000.0,
    });
    Ok(Model { meta: derived_meta(&victim.meta, &step, details), net: trained.net.unfreeze().valid() })
}

/// A freshly initialised head shaped like `old` (burn's default Kaiming-uniform init, as for a
/// newly built model), drawn under a seed derived from `seed` so RTLL/RTAL are reproducible.
pub fn fresh_head(old: &Linear, device: &Device, seed: u64) -> Linear {
    // burn's row layout stores the weight as [d_input, d_output].
    let [d_in, d_out] = old.weight.dims();
    let _lock = SeedLock::acquire(device, derive(seed, HEAD_STREAM));
    let head = LinearConfig::new(d_in, d_out).with_bias(old.bias.is_some()).init(device);
    // Materialise the lazily initialised parameters while the seeded RNG is held.
    let _ = head.weight.val();
    if let Some(bias) = &head.bias {
        let _ = bias.val();
    }
    head
}

/// The metadata of a model derived from `parent` by `step`: the derivation gets `-step`
/// appended (the ModelDiff-style name that is also the zoo cache key), the step's parameters are
/// appended to `details.attacks`, and values that no longer describe the weights (test accuracy,
/// weights hash) are cleared.
pub fn derived_meta(parent: &ModelMeta, step: &str, details: serde_json::Value) -> ModelMeta {
    let mut meta = parent.clone();
    let p = &mut meta.provenance;
    p.derivation = if p.derivation.is_empty() { step.to_string() } else { format!("{}-{step}", p.derivation) };
    p.test_accuracy = None;
    if !p.details.is_object() {
        let previous = std::mem::take(&mut p.details);
        p.details = serde_json::json!({});
        if !previous.is_null() {
            p.details["previous"] = previous;
        }
    }
    let attacks = &mut p.details["attacks"];
    if !attacks.is_array() {
        *attacks = serde_json::json!([]);
    }
    if let Some(list) = attacks.as_array_mut() {
        list.push(serde_json::json!({ "step": step, "details": details }));
    }
    meta.weights_sha256.clear();
    meta
}
