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
