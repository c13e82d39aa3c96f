//! The optimizer a `train(...)` step names (`opt=`): seed 003's homologous models vary it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The optimizers a `train` step may name (`opt=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainOptimizer {
    Sgd,
    Adam,
    Rmsprop,
}

impl TrainOptimizer {
    /// The optimizer and its learning rate: SGD keeps the training default's; Adam and RMSprop
    /// take PyTorch's usual 1e-3 (the SGD default 0.05 diverges with them).
    pub fn apply(self, cfg: &mut mown_nn::TrainConfig) {
        match self {
            TrainOptimizer::Sgd => cfg.optimizer = mown_nn::OptimizerKind::Sgd { momentum: 0.9, nesterov: false },
            TrainOptimizer::Adam => {
                cfg.optimizer = mown_nn::OptimizerKind::Adam;
                cfg.lr = 1e-3;
            }
            TrainOptimizer::Rmsprop => {
                cfg.optimizer = mown_nn::OptimizerKind::RmsProp;
                cfg.lr = 1e-3;
            }
        }
    }
}

impl fmt::Display for TrainOptimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrainOptimizer::Sgd => "sgd",
            TrainOptimizer::Adam => "adam",
            TrainOptimizer::Rmsprop => "rmsprop",
        })
    }
}

impl std::str::FromStr for TrainOptimizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(TrainOptimizer::Sgd),
            "adam" => Ok(TrainOptimizer::Adam),
            "rmsprop" => Ok(TrainOptimizer::Rmsprop),
            other => Err(format!("train: unknown optimizer '{other}' (sgd, adam, rmsprop)")),
        }
    }
}
