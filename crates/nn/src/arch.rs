//! Which network to build: the architecture name plus the input shape and class count.
//!
//! `ModelSpec` is what a model file records so that it can be rebuilt before its weights are
//! loaded; `Arch` parses from and prints to the short names used on the command line and in
//! derivation chains (`train(resnet20,fmnist,seed=1)`).

use std::fmt;
use std::str::FromStr;

use mown_data::ImageShape;
use serde::{Deserialize, Serialize};

use crate::NnError;

/// Every architecture mown can build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Two hidden layers (256, 128), ReLU.
    Mlp,
    /// LeNet-5 with ReLU and max pooling.
    Lenet5,
    /// The five simple CNNs of seed 003 Table 1 (Fashion-MNIST "Arc A"-"Arc E").
    ArcA,
    ArcB,
    ArcC,
    ArcD,
    ArcE,
    /// CIFAR-style ResNet-20 (3 stages x 3 basic blocks, 16/32/64 channels).
    Resnet20,
    /// CIFAR-style ResNet-18 (3x3 stem, no stem pooling, 4 stages x 2 blocks).
    Resnet18,
    /// VGG-11 with BatchNorm.
    Vgg11,
    /// VGG-16 with BatchNorm.
    Vgg16,
    /// A network imported from an ONNX file (`mown import`): its graph travels in the model's
    /// metadata. Not in [`Arch::ALL`] and not parsed from a name: it cannot be trained from
    /// scratch by name, only imported.
    Imported,
}

impl Arch {
    /// All architectures, in the order `mown info --archs` lists them.
    pub const ALL: [Arch; 11] = [
        Arch::Mlp,
        Arch::Lenet5,
        Arch::ArcA,
        Arch::ArcB,
        Arch::ArcC,
        Arch::ArcD,
        Arch::ArcE,
        Arch::Resnet20,
        Arch::Resnet18,
        Arch::Vgg11,
        Arch::Vgg16,
    ];

    /// The short name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Lenet5 => "lenet5",
            Arch::ArcA => "arc-a",
            Arch::ArcB => "arc-b",
            Arch::ArcC => "arc-c",
            Arch::ArcD => "arc-d",
            Arch::ArcE => "arc-e",
            Arch::Resnet20 => "resnet20",
            Arch::Resnet18 => "resnet18",
            Arch::Vgg11 => "vgg11",
            Arch::Vgg16 => "vgg16",
            Arch::Imported => "imported",
        }
    }

    /// The architecture family, for the diversity of a set of independent models (issue #25:
    /// MLP, LeNet-5, the simple CNNs Arc A-E, ResNet, VGG are the families mown trains).
    pub fn family(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Lenet5 => "lenet",
            Arch::ArcA | Arch::ArcB | Arch::ArcC | Arch::ArcD | Arch::ArcE => "arc-cnn",
            Arch::Resnet20 | Arch::Resnet18 => "resnet",
            Arch::Vgg11 | Arch::Vgg16 => "vgg",
            Arch::Imported => "imported",
        }
    }

    /// Whether the network has BatchNorm layers (their running statistics need care). False for
    /// an imported graph: it runs BatchNorm in inference mode, with frozen statistics.
    pub fn has_batch_norm(self) -> bool {
        matches!(self, Arch::Resnet20 | Arch::Resnet18 | Arch::Vgg11 | Arch::Vgg16)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = NnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        let wanted = match wanted.as_str() {
            "lenet" | "lenet-5" => "lenet5",
            "resnet-20" => "resnet20",
            "resnet-18" => "resnet18",
            "vgg-11" | "vgg11-bn" => "vgg11",
            "vgg-16" | "vgg16-bn" => "vgg16",
            "arca" => "arc-a",
            "arcb" => "arc-b",
            "arcc" => "arc-c",
            "arcd" => "arc-d",
            "arce" => "arc-e",
            other => other,
        };
        Arch::ALL.into_iter().find(|a| a.name() == wanted).ok_or_else(|| NnError::UnknownArch {
            name: s.to_string(),
            known: Arch::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// Everything needed to rebuild a network before loading its weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub arch: Arch,
    pub input: ImageShape,
    pub num_classes: usize,
}

impl ModelSpec {
    pub fn new(arch: Arch, input: ImageShape, num_classes: usize) -> Result<Self, NnError> {
        let spec = Self { arch, input, num_classes };
        spec.validate()?;
        Ok(spec)
    }

    /// Rejects shapes no architecture can handle (zero sizes, fewer than two classes).
    pub fn validate(&self) -> Result<(), NnError> {
        let s = self.input;
        if s.channels == 0 || s.height == 0 || s.width == 0 {
            return Err(NnError::BadSpec(format!("input shape {s:?} has a zero dimension")));
        }
        if self.num_classes < 2 {
            return Err(NnError::BadSpec(format!("a classifier needs at least 2 classes, got {}", self.num_classes)));
        }
        if s.is_implausibly_large() {
            return Err(NnError::BadSpec(format!("input shape {s:?} is implausibly large")));
        }
        Ok(())
    }
}

/// Spatial size after a 2x2/stride-2 max pool, or `None` when the map is too small to pool.
/// Small inputs (the 8x8 digits) skip pools instead of collapsing to zero.
pub(crate) fn pooled(size: usize) -> Option<usize> {
    (size >= 2).then_some(size / 2)
}
