//! Adversarial training of a stolen model (seed 003 §5 lists it as a removal attack): each batch
//! is trained half on clean images and half on FGSM/PGD examples made against the current
//! weights, which moves decision boundaries — exactly what boundary fingerprints rely on.
//! FGSM and PGD are exported for the fingerprinting baselines too. [`deepfool_training`] is
//! seed 003's own variant: DeepFool examples, which sit just past the nearest boundary.

use mown_data::Dataset;
use mown_nn::burn::prelude::*;
use mown_nn::train::{Objective, train_with};
use mown_nn::{Model, TrainConfig};

use crate::AttackError;
use crate::chain::AdvMethod;
use crate::deepfool::{DeepFoolParams, deepfool};

/// One signed-gradient step of size `eps` that increases the cross-entropy, clipped to [0, 1].
pub fn fgsm(model: &Model, images: Tensor<4>, labels: &[usize], eps: f64) -> Tensor<4> {
    let g = model.input_gradient(images.clone(), |logits| mown_nn::loss::cross_entropy(logits, labels));
    (images.without_autodiff() + g.grad.sign().mul_scalar(eps)).clamp(0.0, 1.0)
}

/// `steps` FGSM steps of `step` each, projected onto the L∞ ball of radius `eps` around the
/// start and onto [0, 1] (Madry et al. 2018, without a random start so it is deterministic).
pub fn pgd(model: &Model, images: Tensor<4>, labels: &[usize], eps: f64, step: f64, steps: usize) -> Tensor<4> {
    let origin = images.without_autodiff();
    let mut x = origin.clone();
    for _ in 0..steps {
        let g = model.input_gradient(x.clone(), |logits| mown_nn::loss::cross_entropy(logits, labels));
        let moved = x + g.grad.sign().mul_scalar(step);
        let low = origin.clone().sub_scalar(eps);
        let high = origin.clone().add_scalar(eps);
        x = moved.max_pair(low).min_pair(high).clamp(0.0, 1.0);
    }
    x
}

/// PGD steps used in adversarial training; step size 2.5·ε/steps as Madry et al.
pub const PGD_STEPS: usize = 5;

struct Adversarial {
    method: AdvMethod,
    eps: f64,
}

impl Objective for Adversarial {
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        let adv = match self.method {
            AdvMethod::Fgsm => fgsm(model, images.clone(), labels, self.eps),
            AdvMethod::Pgd => {
                pgd(model, images.clone(), labels, self.eps, 2.5 * self.eps / PGD_STEPS as f64, PGD_STEPS)
            }
        };
        let device = images.device();
        let clean = mown_nn::loss::cross_entropy(model.forward(images), labels);
        let robust = mown_nn::loss::cross_entropy(model.forward(adv.to_device(&device).autodiff()), labels);
        (clean + robust).mul_scalar(0.5)
    }
}

/// Continues training `model` adversarially on `data`.
pub fn adversarial_training(
    model: &Model,
    data: &Dataset,
    method: AdvMethod,
    eps: f64,
    cfg: &TrainConfig,
) -> Result<Model, AttackError> {
    if !(eps.is_finite() && eps > 0.0 && eps < 1.0) {
        return Err(AttackError::BadParameter(format!("adversarial eps {eps} must be in (0, 1)")));
    }
    let mut objective = Adversarial { method, eps };
    Ok(train_with(model.clone(), data, None, cfg, &mut objective)?.0)
}

/// Half clean, half DeepFool examples made against the current weights (in evaluation mode).
struct DeepFoolExamples {
    params: DeepFoolParams,
    /// DeepFool's error, kept for [`deepfool_training`] (a loss cannot return one).
    failure: Option<AttackError>,
}

impl Objective for DeepFoolExamples {
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        let device = images.device();
        let pixels = mown_nn::model::tensor_to_vec(images.clone());
        let adversarial = match deepfool(&model.valid(), &pixels, &self.params) {
            Ok(found) => pixels.iter().zip(&found.perturbations).map(|(x, r)| x + r).collect::<Vec<f32>>(),
            Err(e) => {
                self.failure = Some(e);
                return Tensor::<1>::zeros([1], &device); // never trained on: training stops
            }
        };
        let adv = Tensor::<1>::from_floats(adversarial.as_slice(), &device).reshape(images.dims());
        let clean = mown_nn::loss::cross_entropy(model.forward(images), labels);
        let robust = mown_nn::loss::cross_entropy(model.forward(adv), labels);
        (clean + robust).mul_scalar(0.5)
    }

    fn failure(&self) -> Option<String> {
        self.failure.as_ref().map(|e| format!("DeepFool failed: {e}"))
    }
}

/// DeepFool adversarial training (seed 003 §5: "a maximum 270 adversarial iterations. In each
/// iteration, we craft 128 adversarial examples using DeepFool as new datapoints"). Our reading:
/// one optimizer step per iteration, on `per_iter` of `data`'s images (a seeded shuffle, cycled
/// if `iterations * per_iter` exceeds the data) and their DeepFool examples against the weights
/// of that moment, with the true labels, clean and adversarial halves weighted equally as in
/// [`adversarial_training`]. DeepFool runs with its paper defaults (all classes, overshoot
/// 0.02, clipped to the pixel box). `cfg.epochs` and `cfg.batch_size` are replaced.
pub fn deepfool_training(
    model: &Model,
    data: &Dataset,
    iterations: usize,
    per_iter: usize,
    cfg: &TrainConfig,
) -> Result<Model, AttackError> {
    if iterations == 0 || per_iter == 0 {
        return Err(AttackError::BadParameter("DeepFool training needs iters and per_iter >= 1".into()));
    }
    let order = data.shuffled_indices(cfg.seed);
    let picks: Vec<usize> = order.iter().copied().cycle().take(iterations * per_iter).collect();
    let pool = data.subset(&picks, "deepfool")?;
    let step_cfg = TrainConfig { epochs: 1, batch_size: per_iter, ..cfg.clone() };
    let mut objective = DeepFoolExamples { params: DeepFoolParams::default(), failure: None };
    let trained = train_with(model.clone(), &pool, None, &step_cfg, &mut objective);
    if let Some(e) = objective.failure.take() {
        return Err(e);
    }
    Ok(trained?.0)
}
