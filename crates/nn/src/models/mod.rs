//! The networks. Each takes normalised NCHW images and returns logits; `Network` is the one type
//! the rest of mown trains, saves and attacks, whatever the architecture.

pub(crate) mod blocks;
mod folded;
mod lenet;
mod mlp;
mod resnet;
mod simple_cnn;
mod vgg;

use burn::prelude::*;

pub use blocks::Activation;
pub use folded::{FoldedResNet, FoldedVgg, InferenceNet, fold_batch_norm};
pub use lenet::Lenet5;
pub use mlp::Mlp;
pub use resnet::ResNet;
pub use simple_cnn::SimpleCnn;
pub use vgg::Vgg;

use crate::arch::{Arch, ModelSpec};

/// Any mown network. An enum (not a trait object) so that burn's `Module` derive gives one type
/// for optimisers, save/load and device moves.
// One per model and moved rarely: boxing the large variants would complicate the Module derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network {
    Mlp(Mlp),
    Lenet5(Lenet5),
    Simple(SimpleCnn),
    ResNet(ResNet),
    Vgg(Vgg),
}

impl Network {
    /// Builds a freshly initialised network for `spec` on `device` (seed the device first for
    /// reproducible weights; see `crate::seed`).
    pub fn init(spec: &ModelSpec, device: &Device) -> Network {
        let (c, h, w, k) = (spec.input.channels, spec.input.height, spec.input.width, spec.num_classes);
        match spec.arch {
            Arch::Mlp => Network::Mlp(Mlp::new(c * h * w, &[256, 128], k, device)),
            Arch::Lenet5 => Network::Lenet5(Lenet5::new(spec.input, k, device)),
            Arch::ArcA | Arch::ArcB | Arch::ArcC | Arch::ArcD | Arch::ArcE => {
                Network::Simple(SimpleCnn::new(spec.arch, spec.input, k, device))
            }
            Arch::Resnet20 => Network::ResNet(ResNet::resnet20(c, k, device)),
            Arch::Resnet18 => Network::ResNet(ResNet::resnet18(c, k, device)),
            Arch::Vgg11 => Network::Vgg(Vgg::new(vgg::VGG11, spec.input, k, device)),
            Arch::Vgg16 => Network::Vgg(Vgg::new(vgg::VGG16, spec.input, k, device)),
        }
    }

    /// Logits for a batch of normalised images `[n, c, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Network::Mlp(m) => m.forward(x),
            Network::Lenet5(m) => m.forward(x),
            Network::Simple(m) => m.forward(x),
            Network::ResNet(m) => m.forward(x),
            Network::Vgg(m) => m.forward(x),
        }
    }

    /// The final (classification) layer, which fine-tuning attacks train or re-initialise alone.
    pub fn head(&self) -> &burn::nn::Linear {
        match self {
            Network::Mlp(m) => m.head(),
            Network::Lenet5(m) => &m.fc3,
            Network::Simple(m) => &m.fc2,
            Network::ResNet(m) => &m.fc,
            Network::Vgg(m) => &m.fc,
        }
    }

    /// Replaces the final layer (used by the re-initialising fine-tuning attacks).
    pub fn with_head(mut self, head: burn::nn::Linear) -> Network {
        match &mut self {
            Network::Mlp(m) => m.set_head(head),
            Network::Lenet5(m) => m.fc3 = head,
            Network::Simple(m) => m.fc2 = head,
            Network::ResNet(m) => m.fc = head,
            Network::Vgg(m) => m.fc = head,
        }
        self
    }
}
