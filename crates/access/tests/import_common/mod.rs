//! Shared by the ONNX import tests: the fixtures of scripts/make_onnx_import_fixtures.py.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mown_access::onnx::{ImportOptions, Imported, import_onnx};
use mown_data::Dataset;
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec};

pub const FIXTURES: [&str; 4] = ["resnet", "vgg", "keras", "misc"];

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_import").join(name)
}

pub fn expected() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap()
}

/// Rows of numbers, flattened.
pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
        .collect()
}

pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Imports a fixture with the layout and input range expected.json records for it.
pub fn import_fixture(name: &str) -> Imported {
    let e = &expected()[name];
    let opts = ImportOptions {
        layout: e["layout"].as_str().unwrap().parse().unwrap(),
        input_range: e["input_range"].as_f64().unwrap() as f32,
        ..Default::default()
    };
    import_onnx(&fixture(&format!("{name}.onnx")), &opts, &Device::flex()).unwrap()
}

pub fn digits_model(arch: Arch, train: &Dataset, seed: u64) -> Model {
    let spec = ModelSpec::new(arch, train.shape, train.num_classes).unwrap();
    Model::init(ModelMeta::for_dataset(spec, train).unwrap(), &Device::flex(), seed)
}
