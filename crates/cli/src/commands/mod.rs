pub mod bench;
pub mod bench_methods;
pub mod bench_serve;
pub mod claim;
pub mod demo;
pub mod dispute;
pub mod eval;
pub mod eval_method;
pub mod eval_watermark;
pub mod export;
pub mod fingerprint;
pub mod import;
pub mod info;
pub mod methods;
pub mod negatives;
pub mod serve;
pub mod steal;
pub mod train;
pub mod verify;
pub mod watermark;
pub mod zoo;

use anyhow::Context;
use mown_nn::Backend;

/// A white-box model: a mown model file, or an `.onnx` classifier imported on the fly with the
/// defaults of `mown import` (NCHW, values in [0, 1], no normalisation); `mown import` takes
/// the options and keeps the result.
pub fn load_model(path: &std::path::Path, device: &mown_nn::burn::prelude::Device) -> anyhow::Result<mown_nn::Model> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        let opts = mown_access::onnx::ImportOptions::default();
        let imported = mown_access::onnx::import_onnx(path, &opts, device)?;
        eprintln!("{}: imported as {}", path.display(), imported.model.meta.provenance.derivation);
        return Ok(imported.model);
    }
    Ok(mown_nn::io::load(path, device)?)
}

/// Whether `test`'s labels are the task of a model with `class_names`: as many classes and, where
/// the model knows real names (not the generic "0", "1", ... an API copy gets), the same names.
/// `fmnist[5-9]` has as many classes as `fmnist[0-4]` and none of its labels.
pub fn same_task(test: &mown_data::Dataset, class_names: &[String]) -> bool {
    let generic = class_names.iter().enumerate().all(|(i, name)| *name == i.to_string());
    test.num_classes == class_names.len() && (generic || test.class_names == class_names)
}

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

#[cfg(test)]
mod tests {
    use mown_data::{Dataset, ImageShape};

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn same_task_needs_the_same_classes_not_only_as_many() {
        let shape = ImageShape::new(1, 1, 1);
        let lower = Dataset::new("lower", shape, 2, names(&["shirt", "coat"]), vec![0.0, 1.0], vec![0, 1]).unwrap();
        assert!(super::same_task(&lower, &names(&["shirt", "coat"])));
        assert!(!super::same_task(&lower, &names(&["bag", "boot"])), "same count, other classes");
        assert!(!super::same_task(&lower, &names(&["shirt", "coat", "bag"])));
        // A copy that only knows class indices takes any task with its number of classes.
        assert!(super::same_task(&lower, &names(&["0", "1"])));
    }
}
