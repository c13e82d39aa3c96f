//! The universal adversarial perturbation (Moosavi-Dezfooli, Fawzi, Fawzi, Frossard, CVPR 2017,
//! Algorithm 1), L2: one v, ||v||₂ ≤ ξ, that changes the owner's label on most images. Seed 003
//! uses one such v of the owner as the probe of its fingerprints (§3.3, Eq. 3) and cites this
//! algorithm without restating it.
//!
//! Per pass over the shuffled data: every image whose label v does not yet change gets a DeepFool
//! step from x + v, which is added to v, and v is projected back onto the ball of radius ξ. Passes
//! stop once the fooling rate on a held-out set reaches the target (the paper's 1 − δ).
//!
//! Two choices of ours, both parameters (`batch = 1, checks = 1, keep_best = false` is the
//! paper's algorithm):
//!
//! - Batching: we take `batch` images, find those v does not fool, run DeepFool on all of them at
//!   the current v in one batched call, and then add their steps to v one by one, projecting after
//!   each, in the shuffled order. DeepFool costs one gradient pass per class and iteration, and
//!   burn's per-pass overhead dominates on one small image: batches of 16 ran six passes on the
//!   digits MLP 1.6-1.8 times as fast as batches of 1. The price: an image that an earlier step
//!   of its batch already fooled still adds its (now redundant) step.
//! - Keeping the best v: with 10 classes, v soon sends most images to one dominant label, and the
//!   images that are not fooled are mostly that label's own, whose DeepFool steps point away from
//!   it: v swings from one dominant label to another and the fooling rate oscillates (on the
//!   digits MLP at rms 0.3, end-of-pass rates 0.67, 0.60, 0.77, 0.70, 0.55, 0.61; larger balls,
//!   up to rms 1, and a larger overshoot did no better). We therefore measure the held-out rate
//!   `checks` times per pass, keep the best v seen and start every pass from it, so the history
//!   never falls (best 0.85 after the first pass, 0.88 after five). The held-out set then also
//!   selects v; on 500 images used neither to build nor to select v the rate was within 0.04 of
//!   the held-out one in our runs, as often above it as below.

use mown_nn::Model;
use mown_nn::seed::derive;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::MethodError;
use mown_adversary::deepfool::{CandidateClasses, DeepFoolParams, deepfool};

/// The L2 bound ξ on v, in pixel-[0, 1] units.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Radius {
    /// ξ itself.
    L2(f64),
    /// ξ = rms · sqrt(d) for d input values: the root-mean-square change per pixel, so one
    /// setting fits any image size (an L2 ball of fixed radius is much larger per pixel on
    /// 8x8 digits than on 32x32x3 CIFAR).
    Rms(f64),
}

impl Radius {
    /// ξ for images of `numel` values.
    pub fn for_dim(self, numel: usize) -> f64 {
        match self {
            Radius::L2(xi) => xi,
            Radius::Rms(rms) => rms * (numel as f64).sqrt(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UapParams {
    /// ξ. Neither seed 003 nor the UAP paper gives one for [0, 1] pixels (seed 003's only hint,
    /// a DeepFool ε of 22 in its AP ablation, has no stated pixel scale). The UAP paper's L2
    /// setting, ξ = 2000 on [0, 255] ImageNet images of 224x224x3, is an rms of 0.02 per pixel on
    /// [0, 1]; that scale fools far fewer than 80% of the images of small, low-resolution
    /// models. The default rms 0.3 (ξ = 2.4 on 8x8 digits, 8.4 on 28x28 Fashion-MNIST; the
    /// digits MLP's median DeepFool perturbation is 0.63) is what we measured to reach the 0.8
    /// target on the digits MLP within one pass (0.85; rms 0.2 stalls near 0.7; module tests).
    pub xi: Radius,
    /// DeepFool's overshoot η (0.02, as in both papers).
    pub overshoot: f64,
    /// Passes over the data at most (the UAP paper loops until the target is met; a bound keeps
    /// an unreachable target from running forever).
    pub max_passes: usize,
    /// Stop once this fraction of the held-out images changes label: seed 003 §5.1 reports "> 80%
    /// attack success rate" for the v it uses, so 0.8 (δ = 0.2).
    pub target_fooling_rate: f64,
    /// DeepFool iterations per step (our choice: 10; x + v is usually already near a boundary,
    /// and an image DeepFool cannot flip within it contributes no step).
    pub deepfool_iterations: usize,
    /// Images per batched DeepFool call (see the module comment; 1 is the paper's procedure).
    pub batch: usize,
    /// Held-out evaluations per pass, evenly spread (ours: 10; 1 checks only at the end of a pass,
    /// as the paper does). Each costs one forward pass over the held-out set.
    pub checks: usize,
    /// Keep the v with the best held-out rate seen and start each pass from it (ours, see the
    /// module comment); false returns the last v, as the paper's algorithm does.
    pub keep_best: bool,
    /// DeepFool's candidate classes (all, the DeepFool paper's choice).
    pub candidates: CandidateClasses,
    /// Seeds the data order of every pass.
    pub seed: u64,
}

impl Default for UapParams {
    fn default() -> Self {
        Self {
            xi: Radius::Rms(0.3),
            overshoot: 0.02,
            max_passes: 10,
            target_fooling_rate: 0.8,
            deepfool_iterations: 10,
            batch: 16,
            checks: 10,
            keep_best: true,
            candidates: CandidateClasses::All,
            seed: 0,
        }
    }
}

impl UapParams {
    pub fn validate(&self) -> Result<(), MethodError> {
        let bad = |m: String| Err(MethodError::BadParameter(m));
        let xi = self.xi.for_dim(1);
        if !(xi.is_finite() && xi > 0.0) {
            return bad(format!("UAP radius xi must be positive, got {:?}", self.xi));
        }
        if !(0.0..=1.0).contains(&self.target_fooling_rate) {
            return bad(format!("target fooling rate must be in [0, 1], got {}", self.target_fooling_rate));
        }
        if self.batch == 0 || self.max_passes == 0 || self.deepfool_iterations == 0 || self.checks == 0 {
            return bad("UAP batch, max passes, checks and DeepFool iterations must be at least 1".into());
        }
        Ok(self.deepfool().validate()?)
    }

    fn deepfool(&self) -> DeepFoolParams {
        DeepFoolParams {
            overshoot: self.overshoot,
            max_iterations: self.deepfool_iterations,
            candidates: self.candidates,
            clip: true,
        }
    }
}

/// What [`universal_perturbation`] produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UapResult {
    /// v, one image's shape (`[c, h, w]` row-major); apply it as clip(x + v).
    pub v: Vec<f32>,
    /// Fraction of the held-out images whose label changes under v.
    pub fooling_rate: f64,
    /// ||v||₂ (at most ξ).
    pub norm: f64,
    /// ξ as applied.
    pub xi: f64,
    /// Passes made (the last one possibly cut short when the target was met).
    pub passes: usize,
    /// Per pass, the held-out rate of the v carried into the next pass (with `keep_best`, the
    /// best so far; otherwise that of the v at the pass's end).
    pub history: Vec<f64>,
    /// Per pass, the held-out rate of the v at its last check, before keeping the best.
    pub raw_history: Vec<f64>,
    /// DeepFool steps added to v over all passes.
    pub steps: usize,
}

/// clip(x + v) for every image of `images`.
pub fn apply(images: &[f32], v: &[f32]) -> Vec<f32> {
    images.chunks(v.len().max(1)).flat_map(|x| x.iter().zip(v).map(|(a, b)| (a + b).clamp(0.0, 1.0))).collect()
}

/// Fraction of `images` whose label under `model` changes when v is added (`clean` are the
/// labels at the images themselves).
pub fn fooling_rate(model: &Model, images: &[f32], clean: &[usize], v: &[f32]) -> Result<f64, MethodError> {
    if clean.is_empty() {
        return Err(MethodError::BadParameter("fooling rate over zero images".into()));
    }
    let perturbed = model.predict(&apply(images, v))?;
    Ok(perturbed.iter().zip(clean).filter(|(a, b)| a != b).count() as f64 / clean.len() as f64)
}

/// Projects v onto the L2 ball of radius ξ (the UAP paper's P_{p,ξ}, §3, with p = 2).
fn project(v: &mut [f32], xi: f64) {
    let norm = super::l2_norm(v);
    if norm > xi {
        let s = (xi / norm) as f32;
        v.iter_mut().for_each(|x| *x *= s);
    }
}

/// The UAP of `model` built on `data` (the owner's images; seed 003's Algorithm 1 takes its
/// training data), passes stopping on the fooling rate over `held_out`.
pub fn universal_perturbation(
    model: &Model,
    data: &[f32],
    held_out: &[f32],
    params: &UapParams,
) -> Result<UapResult, MethodError> {
    params.validate()?;
    let n = model.check_images(data)?;
    if n == 0 || model.check_images(held_out)? == 0 {
        return Err(MethodError::BadParameter("a UAP needs data and held-out images".into()));
    }
    let numel = model.input_shape().numel();
    let xi = params.xi.for_dim(numel);
    let deepfool_params = params.deepfool();
    let clean = model.predict(data)?;
    let held_clean = model.predict(held_out)?;
    let batches = n.div_ceil(params.batch);
    let mut v = vec![0f32; numel];
    let mut best = (0.0, v.clone());
    let mut result = UapResult {
        v: Vec::new(),
        fooling_rate: 0.0,
        norm: 0.0,
        xi,
        passes: 0,
        history: Vec::new(),
        raw_history: Vec::new(),
        steps: 0,
    };
    let mut done = false;
    for pass in 0..params.max_passes {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(derive(params.seed, pass as u64)));
        let mut last = 0.0;
        for (b, chunk) in order.chunks(params.batch).enumerate() {
            let images: Vec<f32> =
                chunk.iter().flat_map(|&i| data[i * numel..(i + 1) * numel].iter().copied()).collect();
            let perturbed = apply(&images, &v);
            let labels = model.predict(&perturbed)?;
            // Only images whose label v does not change yet get a step (Alg. 1: if k(x + v) = k(x)).
            let unfooled: Vec<usize> = (0..chunk.len()).filter(|&r| labels[r] == clean[chunk[r]]).collect();
            if !unfooled.is_empty() {
                let start: Vec<f32> =
                    unfooled.iter().flat_map(|&r| perturbed[r * numel..(r + 1) * numel].iter().copied()).collect();
                let df = deepfool(model, &start, &deepfool_params)?;
                // A DeepFool that did not flip within its budget gives no step (it would be an
                // unfinished, often long, move towards a boundary it never reached).
                for (s, _) in df.flipped.iter().enumerate().filter(|(_, f)| **f) {
                    for (vi, ri) in v.iter_mut().zip(&df.perturbations[s * numel..(s + 1) * numel]) {
                        *vi += ri;
                    }
                    project(&mut v, xi);
                    result.steps += 1;
                }
            }
            // Checks fall after batches b where floor(b · checks / batches) steps up; the last
            // batch always has one.
            if (b + 1) * params.checks / batches != b * params.checks / batches {
                last = fooling_rate(model, held_out, &held_clean, &v)?;
                if last > best.0 || !params.keep_best {
                    best = (last, v.clone());
                }
                if best.0 >= params.target_fooling_rate {
                    done = true;
                    break;
                }
            }
        }
        if params.keep_best {
            v.clone_from(&best.1);
        }
        result.history.push(best.0);
        result.raw_history.push(last);
        if done {
            break;
        }
    }
    result.passes = result.history.len();
    result.fooling_rate = best.0;
    result.norm = super::l2_norm(&best.1);
    result.v = best.1;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uap::testutil::{digits, digits_mlp};

    #[test]
    fn projection_keeps_v_inside_the_ball() {
        let mut v = vec![3.0, 4.0];
        project(&mut v, 1.0);
        assert!((crate::uap::l2_norm(&v) - 1.0).abs() < 1e-6 && (v[0] - 0.6).abs() < 1e-6);
        let mut small = vec![0.3, 0.4];
        project(&mut small, 1.0);
        assert_eq!(small, vec![0.3, 0.4]);
        assert_eq!(Radius::Rms(0.5).for_dim(16), 2.0);
        assert_eq!(apply(&[0.5, 0.9, 0.1, 0.0], &[0.2, 0.2]), vec![0.7, 1.0, 0.3, 0.2]);
    }

    #[test]
    fn fooling_rate_rises_over_passes_and_defaults_reach_the_target() {
        let (train, test) = digits();
        let model = digits_mlp(&train, 2);
        let numel = train.shape.numel();
        let data = &train.images()[..300 * numel];
        let held_out = &test.images()[..200 * numel];
        // A smaller ball and an unreachable target: every pass runs, so the history shows the
        // climb (and, with keep_best, never falls).
        let slow = UapParams {
            xi: Radius::Rms(0.25),
            target_fooling_rate: 1.0,
            max_passes: 4,
            seed: 5,
            ..UapParams::default()
        };
        let started = std::time::Instant::now();
        let uap = universal_perturbation(&model, data, held_out, &slow).unwrap();
        eprintln!(
            "UAP rms 0.25: history {:?} (raw {:?}), norm {:.3} (xi {:.3}), {} steps, {:.2} s",
            uap.history,
            uap.raw_history,
            uap.norm,
            uap.xi,
            uap.steps,
            started.elapsed().as_secs_f64()
        );
        assert_eq!((uap.v.len(), uap.passes), (numel, 4));
        assert!(uap.norm <= uap.xi + 1e-4);
        assert!(uap.history.windows(2).all(|w| w[1] >= w[0]), "fooling rate fell: {:?}", uap.history);
        assert!(uap.history[3] > uap.history[0], "no rise over passes: {:?}", uap.history);
        // The reported rate is the model's own verdict on clip(x + v).
        let clean = model.predict(held_out).unwrap();
        assert_eq!(fooling_rate(&model, held_out, &clean, &uap.v).unwrap(), uap.fooling_rate);

        // The defaults reach the 0.8 target, also on images that neither built nor chose v.
        let started = std::time::Instant::now();
        let uap =
            universal_perturbation(&model, data, held_out, &UapParams { seed: 5, ..UapParams::default() }).unwrap();
        let fresh = &train.images()[300 * numel..800 * numel];
        let fresh_rate = fooling_rate(&model, fresh, &model.predict(fresh).unwrap(), &uap.v).unwrap();
        eprintln!(
            "UAP defaults: history {:?}, fooling {:.3} (fresh images {fresh_rate:.3}), norm {:.3}, {:.2} s",
            uap.history,
            uap.fooling_rate,
            uap.norm,
            started.elapsed().as_secs_f64()
        );
        assert!(uap.fooling_rate >= 0.8, "fooling rate {} below the target", uap.fooling_rate);
        assert!(fresh_rate >= 0.75, "fooling rate on fresh images {fresh_rate}");
    }
}
