//! Per-epoch checkpoints, so that an interrupted multi-hour training resumes where it stopped.
//! A checkpoint is only reused when its recorded configuration, model (architecture, input,
//! classes, normalisation) and training data (name, size, image shape) equal the current ones:
//! resuming Fashion-MNIST weights on MNIST would otherwise pass silently, since the tensor
//! shapes agree.

use std::path::PathBuf;

use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::NnError;
use crate::model::Model;
use crate::models::Network;
use crate::train::TrainConfig;

#[derive(Serialize, Deserialize)]
struct State {
    epochs_done: usize,
    config: TrainConfig,
    /// Absent in checkpoints of older builds, which then never match.
    #[serde(default)]
    model: String,
    #[serde(default)]
    data: String,
}

pub(crate) struct Checkpoint {
    dir: PathBuf,
    config: TrainConfig,
    data: String,
}

/// What the checkpoint's weights belong to: everything of the model's metadata that training
/// does not change.
fn model_identity(model: &Model) -> String {
    let m = &model.meta;
    serde_json::json!({"spec": m.spec, "normalization": m.normalization, "classes": m.class_names}).to_string()
}

impl Checkpoint {
    pub(crate) fn new(dir: PathBuf, config: &TrainConfig, data: &mown_data::Dataset) -> Self {
        let mut config = config.clone();
        // Where checkpoints live and whether a bar is shown do not change the result.
        config.checkpoint_dir = None;
        config.progress = false;
        let data = format!("{} ({} images of {:?})", data.name, data.len(), data.shape);
        Self { dir, config, data }
    }

    fn io(&self, source: std::io::Error) -> NnError {
        NnError::Io { path: self.dir.clone(), source }
    }

    fn corrupt(&self, reason: String) -> NnError {
        NnError::CorruptModel { path: self.dir.clone(), reason: format!("checkpoint: {reason}") }
    }

    pub(crate) fn save(&self, model: &Model, optim: &ModuleOptimizer, epochs_done: usize) -> Result<(), NnError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        // burn's own record format keeps parameter ids, which the optimizer state refers to.
        model.net.clone().save_file(self.dir.join("model.bpk")).map_err(|e| self.corrupt(format!("{e:?}")))?;
        optim.to_record().save(self.dir.join("optimizer.bpk")).map_err(|e| self.corrupt(format!("{e:?}")))?;
        let state =
            State { epochs_done, config: self.config.clone(), model: model_identity(model), data: self.data.clone() };
        let json = serde_json::to_vec_pretty(&state).map_err(|e| self.corrupt(e.to_string()))?;
        std::fs::write(self.dir.join("state.json"), json).map_err(|e| self.io(e))
    }

    /// The saved network, optimizer state and epochs done, if a matching checkpoint exists.
    pub(crate) fn resume(
        &self,
        model: &Model,
        device: &Device,
    ) -> Result<Option<(Network, OptimizerRecord, usize)>, NnError> {
        let Ok(bytes) = std::fs::read(self.dir.join("state.json")) else {
            return Ok(None);
        };
        let state: State = serde_json::from_slice(&bytes).map_err(|e| self.corrupt(e.to_string()))?;
        if state.model.is_empty() {
            tracing::warn!(
                dir = %self.dir.display(),
                "checkpoint written by an older mown that did not record its model and data; starting afresh"
            );
            return Ok(None);
        }
        if state.config != self.config || state.model != model_identity(model) || state.data != self.data {
            tracing::warn!(
                dir = %self.dir.display(),
                "checkpoint belongs to another configuration, model or dataset; starting afresh"
            );
            return Ok(None);
        }
        let net = model
            .net
            .clone()
            .try_load_file(self.dir.join("model.bpk"))
            .map_err(|e| self.corrupt(format!("{e:?}")))?
            .fork(device);
        let record =
            OptimizerRecord::load(self.dir.join("optimizer.bpk")).map_err(|e| self.corrupt(format!("{e:?}")))?;
        Ok(Some((net, record, state.epochs_done)))
    }
}
