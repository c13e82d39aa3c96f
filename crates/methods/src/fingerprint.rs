//! The fingerprint file: points, the owner's labels on them, how they were made, and which model
//! they belong to (SHA-256 of its weights). Verification is the matching rate of a suspect's
//! labels (IPGuard §3.3), shared by IPGuard and its baselines.

use std::path::Path;

use mown_data::ImageShape;
use mown_nn::Model;
use serde::{Deserialize, Serialize};

use crate::MethodError;
use crate::evidence::{Evidence, EvidenceKind, LabelProbe, Measured, Probe, measure_probe};

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
    /// Generation statistics (points that reached zero loss, iterations): deterministic for a
    /// seed, so the file is too.
    #[serde(default)]
    pub stats: serde_json::Value,
    /// Wall-clock timings of the generation, for the caller to print; never written to the file
    /// (a claim hashes the file, and the same seed must give the same bytes).
    #[serde(skip)]
    pub timings: serde_json::Value,
    pub producer: String,
}

/// Below this share of converged points, a fingerprint is warned about (issue #25: at k = 10 on
/// the digits owner 29 of 100 points did not converge, and an independent model matched 0.83).
pub const CONVERGED_WARNING: f64 = 0.9;

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
        crate::evidence::write_json(self, EvidenceKind::Fingerprint, path)
            .map_err(|reason| MethodError::BadFingerprint { path: path.to_path_buf(), reason })
    }

    pub fn load(path: &Path) -> Result<Fingerprint, MethodError> {
        let bad = |reason: String| MethodError::BadFingerprint { path: path.to_path_buf(), reason };
        let fp: Fingerprint = crate::evidence::read_json(path, EvidenceKind::Fingerprint).map_err(bad)?;
        fp.validate().map_err(bad)?;
        Ok(fp)
    }

    /// A warning when fewer than [`CONVERGED_WARNING`] of the points reached the owner's boundary
    /// (IPGuard records how many did; other methods have no such notion).
    pub fn convergence_warning(&self) -> Option<String> {
        let converged = self.stats["converged"].as_u64()? as usize;
        ((converged as f64) < CONVERGED_WARNING * self.len() as f64).then(|| {
            format!(
                "only {converged} of the {} fingerprint points reached the owner's decision boundary (below {:.0}%): \
                 the rest are ordinary images that independent models may label alike; use a smaller --k (or --k auto) \
                 or more --iterations",
                self.len(),
                CONVERGED_WARNING * 100.0
            )
        })
    }
}

impl LabelProbe for Fingerprint {
    fn probe(&self) -> Probe<'_> {
        Probe { images: &self.points, labels: &self.labels, shape: self.input_shape, num_classes: self.num_classes }
    }
}

impl Evidence for Fingerprint {
    fn write(&self, path: &std::path::Path) -> Result<(), MethodError> {
        Fingerprint::save(self, path)
    }

    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Fingerprint
    }

    fn method(&self) -> String {
        self.method.clone()
    }

    fn owner_sha256(&self) -> &str {
        &self.owner_sha256
    }

    fn task(&self) -> (ImageShape, usize) {
        (self.input_shape, self.num_classes)
    }

    fn measure(&self, suspect: &mut dyn mown_access::QueryModel) -> Result<Measured, MethodError> {
        measure_probe(self, suspect)
    }

    fn warnings(&self) -> Vec<String> {
        self.convergence_warning().into_iter().collect()
    }
}
