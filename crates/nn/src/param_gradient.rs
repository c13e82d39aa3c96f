//! Gradients with respect to a model's parameters: the features of seed 001's ownership
//! meta-classifier ("Defending against Model Stealing via Verifying Embedded External Features",
//! §2.3: the sign of ∇_θ L(f(x'), y) at a stylised image with its true label).
//!
//! The model runs in evaluation mode (BatchNorm's running statistics, as the official code's
//! `model.eval()`), one backward pass per call. [`reduced_signs`] is the official code's reduction
//! to a fixed-width vector (`collect_grads`), documented there.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

use crate::NnError;
use crate::model::{Model, images_tensor, tensor_to_vec};

/// One parameter's gradient, in the network's visiting order.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamGradient {
    /// burn's layout: convolution kernels `[out, in, kh, kw]`, linear weights `[in, out]`.
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl Model {
    /// d mean CE(model(images), labels) / d θ for every parameter that takes a gradient (BatchNorm
    /// running statistics do not), in visiting order.
    pub fn parameter_gradients(&self, images: &[f32], labels: &[usize]) -> Result<Vec<ParamGradient>, NnError> {
        let n = self.check_images(images)?;
        if labels.len() != n {
            return Err(NnError::BadInput(format!("{} labels for {n} images", labels.len())));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= self.num_classes()) {
            return Err(NnError::BadInput(format!("label {bad} but the model has {} classes", self.num_classes())));
        }
        let autodiff = self.device().without_autodiff().autodiff();
        // Trainable parameters with BatchNorm in evaluation mode: frozen modules keep their training
        // flags off (running statistics), and gradients are then switched back on.
        let net = self.net.clone().fork(&autodiff).train().freeze().set_require_grad(true);
        let model = Model { meta: self.meta.clone(), net };
        let logits = model.forward(images_tensor(images, self.input_shape(), &autodiff));
        let loss = crate::loss::cross_entropy(logits, labels);
        let value = loss.clone().into_scalar::<f32>();
        if !value.is_finite() {
            return Err(NnError::BadInput(format!("the loss is {value}: the model or the images are not finite")));
        }
        let grads = loss.backward();
        struct Collect<'a> {
            grads: &'a burn::tensor::Gradients,
            out: Vec<ParamGradient>,
        }
        impl ModuleVisitor for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let t = param.val();
                if let Some(g) = t.grad(self.grads) {
                    self.out.push(ParamGradient { shape: g.dims().to_vec(), values: tensor_to_vec(g) });
                }
            }
        }
        let mut c = Collect { grads: &grads, out: Vec::new() };
        model.net.visit(&mut c);
        Ok(c.out)
    }
}

/// The official code's largest kernel (out x in) kept, and largest linear weight kept whole.
pub const REDUCE_LIMIT: usize = 5000;

/// Seed 001's meta-classifier features: the signs (+1, -1, 0) of the gradients after the official
/// code's reduction (`collect_grads`, sign taken after it): rank-1 parameters (biases,
/// BatchNorm) dropped; convolution kernels with out x in > [`REDUCE_LIMIT`] dropped, the others
/// reduced to their largest value over the kernel's spatial positions (out x in values); linear
/// weights with out x in > [`REDUCE_LIMIT`] reduced to their largest value over the input axis
/// (the first in burn's `[in, out]` layout, the last in PyTorch's), the others kept whole.
pub fn reduced_signs(gradients: &[ParamGradient]) -> Vec<f32> {
    let sign = |v: f32| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let mut out = Vec::new();
    for g in gradients {
        match g.shape[..] {
            [o, i, kh, kw] if o * i <= REDUCE_LIMIT => {
                let k = kh * kw;
                out.extend(g.values.chunks(k).map(|spatial| sign(spatial.iter().copied().fold(f32::MIN, f32::max))));
            }
            [i, o] if i * o > REDUCE_LIMIT => {
                out.extend((0..o).map(|col| sign((0..i).map(|row| g.values[row * o + col]).fold(f32::MIN, f32::max))));
            }
            [_, _] => out.extend(g.values.iter().map(|&v| sign(v))),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use burn::module::ModuleMapper;
    use mown_data::{ImageShape, Normalization};

    use super::*;
    use crate::{Arch, ModelMeta, ModelSpec};

    fn tiny(arch: Arch) -> (Model, Vec<f32>, Vec<usize>) {
        let shape = ImageShape::new(1, 8, 8);
        let spec = ModelSpec::new(arch, shape, 3).unwrap();
        let meta = ModelMeta::new(spec, Normalization::identity(1), (0..3).map(|c| c.to_string()).collect()).unwrap();
        let model = Model::init(meta, &Device::flex(), 5);
        // Pseudo-random pixels: no two patches alike, so no max-pool ties (kinks) at the point.
        let images: Vec<f32> = (0..4 * 64u64).map(|i| ((i * 2_654_435_761) % 1_000_003) as f32 / 1_000_003.0).collect();
        (model, images, vec![0, 1, 2, 1])
    }

    /// The model with `delta` added to entry `at` of the `which`-th parameter that takes a
    /// gradient (visiting order, BatchNorm running statistics skipped: they are not trainable).
    fn nudged(model: &Model, which: usize, at: usize, delta: f32) -> Model {
        struct Nudge {
            which: usize,
            seen: usize,
            at: usize,
            delta: f32,
        }
        impl ModuleMapper for Nudge {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                if !param.val().is_require_grad() {
                    return param;
                }
                let hit = self.seen == self.which;
                self.seen += 1;
                if !hit {
                    return param;
                }
                let (at, delta) = (self.at, self.delta);
                param.map(|t| {
                    let (dims, device) = (t.dims(), t.device());
                    let mut v = tensor_to_vec(t);
                    v[at] += delta;
                    Tensor::<D>::from_data(TensorData::new(v, dims), &device).set_require_grad(true)
                })
            }
        }
        // On the training device the trainable parameters are the ones that require gradients.
        let trainable = model.net.clone().fork(&model.device().without_autodiff().autodiff()).train();
        let net = trainable.map(&mut Nudge { which, seen: 0, at, delta });
        Model { meta: model.meta.clone(), net: net.valid() }
    }

    fn loss(model: &Model, images: &[f32], labels: &[usize]) -> f64 {
        let logits = model.logits(images).unwrap();
        let c = model.num_classes();
        let mut total = 0.0;
        for (row, &y) in logits.chunks(c).zip(labels) {
            let max = row.iter().copied().fold(f32::MIN, f32::max) as f64;
            let lse = max + row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
            total += lse - row[y] as f64;
        }
        total / labels.len() as f64
    }

    #[test]
    fn parameter_gradients_match_finite_differences() {
        for arch in [Arch::Mlp, Arch::ArcC] {
            let (model, images, labels) = tiny(arch);
            let grads = model.parameter_gradients(&images, &labels).unwrap();
            assert!(grads.len() >= 4, "{arch}: {} gradients", grads.len());
            let mut checked = 0;
            for (which, g) in grads.iter().enumerate() {
                // The entry with the largest gradient of each parameter: well above f32 noise.
                let (at, &want) = g.values.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap();
                if want.abs() < 1e-3 {
                    continue;
                }
                let h = 2e-3;
                let fd = (loss(&nudged(&model, which, at, h), &images, &labels)
                    - loss(&nudged(&model, which, at, -h), &images, &labels))
                    / (2.0 * h as f64);
                let err = (fd - want as f64).abs() / (want.abs() as f64).max(1e-2);
                assert!(err < 0.02, "{arch} parameter {which} {:?} entry {at}: analytic {want}, numeric {fd}", g.shape);
                checked += 1;
            }
            assert!(checked >= 3, "{arch}: only {checked} parameters checked");
        }
    }

    #[test]
    fn reduction_follows_the_official_rule() {
        let g = |shape: Vec<usize>, values: Vec<f32>| ParamGradient { shape, values };
        let grads = vec![
            g(vec![3], vec![1.0, -1.0, 2.0]), // a bias: dropped
            g(vec![2, 1, 2, 2], vec![-1.0, -2.0, 0.5, -3.0, -1.0, -2.0, -4.0, -0.5]), // spatial max
            g(vec![2, 3], vec![1.0, -1.0, 0.0, -2.0, 3.0, 0.0]), // kept whole
            g(vec![2, 2501], (0..5002).map(|i| if i == 4 { 1.0 } else { -1.0 }).collect()), // [in, out]: max over in
        ];
        let f = reduced_signs(&grads);
        assert_eq!(&f[..2], &[1.0, -1.0]);
        assert_eq!(&f[2..8], &[1.0, -1.0, 0.0, -1.0, 1.0, 0.0]);
        assert_eq!(f.len(), 8 + 2501);
        assert_eq!(f[8 + 4], 1.0, "column 4 holds the one positive entry");
        assert!(f[8..].iter().enumerate().all(|(i, &v)| v == if i == 4 { 1.0 } else { -1.0 }));
        // Bad input is an error, not a panic.
        let (model, images, _) = tiny(Arch::Mlp);
        assert!(model.parameter_gradients(&images, &[0]).is_err());
        assert!(model.parameter_gradients(&images, &[0, 1, 2, 7]).is_err());
    }
}
