//! SAC: sample correlation fingerprints ("Are You Stealing My Model? Sample Correlation for
//! Fingerprinting Deep Neural Networks", Guan et al., NeurIPS 2022).
//!
//! A copy of the owner's model does not only give the owner's answers: it relates inputs to
//! each other as the owner does. SAC queries N probe inputs, forms each model's N x N correlation
//! matrix C_ij = (1 - cos(o_i, o_j)) / 2 of its outputs (as issue #26 states it: 0 for the same
//! output direction, 1/2 for orthogonal outputs), and measures a suspect by the mean absolute
//! difference to the owner's matrix: lower is closer, so the verdict's direction is
//! [`Direction::Lower`].
//!
//! Probes (SAC §3.3): SAC-w takes inputs the owner misclassifies (`crate::probes` says where
//! they come from when the owner makes few mistakes); SAC-m takes CutMix mixtures of training
//! images and needs no misclassified data.
//!
//! **Samples** (mown's choice; the paper compares one distance with a threshold set from models
//! of its own). The probes are split into disjoint blocks of [`SacParams::block`]; each block's
//! correlation distance is one sample. Blocks are disjoint draws of the same probe distribution,
//! so given the models their distances are independent, which the Welch test against the
//! negatives' blocks needs (rows of one big matrix would not be). The paper's distance over all
//! N probes is reported beside them. Outputs are probabilities by default; top-k (missing classes
//! 0) and labels (one-hot: C_ij is 0 for the same label, 1/2 otherwise) are the label-only forms.

use std::path::Path;

use mown_access::{AccessLevel, LocalModel, QueryModel};
use mown_data::{Dataset, ImageShape};
use mown_eval::{Direction, Measurement};
use mown_nn::Model;
use serde::{Deserialize, Serialize};

use crate::evidence::{Evidence, EvidenceKind, Measured, answer_rows, check_task};
use crate::probes::{MistakeParams, collect_mistakes, cutmix};
use crate::{MethodError, sha256_hex};

pub const SAC_FORMAT: u32 = 1;

/// Where SAC's probes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SacProbes {
    /// SAC-w: inputs the owner misclassifies.
    Wrong,
    /// SAC-m: CutMix mixtures of training images.
    #[serde(rename = "cutmix")]
    CutMix,
}

impl std::str::FromStr for SacProbes {
    type Err = MethodError;
    fn from_str(s: &str) -> Result<Self, MethodError> {
        match s.to_ascii_lowercase().as_str() {
            "wrong" | "w" | "sac-w" => Ok(SacProbes::Wrong),
            "cutmix" | "m" | "sac-m" => Ok(SacProbes::CutMix),
            other => Err(MethodError::BadParameter(format!("SAC probes '{other}': wrong (SAC-w) or cutmix (SAC-m)"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SacParams {
    pub probes: SacProbes,
    /// Probes queried per verification (cut down to whole blocks).
    pub n: usize,
    /// Probes per block: one sample per block (see the module doc).
    pub block: usize,
    /// What suspects will reveal: probabilities (the paper), top-k or labels.
    pub level: AccessLevel,
    pub mistakes: MistakeParams,
    pub seed: u64,
}

impl Default for SacParams {
    fn default() -> Self {
        SacParams {
            probes: SacProbes::Wrong,
            n: 200,
            block: 20,
            level: AccessLevel::Probabilities,
            mistakes: MistakeParams::default(),
            seed: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SacFingerprint {
    pub format_version: u32,
    /// "sac-w", "sac-m", with the access level when not probabilities ("sac-m[labels]").
    pub method: String,
    pub params: SacParams,
    pub seed: u64,
    pub owner_sha256: String,
    pub owner_derivation: String,
    pub input_shape: ImageShape,
    pub num_classes: usize,
    /// The probes, NCHW.
    pub points: Vec<f32>,
    /// The owner's outputs on them at `params.level`, `[probes, C]`.
    pub owner_outputs: Vec<f32>,
    /// Probes per source (held-out, training, augmented) for SAC-w.
    pub origins: serde_json::Value,
    pub producer: String,
}

/// The correlation matrix of `rows` (`[n, classes]`): C_ij = (1 - cos(o_i, o_j)) / 2, row-major
/// n x n; a zero row has cosine 0 with everything.
pub fn correlation_matrix(rows: &[f32], classes: usize) -> Vec<f64> {
    let n = rows.len() / classes.max(1);
    let norms: Vec<f64> =
        rows.chunks(classes).map(|r| r.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt()).collect();
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let dot: f64 = rows[i * classes..(i + 1) * classes]
                .iter()
                .zip(&rows[j * classes..])
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            let denom = norms[i] * norms[j];
            let cos = if denom > 0.0 { (dot / denom).clamp(-1.0, 1.0) } else { 0.0 };
            c[i * n + j] = (1.0 - cos) / 2.0;
        }
    }
    c
}

/// Mean absolute difference of two correlation matrices (the paper's L1 distance / N^2).
pub fn correlation_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len().max(1) as f64
}

/// The probes kept of `count`: whole blocks, at least two.
fn whole_blocks(count: usize, block: usize) -> Result<usize, MethodError> {
    let whole = count / block * block;
    if whole < 2 * block {
        return Err(MethodError::BadParameter(format!(
            "only {count} probes found (the owner misclassifies too few inputs): SAC needs >= {} for two blocks of \
             {block}; use --probes cutmix or a smaller block",
            2 * block
        )));
    }
    Ok(whole)
}

/// Generates SAC evidence for `owner`: probes from `train` / `test` (see the module doc).
pub fn generate(owner: &Model, train: &Dataset, test: &Dataset, p: &SacParams) -> Result<SacFingerprint, MethodError> {
    if p.block < 2 || p.n < 2 * p.block {
        return Err(MethodError::BadParameter(format!(
            "SAC needs blocks of >= 2 probes and >= 2 blocks (n = {}, block = {})",
            p.n, p.block
        )));
    }
    let shape = owner.input_shape();
    let (points, origins) = match p.probes {
        SacProbes::Wrong => {
            let mut m = collect_mistakes(owner, train, test, p.n, &p.mistakes, p.seed)?;
            let whole = whole_blocks(m.len(), p.block)?;
            m.images.truncate(whole * shape.numel());
            m.origins.truncate(whole);
            let origins = m.origin_counts();
            (m.images, origins)
        }
        SacProbes::CutMix => {
            let whole = whole_blocks(p.n, p.block)?;
            (cutmix(train, shape, whole, p.seed)?, serde_json::json!({ "cutmix_of_training": whole }))
        }
    };
    let mut local = LocalModel::new(owner.clone(), p.level, None);
    let owner_outputs = answer_rows(&mut local, p.level, &points, shape.numel())?;
    let base = match p.probes {
        SacProbes::Wrong => "sac-w",
        SacProbes::CutMix => "sac-m",
    };
    let method = match p.level {
        AccessLevel::Probabilities => base.to_string(),
        other => format!("{base}[{other}]"),
    };
    Ok(SacFingerprint {
        format_version: SAC_FORMAT,
        method,
        params: p.clone(),
        seed: p.seed,
        owner_sha256: mown_nn::io::model_sha256(owner)?,
        owner_derivation: owner.meta.provenance.derivation.clone(),
        input_shape: shape,
        num_classes: owner.num_classes(),
        points,
        owner_outputs,
        origins,
        producer: format!("mown {}", env!("CARGO_PKG_VERSION")),
    })
}

impl SacFingerprint {
    pub fn probes(&self) -> usize {
        self.points.len() / self.input_shape.numel().max(1)
    }

    /// Block distances between the owner's outputs and `theirs`, and the paper's distance over
    /// all probes.
    pub fn distances(&self, theirs: &[f32]) -> (Vec<f64>, f64) {
        let (c, b) = (self.num_classes, self.params.block);
        let blocks = self
            .owner_outputs
            .chunks(b * c)
            .zip(theirs.chunks(b * c))
            .map(|(o, s)| correlation_distance(&correlation_matrix(o, c), &correlation_matrix(s, c)))
            .collect();
        let all = correlation_distance(&correlation_matrix(&self.owner_outputs, c), &correlation_matrix(theirs, c));
        (blocks, all)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != SAC_FORMAT {
            return Err(format!("unsupported format version {}", self.format_version));
        }
        let (numel, n) = (self.input_shape.numel(), self.probes());
        if numel == 0 || self.points.len() != n * numel || n == 0 {
            return Err(format!("{} probe values are not images of {}", self.points.len(), self.input_shape));
        }
        if self.num_classes < 2 {
            return Err(format!("{} classes", self.num_classes));
        }
        if self.params.block < 2 || n % self.params.block != 0 || n / self.params.block < 2 {
            return Err(format!("{n} probes are not >= 2 blocks of {}", self.params.block));
        }
        if self.owner_outputs.len() != n * self.num_classes {
            return Err(format!(
                "{} owner output values for {n} probes of {} classes",
                self.owner_outputs.len(),
                self.num_classes
            ));
        }
        if self.points.iter().chain(&self.owner_outputs).any(|v| !v.is_finite()) {
            return Err("NaN or infinite values".into());
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), MethodError> {
        crate::evidence::save_file(self, path)
    }

    pub fn load(path: &Path) -> Result<SacFingerprint, MethodError> {
        crate::evidence::load_file(path)
    }
}

impl crate::evidence::EvidenceFile for SacFingerprint {
    const KIND: EvidenceKind = EvidenceKind::SacFingerprint;
    fn validate(&self) -> Result<(), String> {
        SacFingerprint::validate(self)
    }
}

impl Evidence for SacFingerprint {
    fn write(&self, path: &std::path::Path) -> Result<(), MethodError> {
        SacFingerprint::save(self, path)
    }

    fn kind(&self) -> EvidenceKind {
        EvidenceKind::SacFingerprint
    }

    fn method(&self) -> String {
        self.method.clone()
    }

    fn owner_sha256(&self) -> &str {
        &self.owner_sha256
    }

    fn requires(&self) -> AccessLevel {
        self.params.level
    }

    fn direction(&self) -> Direction {
        Direction::Lower
    }

    fn task(&self) -> (ImageShape, usize) {
        (self.input_shape, self.num_classes)
    }

    fn measure(&self, suspect: &mut dyn QueryModel) -> Result<Measured, MethodError> {
        check_task(suspect, self.input_shape, self.num_classes)?;
        let before = suspect.queries_used();
        let theirs = answer_rows(suspect, self.params.level, &self.points, self.input_shape.numel())?;
        let (blocks, all) = self.distances(&theirs);
        Ok(Measured {
            details: serde_json::json!({
                "probes": self.probes(), "blocks": blocks.len(), "block": self.params.block,
                "distance_all_probes": all, "origins": self.origins,
            }),
            measurement: Measurement::Samples { values: blocks },
            queries: suspect.queries_used() - before,
        })
    }

    fn artefacts(&self) -> Vec<(String, String)> {
        let probes: Vec<u8> = self.points.iter().flat_map(|x| x.to_le_bytes()).collect();
        vec![("owner weights".into(), self.owner_sha256.clone()), ("probes".into(), sha256_hex(&probes))]
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.probes() < self.params.n / self.params.block * self.params.block {
            out.push(format!(
                "{} probes instead of the {} asked for: the owner misclassifies too few inputs",
                self.probes(),
                self.params.n
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_matrix_of_a_hand_worked_three_by_three_case() {
        // o1 = (1, 0), o2 = (0, 1), o3 = (1, 1)/sqrt(2) up to scale: cos(o1, o2) = 0,
        // cos(o1, o3) = cos(o2, o3) = 1/sqrt(2).
        let rows = [1.0, 0.0, 0.0, 2.0, 3.0, 3.0];
        let c = correlation_matrix(&rows, 2);
        let h = (1.0 - std::f64::consts::FRAC_1_SQRT_2) / 2.0;
        let want = [0.0, 0.5, h, 0.5, 0.0, h, h, h, 0.0];
        for (got, want) in c.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{c:?}");
        }
        // Opposite outputs are 1 apart; a zero row is orthogonal to everything.
        assert!((correlation_matrix(&[1.0, -1.0, -1.0, 1.0], 2)[1] - 1.0).abs() < 1e-9);
        assert_eq!(correlation_matrix(&[0.0, 0.0, 1.0, 0.0], 2)[1], 0.5);
        let d = correlation_distance(&want, &[0.0; 9]);
        assert!((d - (1.0 + 4.0 * h) / 9.0).abs() < 1e-12);
    }

    #[test]
    fn probes_parse_by_paper_name() {
        assert_eq!("sac-m".parse::<SacProbes>().unwrap(), SacProbes::CutMix);
        assert_eq!("wrong".parse::<SacProbes>().unwrap(), SacProbes::Wrong);
        assert!("mixup".parse::<SacProbes>().is_err());
    }
}
