//! `mown import`: ONNX classifiers written by scripts/make_onnx_import_fixtures.py give
//! onnxruntime's logits; bad files fail with errors naming the problem; imported models save,
//! load and export like mown's own.

mod import_common;

use import_common::*;
use mown_access::onnx::{ImportOptions, Layout, import_onnx, import_onnx_bytes, onnx_bytes};
use mown_access::{AccessLevel, Answer, OnnxOptions, QueryModel, open_onnx};
use mown_nn::burn::prelude::Device;
use mown_nn::models::Network;
use mown_nn::models::graph::Op;
use mown_nn::{Arch, Model};

#[test]
fn fixtures_match_onnxruntime() {
    let expected = expected();
    for name in FIXTURES {
        let e = &expected[name];
        let imported = import_fixture(name);
        let model = &imported.model;
        assert_eq!(model.spec().arch, Arch::Imported);
        assert_eq!(model.input_shape().channels, e["shape"][0].as_u64().unwrap() as usize);
        assert!(model.meta.provenance.derivation.starts_with("import(sha256="), "{}", model.meta.provenance.derivation);
        let images = floats(&e["images"]);
        let want = floats(&e["logits"]);
        let got = model.logits(&images).unwrap();
        let diff = max_diff(&got, &want);
        println!("{name}: max |logit difference| against onnxruntime {diff:.2e} over {} logits", want.len());
        assert!(diff <= 1e-4, "{name}: logits differ from onnxruntime by {diff}");
    }
}

#[test]
fn final_softmax_is_stripped_and_recorded() {
    let graph = |name: &str| import_fixture(name).model.meta.graph.clone().unwrap();
    assert_eq!(graph("vgg").stripped.as_deref(), Some("Softmax(axis=-1)"));
    assert_eq!(graph("misc").stripped.as_deref(), Some("LogSoftmax(axis=-1)"));
    assert_eq!(graph("resnet").stripped, None);
    // The Shape -> Gather -> Unsqueeze -> Concat chain folded into a reshape that keeps the batch.
    let vgg = graph("vgg");
    let reshape = vgg.nodes.iter().find_map(|n| match &n.op {
        Op::Reshape { shape, .. } => Some(shape.clone()),
        _ => None,
    });
    assert_eq!(reshape, Some(vec![mown_nn::models::Dim::N, mown_nn::models::Dim::Fixed(-1)]));
    assert!(vgg.nodes.iter().all(|n| !matches!(n.op, Op::Identity)), "Dropout and Identity are aliases");
    // BatchNorm running statistics are buffers, scale and shift parameters.
    let resnet = graph("resnet");
    assert_eq!(resnet.buffers.len(), 2 * 6);
    assert!(resnet.params.iter().any(|p| p.name == "stem.bn.gamma"));
}

#[test]
fn any_batch_size_runs() {
    let e = expected();
    let imported = import_fixture("vgg");
    let images = floats(&e["vgg"]["images"]);
    let want = floats(&e["vgg"]["logits"]);
    let numel = 3 * 16 * 16;
    for n in [1, 2, 5] {
        let got = imported.model.logits(&images[..n * numel]).unwrap();
        assert!(max_diff(&got, &want[..n * 10]) <= 1e-4, "batch {n}");
    }
}

#[test]
fn save_load_round_trip_and_hash_covers_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let e = expected();
    let model = import_fixture("resnet").model;
    let path = dir.path().join("imported.safetensors");
    let saved = mown_nn::io::save(&model, &path).unwrap();
    assert_eq!(saved.weights_sha256, model.meta.weights_sha256);
    let loaded = mown_nn::io::load(&path, &Device::flex()).unwrap();
    let images = floats(&e["resnet"]["images"]);
    assert_eq!(loaded.logits(&images).unwrap(), model.logits(&images).unwrap(), "identical logits after a round trip");
    assert_eq!(loaded.meta.graph, model.meta.graph);
    assert_eq!(loaded.meta.weights_sha256, model.meta.weights_sha256);
    // Same weights, another graph (one epsilon changed): another identity.
    let mut edited = loaded.clone();
    let graph = edited.meta.graph.as_mut().unwrap();
    let bn = graph.nodes.iter_mut().find(|n| matches!(n.op, Op::BatchNorm { .. })).unwrap();
    bn.op = Op::BatchNorm { epsilon: 1e-3 };
    let before = mown_nn::io::model_sha256(&model).unwrap();
    let after = mown_nn::io::model_sha256(&edited).unwrap();
    assert_ne!(before, after, "the hash must cover the graph");
    assert_eq!(mown_nn::io::weights_sha256(&mown_nn::io::to_bytes(&model).unwrap().0).unwrap().len(), 64);
    // A file whose graph was edited after saving (same length, so the header stays valid)
    // fails its hash check.
    let (mut bytes, _) = mown_nn::io::to_bytes(&model).unwrap();
    let (from, to) = (br#"epsilon\":0.00001"#, br#"epsilon\":0.00002"#);
    let at = bytes.windows(from.len()).position(|w| w == from).expect("the graph's JSON is in the header");
    bytes[at..at + to.len()].copy_from_slice(to);
    let err = mown_nn::io::from_bytes(bytes, &path, &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("hash"), "{err}");
}

#[test]
fn export_then_import_gives_the_same_logits() {
    let (train, _) = mown_data::DataSource::Digits.load().unwrap();
    let images = &train.images()[..8 * 64];
    for arch in [Arch::ArcC, Arch::Resnet20] {
        let mut model = digits_model(arch, &train, 3);
        let cfg = mown_nn::TrainConfig { epochs: 1, batch_size: 64, lr: 0.05, seed: 1, ..Default::default() };
        model = mown_nn::train::train(model, &train.subset(&(0..256).collect::<Vec<_>>(), "-a").unwrap(), None, &cfg)
            .unwrap()
            .0;
        let bytes = onnx_bytes(&model).unwrap();
        let imported = import_onnx_bytes(&bytes, &ImportOptions::default(), &Device::flex()).unwrap().model;
        let diff = max_diff(&imported.logits(images).unwrap(), &model.logits(images).unwrap());
        println!("{arch}: export -> import max |logit difference| {diff:.2e}");
        assert!(diff <= 1e-4, "{arch}: {diff}");
        // And the imported graph exports again: tract runs the file like the model.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("again.onnx");
        mown_access::export_onnx(&imported, &path).unwrap();
        let mut suspect = open_onnx(&path, OnnxOptions::default()).unwrap();
        let Answer::Probabilities(got) = suspect.query(images, AccessLevel::Probabilities).unwrap() else {
            panic!("probabilities expected")
        };
        let diff = max_diff(&got, &model.probabilities(images).unwrap());
        assert!(diff <= 1e-4, "{arch}: re-export differs by {diff}");
    }
}

#[test]
fn imported_fixtures_export_to_onnx() {
    let e = expected();
    for name in FIXTURES {
        let model = import_fixture(name).model;
        let bytes = onnx_bytes(&model).unwrap();
        let again = import_onnx_bytes(&bytes, &ImportOptions::default(), &Device::flex()).unwrap().model;
        let images = floats(&e[name]["images"]);
        let diff = max_diff(&again.logits(&images).unwrap(), &floats(&e[name]["logits"]));
        assert!(diff <= 1e-4, "{name}: export -> import differs from onnxruntime by {diff}");
    }
}

#[test]
fn the_head_is_the_final_linear_layer_where_there_is_one() {
    let head = |name: &str| match &import_fixture(name).model.net {
        Network::Graph(g) => g.head().map(|l| l.weight.dims()),
        _ => unreachable!(),
    };
    assert_eq!(head("resnet").unwrap(), [16, 10], "Gemm with transB=1 is stored [in, out]");
    assert_eq!(head("vgg").unwrap(), [32, 10], "MatMul + Add");
    let err = head("keras").unwrap_err().to_string();
    assert!(err.contains("linear layer"), "{err}");
    // Replacing the head changes the logits and keeps the shapes.
    let model = import_fixture("resnet").model;
    let fresh = mown_nn::burn::nn::LinearConfig::new(16, 10).init(&Device::flex());
    let net = model.net.clone().with_head(fresh).unwrap();
    let other = Model { meta: model.meta.clone(), net };
    let images = floats(&expected()["resnet"]["images"]);
    assert!(max_diff(&other.logits(&images).unwrap(), &model.logits(&images).unwrap()) > 1e-3);
}

#[test]
fn input_conventions_map_onto_the_normalisation() {
    let opts = ImportOptions {
        layout: Layout::Nhwc,
        input_range: 255.0,
        mean: Some(vec![127.5]),
        std: Some(vec![2.0, 4.0, 8.0]),
        ..Default::default()
    };
    let model = import_onnx(&fixture("keras.onnx"), &opts, &Device::flex()).unwrap().model;
    assert_eq!(model.meta.normalization.mean, vec![0.5; 3]);
    assert_eq!(model.meta.normalization.std, vec![2.0 / 255.0, 4.0 / 255.0, 8.0 / 255.0]);
    assert!(model.meta.graph.as_ref().unwrap().source.contains("Nhwc"));
    let names = ImportOptions { class_names: Some(vec!["a".into(); 3]), ..Default::default() };
    let err = import_onnx(&fixture("resnet.onnx"), &names, &Device::flex()).err().unwrap().to_string();
    assert!(err.contains("3 class names") && err.contains("10 outputs"), "{err}");
}
