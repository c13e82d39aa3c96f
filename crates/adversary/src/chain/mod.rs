//! Derivation chains: a model's name is the recipe that made it, ModelDiff-style, e.g.
//! `train(resnet20,fmnist,seed=1)-prune(w,0.5,ft=2)-ftal(5)`. The canonical form (every
//! parameter spelled out) is the model's cache key, so a zoo never trains the same model twice.
//!
//! Grammar: steps joined by `-` outside parentheses; a step is `name(arg,...)`, where an arg is
//! positional or `key=value`. Values may not contain `,` `(` `)`.

use std::fmt;

use mown_access::AccessLevel;
use mown_data::Augmentation;
use mown_nn::Arch;
use serde::{Deserialize, Serialize};

use crate::AttackError;
use crate::optimizer::TrainOptimizer;
use crate::whitebox::{FineTuneMode, PruneKind};

mod parse;

pub use parse::canonical_data;
use parse::{bad, parse_steps};

/// Where extraction queries come from (seeds 001, 003, 004).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuerySource {
    /// The attacker's own sample of the victim's distribution (the half of the training set the
    /// owner did not use).
    Same,
    /// Another dataset (short name: digits, mnist, fmnist, any with [A-B] for classes A to B),
    /// resized to the victim's input.
    Dataset(String),
    /// Uniform random pixels.
    Noise,
}

/// Adversarial-training flavour (seed 003 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdvMethod {
    Fgsm,
    Pgd,
}

/// One derivation step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// A model trained from scratch: the owner's victim, or an independent model.
    /// `part = (k, n)`: train on the k-th (1-based) of n disjoint stratified parts of the data.
    Train {
        arch: Arch,
        data: String,
        seed: u64,
        epochs: usize,
        part: Option<(usize, usize)>,
        /// With `part = (k, n)`: train on a set the size of part k whose fraction `overlap` is
        /// drawn from part k and the rest from part k mod n + 1 (seed 003 §5.2: homologous models
        /// train on "D_homo ... of equal size as D_v, overlapping with it"; App. C.2 varies the
        /// rate from 0 to 0.9). Printed only when set, so older cache keys stay valid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overlap: Option<f64>,
        /// The optimizer, when not the training default (SGD with momentum): seed 003's
        /// homologous models vary it. Printed only when set, so older cache keys stay valid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opt: Option<TrainOptimizer>,
        /// The batch size, when not the training default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<usize>,
    },
    /// A model mown did not make (an imported ONNX or PyTorch owner, a scikit-learn negative),
    /// named by the SHA-256 of its graph and weights (`mown_nn::io::model_sha256`, printed by
    /// `mown info`), so the name stays a content key. The builder finds it among the files it was
    /// given (a zoo's `models = [...]`, see [`crate::build::Builder::add_model_files`]). `data`,
    /// `part` and `seed` say, as train(...)'s do, which task it serves, which part of the data the
    /// owner had (the attacker gets the next part) and the seed of the steps derived from it.
    Model {
        sha256: String,
        data: String,
        seed: u64,
        part: Option<(usize, usize)>,
    },
    FineTune {
        mode: FineTuneMode,
        epochs: usize,
        lr: f64,
    },
    Prune {
        kind: PruneKind,
        ratio: f64,
        finetune_epochs: usize,
    },
    Distill {
        arch: Arch,
        alpha: f64,
        temperature: f64,
        epochs: usize,
    },
    Extract {
        arch: Arch,
        level: AccessLevel,
        source: QuerySource,
        budget: usize,
        epochs: usize,
        /// Temperature of the student's match (`extract::ExtractConfig::temperature`); 1 = none.
        temperature: f64,
        /// Images per mixup query spent beyond the source's images (`extract::ExtractConfig::mix`);
        /// 0 = none.
        #[serde(default)]
        mix: usize,
        /// Augmentation of live queries (`extract::ExtractConfig::train`); none = the thief
        /// queries each image once, before training.
        #[serde(default)]
        aug: Augmentation,
    },
    AdvTrain {
        method: AdvMethod,
        eps: f64,
        epochs: usize,
    },
    /// DeepFool adversarial training (seed 003 §5, "Adversarial Training"): `iterations`
    /// optimizer steps, each on `per_iter` of the attacker's images and their DeepFool examples
    /// against the current weights, labelled with the true labels (see [`crate::advtrain`]).
    DeepFoolTrain {
        iterations: usize,
        per_iter: usize,
    },
    Quantize {
        bits: u8,
    },
    /// Data-free adversarial distillation (`mown_nn::dfad`): a student of `arch` trained on a
    /// generator's images against the victim's logits, with white-box access and no data (seed
    /// 001's "zero-shot" thief). `iters` iterations of 5 student steps and 1 generator step on
    /// `batch` generated images each.
    Dfad {
        arch: Arch,
        iterations: usize,
        batch: usize,
    },
}

/// What kind of theft a derived model stands for, so that results can be split the way the papers
/// split their threat models: IPGuard (seed 002 §4.1) evaluates only white-box post-processing,
/// seeds 003/004 add functionality stealing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AttackFamily {
    /// Only fine-tuning, retraining, pruning and quantisation of the victim's own weights.
    PostProcessing,
    /// Some step trains new weights from the victim's outputs (distillation, extraction).
    FunctionalityStealing,
    /// Adversarial training of the victim's weights (and no functionality stealing).
    AdversarialTraining,
}

impl AttackFamily {
    pub fn name(self) -> &'static str {
        match self {
            AttackFamily::PostProcessing => "post-processing",
            AttackFamily::FunctionalityStealing => "functionality-stealing",
            AttackFamily::AdversarialTraining => "adversarial-training",
        }
    }
}

/// A root `train(...)` step followed by derivations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    pub steps: Vec<Step>,
}

impl Chain {
    /// The chain without its last step (the model this one was derived from).
    pub fn parent(&self) -> Option<Chain> {
        (self.steps.len() > 1).then(|| Chain { steps: self.steps[..self.steps.len() - 1].to_vec() })
    }

    /// Appends derivation steps to this chain (e.g. a victim plus an attack recipe).
    pub fn then(&self, more: &[Step]) -> Chain {
        let mut steps = self.steps.clone();
        steps.extend_from_slice(more);
        Chain { steps }
    }

    /// True when the model is trained independently of any victim (a negative).
    pub fn is_independent(&self) -> bool {
        self.steps.len() == 1
    }

    /// The attack family of a derived model; `None` for an independent model.
    pub fn family(&self) -> Option<AttackFamily> {
        if self.is_independent() {
            return None;
        }
        let derived = &self.steps[1..];
        Some(if derived.iter().any(|s| matches!(s, Step::Distill { .. } | Step::Extract { .. } | Step::Dfad { .. })) {
            AttackFamily::FunctionalityStealing
        } else if derived.iter().any(|s| matches!(s, Step::AdvTrain { .. } | Step::DeepFoolTrain { .. })) {
            AttackFamily::AdversarialTraining
        } else {
            AttackFamily::PostProcessing
        })
    }

    /// Parses derivation steps that must not start with `train` (an attack recipe for `steal`).
    pub fn parse_attack(text: &str) -> Result<Vec<Step>, AttackError> {
        let steps = parse_steps(text)?;
        if steps.iter().any(Step::is_root) {
            return Err(bad(text, "an attack recipe starts after training; drop the train(...) or model(...) step"));
        }
        Ok(steps)
    }
}

impl Step {
    /// Whether the step starts a chain: train(...) or model(...).
    pub fn is_root(&self) -> bool {
        matches!(self, Step::Train { .. } | Step::Model { .. })
    }

    /// A root's dataset (the task its chain serves), its part of the data, the overlap of that
    /// part with the next one, and the seed of the steps after it; None for a derivation step.
    pub fn root_data(&self) -> Option<RootData<'_>> {
        match self {
            Step::Train { data, seed, part, overlap, .. } => {
                Some(RootData { data, seed: *seed, part: *part, overlap: *overlap })
            }
            Step::Model { data, seed, part, .. } => Some(RootData { data, seed: *seed, part: *part, overlap: None }),
            _ => None,
        }
    }
}

/// What a chain's root says about data (see [`Step::root_data`]).
#[derive(Clone, Copy, Debug)]
pub struct RootData<'a> {
    pub data: &'a str,
    pub seed: u64,
    pub part: Option<(usize, usize)>,
    pub overlap: Option<f64>,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Train { arch, data, seed, epochs, part, overlap, opt, batch } => {
                write!(f, "train({arch},{data},seed={seed},epochs={epochs}")?;
                if let Some((k, n)) = part {
                    write!(f, ",part={k}/{n}")?;
                }
                if let Some(r) = overlap {
                    write!(f, ",overlap={r}")?;
                }
                if let Some(o) = opt {
                    write!(f, ",opt={o}")?;
                }
                if let Some(b) = batch {
                    write!(f, ",batch={b}")?;
                }
                f.write_str(")")
            }
            Step::Model { sha256, data, seed, part } => {
                write!(f, "model({sha256},{data},seed={seed}")?;
                if let Some((k, n)) = part {
                    write!(f, ",part={k}/{n}")?;
                }
                f.write_str(")")
            }
            Step::FineTune { mode, epochs, lr } => write!(f, "{mode}({epochs},lr={lr})"),
            Step::Prune { kind, ratio, finetune_epochs } => write!(f, "prune({kind},{ratio},ft={finetune_epochs})"),
            Step::Distill { arch, alpha, temperature, epochs } => {
                write!(f, "distill({arch},alpha={alpha},t={temperature},epochs={epochs})")
            }
            Step::Extract { arch, level, source, budget, epochs, temperature, mix, aug } => {
                let src = match source {
                    QuerySource::Same => "same".to_string(),
                    QuerySource::Noise => "noise".to_string(),
                    QuerySource::Dataset(d) => d.clone(),
                };
                write!(f, "extract({arch},{level},{src},budget={budget},epochs={epochs}")?;
                // Written only when set, so the names (and cache keys) of T = 1 copies stay put.
                if *temperature != 1.0 {
                    write!(f, ",t={temperature}")?;
                }
                if *mix > 0 {
                    write!(f, ",mix={mix}")?;
                }
                if !aug.is_identity() {
                    write!(f, ",aug={aug}")?;
                }
                f.write_str(")")
            }
            Step::AdvTrain { method, eps, epochs } => {
                let m = match method {
                    AdvMethod::Pgd => "pgd",
                    AdvMethod::Fgsm => "fgsm",
                };
                write!(f, "advtrain({m},eps={eps},epochs={epochs})")
            }
            Step::DeepFoolTrain { iterations, per_iter } => {
                write!(f, "advtrain(deepfool,iters={iterations},per_iter={per_iter})")
            }
            Step::Quantize { bits } => write!(f, "quant({bits})"),
            Step::Dfad { arch, iterations, batch } => write!(f, "dfad({arch},iters={iterations},batch={batch})"),
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.steps.iter().map(|s| s.to_string()).collect();
        f.write_str(&parts.join("-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_follows_the_strongest_step() {
        let family = |c: &str| c.parse::<Chain>().unwrap().family();
        assert_eq!(family("train(arc-a,digits)"), None);
        assert_eq!(family("train(arc-a,digits)-ftal(2)-prune(w,0.5)-quant(8)"), Some(AttackFamily::PostProcessing));
        assert_eq!(family("train(arc-a,digits)-advtrain(fgsm,eps=0.03)"), Some(AttackFamily::AdversarialTraining));
        assert_eq!(
            family("train(arc-a,digits)-extract(arc-c,probs,same,budget=50)-ftal(1)"),
            Some(AttackFamily::FunctionalityStealing)
        );
        assert_eq!(family("train(arc-a,digits)-distill(arc-c)"), Some(AttackFamily::FunctionalityStealing));
    }

    #[test]
    fn parses_and_prints_canonically() {
        let c: Chain = "train(resnet20,fmnist,seed=1)-prune(w,0.5)-ftal(5)".parse().unwrap();
        assert_eq!(c.to_string(), "train(resnet20,fmnist,seed=1,epochs=10)-prune(w,0.5,ft=0)-ftal(5,lr=0.01)");
        let again: Chain = c.to_string().parse().unwrap();
        assert_eq!(again, c);
        assert_eq!(c.parent().unwrap().steps.len(), 2);
        let e: Chain = "train(arc-a,digits,part=1/2)-extract(arc-c,topk:3,mnist,budget=500)".parse().unwrap();
        assert!(
            matches!(&e.steps[1], Step::Extract { level: AccessLevel::TopK(3), source: QuerySource::Dataset(d), budget: 500, .. } if d == "mnist")
        );
        assert!(e.to_string().contains("part=1/2"));
        // An extraction temperature is named only when set, so T = 1 names stay as they were.
        assert_eq!(
            e.to_string(),
            "train(arc-a,digits,seed=0,epochs=10,part=1/2)-extract(arc-c,topk:3,mnist,budget=500,epochs=10)"
        );
        let t1: Chain = "train(arc-a,digits)-extract(arc-c,probs,same,budget=50,t=1)".parse().unwrap();
        assert!(t1.to_string().ends_with("extract(arc-c,probs,same,budget=50,epochs=10)"), "{t1}");
        let t: Chain = "train(arc-a,digits)-extract(arc-c,probs,same,budget=50,t=20)".parse().unwrap();
        assert!(matches!(&t.steps[1], Step::Extract { temperature, .. } if *temperature == 20.0));
        assert!(t.to_string().ends_with("extract(arc-c,probs,same,budget=50,epochs=10,t=20)"), "{t}");
        // A class range names part of a dataset, for the task or the queries.
        let r: Chain =
            "train(arc-a,FMNIST[0-4],part=1/2)-extract(arc-a,probs,fashion-mnist[ 5-9],budget=90)".parse().unwrap();
        assert!(matches!(&r.steps[0], Step::Train { data, .. } if data == "fmnist[0-4]"), "{r}");
        assert!(matches!(&r.steps[1], Step::Extract { source: QuerySource::Dataset(d), .. } if d == "fmnist[5-9]"));
        assert_eq!(r.to_string().parse::<Chain>().unwrap(), r);
        let m: Chain = "train(arc-a,digits)-extract(arc-c,probs,mnist,budget=900,mix=2)".parse().unwrap();
        assert!(matches!(&m.steps[1], Step::Extract { mix: 2, .. }));
        assert!(m.to_string().ends_with("extract(arc-c,probs,mnist,budget=900,epochs=10,mix=2)"), "{m}");
        assert_eq!(t.to_string().parse::<Chain>().unwrap(), t);
        // Live augmented queries: named only when set, canonical order, round trip.
        let l: Chain = "train(arc-a,digits)-extract(arc-c,probs,mnist,budget=900,aug=flip+crop:2)".parse().unwrap();
        let want = Augmentation { pad_crop: 2, horizontal_flip: true };
        assert!(matches!(&l.steps[1], Step::Extract { aug, .. } if *aug == want));
        assert!(l.to_string().ends_with("extract(arc-c,probs,mnist,budget=900,epochs=10,aug=crop:2+flip)"), "{l}");
        assert_eq!(l.to_string().parse::<Chain>().unwrap(), l);
        assert!(!m.to_string().contains("aug"), "{m}");
        // Data-free distillation: defaults spelled out, a functionality-stealing copy.
        let d: Chain = "train(arc-a,digits)-dfad(lenet5)".parse().unwrap();
        assert!(d.to_string().ends_with("dfad(lenet5,iters=500,batch=256)"), "{d}");
        assert_eq!(d.to_string().parse::<Chain>().unwrap(), d);
        assert_eq!(d.family(), Some(AttackFamily::FunctionalityStealing));
        assert!("train(arc-a,digits)-dfad(lenet5,batch=1)".parse::<Chain>().is_err());
    }

    #[test]
    fn rejects_malformed_chains_with_a_reason() {
        for (text, needle) in [
            ("prune(w,0.5)", "starts with train"),
            ("train(resnet20,fmnist)-", "empty step"),
            ("train(resnet20,fmnist)--ftal(1)", "empty step"),
            ("train(resnet20,fmnist", "unclosed"),
            ("train(resnet20,fmnist))", "unmatched"),
            ("train(resnet99,fmnist)", "unknown architecture"),
            ("train(resnet20,imagenet)", "unknown dataset"),
            ("train(resnet20,fmnist)-prune(w,1.5)", "[0, 1)"),
            ("train(resnet20,fmnist)-prune(x,0.5)", "w or f"),
            ("train(resnet20,fmnist)-ftal(five)", "not a valid number"),
            ("train(resnet20,fmnist)-ftal(5,lr=0.1,momentum=0.9)", "unknown parameter 'momentum'"),
            ("train(resnet20,fmnist)-steal(1)", "unknown step"),
            ("train(resnet20,fmnist)-train(mlp,digits)", "first step"),
            ("train(resnet20,fmnist,part=3/2)", "1 <= K <= N"),
            ("train(resnet20,fmnist)-extract(mlp,everything)", "access level"),
            ("train(resnet20,fmnist)-quant(4)", "8-bit"),
            ("train(resnet20,fmnist)-extract(mlp,probs,same,t=NaN)", ">= 1"),
            ("train(resnet20,fmnist)-extract(mlp,probs,same,t=0.5)", ">= 1"),
            ("train(resnet20,fmnist)-extract(mlp,labels,same,t=20)", "needs probability answers"),
            ("train(resnet20,fmnist)-extract(mlp,probs,mnist,mix=1)", "mixes nothing"),
            ("train(resnet20,fmnist[4-0])", "A <= B"),
            ("train(resnet20,fmnist[0-9][0-4])", "one class range"),
            ("train(resnet20,fmnist)-extract(mlp,probs,mnist,mix=17)", "at most 16"),
            ("train(resnet20,fmnist)-extract(mlp,probs,noise,mix=2)", "mix needs query images"),
            ("train(resnet20,fmnist[0-x])", "A <= B"),
            ("train(resnet20,imagenet[0-4])", "unknown dataset"),
            ("train(resnet20,fmnist)-ftal", "parentheses"),
            ("train(resnet20,fmnist)-extract(mlp,probs,same,aug=rotate)", "augmentation 'rotate'"),
            ("train(resnet20,fmnist)-extract(mlp,probs,mnist,mix=2,aug=flip)", "use one"),
            ("train(resnet20,fmnist)-extract(mlp,probs,same,epochs=0,aug=flip)", "at least 1"),
            ("train(resnet20,fmnist)-extract(mlp,probs,same,budget=5,epochs=6,aug=flip)", "less than one image"),
        ] {
            let err = text.parse::<Chain>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert!(Chain::parse_attack("train(mlp,digits)").is_err());
        assert_eq!(Chain::parse_attack("prune(f,0.25)-ftll(2)").unwrap().len(), 2);
    }

    #[test]
    fn a_given_model_roots_a_chain_by_its_sha256() {
        let sha = "ab".repeat(32);
        let c: Chain = format!("model({},fashion-mnist,part=1/4)-ftal(2)", sha.to_uppercase()).parse().unwrap();
        assert_eq!(c.to_string(), format!("model({sha},fmnist,seed=0,part=1/4)-ftal(2,lr=0.01)"));
        assert_eq!(c.to_string().parse::<Chain>().unwrap(), c);
        assert_eq!(c.family(), Some(AttackFamily::PostProcessing));
        let root = c.steps[0].root_data().unwrap();
        assert_eq!((root.data, root.seed, root.part), ("fmnist", 0, Some((1, 4))));
        let alone: Chain = format!("model({sha},digits,seed=3)").parse().unwrap();
        assert!(alone.is_independent() && alone.steps[0].is_root());
        for (text, needle) in [
            ("model(abc,digits)".to_string(), "not a SHA-256"),
            (format!("model({sha})"), "missing dataset"),
            (format!("model({sha},digits,epochs=3)"), "unknown parameter 'epochs'"),
            (format!("model({sha},digits,part=0/2)"), "1 <= K <= N"),
            (format!("train(mlp,digits)-model({sha},digits)"), "first step"),
        ] {
            let err = text.parse::<Chain>().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert!(Chain::parse_attack(&format!("model({sha},digits)-ftll(1)")).is_err());
    }

    #[test]
    fn train_optimizer_and_batch_print_only_when_set() {
        let plain: Chain = "train(arc-b,fmnist,seed=2,epochs=3,part=1/2)".parse().unwrap();
        assert_eq!(plain.to_string(), "train(arc-b,fmnist,seed=2,epochs=3,part=1/2)");
        let varied: Chain = "train(arc-b,fmnist,seed=2,epochs=3,opt=ADAM,batch=64)".parse().unwrap();
        assert_eq!(varied.to_string(), "train(arc-b,fmnist,seed=2,epochs=3,opt=adam,batch=64)");
        assert!(matches!(varied.steps[0], Step::Train { opt: Some(TrainOptimizer::Adam), batch: Some(64), .. }));
        assert!("train(mlp,digits,opt=lbfgs)".parse::<Chain>().unwrap_err().to_string().contains("unknown optimizer"));
        assert!("train(mlp,digits,batch=0)".parse::<Chain>().unwrap_err().to_string().contains("batch must be"));
    }

    #[test]
    fn overlap_prints_only_when_set_and_needs_a_part() {
        let homologous: Chain = "train(arc-b,fmnist,seed=2,epochs=3,part=1/2,overlap=0.50,opt=adam)".parse().unwrap();
        assert_eq!(homologous.to_string(), "train(arc-b,fmnist,seed=2,epochs=3,part=1/2,overlap=0.5,opt=adam)");
        assert!(matches!(homologous.steps[0], Step::Train { overlap: Some(r), .. } if r == 0.5));
        let err = |c: &str| c.parse::<Chain>().unwrap_err().to_string();
        assert!(
            err("train(mlp,digits,overlap=0.5)").contains("needs part=K/N"),
            "{}",
            err("train(mlp,digits,overlap=0.5)")
        );
        assert!(err("train(mlp,digits,part=1/1,overlap=0.5)").contains("N >= 2"));
        assert!(err("train(mlp,digits,part=1/2,overlap=1)").contains("[0, 1)"));
    }

    #[test]
    fn deepfool_adversarial_training_has_its_own_name() {
        let c: Chain = "train(arc-a,digits)-advtrain(deepfool,iters=20,per_iter=32)".parse().unwrap();
        assert_eq!(c.to_string(), "train(arc-a,digits,seed=0,epochs=10)-advtrain(deepfool,iters=20,per_iter=32)");
        assert_eq!(c.family(), Some(AttackFamily::AdversarialTraining));
        let paper: Chain = "train(arc-a,digits)-advtrain(deepfool)".parse().unwrap();
        assert!(paper.to_string().ends_with("advtrain(deepfool,iters=270,per_iter=128)"), "{paper}");
        let fgsm: Chain = "train(arc-a,digits)-advtrain(fgsm)".parse().unwrap();
        assert!(fgsm.to_string().ends_with("advtrain(fgsm,eps=0.03,epochs=2)"), "{fgsm}");
        assert!("train(arc-a,digits)-advtrain(deepfool,eps=0.1)".parse::<Chain>().is_err(), "eps is not DeepFool's");
        assert!("train(arc-a,digits)-advtrain(deepfool,iters=0)".parse::<Chain>().is_err());
    }
}
