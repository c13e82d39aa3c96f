//! ONNX files on both sides of a dispute: a suspect shipped as an `.onnx` file (for instance
//! exported from PyTorch) answers queries through tract, pure Rust like the rest of mown; and
//! `export_onnx` writes a mown model as ONNX, so that the owner can ship or serve it in the
//! format suspects come in, and so that the suspect side is tested on real files. Classifiers
//! exported from scikit-learn with skl2onnx (flat feature input, `label` and `probabilities`
//! outputs) are suspects too. `import_onnx` goes further for a model the owner holds: it turns
//! an ONNX image classifier into a differentiable mown model (white-box, trainable).

mod export;
mod export_graph;
mod graph;
mod import;
mod import_api;
mod import_ops;
mod import_util;
mod suspect;

pub use export::{ExportSummary, export_onnx, onnx_bytes};
pub use import::{Layout, SUPPORTED};
pub use import_api::{ImportOptions, Imported, import_onnx, import_onnx_bytes, input_normalization};
pub use suspect::OnnxModel;

use std::path::Path;

use mown_data::ImageShape;

use crate::{AccessError, AccessLevel};

/// How the scores the model outputs are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnnxOutput {
    /// Decided from the file when it is opened: probabilities when the score output comes out of
    /// a Softmax (looking through Identity, Cast, Reshape, Flatten, Squeeze, Unsqueeze and
    /// Dropout), when the file was written by skl2onnx (whose classifiers output
    /// `predict_proba`), or when the output bears the name ML exporters give probabilities
    /// (`probabilities`, `output_probability`); logits otherwise. `OnnxModel::output` tells
    /// which was chosen and `OnnxModel::output_reading` why.
    #[default]
    Auto,
    /// Raw scores; softmax is applied (what PyTorch exports and mown's own exports give). Refused
    /// for an output that comes out of a Softmax, which would be softmaxed twice.
    Logits,
    /// Already probabilities; used as given (every row must sum to 1).
    Probabilities,
}

impl OnnxOutput {
    /// What mown does with the output: "probabilities as given" or "softmax of logits" (for
    /// `Auto`, which is resolved when the file is opened, "decided from the graph").
    pub fn reading(self) -> &'static str {
        match self {
            OnnxOutput::Auto => "decided from the graph",
            OnnxOutput::Logits => "softmax of logits",
            OnnxOutput::Probabilities => "probabilities as given",
        }
    }
}

/// `probs`, `logits` or `auto`, as `--onnx-output` takes them.
impl std::fmt::Display for OnnxOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OnnxOutput::Auto => "auto",
            OnnxOutput::Logits => "logits",
            OnnxOutput::Probabilities => "probs",
        })
    }
}

/// Parses `probs` (or `probabilities`), `logits` or `auto`.
impl std::str::FromStr for OnnxOutput {
    type Err = AccessError;
    fn from_str(s: &str) -> Result<Self, AccessError> {
        match s.trim() {
            "auto" => Ok(OnnxOutput::Auto),
            "logits" => Ok(OnnxOutput::Logits),
            "probs" | "probabilities" => Ok(OnnxOutput::Probabilities),
            other => {
                Err(AccessError::BadRequest(format!("unknown ONNX output reading '{other}' (probs, logits, auto)")))
            }
        }
    }
}

/// How to open an ONNX suspect. The defaults read everything from the graph.
///
/// Two input layouts are accepted: images `[N, C, H, W]`, and flat features `[N, C*H*W]` as
/// scikit-learn models exported with skl2onnx take, which are fed each image flattened
/// row-major (NCHW order: channel, then row, then column; mown's images are stored that way, so
/// this is the image as it is). A flat input does not say the image shape: `input_shape` must
/// then be given, and its C*H*W must equal the feature count.
#[derive(Clone, Debug)]
pub struct OnnxOptions {
    /// Input (C, H, W); needed when the file leaves them symbolic or takes flat features. Must
    /// agree with the file where the file fixes them.
    pub input_shape: Option<ImageShape>,
    /// Class count; needed only when the file leaves it symbolic.
    pub classes: Option<usize>,
    pub output: OnnxOutput,
    /// The graph output holding the scores. None: the only output, or, among several, the one
    /// float output (`[N, classes]`), preferring one named `probabilities` or
    /// `output_probability` when there are several; integer outputs (skl2onnx's `label`) are
    /// ignored.
    pub output_name: Option<String>,
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
            output: OnnxOutput::Auto,
            output_name: None,
            level: AccessLevel::Probabilities,
            budget: None,
        }
    }
}

/// Opens an ONNX classifier as a suspect. The model must take f32 pixels in [0, 1], as NCHW
/// images or flattened (see `OnnxOptions`), i.e. include whatever preprocessing its exporter
/// applied before the network (mown's exports do; a scikit-learn pipeline must include its
/// scaler). Operators tract does not implement are errors naming them.
pub fn open_onnx(path: impl AsRef<Path>, opts: OnnxOptions) -> Result<OnnxModel, AccessError> {
    if opts.level == AccessLevel::WhiteBox {
        return Err(file_error(
            path.as_ref(),
            "mown runs ONNX files as black boxes and cannot give the parameter gradients a white-box method needs",
        ));
    }
    OnnxModel::open(path.as_ref(), opts)
}

/// An error about an ONNX file, naming it.
pub(crate) fn file_error(path: &Path, problem: impl std::fmt::Display) -> AccessError {
    AccessError::Suspect(format!("ONNX file {}: {problem}", path.display()))
}
