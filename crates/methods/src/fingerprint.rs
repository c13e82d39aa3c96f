//! The fingerprint file: points, the owner's labels on them, how they were made, and which model
//! they belong to (SHA-256 of its weights). Verification is the matching rate of a suspect's
//! labels (IPGuard §3.3), shared by IPGuard and its baselines.

use std::path::Path;

use mown_data::ImageShape;
use mown_nn::Model;
use serde::{Deserialize, Serialize};

use crate::MethodError;

pub const FINGERPRINT_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub format_version: u32,
    /// e.g. "ipguard-TL", "cw-l2-TL", "fgsm-TL", "random".
    pub method: String,
    /// Every generation parameter, including the seed.
    pub params: serde_json::Value,
    pub seed: u64,
    pub owner_sha256: String,
    pub owner_derivation: String,
    pub input_shape: ImageShape,
    pub num_classes: usize,
    /// NCHW pixels in [0, 1] (unless the method was told not to clip), `labels.len()` images.
    pub points: Vec<f32>,
    /// The owner's predicted label on each point.
    pub labels: Vec<usize>,
    /// Generation statistics (points that reached zero loss, iterations, seconds).
    #[serde(default)]
    pub stats: serde_json::Value,
    pub producer: String,
}

/// A fingerprinting method: owner model (white-box) + seed images -> fingerprint.
pub trait Fingerprinter {
    /// The method's name as stored in the fingerprint file.
    fn name(&self) -> String;
    /// Generates a fingerprint of `owner`; `seeds` supplies start points for "T" initialisation.
    fn generate(&self, owner: &Model, seeds: &mown_data::Dataset) -> Result<Fingerprint, MethodError>;
}

impl Fingerprint {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Consistency checks shared by `load` and `validate` callers.
    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != FINGERPRINT_FORMAT {
            return Err(format!("unsupported format version {}", self.format_version));
        }
        if self.labels.is_empty() {
            return Err("the fingerprint has no points".into());
        }
        if self.points.len() != self.labels.len() * self.input_shape.numel() {
            return Err(format!(
                "{} values for {} points of {:?}",
                self.points.len(),
                self.labels.len(),
                self.input_shape
            ));
        }
        if let Some(l) = self.labels.iter().find(|&&l| l >= self.num_classes) {
            return Err(format!("label {l} with {} classes", self.num_classes));
        }
        if self.points.iter().any(|v| !v.is_finite()) {
            return Err("points contain NaN or infinite values".into());
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), MethodError> {
        crate::evidence::write_json(self, path)
            .map_err(|reason| MethodError::BadFingerprint { path: path.to_path_buf(), reason })
    }

    pub fn load(path: &Path) -> Result<Fingerprint, MethodError> {
        let bad = |reason: String| MethodError::BadFingerprint { path: path.to_path_buf(), reason };
        let fp: Fingerprint = crate::evidence::read_json(path, "fingerprint").map_err(bad)?;
        fp.validate().map_err(bad)?;
        Ok(fp)
    }
}

impl Fingerprint {
    /// How many of the owner's labels the suspect reproduces (labels-only access suffices).
    pub fn match_suspect(&self, suspect: &mut dyn mown_access::QueryModel) -> Result<crate::MatchResult, MethodError> {
        crate::evidence::match_probe(&crate::Evidence::probe(self), suspect)
    }
}

impl crate::Evidence for Fingerprint {
    fn method(&self) -> String {
        self.method.clone()
    }

    fn owner_sha256(&self) -> &str {
        &self.owner_sha256
    }

    fn probe(&self) -> crate::evidence::Probe<'_> {
        crate::evidence::Probe {
            images: &self.points,
            labels: &self.labels,
            shape: self.input_shape,
            num_classes: self.num_classes,
        }
    }
}
