//! Model files: one safetensors file holding the weights, with the JSON `ModelMeta` under the
//! header metadata key `mown`. One file means a model cannot lose its normalisation or class
//! names; the SHA-256 of the weights inside the metadata lets `load` detect edited weights.
//!
//! An imported model's graph sits in the metadata, and is as much the model as its weights:
//! its `weights_sha256` is the SHA-256 of the weights hash and the graph's JSON together
//! ([`model_hash`]), so that editing either changes the model's identity.

use std::path::Path;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use safetensors::SafeTensors;
use sha2::{Digest, Sha256};

use crate::NnError;
use crate::model::{Model, ModelMeta};
use crate::models::Network;
use crate::seed::SeedLock;

/// Header metadata key of the JSON `ModelMeta`.
pub const META_KEY: &str = "mown";

/// Serialises a model (evaluation snapshot, so BatchNorm running statistics are current).
pub fn to_bytes(model: &Model) -> Result<(Vec<u8>, ModelMeta), NnError> {
    let eval = model.net.valid();
    let plain = write_store(&eval, None)?;
    let mut meta = model.meta.clone();
    let weights = weights_sha256(&plain).map_err(|reason| NnError::CorruptModel { path: "<memory>".into(), reason })?;
    meta.weights_sha256 = model_hash(&weights, &meta);
    let json = serde_json::to_string(&meta).map_err(|e| NnError::BadSpec(e.to_string()))?;
    Ok((write_store(&eval, Some(json))?, meta))
}

fn write_store(net: &Network, meta_json: Option<String>) -> Result<Vec<u8>, NnError> {
    let mut store = SafetensorsStore::from_bytes(None);
    if let Some(json) = meta_json {
        store = store.metadata(META_KEY, json);
    }
    let fail = |e: String| NnError::CorruptModel { path: "<memory>".into(), reason: e };
    net.save_into(&mut store).map_err(|e| fail(format!("{e:?}")))?;
    store.get_bytes().map_err(|e| fail(format!("{e:?}")))
}

/// Writes `model` to `path` (atomically: a temporary file renamed into place). Returns the
/// metadata as written, including the weights hash.
pub fn save(model: &Model, path: &Path) -> Result<ModelMeta, NnError> {
    let (bytes, meta) = to_bytes(model)?;
    let io = |source| NnError::Io { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("safetensors.partial");
    std::fs::write(&tmp, &bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(meta)
}

/// Reads only the metadata of a model file (cheap; for `mown info`).
pub fn read_meta(path: &Path) -> Result<ModelMeta, NnError> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io { path: path.to_path_buf(), source })?;
    meta_from_bytes(&bytes, path)
}

fn meta_from_bytes(bytes: &[u8], path: &Path) -> Result<ModelMeta, NnError> {
    let corrupt = |reason: String| NnError::CorruptModel { path: path.to_path_buf(), reason };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(format!("bad safetensors header: {e}")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| corrupt(format!("no '{META_KEY}' metadata: not written by mown")))?;
    let meta: ModelMeta = serde_json::from_str(json).map_err(|e| corrupt(format!("bad metadata JSON: {e}")))?;
    if meta.format_version != crate::model::FORMAT_VERSION {
        return Err(corrupt(format!("unsupported format version {}", meta.format_version)));
    }
    meta.validate().map_err(|e| corrupt(format!("bad metadata: {e}")))?;
    Ok(meta)
}

/// Loads a model onto `device`, checking the header, the weights hash and that every tensor
/// matches the architecture recorded in the metadata.
pub fn load(path: &Path, device: &Device) -> Result<Model, NnError> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io { path: path.to_path_buf(), source })?;
    from_bytes(bytes, path, device)
}

pub fn from_bytes(bytes: Vec<u8>, path: &Path, device: &Device) -> Result<Model, NnError> {
    let mut meta = meta_from_bytes(&bytes, path)?;
    let weights =
        weights_sha256(&bytes).map_err(|reason| NnError::CorruptModel { path: path.to_path_buf(), reason })?;
    let found = model_hash(&weights, &meta);
    if !meta.weights_sha256.is_empty() && meta.weights_sha256 != found {
        return Err(NnError::HashMismatch { path: path.to_path_buf(), expected: meta.weights_sha256, found });
    }
    meta.weights_sha256 = found;
    let mismatch =
        |reason: String| NnError::WeightMismatch { path: path.to_path_buf(), arch: meta.spec.arch.to_string(), reason };
    let mut net = {
        // Building the skeleton draws random init values: hold the RNG so a concurrent seeded
        // run elsewhere in the process is not perturbed.
        let _lock = SeedLock::acquire(device, 0);
        Network::from_meta(&meta, device).map_err(|e| mismatch(e.to_string()))?
    };
    load_weights(&mut net, bytes).map_err(mismatch)?;
    Ok(Model { meta, net })
}

/// Loads the tensors of safetensors `bytes` (burn's names) into `net`: every tensor the network
/// has must be there with its shape, and the file may hold no other.
pub(crate) fn load_weights(net: &mut Network, bytes: Vec<u8>) -> Result<(), String> {
    let mut store = SafetensorsStore::from_bytes(Some(bytes)).validate(true).allow_partial(false);
    let result = net.load_from(&mut store).map_err(|e| format!("{e:?}"))?;
    if !result.errors.is_empty() {
        return Err(format!("{:?}", result.errors));
    }
    if !result.missing.is_empty() {
        let names: Vec<_> = result.missing.iter().map(|(n, _)| n.as_str()).collect();
        return Err(format!("tensors missing from file: {}", names.join(", ")));
    }
    if !result.unused.is_empty() {
        return Err(format!("file has tensors the architecture lacks: {}", result.unused.join(", ")));
    }
    Ok(())
}

/// SHA-256 over the weight tensors in name order (name, dtype, shape, bytes), independent of the
/// header metadata, so it identifies the weights themselves.
pub fn weights_sha256(bytes: &[u8]) -> Result<String, String> {
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| format!("bad safetensors data: {e}"))?;
    let mut names: Vec<String> = tensors.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    let mut hasher = Sha256::new();
    for name in names {
        let view = tensors.tensor(&name).map_err(|e| format!("tensor {name}: {e}"))?;
        hasher.update(name.as_bytes());
        hasher.update(format!("{:?}{:?}", view.dtype(), view.shape()).as_bytes());
        hasher.update(view.data());
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A model's identity from its weights hash ([`weights_sha256`]): that hash itself for mown's
/// architectures, and for an imported model the SHA-256 of it followed by the graph's JSON.
pub fn model_hash(weights_sha256: &str, meta: &ModelMeta) -> String {
    match &meta.graph {
        None => weights_sha256.to_string(),
        Some(graph) => {
            let mut hasher = Sha256::new();
            hasher.update(weights_sha256.as_bytes());
            hasher.update(serde_json::to_vec(graph).unwrap_or_default());
            hex::encode(hasher.finalize())
        }
    }
}

/// The identity of the model in a file's bytes ([`model_hash`]), without loading it.
pub fn file_sha256(bytes: &[u8], path: &Path) -> Result<String, NnError> {
    let meta = meta_from_bytes(bytes, path)?;
    let weights = weights_sha256(bytes).map_err(|reason| NnError::CorruptModel { path: path.to_path_buf(), reason })?;
    Ok(model_hash(&weights, &meta))
}

/// SHA-256 of the weights of an in-memory model (what fingerprint files record).
pub fn model_sha256(model: &Model) -> Result<String, NnError> {
    Ok(to_bytes(model)?.1.weights_sha256)
}
