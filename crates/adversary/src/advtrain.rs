//! Adversarial training of a stolen model (seed 003 §5 lists it as a removal attack): each batch
//! is trained half on clean images and half on FGSM/PGD examples made against the current
//! weights, which moves decision boundaries — exactly what boundary fingerprints rely on.
//! FGSM and PGD are exported for the fingerprinting baselines too.

use mown_data::Dataset;
use mown_nn::burn::prelude::*;
use mown_nn::train::{Objective, train_with};
use mown_nn::{Model, TrainConfig};

use crate::AttackError;
use crate::chain::AdvMethod;

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
