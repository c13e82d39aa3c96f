//! Losses on logits. Written with log-softmax so they are stable for large logits, and shared by
//! training, distillation and the adversarial methods.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

use crate::model::labels_tensor;

/// Mean cross-entropy of `logits [n, k]` against integer labels.
pub fn cross_entropy(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let device = logits.device();
    let n = labels.len();
    let targets = labels_tensor(labels, &device).reshape([n, 1]);
    log_softmax(logits, 1).gather(1, targets).mean().neg()
}

/// Per-example cross-entropy `[n]` (for objectives that weight or mask examples).
pub fn cross_entropy_per_example(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let device = logits.device();
    let n = labels.len();
    let targets = labels_tensor(labels, &device).reshape([n, 1]);
    log_softmax(logits, 1).gather(1, targets).reshape([n]).neg()
}

/// Mean cross-entropy against soft targets (rows of probabilities).
pub fn soft_cross_entropy(logits: Tensor<2>, target_probs: Tensor<2>) -> Tensor<1> {
    (target_probs * log_softmax(logits, 1)).sum_dim(1).mean().neg()
}

/// KL(teacher || student) between temperature-softened distributions, averaged over the batch.
pub fn kl_divergence(student_logits: Tensor<2>, teacher_logits: Tensor<2>, temperature: f64) -> Tensor<1> {
    let t = temperature;
    let teacher = softmax(teacher_logits.clone().div_scalar(t), 1);
    let teacher_log = log_softmax(teacher_logits.div_scalar(t), 1);
    let student_log = log_softmax(student_logits.div_scalar(t), 1);
    (teacher * (teacher_log - student_log)).sum_dim(1).mean()
}

/// Hinton-style distillation (seed 004, §5): (1 − α)·CE(student, labels) + α·T²·KL(teacher‖student)
/// at temperature T; the T² keeps the soft term's gradient scale independent of T.
pub fn distillation(
    student_logits: Tensor<2>,
    teacher_logits: Tensor<2>,
    labels: &[usize],
    alpha: f64,
    temperature: f64,
) -> Tensor<1> {
    let hard = cross_entropy(student_logits.clone(), labels).mul_scalar(1.0 - alpha);
    let soft = kl_divergence(student_logits, teacher_logits.detach(), temperature)
        .mul_scalar(alpha * temperature * temperature);
    hard + soft
}
