//! What a benchmark run produces, as one serialisable record: the JSON report is this struct, the
//! HTML report and the terminal table are drawn from it, and `mown bench merge` joins shards of
//! it. Everything a reader needs to audit a row is here: the verdict (rule, alpha, threshold and
//! how it was calibrated, p-value), the queries, the seconds, the models' hashes and the config.

use mown_eval::{MethodSummary, Verdict};
use serde::{Deserialize, Serialize};

/// A whole benchmark: config, models, and one [`MethodResult`] per method.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    pub title: String,
    /// `mown <version>`.
    pub tool: String,
    /// The config file's text, verbatim, and its path as given.
    pub config_path: String,
    pub config_text: String,
    /// Significance level of every verdict.
    pub alpha: f64,
    pub victim: ModelRecord,
    /// Zoo members in config order: stolen copies of the victim, then independent models.
    pub models: Vec<ModelRecord>,
    pub methods: Vec<MethodResult>,
    /// Wall time of the run(s) that produced it (the sum over shards after a merge).
    pub wall_seconds: f64,
    /// Shards merged into it (1 for an unsharded run).
    pub shards: usize,
    /// `--draw-sizes`: the samples verdicts decided again at other draw sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_sizes: Option<crate::sweep::DrawSizeSweep>,
}

/// A model's place in the zoo: the zoo's own type, so the report and `zoo.json` spell roles alike.
pub use mown_adversary::zoo::Role as ModelRole;

/// One model of the zoo.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelRecord {
    /// The derivation chain: the model's name and cache key.
    pub name: String,
    pub role: ModelRole,
    /// For stolen models: the attack recipe applied to the victim (`ftal(2)`,
    /// `extract(arc-a,labels,same,budget=15000,epochs=4)`), the column of the headline table.
    pub attack: Option<String>,
    /// For stolen models: post-processing, functionality-stealing or adversarial-training.
    pub attack_family: Option<String>,
    /// Architecture family (independent models' families bound the false-positive calibration).
    pub arch_family: String,
    pub sha256: String,
    /// Accuracy on the victim's test split, and agreement with the victim's labels there.
    pub accuracy: f64,
    pub agreement_with_victim: f64,
    /// Queries the attack sent to the victim (0 for independent models).
    pub queries: usize,
    /// Seconds the bench took to build the model (its last step, or its whole chain where the
    /// parents were not cached); None when it came from the cache the first time the bench saw it.
    /// Kept here, not in the model file, so that model files stay byte-identical across runs.
    #[serde(default)]
    pub build_seconds: Option<f64>,
}

/// One method over the zoo.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodResult {
    /// The method as the config names it (`ipguard`, `extfeat[style=patch]`).
    pub spec: String,
    /// The method as reports name it (`ipguard-TL`, `margin-watermark`).
    pub name: String,
    /// Registry entry, evidence kind and what a suspect must answer (labels, top-k, probs, white-box).
    pub entry: String,
    pub evidence_kind: String,
    pub requires: String,
    /// Whether a copy scores higher or lower than an independent model.
    pub direction: String,
    /// Reads the owner, or trains / fine-tunes its own owner (the stolen rows are then copies of
    /// that owner made with the same recipes).
    pub owner_effect: String,
    /// SHA-256 of the evidence file and of the owner it names; the method's settings (seed included).
    pub evidence_sha256: String,
    pub owner_sha256: String,
    pub settings: serde_json::Value,
    /// What generation printed (accuracy cost of a watermark, points converged, ...).
    pub generation_summary: String,
    /// Seconds to generate the evidence (0 when it came from the cache) and to measure all suspects.
    pub generate_seconds: f64,
    /// The method's own seconds per phase of that generation (null when cached before this
    /// was recorded).
    #[serde(default)]
    pub generate_timings: serde_json::Value,
    pub measure_seconds: f64,
    /// One row per zoo member, in the order of [`BenchReport::models`].
    pub rows: Vec<SuspectRow>,
    /// ROC AUC, ARUC, R/U curve and scores over all stolen models against all independent ones,
    /// and per attack family. Scores are oriented so that higher means closer to the owner.
    pub summary: MethodSummary,
    pub by_family: Vec<MethodSummary>,
}

/// One suspect's verdict under one method. Stolen models are judged against all independent
/// models; each independent model against the others (leave-one-out), by the one rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuspectRow {
    /// The zoo member ([`ModelRecord::name`]) this row stands for; for a method with its own
    /// owner, `suspect` names the copy actually measured.
    pub model: String,
    pub suspect: String,
    pub suspect_sha256: String,
    pub role: ModelRole,
    pub verdict: Verdict,
    /// Seconds the bench took to make this copy of a method's own owner (the zoo's recipe
    /// re-applied to it), when it made it; None for zoo members and copies it found cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_build_seconds: Option<f64>,
    /// For a copy of a method's own owner: its accuracy and agreement with that owner (the zoo
    /// member's [`ModelRecord`] describes another model then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<CopyQuality>,
    /// Seconds to measure this suspect (0 when the measurement came from the cache).
    pub seconds: f64,
}

/// How good a copy of a method's own owner is, on the victim's test split: the same two numbers
/// as a zoo member's [`ModelRecord`], with the method's owner in the victim's place.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct CopyQuality {
    pub accuracy: f64,
    pub agreement_with_owner: f64,
}

impl MethodResult {
    /// Independent models called STOLEN, and how many independent models were judged.
    pub fn false_positives(&self) -> (usize, usize) {
        let independents = self.rows.iter().filter(|r| r.role == ModelRole::Independent);
        let judged = independents.clone().count();
        (independents.filter(|r| r.verdict.decision == mown_eval::Decision::Stolen).count(), judged)
    }
}

impl BenchReport {
    /// The stolen models' attacks in config order (the headline table's columns).
    pub fn attacks(&self) -> Vec<&ModelRecord> {
        self.models.iter().filter(|m| m.role == ModelRole::Stolen).collect()
    }
}
