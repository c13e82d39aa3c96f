//! Knowledge distillation as a stealing attack (seed 004 §5): a fresh student trained on the
//! owner's training data against the victim's temperature-softened outputs.
//! Loss: (1 − α)·CE(student, labels) + α·T²·KL(teacher_T ‖ student_T); α = 0.7, T = 20 by default.

use mown_data::Dataset;
use mown_nn::train::{Distillation, train_with};
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};

use crate::AttackError;

pub fn distill(
    teacher: &Model,
    data: &Dataset,
    student: Arch,
    alpha: f64,
    temperature: f64,
    cfg: &TrainConfig,
) -> Result<Model, AttackError> {
    if !(0.0..=1.0).contains(&alpha) {
        return Err(AttackError::BadParameter(format!("distillation alpha {alpha} must be in [0, 1]")));
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(AttackError::BadParameter(format!("distillation temperature {temperature} must be positive")));
    }
    let spec = ModelSpec::new(student, teacher.input_shape(), teacher.num_classes())?;
    let meta = ModelMeta::new(spec, teacher.meta.normalization.clone(), teacher.meta.class_names.clone())?;
    mown_nn::model::check_dataset_shape(data, teacher.input_shape())?;
    let student = Model::init(meta, &teacher.device(), cfg.seed);
    let mut objective = Distillation { teacher: teacher.valid(), alpha, temperature };
    Ok(train_with(student, data, None, cfg, &mut objective)?.0)
}
