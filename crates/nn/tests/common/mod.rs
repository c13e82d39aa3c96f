#![allow(dead_code)]
use mown_data::{Dataset, ImageShape, Normalization};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};

pub fn device() -> Device {
    Device::flex()
}

pub fn digits() -> (Dataset, Dataset) {
    mown_data::DataSource::Digits.load().expect("embedded digits load")
}

pub fn model(arch: Arch, shape: ImageShape, seed: u64) -> Model {
    let spec = ModelSpec::new(arch, shape, 10).unwrap();
    let names = (0..10).map(|i| i.to_string()).collect();
    let meta = ModelMeta::new(spec, Normalization::identity(shape.channels), names).unwrap();
    Model::init(meta, &device(), seed)
}

pub fn digits_model(arch: Arch, train: &Dataset, seed: u64) -> Model {
    let spec = ModelSpec::new(arch, train.shape, train.num_classes).unwrap();
    Model::init(ModelMeta::for_dataset(spec, train).unwrap(), &device(), seed)
}

pub fn quick_config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig { epochs, batch_size: 64, lr: 0.05, seed, ..TrainConfig::default() }
}

pub const DIGIT: ImageShape = ImageShape { channels: 1, height: 8, width: 8 };
