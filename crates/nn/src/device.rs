//! Backend selection. The CPU backend (`flex`) is always built; `vulkan` needs the cargo feature
//! of the same name (burn's wgpu/Vulkan backend, pure Rust, builds offline). burn's `cuda`
//! backend is not offered: its build downloads LLVM, which cannot happen here.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;

use crate::NnError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// burn's pure-Rust CPU backend with rayon threads and SIMD.
    Cpu,
    /// burn's Vulkan backend on the first discrete GPU (feature `vulkan`).
    Vulkan,
    /// Vulkan when built and a GPU answers, else CPU.
    Auto,
}

impl Backend {
    /// The burn device for this backend.
    pub fn device(self) -> Result<Device, NnError> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            Backend::Vulkan => vulkan(),
            Backend::Auto => Ok(vulkan().unwrap_or_else(|_| Device::flex())),
        }
    }
}

#[cfg(feature = "vulkan")]
fn vulkan() -> Result<Device, NnError> {
    use burn::prelude::DeviceKind;
    // Touch the device once so a missing driver is reported here, as an error, not as a panic
    // deep inside training: burn's runtime panics (on a worker thread) when no adapter exists.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probed = std::panic::catch_unwind(|| {
        let device = Device::vulkan(DeviceKind::DefaultDevice);
        let _ = burn::tensor::Tensor::<1>::zeros([1], &device).into_data();
        device
    });
    std::panic::set_hook(previous);
    probed.map_err(|_| {
        NnError::DeviceUnavailable(
            "vulkan".into(),
            "no Vulkan adapter found: install the GPU driver and the Vulkan loader (libvulkan1), \
             or set VK_DRIVER_FILES to the driver's ICD file"
                .into(),
        )
    })
}

#[cfg(not(feature = "vulkan"))]
fn vulkan() -> Result<Device, NnError> {
    Err(NnError::DeviceUnavailable("vulkan".into(), "rebuild with `cargo build --release --features vulkan`".into()))
}

impl FromStr for Backend {
    type Err = NnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Backend::Cpu),
            "vulkan" | "gpu" => Ok(Backend::Vulkan),
            "auto" => Ok(Backend::Auto),
            other => Err(NnError::DeviceUnavailable(other.into(), "choose cpu, vulkan or auto".into())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Vulkan => "vulkan",
            Backend::Auto => "auto",
        })
    }
}
