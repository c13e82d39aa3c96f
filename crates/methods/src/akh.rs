//! AKH: the owner's mistakes as a fingerprint (the "adversarial knowledge hit"-style baseline of
//! QuRD, "Queries, Representation & Detection: The Next 100 Model Fingerprinting Schemes",
//! AAAI 2025, where this trivial method matched the state of the art on extraction).
//!
//! A model trained on the owner's answers inherits the owner's errors: on inputs the owner gets
//! wrong, a copy tends to give the owner's wrong label, an independent model the right one or a
//! wrong one of its own. The probes are such inputs (`crate::probes`: held-out, then training,
//! then augmented images, the count from each source kept in the file), the expected labels the
//! owner's wrong ones, and a suspect is measured by how many it reproduces: counts, decided like
//! IPGuard's against the negatives (binomial / beta-binomial). There is no chance rate: mistakes
//! are not random (hard inputs confuse the same classes for every model), so only independent
//! models can say what an unrelated model reaches.

use std::path::Path;

use mown_access::QueryModel;
use mown_data::{Dataset, ImageShape};
use mown_nn::Model;
use serde::{Deserialize, Serialize};

use crate::MethodError;
use crate::evidence::{Evidence, EvidenceKind, LabelProbe, Measured, Probe, measure_probe};
use crate::probes::{MistakeParams, collect_mistakes};

pub const AKH_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AkhParams {
    /// Probes (owner mistakes) wanted.
    pub n: usize,
    pub mistakes: MistakeParams,
    pub seed: u64,
}

impl Default for AkhParams {
    fn default() -> Self {
        AkhParams { n: 100, mistakes: MistakeParams::default(), seed: 0 }
    }
}

/// Fewer probes than this makes a weak test; generation warns.
pub const AKH_MIN_PROBES: usize = 30;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AkhFingerprint {
    pub format_version: u32,
    pub method: String,
    pub params: AkhParams,
    pub seed: u64,
    pub owner_sha256: String,
    pub owner_derivation: String,
    pub input_shape: ImageShape,
    pub num_classes: usize,
    /// Inputs the owner misclassifies, NCHW.
    pub points: Vec<f32>,
    /// The owner's (wrong) label on each.
    pub labels: Vec<usize>,
    /// The label of the image each came from.
    pub true_labels: Vec<usize>,
    /// Probes per source (held-out, training, augmented).
    pub origins: serde_json::Value,
    pub producer: String,
}

/// Generates AKH evidence for `owner` from its training and held-out data.
pub fn generate(owner: &Model, train: &Dataset, test: &Dataset, p: &AkhParams) -> Result<AkhFingerprint, MethodError> {
    let m = collect_mistakes(owner, train, test, p.n, &p.mistakes, p.seed)?;
    Ok(AkhFingerprint {
        format_version: AKH_FORMAT,
        method: "akh".into(),
        params: p.clone(),
        seed: p.seed,
        owner_sha256: mown_nn::io::model_sha256(owner)?,
        owner_derivation: owner.meta.provenance.derivation.clone(),
        input_shape: owner.input_shape(),
        num_classes: owner.num_classes(),
        origins: m.origin_counts(),
        points: m.images,
        labels: m.owner_labels,
        true_labels: m.true_labels,
        producer: format!("mown {}", env!("CARGO_PKG_VERSION")),
    })
}

impl AkhFingerprint {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != AKH_FORMAT {
            return Err(format!("unsupported format version {}", self.format_version));
        }
        let n = self.labels.len();
        if n == 0 || self.points.len() != n * self.input_shape.numel() || self.true_labels.len() != n {
            return Err(format!(
                "{} probe values, {n} owner labels and {} true labels do not describe the same probes of {}",
                self.points.len(),
                self.true_labels.len(),
                self.input_shape
            ));
        }
        if let Some(i) = (0..n).find(|&i| self.labels[i] >= self.num_classes || self.labels[i] == self.true_labels[i]) {
            return Err(format!(
                "probe {i} is not an owner mistake (label {}, true {})",
                self.labels[i], self.true_labels[i]
            ));
        }
        if self.points.iter().any(|v| !v.is_finite()) {
            return Err("probes contain NaN or infinite values".into());
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), MethodError> {
        crate::evidence::save_file(self, path)
    }

    pub fn load(path: &Path) -> Result<AkhFingerprint, MethodError> {
        crate::evidence::load_file(path)
    }
}

impl LabelProbe for AkhFingerprint {
    fn probe(&self) -> Probe<'_> {
        Probe { images: &self.points, labels: &self.labels, shape: self.input_shape, num_classes: self.num_classes }
    }
}

impl crate::evidence::EvidenceFile for AkhFingerprint {
    const KIND: EvidenceKind = EvidenceKind::AkhFingerprint;
    fn validate(&self) -> Result<(), String> {
        AkhFingerprint::validate(self)
    }
}

impl Evidence for AkhFingerprint {
    fn write(&self, path: &std::path::Path) -> Result<(), MethodError> {
        AkhFingerprint::save(self, path)
    }

    fn kind(&self) -> EvidenceKind {
        EvidenceKind::AkhFingerprint
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

    fn measure(&self, suspect: &mut dyn QueryModel) -> Result<Measured, MethodError> {
        let mut m = measure_probe(self, suspect)?;
        m.details["origins"] = self.origins.clone();
        Ok(m)
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.len() < AKH_MIN_PROBES {
            out.push(format!(
                "only {} owner mistakes found (fewer than {AKH_MIN_PROBES}): a weak test; allow training or augmented images",
                self.len()
            ));
        }
        out
    }
}
