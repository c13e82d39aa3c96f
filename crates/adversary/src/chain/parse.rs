//! Parsing derivation chains (grammar in the parent module).

use std::str::FromStr;

use mown_access::AccessLevel;
use mown_data::Augmentation;
use mown_nn::Arch;

use super::{AdvMethod, Chain, QuerySource, Step};
use crate::AttackError;
use crate::whitebox::{FineTuneMode, PruneKind};

pub(super) fn bad(chain: &str, reason: impl Into<String>) -> AttackError {
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

/// `part=K/N` of a root step (train or model), checked.
fn part(a: &Args) -> Result<Option<(usize, usize)>, String> {
    let Some(p) = a.named("part") else { return Ok(None) };
    let (k, n) = p.split_once('/').ok_or_else(|| format!("{}: part '{p}' must be K/N", a.step))?;
    let (k, n): (usize, usize) = (a.num(Some(k), "part", 0)?, a.num(Some(n), "part", 0)?);
    if k == 0 || k > n {
        return Err(format!("{}: part {k}/{n} needs 1 <= K <= N", a.step));
    }
    Ok(Some((k, n)))
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
            a.only(2, &["seed", "epochs", "part", "overlap", "opt", "batch"])?;
            let part = part(&a)?;
            let overlap = match a.named("overlap") {
                None => None,
                Some(v) => {
                    let r: f64 = a.num(Some(v), "overlap", 0.0)?;
                    if !matches!(part, Some((_, n)) if n >= 2) {
                        return Err("train: overlap needs part=K/N with N >= 2 (it mixes part K with the next)".into());
                    }
                    if !(0.0..1.0).contains(&r) {
                        return Err(format!("train: overlap {r} must be in [0, 1) (1 is part K itself)"));
                    }
                    Some(r)
                }
            };
            Step::Train {
                arch: arch(a.pos(0, "architecture")?)?,
                data: canonical_data(a.pos(1, "dataset")?)?,
                seed: a.num(a.named("seed"), "seed", 0)?,
                epochs: a.num(a.named("epochs"), "epochs", 10)?,
                part,
                overlap,
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
        "model" => {
            a.only(2, &["seed", "part"])?;
            let sha256 = a.pos(0, "the model's SHA-256")?.to_ascii_lowercase();
            if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "model: '{sha256}' is not a SHA-256 (64 hex digits, as `mown info MODEL` prints it)"
                ));
            }
            Step::Model {
                sha256,
                data: canonical_data(a.pos(1, "dataset")?)?,
                seed: a.num(a.named("seed"), "seed", 0)?,
                part: part(&a)?,
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
        "advtrain" if a.opt_pos(0) == Some("deepfool") => {
            a.only(1, &["iters", "per_iter"])?;
            let iterations = a.num(a.named("iters"), "iters", 270)?;
            let per_iter = a.num(a.named("per_iter"), "per_iter", 128)?;
            if iterations == 0 || per_iter == 0 {
                return Err("advtrain(deepfool): iters and per_iter must be >= 1".into());
            }
            Step::DeepFoolTrain { iterations, per_iter }
        }
        "advtrain" => {
            a.only(1, &["eps", "epochs"])?;
            let method = match a.opt_pos(0).unwrap_or("pgd") {
                "pgd" => AdvMethod::Pgd,
                "fgsm" => AdvMethod::Fgsm,
                other => return Err(format!("advtrain: method '{other}' (pgd, fgsm, deepfool)")),
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
        "dfad" => {
            a.only(1, &["iters", "batch"])?;
            let iterations: usize = a.num(a.named("iters"), "iters", 500)?;
            let batch: usize = a.num(a.named("batch"), "batch", 256)?;
            if iterations == 0 || batch < 2 {
                return Err(format!("dfad: needs iters >= 1 and batch >= 2, got {iterations} and {batch}"));
            }
            Step::Dfad { arch: arch(a.pos(0, "student architecture")?)?, iterations, batch }
        }
        other => {
            return Err(format!(
                "unknown step '{other}' (train, ftll, ftal, rtll, rtal, prune, distill, extract, dfad, advtrain, quant)"
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

pub(super) fn parse_steps(text: &str) -> Result<Vec<Step>, AttackError> {
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
        if !steps.first().is_some_and(Step::is_root) {
            return Err(bad(text, "a chain starts with train(ARCH,DATA,...) or model(SHA256,DATA,...)"));
        }
        if steps.iter().skip(1).any(Step::is_root) {
            return Err(bad(text, "train(...) and model(...) may only be the first step"));
        }
        Ok(Chain { steps })
    }
}
