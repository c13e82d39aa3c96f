//! An imported model is differentiable: its input gradients match finite differences, its
//! parameters take gradients, and fine-tuning lowers its loss (BatchNorm statistics frozen).

mod import_common;

use import_common::*;
use mown_nn::burn::prelude::*;
use mown_nn::model::{images_tensor, tensor_to_vec};
use mown_nn::{Model, TrainConfig};

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
fn input_gradients_match_finite_differences() {
    let e = expected();
    for name in ["resnet", "keras", "misc"] {
        let model = import_fixture(name).model;
        let images = floats(&e[name]["images"]);
        let labels: Vec<usize> = (0..images.len() / model.input_shape().numel()).map(|i| (i * 3) % 10).collect();
        let x = images_tensor(&images, model.input_shape(), &Device::flex());
        let g = model.input_gradient(x, |l| mown_nn::loss::cross_entropy(l, &labels));
        let grad = tensor_to_vec(g.grad);
        let direct = loss(&model, &images, &labels);
        assert!((g.objective as f64 - direct).abs() < 1e-4 * direct.max(1.0), "{name}: {} vs {direct}", g.objective);
        let norm = grad.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        assert!(norm > 1e-4, "{name}: the gradient vanishes ({norm})");
        let random: Vec<f32> =
            (0..images.len()).map(|i| ((i as u32).wrapping_mul(2654435761) % 1000) as f32 / 1000.0 - 0.5).collect();
        let rnorm = random.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt() as f32;
        let directions = [
            grad.iter().map(|v| (*v as f64 / norm) as f32).collect::<Vec<_>>(),
            random.iter().map(|v| v / rnorm).collect(),
        ];
        for (k, v) in directions.iter().enumerate() {
            let eps = 1e-3f32;
            let at = |s: f32| images.iter().zip(v).map(|(x, d)| x + s * eps * d).collect::<Vec<f32>>();
            let numeric = (loss(&model, &at(1.0), &labels) - loss(&model, &at(-1.0), &labels)) / (2.0 * eps as f64);
            let analytic: f64 = grad.iter().zip(v).map(|(g, d)| (*g as f64) * (*d as f64)).sum();
            println!("{name} direction {k}: analytic {analytic:.6} numeric {numeric:.6}");
            assert!((numeric - analytic).abs() < 0.02 * norm + 1e-4, "{name} direction {k}: {numeric} vs {analytic}");
        }
    }
}

#[test]
fn parameters_take_gradients_and_fine_tuning_lowers_the_loss() {
    let model = import_fixture("resnet").model;
    let e = expected();
    let images = floats(&e["resnet"]["images"]);
    let labels = vec![0, 1, 2, 3, 4, 5];
    let grads = model.parameter_gradients(&images, &labels).unwrap();
    let (params, buffers) = model.meta.graph.as_ref().unwrap().num_params();
    let total: usize = grads.iter().map(|g| g.values.len()).sum();
    assert_eq!(total, params, "every parameter, and no BatchNorm statistic ({buffers} of them), takes a gradient");
    assert!(grads.iter().any(|g| g.shape == [8, 3, 3, 3]), "convolution kernels keep their shape");
    assert!(grads.iter().all(|g| g.values.iter().all(|v| v.is_finite())));

    // misc.onnx takes 1x8x8 images: fine-tune it on the embedded digits.
    let model = import_fixture("misc").model;
    let (train, _) = mown_data::DataSource::Digits.load().unwrap();
    let data = train.subset(&(0..200).collect::<Vec<_>>(), "-ft").unwrap();
    let before = loss(&model, data.images(), data.labels());
    let cfg = TrainConfig { epochs: 8, batch_size: 50, lr: 0.05, seed: 2, ..Default::default() };
    let (tuned, _) = mown_nn::train::train(model.clone(), &data, None, &cfg).unwrap();
    let after = loss(&tuned, data.images(), data.labels());
    println!("misc fine-tuned on 200 digits: loss {before:.4} -> {after:.4}");
    assert!(after < before - 0.1, "fine-tuning did not lower the loss: {before} -> {after}");
    assert_eq!(tuned.meta.graph, model.meta.graph, "training changes weights, not the graph");

    // The resnet's BatchNorm statistics stay as imported through training.
    let resnet = import_fixture("resnet").model;
    let stats = |m: &Model| match &m.net {
        mown_nn::models::Network::Graph(g) => (0..g.buffers.len()).map(|i| g.buffer_values(i)).collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    let rgb: Vec<f32> = data.images()[..64 * 64].iter().flat_map(|&v| [v, v, 1.0 - v]).collect();
    let names = (0..10).map(|c| c.to_string()).collect();
    let rgb = mown_data::Dataset::new(
        "rgb",
        mown_data::ImageShape::new(3, 8, 8),
        10,
        names,
        rgb,
        data.labels()[..64].to_vec(),
    )
    .unwrap();
    let (trained, _) = mown_nn::train::train(resnet.clone(), &rgb, None, &cfg).unwrap();
    assert_eq!(stats(&trained), stats(&resnet), "BatchNorm running statistics are frozen");
}

#[test]
fn model_init_reinitialises_an_imported_graph() {
    let imported = import_fixture("resnet").model;
    let fresh = Model::init(imported.meta.clone(), &Device::flex(), 7);
    let again = Model::init(imported.meta.clone(), &Device::flex(), 7);
    let images = floats(&expected()["resnet"]["images"]);
    let (a, b) = (fresh.logits(&images).unwrap(), again.logits(&images).unwrap());
    assert_eq!(a, b, "the same seed gives the same weights");
    assert!(max_diff(&a, &imported.logits(&images).unwrap()) > 1e-3, "new weights");
}
