//! The UAP fingerprint's registry entry (seed 003): its parameters by key.

use mown_access::AccessLevel;

use super::entries::{LEVEL, parse_perturbation};
use super::{Entry, Generated, Method, OwnerInputs, Param, parse};
use crate::uap::{CandidateClasses, Radius, UapFingerprintParams, generate};
use crate::{Evidence, MethodError};

pub(super) const PARAMS: &[Param] = &[
    Param { key: "n", help: "K-means clusters, hence points per fingerprint (100)" },
    Param { key: "views", help: "views per model in the encoder's training set (200)" },
    Param { key: "verify_views", help: "views kept for verification, 2n queries each (40)" },
    Param { key: "xi_rms", help: "the perturbation's L2 radius as a root-mean-square per pixel (0.3)" },
    Param { key: "xi", help: "the perturbation's L2 radius itself (instead of xi_rms)" },
    Param { key: "max_passes", help: "passes of the UAP algorithm at most" },
    Param { key: "uap_images", help: "training images the UAP is computed on (2000)" },
    Param { key: "encoder_epochs", help: "encoder training epochs (50)" },
    Param { key: "temperature", help: "SupCon temperature tau (0.1)" },
    Param {
        key: "perturbation",
        help: "universal (the method) or local: each point's own DeepFool perturbation (the LAP ablation)",
    },
    Param { key: "local_candidates", help: "LAP: DeepFool's classes, all or top:N (all)" },
    LEVEL,
    Param { key: "draws", help: "t-test repetitions (30)" },
    Param { key: "draw_size", help: "fingerprints per repetition (20)" },
    Param { key: "seed", help: "seed of every random choice (0)" },
];

/// UAP fingerprinting with its contrastive encoder; generation needs reference models.
pub(super) struct Uap(pub(super) UapFingerprintParams);

impl Method for Uap {
    fn entry(&self) -> &'static Entry {
        super::entry("uap").expect("uap is registered")
    }

    fn name(&self) -> String {
        let lap = self.0.perturbation == crate::uap::PerturbationKind::Local;
        let mut name = String::from(if lap { "lap" } else { "uap" });
        if self.0.level != AccessLevel::Probabilities {
            name.push_str(&format!("[{}]", self.0.level));
        }
        name
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError> {
        let p = &mut self.0;
        match key {
            "n" => p.kmeans.clusters = parse(value, "a count")?,
            "views" => p.train_views = parse(value, "a count")?,
            "verify_views" => p.verify_views = parse(value, "a count")?,
            "xi_rms" => p.uap.xi = Radius::Rms(parse(value, "a number")?),
            "xi" => p.uap.xi = Radius::L2(parse(value, "a number")?),
            "max_passes" => p.uap.max_passes = parse(value, "a count")?,
            "uap_images" => p.uap_images = parse(value, "a count")?,
            "encoder_epochs" => p.encoder.epochs = parse(value, "a count")?,
            "temperature" => p.encoder.temperature = parse(value, "a number")?,
            "perturbation" => p.perturbation = parse_perturbation(value)?,
            "local_candidates" => p.local_candidates = parse_candidates(value)?,
            "level" => p.level = parse(value, "an access level (probs, topk:K, labels)")?,
            "draws" => p.draws = parse(value, "a count")?,
            "draw_size" => p.draw_size = parse(value, "a count")?,
            "seed" => p.seed = parse(value, "an integer")?,
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        Ok(())
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    fn requires(&self) -> AccessLevel {
        self.0.level
    }

    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError> {
        let fp = generate(inputs.model, inputs.train, inputs.held_out, inputs.references, &self.0)?;
        let summary = format!(
            "{}: {} verification fingerprints of {} points (perturbation {}; encoder on {} models)",
            fp.method(),
            fp.views.len(),
            fp.n(),
            fp.uap_stats,
            inputs.references.len() + 1
        );
        Ok(Generated { summary, timings: fp.timings.clone(), owner: None, evidence: Box::new(fp) })
    }
}

/// `all` or `top:N`.
fn parse_candidates(value: &str) -> Result<CandidateClasses, MethodError> {
    if value.eq_ignore_ascii_case("all") {
        return Ok(CandidateClasses::All);
    }
    value
        .to_ascii_lowercase()
        .strip_prefix("top:")
        .and_then(|n| n.parse().ok())
        .filter(|&n: &usize| n >= 2)
        .map(CandidateClasses::Top)
        .ok_or_else(|| MethodError::BadParameter(format!("'{value}' is not all or top:N with N >= 2")))
}
