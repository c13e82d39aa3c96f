//! Attacks that get the victim's weights: fine-tuning (IPGuard §5: FTLL, FTAL, RTLL, RTAL),
//! pruning (weight magnitude, filter L1, IPGuard's sweep) and INT8 weight quantisation (seed 003).

pub mod finetune;
pub mod prune;
pub mod quantize;

pub use finetune::{FineTuneMode, fine_tune};
pub use prune::{PruneKind, SparsityReport, prune, prune_and_finetune, prune_sweep, sparsity};
pub use quantize::quantize_int8;
