//! Input gradients: correct (finite differences) and side-effect free (BatchNorm statistics).

mod common;

use common::*;
use mown_nn::Arch;
use mown_nn::burn::prelude::*;
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

/// Blocks computed concurrently give what one batch gives, for a row-separable objective.
#[test]
fn row_blocks_match_one_batch() {
    let (train, _) = digits();
    let m = digits_model(Arch::Resnet20, &train, 6);
    let (m, _) = mown_nn::train::train(m, &train, None, &quick_config(1, 6)).unwrap();
    let n = 7;
    let images = &train.images()[..n * 64];
    let labels: Vec<usize> = (0..n).map(|r| (train.labels()[r] + 3) % 10).collect();
    // Sum (not mean) of per-image cross-entropies: row-separable.
    let loss = |logits: Tensor<2>, rows: std::ops::Range<usize>| {
        let k = rows.len() as f32;
        mown_nn::loss::cross_entropy(logits, &labels[rows]).mul_scalar(k)
    };
    let whole = m.row_blocks_input_gradient(images, 1, loss).unwrap();
    assert_eq!(whole.grad.len(), images.len());
    assert_eq!(whole.logits.len(), n * 10);
    for blocks in [2, 3, 7, 50] {
        let split = m.row_blocks_input_gradient(images, blocks, loss).unwrap();
        let scale = whole.grad.iter().fold(0f32, |a, v| a.max(v.abs()));
        assert!(scale > 1e-6, "gradient vanishes");
        for (a, b) in whole.grad.iter().zip(&split.grad) {
            assert!((a - b).abs() <= 1e-5 * scale, "{blocks} blocks: gradient {a} vs {b}");
        }
        for (a, b) in whole.logits.iter().zip(&split.logits) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{blocks} blocks: logit {a} vs {b}");
        }
        assert!((whole.objective - split.objective).abs() <= 1e-4 * whole.objective.abs().max(1.0));
    }
    assert!(m.row_blocks_input_gradient(&images[..10], 2, loss).is_err(), "a partial image is an error");
}
