//! Small burn modules (the meta-classifier, dataset inference's confidence model, the UAP
//! encoder) travel inside evidence files as safetensors bytes with their configuration as JSON
//! under one metadata key, the header's only entry, so that equal weights give equal bytes to
//! hash. One writer and one checked reader for all of them.

use burn::module::Module;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::NnError;
use crate::seed::SeedLock;

/// `net`'s weights as safetensors with `config` as JSON under `key`.
pub fn to_bytes<M: Module + ModuleSnapshot, C: Serialize>(
    net: &M,
    key: &str,
    config: &C,
    what: &str,
) -> Result<Vec<u8>, NnError> {
    let json = serde_json::to_string(config).map_err(|e| corrupt(what, e.to_string()))?;
    let mut store = SafetensorsStore::from_bytes(None).clear_metadata().metadata(key, json);
    net.save_into(&mut store).map_err(|e| corrupt(what, format!("{e:?}")))?;
    store.get_bytes().map_err(|e| corrupt(what, format!("{e:?}")))
}

/// Reads [`to_bytes`]' output: the configuration under `key`, then `build`'s skeleton for it
/// (built under a held seed lock, so that its throwaway initial values do not disturb seeded runs
/// elsewhere) loaded with every tensor checked against its stored shape. `what` names the module
/// in errors.
pub fn from_bytes<M: Module + ModuleSnapshot, C: DeserializeOwned>(
    bytes: &[u8],
    key: &str,
    what: &str,
    build: impl FnOnce(&C, &Device) -> Result<M, NnError>,
) -> Result<(C, M), NnError> {
    let (_, header) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| corrupt(what, format!("bad safetensors: {e}")))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(key))
        .ok_or_else(|| corrupt(what, format!("no '{key}' metadata: not a mown {what}")))?;
    let config: C = serde_json::from_str(json).map_err(|e| corrupt(what, format!("bad config: {e}")))?;
    let device = Device::flex();
    let mut net = {
        let _lock = SeedLock::acquire(&device, 0);
        build(&config, &device)?
    };
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec())).validate(true).allow_partial(false);
    let result = net.load_from(&mut store).map_err(|e| corrupt(what, format!("{e:?}")))?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(corrupt(
            what,
            format!(
                "tensors do not fit the configuration: errors {:?}, missing {:?}, unused {:?}",
                result.errors, result.missing, result.unused
            ),
        ));
    }
    Ok((config, net))
}

fn corrupt(what: &str, reason: String) -> NnError {
    NnError::CorruptModel { path: format!("<{what}>").into(), reason }
}
