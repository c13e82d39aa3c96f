//! INT8 weight quantisation (seed 003 lists "FP32 -> INT8" post-processing after Han et al.'s
//! Deep Compression, without details; reference summary seed-003 pitfall 13).
//!
//! We use the simplest common post-training scheme: symmetric, per-tensor, no calibration data.
//! Every conv (rank 4) and linear (rank 2) weight tensor `w` gets the scale
//! `s = max|w| / 127` and becomes `round(w / s) * s`, so it holds at most 255 distinct values
//! (the integers -127..=127 times `s`). An all-zero tensor stays zero. Biases and BatchNorm
//! parameters stay in f32, as INT8 deployments keep them in higher precision (int32 biases,
//! folded BatchNorm).
//!
//! This is *fake* quantisation: the weights are stored back as f32, so the result is an ordinary
//! `Model` that every other part of mown (fingerprinting, model files) handles unchanged, while
//! computing exactly what an INT8-weight model computes.

use mown_nn::Model;
use mown_nn::burn::module::{Module, ModuleMapper, Param};
use mown_nn::burn::prelude::*;
use mown_nn::model::tensor_to_vec;

use super::finetune::derived_meta;
use crate::AttackError;

/// Levels on each side of zero (INT8 without -128, so the range is symmetric).
pub const INT8_LEVELS: f64 = 127.0;

/// Quantises the values of one tensor (see the module docs). Returns `None` when the tensor is
/// all zero or holds a non-finite value, which quantisation then leaves unchanged.
pub fn quantize_values(values: &[f32]) -> Option<Vec<f32>> {
    if values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let max = values.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    if max == 0.0 {
        return None;
    }
    let scale = max / INT8_LEVELS;
    Some(
        values
            .iter()
            .map(|&v| {
                let q = (v as f64 / scale).round().clamp(-INT8_LEVELS, INT8_LEVELS);
                (q * scale) as f32
            })
            .collect(),
    )
}

/// Post-training symmetric per-tensor INT8 fake quantisation of every conv and linear weight.
/// The result is named `<derivation>-int8`. Fails only on a model with non-finite weights.
pub fn quantize_int8(model: &Model) -> Result<Model, AttackError> {
    struct Quantize {
        non_finite: usize,
    }
    impl ModuleMapper for Quantize {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            // Rank 1 covers biases, BatchNorm affine parameters and running statistics.
            if D != 2 && D != 4 {
                return param;
            }
            param.map(|t| {
                let dims = t.dims();
                let device = t.device();
                let require_grad = t.is_require_grad();
                let values = tensor_to_vec(t.clone());
                match quantize_values(&values) {
                    Some(q) => Tensor::<D>::from_data(TensorData::new(q, dims), &device).set_require_grad(require_grad),
                    None => {
                        if values.iter().any(|v| !v.is_finite()) {
                            self.non_finite += 1;
                        }
                        t
                    }
                }
            })
        }
    }
    let mut q = Quantize { non_finite: 0 };
    // `valid()`: a copy whose BatchNorm statistics are not shared with `model`.
    let net = model.valid().net.map(&mut q);
    if q.non_finite > 0 {
        return Err(AttackError::BadParameter(format!(
            "cannot quantise: {} weight tensors hold NaN or infinite values",
            q.non_finite
        )));
    }
    let details = serde_json::json!({
        "attack": "int8",
        "scheme": "symmetric per-tensor, scale = max|w|/127, weights only",
    });
    Ok(Model { meta: derived_meta(&model.meta, "int8", details), net })
}
