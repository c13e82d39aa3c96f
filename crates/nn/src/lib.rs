//! mown-nn: the networks mown trains, attacks and verifies, written once against burn's `Device`
//! so that the same code runs on the `flex` CPU backend (tests, CI) and on Vulkan GPUs.
//!
//! Images enter every model as NCHW f32 in [0, 1]; each model normalises internally with the
//! statistics recorded in its file. Attacks and fingerprints therefore all work in pixel space.

pub mod alloc;
pub mod arch;
pub mod bench;
mod checkpoint;
pub mod conv;
pub mod dcgan;
pub mod device;
pub mod dfad;
mod error;
pub mod gradient;
pub mod io;
pub mod loss;
pub mod model;
pub mod models;
pub mod module_bytes;
pub mod param_gradient;
pub mod pytorch;
pub mod seed;
pub mod train;
pub mod vector_mlp;

pub use arch::{Arch, ModelSpec};
pub use burn;
pub use device::Backend;
pub use error::NnError;
pub use model::{Model, ModelMeta, Provenance};
pub use param_gradient::ParamGradient;
pub use train::{LrSchedule, OptimizerKind, TrainConfig, TrainReport};
