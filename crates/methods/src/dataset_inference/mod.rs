//! Dataset inference (Maini, Yaghini, Papernot, "Dataset Inference: Ownership Resolution in
//! Machine Learning", ICLR 2021), seed 001's baseline: a model trained on the owner's data (or
//! on a copy of the owner) sits farther from its decision boundary on the owner's training
//! images than on other images of the task; a model trained elsewhere does not tell them apart.
//!
//! - Embedding: Blind Walk distances ([`walk`]: labels only, so any suspect can be measured; the
//!   default) or MinGD distances ([`mingd`]: the paper's white-box embedding, for suspects held
//!   as model files; `embedding=mingd`) of private images (the owner's training set) and public
//!   ones (held out).
//! - Confidence model: the official notebook trains a small regressor (30 → 100 → 1, tanh) to
//!   score public images high and private ones low. We train `mown_nn::vector_mlp` (standardised
//!   features, no row normalisation: the distances' magnitude is the signal; hidden 100) to tell
//!   private (0) from public (1) on the owner's embeddings, and use P(public) as the score: the
//!   same ordering with a probability in place of a tanh margin.
//! - Measurement: per verification pair i (a private and a public image the confidence model
//!   never saw), s_i = score(public_i) - score(private_i); its mean is the paper's Δμ. Samples go
//!   to the one rule (one-sided Welch against the independent models' samples): an independent
//!   model must not separate the owner's private images from public ones as a copy does.
//! - The paper's own test (one-sided Welch of the suspect's public scores against its private
//!   ones, m = 10 per draw, harmonic mean of p over the draws) is reported beside the verdict.
//! - Cost, kept to minutes on 2 cores (issue #28): 100 images per side per role by default, 10
//!   starts x 3 norms x up to 50 steps per image.

pub mod mingd;
pub mod walk;

use std::path::Path;

use base64::Engine;
use mown_access::{AccessLevel, LocalModel, QueryModel};
use mown_data::{Dataset, ImageShape};
use mown_eval::{Measurement, Resampling};
use mown_nn::Model;
use mown_nn::vector_mlp::{VectorMlp, VectorMlpParams, train_vector_mlp};
use serde::{Deserialize, Serialize};

use crate::evidence::{Evidence, EvidenceKind, Measured, check_task};
use crate::{MethodError, sha256_hex};

pub const DI_FORMAT: u32 = 1;

/// How a model's distance to the boundary is measured around an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Embedding {
    /// Blind Walk: labels only.
    #[default]
    Walk,
    /// MinGD: input gradients of a white-box suspect.
    Mingd,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiParams {
    /// Images per side (private, public) for the confidence model, and again for verification.
    pub n: usize,
    /// Random directions per norm, and steps per walk (official: 10 and 50).
    pub starts: usize,
    pub steps: usize,
    /// The paper's own test: draws and samples per draw (official: 100 draws of m = 10).
    pub draws: usize,
    pub m: usize,
    pub seed: u64,
    #[serde(default)]
    pub embedding: Embedding,
    /// MinGD's steps and step sizes (`embedding = mingd`).
    #[serde(default)]
    pub mingd: mingd::MingdParams,
}

impl Default for DiParams {
    fn default() -> Self {
        DiParams {
            n: 100,
            starts: 10,
            steps: 50,
            draws: 100,
            m: 10,
            seed: 0,
            embedding: Embedding::Walk,
            mingd: mingd::MingdParams::default(),
        }
    }
}

impl DiParams {
    /// What the embedding needs from a suspect.
    pub fn level(&self) -> AccessLevel {
        match self.embedding {
            Embedding::Walk => AccessLevel::Labels,
            Embedding::Mingd => AccessLevel::WhiteBox,
        }
    }

    /// The embedding of `images` (true `labels`) on `model`; `role` separates the walk's random
    /// directions at fitting (3) and verification (4).
    fn embed(
        &self,
        model: &mut dyn QueryModel,
        images: &[f32],
        labels: &[usize],
        shape: ImageShape,
        role: u64,
    ) -> Result<(Vec<f32>, usize), MethodError> {
        match self.embedding {
            Embedding::Walk => {
                let seed = mown_nn::seed::derive(self.seed, role);
                let rows = walk::blind_walk(model, images, labels, shape, self.starts, self.steps, seed)?;
                Ok((rows, walk::NORMS.len() * self.starts))
            }
            Embedding::Mingd => {
                let rows = mingd::mingd(model, images, shape, &self.mingd)?;
                Ok((rows, mingd::NORMS.len() * model.num_classes()))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiFingerprint {
    pub format_version: u32,
    pub method: String,
    pub params: DiParams,
    pub owner_sha256: String,
    pub owner_derivation: String,
    pub input_shape: ImageShape,
    pub num_classes: usize,
    /// Verification images, NCHW, and their true labels: `n` private then `n` public.
    pub images: Vec<f32>,
    pub labels: Vec<usize>,
    /// The confidence model (safetensors with its normaliser, base64) and its SHA-256.
    pub confidence_model: String,
    pub confidence_sha256: String,
    pub stats: serde_json::Value,
    pub producer: String,
}

/// Seeded picks of `2n` private (training) and `2n` public (held-out) images.
fn pick(data: &Dataset, n: usize, seed: u64) -> Result<(Vec<f32>, Vec<usize>), MethodError> {
    if data.len() < 2 * n {
        return Err(MethodError::BadParameter(format!(
            "dataset inference needs {} images of {}, it has {}",
            2 * n,
            data.name,
            data.len()
        )));
    }
    let idx: Vec<usize> = data.shuffled_indices(seed).into_iter().take(2 * n).collect();
    let labels = idx.iter().map(|&i| data.labels()[i]).collect();
    Ok((crate::uap::gather_images(data.images(), data.shape.numel(), &idx)?, labels))
}

pub fn generate(
    owner: &Model,
    train: &Dataset,
    held_out: &Dataset,
    p: &DiParams,
) -> Result<DiFingerprint, MethodError> {
    let started = std::time::Instant::now();
    if p.n < p.m.max(2) || p.starts == 0 || p.steps == 0 || p.draws == 0 || p.m < 2 {
        return Err(MethodError::BadParameter(format!("bad dataset-inference parameters {p:?}")));
    }
    let shape = owner.input_shape();
    mown_nn::model::check_dataset_shape(train, shape)?;
    mown_nn::model::check_dataset_shape(held_out, shape)?;
    let numel = shape.numel();
    let (private, private_labels) = pick(train, p.n, mown_nn::seed::derive(p.seed, 1))?;
    let (public, public_labels) = pick(held_out, p.n, mown_nn::seed::derive(p.seed, 2))?;
    let mut api = LocalModel::new(owner.clone(), p.level(), None);
    // First halves train the confidence model; second halves are kept for verification.
    let fit_images: Vec<f32> = private[..p.n * numel].iter().chain(&public[..p.n * numel]).copied().collect();
    let fit_labels: Vec<usize> = private_labels[..p.n].iter().chain(&public_labels[..p.n]).copied().collect();
    let (rows, width) = p.embed(&mut api, &fit_images, &fit_labels, shape, 3)?;
    let classes: Vec<usize> = (0..2 * p.n).map(|i| usize::from(i >= p.n)).collect();
    let params = VectorMlpParams { hidden: vec![100], row_norm: false, seed: p.seed, ..VectorMlpParams::default() };
    let (mlp, report) = train_vector_mlp(&rows, width, &classes, 2, &params)?;
    let bytes = mlp.to_bytes()?;
    let images: Vec<f32> = private[p.n * numel..].iter().chain(&public[p.n * numel..]).copied().collect();
    let labels: Vec<usize> = private_labels[p.n..].iter().chain(&public_labels[p.n..]).copied().collect();
    let mut fp = DiFingerprint {
        format_version: DI_FORMAT,
        method: "dataset-inference".into(),
        params: p.clone(),
        owner_sha256: mown_nn::io::model_sha256(owner)?,
        owner_derivation: owner.meta.provenance.derivation.clone(),
        input_shape: shape,
        num_classes: owner.num_classes(),
        images,
        labels,
        confidence_sha256: sha256_hex(&bytes),
        confidence_model: base64::engine::general_purpose::STANDARD.encode(&bytes),
        stats: serde_json::json!({ "confidence_model": report, "embedding_width": width }),
        producer: format!("mown {}", env!("CARGO_PKG_VERSION")),
    };
    let own = fp.scores(&mut api)?;
    let diffs = pair_differences(&own, p.n);
    fp.stats["owner_delta_mu"] = serde_json::json!(diffs.iter().sum::<f64>() / diffs.len() as f64);
    fp.stats["seconds"] = serde_json::json!(started.elapsed().as_secs_f64());
    Ok(fp)
}

/// score(public_i) - score(private_i) for the `n` pairs of a `2n` score vector.
fn pair_differences(scores: &[f64], n: usize) -> Vec<f64> {
    (0..n).map(|i| scores[n + i] - scores[i]).collect()
}

impl DiFingerprint {
    fn confidence(&self) -> Result<VectorMlp, MethodError> {
        let bad = |m: String| {
            MethodError::Model(mown_nn::NnError::CorruptModel { path: "<di confidence>".into(), reason: m })
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.confidence_model)
            .map_err(|e| bad(format!("not base64: {e}")))?;
        if sha256_hex(&bytes) != self.confidence_sha256 {
            return Err(bad("the bytes do not match their SHA-256".into()));
        }
        Ok(VectorMlp::from_bytes(&bytes)?)
    }

    /// P(public) of each verification image's walk embedding on `suspect`.
    fn scores(&self, suspect: &mut dyn QueryModel) -> Result<Vec<f64>, MethodError> {
        check_task(suspect, self.input_shape, self.num_classes)?;
        let (rows, _) = self.params.embed(suspect, &self.images, &self.labels, self.input_shape, 4)?;
        let probs = self.confidence()?.probabilities(&rows)?;
        Ok(probs.chunks(2).map(|r| r[1] as f64).collect())
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != DI_FORMAT {
            return Err(format!("unsupported format version {}", self.format_version));
        }
        let n = self.params.n;
        if self.labels.len() != 2 * n || self.images.len() != 2 * n * self.input_shape.numel() || n < 2 {
            return Err(format!("{} labels and {} values for 2 x {n} images", self.labels.len(), self.images.len()));
        }
        if self.labels.iter().any(|&l| l >= self.num_classes) || self.images.iter().any(|v| !v.is_finite()) {
            return Err("labels out of range or images not finite".into());
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), MethodError> {
        crate::evidence::save_file(self, path)
    }

    pub fn load(path: &Path) -> Result<DiFingerprint, MethodError> {
        crate::evidence::load_file(path)
    }
}

impl crate::evidence::EvidenceFile for DiFingerprint {
    const KIND: EvidenceKind = EvidenceKind::DatasetInference;
    fn validate(&self) -> Result<(), String> {
        DiFingerprint::validate(self)
    }
}

impl Evidence for DiFingerprint {
    fn write(&self, path: &Path) -> Result<(), MethodError> {
        self.save(path)
    }

    fn kind(&self) -> EvidenceKind {
        EvidenceKind::DatasetInference
    }

    fn method(&self) -> String {
        self.method.clone()
    }

    fn owner_sha256(&self) -> &str {
        &self.owner_sha256
    }

    fn requires(&self) -> AccessLevel {
        self.params.level()
    }

    fn resampling(&self) -> Option<Resampling> {
        Some(Resampling { draws: 30, size: 20.min(self.params.n), seed: self.params.seed })
    }

    fn task(&self) -> (ImageShape, usize) {
        (self.input_shape, self.num_classes)
    }

    fn artefacts(&self) -> Vec<(String, String)> {
        vec![
            ("owner weights".into(), self.owner_sha256.clone()),
            ("confidence model".into(), self.confidence_sha256.clone()),
        ]
    }

    fn measure(&self, suspect: &mut dyn QueryModel) -> Result<Measured, MethodError> {
        let before = suspect.queries_used();
        let scores = self.scores(suspect)?;
        let n = self.params.n;
        let values = pair_differences(&scores, n);
        // The paper's test: public scores above private ones, within the suspect.
        let (private, public) = scores.split_at(n);
        let own = mown_eval::welch_repeated(
            public,
            private,
            Some(Resampling { draws: self.params.draws, size: self.params.m, seed: self.params.seed }),
        )
        .map(|t| serde_json::json!({ "mean_p": t.mean_p, "p": t.p, "delta_mu": t.mean_diff, "degenerate": t.degenerate }))
        .unwrap_or_else(|e| serde_json::json!({ "undefined": e.to_string() }));
        let delta = values.iter().sum::<f64>() / values.len() as f64;
        Ok(Measured {
            measurement: Measurement::Samples { values },
            queries: suspect.queries_used() - before,
            details: serde_json::json!({
                "delta_mu": delta,
                "owner_delta_mu": self.stats["owner_delta_mu"],
                "paper_test": { "test": "one-sided Welch, public vs private scores of the suspect", "result": own },
            }),
        })
    }
}
