pub mod bench;
pub mod bench_serve;
pub mod claim;
pub mod demo;
pub mod eval;
pub mod eval_method;
pub mod eval_watermark;
pub mod export;
pub mod fingerprint;
pub mod info;
pub mod serve;
pub mod steal;
pub mod train;
pub mod verify;
pub mod watermark;
pub mod zoo;

use anyhow::Context;
use mown_nn::Backend;

/// `--device` shared by every command that runs a model.
#[derive(clap::Args, Clone, Debug)]
pub struct DeviceArgs {
    /// Backend: cpu, vulkan (needs a build with `--features vulkan`) or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl DeviceArgs {
    pub fn device(&self) -> anyhow::Result<mown_nn::burn::prelude::Device> {
        let backend: Backend = self.device.parse()?;
        backend.device().with_context(|| format!("selecting device '{}'", self.device))
    }
}
