use std::path::PathBuf;

/// Everything that can go wrong building, loading, running or training a model. Each variant
/// names the file or value at fault, because these reach a person deciding an ownership dispute.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    #[error("unknown architecture '{name}' (known: {known})")]
    UnknownArch { name: String, known: String },
    #[error("invalid model specification: {0}")]
    BadSpec(String),
    #[error("input has wrong shape: {0}")]
    BadInput(String),
    #[error("input contains NaN or infinite values ({count} of {total})")]
    NonFinite { count: usize, total: usize },
    /// A model answered NaN or infinity: its weights are broken, and any label read from such an
    /// answer (argmax of NaNs is class 0) would be a silent wrong verdict.
    #[error("model output contains NaN or infinite values ({count} of {total}): are its weights corrupt?")]
    NonFiniteOutput { count: usize, total: usize },
    #[error("cannot read model file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid mown model file: {reason}")]
    CorruptModel { path: PathBuf, reason: String },
    #[error("{path}: weights do not match architecture {arch}: {reason}")]
    WeightMismatch { path: PathBuf, arch: String, reason: String },
    #[error("{path}: weights hash {found} differs from the {expected} recorded in its metadata (file modified?)")]
    HashMismatch { path: PathBuf, expected: String, found: String },
    #[error("training diverged: loss became {loss} at epoch {epoch}, batch {batch}")]
    Diverged { epoch: usize, batch: usize, loss: f32 },
    #[error("training stopped at epoch {epoch}, batch {batch}: {reason}")]
    ObjectiveFailed { epoch: usize, batch: usize, reason: String },
    #[error("invalid training configuration: {0}")]
    BadTrainConfig(String),
    #[error("device '{0}' is not available: {1}")]
    DeviceUnavailable(String, String),
    #[error(transparent)]
    Data(#[from] mown_data::DataError),
}
