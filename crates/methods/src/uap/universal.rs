//! The universal adversarial perturbation (Moosavi-Dezfooli, Fawzi, Fawzi, Frossard, CVPR 2017,
//! Algorithm 1), L2: one v, ||v||₂ ≤ ξ, that changes the owner's label on most images. Seed 003
//! uses one such v of the owner as the probe of its fingerprints (§3.2, Eq. 3) and cites this
//! algorithm without restating it.
//!
//! Per pass over the shuffled data: every image whose label v does not yet change gets a DeepFool
//! step from x + v, which is added to v, and v is projected back onto the ball of radius ξ. Passes
//! stop once the fooling rate on a held-out set reaches the target (the paper's 1 − δ).
//!
//! Batching (our choice): the paper handles one image at a time. We take `batch` images, find
//! those v does not fool, run DeepFool on all of them at the current v in one batched call, and
//! then add their steps to v one by one, projecting after each, in the shuffled order. `batch =
//! 1` is the paper's algorithm. Why: DeepFool costs one gradient pass per class and iteration,
//! and burn's per-pass overhead dominates on a single small image, so a batch of 16 runs many
//! times faster; the price is that the steps of one batch are computed against the same v, so an
//! image that an earlier step of its batch already fooled still adds its (now redundant) step.

use mown_nn::Model;
use mown_nn::seed::derive;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::deepfool::{CandidateClasses, DeepFoolParams, deepfool};
use crate::MethodError;

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
    /// models. The default rms 0.2 (ξ = 1.6 on 8x8 digits, 5.6 on 28x28 Fashion-MNIST) is what
    /// we measured to reach the 0.8 target on the digits MLP (see the module tests).
    pub xi: Radius,
    /// DeepFool's overshoot η (0.02, as in both papers).
    pub overshoot: f64,
    /// Passes over the data at most (the UAP paper loops until the target is met; a bound keeps
    /// an unreachable target from running forever).
    pub max_passes: usize,
    /// Stop once this fraction of the held-out images changes label: seed 003 §4 reports "> 80%
    /// attack success rate" for the v it uses, so 0.8 (δ = 0.2).
    pub target_fooling_rate: f64,
    /// DeepFool iterations per step (our choice: 10; x + v is usually already near a boundary,
    /// and an image DeepFool cannot flip within it contributes no step).
    pub deepfool_iterations: usize,
    /// Images per batched DeepFool call (see the module comment; 1 is the paper's procedure).
    pub batch: usize,
    /// DeepFool's candidate classes (all, the DeepFool paper's choice).
    pub candidates: CandidateClasses,
    /// Seeds the data order of every pass.
    pub seed: u64,
}

impl Default for UapParams {
    fn default() -> Self {
        Self {
            xi: Radius::Rms(0.2),
            overshoot: 0.02,
            max_passes: 10,
            target_fooling_rate: 0.8,
            deepfool_iterations: 10,
            batch: 16,
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
        if self.batch == 0 || self.max_passes == 0 || self.deepfool_iterations == 0 {
            return bad("UAP batch, max passes and DeepFool iterations must be at least 1".into());
        }
        self.deepfool().validate()
    }

    fn deepfool(&self) -> DeepFoolParams {
        DeepFoolParams {
            overshoot: self.overshoot,
            max_iterations: self.deepfool_iterations,
            candidates: self.candidates,
            clip: std::env::var("NOCLIP").is_err(),
        }
    }
}

/// What [`universal_perturbation`] produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UapResult {
    /// v, one image's shape (`[c, h, w]` row-major); apply it as clip(x + v).
    pub v: Vec<f32>,
    /// Fraction of the held-out images whose label changes under v (after the last pass).
    pub fooling_rate: f64,
    /// ||v||₂ (at most ξ).
    pub norm: f64,
    /// ξ as applied.
    pub xi: f64,
    /// Passes made.
    pub passes: usize,
    /// The held-out fooling rate after each pass.
    pub history: Vec<f64>,
    /// DeepFool steps added to v over all passes.
    pub steps: usize,
}

/// clip(x + v) for every image of `images`.
pub fn apply(images: &[f32], v: &[f32]) -> Vec<f32> {
    let noclip = std::env::var("NOCLIP").is_ok();
    images
        .chunks(v.len().max(1))
        .flat_map(|x| x.iter().zip(v).map(move |(a, b)| if noclip { a + b } else { (a + b).clamp(0.0, 1.0) }))
        .collect()
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

/// Projects v onto the L2 ball of radius ξ (P_{2,ξ} of the UAP paper, Eq. 2).
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
    let mut v = vec![0f32; numel];
    let (mut history, mut steps) = (Vec::new(), 0);
    for pass in 0..params.max_passes {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(derive(params.seed, pass as u64)));
        for chunk in order.chunks(params.batch) {
            let images: Vec<f32> =
                chunk.iter().flat_map(|&i| data[i * numel..(i + 1) * numel].iter().copied()).collect();
            let perturbed = apply(&images, &v);
            let labels = model.predict(&perturbed)?;
            // Only images whose label v does not change yet get a step (Alg. 1, line 5).
            let unfooled: Vec<usize> = (0..chunk.len()).filter(|&r| labels[r] == clean[chunk[r]]).collect();
            if unfooled.is_empty() {
                continue;
            }
            let start: Vec<f32> =
                unfooled.iter().flat_map(|&r| perturbed[r * numel..(r + 1) * numel].iter().copied()).collect();
            let df = deepfool(model, &start, &deepfool_params)?;
            for (s, _) in df.flipped.iter().enumerate().filter(|(_, f)| **f) {
                for (vi, ri) in v.iter_mut().zip(&df.perturbations[s * numel..(s + 1) * numel]) {
                    *vi += ri;
                }
                project(&mut v, xi);
                steps += 1;
            }
        }
        let rate = fooling_rate(model, held_out, &held_clean, &v)?;
        history.push(rate);
        if rate >= params.target_fooling_rate {
            break;
        }
    }
    Ok(UapResult {
        fooling_rate: history.last().copied().unwrap_or(0.0),
        norm: super::l2_norm(&v),
        xi,
        passes: history.len(),
        history,
        steps,
        v,
    })
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
    fn fooling_rate_rises_over_passes_to_the_target() {
        let (train, test) = digits();
        let model = digits_mlp(&train, 2);
        let numel = train.shape.numel();
        let data = &train.images()[..300 * numel];
        let held_out = &test.images()[..200 * numel];
        let params = UapParams { seed: 5, ..UapParams::default() };
        let started = std::time::Instant::now();
        let uap = universal_perturbation(&model, data, held_out, &params).unwrap();
        eprintln!(
            "UAP: history {:?}, norm {:.3} (xi {:.3}), {} steps, {:.2} s",
            uap.history,
            uap.norm,
            uap.xi,
            uap.steps,
            started.elapsed().as_secs_f64()
        );
        assert_eq!(uap.v.len(), numel);
        assert!(uap.norm <= uap.xi + 1e-4);
        assert!(uap.history.windows(2).all(|w| w[1] >= w[0] - 0.02), "fooling rate fell: {:?}", uap.history);
        assert!(uap.history.len() >= 2 && uap.fooling_rate > uap.history[0], "no rise: {:?}", uap.history);
        assert!(uap.fooling_rate >= 0.8, "fooling rate {} below the target", uap.fooling_rate);
        // The held-out figure is the model's own verdict on clip(x + v).
        let clean = model.predict(held_out).unwrap();
        assert_eq!(fooling_rate(&model, held_out, &clean, &uap.v).unwrap(), uap.fooling_rate);
    }
}

#[cfg(test)]
mod sweep_tmp {
    use super::*;
    use crate::uap::testutil::{digits, digits_mlp};

    #[test]
    #[ignore]
    fn sweep() {
        let (train, test) = digits();
        let model = digits_mlp(&train, 2);
        let numel = train.shape.numel();
        let n: usize = std::env::var("N").map(|v| v.parse().unwrap()).unwrap_or(300);
        let data = &train.images()[..n * numel];
        let held_out = &test.images()[..200 * numel];
        for rms in [0.3, 0.5, 0.7, 1.0] {
            for (batch, overshoot) in [(16, 0.02), (16, 0.2), (1, 0.2)] {
                let params = UapParams {
                    seed: 5,
                    xi: Radius::Rms(rms),
                    batch,
                    overshoot,
                    target_fooling_rate: 1.0,
                    max_passes: 6,
                    ..UapParams::default()
                };
                let t = std::time::Instant::now();
                let uap = universal_perturbation(&model, data, held_out, &params).unwrap();
                let h: Vec<String> = uap.history.iter().map(|x| format!("{x:.2}")).collect();
                let clean = model.predict(held_out).unwrap();
                let fooled = model.predict(&apply(held_out, &uap.v)).unwrap();
                let mut hist = vec![0; 10];
                for (a, b) in fooled.iter().zip(&clean) {
                    if a == b {
                        hist[*a] += 1
                    }
                }
                let mut fl = vec![0; 10];
                for a in &fooled {
                    fl[*a] += 1
                }
                eprintln!("  unfooled by class {hist:?}, labels under v {fl:?}");
                eprintln!(
                    "rms {rms} batch {batch} os {overshoot}: {} steps {} {:.2}s",
                    h.join(" "),
                    uap.steps,
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
}
