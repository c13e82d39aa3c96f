//! The networks. Each takes normalised NCHW images and returns logits; `Network` is the one type
//! the rest of mown trains, saves and attacks, whatever the architecture.

pub(crate) mod blocks;
mod folded;
pub mod graph;
mod graph_net;
pub mod graph_ops;
pub mod graph_shapes;
#[cfg(test)]
mod graph_tests;
mod lenet;
mod mlp;
mod resnet;
mod simple_cnn;
mod vgg;

use burn::prelude::*;

pub use blocks::Activation;
pub use folded::{FoldedResNet, FoldedVgg, InferenceNet, fold_batch_norm};
pub use graph::{Dim, GraphDef};
pub use graph_net::{GraphNet, GraphParam};
pub use lenet::Lenet5;
pub use mlp::Mlp;
pub use resnet::ResNet;
pub use simple_cnn::SimpleCnn;
pub use vgg::Vgg;

use crate::NnError;
use crate::arch::{Arch, ModelSpec};
use crate::model::ModelMeta;

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
    /// An imported graph (`mown import`).
    Graph(GraphNet),
}

impl Network {
    /// Builds a freshly initialised network for `spec` on `device` (seed the device first for
    /// reproducible weights; see `crate::seed`).
    ///
    /// # Panics
    /// For [`Arch::Imported`], whose network is built from the graph in its metadata
    /// ([`Network::from_meta`]); metadata naming it without a graph does not validate.
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
            Arch::Imported => panic!("an imported network is built from its graph (Network::from_meta)"),
        }
    }

    /// A freshly initialised network for a model's metadata: from its graph when it has one.
    pub fn from_meta(meta: &ModelMeta, device: &Device) -> Result<Network, NnError> {
        match &meta.graph {
            Some(def) => Ok(Network::Graph(GraphNet::init(def, device)?)),
            None if meta.spec.arch == Arch::Imported => {
                Err(NnError::BadSpec("an imported model's metadata has no graph".into()))
            }
            None => Ok(Network::init(&meta.spec, device)),
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
            Network::Graph(m) => m.forward(x),
        }
    }

    /// The final (classification) layer, which fine-tuning attacks train or re-initialise alone
    /// (a clone sharing the network's parameters). An imported graph has one only when it ends
    /// in a Gemm or MatMul + Add on parameters; otherwise this is an error naming the reason.
    pub fn head(&self) -> Result<burn::nn::Linear, NnError> {
        Ok(match self {
            Network::Mlp(m) => m.head().clone(),
            Network::Lenet5(m) => m.fc3.clone(),
            Network::Simple(m) => m.fc2.clone(),
            Network::ResNet(m) => m.fc.clone(),
            Network::Vgg(m) => m.fc.clone(),
            Network::Graph(m) => return m.head(),
        })
    }

    /// Replaces the final layer (used by the re-initialising fine-tuning attacks); an error only
    /// for an imported graph without one, or a head of another shape.
    pub fn with_head(mut self, head: burn::nn::Linear) -> Result<Network, NnError> {
        if let Network::Graph(m) = self {
            return Ok(Network::Graph(m.with_head(head)?));
        }
        match &mut self {
            Network::Mlp(m) => m.set_head(head),
            Network::Lenet5(m) => m.fc3 = head,
            Network::Simple(m) => m.fc2 = head,
            Network::ResNet(m) => m.fc = head,
            Network::Vgg(m) => m.fc = head,
            Network::Graph(_) => unreachable!("handled above"),
        }
        Ok(self)
    }
}
