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
