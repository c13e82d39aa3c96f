//! BatchNorm folding (`models::folded`): the folded network computes the same function as the
//! evaluation-mode network it came from, for every architecture with BatchNorm.

mod common;

use common::*;
use mown_data::ImageShape;
use mown_nn::Arch;
use mown_nn::burn::module::{Module, ModuleMapper, Param};
use mown_nn::burn::prelude::*;
use mown_nn::model::{images_tensor, tensor_to_vec};
use mown_nn::models::InferenceNet;

/// Replaces every 1-D parameter and running statistic (BatchNorm's gamma, beta, mean, variance;
/// linear biases) by distinct values, so that folding has real work to do: at initialisation
/// BatchNorm is the identity and folding it would prove nothing.
struct PerturbVectors(u32);

impl ModuleMapper for PerturbVectors {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D != 1 {
            return param;
        }
        self.0 += 1;
        let salt = self.0;
        param.map(|t| {
            let n = t.dims()[0];
            // Values in [0.5, 1.5]: valid as variances and scales, and far from the identity.
            let values: Vec<f32> = (0..n).map(|i| 0.5 + ((i as u32 * 37 + salt * 101) % 97) as f32 / 97.0).collect();
            Tensor::<D>::from_data(TensorData::new(values, t.dims()), &t.device())
        })
    }
}

fn check(arch: Arch, shape: ImageShape) {
    let mut m = model(arch, shape, 3);
    m.net = m.net.map(&mut PerturbVectors(0));
    assert!(
        matches!(m.inference_net(), InferenceNet::ResNet(_) | InferenceNet::Vgg(_)),
        "{arch}: BatchNorm networks must be folded, not run as they are"
    );
    let n = 5;
    let pixels: Vec<f32> = (0..n * shape.numel()).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    let x = images_tensor(&pixels, shape, &device());
    let unfolded = tensor_to_vec(m.valid().forward(x.clone()));
    let folded = tensor_to_vec(m.forward_inference(&m.inference_net(), x));
    let scale = unfolded.iter().fold(0f32, |a, v| a.max(v.abs()));
    assert!(scale > 1e-3, "{arch}: logits vanish, the check would be empty");
    for (a, b) in unfolded.iter().zip(&folded) {
        assert!((a - b).abs() <= 1e-4 * scale.max(1.0), "{arch}: unfolded {a} vs folded {b}");
    }
    // The public inference path (`logits`) is the folded one.
    assert_eq!(m.logits(&pixels).unwrap(), folded, "{arch}: logits() is the folded path");
}

#[test]
fn folded_resnet_computes_the_evaluation_network() {
    check(Arch::Resnet20, ImageShape { channels: 3, height: 32, width: 32 });
}

#[test]
fn folded_vgg_computes_the_evaluation_network() {
    check(Arch::Vgg11, ImageShape { channels: 1, height: 28, width: 28 });
}

#[test]
fn networks_without_batchnorm_are_unchanged() {
    let shape = ImageShape { channels: 1, height: 28, width: 28 };
    let m = model(Arch::ArcA, shape, 4);
    let pixels: Vec<f32> = (0..3 * shape.numel()).map(|i| ((i * 31) % 255) as f32 / 255.0).collect();
    let x = images_tensor(&pixels, shape, &device());
    assert!(matches!(m.inference_net(), InferenceNet::Plain(_)));
    let unfolded = tensor_to_vec(m.valid().forward(x.clone()));
    assert_eq!(tensor_to_vec(m.forward_inference(&m.inference_net(), x)), unfolded);
}
