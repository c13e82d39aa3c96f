//! Trigger-set watermarks: the owner trains the model to give chosen wrong labels on secret
//! trigger images, and later shows that a suspect gives those labels too.
//!
//! Two schemes share the triggers, the key file and verification: the margin-based watermark
//! of seed 004 (`margin`), which trains every trigger's whole L∞ ball to its label so that
//! extraction and distillation copy it, and the plain trigger set it improves on (`plain`, seed
//! 004 Eq. 1), which an extracted copy forgets.

mod key;
pub mod margin;
pub mod triggers;

pub use key::{KEY_FORMAT, OWNER_HOLDS, WatermarkKey, embedding_warning};
pub use margin::{Scheme, TriggerWatermark, WatermarkParams, margin_pga};
pub use triggers::{LabelRule, Triggers, select_triggers, without_triggers};

use mown_data::Dataset;
use mown_nn::{Model, TrainConfig};

use crate::MethodError;

/// A watermarking method: trains the owner's model with the watermark and returns it with the
/// secret key that verifies it.
pub trait Watermarker {
    /// The scheme's name as stored in the key file.
    fn name(&self) -> String;
    /// Trains `model` (freshly initialised, or pre-trained to fine-tune the watermark in) on
    /// `train` with the watermark; triggers are drawn from `pool`, held-out data that is never
    /// part of `train` (seed 004 §3.1: the true-labelled triggers must not be trained on).
    fn embed(
        &self,
        model: Model,
        train: &Dataset,
        pool: &Dataset,
        cfg: &TrainConfig,
    ) -> Result<(Model, WatermarkKey), MethodError>;
}
