//! mown-adversary: what a model thief does, and the innocent models a verdict must not accuse.
//!
//! White-box attacks (`whitebox`: fine-tuning, pruning, quantisation) receive the victim's
//! weights. Extraction receives only a `&mut dyn QueryModel` (see `mown-access`), so it cannot
//! reach the weights. Every model is named by its derivation chain (`chain`), which is also its
//! cache key in a zoo (`zoo`).

pub mod advtrain;
pub mod build;
pub mod chain;
pub mod deepfool;
pub mod distill;
mod error;
pub mod extract;
mod optimizer;
pub mod whitebox;
pub mod zoo;

pub use chain::{AttackFamily, Chain, Step};
pub use error::AttackError;
pub use optimizer::TrainOptimizer;
