//! Generation of near-boundary evidence: phase 1 (targeted CW-L2, Definition 2's filter), phase 2
//! (a DCGAN's samples near the boundary, [`super::privatise`]) and phase 3 (boundary fine-tuning
//! of the owner).

use mown_data::Dataset;
use mown_nn::Model;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::evidence::{NEAR_BOUNDARY_FORMAT, NearBoundaryEvidence};
use super::finetune::{FineTuneParams, tune_within_budget};
use super::is_near_boundary;
use super::privatise::{PrivatiseParams, privatise};
use crate::MethodError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearBoundaryParams {
    /// The boundary (s, t): seed images of class s move toward class t.
    pub source: usize,
    pub target: usize,
    /// Definition 2's gap: a sample is near the boundary when s and t are its top two classes and
    /// |g_s − g_t| <= tau. Seed 000 never gives a value; ours (0.1) keeps most CW-L2 examples
    /// at κ = 0, which stop as soon as t overtakes s (the fraction kept is in the file).
    pub tau: f64,
    /// Training images of class s that CW-L2 starts from (seed 000 §2.2: "a portion of the data").
    pub seeds: usize,
    /// Samples kept as evidence (seed 000 §5.2: 64).
    pub samples: usize,
    /// CW-L2: the constant c, Adam's rate and the iteration cap (the paper gives none; these are
    /// the CW-L2 fingerprint baseline's).
    pub cw_c: f64,
    pub cw_lr: f64,
    pub cw_iterations: usize,
    /// Phase 2; `None` keeps the phase-1 CW-L2 examples as the evidence (a thief with the same
    /// public data can rebuild those, §2.3; the file says so).
    #[serde(default)]
    pub privatise: Option<PrivatiseParams>,
    /// Phase 3; `None` leaves the owner as it is (the evidence then names the untuned owner).
    pub finetune: Option<FineTuneParams>,
    /// Draws and samples per draw of the t-test (seed 000 §5.2: 30 of 10).
    pub draws: usize,
    pub draw_size: usize,
    pub seed: u64,
}

impl Default for NearBoundaryParams {
    fn default() -> Self {
        NearBoundaryParams {
            source: 0,
            target: 1,
            tau: 0.1,
            seeds: 256,
            samples: 64,
            cw_c: 1.0,
            cw_lr: 0.01,
            cw_iterations: 1000,
            privatise: Some(PrivatiseParams::default()),
            finetune: Some(FineTuneParams::default()),
            draws: 30,
            draw_size: 10,
            seed: 0,
        }
    }
}

impl NearBoundaryParams {
    pub fn validate(&self, classes: usize) -> Result<(), MethodError> {
        let bad = |m: String| Err(MethodError::BadParameter(m));
        if self.source == self.target || self.source >= classes || self.target >= classes {
            return bad(format!(
                "the boundary ({}, {}) needs two different classes of the owner's {classes}",
                self.source, self.target
            ));
        }
        if !(self.tau.is_finite() && self.tau >= 0.0 && self.tau < 1.0) {
            return bad(format!("tau must be in [0, 1), got {}", self.tau));
        }
        if self.seeds == 0 || self.samples < 2 || self.draws == 0 || self.draw_size < 2 {
            return bad("need seeds >= 1, samples >= 2 and draws of >= 2 samples".into());
        }
        if !(self.cw_c > 0.0 && self.cw_lr > 0.0) || self.cw_iterations == 0 {
            return bad("CW-L2 needs c > 0, lr > 0 and at least one iteration".into());
        }
        Ok(())
    }
}

/// Near-boundary evidence of `owner` from its training data `train`, and the model it names: the
/// owner after phase 3 (or the owner itself without it). `test` measures the accuracy cost.
pub fn generate(
    owner: &Model,
    train: &Dataset,
    test: &Dataset,
    p: &NearBoundaryParams,
) -> Result<(NearBoundaryEvidence, Model), MethodError> {
    let started = std::time::Instant::now();
    p.validate(owner.num_classes())?;
    mown_nn::model::check_dataset_shape(train, owner.input_shape())?;
    let numel = owner.input_shape().numel();
    // Seeds: training images of class s that the owner classifies as s, in a seeded order.
    let predicted = owner.predict(train.images())?;
    let mut of_source: Vec<usize> =
        (0..train.len()).filter(|&i| train.labels()[i] == p.source && predicted[i] == p.source).collect();
    if of_source.is_empty() {
        return Err(MethodError::BadParameter(format!(
            "no training image of class {} is classified as {} by the owner",
            p.source, p.source
        )));
    }
    of_source.shuffle(&mut StdRng::seed_from_u64(p.seed));
    of_source.truncate(p.seeds);
    let x0 = crate::uap::gather_images(train.images(), numel, &of_source)?;
    let mut examples = vec![0f32; x0.len()];
    let targets = vec![p.target; of_source.len()];
    let iterations =
        crate::baselines::cw_l2(owner, &x0, &targets, p.cw_c, 0.0, p.cw_lr, p.cw_iterations, &mut examples)?;
    let probs = owner.probabilities(&examples)?;
    let classes = owner.num_classes();
    let near: Vec<usize> = (0..of_source.len())
        .filter(|&i| is_near_boundary(&probs[i * classes..(i + 1) * classes], p.source, p.target, p.tau))
        .collect();
    let kept_fraction = near.len() as f64 / of_source.len() as f64;
    if near.len() < p.draw_size {
        return Err(MethodError::BadParameter(format!(
            "only {} of {} CW-L2 examples are near the ({}, {}) boundary at tau = {} (a draw needs {}): raise tau, \
             the seeds or the CW iterations",
            near.len(),
            of_source.len(),
            p.source,
            p.target,
            p.tau,
            p.draw_size
        )));
    }
    let phase1_seconds = started.elapsed().as_secs_f64();
    let (samples, privatisation, phase2) = match &p.privatise {
        None => {
            let chosen: Vec<usize> = near.iter().copied().take(p.samples).collect();
            let samples = crate::uap::gather_images(&examples, numel, &chosen)?;
            let why = "none: phase 2 (the DCGAN) was skipped; the samples are the phase-1 CW-L2 examples".to_string();
            (samples, why, serde_json::Value::Null)
        }
        Some(pp) => {
            let real = crate::uap::gather_images(&examples, numel, &near)?;
            let (samples, stats) = privatise(owner, &real, p.source, p.target, p.tau, p.samples, pp, p.seed)?;
            let accepted = samples.len() / numel;
            if accepted < p.draw_size {
                return Err(MethodError::BadParameter(format!(
                    "the DCGAN gave only {accepted} samples near the ({}, {}) boundary at tau = {} in {} \
                     candidates (a draw needs {}): raise tau, the GAN's steps or max candidates, or skip phase 2",
                    p.source, p.target, p.tau, stats["candidates"], p.draw_size
                )));
            }
            let why = format!(
                "dcgan: {accepted} generated samples near the boundary (Definition 2 on the untuned owner; \
                 acceptance {:.3} of {} candidates)",
                stats["acceptance_rate"].as_f64().unwrap_or(f64::NAN),
                stats["candidates"]
            );
            (samples, why, stats)
        }
    };
    let phase2_seconds = started.elapsed().as_secs_f64() - phase1_seconds;
    let (tuned, finetune_stats, accuracy_before, accuracy_after) = match &p.finetune {
        None => {
            let accuracy = owner.accuracy(test)?;
            (owner.clone(), serde_json::Value::Null, accuracy, accuracy)
        }
        Some(ft) => {
            let t = tune_within_budget(owner, train, test, &samples, p.source, p.target, p.tau, ft)?;
            (t.model, t.stats, t.accuracy_before, t.accuracy_after)
        }
    };
    let tuned_probs = tuned.probabilities(&samples)?;
    let distances: Vec<f64> =
        tuned_probs.chunks(classes).map(|row| super::boundary_distance(row, p.source, p.target)).collect();
    let mean_distance = distances.iter().sum::<f64>() / distances.len() as f64;
    let sample_count = samples.len() / numel;
    let evidence = NearBoundaryEvidence {
        format_version: NEAR_BOUNDARY_FORMAT,
        params: p.clone(),
        owner_sha256: mown_nn::io::model_sha256(&tuned)?,
        untuned_owner_sha256: mown_nn::io::model_sha256(owner)?,
        owner_derivation: owner.meta.provenance.derivation.clone(),
        input_shape: owner.input_shape(),
        num_classes: classes,
        samples,
        privatisation,
        stats: serde_json::json!({
            "seeds": of_source.len(), "cw_iterations": iterations, "near_boundary": near.len(),
            "kept_fraction": kept_fraction, "samples": sample_count, "phase2": phase2,
            "accuracy_before": accuracy_before, "accuracy_after": accuracy_after,
            "owner_mean_distance": mean_distance, "finetune": finetune_stats,
        }),
        producer: format!("mown {}", env!("CARGO_PKG_VERSION")),
        timings: serde_json::json!({
            "phase1_seconds": phase1_seconds, "phase2_seconds": phase2_seconds,
            "phase3_seconds": started.elapsed().as_secs_f64() - phase1_seconds - phase2_seconds,
            "seconds": started.elapsed().as_secs_f64(),
        }),
    };
    Ok((evidence, tuned))
}
