//! One error type for every loader, so the CLI can print a single clear line
//! that names the offending file and what was wrong with it.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while loading or transforming a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file system refused an operation on `path`.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A binary file does not start with the magic number of its format.
    #[error("{}: bad magic number: expected {expected:#010x}, found {found:#010x}", .path.display())]
    BadMagic { path: PathBuf, expected: u32, found: u32 },
    /// A binary file ends before its header says it should.
    #[error(
        "{}: file is truncated or incomplete: expected {expected_bytes} bytes, found {found_bytes}",
        .path.display()
    )]
    Truncated { path: PathBuf, expected_bytes: u64, found_bytes: u64 },
    /// An image file and its label file disagree on the number of examples.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        .images_path.display(), .labels_path.display()
    )]
    CountMismatch { images_path: PathBuf, labels_path: PathBuf, images: usize, labels: usize },
    /// A label is not a valid class index.
    #[error("{what}: label {label} is out of range for {num_classes} classes")]
    LabelOutOfRange { what: String, label: usize, num_classes: usize },
    /// Something that must hold at least one example holds none.
    #[error("{what} is empty")]
    Empty { what: String },
    /// Sizes that must agree do not (image sizes, buffer lengths, channels).
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    ShapeMismatch { what: String, expected: String, found: String },
    /// A data set is not where we looked; `hint` says how to get it.
    #[error("{what} not found; {hint}")]
    NotFound { what: String, hint: String },
    /// A text or image file could not be understood.
    #[error("cannot parse {}: {msg}", .path.display())]
    Parse { path: PathBuf, msg: String },
    /// A NaN or infinity where pixel values or statistics are expected.
    #[error("{what}: non-finite value at index {index}")]
    NonFinite { what: String, index: usize },
    /// A caller passed an argument outside its documented domain.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn parse(path: &Path, msg: impl Into<String>) -> Self {
        DataError::Parse { path: path.to_path_buf(), msg: msg.into() }
    }
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}
