//! Seed 001's own verification (§2.3–2.4): a meta-classifier on the signs of a model's parameter
//! gradients at stylised images tells whether the model learned the external feature.
//!
//! - Features: per stylised image x' with its true label y, sgn ∇θ CE(f(x'), y) reduced by the
//!   official code's rule (`mown_nn::param_gradient::reduced_signs`). This needs the suspect's
//!   parameters: white-box access (`AccessLevel::WhiteBox`), i.e. a model file; an API or an ONNX
//!   file is refused. Gradients live in the owner's parameter space, so only models of the owner's
//!   architecture can be measured (§8 item 2 of the reference notes); another one is a clear error.
//! - Classifier: positives are the owner's features, negatives those of benign models of the same
//!   architecture trained on the clean data ([`MetaParams::benign`]; the paper uses one), in
//!   `mown_nn::vector_mlp` with its normaliser stored.
//! - The verdict's samples: P(stolen | g_S(x')) on held-out stylised images the classifier never
//!   saw (the paper samples its training images, which biases a benign model's scores to 0).
//!   They are judged like every samples method, against independent models' samples: here models
//!   of the owner's architecture that no part of the verifier saw.
//! - Definition 2 itself (the suspect against one benign reference B on the same m images,
//!   `draws` times) is reported beside the verdict: by default a paired one-sided t-test (the
//!   paper's words), or the official code's unpaired two-sided Welch test; p combined as the
//!   official code does (harmonic mean of the draws' p-values), Δμ the mean difference. The honest
//!   protocol takes B from a benign model the classifier never saw; `protocol=paper` uses the one
//!   benign model for both roles, as the paper and its code do.

use base64::Engine;
use mown_access::{AccessLevel, LocalModel, QueryModel};
use mown_nn::vector_mlp::{VectorMlp, VectorMlpParams, train_vector_mlp};
use mown_nn::{Model, TrainConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::{MethodError, sha256_hex};

/// Which way an extfeat key is verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verifier {
    /// Black-box: the suspect's probability of the true class on stylised vs clean twins.
    #[default]
    Twins,
    /// White-box: the paper's meta-classifier on parameter-gradient signs.
    Meta,
}

/// Who trains the meta-classifier and who is Definition 2's reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Several benign models in the negative class, and a further one, never seen by the
    /// classifier, as Definition 2's reference.
    #[default]
    Honest,
    /// The paper's: one benign model, both the negative class and the reference.
    Paper,
}

/// Definition 2's test of the suspect's scores against the reference's on the same images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairTest {
    /// Paired one-sided t-test (H1: μ_S > μ_B), Definition 2's "pair-wise t-test".
    #[default]
    Paired,
    /// The official code's `ttest_ind(equal_var=False)`: unpaired, two-sided.
    Welch2,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaParams {
    /// Benign models in the classifier's negative class (paper: 1).
    pub benign: usize,
    pub protocol: Protocol,
    pub test: PairTest,
    /// Images per Definition-2 draw (paper: m = 10) and draws (official code: 40).
    pub m: usize,
    pub draws: usize,
    /// Stylised training images whose gradients train the classifier, at most (each costs one
    /// backward pass per model).
    pub train_images: usize,
    pub classifier: VectorMlpParams,
}

impl Default for MetaParams {
    fn default() -> Self {
        MetaParams {
            benign: 3,
            protocol: Protocol::Honest,
            test: PairTest::Paired,
            m: 10,
            draws: 40,
            train_images: 1000,
            classifier: VectorMlpParams::default(),
        }
    }
}

/// The fitted verifier, stored in the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetaVerifier {
    /// The owner's architecture: the only one whose gradients the classifier reads.
    pub architecture: String,
    pub feature_width: usize,
    /// The classifier (safetensors with its normaliser, base64) and the bytes' SHA-256.
    pub classifier: String,
    pub classifier_sha256: String,
    /// SHA-256s of the benign models of the negative class and of Definition 2's reference.
    pub benign_sha256: Vec<String>,
    pub reference_sha256: String,
    /// The reference's P(stolen) on each verification image.
    pub reference_scores: Vec<f64>,
    /// Classifier training figures and the owner's own mean score.
    pub stats: serde_json::Value,
}

/// Reduced gradient signs of `suspect` at each image (one backward pass per image).
pub fn gradient_features(
    suspect: &mut dyn QueryModel,
    images: &[f32],
    labels: &[usize],
    numel: usize,
) -> Result<(Vec<f32>, usize), MethodError> {
    let mut out = Vec::new();
    let mut width = None;
    for (img, &y) in images.chunks(numel).zip(labels) {
        let grads = suspect.parameter_gradients(img, &[y])?;
        let f = mown_nn::param_gradient::reduced_signs(&grads);
        match width {
            None => width = Some(f.len()),
            Some(w) if w != f.len() => {
                return Err(MethodError::Mismatch(format!("gradient features of {} and {w} values", f.len())));
            }
            _ => {}
        }
        out.extend(f);
    }
    let width = width.ok_or_else(|| MethodError::BadParameter("no images to take gradients at".into()))?;
    Ok((out, width))
}

/// Trains the benign models (clean data, the owner's architecture and training), the classifier,
/// and scores the reference on the verification images.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    owner: &Model,
    fresh: &Model,
    train: &mown_data::Dataset,
    cfg: &TrainConfig,
    styled_train: (&[f32], &[usize]),
    verify: (&[f32], &[usize]),
    p: &MetaParams,
    seed: u64,
) -> Result<MetaVerifier, MethodError> {
    let started = std::time::Instant::now();
    if p.benign == 0 || p.m < 2 || p.draws == 0 || p.train_images == 0 {
        return Err(MethodError::BadParameter(format!(
            "the meta-classifier needs >= 1 benign model, m >= 2, >= 1 draw and >= 1 training image, got {p:?}"
        )));
    }
    if p.protocol == Protocol::Paper && p.benign != 1 {
        return Err(MethodError::BadParameter("protocol=paper uses exactly one benign model (benign=1)".into()));
    }
    let numel = owner.input_shape().numel();
    let models = p.benign + usize::from(p.protocol == Protocol::Honest);
    let mut benign = Vec::with_capacity(models);
    for i in 0..models {
        let s = mown_nn::seed::derive(seed, 1000 + i as u64);
        let init = Model::init(fresh.meta.clone(), &fresh.device(), s);
        let (mut model, _) = mown_nn::train::train(init, train, None, &TrainConfig { seed: s, ..cfg.clone() })?;
        model.meta.provenance.derivation = format!("extfeat-benign({i},seed={s})");
        benign.push(model);
    }
    let reference = if p.protocol == Protocol::Paper { benign[0].clone() } else { benign.pop().expect("models >= 2") };
    let benign_seconds = started.elapsed().as_secs_f64();
    // The classifier's training images: a seeded subset of the stylised training images.
    let (styled, styled_labels) = styled_train;
    let mut idx: Vec<usize> = (0..styled_labels.len()).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(mown_nn::seed::derive(seed, 7)));
    idx.truncate(p.train_images);
    idx.sort_unstable();
    let images = crate::uap::gather_images(styled, numel, &idx)?;
    let labels: Vec<usize> = idx.iter().map(|&i| styled_labels[i]).collect();
    let white = |m: &Model| LocalModel::new(m.clone(), AccessLevel::WhiteBox, None);
    let (mut rows, width) = gradient_features(&mut white(owner), &images, &labels, numel)?;
    let mut classes = vec![1usize; labels.len()];
    for b in &benign {
        rows.extend(gradient_features(&mut white(b), &images, &labels, numel)?.0);
        classes.extend(std::iter::repeat_n(0, labels.len()));
    }
    let features_seconds = started.elapsed().as_secs_f64() - benign_seconds;
    let (classifier, report) =
        train_vector_mlp(&rows, width, &classes, 2, &VectorMlpParams { seed, ..p.classifier.clone() })?;
    let bytes = classifier.to_bytes()?;
    let mut verifier = MetaVerifier {
        architecture: owner.meta.spec.arch.to_string(),
        feature_width: width,
        classifier_sha256: sha256_hex(&bytes),
        classifier: base64::engine::general_purpose::STANDARD.encode(&bytes),
        benign_sha256: benign.iter().map(mown_nn::io::model_sha256).collect::<Result<_, _>>()?,
        reference_sha256: mown_nn::io::model_sha256(&reference)?,
        reference_scores: Vec::new(),
        stats: serde_json::Value::Null,
    };
    verifier.reference_scores = verifier.scores(&classifier, &mut white(&reference), verify.0, verify.1, numel)?;
    let own = verifier.scores(&classifier, &mut white(owner), verify.0, verify.1, numel)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    verifier.stats = serde_json::json!({
        "classifier": report,
        "training_images": labels.len(),
        "owner_mean_score": mean(&own),
        "reference_mean_score": mean(&verifier.reference_scores),
        "benign_seconds": benign_seconds,
        "features_seconds": features_seconds,
    });
    Ok(verifier)
}

impl MetaVerifier {
    pub fn classifier(&self) -> Result<VectorMlp, MethodError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.classifier)
            .map_err(|e| corrupt(format!("not base64: {e}")))?;
        if sha256_hex(&bytes) != self.classifier_sha256 {
            return Err(corrupt("the bytes do not match their SHA-256".into()));
        }
        let mlp = VectorMlp::from_bytes(&bytes)?;
        if mlp.config.input != self.feature_width {
            return Err(corrupt(format!(
                "it reads {} features, the key says {}",
                mlp.config.input, self.feature_width
            )));
        }
        Ok(mlp)
    }

    /// P(stolen | g_S(x')) for each image: the verdict's samples.
    pub fn scores(
        &self,
        classifier: &VectorMlp,
        suspect: &mut dyn QueryModel,
        images: &[f32],
        labels: &[usize],
        numel: usize,
    ) -> Result<Vec<f64>, MethodError> {
        match suspect.architecture() {
            Some(a) if a == self.architecture => {}
            other => {
                return Err(MethodError::Mismatch(format!(
                    "{} is {}; the meta-classifier reads gradients of {} models only (seed 001 needs the owner's \
                     architecture: train an owner of the suspect's architecture with the same style to judge it)",
                    suspect.describe(),
                    other.map_or("of unknown architecture".to_string(), |a| format!("a {a} model")),
                    self.architecture
                )));
            }
        }
        let (rows, width) = gradient_features(suspect, images, labels, numel)?;
        if width != self.feature_width {
            return Err(MethodError::Mismatch(format!(
                "{} gives {width} gradient features, the meta-classifier reads {}: not the owner's architecture",
                suspect.describe(),
                self.feature_width
            )));
        }
        let probs = classifier.probabilities(&rows)?;
        Ok(probs.chunks(2).map(|r| r[1] as f64).collect())
    }

    pub fn validate(&self, images: usize) -> Result<(), String> {
        if self.reference_scores.len() != images {
            return Err(format!("{} reference scores for {images} verification images", self.reference_scores.len()));
        }
        if self.reference_scores.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err("reference scores must be probabilities".into());
        }
        if self.feature_width == 0 || self.architecture.is_empty() {
            return Err("the meta-classifier has no features or no architecture".into());
        }
        Ok(())
    }
}

fn corrupt(reason: String) -> MethodError {
    mown_nn::NnError::CorruptModel { path: "<extfeat meta-classifier>".into(), reason }.into()
}

/// Definition 2 on a suspect's and the reference's scores of the same images.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Definition2 {
    pub test: PairTest,
    pub m: usize,
    pub draws: usize,
    /// Draws whose t statistic is undefined (constant scores): p = 1 when the means are equal,
    /// 0 when the suspect's is higher (the reference notes' rule, §8 item 5), counted here.
    pub degenerate: usize,
    /// Harmonic mean of the draws' p-values (the official code's combination), and their mean.
    pub p_harmonic: f64,
    pub p_mean: f64,
    /// Mean over draws of mean(suspect) − mean(reference).
    pub delta_mu: f64,
}

pub fn definition2(
    suspect: &[f64],
    reference: &[f64],
    m: usize,
    draws: usize,
    test: PairTest,
    seed: u64,
) -> Result<Definition2, MethodError> {
    if suspect.len() != reference.len() || suspect.len() < m || m < 2 || draws == 0 {
        return Err(MethodError::BadParameter(format!(
            "Definition 2 draws {m} of the same images from both models: {} and {} scores",
            suspect.len(),
            reference.len()
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut idx: Vec<usize> = (0..suspect.len()).collect();
    let (mut ps, mut degenerate, mut delta) = (Vec::with_capacity(draws), 0, 0.0);
    for _ in 0..draws {
        let pick = idx.partial_shuffle(&mut rng, m).0.to_vec();
        let a: Vec<f64> = pick.iter().map(|&i| suspect[i]).collect();
        let b: Vec<f64> = pick.iter().map(|&i| reference[i]).collect();
        let d = (a.iter().sum::<f64>() - b.iter().sum::<f64>()) / m as f64;
        delta += d;
        let t = match test {
            PairTest::Paired => mown_eval::paired_t_test_greater(&a, &b),
            PairTest::Welch2 => mown_eval::welch_t_test_two_sided(&a, &b),
        };
        match t {
            Ok(t) => ps.push(t.p),
            Err(mown_eval::EvalError::BadParameter(msg)) if msg.contains("constant") => {
                degenerate += 1;
                ps.push(if d > 0.0 { 0.0 } else { 1.0 });
            }
            Err(e) => return Err(e.into()),
        }
    }
    let p_mean = ps.iter().sum::<f64>() / ps.len() as f64;
    // The harmonic mean is 0 when any p is 0.
    let p_harmonic = if ps.contains(&0.0) { 0.0 } else { ps.len() as f64 / ps.iter().map(|p| 1.0 / p).sum::<f64>() };
    Ok(Definition2 { test, m, draws, degenerate, p_harmonic, p_mean, delta_mu: delta / draws as f64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition2_detects_a_shift_and_counts_degenerate_draws() {
        let reference: Vec<f64> = (0..50).map(|i| 0.1 + 0.002 * i as f64).collect();
        let shifted: Vec<f64> = reference.iter().enumerate().map(|(i, r)| r + 0.3 + 0.01 * (i % 3) as f64).collect();
        let d = definition2(&shifted, &reference, 10, 40, PairTest::Paired, 1).unwrap();
        assert!(d.p_harmonic < 1e-6 && (d.delta_mu - 0.31).abs() < 0.02, "{d:?}");
        // Same scores: every paired draw is degenerate with p = 1.
        let same = definition2(&reference, &reference, 10, 5, PairTest::Paired, 1).unwrap();
        assert_eq!((same.degenerate, same.p_harmonic), (5, 1.0));
        // A lower suspect is no evidence one-sided, but the official two-sided test rejects.
        let lower: Vec<f64> = reference.iter().enumerate().map(|(i, r)| r - 0.05 - 0.01 * (i % 3) as f64).collect();
        let one = definition2(&lower, &reference, 10, 40, PairTest::Paired, 1).unwrap();
        let two = definition2(&lower, &reference, 10, 40, PairTest::Welch2, 1).unwrap();
        assert!(one.p_harmonic > 0.5 && two.p_harmonic < 0.01, "{one:?} {two:?}");
        assert!(definition2(&reference[..5], &reference, 10, 40, PairTest::Paired, 1).is_err());
    }
}
