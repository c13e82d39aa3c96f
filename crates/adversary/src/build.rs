//! Turning a derivation chain into a model: train the root, apply each step, and cache every
//! model on disk under its canonical chain, so a zoo or an evaluation never retrains a model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use mown_access::LocalModel;
use mown_data::{DataSource, Dataset};
use mown_nn::burn::prelude::Device;
use mown_nn::seed::derive;
use mown_nn::{Model, ModelMeta, ModelSpec, TrainConfig, io};
use sha2::{Digest, Sha256};

use crate::chain::{QuerySource, Step, canonical_data};
use crate::extract::{ExtractConfig, SOFT_MATCH_LR_FACTOR, extract, noise_queries};
use crate::whitebox::{fine_tune, prune, prune_and_finetune, quantize_int8};
use crate::{AttackError, Chain};

/// Seed of the disjoint-parts split (`part=K/N`), fixed so every run cuts the data the same way.
pub const PARTS_SEED: u64 = 0xD15_1011;

/// The data a derivation step may use.
#[derive(Clone)]
pub struct StepData {
    /// The owner's training data (distillation uses it, per seed 004).
    pub owner: Arc<Dataset>,
    /// The attacker's own sample of the same distribution: the complementary part when the
    /// owner trained on `part=K/N`, else the owner's training set. Fine-tuning, pruning
    /// retraining, adversarial training and `extract(..,same)` use it.
    pub attacker: Arc<Dataset>,
    /// Held-out test data, for accuracy and fidelity.
    pub test: Arc<Dataset>,
}

/// A built model and what building it took.
pub struct Built {
    pub model: Model,
    pub chain: Chain,
    pub seconds: f64,
    pub queries_used: usize,
    pub from_cache: bool,
}

/// Builds chains, caching models under `cache_dir` (none: build everything in memory).
pub struct Builder {
    pub cache_dir: Option<PathBuf>,
    pub device: Device,
    /// Batch size, learning rate, optimizer etc. for every training step; epochs and seeds come
    /// from the chain, and so does an extraction's augmentation (`aug=`, which makes it live).
    pub base: TrainConfig,
    datasets: HashMap<String, (Arc<Dataset>, Arc<Dataset>)>,
    /// Files that model(SHA256,...) roots are looked up in, and those read so far by hash.
    model_files: Vec<PathBuf>,
    models_by_sha: HashMap<String, Model>,
    /// Models made (trained, derived, or read from a given file for a model(...) root) rather
    /// than loaded from the cache, for "a second run trains nothing".
    pub trained: usize,
}

impl Builder {
    pub fn new(cache_dir: Option<PathBuf>, device: Device, base: TrainConfig) -> Self {
        Self {
            cache_dir,
            device,
            base,
            datasets: HashMap::new(),
            model_files: Vec::new(),
            models_by_sha: HashMap::new(),
            trained: 0,
        }
    }

    /// Files (mown model files, or `.onnx` classifiers imported with `mown import`'s defaults:
    /// NCHW, values in [0, 1], no normalisation, a flat input taking the root's image shape)
    /// among which model(SHA256,...) roots are found. Each is read when a root first needs it.
    /// A model that needs other import options is listed as the file `mown import` wrote: the
    /// SHA-256 covers weights and graph, not the normalisation.
    pub fn add_model_files(&mut self, files: &[PathBuf]) {
        self.model_files.extend(files.iter().cloned());
    }

    /// The model whose SHA-256 is `sha256`, from the files given to [`Self::add_model_files`].
    /// A file that cannot be read for this root (another task's image shape, a corrupt file)
    /// stays listed for other roots, and is named in the error if no file matches.
    fn model_by_sha(&mut self, sha256: &str, shape: mown_data::ImageShape) -> Result<Model, AttackError> {
        let mut unreadable = Vec::new();
        let mut pending = std::mem::take(&mut self.model_files).into_iter();
        while !self.models_by_sha.contains_key(sha256) {
            let Some(path) = pending.next() else { break };
            let read = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
                let opts = mown_access::onnx::ImportOptions {
                    input_shape: Some(shape),
                    ..mown_access::onnx::ImportOptions::default()
                };
                mown_access::onnx::import_onnx(&path, &opts, &self.device).map(|i| i.model).map_err(AttackError::from)
            } else {
                io::load(&path, &self.device).map_err(AttackError::from)
            };
            match read.and_then(|m| Ok((io::model_sha256(&m)?, m))) {
                Ok((sha, model)) => {
                    self.models_by_sha.insert(sha, model);
                }
                Err(e) => {
                    unreadable.push(format!("{}: {e}", path.display()));
                    self.model_files.push(path);
                }
            }
        }
        self.model_files.extend(pending);
        match self.models_by_sha.get(sha256) {
            Some(model) => Ok(model.clone()),
            None => Err(AttackError::BadParameter(format!(
                "model({sha256},...) is none of the model files given (list its file under `models = [...]` \
                 in the zoo; `mown info FILE` prints a model's SHA-256){}",
                if unreadable.is_empty() { String::new() } else { format!("; unreadable: {}", unreadable.join("; ")) }
            ))),
        }
    }

    /// Train and test split of a chain dataset name, loaded once. Also takes a source with its
    /// directory, as `mown train` records it in a model (`mnist:/data/mnist`), so commands that
    /// fall back to an owner's recorded dataset load the same files.
    pub fn dataset(&mut self, name: &str) -> Result<(Arc<Dataset>, Arc<Dataset>), AttackError> {
        let (name, source): (String, DataSource) = match canonical_data(name) {
            Ok(short) => {
                let source = short.parse()?;
                (short, source)
            }
            Err(unknown) => match name.split_once(':') {
                Some((kind, _)) if canonical_data(kind).is_ok() => (name.to_string(), name.parse()?),
                _ => return Err(AttackError::BadParameter(unknown)),
            },
        };
        if let Some((a, b)) = self.datasets.get(&name) {
            return Ok((a.clone(), b.clone()));
        }
        let (train, test) = source.load()?;
        let pair = (Arc::new(train), Arc::new(test));
        self.datasets.insert(name, pair.clone());
        Ok(pair)
    }

    /// The data the steps after `root` use.
    pub fn step_data(&mut self, root: &Step) -> Result<StepData, AttackError> {
        let Some(root) = root.root_data() else {
            return Err(AttackError::BadParameter("a chain's root must be train(...) or model(...)".into()));
        };
        let (train, test) = self.dataset(root.data)?;
        Ok(match root.part {
            None => StepData { owner: train.clone(), attacker: train, test },
            Some((k, n)) => {
                let parts = train.disjoint_parts(n, PARTS_SEED)?;
                let owner = match root.overlap {
                    None => Arc::new(parts[k - 1].clone()),
                    Some(r) => Arc::new(overlapping_part(&parts[k - 1], &parts[k % n], r, root.seed)?),
                };
                let attacker = if n == 1 { owner.clone() } else { Arc::new(parts[k % n].clone()) };
                StepData { owner, attacker, test }
            }
        })
    }

    /// Where `chain` is cached: a readable prefix plus a hash of the canonical chain.
    pub fn cache_path(&self, chain: &Chain) -> Option<PathBuf> {
        self.cache_path_for(&chain.to_string())
    }

    /// Where the model named `key` (a canonical derivation) is cached. The hash also covers the
    /// base training configuration when it is not the zoo's default (see [`training_tag`]): a
    /// chain names what was done, not the batch size or weight decay it was done with, and two
    /// zoos sharing a cache directory must not hand each other models trained another way.
    pub fn cache_path_for(&self, key: &str) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let hash = hex::encode(Sha256::digest(format!("{key}{}", training_tag(&self.base)).as_bytes()));
        let readable: String =
            key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).take(60).collect();
        Some(dir.join(format!("{readable}-{}.safetensors", &hash[..16])))
    }

    /// The model cached at `path`, if it is the one named `key`. `dataset` is the task the chain
    /// serves: copies cached before they recorded it (see `derive`) get it here, and the file is
    /// rewritten with it, since `zoo.json` lists it for `mown eval` and `fingerprint`. The
    /// weights, and so the model's SHA-256, are unchanged.
    fn load_cached(&self, key: &str, path: &Path, dataset: &str) -> Option<Model> {
        let mut model = io::load(path, &self.device).ok()?;
        if model.meta.provenance.derivation != key {
            return None;
        }
        if model.meta.provenance.dataset.is_empty() && !dataset.is_empty() {
            model.meta.provenance.dataset = dataset.to_string();
            if let Err(e) = io::save(&model, path) {
                tracing::warn!("could not record the dataset in the cached {}: {e}", path.display());
            }
        }
        Some(model)
    }

    /// Builds (or loads) `steps` applied to `root`, a model that is not itself a chain (a
    /// watermarked owner, say) named `root_name`; each intermediate model is cached under
    /// `"{root_name}-{steps}"`. `root_step` is the root (train or model) whose data the steps use.
    pub fn build_on(
        &mut self,
        root_name: &str,
        root: &Model,
        root_step: &Step,
        steps: &[Step],
    ) -> Result<Built, AttackError> {
        let started = Instant::now();
        let data = self.step_data(root_step)?;
        let seed = root_step.root_data().map_or(0, |r| r.seed);
        let (mut parent, mut queries_used, mut from_cache) = (root.clone(), 0, true);
        // The root serves the task of its train(...) step; its copies record that dataset.
        if parent.meta.provenance.dataset.is_empty() {
            parent.meta.provenance.dataset = served_dataset(root_step).to_string();
        }
        let dataset = parent.meta.provenance.dataset.clone();
        let mut name = root_name.to_string();
        for (i, step) in steps.iter().enumerate() {
            if step.is_root() {
                return Err(AttackError::BadParameter("train(...) and model(...) can only start a chain".into()));
            }
            name = format!("{name}-{step}");
            let path = self.cache_path_for(&name);
            if let Some(model) = path.as_ref().and_then(|p| self.load_cached(&name, p, &dataset)) {
                queries_used += recorded_queries(&model);
                parent = model;
                continue;
            }
            let (mut model, queries) = self.derive(&parent, step, &data, derive(seed, i as u64 + 2))?;
            self.trained += 1;
            from_cache = false;
            queries_used += queries;
            record_provenance(&mut model, name.clone(), queries, step);
            if let Some(path) = &path {
                io::save(&model, path)?;
            }
            parent = model;
        }
        let chain = Chain { steps: std::iter::once(root_step.clone()).chain(steps.iter().cloned()).collect() };
        Ok(Built { model: parent, chain, seconds: started.elapsed().as_secs_f64(), queries_used, from_cache })
    }

    /// Builds (or loads) the model named by `chain`.
    pub fn build(&mut self, chain: &Chain) -> Result<Built, AttackError> {
        let started = Instant::now();
        let dataset = chain.steps.first().map_or("", served_dataset);
        if let Some(path) = self.cache_path(chain)
            && let Some(model) = self.load_cached(&chain.to_string(), &path, dataset)
        {
            let queries_used = recorded_queries(&model);
            return Ok(Built {
                model,
                chain: chain.clone(),
                seconds: started.elapsed().as_secs_f64(),
                queries_used,
                from_cache: true,
            });
        }
        let last = chain.steps.last().expect("non-empty chain");
        let (mut model, queries_used) = match chain.parent() {
            None => (self.train_root(&chain.steps[0])?, 0),
            Some(parent_chain) => {
                let parent = self.build(&parent_chain)?.model;
                let data = self.step_data(&chain.steps[0])?;
                let step_seed = derive(root_seed(chain), chain.steps.len() as u64);
                self.derive(&parent, last, &data, step_seed)?
            }
        };
        record_provenance(&mut model, chain.to_string(), queries_used, last);
        self.trained += 1;
        if let Some(path) = self.cache_path(chain) {
            io::save(&model, &path)?;
        }
        Ok(Built {
            model,
            chain: chain.clone(),
            seconds: started.elapsed().as_secs_f64(),
            queries_used,
            from_cache: false,
        })
    }

    fn train_root(&mut self, root: &Step) -> Result<Model, AttackError> {
        if let Step::Model { sha256, data, .. } = root {
            return self.given_root(sha256, data, root);
        }
        let Step::Train { arch, data, seed, epochs, opt, batch, .. } = root else {
            return Err(AttackError::BadParameter("a chain's root must be train(...) or model(...)".into()));
        };
        let d = self.step_data(root)?;
        let spec = ModelSpec::new(*arch, d.owner.shape, d.owner.num_classes)?;
        let mut meta = ModelMeta::for_dataset(spec, &d.owner)?;
        meta.provenance.dataset = data.clone();
        meta.provenance.seed = *seed;
        meta.provenance.epochs = *epochs;
        let mut cfg = TrainConfig { epochs: *epochs, seed: *seed, ..self.base.clone() };
        if let Some(o) = opt {
            o.apply(&mut cfg);
        }
        if let Some(b) = batch {
            cfg.batch_size = *b;
        }
        let model = Model::init(meta, &self.device, *seed);
        Ok(mown_nn::train::train(model, &d.owner, None, &cfg)?.0)
    }

    /// A model(...) root: the given file's model, checked against the task it claims to serve.
    fn given_root(&mut self, sha256: &str, data: &str, root: &Step) -> Result<Model, AttackError> {
        let d = self.step_data(root)?;
        let mut model = self.model_by_sha(sha256, d.owner.shape)?;
        let spec = &model.meta.spec;
        if spec.num_classes != d.owner.num_classes || spec.input != d.owner.shape {
            return Err(AttackError::BadParameter(format!(
                "{root}: the model takes {:?} images into {} classes, but {data} has {:?} images and {} classes",
                spec.input, spec.num_classes, d.owner.shape, d.owner.num_classes
            )));
        }
        model.meta.provenance.dataset = data.to_string();
        Ok(model)
    }

    /// Applies one derivation step to `parent`. Returns the new model and the victim queries it
    /// used (extraction only).
    pub fn derive(
        &mut self,
        parent: &Model,
        step: &Step,
        data: &StepData,
        seed: u64,
    ) -> Result<(Model, usize), AttackError> {
        let base = self.base.clone();
        let cfg = |epochs: usize| TrainConfig { epochs, seed, ..base.clone() };
        let (mut model, queries) = match step {
            Step::Train { .. } | Step::Model { .. } => {
                return Err(AttackError::BadParameter("train(...) and model(...) can only start a chain".into()));
            }
            Step::FineTune { mode, epochs, lr } => {
                (fine_tune(parent, *mode, &data.attacker, &TrainConfig { lr: *lr, ..cfg(*epochs) })?, 0)
            }
            Step::Prune { kind, ratio, finetune_epochs: 0 } => (prune(parent, *kind, *ratio)?.0, 0),
            Step::Prune { kind, ratio, finetune_epochs } => {
                // Retraining after pruning uses a fine-tuning rate, not a from-scratch one.
                let ft = TrainConfig { lr: base.lr * 0.2, ..cfg(*finetune_epochs) };
                (prune_and_finetune(parent, *kind, *ratio, &data.attacker, &ft)?, 0)
            }
            Step::Distill { arch, alpha, temperature, epochs } => {
                // At T = 20 the soft term's logit gradient is about (z_s - z_t)/k, an L2 match of
                // logits, much steeper than cross-entropy: a from-scratch rate diverges (measured on
                // digits: 0.10 agreement at lr 0.05, 0.94 at 0.01), so distillation uses 1/5 of it.
                let dcfg = TrainConfig { lr: base.lr * SOFT_MATCH_LR_FACTOR, ..cfg(*epochs) };
                (crate::distill::distill(parent, &data.owner, *arch, *alpha, *temperature, &dcfg)?, 0)
            }
            Step::Extract { source, budget, epochs, .. } => {
                let shape = parent.input_shape();
                let ecfg = extract_config(step, cfg(*epochs), self.device.clone())?;
                let queries = match source {
                    QuerySource::Same => (*data.attacker).clone(),
                    QuerySource::Noise => noise_queries(shape, ecfg.images_wanted(), seed)?,
                    QuerySource::Dataset(name) => {
                        let (train, _) = self.dataset(name)?;
                        if train.shape == shape { (*train).clone() } else { train.resized(shape)? }
                    }
                };
                let mut victim = LocalModel::new(parent.clone(), ecfg.level, Some(*budget));
                let stolen = extract(&mut victim, &queries, &ecfg)?;
                let mut model = stolen.model;
                // The copy serves the victim's classes under the victim's names.
                model.meta.class_names = parent.meta.class_names.clone();
                (model, stolen.queries_used)
            }
            Step::AdvTrain { method, eps, epochs } => {
                let at = TrainConfig { lr: base.lr * 0.2, ..cfg(*epochs) };
                (crate::advtrain::adversarial_training(parent, &data.attacker, *method, *eps, &at)?, 0)
            }
            Step::DeepFoolTrain { iterations, per_iter } => {
                let at = TrainConfig { lr: base.lr * 0.2, ..cfg(1) };
                (crate::advtrain::deepfool_training(parent, &data.attacker, *iterations, *per_iter, &at)?, 0)
            }
            Step::Quantize { .. } => (quantize_int8(parent)?, 0),
            Step::Dfad { arch, iterations, batch } => {
                let spec = mown_nn::ModelSpec::new(*arch, parent.input_shape(), parent.num_classes())?;
                let meta =
                    mown_nn::ModelMeta::new(spec, parent.meta.normalization.clone(), parent.meta.class_names.clone())?;
                let student = Model::init(meta, &self.device, seed);
                let p = mown_nn::dfad::DfadParams {
                    iterations: *iterations,
                    batch: *batch,
                    seed,
                    ..mown_nn::dfad::DfadParams::default()
                };
                (mown_nn::dfad::dfad(parent, student, &p)?.0, 0)
            }
        };
        // Copies trained from scratch (extraction, distillation) serve the victim's task, so
        // they record its dataset, which `mown eval` and `fingerprint` fall back to.
        if model.meta.provenance.dataset.is_empty() {
            model.meta.provenance.dataset = parent.meta.provenance.dataset.clone();
        }
        Ok((model, queries))
    }
}

/// A training set the size of `base` whose fraction `overlap` is a sample of `base` and the rest
/// a sample of `other` (`train(..,part=K/N,overlap=R)`; both samples drawn with the model's seed,
/// so homologous models of different seeds overlap the victim's part differently).
fn overlapping_part(base: &Dataset, other: &Dataset, overlap: f64, seed: u64) -> Result<Dataset, AttackError> {
    let size = base.len();
    let shared = ((overlap * size as f64).round() as usize).min(size);
    let rest = size - shared;
    if rest > other.len() {
        return Err(AttackError::BadParameter(format!(
            "overlap {overlap}: {rest} images from the next part, which has only {}",
            other.len()
        )));
    }
    let sample = derive(seed, 0x6f76_6c70);
    let mut images = Vec::with_capacity(size * base.shape.numel());
    let mut labels = Vec::with_capacity(size);
    for (data, count) in [(base, shared), (other, rest)] {
        if count == 0 {
            continue;
        }
        let order = data.shuffled_indices(sample);
        let (i, l) = data.subset(&order[..count], "")?.into_parts();
        images.extend(i);
        labels.extend(l);
    }
    let name = format!("{}/overlap={overlap}", base.name);
    Ok(Dataset::new(name, base.shape, base.num_classes, base.class_names.clone(), images, labels)?)
}

/// What of `base` goes into cache keys: nothing for the zoo's default training (so caches built
/// before the tag existed keep their names), else every setting a chain does not override.
fn training_tag(base: &TrainConfig) -> String {
    let settings =
        |c: &TrainConfig| TrainConfig { epochs: 0, seed: 0, checkpoint_dir: None, progress: false, ..c.clone() };
    let mine = settings(base);
    if mine == settings(&crate::zoo::TrainingDefaults::default().train_config()) {
        return String::new();
    }
    format!("|training={}", serde_json::to_string(&mine).unwrap_or_default())
}

/// The extraction an `extract(...)` step asks for, the student trained with `train` (the
/// step's epochs and augmentation override the ones given).
pub fn extract_config(step: &Step, train: TrainConfig, device: Device) -> Result<ExtractConfig, AttackError> {
    let Step::Extract { arch, level, budget, epochs, temperature, mix, aug, .. } = step else {
        return Err(AttackError::BadParameter(format!("{step} is not an extraction step")));
    };
    Ok(ExtractConfig {
        student: *arch,
        level: *level,
        budget: *budget,
        train: TrainConfig { epochs: *epochs, augmentation: *aug, ..train },
        device,
        temperature: *temperature,
        mix: *mix,
    })
}

/// The dataset a chain rooted at `root` serves: its root step's data.
fn served_dataset(root: &Step) -> &str {
    root.root_data().map_or("", |r| r.data)
}

/// Names a derived model by its chain and records the step and its victim queries.
fn record_provenance(model: &mut Model, derivation: String, queries: usize, step: &Step) {
    let p = &mut model.meta.provenance;
    p.derivation = derivation;
    p.details = serde_json::json!({ "queries_used": queries, "step": step });
    p.test_accuracy = None;
}

/// The victim queries a cached model's last step used, as recorded when it was built.
fn recorded_queries(model: &Model) -> usize {
    model.meta.provenance.details.get("queries_used").and_then(|v| v.as_u64()).unwrap_or(0) as usize
}

fn root_seed(chain: &Chain) -> u64 {
    chain.steps.first().and_then(Step::root_data).map_or(0, |r| r.seed)
}
