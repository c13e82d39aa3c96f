//! Pruning attacks (IPGuard, seed 002, §5; reference summary §4.1 and pitfall 13):
//!
//! - Weight pruning (WP, Han et al.): zero the fraction `p` of weights with the smallest |w|.
//!   The paper does not say whether the ranking is global or per layer; we prune **per layer**
//!   (each conv and linear weight tensor loses `floor(p * n)` weights), which keeps every layer
//!   alive at high `p` and makes the sparsity exactly predictable. Biases, BatchNorm parameters
//!   and statistics (all rank 1) are never pruned, as in Han et al.
//! - Filter pruning (FP, Li et al.): in each conv layer zero the `floor(c * out)` filters with the
//!   smallest L1 norm (the paper defers the norm to Li et al., who use L1). The filter's bias, or
//!   the gamma/beta of the BatchNorm that follows it, is zeroed too, so the channel outputs
//!   exactly zero: the same function as removing the filter, which Li et al. do physically.
//!   "For ResNets, the last layer of each residual block is not pruned": `conv2` of every
//!   `BasicBlock` is skipped, and so is the projection shortcut's conv, whose output is summed
//!   with `conv2`'s and is equally a block output. An imported graph (`mown import`) has no
//!   module names: its Conv nodes, the BatchNorm reading each one and the Add that marks a block
//!   output are read off the graph instead (`graph_filter_groups`).
//!
//! Pruning is followed by retraining (the paper's "then retrain"); the mask is re-applied after
//! every optimizer step (`Objective::after_step`), so pruned weights stay exactly zero.
//! [`prune_sweep`] is the paper's schedule: raise the ratio in steps until the accuracy loss
//! exceeds 3%; each acceptable ratio gives one suspect.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use mown_data::Dataset;
use mown_nn::Model;
use mown_nn::burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use mown_nn::burn::prelude::*;
use mown_nn::model::tensor_to_vec;
use mown_nn::models::Network;
use mown_nn::models::graph::{GraphDef, Node, Op, Operand};
use mown_nn::train::{CrossEntropy, Objective, TrainConfig, train_with};
use serde::{Deserialize, Serialize};

use super::finetune::derived_meta;
use crate::AttackError;

/// Weight (unstructured) or filter (structured) pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneKind {
    Weight,
    Filter,
}

impl fmt::Display for PruneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Weight => "w",
            Self::Filter => "f",
        })
    }
}

impl FromStr for PruneKind {
    type Err = AttackError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "w" | "weight" | "wp" => Ok(Self::Weight),
            "f" | "filter" | "fp" => Ok(Self::Filter),
            other => Err(AttackError::BadParameter(format!("unknown pruning kind '{other}' (expected w or f)"))),
        }
    }
}

/// How many of `n` items a ratio prunes: `floor(ratio * n)`. The tiny epsilon keeps products
/// like 0.29 * 100 = 28.999999999999996 at their intended integer.
pub fn pruned_count(ratio: f64, n: usize) -> usize {
    ((ratio * n as f64 + 1e-9).floor() as usize).min(n)
}

/// A float parameter of a network, read out with its module path (e.g.
/// `ResNet.blocks.0.conv1.weight`; the first segment is the `Network` variant).
#[derive(Clone, Debug)]
pub struct NamedTensor {
    pub path: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    /// The last layer of a residual block (IPGuard's filter-pruning exception).
    pub block_output: bool,
}

impl NamedTensor {
    /// Conv (rank 4) and linear (rank 2) weights: the tensors pruning and quantisation touch.
    pub fn is_weight(&self) -> bool {
        matches!(self.shape.len(), 2 | 4)
    }
}

/// Module path tracking shared by the visitors and mappers here.
#[derive(Default)]
struct PathStack(Vec<(String, String)>);

impl PathStack {
    fn enter(&mut self, name: &str, container: &str) {
        self.0.push((name.to_string(), container.to_string()));
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn path(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
        names.join(".")
    }
    /// Inside `BasicBlock.conv2` or a projection `Shortcut` (see the module docs).
    fn in_block_output(&self) -> bool {
        self.0.iter().any(|(n, c)| (n == "conv2" && c == "Struct:BasicBlock") || c == "Struct:Shortcut")
    }
}

/// Every float parameter (including BatchNorm running statistics) of `net`, in visiting order.
pub fn named_tensors(net: &Network) -> Vec<NamedTensor> {
    struct Collect {
        path: PathStack,
        out: Vec<NamedTensor>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.path.enter(name, container);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            self.out.push(NamedTensor {
                path: self.path.path(),
                shape: t.dims().to_vec(),
                values: tensor_to_vec(t),
                block_output: self.path.in_block_output(),
            });
        }
    }
    let mut c = Collect { path: PathStack::default(), out: Vec::new() };
    net.visit(&mut c);
    c.out
}

/// Which entries of which parameters pruning forced to zero, by parameter path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PruneMask {
    masks: BTreeMap<String, LayerMask>,
}

#[derive(Clone, Debug, PartialEq)]
struct LayerMask {
    shape: Vec<usize>,
    /// `true` = pruned (held at zero).
    zero: Vec<bool>,
}

impl PruneMask {
    /// Zeroes the pruned entries of `net` (on whatever device it lives, keeping each parameter's
    /// id and gradient requirement, so it can run between optimizer steps).
    pub fn apply(&self, net: Network) -> Network {
        struct Apply<'a> {
            mask: &'a PruneMask,
            path: PathStack,
        }
        impl ModuleMapper for Apply<'_> {
            fn enter_module(&mut self, name: &str, container: &str) {
                self.path.enter(name, container);
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.path.exit();
            }
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let Some(m) = self.mask.masks.get(&self.path.path()) else {
                    return param;
                };
                param.map(|t| {
                    if t.dims()[..] != m.shape[..] {
                        tracing::warn!(shape = ?t.dims(), mask = ?m.shape, "prune mask shape mismatch; skipped");
                        return t;
                    }
                    let (autodiff, require_grad) = (t.is_autodiff(), t.is_require_grad());
                    // Masked off the autodiff graph, then re-wrapped, so the parameter stays a
                    // leaf for the next backward pass.
                    let plain = t.without_autodiff();
                    let zero =
                        Tensor::<D, Bool>::from_data(TensorData::new(m.zero.clone(), m.shape.clone()), &plain.device());
                    let out = plain.mask_fill(zero, 0.0);
                    let out = if autodiff { out.autodiff() } else { out };
                    out.set_require_grad(require_grad)
                })
            }
        }
        net.map(&mut Apply { mask: self, path: PathStack::default() })
    }

    /// Number of parameter tensors with at least one pruned entry.
    pub fn len(&self) -> usize {
        self.masks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// Total number of pruned entries.
    pub fn pruned(&self) -> usize {
        self.masks.values().map(|m| m.zero.iter().filter(|&&z| z).count()).sum()
    }

    /// The 0/1 mask (`true` = pruned) of one parameter, by path.
    pub fn get(&self, path: &str) -> Option<&[bool]> {
        self.masks.get(path).map(|m| m.zero.as_slice())
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.masks.keys().map(String::as_str)
    }

    fn insert(&mut self, path: String, shape: Vec<usize>, zero: Vec<bool>) {
        if zero.iter().any(|&z| z) {
            self.masks.insert(path, LayerMask { shape, zero });
        }
    }
}

/// Indices of the `k` smallest scores; ties go to the lower index, so pruning is deterministic.
fn smallest(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

fn check_ratio(ratio: f64) -> Result<(), AttackError> {
    if ratio.is_finite() && (0.0..1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(AttackError::BadParameter(format!("pruning ratio must be in [0, 1), got {ratio}")))
    }
}

/// The mask that prunes `net` by `kind` at `ratio` (see the module docs).
pub fn prune_mask(net: &Network, kind: PruneKind, ratio: f64) -> Result<PruneMask, AttackError> {
    check_ratio(ratio)?;
    let tensors = named_tensors(net);
    let mut mask = PruneMask::default();
    match kind {
        PruneKind::Weight => {
            for t in tensors.iter().filter(|t| t.is_weight()) {
                let abs: Vec<f32> = t.values.iter().map(|v| v.abs()).collect();
                let mut zero = vec![false; abs.len()];
                for i in smallest(&abs, pruned_count(ratio, abs.len())) {
                    zero[i] = true;
                }
                mask.insert(t.path.clone(), t.shape.clone(), zero);
            }
        }
        PruneKind::Filter => {
            let by_path: BTreeMap<&str, &NamedTensor> = tensors.iter().map(|t| (t.path.as_str(), t)).collect();
            // (conv weight, the parameters zeroed with its filters), block outputs left out.
            let groups: Vec<(&NamedTensor, Vec<String>)> = match net {
                Network::Graph(g) => graph_filter_groups(&g.def)
                    .into_iter()
                    .filter_map(|(w, with)| {
                        let conv = *by_path.get(graph_param_path(&tensors, w)?.as_str())?;
                        Some((conv, with.into_iter().filter_map(|c| graph_param_path(&tensors, c)).collect()))
                    })
                    .collect(),
                _ => tensors
                    .iter()
                    .filter(|t| t.shape.len() == 4 && t.path.ends_with(".weight") && !t.block_output)
                    .map(|t| (t, companions(&t.path)))
                    .collect(),
            };
            let any_conv = match net {
                Network::Graph(g) => g.def.nodes.iter().any(|n| matches!(n.op, Op::Conv { .. })),
                _ => tensors.iter().any(|t| t.shape.len() == 4 && t.path.ends_with(".weight")),
            };
            if !any_conv {
                return Err(AttackError::BadParameter(
                    "filter pruning needs convolution layers; this model has none".into(),
                ));
            }
            if groups.is_empty() {
                return Err(AttackError::BadParameter(
                    "filter pruning found no convolution it may prune (every one is a residual block's output \
                     or has a constant weight)"
                        .into(),
                ));
            }
            for (conv, with) in groups {
                let out = conv.shape[0];
                let per = conv.values.len() / out.max(1);
                let l1: Vec<f32> = conv.values.chunks(per.max(1)).map(|f| f.iter().map(|v| v.abs()).sum()).collect();
                let mut channel = vec![false; out];
                for i in smallest(&l1, pruned_count(ratio, out)) {
                    channel[i] = true;
                }
                let zero = channel.iter().flat_map(|&z| std::iter::repeat_n(z, per)).collect();
                mask.insert(conv.path.clone(), conv.shape.clone(), zero);
                for companion in with {
                    if let Some(t) = by_path.get(companion.as_str())
                        && t.shape == [out]
                    {
                        mask.insert(companion, vec![out], channel.clone());
                    }
                }
            }
        }
    }
    Ok(mask)
}

/// The filter groups of an imported graph: each Conv's weight parameter with the parameters
/// zeroed with its filters (its bias; the scale and shift of a BatchNorm reading its output).
/// A convolution whose output, or its BatchNorm's, is summed by an Add is a residual block's
/// output and is left out, as IPGuard leaves out the last layer of each block.
fn graph_filter_groups(def: &GraphDef) -> Vec<(usize, Vec<usize>)> {
    let param = |o: Option<&Operand>| match o {
        Some(Operand::Param(p)) => Some(*p),
        _ => None,
    };
    // Node i computes value i + 1.
    let readers = |value: usize| def.nodes.iter().filter(move |n| n.inputs.contains(&Operand::Value(value)));
    let mut out = Vec::new();
    for (i, node) in def.nodes.iter().enumerate() {
        let Op::Conv { .. } = node.op else { continue };
        let Some(weight) = param(node.inputs.get(1)) else { continue };
        let mut with: Vec<usize> = param(node.inputs.get(2)).into_iter().collect();
        let mut output = i + 1;
        let normalises =
            |n: &Node| matches!(n.op, Op::BatchNorm { .. }) && n.inputs.first() == Some(&Operand::Value(output));
        if let Some((j, bn)) = def.nodes.iter().enumerate().find(|(_, n)| normalises(n)) {
            with.extend(param(bn.inputs.get(1)).into_iter().chain(param(bn.inputs.get(2))));
            output = j + 1;
        }
        // A residual sum adds two computed values (an Add of a constant is a bias).
        let residual = |n: &Node| matches!(n.op, Op::Add) && n.inputs.iter().all(|o| matches!(o, Operand::Value(_)));
        if readers(output).any(residual) {
            continue;
        }
        out.push((weight, with));
    }
    out
}

/// The path `named_tensors` gives graph parameter `index` (`Graph.params.<index>.R<rank>`).
fn graph_param_path(tensors: &[NamedTensor], index: usize) -> Option<String> {
    let want = index.to_string();
    tensors
        .iter()
        .find(|t| {
            let parts: Vec<&str> = t.path.split('.').collect();
            parts.windows(2).any(|w| w[0] == "params" && w[1] == want)
        })
        .map(|t| t.path.clone())
}

/// The rank-1 parameters that must be zeroed with a conv's filters for the channel to output
/// zero: its own bias, and gamma/beta of the BatchNorm that follows it. mown's blocks name that
/// BatchNorm after the conv (`conv`/`bn`, `conv1`/`bn1`, `conv2`/`bn2`).
fn companions(weight_path: &str) -> Vec<String> {
    let Some(prefix) = weight_path.strip_suffix(".weight") else {
        return Vec::new();
    };
    let mut out = vec![format!("{prefix}.bias")];
    let (parent, name) = match prefix.rsplit_once('.') {
        Some((p, n)) => (format!("{p}."), n),
        None => (String::new(), prefix),
    };
    if let Some(suffix) = name.strip_prefix("conv") {
        for p in ["gamma", "beta"] {
            out.push(format!("{parent}bn{suffix}.{p}"));
        }
    }
    out
}

/// Prunes `model` without retraining. Returns the pruned model (named
/// `<derivation>-prune(<kind>,<ratio>)`) and the mask, for retraining with it.
/// `ratio` must lie in [0, 1); 0 changes nothing.
pub fn prune(model: &Model, kind: PruneKind, ratio: f64) -> Result<(Model, PruneMask), AttackError> {
    // `valid()` gives a copy whose BatchNorm statistics are not shared with `model`.
    let base = model.valid();
    let mask = prune_mask(&base.net, kind, ratio)?;
    let details = serde_json::json!({ "attack": "prune", "kind": kind, "ratio": ratio });
    let meta = derived_meta(&model.meta, &format!("prune({kind},{ratio})"), details);
    let net = mask.apply(base.net);
    Ok((Model { meta, net }, mask))
}

/// Cross-entropy retraining that re-applies a pruning mask after every optimizer step.
pub struct MaskedCrossEntropy<'a> {
    pub mask: &'a PruneMask,
}

impl Objective for MaskedCrossEntropy<'_> {
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        CrossEntropy.loss(model, images, labels)
    }
    fn after_step(&mut self, net: Network) -> Network {
        self.mask.apply(net)
    }
}

/// Prunes, then retrains every layer on `data` for `cfg.epochs` with the pruned entries held at
/// zero (named `<derivation>-prune(<kind>,<ratio>,ft=<epochs>)`).
pub fn prune_and_finetune(
    model: &Model,
    kind: PruneKind,
    ratio: f64,
    data: &Dataset,
    cfg: &TrainConfig,
) -> Result<Model, AttackError> {
    if data.is_empty() {
        return Err(AttackError::BadParameter(format!("retraining data set '{}' is empty", data.name)));
    }
    let (pruned, mask) = prune(model, kind, ratio)?;
    let start = Model { meta: model.meta.clone(), net: pruned.net.unfreeze() };
    let (trained, report) = train_with(start, data, None, cfg, &mut MaskedCrossEntropy { mask: &mask })?;
    let step = format!("prune({kind},{ratio},ft={})", cfg.epochs);
    let details = serde_json::json!({
        "attack": "prune", "kind": kind, "ratio": ratio, "data": data.name,
        "train": cfg, "seconds": (report.seconds * 1000.0).round() / 1000.0,
    });
    Ok(Model {
        meta: derived_meta(&model.meta, &step, details),
        // `after_step` masked the last step's weights already; no final re-mask, so that a
        // broken hook shows in the sparsity instead of being papered over.
        net: trained.net,
    })
}

/// Zeros per conv/linear weight tensor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SparsityReport {
    /// (parameter path, exact zeros, entries) per rank-2/rank-4 weight.
    pub layers: Vec<(String, usize, usize)>,
}

impl SparsityReport {
    pub fn zeros(&self) -> usize {
        self.layers.iter().map(|l| l.1).sum()
    }
    pub fn total(&self) -> usize {
        self.layers.iter().map(|l| l.2).sum()
    }
    /// Fraction of all weights that are exactly zero (0 for a model without weights).
    pub fn fraction(&self) -> f64 {
        match self.total() {
            0 => 0.0,
            t => self.zeros() as f64 / t as f64,
        }
    }
}

/// Counts exact zeros in every conv and linear weight of `model`.
pub fn sparsity(model: &Model) -> SparsityReport {
    let layers = named_tensors(&model.net)
        .into_iter()
        .filter(NamedTensor::is_weight)
        .map(|t| {
            let zeros = t.values.iter().filter(|&&v| v == 0.0).count();
            (t.path, zeros, t.values.len())
        })
        .collect();
    SparsityReport { layers }
}

/// The outcome of [`prune_sweep`].
#[derive(Clone, Debug)]
pub struct SweepResult {
    pub kind: PruneKind,
    /// Accuracy of the unpruned model on the evaluation set.
    pub baseline_accuracy: f64,
    /// (ratio, accuracy after retraining) for every acceptable ratio, in increasing order. Each
    /// is one suspect in IPGuard; `prune_and_finetune` with the same arguments rebuilds it.
    pub accepted: Vec<(f64, f64)>,
    /// The first ratio whose accuracy dropped more than `max_drop`, if the sweep stopped on one.
    pub rejected: Option<(f64, f64)>,
    /// The retrained model at the largest acceptable ratio.
    pub best: Option<Model>,
}

/// IPGuard's pruning schedule: ratios `step, 2*step, ...` (below 1), each pruned from the
/// original model and retrained, until the accuracy on `eval` falls more than `max_drop` (the
/// paper: 0.03, absolute) below the original's. The paper's steps are 0.1 for weights and 1/16
/// for filters. Ratios are rounded to 1e-9 so that `3 * 0.1` is named `0.3`.
pub fn prune_sweep(
    model: &Model,
    kind: PruneKind,
    train: &Dataset,
    eval: &Dataset,
    max_drop: f64,
    step: f64,
    cfg: &TrainConfig,
) -> Result<SweepResult, AttackError> {
    if !(step.is_finite() && step > 0.0 && step < 1.0) {
        return Err(AttackError::BadParameter(format!("sweep step must be in (0, 1), got {step}")));
    }
    if !(max_drop.is_finite() && max_drop >= 0.0) {
        return Err(AttackError::BadParameter(format!("max accuracy drop must be >= 0, got {max_drop}")));
    }
    let baseline_accuracy = model.accuracy(eval)?;
    let mut result = SweepResult { kind, baseline_accuracy, accepted: Vec::new(), rejected: None, best: None };
    for k in 1.. {
        let ratio = ((k as f64 * step) * 1e9).round() / 1e9;
        if ratio >= 1.0 {
            break;
        }
        let mut pruned = prune_and_finetune(model, kind, ratio, train, cfg)?;
        let accuracy = pruned.accuracy(eval)?;
        tracing::info!(%kind, ratio, accuracy, baseline_accuracy, "prune sweep");
        if baseline_accuracy - accuracy > max_drop {
            result.rejected = Some((ratio, accuracy));
            break;
        }
        pruned.meta.provenance.test_accuracy = Some(accuracy);
        result.accepted.push((ratio, accuracy));
        result.best = Some(pruned);
    }
    Ok(result)
}
