//! What fingerprints and watermark keys have in common: a set of probe images and the labels an
//! owner-derived model gives them. Both are verified the same way, by the suspect's agreement
//! with those labels through labels-only queries, so `mown verify` has one code path for both.

use mown_access::QueryModel;
use mown_data::ImageShape;
use serde::{Deserialize, Serialize};

use crate::MethodError;

/// Images per verification query.
pub const VERIFY_BATCH: usize = 256;

/// The probe images and the labels a copy of the owner's model is expected to give.
pub struct Probe<'a> {
    pub images: &'a [f32],
    pub labels: &'a [usize],
    pub shape: ImageShape,
    pub num_classes: usize,
}

/// A suspect's agreement with a probe (matching rate for fingerprints, watermark accuracy for
/// trigger sets).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MatchResult {
    pub matches: usize,
    pub n: usize,
    pub matching_rate: f64,
    pub queries: usize,
}

/// Ownership evidence the owner holds: a fingerprint file or a watermark key.
pub trait Evidence {
    /// The method as reports name it ("ipguard-TL", "margin-watermark", ...).
    fn method(&self) -> String;
    /// SHA-256 of the owner's weights the evidence belongs to.
    fn owner_sha256(&self) -> &str;
    fn probe(&self) -> Probe<'_>;
    /// The rate an independent model reaches by chance when the method defines one (a random
    /// wrong trigger label: 1/(C-1), seed 004); `None` when only independent models can tell.
    fn chance_rate(&self) -> Option<f64> {
        None
    }
    /// How many of the expected labels the suspect reproduces.
    fn match_suspect(&self, suspect: &mut dyn QueryModel) -> Result<MatchResult, MethodError> {
        match_probe(&self.probe(), suspect)
    }
}

/// Queries `suspect` for the probe's labels (in batches of [`VERIFY_BATCH`]) and counts matches.
pub fn match_probe(probe: &Probe<'_>, suspect: &mut dyn QueryModel) -> Result<MatchResult, MethodError> {
    if suspect.input_shape() != probe.shape {
        return Err(MethodError::Mismatch(format!(
            "{} takes {:?} images, the evidence has {:?}",
            suspect.describe(),
            suspect.input_shape(),
            probe.shape
        )));
    }
    if suspect.num_classes() != probe.num_classes {
        return Err(MethodError::Mismatch(format!(
            "{} has {} classes, the owner {}",
            suspect.describe(),
            suspect.num_classes(),
            probe.num_classes
        )));
    }
    let numel = probe.shape.numel();
    let n = probe.labels.len();
    if n == 0 || probe.images.len() != n * numel {
        return Err(MethodError::BadParameter(format!("{} probe values for {n} labels", probe.images.len())));
    }
    let before = suspect.queries_used();
    let mut matches = 0;
    for (start, chunk) in (0..n).step_by(VERIFY_BATCH).zip(probe.images.chunks(VERIFY_BATCH * numel)) {
        let got = suspect.labels(chunk)?;
        if got.len() * numel != chunk.len() {
            return Err(MethodError::Mismatch(format!(
                "{} answered {} labels for {} images",
                suspect.describe(),
                got.len(),
                chunk.len() / numel
            )));
        }
        matches += got.iter().zip(&probe.labels[start..]).filter(|(a, b)| a == b).count();
    }
    Ok(MatchResult { matches, n, matching_rate: matches as f64 / n as f64, queries: suspect.queries_used() - before })
}

/// Writes an evidence file as JSON; the error says why, for the caller to name the file kind.
pub(crate) fn write_json<T: Serialize>(value: &T, path: &std::path::Path) -> Result<(), String> {
    let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    std::fs::write(path, json).map_err(|e| e.to_string())
}

/// Reads an evidence file written by [`write_json`]; `what` names the expected kind in the error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path, what: &str) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a {what}: {e}"))
}
