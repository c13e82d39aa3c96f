//! Derivation chains: a model's name is the recipe that made it, ModelDiff-style, e.g.
//! `train(resnet20,fmnist,seed=1)-prune(w,0.5,ft=2)-ftal(5)`. The canonical form (every
//! parameter spelled out) is the model's cache key, so a zoo never trains the same model twice.
//!
//! Grammar: steps joined by `-` outside parentheses; a step is `name(arg,...)`, where an arg is
//! positional or `key=value`. Values may not contain `,` `(` `)`.

use std::fmt;
use std::str::FromStr;

use mown_access::AccessLevel;
use mown_data::Augmentation;
use mown_nn::Arch;
use serde::{Deserialize, Serialize};

use crate::AttackError;
use crate::optimizer::TrainOptimizer;
use crate::whitebox::{FineTuneMode, PruneKind};

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
        /// The optimizer, when not the training default (SGD with momentum): seed 003's
        /// homologous models vary it. Printed only when set, so older cache keys stay valid.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opt: Option<TrainOptimizer>,
        /// The batch size, when not the training default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<usize>,
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
    Quantize {
        bits: u8,
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
        Some(if derived.iter().any(|s| matches!(s, Step::Distill { .. } | Step::Extract { .. })) {
            AttackFamily::FunctionalityStealing
        } else if derived.iter().any(|s| matches!(s, Step::AdvTrain { .. })) {
            AttackFamily::AdversarialTraining
        } else {
            AttackFamily::PostProcessing
        })
    }

    /// Parses derivation steps that must not start with `train` (an attack recipe for `steal`).
    pub fn parse_attack(text: &str) -> Result<Vec<Step>, AttackError> {
        let steps = parse_steps(text)?;
        if let Some(Step::Train { .. }) = steps.first() {
            return Err(bad(text, "an attack recipe starts after training; drop the train(...) step"));
        }
        Ok(steps)
    }
}

fn bad(chain: &str, reason: impl Into<String>) -> AttackError {
    AttackError::BadChain { chain: chain.to_string(), reason: reason.into() }
}

/// Splits at top-level `sep` (outside parentheses).
fn split_top(text: &str, sep: char) -> Result<Vec<&str>, String> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unmatched ')' at position {i}"));
                }
            }
            c if c == sep && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed '('".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

struct Args<'a> {
    step: &'a str,
    positional: Vec<&'a str>,
    named: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
    fn parse(step: &'a str, inner: &'a str) -> Result<Self, String> {
        let mut args = Args { step, positional: Vec::new(), named: Vec::new() };
        if inner.trim().is_empty() {
            return Ok(args);
        }
        for raw in inner.split(',') {
            let raw = raw.trim();
            if raw.is_empty() {
                return Err(format!("{step}: empty argument"));
            }
            match raw.split_once('=') {
                Some((k, v)) => args.named.push((k.trim(), v.trim())),
                None if args.named.is_empty() => args.positional.push(raw),
                None => {
                    return Err(format!("{step}: positional argument '{raw}' after named ones"));
                }
            }
        }
        Ok(args)
    }

    fn pos(&self, i: usize, what: &str) -> Result<&'a str, String> {
        self.positional.get(i).copied().ok_or_else(|| format!("{}: missing {what} (argument {})", self.step, i + 1))
    }

    fn opt_pos(&self, i: usize) -> Option<&'a str> {
        self.positional.get(i).copied()
    }

    fn named(&self, key: &str) -> Option<&'a str> {
        self.named.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn num<T: FromStr>(&self, value: Option<&str>, what: &str, default: T) -> Result<T, String> {
        match value {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{}: {what} '{v}' is not a valid number", self.step)),
        }
    }

    /// Rejects arguments the step does not know, so typos never silently use defaults.
    fn only(&self, max_positional: usize, keys: &[&str]) -> Result<(), String> {
        if self.positional.len() > max_positional {
            return Err(format!("{}: at most {max_positional} positional arguments", self.step));
        }
        match self.named.iter().find(|(k, _)| !keys.contains(k)) {
            Some((k, _)) => Err(format!("{}: unknown parameter '{k}' (known: {})", self.step, keys.join(", "))),
            None => Ok(()),
        }
    }
}

fn arch(s: &str) -> Result<Arch, String> {
    s.parse::<Arch>().map_err(|e| e.to_string())
}

fn ratio(step: &str, v: f64) -> Result<f64, String> {
    if (0.0..1.0).contains(&v) { Ok(v) } else { Err(format!("{step}: ratio {v} must be in [0, 1)")) }
}

fn parse_step(text: &str) -> Result<Step, String> {
    let text = text.trim();
    let open = text.find('(').ok_or_else(|| format!("step '{text}' needs parentheses, e.g. ftal(5)"))?;
    if !text.ends_with(')') {
        return Err(format!("step '{text}' must end with ')'"));
    }
    let name = text[..open].trim().to_ascii_lowercase();
    let a = Args::parse(&text[..open], &text[open + 1..text.len() - 1])?;
    let step = match name.as_str() {
        "train" => {
            a.only(2, &["seed", "epochs", "part", "opt", "batch"])?;
            let part = match a.named("part") {
                None => None,
                Some(p) => {
                    let (k, n) = p.split_once('/').ok_or_else(|| format!("train: part '{p}' must be K/N"))?;
                    let (k, n): (usize, usize) = (a.num(Some(k), "part", 0)?, a.num(Some(n), "part", 0)?);
                    if k == 0 || k > n {
                        return Err(format!("train: part {k}/{n} needs 1 <= K <= N"));
                    }
                    Some((k, n))
                }
            };
            Step::Train {
                arch: arch(a.pos(0, "architecture")?)?,
                data: canonical_data(a.pos(1, "dataset")?)?,
                seed: a.num(a.named("seed"), "seed", 0)?,
                epochs: a.num(a.named("epochs"), "epochs", 10)?,
                part,
                opt: a.named("opt").map(str::parse).transpose()?,
                batch: match a.named("batch") {
                    None => None,
                    Some(b) => {
                        let b: usize = a.num(Some(b), "batch", 0)?;
                        if b == 0 {
                            return Err("train: batch must be >= 1".into());
                        }
                        Some(b)
                    }
                },
            }
        }
        "ftll" | "ftal" | "rtll" | "rtal" => {
            a.only(1, &["lr"])?;
            let mode: FineTuneMode = name.parse().map_err(|_| format!("unknown fine-tuning mode {name}"))?;
            Step::FineTune { mode, epochs: a.num(a.opt_pos(0), "epochs", 5)?, lr: a.num(a.named("lr"), "lr", 0.01)? }
        }
        "prune" => {
            a.only(2, &["ft"])?;
            let kind: PruneKind =
                a.pos(0, "kind (w or f)")?.parse().map_err(|_| "prune: kind must be w or f".to_string())?;
            Step::Prune {
                kind,
                ratio: ratio("prune", a.num(Some(a.pos(1, "ratio")?), "ratio", 0.0)?)?,
                finetune_epochs: a.num(a.named("ft"), "ft", 0)?,
            }
        }
        "distill" => {
            a.only(1, &["alpha", "t", "epochs"])?;
            Step::Distill {
                arch: arch(a.pos(0, "student architecture")?)?,
                alpha: a.num(a.named("alpha"), "alpha", 0.7)?,
                temperature: a.num(a.named("t"), "t", 20.0)?,
                epochs: a.num(a.named("epochs"), "epochs", 10)?,
            }
        }
        "extract" => {
            a.only(3, &["budget", "epochs", "t", "mix", "aug"])?;
            let level: AccessLevel =
                a.pos(1, "access level")?.parse().map_err(|e: mown_access::AccessError| e.to_string())?;
            let source = match a.opt_pos(2).unwrap_or("same") {
                "same" => QuerySource::Same,
                "noise" => QuerySource::Noise,
                other => QuerySource::Dataset(canonical_data(other)?),
            };
            let temperature: f64 = a.num(a.named("t"), "t", 1.0)?;
            crate::extract::check_temperature(temperature, level).map_err(|e| format!("extract: {e}"))?;
            let mix: usize = a.num(a.named("mix"), "mix", 0)?;
            crate::extract::check_mix(mix).map_err(|e| format!("extract: {e}"))?;
            if mix > 0 && source == QuerySource::Noise {
                return Err(
                    "extract: mix needs query images to mix; noise queries are drawn fresh up to the budget".into()
                );
            }
            let aug = match a.named("aug") {
                None => Augmentation::default(),
                Some(v) => v.parse::<Augmentation>().map_err(|e| format!("extract: {e}"))?,
            };
            let budget = a.num(a.named("budget"), "budget", 10_000)?;
            let epochs = a.num(a.named("epochs"), "epochs", 10)?;
            crate::extract::check_live(aug, mix, epochs, budget).map_err(|e| format!("extract: {e}"))?;
            Step::Extract {
                arch: arch(a.pos(0, "student architecture")?)?,
                level,
                source,
                budget,
                epochs,
                temperature,
                mix,
                aug,
            }
        }
        "advtrain" => {
            a.only(1, &["eps", "epochs"])?;
            let method = match a.opt_pos(0).unwrap_or("pgd") {
                "pgd" => AdvMethod::Pgd,
                "fgsm" => AdvMethod::Fgsm,
                other => return Err(format!("advtrain: method '{other}' (pgd, fgsm)")),
            };
            Step::AdvTrain {
                method,
                eps: a.num(a.named("eps"), "eps", 0.03)?,
                epochs: a.num(a.named("epochs"), "epochs", 2)?,
            }
        }
        "quant" | "quantize" => {
            a.only(1, &[])?;
            let bits: u8 = a.num(a.opt_pos(0), "bits", 8)?;
            if bits != 8 {
                return Err(format!("quant: only 8-bit quantisation is implemented, not {bits}"));
            }
            Step::Quantize { bits }
        }
        other => {
            return Err(format!(
                "unknown step '{other}' (train, ftll, ftal, rtll, rtal, prune, distill, extract, advtrain, quant)"
            ));
        }
    };
    Ok(step)
}

/// Short dataset names used in chains; paths are not allowed (they would make cache keys
/// machine-specific).
pub fn canonical_data(name: &str) -> Result<String, String> {
    // `fmnist[0-4]`: classes 0 to 4 of Fashion-MNIST (`mown_data::DataSource::Classes`).
    let name = name.trim().to_ascii_lowercase();
    if name.ends_with(']') {
        return match mown_data::class_suffix(&name) {
            Some((base, _, _)) if base.ends_with(']') => {
                Err(format!("'{name}': one class range per dataset (a range of a range names the same classes twice)"))
            }
            Some((base, a, b)) if a <= b => Ok(format!("{}[{a}-{b}]", canonical_data(base)?)),
            _ => Err(format!("class range in '{name}': write [A-B] with A <= B, e.g. fmnist[0-4]")),
        };
    }
    match name.as_str() {
        "digits" => Ok("digits".into()),
        "fmnist" | "fashion-mnist" => Ok("fmnist".into()),
        "mnist" => Ok("mnist".into()),
        "cifar10" => Ok("cifar10".into()),
        other => Err(format!("unknown dataset '{other}' in a chain (digits, fmnist, mnist, cifar10, any with [A-B])")),
    }
}

fn parse_steps(text: &str) -> Result<Vec<Step>, AttackError> {
    let parts = split_top(text.trim(), '-').map_err(|r| bad(text, r))?;
    let mut steps = Vec::new();
    for part in parts {
        if part.trim().is_empty() {
            return Err(bad(text, "empty step (two '-' in a row, or a leading/trailing '-')"));
        }
        steps.push(parse_step(part).map_err(|r| bad(text, r))?);
    }
    Ok(steps)
}

impl FromStr for Chain {
    type Err = AttackError;
    fn from_str(text: &str) -> Result<Self, AttackError> {
        let steps = parse_steps(text)?;
        match steps.first() {
            Some(Step::Train { .. }) => {}
            _ => return Err(bad(text, "a chain starts with train(ARCH,DATA,...)")),
        }
        if steps.iter().skip(1).any(|s| matches!(s, Step::Train { .. })) {
            return Err(bad(text, "train(...) may only be the first step"));
        }
        Ok(Chain { steps })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Train { arch, data, seed, epochs, part, opt, batch } => {
                write!(f, "train({arch},{data},seed={seed},epochs={epochs}")?;
                if let Some((k, n)) = part {
                    write!(f, ",part={k}/{n}")?;
                }
                if let Some(o) = opt {
                    write!(f, ",opt={o}")?;
                }
                if let Some(b) = batch {
                    write!(f, ",batch={b}")?;
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
                let m = if *method == AdvMethod::Pgd { "pgd" } else { "fgsm" };
                write!(f, "advtrain({m},eps={eps},epochs={epochs})")
            }
            Step::Quantize { bits } => write!(f, "quant({bits})"),
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
    fn train_optimizer_and_batch_print_only_when_set() {
        let plain: Chain = "train(arc-b,fmnist,seed=2,epochs=3,part=1/2)".parse().unwrap();
        assert_eq!(plain.to_string(), "train(arc-b,fmnist,seed=2,epochs=3,part=1/2)");
        let varied: Chain = "train(arc-b,fmnist,seed=2,epochs=3,opt=ADAM,batch=64)".parse().unwrap();
        assert_eq!(varied.to_string(), "train(arc-b,fmnist,seed=2,epochs=3,opt=adam,batch=64)");
        assert!(matches!(varied.steps[0], Step::Train { opt: Some(TrainOptimizer::Adam), batch: Some(64), .. }));
        assert!("train(mlp,digits,opt=lbfgs)".parse::<Chain>().unwrap_err().to_string().contains("unknown optimizer"));
        assert!("train(mlp,digits,batch=0)".parse::<Chain>().unwrap_err().to_string().contains("batch must be"));
    }
}
