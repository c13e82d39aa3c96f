//! Model files: exact round trips, and clear errors for every kind of bad file.

mod common;

use common::*;
use mown_nn::{Arch, NnError, io};

fn trained_bn_model() -> mown_nn::Model {
    let (train, _) = digits();
    let m = digits_model(Arch::Resnet20, &train, 9);
    mown_nn::train::train(m, &train, None, &quick_config(1, 9)).unwrap().0
}

#[test]
fn save_load_round_trip_gives_bit_identical_logits_with_batchnorm() {
    let (_, test) = digits();
    let m = trained_bn_model();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let meta = io::save(&m, &path).unwrap();
    let loaded = io::load(&path, &device()).unwrap();
    assert_eq!(loaded.meta.weights_sha256, meta.weights_sha256);
    assert_eq!(loaded.meta.spec, m.meta.spec);
    assert_eq!(loaded.meta.normalization, m.meta.normalization);
    let a = m.logits(test.images()).unwrap();
    let b = loaded.logits(test.images()).unwrap();
    assert_eq!(a, b, "logits differ after a save/load round trip");
}

#[test]
fn truncated_file_is_a_clear_error() {
    let m = model(Arch::Lenet5, DIGIT, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    io::save(&m, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = io::load(&path, &device()).unwrap_err();
    assert!(matches!(err, NnError::CorruptModel { .. }), "{err}");
    std::fs::write(&path, b"not a model").unwrap();
    assert!(matches!(io::load(&path, &device()).unwrap_err(), NnError::CorruptModel { .. }));
    let missing = io::load(&dir.path().join("nope.safetensors"), &device()).unwrap_err();
    assert!(matches!(missing, NnError::Io { .. }), "{missing}");
}

#[test]
fn modified_weight_byte_is_detected() {
    let m = model(Arch::Mlp, DIGIT, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    io::save(&m, &path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let err = io::load(&path, &device()).unwrap_err();
    assert!(matches!(err, NnError::HashMismatch { .. }), "{err}");
}

#[test]
fn weights_of_another_architecture_are_rejected() {
    // Same input shape and classes, different network: rewrite the metadata to claim arc-c.
    let m = model(Arch::Lenet5, DIGIT, 1);
    let mut other = model(Arch::ArcC, DIGIT, 1);
    other.net = m.net.clone();
    other.meta.spec.arch = Arch::ArcC;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    io::save(&other, &path).unwrap();
    let err = io::load(&path, &device()).unwrap_err();
    assert!(matches!(err, NnError::WeightMismatch { .. }), "{err}");
    assert!(err.to_string().contains("arc-c"), "{err}");
}

#[test]
fn weights_for_another_class_count_are_rejected() {
    let m = model(Arch::Mlp, DIGIT, 1);
    let mut lie = m.clone();
    lie.meta.spec.num_classes = 5;
    lie.meta.class_names.truncate(5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    io::save(&lie, &path).unwrap();
    let err = io::load(&path, &device()).unwrap_err();
    assert!(matches!(err, NnError::WeightMismatch { .. }), "{err}");
}

#[test]
fn edited_metadata_is_a_clear_error_not_a_panic() {
    // The header is outside the weights hash, so an edited one must fail on load: a 3-channel
    // normalisation on a grey model used to panic in a reshape at the first forward pass.
    let m = model(Arch::Mlp, DIGIT, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut lie = m.clone();
    lie.meta.normalization.mean = vec![0.5; 3];
    lie.meta.normalization.std = vec![0.2; 3];
    io::save(&lie, &path).unwrap();
    let err = io::load(&path, &device()).unwrap_err();
    assert!(matches!(err, NnError::CorruptModel { .. }) && err.to_string().contains("normalisation"), "{err}");
    let mut lie = m.clone();
    lie.meta.class_names.push("extra".into());
    io::save(&lie, &path).unwrap();
    let err = io::read_meta(&path).unwrap_err();
    assert!(matches!(err, NnError::CorruptModel { .. }) && err.to_string().contains("class names"), "{err}");
}

#[test]
fn non_finite_outputs_are_an_error_not_label_zero() {
    // Finite but huge pixels overflow the logits; taking the argmax of NaN/inf rows would read
    // every answer as class 0 and decide a verdict on it.
    let m = model(Arch::Mlp, DIGIT, 1);
    let huge = vec![3.0e38f32; DIGIT.numel() * 2];
    let err = m.predict(&huge).unwrap_err();
    assert!(matches!(err, NnError::NonFiniteOutput { .. }), "{err}");
    assert!(err.to_string().contains("NaN or infinite"), "{err}");
}

#[test]
fn header_claiming_a_huge_input_is_refused_before_allocating() {
    // A small file whose header claims a 64x1024x1024 input: building that MLP would allocate
    // tens of GB before the weights are ever compared.
    let m = model(Arch::Mlp, DIGIT, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut lie = m.clone();
    lie.meta.spec.input = mown_data::ImageShape { channels: 64, height: 1024, width: 1024 };
    lie.meta.normalization = mown_data::Normalization::identity(64);
    io::save(&lie, &path).unwrap();
    let started = std::time::Instant::now();
    let err = io::load(&path, &device()).unwrap_err();
    assert!(matches!(err, NnError::WeightMismatch { .. }), "{err}");
    assert!(started.elapsed().as_secs() < 5, "took {:?}", started.elapsed());
}

/// PyTorch state_dicts of bench/pytorch_nn.py's networks (committed fixtures written by
/// scripts/make_pytorch_fixture.py, float32 and float16, BatchNorm statistics randomised) give
/// the logits PyTorch computed, and a state_dict of another shape is refused by name.
#[test]
fn pytorch_state_dicts_give_pytorchs_logits() {
    use mown_nn::burn::prelude::Device;
    use mown_nn::{ModelMeta, ModelSpec, pytorch};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
            .collect()
    };
    let images = floats(&expected["inputs"]);
    let shape = mown_data::ImageShape::new(1, 28, 28);
    let meta = |arch: Arch| {
        let names = (0..10).map(|k| k.to_string()).collect();
        ModelMeta::new(ModelSpec::new(arch, shape, 10).unwrap(), mown_data::Normalization::identity(1), names).unwrap()
    };
    for (name, arch) in [("lenet5", Arch::Lenet5), ("arc-a", Arch::ArcA), ("resnet20", Arch::Resnet20)] {
        let bytes = std::fs::read(dir.join(format!("{name}.safetensors"))).unwrap();
        let bias = pytorch::classifier_bias(arch).unwrap();
        assert_eq!(pytorch::tensor_len(&bytes, bias).unwrap(), 10);
        let model = pytorch::import_state_dict(&bytes, meta(arch), name, &Device::flex()).unwrap();
        let got = model.logits(&images).unwrap();
        let want = floats(&expected["models"][name]["logits"]);
        let diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "{name}: logits differ from PyTorch's by {diff}");
        // The model file round trip keeps it, hash included.
        let tmp = tempfile::tempdir().unwrap();
        let saved = io::save(&model, &tmp.path().join("m.safetensors")).unwrap();
        assert_eq!(saved.weights_sha256, model.meta.weights_sha256);
    }
    // A LeNet-5 state_dict read as Arc A: the tensors that do not fit are named.
    let lenet = std::fs::read(dir.join("lenet5.safetensors")).unwrap();
    let err = pytorch::import_state_dict(&lenet, meta(Arch::ArcA), "lenet5", &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("lenet5") && (err.contains("fc3") || err.contains("Simple.")), "{err}");
    let err = pytorch::import_state_dict(b"not a file", meta(Arch::Lenet5), "junk", &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("not a safetensors file"), "{err}");
}
