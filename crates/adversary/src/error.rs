/// Why an attack or a zoo build failed.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error("invalid derivation chain '{chain}': {reason}")]
    BadChain { chain: String, reason: String },
    #[error("invalid attack parameter: {0}")]
    BadParameter(String),
    #[error("zoo configuration {path}: {reason}")]
    BadZooConfig { path: std::path::PathBuf, reason: String },
    #[error(transparent)]
    Model(#[from] mown_nn::NnError),
    #[error(transparent)]
    Data(#[from] mown_data::DataError),
    #[error(transparent)]
    Access(#[from] mown_access::AccessError),
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}
