//! Evidence a thief can forge on a model they hold (seed 000 §5.3's ambiguity attacks), for the
//! dispute: natural images near the boundary, and targeted FGSM examples. (CW-L2 examples and the
//! whole pipeline are [`super::generate`] run on the stolen model, without or with phases 2-3.)

use mown_data::Dataset;
use mown_nn::Model;
use mown_nn::burn::prelude::*;

use super::evidence::{NEAR_BOUNDARY_FORMAT, NearBoundaryEvidence};
use super::{NearBoundaryParams, is_near_boundary};
use crate::MethodError;

/// Evidence of `model` made of `images` (NCHW, already near the boundary), no tuning.
fn forged(
    model: &Model,
    p: &NearBoundaryParams,
    samples: Vec<f32>,
    privatisation: &str,
    stats: serde_json::Value,
) -> Result<NearBoundaryEvidence, MethodError> {
    let sha = mown_nn::io::model_sha256(model)?;
    Ok(NearBoundaryEvidence {
        format_version: NEAR_BOUNDARY_FORMAT,
        params: NearBoundaryParams { finetune: None, privatise: None, ..p.clone() },
        owner_sha256: sha.clone(),
        untuned_owner_sha256: sha,
        owner_derivation: model.meta.provenance.derivation.clone(),
        input_shape: model.input_shape(),
        num_classes: model.num_classes(),
        samples,
        privatisation: privatisation.into(),
        stats,
        producer: format!("mown {}", env!("CARGO_PKG_VERSION")),
        timings: serde_json::Value::Null,
    })
}

fn too_few(found: usize, of: usize, what: &str, p: &NearBoundaryParams) -> MethodError {
    MethodError::BadParameter(format!(
        "only {found} of {of} {what} are near the ({}, {}) boundary at tau = {} (a draw needs {})",
        p.source, p.target, p.tau, p.draw_size
    ))
}

/// The images of `data` that are near `model`'s (s, t) boundary by Definition 2 at `p.tau`, at
/// most `p.samples` (§5.3's first forged claim: "near-boundary data selected from the original
/// data"). Nothing is generated or tuned.
pub fn natural(model: &Model, data: &Dataset, p: &NearBoundaryParams) -> Result<NearBoundaryEvidence, MethodError> {
    p.validate(model.num_classes())?;
    mown_nn::model::check_dataset_shape(data, model.input_shape())?;
    let classes = model.num_classes();
    let probs = model.probabilities(data.images())?;
    let near: Vec<usize> = (0..data.len())
        .filter(|&i| is_near_boundary(&probs[i * classes..(i + 1) * classes], p.source, p.target, p.tau))
        .take(p.samples)
        .collect();
    if near.len() < p.draw_size {
        return Err(too_few(near.len(), data.len(), "images", p));
    }
    let samples = crate::uap::gather_images(data.images(), model.input_shape().numel(), &near)?;
    let stats = serde_json::json!({ "candidates": data.len(), "near_boundary": near.len() });
    forged(model, p, samples, "natural images near the boundary, picked from the data", stats)
}

/// Targeted FGSM (§5.3's second forged claim: "adversarial examples such as FGSM"): from the
/// images of class s in `data` that `model` classifies as s, one signed-gradient step of each
/// size in `eps` (ascending) down the cross-entropy of class t; an image's first step that lands
/// near the boundary by Definition 2 is kept, at most `p.samples`.
pub fn fgsm(
    model: &Model,
    data: &Dataset,
    p: &NearBoundaryParams,
    eps: &[f64],
) -> Result<NearBoundaryEvidence, MethodError> {
    p.validate(model.num_classes())?;
    mown_nn::model::check_dataset_shape(data, model.input_shape())?;
    if eps.is_empty() || eps.iter().any(|e| !(e.is_finite() && *e > 0.0)) {
        return Err(MethodError::BadParameter(format!("FGSM step sizes must be positive, got {eps:?}")));
    }
    let (shape, classes) = (model.input_shape(), model.num_classes());
    let numel = shape.numel();
    let predicted = model.predict(data.images())?;
    let seeds: Vec<usize> =
        (0..data.len()).filter(|&i| data.labels()[i] == p.source && predicted[i] == p.source).collect();
    if seeds.is_empty() {
        return Err(too_few(0, 0, "images of the source class", p));
    }
    let x0 = crate::uap::gather_images(data.images(), numel, &seeds)?;
    let mut taken = vec![false; seeds.len()];
    let mut samples = Vec::new();
    let device = Device::flex();
    for &e in eps {
        let images = mown_nn::model::images_tensor(&x0, shape, &device);
        let targets = vec![p.target; seeds.len()];
        // Down the target's cross-entropy: an FGSM step of -eps on the target labels.
        let moved = mown_nn::model::tensor_to_vec(mown_adversary::advtrain::fgsm(model, images, &targets, -e));
        let probs = model.probabilities(&moved)?;
        for (i, row) in probs.chunks(classes).enumerate() {
            if !taken[i] && samples.len() < p.samples * numel && is_near_boundary(row, p.source, p.target, p.tau) {
                taken[i] = true;
                samples.extend_from_slice(&moved[i * numel..(i + 1) * numel]);
            }
        }
    }
    let found = samples.len() / numel;
    if found < p.draw_size {
        return Err(too_few(found, seeds.len(), "FGSM examples", p));
    }
    let stats = serde_json::json!({ "seeds": seeds.len(), "near_boundary": found, "eps": eps });
    forged(model, p, samples, "targeted FGSM examples near the boundary", stats)
}
