//! The UAP fingerprint as ownership evidence (seed 003, Algorithm 1): generation on the owner's
//! side (white-box) and the per-fingerprint similarities a suspect is measured by (black-box).
//!
//! Generation: a universal perturbation v of the owner; K-means on the owner's logits of its
//! training data; views (one point per cluster) for the encoder's training set and a separate
//! set of verification views; fingerprints F = [f(x1), f(x1+v), ...] of the owner, the piracy
//! and the homologous reference models on the training views; the SupCon encoder trained on them
//! (victim and piracy label 0, homologous 1). The file keeps v, the verification views' images,
//! the owner's fingerprints on them, the encoder (base64 safetensors) and every reference
//! model's SHA-256, which `mown verify` refuses as suspects or negatives.
//!
//! Verification: the suspect's fingerprint on each verification view (2n queries each), the
//! cosine of its encoding with the owner's: one sample per view. `mown_eval::decide` tests them
//! against the independent models' samples (one-sided Welch, 30 draws of 20 fingerprints: §2.6).

use std::path::Path;

use base64::Engine;
use mown_access::{AccessLevel, QueryModel};
use mown_adversary::deepfool::CandidateClasses;
use mown_data::{Dataset, ImageShape};
use mown_eval::{Measurement, Resampling};
use mown_nn::Model;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{
    Encoder, EncoderParams, KMeansParams, UapParams, cluster_outputs, gather_images, query_images, sample_views,
    shifted_queries,
};
use crate::evidence::{Evidence, EvidenceKind, Measured, answer_rows, check_task};
use crate::{MethodError, sha256_hex};

pub const UAP_FORMAT: u32 = 1;

/// Everything generation takes besides the models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UapFingerprintParams {
    pub uap: UapParams,
    /// n: clusters, hence points per fingerprint (seed 003: 100).
    pub kmeans: KMeansParams,
    /// Views per model in the encoder's training set (seed 003: k = 200).
    pub train_views: usize,
    /// Views kept for verification (each costs 2n suspect queries); draws pick among them.
    pub verify_views: usize,
    /// Repetitions and fingerprints per repetition of the t-test (seed 003: 30 of 20).
    pub draws: usize,
    pub draw_size: usize,
    /// Training images the UAP is computed on, and held-out images its fooling rate is measured
    /// on (the paper says neither; a subset keeps it fast).
    pub uap_images: usize,
    pub uap_held_out: usize,
    pub encoder: EncoderParams,
    /// What the suspect reveals: probabilities (the paper), top-k (missing classes filled with 0:
    /// the paper's ablation leaves the rule open) or labels (one-hot).
    pub level: AccessLevel,
    /// What is added to each point: the universal perturbation (the method) or each point's own
    /// DeepFool perturbation (seed 003 §5.4's local-perturbation ablation, "AP"/LAP).
    #[serde(default)]
    pub perturbation: PerturbationKind,
    /// With [`PerturbationKind::Local`]: the classes DeepFool linearises per point. All of them
    /// is DeepFool's Algorithm 2; the top few make LAP affordable at Fashion-MNIST scale (one
    /// gradient pass per candidate, on every distinct image of every view).
    #[serde(default = "all_classes", skip_serializing_if = "is_all_classes")]
    pub local_candidates: CandidateClasses,
    pub seed: u64,
}

fn all_classes() -> CandidateClasses {
    CandidateClasses::All
}

fn is_all_classes(c: &CandidateClasses) -> bool {
    *c == CandidateClasses::All
}

/// See [`UapFingerprintParams::perturbation`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerturbationKind {
    #[default]
    Universal,
    /// DeepFool on the owner per point (all classes, overshoot 0.02, clipped to the pixel box);
    /// no universal perturbation is computed.
    Local,
}

impl Default for UapFingerprintParams {
    fn default() -> Self {
        UapFingerprintParams {
            uap: UapParams::default(),
            kmeans: KMeansParams::default(),
            train_views: 200,
            verify_views: 40,
            draws: 30,
            draw_size: 20,
            uap_images: 2000,
            uap_held_out: 500,
            encoder: EncoderParams::default(),
            level: AccessLevel::Probabilities,
            perturbation: PerturbationKind::Universal,
            local_candidates: CandidateClasses::All,
            seed: 0,
        }
    }
}

/// Whether a reference model is a copy (label 0 with the victim) or homologous (label 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceRole {
    Piracy,
    Homologous,
}

/// A reference model the encoder is trained on, as recorded in the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRecord {
    pub name: String,
    pub role: ReferenceRole,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UapFingerprint {
    pub format_version: u32,
    pub params: UapFingerprintParams,
    pub owner_sha256: String,
    pub owner_derivation: String,
    pub input_shape: ImageShape,
    pub num_classes: usize,
    /// The owner's universal perturbation v (one image; empty with local perturbations).
    pub perturbation: Vec<f32>,
    /// With [`PerturbationKind::Local`]: each point's own perturbation, aligned with `points`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_perturbations: Vec<f32>,
    /// Fooling rate on the held-out images, L2 norm, radius and passes of v.
    pub uap_stats: serde_json::Value,
    /// The distinct images of the verification views, NCHW.
    pub points: Vec<f32>,
    /// Each verification view: n indices into `points`, one per cluster.
    pub views: Vec<Vec<usize>>,
    /// The owner's fingerprint on each verification view, `[views, 2 n C]`.
    pub owner_fingerprints: Vec<f32>,
    /// The encoder, safetensors bytes in base64, and their SHA-256.
    pub encoder: String,
    pub encoder_sha256: String,
    pub references: Vec<ReferenceRecord>,
    pub producer: String,
    /// Encoder training loss and the like; timings are kept out.
    pub stats: serde_json::Value,
    #[serde(skip)]
    pub timings: serde_json::Value,
}

/// What each fingerprint point is shifted by.
#[derive(Clone, Copy)]
enum Shift<'a> {
    /// The same perturbation for every point (the UAP).
    Same(&'a [f32]),
    /// One perturbation per image of the image buffer, in its layout (local perturbations).
    PerImage(&'a [f32]),
}

/// Fingerprints of a model answering at `level` on `views` (index lists into `images`, whole
/// images of `numel` values): one row of 2 n C values per view, in view order.
fn fingerprints(
    model: &mut dyn QueryModel,
    level: AccessLevel,
    images: &[f32],
    numel: usize,
    views: &[Vec<usize>],
    shift: Shift,
) -> Result<Vec<f32>, MethodError> {
    let mut out = Vec::new();
    for view in views {
        let points = gather_images(images, numel, view)?;
        let queries = match shift {
            Shift::Same(v) => query_images(&points, v)?,
            Shift::PerImage(all) => shifted_queries(&points, &gather_images(all, numel, view)?, numel),
        };
        out.extend(answer_rows(model, level, &queries, numel)?);
    }
    Ok(out)
}

/// Generates the UAP fingerprint of `owner` from its training data `train` (points and UAP) and
/// held-out `test` (the UAP's fooling rate), with encoder references `references`.
pub fn generate(
    owner: &Model,
    train: &Dataset,
    test: &Dataset,
    references: &[(String, ReferenceRole, Model)],
    p: &UapFingerprintParams,
) -> Result<UapFingerprint, MethodError> {
    let started = std::time::Instant::now();
    let bad = |m: String| MethodError::BadParameter(m);
    for role in [ReferenceRole::Piracy, ReferenceRole::Homologous] {
        if !references.iter().any(|r| r.1 == role) {
            return Err(bad(format!("the encoder needs at least one {role:?} reference model (seed 003 uses 5)")));
        }
    }
    if p.verify_views < 2 || p.train_views == 0 || p.draw_size < 2 || p.draws == 0 {
        return Err(bad("need >= 1 training view, >= 2 verification views and draws of >= 2".into()));
    }
    mown_nn::model::check_dataset_shape(train, owner.input_shape())?;
    mown_nn::model::check_dataset_shape(test, owner.input_shape())?;
    let numel = owner.input_shape().numel();
    let owner_sha = mown_nn::io::model_sha256(owner)?;
    let mut refs = Vec::with_capacity(references.len());
    for (name, role, model) in references {
        if model.input_shape() != owner.input_shape() || model.num_classes() != owner.num_classes() {
            return Err(MethodError::Mismatch(format!("reference model {name} is not of the owner's task")));
        }
        let sha = mown_nn::io::model_sha256(model)?;
        if sha == owner_sha {
            return Err(bad(format!("reference model {name} is the owner itself")));
        }
        refs.push(ReferenceRecord { name: name.clone(), role: *role, sha256: sha });
    }
    // The UAP on a seeded subset of the training images, its fooling rate on held-out ones.
    let mut order: Vec<usize> = (0..train.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(p.seed));
    order.truncate(p.uap_images.max(1));
    let uap_data = gather_images(train.images(), numel, &order)?;
    let held: Vec<usize> = (0..test.len().min(p.uap_held_out.max(1))).collect();
    let held_out = gather_images(test.images(), numel, &held)?;
    // Points: K-means on the owner's logits of all its training data (§2.2), views inside clusters.
    let clusters = cluster_outputs(owner, train.images(), &KMeansParams { seed: p.seed, ..p.kmeans.clone() })?;
    let all_views = sample_views(&clusters.members, p.train_views + p.verify_views, mown_nn::seed::derive(p.seed, 1));
    let (train_views, verify_views) = all_views.split_at(p.train_views);
    let (v, per_image, uap_stats) = match p.perturbation {
        PerturbationKind::Universal => {
            let uap = super::universal_perturbation(
                owner,
                &uap_data,
                &held_out,
                &UapParams { seed: p.seed, ..p.uap.clone() },
            )?;
            let stats = serde_json::json!({
                "fooling_rate": uap.fooling_rate, "norm": uap.norm, "xi": uap.xi, "passes": uap.passes,
                "clusters": clusters.len(),
            });
            (uap.v, Vec::new(), stats)
        }
        PerturbationKind::Local => {
            let (per_image, stats) = local_perturbations(owner, train, &all_views, p.local_candidates)?;
            (Vec::new(), per_image, serde_json::json!({ "local": stats, "clusters": clusters.len() }))
        }
    };
    let perturbation_seconds = started.elapsed().as_secs_f64();
    let shift = if per_image.is_empty() { Shift::Same(&v) } else { Shift::PerImage(&per_image) };
    // The encoder's training set: every model's fingerprints on the training views.
    let local = |m: &Model| mown_access::LocalModel::new(m.clone(), p.level, None);
    let mut data = fingerprints(&mut local(owner), p.level, train.images(), numel, train_views, shift)?;
    let mut labels = vec![0usize; p.train_views];
    for (_, role, model) in references {
        data.extend(fingerprints(&mut local(model), p.level, train.images(), numel, train_views, shift)?);
        labels.extend(std::iter::repeat_n(usize::from(*role == ReferenceRole::Homologous), p.train_views));
    }
    let dim = data.len() / labels.len();
    let encoder_started = std::time::Instant::now();
    let encoder = super::train_encoder(&data, dim, &labels, &EncoderParams { seed: p.seed, ..p.encoder.clone() })?;
    let encoder_seconds = encoder_started.elapsed().as_secs_f64();
    let encoder_bytes = encoder.to_bytes()?;
    // Verification views, re-indexed into their own distinct images.
    let mut distinct: Vec<usize> = verify_views.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let views: Vec<Vec<usize>> =
        verify_views.iter().map(|view| view.iter().map(|i| distinct.binary_search(i).unwrap_or(0)).collect()).collect();
    let points = gather_images(train.images(), numel, &distinct)?;
    let local_perturbations =
        if per_image.is_empty() { Vec::new() } else { gather_images(&per_image, numel, &distinct)? };
    let verify_shift = if per_image.is_empty() { Shift::Same(&v) } else { Shift::PerImage(&local_perturbations) };
    let owner_fingerprints = fingerprints(&mut local(owner), p.level, &points, numel, &views, verify_shift)?;
    Ok(UapFingerprint {
        format_version: UAP_FORMAT,
        params: p.clone(),
        owner_sha256: owner_sha,
        owner_derivation: owner.meta.provenance.derivation.clone(),
        input_shape: owner.input_shape(),
        num_classes: owner.num_classes(),
        perturbation: v,
        local_perturbations,
        uap_stats,
        points,
        views,
        owner_fingerprints,
        encoder_sha256: sha256_hex(&encoder_bytes),
        encoder: base64::engine::general_purpose::STANDARD.encode(&encoder_bytes),
        references: refs,
        producer: format!("mown {}", env!("CARGO_PKG_VERSION")),
        stats: serde_json::json!({ "encoder_fingerprints": labels.len(), "fingerprint_length": dim }),
        // The rest of "seconds" is K-means and the reference models' fingerprints.
        timings: serde_json::json!({
            "seconds": started.elapsed().as_secs_f64(),
            "perturbation_seconds": perturbation_seconds,
            "encoder_seconds": encoder_seconds,
        }),
    })
}

/// Each image of `views` shifted by its own DeepFool perturbation on the owner, in a buffer of
/// `train`'s layout (zero where no view looks), and DeepFool's flip rate and median norm.
fn local_perturbations(
    owner: &Model,
    train: &Dataset,
    views: &[Vec<usize>],
    candidates: CandidateClasses,
) -> Result<(Vec<f32>, serde_json::Value), MethodError> {
    let numel = owner.input_shape().numel();
    let mut used: Vec<usize> = views.iter().flatten().copied().collect();
    used.sort_unstable();
    used.dedup();
    let found = mown_adversary::deepfool::deepfool(
        owner,
        &gather_images(train.images(), numel, &used)?,
        &mown_adversary::deepfool::DeepFoolParams { candidates, ..Default::default() },
    )?;
    let mut per_image = vec![0f32; train.len() * numel];
    for (&i, r) in used.iter().zip(found.perturbations.chunks(numel)) {
        per_image[i * numel..(i + 1) * numel].copy_from_slice(r);
    }
    let mut norms = found.norms();
    norms.sort_by(f64::total_cmp);
    let flipped = found.flipped.iter().filter(|&&f| f).count() as f64 / used.len().max(1) as f64;
    let stats = serde_json::json!({
        "images": used.len(), "flip_rate": flipped, "median_norm": norms.get(norms.len() / 2).copied().unwrap_or(0.0),
    });
    Ok((per_image, stats))
}

impl UapFingerprint {
    /// What the points are shifted by at verification.
    fn shift(&self) -> Shift<'_> {
        if self.local_perturbations.is_empty() {
            Shift::Same(&self.perturbation)
        } else {
            Shift::PerImage(&self.local_perturbations)
        }
    }

    /// Points per fingerprint.
    pub fn n(&self) -> usize {
        self.views.first().map_or(0, Vec::len)
    }

    pub fn encoder(&self) -> Result<Encoder, String> {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(&self.encoder).map_err(|e| format!("encoder: {e}"))?;
        if sha256_hex(&bytes) != self.encoder_sha256 {
            return Err("the encoder's bytes do not match its SHA-256".into());
        }
        Encoder::from_bytes(&bytes).map_err(|e| e.to_string())
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != UAP_FORMAT {
            return Err(format!("unsupported format version {}", self.format_version));
        }
        let numel = self.input_shape.numel();
        let n = self.n();
        let count = self.points.len() / numel.max(1);
        let shifts_fit = match self.params.perturbation {
            PerturbationKind::Universal => self.perturbation.len() == numel && self.local_perturbations.is_empty(),
            PerturbationKind::Local => {
                self.perturbation.is_empty() && self.local_perturbations.len() == self.points.len()
            }
        };
        if !shifts_fit || self.points.len() != count * numel {
            return Err(format!(
                "the {:?} perturbation or the points are not images of {}",
                self.params.perturbation, self.input_shape
            ));
        }
        if self.views.len() < 2 || n == 0 || self.views.iter().any(|v| v.len() != n || v.iter().any(|&i| i >= count)) {
            return Err("views must be at least 2 lists of n indices into the points".into());
        }
        if self.owner_fingerprints.len() != self.views.len() * 2 * n * self.num_classes {
            return Err(format!(
                "{} owner fingerprint values for {} views",
                self.owner_fingerprints.len(),
                self.views.len()
            ));
        }
        let finite = |x: &[f32]| x.iter().all(|v| v.is_finite());
        if !finite(&self.perturbation)
            || !finite(&self.local_perturbations)
            || !finite(&self.points)
            || !finite(&self.owner_fingerprints)
        {
            return Err("NaN or infinite values".into());
        }
        let encoder = self.encoder()?;
        if encoder.config.input != 2 * n * self.num_classes {
            return Err(format!(
                "the encoder takes {} values, a fingerprint has {}",
                encoder.config.input,
                2 * n * self.num_classes
            ));
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<(), MethodError> {
        crate::evidence::save_file(self, path)
    }

    pub fn load(path: &Path) -> Result<UapFingerprint, MethodError> {
        crate::evidence::load_file(path)
    }
}

impl crate::evidence::EvidenceFile for UapFingerprint {
    const KIND: EvidenceKind = EvidenceKind::UapFingerprint;
    fn validate(&self) -> Result<(), String> {
        UapFingerprint::validate(self)
    }
}

impl Evidence for UapFingerprint {
    fn write(&self, path: &std::path::Path) -> Result<(), MethodError> {
        UapFingerprint::save(self, path)
    }

    fn kind(&self) -> EvidenceKind {
        EvidenceKind::UapFingerprint
    }

    fn method(&self) -> String {
        match self.params.level {
            AccessLevel::Probabilities => "uap".into(),
            other => format!("uap[{other}]"),
        }
    }

    fn owner_sha256(&self) -> &str {
        &self.owner_sha256
    }

    fn requires(&self) -> AccessLevel {
        self.params.level
    }

    fn task(&self) -> (ImageShape, usize) {
        (self.input_shape, self.num_classes)
    }

    fn resampling(&self) -> Option<Resampling> {
        let size = self.params.draw_size.min(self.views.len());
        Some(Resampling { draws: self.params.draws, size, seed: mown_nn::seed::derive(self.params.seed, 2) })
    }

    fn measure(&self, suspect: &mut dyn QueryModel) -> Result<Measured, MethodError> {
        check_task(suspect, self.input_shape, self.num_classes)?;
        let encoder = self.encoder().map_err(MethodError::BadParameter)?;
        let before = suspect.queries_used();
        let numel = self.input_shape.numel();
        let theirs = fingerprints(suspect, self.params.level, &self.points, numel, &self.views, self.shift())?;
        let (a, b) = (encoder.encode(&self.owner_fingerprints)?, encoder.encode(&theirs)?);
        let d = a.len() / self.views.len();
        let sims: Vec<f64> =
            a.chunks(d).zip(b.chunks(d)).map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p * q) as f64).sum()).collect();
        Ok(Measured {
            details: serde_json::json!({ "fingerprints": sims.len(), "points": self.n() }),
            measurement: Measurement::Samples { values: sims },
            queries: suspect.queries_used() - before,
        })
    }

    fn reference_models(&self) -> Vec<String> {
        self.references.iter().map(|r| r.sha256.clone()).collect()
    }

    fn artefacts(&self) -> Vec<(String, String)> {
        let shifts = if self.local_perturbations.is_empty() { &self.perturbation } else { &self.local_perturbations };
        let v: Vec<u8> = shifts.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut out = vec![
            ("owner weights".to_string(), self.owner_sha256.clone()),
            ("encoder".into(), self.encoder_sha256.clone()),
            ("perturbation".into(), sha256_hex(&v)),
        ];
        out.extend(self.references.iter().map(|r| (format!("reference {}", r.name), r.sha256.clone())));
        out
    }

    fn warnings(&self) -> Vec<String> {
        if self.params.perturbation == PerturbationKind::Local {
            return Vec::new(); // no universal perturbation, no fooling rate
        }
        let rate = self.uap_stats["fooling_rate"].as_f64().unwrap_or(1.0);
        let target = self.params.uap.target_fooling_rate;
        (rate < target)
            .then(|| format!("the perturbation fools the owner on only {rate:.2} of held-out images (target {target})"))
            .into_iter()
            .collect()
    }
}
