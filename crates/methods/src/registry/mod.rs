//! Every method by name, each with its own parameters (the Watermark-Robustness-Toolbox's
//! registry idea): the command line, configuration files, the benchmarks and the demo look a
//! method up here, set its parameters by key, and generate its evidence through one interface.
//!
//! A method is an [`Entry`] (name, paper, what it needs from a suspect, whether it changes the
//! owner, its parameters with their help) and a [`Method`]: the entry's parameter struct behind
//! `set(key, value)`. Adding a method is one adapter in [`entries`] and one line in [`REGISTRY`];
//! nothing that loops over the registry changes.
//!
//! Settings are `KEY=VALUE` strings, so one syntax serves `mown fingerprint M --set k=v`, a
//! method list such as `sac-m[level=labels,n=100]`, and a TOML table of strings or numbers. An
//! unknown key is an error that lists the method's keys: a parameter of another method is never
//! silently ignored.

mod di_entry;
mod entries;
mod extfeat_entry;
mod near_boundary_entry;
mod uap_entry;
mod watermark_entry;

pub use entries::parse_init;

use mown_access::AccessLevel;
use mown_data::Dataset;
use mown_nn::{Model, TrainConfig};

use crate::uap::ReferenceRole;
use crate::{Evidence, MethodError};

/// One parameter of a method: its key and what it does (with the default, for `--help`-style
/// listings).
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub key: &'static str,
    pub help: &'static str,
}

/// What a method does to the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerEffect {
    /// Reads the owner (white-box) and leaves it as it is: fingerprints.
    Reads,
    /// Fine-tunes the owner (near-boundary's phase 3): the evidence belongs to the model it
    /// returns, which is the one to deploy.
    Tunes,
    /// Trains the model it is given from the start (watermarks embedded while training): it needs
    /// a fresh model and a training configuration, and returns the owner to deploy.
    Trains,
}

/// A method as the registry lists it.
pub struct Entry {
    pub name: &'static str,
    /// Other names it is found by.
    pub aliases: &'static [&'static str],
    /// The paper, by title and authors.
    pub paper: &'static str,
    /// What the method catches, in a line.
    pub summary: &'static str,
    /// What a suspect must reveal by default (a `level` parameter may change it).
    pub needs: AccessLevel,
    pub effect: OwnerEffect,
    /// Whether generation needs reference models (copies and independent models of the owner).
    pub references: bool,
    pub params: &'static [Param],
    make: fn() -> Box<dyn Method>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish_non_exhaustive()
    }
}

/// What generation may read besides the method's own parameters.
#[derive(Clone, Copy)]
pub struct OwnerInputs<'a> {
    /// The owner (or, for a watermark embedded while training, the freshly initialised model).
    pub model: &'a Model,
    /// The owner's training data: seed images, clusters, CutMix sources, the DCGAN's examples.
    pub train: &'a Dataset,
    /// Held-out data of the owner's task: mistakes, fooling rates, accuracy costs, triggers.
    pub held_out: &'a Dataset,
    /// Reference models a verifier is fitted on (UAP's encoder); never suspects or negatives.
    pub references: &'a [(String, ReferenceRole, Model)],
    /// Training of methods that change the owner (epochs, optimiser, schedule).
    pub train_config: &'a TrainConfig,
    /// A clean model of the task, for watermark label rules that need one.
    pub clean: Option<&'a Model>,
}

impl<'a> OwnerInputs<'a> {
    /// The owner, its data and training configuration; no reference models, no clean model.
    pub fn new(model: &'a Model, train: &'a Dataset, held_out: &'a Dataset, train_config: &'a TrainConfig) -> Self {
        OwnerInputs { model, train, held_out, references: &[], train_config, clean: None }
    }

    pub fn with_references(self, references: &'a [(String, ReferenceRole, Model)]) -> Self {
        OwnerInputs { references, ..self }
    }

    pub fn with_clean(self, clean: Option<&'a Model>) -> Self {
        OwnerInputs { clean, ..self }
    }
}

/// What generation produced.
pub struct Generated {
    pub evidence: Box<dyn Evidence>,
    /// The model the evidence belongs to, when the method changed the owner.
    pub owner: Option<Model>,
    /// One line for the terminal: what was made and how well.
    pub summary: String,
    /// Wall-clock seconds, by phase where the method reports them (kept out of the file).
    pub timings: serde_json::Value,
}

/// A configured method: its entry's parameter struct, set by key.
pub trait Method {
    fn entry(&self) -> &'static Entry;
    /// The name reports give the configured method ("ipguard", "sac-m[labels]").
    fn name(&self) -> String {
        self.entry().name.to_string()
    }
    /// Sets parameter `key` (one of the entry's [`Param`]s) from text.
    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError>;
    /// Every parameter as it is now, for reports and configuration files.
    fn settings(&self) -> serde_json::Value;
    /// Whether generation, as configured, returns a changed owner (near-boundary without phase 3
    /// does not).
    fn changes_owner(&self) -> bool {
        self.entry().effect != OwnerEffect::Reads
    }
    /// What a suspect must reveal for the evidence this method makes.
    fn requires(&self) -> AccessLevel {
        self.entry().needs
    }
    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError>;
}

/// Every method mown implements, in the order reports list them.
pub fn registry() -> &'static [Entry] {
    entries::REGISTRY
}

/// The entry called `name` (or one of its aliases), case-insensitive.
pub fn entry(name: &str) -> Result<&'static Entry, MethodError> {
    let wanted = name.trim().to_ascii_lowercase();
    registry().iter().find(|e| e.name == wanted || e.aliases.contains(&wanted.as_str())).ok_or_else(|| {
        MethodError::BadParameter(format!("unknown method '{}' (known: {})", name.trim(), names().join(", ")))
    })
}

/// The registry's method names.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|e| e.name).collect()
}

/// The method called `name` with its defaults, then `settings` (`KEY=VALUE`) applied in order.
pub fn method(name: &str, settings: &[(String, String)]) -> Result<Box<dyn Method>, MethodError> {
    let e = entry(name)?;
    let mut m = (e.make)();
    for (key, value) in settings {
        let key = key.trim().replace('-', "_");
        if !e.params.iter().any(|p| p.key == key) {
            return Err(MethodError::BadParameter(format!(
                "{} has no parameter '{key}' (its parameters: {})",
                e.name,
                e.params.iter().map(|p| p.key).collect::<Vec<_>>().join(", ")
            )));
        }
        m.set(&key, value.trim()).map_err(|err| match err {
            MethodError::BadParameter(why) => MethodError::BadParameter(format!("{} {key}={value}: {why}", e.name)),
            other => other,
        })?;
    }
    Ok(m)
}

/// A method from a spec `NAME` or `NAME[SETTINGS]`, settings comma-separated `KEY=VALUE`; a bare
/// word inside the brackets sets `level` (`sac-m[labels]` is `sac-m[level=labels]`).
pub fn from_spec(spec: &str) -> Result<Box<dyn Method>, MethodError> {
    from_spec_with(spec, &[])
}

/// [`from_spec`], then `extra` settings applied after the spec's own.
pub fn from_spec_with(spec: &str, extra: &[(String, String)]) -> Result<Box<dyn Method>, MethodError> {
    let (name, mut settings) = parse_spec(spec)?;
    settings.extend_from_slice(extra);
    method(&name, &settings)
}

/// A spec's name and its bracketed settings.
pub fn parse_spec(spec: &str) -> Result<(String, Vec<(String, String)>), MethodError> {
    let spec = spec.trim();
    let (name, inner) = match spec.split_once('[') {
        Some((name, rest)) => {
            let inner = rest
                .strip_suffix(']')
                .ok_or_else(|| MethodError::BadParameter(format!("method '{spec}': a '[' without its closing ']'")))?;
            (name, inner)
        }
        None => (spec, ""),
    };
    let mut settings = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        settings.push(match part.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => ("level".to_string(), part.to_string()),
        });
    }
    Ok((name.trim().to_string(), settings))
}

/// Splits a comma-separated method list, keeping the commas inside brackets
/// (`ipguard,sac-m[level=labels,n=100]` is two methods).
pub fn split_specs(list: &str) -> Result<Vec<String>, MethodError> {
    let (mut out, mut current, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in list.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(MethodError::BadParameter(format!("method list '{list}': a ']' without its '['")));
        }
        current.push(c);
    }
    if depth != 0 {
        return Err(MethodError::BadParameter(format!("method list '{list}': a '[' without its closing ']'")));
    }
    out.push(current);
    Ok(out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

/// Splits `KEY=VALUE`.
pub fn parse_setting(text: &str) -> Result<(String, String), MethodError> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| MethodError::BadParameter(format!("setting '{text}' is not KEY=VALUE")))
}

/// Parses a parameter value, naming the expected type on failure.
pub(crate) fn parse<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, MethodError> {
    value.parse().map_err(|_| MethodError::BadParameter(format!("'{value}' is not {what}")))
}

/// Parses `true`/`false` (also yes/no, on/off, 1/0).
pub(crate) fn parse_bool(value: &str) -> Result<bool, MethodError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(MethodError::BadParameter(format!("'{value}' is not true or false"))),
    }
}

/// Parses a number that may be written as a fraction ("5/255").
pub(crate) fn parse_fraction(value: &str) -> Result<f64, MethodError> {
    let bad = || MethodError::BadParameter(format!("'{value}' is not a number (or A/B)"));
    match value.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f64, f64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
            if b == 0.0 { Err(bad()) } else { Ok(a / b) }
        }
        None => value.parse().map_err(|_| bad()),
    }
}

#[cfg(test)]
mod tests;
