//! ONNX files on both sides of a dispute: a suspect shipped as an `.onnx` file (for instance
//! exported from PyTorch) answers queries through tract, pure Rust like the rest of mown; and
//! `export_onnx` writes a mown model as ONNX, so that the owner can ship or serve it in the
//! format suspects come in, and so that the suspect side is tested on real files.

mod export;
mod suspect;

pub use export::{ExportSummary, export_onnx, onnx_bytes};
pub use suspect::OnnxModel;

use std::path::Path;

use mown_data::ImageShape;

use crate::{AccessError, AccessLevel};

/// What the model's (single) output holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnnxOutput {
    /// Raw scores; softmax is applied (what PyTorch exports and mown's own exports give).
    #[default]
    Logits,
    /// Already probabilities; used as given. Explicit rather than guessed from row sums, which
    /// would misread logits that happen to sum to 1.
    Probabilities,
}

/// How to open an ONNX suspect. The defaults read everything from the graph.
#[derive(Clone, Debug)]
pub struct OnnxOptions {
    /// Input (C, H, W); needed only when the file leaves them symbolic. Must agree with the file
    /// where the file fixes them.
    pub input_shape: Option<ImageShape>,
    /// Class count; needed only when the file leaves it symbolic.
    pub classes: Option<usize>,
    pub output: OnnxOutput,
    /// The most the suspect reveals.
    pub level: AccessLevel,
    /// Images that may be asked about (None: unlimited).
    pub budget: Option<usize>,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        Self {
            input_shape: None,
            classes: None,
            output: OnnxOutput::Logits,
            level: AccessLevel::Probabilities,
            budget: None,
        }
    }
}

/// Opens an ONNX classifier as a suspect. The model must take NCHW f32 pixels in [0, 1], i.e.
/// include whatever preprocessing its exporter applied before the network (mown's exports do).
pub fn open_onnx(path: impl AsRef<Path>, opts: OnnxOptions) -> Result<OnnxModel, AccessError> {
    OnnxModel::open(path.as_ref(), opts)
}

/// An error about an ONNX file, naming it.
pub(crate) fn file_error(path: &Path, problem: impl std::fmt::Display) -> AccessError {
    AccessError::Suspect(format!("ONNX file {}: {problem}", path.display()))
}
