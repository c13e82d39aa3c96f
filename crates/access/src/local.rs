//! A model file or in-memory model behind the query interface: what a stolen API looks like in
//! tests, and how the owner queries a suspect they hold as a file.

use mown_data::ImageShape;
use mown_nn::Model;

use crate::{AccessError, AccessLevel, Answer, QueryModel, answer_from_probabilities};

/// A local model that reveals at most `level`, refusing past `budget` images.
///
/// The model is private: code holding a `LocalModel` can query it but cannot reach its weights.
/// ```compile_fail
/// fn steal_weights(s: &mown_access::LocalModel) -> &mown_nn::Model { &s.model }
/// ```
pub struct LocalModel {
    model: Model,
    level: AccessLevel,
    budget: Option<usize>,
    used: usize,
    name: String,
}

impl LocalModel {
    pub fn new(model: Model, level: AccessLevel, budget: Option<usize>) -> Self {
        let name = if model.meta.provenance.derivation.is_empty() {
            format!("local {}", model.meta.spec.arch)
        } else {
            model.meta.provenance.derivation.clone()
        };
        Self { model, level, budget, used: 0, name }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl QueryModel for LocalModel {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn input_shape(&self) -> ImageShape {
        self.model.input_shape()
    }

    fn num_classes(&self) -> usize {
        self.model.num_classes()
    }

    fn access(&self) -> AccessLevel {
        self.level
    }

    fn query(&mut self, images: &[f32], level: AccessLevel) -> Result<Answer, AccessError> {
        let n = crate::admit(images, self.input_shape(), level, self.level, self.budget, self.used)?;
        let probs = self.model.probabilities(images)?;
        self.used += n;
        Ok(answer_from_probabilities(probs, self.num_classes(), level))
    }

    fn architecture(&self) -> Option<String> {
        Some(self.model.meta.spec.arch.to_string())
    }

    /// Only when the owner of this handle granted white-box access (`AccessLevel::WhiteBox`).
    fn parameter_gradients(
        &mut self,
        images: &[f32],
        labels: &[usize],
    ) -> Result<Vec<mown_nn::ParamGradient>, AccessError> {
        let n = crate::admit(images, self.input_shape(), AccessLevel::WhiteBox, self.level, self.budget, self.used)?;
        let grads = self.model.parameter_gradients(images, labels)?;
        self.used += n;
        Ok(grads)
    }

    fn target_margin_gradients(
        &mut self,
        images: &[f32],
        targets: &[usize],
    ) -> Result<(Vec<f32>, Vec<f32>), AccessError> {
        let n = crate::admit(images, self.input_shape(), AccessLevel::WhiteBox, self.level, self.budget, self.used)?;
        if targets.len() != n || targets.iter().any(|&t| t >= self.num_classes()) {
            return Err(AccessError::BadRequest(format!(
                "{} target labels (each below {}) for {n} images",
                targets.len(),
                self.num_classes()
            )));
        }
        let g = self.model.row_blocks_input_gradient(images, mown_nn::gradient::GRADIENT_BLOCKS, |logits, rows| {
            let n = rows.len();
            let t = mown_nn::model::labels_tensor(&targets[rows], &logits.device()).reshape([n, 1]);
            (logits.clone().max_dim(1) - logits.gather(1, t)).sum()
        })?;
        self.used += n;
        Ok((g.grad, g.logits))
    }

    fn queries_used(&self) -> usize {
        self.used
    }

    fn queries_left(&self) -> Option<usize> {
        self.budget.map(|b| b.saturating_sub(self.used))
    }
}
