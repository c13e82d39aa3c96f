//! A zoo: one victim, the stolen variants derived from it, and independently trained models,
//! declared in a TOML file and built through the chain cache (a second run trains nothing).
//!
//! ```toml
//! victim = "train(arc-a,fmnist,seed=1,epochs=5,part=1/2)"
//! stolen = ["ftll(2)", "prune(w,0.5,ft=1)", "extract(arc-c,probs,same,budget=20000,epochs=5)"]
//! independent = ["train(arc-b,fmnist,seed=2,epochs=5,part=2/2)"]
//! cache_dir = "zoo-cache"          # optional; default: next to the config, <name>-cache
//! # Models mown did not train, named in chains as model(SHA256,DATA,...) (an imported owner as
//! # the victim, scikit-learn or Keras negatives as independents); paths relative to this file.
//! models = ["negatives/sklearn-mlp.onnx", "owner-imported.safetensors"]
//! [training]                       # optional defaults for every training step
//! batch_size = 128
//! lr = 0.05
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::build::Builder;
use crate::{AttackError, Chain, Step};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZooConfig {
    pub victim: String,
    #[serde(default)]
    pub stolen: Vec<String>,
    #[serde(default)]
    pub independent: Vec<String>,
    pub cache_dir: Option<PathBuf>,
    #[serde(default)]
    pub models: Vec<PathBuf>,
    #[serde(default)]
    pub training: TrainingDefaults,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingDefaults {
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Per-parameter gradient norm clipping (0 = off).
    pub grad_clip: f32,
}

impl TrainingDefaults {
    /// The training configuration of every step of this zoo (epochs and seeds come from chains).
    pub fn train_config(&self) -> mown_nn::TrainConfig {
        mown_nn::TrainConfig {
            batch_size: self.batch_size,
            lr: self.lr,
            weight_decay: self.weight_decay,
            grad_clip_norm: (self.grad_clip > 0.0).then_some(self.grad_clip),
            ..mown_nn::TrainConfig::default()
        }
    }
}

impl Default for TrainingDefaults {
    fn default() -> Self {
        Self { batch_size: 128, lr: 0.05, weight_decay: 5e-4, grad_clip: 5.0 }
    }
}

/// The parsed zoo: every chain spelled out.
pub struct Zoo {
    pub victim: Chain,
    pub stolen: Vec<Chain>,
    pub independent: Vec<Chain>,
    pub cache_dir: PathBuf,
    /// Files that the chains' model(SHA256,...) roots are found in.
    pub models: Vec<PathBuf>,
    pub training: TrainingDefaults,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Victim,
    Stolen,
    Independent,
}

/// One row of the zoo table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ZooEntry {
    pub name: String,
    pub role: Role,
    pub file: PathBuf,
    pub accuracy: f64,
    /// Agreement with the victim's labels on the test set.
    pub fidelity: f64,
    pub queries_used: usize,
    pub seconds: f64,
    pub from_cache: bool,
}

impl Zoo {
    pub fn load(path: &Path) -> Result<Zoo, AttackError> {
        let bad = |reason: String| AttackError::BadZooConfig { path: path.to_path_buf(), reason };
        let text =
            std::fs::read_to_string(path).map_err(|source| AttackError::Io { path: path.to_path_buf(), source })?;
        let cfg: ZooConfig = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let victim: Chain = cfg.victim.parse().map_err(|e: AttackError| bad(e.to_string()))?;
        if !victim.is_independent() {
            return Err(bad("the victim must be a single train(...) or model(...) step".into()));
        }
        let mut stolen = Vec::new();
        for recipe in &cfg.stolen {
            let steps = Chain::parse_attack(recipe).map_err(|e| bad(e.to_string()))?;
            stolen.push(victim.then(&steps));
        }
        let mut independent = Vec::new();
        for text in &cfg.independent {
            let chain: Chain = text.parse().map_err(|e: AttackError| bad(e.to_string()))?;
            // A given model is the victim whatever seed or part its root names.
            let same_model = match (&chain.steps[..], &victim.steps[0]) {
                ([Step::Model { sha256: a, .. }], Step::Model { sha256: b, .. }) => a == b,
                _ => false,
            };
            if chain == victim || same_model {
                return Err(bad(format!("independent model '{text}' is the victim itself")));
            }
            independent.push(chain);
        }
        let cache_dir = match cfg.cache_dir {
            Some(dir) if dir.is_absolute() => dir,
            Some(dir) => path.parent().unwrap_or(Path::new(".")).join(dir),
            None => {
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("zoo");
                path.parent().unwrap_or(Path::new(".")).join(format!("{stem}-cache"))
            }
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let models = cfg.models.iter().map(|m| if m.is_absolute() { m.clone() } else { dir.join(m) }).collect();
        Ok(Zoo { victim, stolen, independent, cache_dir, models, training: cfg.training })
    }

    /// A builder over this zoo's cache folder, training defaults and model files.
    pub fn builder(&self, device: mown_nn::burn::prelude::Device) -> Builder {
        let mut builder = Builder::new(Some(self.cache_dir.clone()), device, self.training.train_config());
        builder.add_model_files(&self.models);
        builder
    }

    /// Every chain with its role, victim first.
    pub fn members(&self) -> Vec<(Chain, Role)> {
        let mut all = vec![(self.victim.clone(), Role::Victim)];
        all.extend(self.stolen.iter().map(|c| (c.clone(), Role::Stolen)));
        all.extend(self.independent.iter().map(|c| (c.clone(), Role::Independent)));
        all
    }

    /// Builds every member (cached), measuring accuracy and fidelity on the victim's test set.
    /// `on_built` is called after each model (progress reporting).
    pub fn build(
        &self,
        builder: &mut Builder,
        mut on_built: impl FnMut(&ZooEntry),
    ) -> Result<Vec<ZooEntry>, AttackError> {
        let victim_built = builder.build(&self.victim)?;
        let test = builder.step_data(&self.victim.steps[0])?.test;
        let victim_labels = victim_built.model.predict(test.images())?;
        let mut victim_built = Some(victim_built);
        let mut entries = Vec::new();
        for (chain, role) in self.members() {
            // The victim was built above (its labels are the fidelity reference): report that
            // build, not a second cache hit.
            let built = match (role, victim_built.take()) {
                (Role::Victim, Some(v)) => v,
                _ => builder.build(&chain).map_err(|e| AttackError::BadParameter(format!("building {chain}: {e}")))?,
            };
            let predicted = built.model.predict(test.images())?;
            let agree = predicted.iter().zip(&victim_labels).filter(|(a, b)| a == b).count();
            let correct = predicted.iter().zip(test.labels()).filter(|(a, b)| a == b).count();
            let entry = ZooEntry {
                name: chain.to_string(),
                role,
                file: builder.cache_path(&chain).unwrap_or_default(),
                accuracy: correct as f64 / test.len() as f64,
                fidelity: agree as f64 / test.len() as f64,
                queries_used: built.queries_used,
                seconds: built.seconds,
                from_cache: built.from_cache,
            };
            on_built(&entry);
            entries.push(entry);
        }
        let json = serde_json::to_vec_pretty(&entries).map_err(|e| AttackError::BadParameter(e.to_string()))?;
        let out = self.cache_dir.join("zoo.json");
        std::fs::write(&out, json).map_err(|source| AttackError::Io { path: out, source })?;
        Ok(entries)
    }
}

/// The zoo as a fixed-width text table.
pub fn table(entries: &[ZooEntry]) -> String {
    let mut s =
        format!("{:<11} {:>8} {:>8} {:>8} {:>8}  {}\n", "role", "accuracy", "fidelity", "queries", "seconds", "model");
    for e in entries {
        let role = match e.role {
            Role::Victim => "victim",
            Role::Stolen => "stolen",
            Role::Independent => "independent",
        };
        let secs = if e.from_cache { "cached".to_string() } else { format!("{:.1}", e.seconds) };
        s += &format!(
            "{:<11} {:>8.4} {:>8.4} {:>8} {:>8}  {}\n",
            role, e.accuracy, e.fidelity, e.queries_used, secs, e.name
        );
    }
    s
}
