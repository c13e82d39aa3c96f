//! The near-boundary evidence file and its measurement of a suspect.

use std::path::Path;

use mown_access::{AccessLevel, QueryModel};
use mown_data::ImageShape;
use mown_eval::{Direction, Measurement, Resampling};
use serde::{Deserialize, Serialize};

use super::NearBoundaryParams;
use crate::MethodError;
use crate::evidence::{Evidence, EvidenceKind, Measured, answer_rows, check_task};

pub const NEAR_BOUNDARY_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearBoundaryEvidence {
    pub format_version: u32,
    /// The pair (s, t), tau, seeds and every generation setting.
    pub params: NearBoundaryParams,
    /// SHA-256 of the model the evidence belongs to: the owner after boundary fine-tuning.
    pub owner_sha256: String,
    /// SHA-256 of the owner before phase 3 (equal to `owner_sha256` without it).
    pub untuned_owner_sha256: String,
    pub owner_derivation: String,
    pub input_shape: ImageShape,
    pub num_classes: usize,
    /// The private near-boundary samples, NCHW.
    pub samples: Vec<f32>,
    /// How the samples were made private (phase 2), in words.
    pub privatisation: String,
    /// Seeds, fraction kept by Definition 2, accuracy before and after phase 3, Loss_FT.
    pub stats: serde_json::Value,
    pub producer: String,
    #[serde(skip)]
    pub timings: serde_json::Value,
}

impl NearBoundaryEvidence {
    pub fn len(&self) -> usize {
        self.samples.len() / self.input_shape.numel().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != NEAR_BOUNDARY_FORMAT {
            return Err(format!("unsupported format version {}", self.format_version));
        }
        let p = &self.params;
        if p.source == p.target || p.source >= self.num_classes || p.target >= self.num_classes {
            return Err(format!(
                "boundary ({}, {}) is not a pair of the {} classes",
                p.source, p.target, self.num_classes
            ));
        }
        let numel = self.input_shape.numel();
        if numel == 0 || self.samples.is_empty() || !self.samples.len().is_multiple_of(numel) {
            return Err(format!("{} sample values are not whole images of {}", self.samples.len(), self.input_shape));
        }
        if self.len() < p.draw_size.max(2) {
            return Err(format!("{} samples, fewer than a draw of {}", self.len(), p.draw_size));
        }
        if self.samples.iter().any(|v| !v.is_finite()) {
            return Err("samples contain NaN or infinite values".into());
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), MethodError> {
        crate::evidence::save_file(self, path)
    }

    pub fn load(path: &Path) -> Result<NearBoundaryEvidence, MethodError> {
        crate::evidence::load_file(path)
    }

    /// d(x) of every sample on `suspect`'s probability answers.
    pub fn distances(&self, suspect: &mut dyn QueryModel) -> Result<Vec<f64>, MethodError> {
        let numel = self.input_shape.numel();
        let rows = answer_rows(suspect, AccessLevel::Probabilities, &self.samples, numel)?;
        let (s, t) = (self.params.source, self.params.target);
        Ok(rows.chunks(self.num_classes).map(|row| super::boundary_distance(row, s, t)).collect())
    }
}

impl crate::evidence::EvidenceFile for NearBoundaryEvidence {
    const KIND: EvidenceKind = EvidenceKind::NearBoundary;
    fn validate(&self) -> Result<(), String> {
        NearBoundaryEvidence::validate(self)
    }
}

impl Evidence for NearBoundaryEvidence {
    fn write(&self, path: &std::path::Path) -> Result<(), MethodError> {
        NearBoundaryEvidence::save(self, path)
    }

    fn kind(&self) -> EvidenceKind {
        EvidenceKind::NearBoundary
    }

    fn method(&self) -> String {
        format!("near-boundary({},{})", self.params.source, self.params.target)
    }

    fn owner_sha256(&self) -> &str {
        &self.owner_sha256
    }

    fn requires(&self) -> AccessLevel {
        AccessLevel::Probabilities
    }

    /// A copy keeps the samples close to the boundary: lower distances.
    fn direction(&self) -> Direction {
        Direction::Lower
    }

    fn resampling(&self) -> Option<Resampling> {
        let size = self.params.draw_size.min(self.len());
        Some(Resampling { draws: self.params.draws, size, seed: mown_nn::seed::derive(self.params.seed, 3) })
    }

    fn task(&self) -> (ImageShape, usize) {
        (self.input_shape, self.num_classes)
    }

    fn measure(&self, suspect: &mut dyn QueryModel) -> Result<Measured, MethodError> {
        check_task(suspect, self.input_shape, self.num_classes)?;
        let before = suspect.queries_used();
        let distances = self.distances(suspect)?;
        Ok(Measured {
            details: serde_json::json!({
                "samples": distances.len(), "boundary": [self.params.source, self.params.target],
            }),
            measurement: Measurement::Samples { values: distances },
            queries: suspect.queries_used() - before,
        })
    }

    fn artefacts(&self) -> Vec<(String, String)> {
        vec![
            ("owner weights (boundary-tuned)".into(), self.owner_sha256.clone()),
            ("owner weights before tuning".into(), self.untuned_owner_sha256.clone()),
        ]
    }

    fn warnings(&self) -> Vec<String> {
        if self.privatisation.starts_with("none:") {
            vec![format!("privatisation: {}", self.privatisation)]
        } else {
            Vec::new()
        }
    }
}
