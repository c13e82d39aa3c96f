//! Input gradients: correct (finite differences) and side-effect free (BatchNorm statistics).

mod common;

use common::*;
use mown_nn::Arch;
use mown_nn::model::images_tensor;

/// Directional derivative check: <grad, v> against a central difference along v.
fn check_against_finite_differences(arch: Arch) {
    let (train, _) = digits();
    let mut m = digits_model(arch, &train, 5);
    if arch.has_batch_norm() {
        // Give BatchNorm non-trivial running statistics first.
        let (trained, _) = mown_nn::train::train(m, &train, None, &quick_config(1, 5)).unwrap();
        m = trained;
    }
    let n = 4;
    let images: Vec<f32> = train.images()[..n * 64].to_vec();
    let labels: Vec<usize> = train.labels()[..n].to_vec();
    let dev = device();
    let loss_at = |x: &[f32]| -> f64 {
        let logits = m.valid().forward(images_tensor(x, DIGIT, &dev));
        mown_nn::loss::cross_entropy(logits, &labels).into_scalar::<f32>() as f64
    };
    let g = m.input_gradient(images_tensor(&images, DIGIT, &dev), |l| mown_nn::loss::cross_entropy(l, &labels));
    let grad = mown_nn::model::tensor_to_vec(g.grad);
    let direct = loss_at(&images);
    assert!(
        (g.objective as f64 - direct).abs() < 1e-4 * direct.abs().max(1.0),
        "objective {} vs direct {direct}",
        g.objective
    );
    // Along the normalised gradient the directional derivative is |g|, large enough that f32
    // rounding in the central difference stays far below the tolerance; a small step keeps ReLU
    // and max-pool kinks out of the way. A second, fixed pseudo-random direction checks the
    // components the gradient direction does not.
    let norm = grad.iter().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    assert!(norm > 1e-4, "{arch}: gradient vanishes ({norm})");
    let random: Vec<f32> =
        (0..images.len()).map(|i| ((i as u32).wrapping_mul(2654435761) % 1000) as f32 / 1000.0 - 0.5).collect();
    let random_norm = random.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt() as f32;
    let directions = [
        grad.iter().map(|g| (*g as f64 / norm) as f32).collect::<Vec<f32>>(),
        random.iter().map(|v| v / random_norm).collect(),
    ];
    for (k, v) in directions.iter().enumerate() {
        let eps = 2e-3f32;
        let plus: Vec<f32> = images.iter().zip(v).map(|(x, d)| x + eps * d).collect();
        let minus: Vec<f32> = images.iter().zip(v).map(|(x, d)| x - eps * d).collect();
        let numeric = (loss_at(&plus) - loss_at(&minus)) / (2.0 * eps as f64);
        let analytic: f64 = grad.iter().zip(v).map(|(g, d)| (*g as f64) * (*d as f64)).sum();
        let tol = 0.02 * norm + 1e-4;
        assert!(
            (numeric - analytic).abs() < tol,
            "{arch} direction {k}: numeric {numeric} analytic {analytic} |g| {norm}"
        );
    }
}

#[test]
fn input_gradient_matches_finite_differences_mlp() {
    check_against_finite_differences(Arch::Mlp);
}

#[test]
fn input_gradient_matches_finite_differences_batchnorm_net() {
    check_against_finite_differences(Arch::Resnet20);
}

#[test]
fn input_gradient_leaves_batchnorm_statistics_unchanged() {
    let (train, test) = digits();
    let m = digits_model(Arch::Vgg11, &train, 2);
    let (m, _) = mown_nn::train::train(m, &train, None, &quick_config(1, 2)).unwrap();
    let before_hash = mown_nn::io::model_sha256(&m).unwrap();
    let before = m.logits(&test.images()[..64 * 32]).unwrap();
    let x = images_tensor(&test.images()[..64 * 32], DIGIT, &device());
    for _ in 0..3 {
        let labels = vec![1usize; 32];
        let _ = m.input_gradient(x.clone().mul_scalar(0.5), |l| mown_nn::loss::cross_entropy(l, &labels));
    }
    assert_eq!(mown_nn::io::model_sha256(&m).unwrap(), before_hash);
    assert_eq!(m.logits(&test.images()[..64 * 32]).unwrap(), before);
}
