//! Ownership evidence: what every method's file has in common, and the one file format they share.
//!
//! Each method's evidence declares what it needs from a suspect ([`Evidence::requires`]: labels,
//! top-k, probabilities) and returns a [`Measurement`]: counts (k of n probes answered as the
//! owner's model answers them: IPGuard, watermarks) or per-sample scores (similarities,
//! distances: UAP, near-boundary). `verify::verify` opens nothing itself: it checks the suspect's
//! access level against the requirement, measures the suspect and the independent models, and
//! hands the measurements to `mown_eval::decide`.
//!
//! On disk every kind is one JSON object with a `kind` tag ([`EvidenceKind`]), so `mown verify
//! --evidence FILE` needs no flag per kind. Files written before the tag existed are recognised by
//! their fields.

use std::path::Path;

use mown_access::{AccessLevel, QueryModel};
use mown_data::ImageShape;
use mown_eval::{Direction, Measurement, MethodTraits, Resampling};
use serde::{Deserialize, Serialize};

use crate::{Fingerprint, MethodError, WatermarkKey};

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

/// What a method measured on one suspect, and what it cost.
#[derive(Clone, Debug)]
pub struct Measured {
    pub measurement: Measurement,
    /// Images sent to the suspect.
    pub queries: usize,
    /// Method-specific extras for the verdict.
    pub details: serde_json::Value,
}

/// The kinds of evidence file mown writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    Fingerprint,
    WatermarkKey,
    UapFingerprint,
    SacFingerprint,
    AkhFingerprint,
    NearBoundary,
    #[serde(rename = "extfeat-key")]
    ExtFeatKey,
    DatasetInference,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 8] = [
        EvidenceKind::Fingerprint,
        EvidenceKind::WatermarkKey,
        EvidenceKind::UapFingerprint,
        EvidenceKind::SacFingerprint,
        EvidenceKind::AkhFingerprint,
        EvidenceKind::NearBoundary,
        EvidenceKind::ExtFeatKey,
        EvidenceKind::DatasetInference,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::Fingerprint => "fingerprint",
            EvidenceKind::WatermarkKey => "watermark-key",
            EvidenceKind::UapFingerprint => "uap-fingerprint",
            EvidenceKind::SacFingerprint => "sac-fingerprint",
            EvidenceKind::AkhFingerprint => "akh-fingerprint",
            EvidenceKind::NearBoundary => "near-boundary",
            EvidenceKind::ExtFeatKey => "extfeat-key",
            EvidenceKind::DatasetInference => "dataset-inference",
        }
    }
}

/// Ownership evidence the owner holds.
pub trait Evidence {
    fn kind(&self) -> EvidenceKind;
    /// The method as reports name it ("ipguard-TL", "margin-watermark", ...).
    fn method(&self) -> String;
    /// SHA-256 of the owner's weights the evidence belongs to.
    fn owner_sha256(&self) -> &str;
    /// What the suspect must reveal for [`Evidence::measure`].
    fn requires(&self) -> AccessLevel {
        AccessLevel::Labels
    }
    /// Which way a copy's score goes.
    fn direction(&self) -> Direction {
        Direction::Higher
    }
    /// The rate an independent model reaches by chance when the method defines one (a random
    /// wrong trigger label: 1/(C-1), seed 004); `None` when only independent models can tell.
    fn chance_rate(&self) -> Option<f64> {
        None
    }
    /// Repeated draws for a samples test (seed 003: 20 fingerprints, 30 repetitions).
    fn resampling(&self) -> Option<Resampling> {
        None
    }
    /// The input shape and class count a suspect must have.
    fn task(&self) -> (ImageShape, usize);
    /// Measures a suspect.
    fn measure(&self, suspect: &mut dyn QueryModel) -> Result<Measured, MethodError>;
    /// Writes the evidence file (with its kind tag) to `path`.
    fn write(&self, path: &Path) -> Result<(), MethodError>;
    /// SHA-256s of the models a part of the verifier was fitted on (e.g. UAP's encoder): they are
    /// neither suspects nor negatives.
    fn reference_models(&self) -> Vec<String> {
        Vec::new()
    }
    /// Warnings the evidence carries into every verdict (an owner that does not hold its
    /// watermark, an IPGuard fingerprint whose points did not converge).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// The artefacts a verdict depends on besides the evidence file itself, as (name, SHA-256),
    /// for claims to pin.
    fn artefacts(&self) -> Vec<(String, String)> {
        vec![("owner weights".into(), self.owner_sha256().to_string())]
    }
    /// The one architecture this evidence can measure (white-box methods whose features live in
    /// the owner's parameter space); None: any model of the task.
    fn architecture(&self) -> Option<String> {
        None
    }
    /// What `mown_eval::decide` needs to know about the method.
    fn traits(&self) -> MethodTraits {
        MethodTraits {
            method: self.method(),
            direction: self.direction(),
            chance_rate: self.chance_rate(),
            architecture: self.architecture(),
        }
    }
}

/// Evidence made of probe images and the labels a copy gives them (fingerprints, trigger sets).
pub trait LabelProbe {
    fn probe(&self) -> Probe<'_>;
    /// How many of the expected labels the suspect reproduces.
    fn match_suspect(&self, suspect: &mut dyn QueryModel) -> Result<MatchResult, MethodError> {
        match_probe(&self.probe(), suspect)
    }
}

/// The counts measurement of a label probe.
pub(crate) fn measure_probe(probe: &dyn LabelProbe, suspect: &mut dyn QueryModel) -> Result<Measured, MethodError> {
    let m = probe.match_suspect(suspect)?;
    Ok(Measured {
        measurement: Measurement::Counts { matches: m.matches, n: m.n },
        queries: m.queries,
        details: serde_json::json!({ "matches": m.matches, "probes": m.n }),
    })
}

/// Checks that `suspect` takes the evidence's images and has its classes.
pub fn check_task(suspect: &dyn QueryModel, shape: ImageShape, classes: usize) -> Result<(), MethodError> {
    if suspect.input_shape() != shape {
        return Err(MethodError::Mismatch(format!(
            "{} takes {:?} images, the evidence has {:?}",
            suspect.describe(),
            suspect.input_shape(),
            shape
        )));
    }
    if suspect.num_classes() != classes {
        return Err(MethodError::Mismatch(format!(
            "{} has {} classes, the owner {}",
            suspect.describe(),
            suspect.num_classes(),
            classes
        )));
    }
    Ok(())
}

/// Queries `suspect` for the probe's labels (in batches of [`VERIFY_BATCH`]) and counts matches.
pub fn match_probe(probe: &Probe<'_>, suspect: &mut dyn QueryModel) -> Result<MatchResult, MethodError> {
    check_task(suspect, probe.shape, probe.num_classes)?;
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

/// A model's answers on `images` at `level`, as rows of C values: probabilities as given, top-k
/// with the missing classes 0 (the rest of the mass is not guessed: seed 003's ablation leaves the
/// rule open), labels one-hot. Queried in batches of [`VERIFY_BATCH`]; a wrong count or a NaN is
/// an error naming the model.
pub(crate) fn answer_rows(
    model: &mut dyn QueryModel,
    level: AccessLevel,
    images: &[f32],
    numel: usize,
) -> Result<Vec<f32>, MethodError> {
    let classes = model.num_classes();
    let mut out = Vec::with_capacity(images.len() / numel.max(1) * classes);
    for chunk in images.chunks(VERIFY_BATCH * numel) {
        let got = match model.query(chunk, level)? {
            mown_access::Answer::TopK(rows) => {
                let mut out = vec![0.0; rows.len() * classes];
                for (i, row) in rows.iter().enumerate() {
                    for &(c, p) in row.iter().filter(|(c, _)| *c < classes) {
                        out[i * classes + c] = p;
                    }
                }
                out
            }
            other => other.soft_labels(classes),
        };
        if got.len() * numel != chunk.len() * classes || got.iter().any(|p| !p.is_finite()) {
            return Err(MethodError::Mismatch(format!(
                "{} answered {} values for {} images of {classes} classes",
                model.describe(),
                got.len(),
                chunk.len() / numel
            )));
        }
        out.extend(got);
    }
    Ok(out)
}

/// An evidence file of a method whose errors are all [`MethodError::BadEvidence`]: its kind and
/// its consistency checks, from which [`save_file`] and [`load_file`] follow.
pub(crate) trait EvidenceFile: Serialize + serde::de::DeserializeOwned {
    const KIND: EvidenceKind;
    fn validate(&self) -> Result<(), String>;
}

/// Validates `value` and writes it with its kind tag.
pub(crate) fn save_file<T: EvidenceFile>(value: &T, path: &Path) -> Result<(), MethodError> {
    let bad = |reason: String| MethodError::BadEvidence { path: path.to_path_buf(), reason };
    value.validate().map_err(bad)?;
    write_json(value, T::KIND, path).map_err(bad)
}

/// Reads a file of kind `T::KIND` and validates it.
pub(crate) fn load_file<T: EvidenceFile>(path: &Path) -> Result<T, MethodError> {
    let bad = |reason: String| MethodError::BadEvidence { path: path.to_path_buf(), reason };
    let value: T = read_json(path, T::KIND).map_err(bad)?;
    value.validate().map_err(bad)?;
    Ok(value)
}

/// Writes an evidence file as JSON with its `kind` tag; the error says why, for the caller to
/// name the file kind.
pub(crate) fn write_json<T: Serialize>(value: &T, kind: EvidenceKind, path: &Path) -> Result<(), String> {
    let mut json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    if let Some(map) = json.as_object_mut() {
        map.insert("kind".into(), serde_json::Value::String(kind.name().into()));
    }
    let bytes = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| e.to_string())
}

/// Reads an evidence file written by [`write_json`]; `what` names the expected kind in the error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path, kind: EvidenceKind) -> Result<T, String> {
    let json = read_value(path)?;
    let found = kind_of(&json)?;
    if found != kind {
        return Err(format!("is a {} file, not a {}", found.name(), kind.name()));
    }
    serde_json::from_value(json).map_err(|e| format!("not a valid {}: {e}", kind.name()))
}

fn read_value(path: &Path) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    if !json.is_object() {
        return Err("not an evidence file (expected a JSON object)".into());
    }
    Ok(json)
}

/// The file's kind: its tag, or for untagged files of mown before the tag, its fields.
fn kind_of(json: &serde_json::Value) -> Result<EvidenceKind, String> {
    match json.get("kind") {
        Some(tag) => serde_json::from_value(tag.clone()).map_err(|_| {
            format!("unknown evidence kind {tag} (known: {})", EvidenceKind::ALL.map(EvidenceKind::name).join(", "))
        }),
        None if json.get("triggers").is_some() => Ok(EvidenceKind::WatermarkKey),
        None if json.get("points").is_some() => Ok(EvidenceKind::Fingerprint),
        None => Err("not an evidence file: no \"kind\" tag".into()),
    }
}

/// Opens any evidence file by its kind tag.
pub fn load(path: &Path) -> Result<Box<dyn Evidence>, MethodError> {
    let kind = kind_of(&read_value(path).map_err(|reason| MethodError::BadEvidence { path: path.into(), reason })?)
        .map_err(|reason| MethodError::BadEvidence { path: path.into(), reason })?;
    Ok(match kind {
        EvidenceKind::Fingerprint => Box::new(Fingerprint::load(path)?),
        EvidenceKind::WatermarkKey => Box::new(WatermarkKey::load(path)?),
        EvidenceKind::UapFingerprint => Box::new(crate::uap::UapFingerprint::load(path)?),
        EvidenceKind::SacFingerprint => Box::new(crate::sac::SacFingerprint::load(path)?),
        EvidenceKind::AkhFingerprint => Box::new(crate::akh::AkhFingerprint::load(path)?),
        EvidenceKind::NearBoundary => Box::new(crate::near_boundary::NearBoundaryEvidence::load(path)?),
        EvidenceKind::ExtFeatKey => Box::new(crate::extfeat::ExtFeatKey::load(path)?),
        EvidenceKind::DatasetInference => Box::new(crate::dataset_inference::DiFingerprint::load(path)?),
    })
}

#[cfg(test)]
mod tests {
    use super::EvidenceKind;

    /// The tag written into files is the name errors and reports print.
    #[test]
    fn every_kind_tag_is_its_name() {
        for kind in EvidenceKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
            assert_eq!(serde_json::from_value::<EvidenceKind>(kind.name().into()).unwrap(), kind);
        }
    }
}
