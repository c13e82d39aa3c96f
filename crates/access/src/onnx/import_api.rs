//! The public side of the ONNX import: options (layout, value range, normalisation, class
//! names) and the resulting mown model with its provenance.

use std::path::Path;
use std::str::FromStr;

use mown_data::{ImageShape, Normalization};
use mown_nn::burn::prelude::Device;
use mown_nn::models::{GraphNet, Network};
use mown_nn::{Arch, Model, ModelMeta, ModelSpec};
use prost::Message;
use sha2::{Digest, Sha256};
use tract_onnx::pb::ModelProto;

use super::import::{Layout, translate};
use crate::AccessError;

impl FromStr for Layout {
    type Err = AccessError;
    fn from_str(s: &str) -> Result<Self, AccessError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nchw" => Ok(Layout::Nchw),
            "nhwc" => Ok(Layout::Nhwc),
            other => Err(AccessError::BadRequest(format!("unknown layout '{other}' (nchw, nhwc)"))),
        }
    }
}

/// How the imported network expects its input. mown feeds every model NCHW pixels in [0, 1];
/// the network sees `(pixel * input_range - mean) / std`, recorded as the model's
/// normalisation (mean / input_range, std / input_range), so every later step feeds it pixels
/// as usual.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub layout: Layout,
    /// 1 (the network takes values in [0, 1]) or 255 (in [0, 255]).
    pub input_range: f32,
    /// Per channel, or one value for all (default 0).
    pub mean: Option<Vec<f32>>,
    /// Per channel, or one value for all (default 1).
    pub std: Option<Vec<f32>>,
    /// Class names (their count must match the graph's); default "0", "1", ...
    pub class_names: Option<Vec<String>>,
    /// The input's (C, H, W) where the file leaves them symbolic; must agree where it fixes them.
    pub input_shape: Option<ImageShape>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { layout: Layout::Nchw, input_range: 1.0, mean: None, std: None, class_names: None, input_shape: None }
    }
}

/// An imported model and where it came from.
pub struct Imported {
    /// Its metadata's `weights_sha256` is set (the hash covers the graph too).
    pub model: Model,
    /// SHA-256 of the ONNX file.
    pub onnx_sha256: String,
}

/// The normalisation recorded for a network that takes `(value * input_range - mean) / std` per
/// channel, of mown's pixels in [0, 1]: mean / input_range and std / input_range. `mean` and `std`
/// hold one value for all channels or one per channel (defaults 0 and 1), in the input range's
/// units. Shared by the ONNX import and the PyTorch state_dict import.
pub fn input_normalization(
    channels: usize,
    input_range: f32,
    mean: Option<&[f32]>,
    std: Option<&[f32]>,
) -> Result<Normalization, AccessError> {
    if !(input_range.is_finite() && input_range > 0.0) {
        return Err(AccessError::BadRequest(format!("input range {input_range}")));
    }
    let per_channel = |v: Option<&[f32]>, default: f32, what: &str| -> Result<Vec<f32>, AccessError> {
        let values = match v {
            None => vec![default; channels],
            Some([x]) => vec![*x; channels],
            Some(v) if v.len() == channels => v.to_vec(),
            Some(v) => {
                return Err(AccessError::BadRequest(format!("{} {what} values for {channels} channels", v.len())));
            }
        };
        Ok(values.iter().map(|x| x / input_range).collect())
    };
    Normalization::new(per_channel(mean, 0.0, "mean")?, per_channel(std, 1.0, "std")?)
        .map_err(|e| AccessError::BadRequest(e.to_string()))
}

fn fail(reason: impl std::fmt::Display) -> AccessError {
    AccessError::Import(reason.to_string())
}

/// Imports the ONNX classifier in `path` (see [`import_onnx_bytes`]).
pub fn import_onnx(path: &Path, opts: &ImportOptions, device: &Device) -> Result<Imported, AccessError> {
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    import_onnx_bytes(&bytes, opts, device).map_err(|e| match e {
        AccessError::Import(m) => fail(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Imports an ONNX image classifier: its graph and weights become a mown model (architecture
/// `imported`, derivation `import(sha256=<first 16 hex digits of the file's SHA-256>)`).
pub fn import_onnx_bytes(bytes: &[u8], opts: &ImportOptions, device: &Device) -> Result<Imported, AccessError> {
    let proto = ModelProto::decode(bytes).map_err(|e| fail(format!("not an ONNX model: {e}")))?;
    let sha = hex::encode(Sha256::digest(bytes));
    let t = translate(&proto, opts.layout, opts.input_shape).map_err(fail)?;
    let c = t.input.channels;
    let normalization = input_normalization(c, opts.input_range, opts.mean.as_deref(), opts.std.as_deref())?;
    let range = opts.input_range;
    let names = match &opts.class_names {
        Some(names) if names.len() != t.classes => {
            return Err(AccessError::BadRequest(format!(
                "{} class names for a model with {} outputs",
                names.len(),
                t.classes
            )));
        }
        Some(names) => names.clone(),
        None => (0..t.classes).map(|k| k.to_string()).collect(),
    };
    let spec = ModelSpec::new(Arch::Imported, t.input, t.classes)?;
    let source = t.def.source.clone();
    let mut meta = ModelMeta::with_graph(spec, normalization, names, Some(t.def.clone()))?;
    meta.provenance.derivation = format!("import(sha256={})", &sha[..16]);
    meta.provenance.details = serde_json::json!({
        "onnx_sha256": sha,
        "source": source,
        "input_range": range,
        "mean": opts.mean,
        "std": opts.std,
    });
    let net = GraphNet::new(t.def, t.params, t.buffers, device)?;
    let mut model = Model { meta, net: Network::Graph(net) };
    model.meta.weights_sha256 = mown_nn::io::model_sha256(&model)?;
    Ok(Imported { model, onnx_sha256: sha })
}
