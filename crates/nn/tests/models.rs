//! Architectures build for every supported input shape and produce one logit row per image.

mod common;

use common::*;
use mown_data::ImageShape;
use mown_nn::Arch;

#[test]
fn every_architecture_gives_logits_for_every_shape() {
    let shapes = [
        ImageShape { channels: 1, height: 8, width: 8 },
        ImageShape { channels: 1, height: 28, width: 28 },
        ImageShape { channels: 3, height: 32, width: 32 },
    ];
    for arch in Arch::ALL {
        for shape in shapes {
            // The heavy ones only at one shape to keep the test quick.
            if matches!(arch, Arch::Resnet18 | Arch::Vgg16) && shape.height != 32 {
                continue;
            }
            let m = model(arch, shape, 1);
            let images = vec![0.5f32; 2 * shape.numel()];
            let logits = m.logits(&images).unwrap_or_else(|e| panic!("{arch} {shape:?}: {e}"));
            assert_eq!(logits.len(), 20, "{arch} {shape:?}");
            assert!(logits.iter().all(|v| v.is_finite()), "{arch} {shape:?}");
        }
    }
}

#[test]
fn arch_names_round_trip_and_unknown_names_are_rejected() {
    for arch in Arch::ALL {
        assert_eq!(arch.name().parse::<Arch>().unwrap(), arch);
    }
    assert_eq!("ResNet-20".parse::<Arch>().unwrap(), Arch::Resnet20);
    let err = "resnet21".parse::<Arch>().unwrap_err().to_string();
    assert!(err.contains("resnet21") && err.contains("resnet20"), "{err}");
}

#[test]
fn wrong_input_shape_and_nan_are_clear_errors() {
    let m = model(Arch::Mlp, DIGIT, 1);
    let err = m.logits(&[0.0; 65]).unwrap_err().to_string();
    assert!(err.contains("65 values"), "{err}");
    let mut images = vec![0.1f32; 64];
    images[3] = f32::NAN;
    let err = m.logits(&images).unwrap_err().to_string();
    assert!(err.contains("NaN"), "{err}");
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let a = mown_nn::io::model_sha256(&model(Arch::Lenet5, DIGIT, 3)).unwrap();
    let b = mown_nn::io::model_sha256(&model(Arch::Lenet5, DIGIT, 3)).unwrap();
    let c = mown_nn::io::model_sha256(&model(Arch::Lenet5, DIGIT, 4)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}
