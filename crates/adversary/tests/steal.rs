//! Stealing on the embedded digits: extraction and distillation copy the victim far better than
//! an independent model agrees with it; budgets hold; a zoo is built once.

use mown_access::{AccessLevel, LocalModel, QueryModel};
use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_adversary::extract::{ExtractConfig, extract};
use mown_adversary::zoo::{Role, Zoo};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, TrainConfig};
use sha2::Digest;

fn base() -> TrainConfig {
    TrainConfig { batch_size: 64, ..TrainConfig::default() }
}

#[test]
fn stolen_copies_agree_with_the_victim_far_more_than_an_independent_model() {
    let mut b = Builder::new(None, Device::flex(), base());
    let victim_chain: Chain = "train(arc-c,digits,seed=1,epochs=20,part=1/2)".parse().unwrap();
    let victim = b.build(&victim_chain).unwrap().model;
    let test = b.step_data(&victim_chain.steps[0]).unwrap().test;
    // Fidelity on the test images. Copies must also reproduce the victim's mistakes, so the
    // telling number is disagreement: a copy should disagree with the victim far less often than
    // a model trained independently on the other half of the data. (Measured alternative that did
    // NOT separate them: agreement on noise-blended images, where an independent arc-c agreed
    // more than the copies, 0.68 vs 0.64/0.61.)
    let agree = |m: &mown_nn::Model| m.agreement(&victim, test.images()).unwrap();
    let independent = b.build(&"train(mlp,digits,seed=7,epochs=20,part=2/2)".parse().unwrap()).unwrap().model;
    let extracted = b
        .build(&victim_chain.then(&Chain::parse_attack("extract(arc-c,probs,same,budget=700,epochs=20)").unwrap()))
        .unwrap();
    let distilled = b.build(&victim_chain.then(&Chain::parse_attack("distill(arc-c,epochs=30)").unwrap())).unwrap();
    // The same extraction matching the victim's log-probabilities at T = 20.
    let tempered = b
        .build(&victim_chain.then(&Chain::parse_attack("extract(arc-c,probs,same,budget=700,epochs=20,t=20)").unwrap()))
        .unwrap();
    let (fi, fe, fd) = (agree(&independent), agree(&extracted.model), agree(&distilled.model));
    let ft = agree(&tempered.model);
    eprintln!("fidelity: independent {fi}, extracted {fe}, at T = 20 {ft}, distilled {fd}");
    assert!(ft > 0.9 && 1.0 - ft < 0.6 * (1.0 - fi), "extracted at T = 20 {ft} vs independent {fi}");
    assert!(extracted.queries_used <= 700, "{}", extracted.queries_used);
    // Copies trained from scratch record the victim's task, which `mown eval` falls back to.
    assert_eq!(extracted.model.meta.provenance.dataset, "digits");
    assert_eq!(distilled.model.meta.provenance.dataset, "digits");
    assert!(fe > 0.9 && fd > 0.9, "extracted {fe}, distilled {fd}");
    assert!(1.0 - fe < 0.6 * (1.0 - fi), "extracted {fe} vs independent {fi}");
    assert!(1.0 - fd < 0.6 * (1.0 - fi), "distilled {fd} vs independent {fi}");
}

#[test]
fn extraction_never_exceeds_its_budget_and_stops_at_the_victims() {
    let mut b = Builder::new(None, Device::flex(), base());
    let chain: Chain = "train(mlp,digits,seed=2,epochs=3)".parse().unwrap();
    let victim = b.build(&chain).unwrap().model;
    let data = b.step_data(&chain.steps[0]).unwrap();
    let cfg = ExtractConfig {
        student: Arch::Mlp,
        level: AccessLevel::Labels,
        budget: 300,
        train: TrainConfig { epochs: 1, ..base() },
        device: Device::flex(),
        temperature: 1.0,
        mix: 0,
    };
    let mut api = LocalModel::new(victim.clone(), AccessLevel::Labels, Some(10_000));
    let stolen = extract(&mut api, &data.attacker, &cfg).unwrap();
    assert_eq!(stolen.queries_used, 300);
    assert_eq!(api.queries_used(), 300);
    // The victim's own budget is tighter than the attacker's: the attacker gets only that much.
    let mut tight = LocalModel::new(victim.clone(), AccessLevel::Labels, Some(100));
    let stolen = extract(&mut tight, &data.attacker, &cfg).unwrap();
    assert_eq!(stolen.queries_used, 100);
    assert_eq!(tight.queries_left(), Some(0));
    assert!(extract(&mut tight, &data.attacker, &cfg).is_err());
    // With mixup the thief spends its whole budget: its images, then mixes of them.
    let have = data.attacker.len();
    let mixing = ExtractConfig { budget: have + 150, mix: 2, ..cfg.clone() };
    let mut api = LocalModel::new(victim.clone(), AccessLevel::Labels, None);
    let stolen = extract(&mut api, &data.attacker, &mixing).unwrap();
    assert_eq!((stolen.queries_used, api.queries_used()), (have + 150, have + 150));
    let mut tight = LocalModel::new(victim.clone(), AccessLevel::Labels, Some(have + 20));
    assert_eq!(extract(&mut tight, &data.attacker, &mixing).unwrap().queries_used, have + 20);
    let err = extract(&mut api, &data.attacker, &ExtractConfig { mix: 1, ..mixing.clone() }).err().unwrap().to_string();
    assert!(err.contains("mixes nothing"), "{err}");
    // A budget far beyond the images is refused before anything is allocated or queried.
    let huge = ExtractConfig { budget: have * 1000, ..mixing };
    let err = extract(&mut api, &data.attacker, &huge).err().unwrap().to_string();
    assert!(err.contains("at most 100 per image"), "{err}");
    assert_eq!(api.queries_used(), have + 150);
    // Asking for more than the API reveals is refused.
    let want_probs = ExtractConfig { level: AccessLevel::Probabilities, ..cfg.clone() };
    let mut labels_only = LocalModel::new(victim, AccessLevel::Labels, None);
    let err = extract(&mut labels_only, &data.attacker, &want_probs).err().unwrap().to_string();
    assert!(err.contains("not available"), "{err}");
    // A temperature reads logits from log-probabilities: refused on labels, and must be positive.
    let hot_labels = ExtractConfig { temperature: 20.0, ..cfg.clone() };
    let err = extract(&mut labels_only, &data.attacker, &hot_labels).err().unwrap().to_string();
    assert!(err.contains("needs probability answers"), "{err}");
    let frozen = ExtractConfig { temperature: 0.0, level: AccessLevel::Probabilities, ..cfg };
    let err = extract(&mut labels_only, &data.attacker, &frozen).err().unwrap().to_string();
    assert!(err.contains(">= 1"), "{err}");
}

/// Records every image it is sent, then answers through the wrapped model; with `fail_after`,
/// refuses every request once that many images have been answered, and counts the requests it
/// gets after refusing.
struct Recorder {
    inner: LocalModel,
    sent: Vec<Vec<u32>>,
    fail_after: Option<usize>,
    asked_after_failing: usize,
}

impl Recorder {
    fn new(inner: LocalModel) -> Self {
        Self { inner, sent: Vec::new(), fail_after: None, asked_after_failing: 0 }
    }
}

impl QueryModel for Recorder {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn input_shape(&self) -> mown_data::ImageShape {
        self.inner.input_shape()
    }
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn access(&self) -> AccessLevel {
        self.inner.access()
    }
    fn query(&mut self, images: &[f32], level: AccessLevel) -> Result<mown_access::Answer, mown_access::AccessError> {
        let numel = self.input_shape().numel();
        if self.fail_after.is_some_and(|k| self.sent.len() >= k) {
            self.asked_after_failing += 1;
            return Err(mown_access::AccessError::Suspect("connection reset".into()));
        }
        self.sent.extend(images.chunks(numel).map(|img| img.iter().map(|p| p.to_bits()).collect()));
        self.inner.query(images, level)
    }
    fn queries_used(&self) -> usize {
        self.inner.queries_used()
    }
    fn queries_left(&self) -> Option<usize> {
        self.inner.queries_left()
    }
}

#[test]
fn live_extraction_sends_every_augmented_batch_within_its_budget() {
    let mut b = Builder::new(None, Device::flex(), base());
    let chain: Chain = "train(arc-c,digits,seed=1,epochs=15,part=1/2)".parse().unwrap();
    let victim = b.build(&chain).unwrap().model;
    let data = b.step_data(&chain.steps[0]).unwrap();
    let live = TrainConfig {
        epochs: 20,
        augmentation: mown_data::Augmentation { pad_crop: 1, horizontal_flip: false },
        ..base()
    };
    let cfg = ExtractConfig {
        student: Arch::ArcC,
        level: AccessLevel::Probabilities,
        budget: 20 * 500,
        train: live,
        device: Device::flex(),
        temperature: 1.0,
        mix: 0,
    };
    let mut api = Recorder::new(LocalModel::new(victim.clone(), AccessLevel::Probabilities, None));
    let stolen = extract(&mut api, &data.attacker, &cfg).unwrap();
    // 500 images, each sent once per epoch, in the training batches.
    assert_eq!((stolen.queries_used, api.queries_used(), api.sent.len()), (10_000, 10_000, 10_000));
    // Each epoch crops anew: the victim sees far more distinct images than the thief holds (500;
    // a 1-pixel crop has 9 offsets, so at most 4,500).
    let distinct: std::collections::BTreeSet<_> = api.sent.iter().collect();
    assert!(distinct.len() > 3000, "{} distinct queries of 10,000", distinct.len());
    // The copy learned the victim from the fresh answers (measured 0.96; at 6 epochs, 0.36).
    let fidelity = stolen.model.agreement(&victim, data.test.images()).unwrap();
    assert!(fidelity > 0.9, "live copy agrees with the victim on {fidelity} of the test digits");
    // The victim's budget caps the images, not the epochs: 1,010 queries over 20 epochs = 50 images.
    let mut tight = LocalModel::new(victim.clone(), AccessLevel::Probabilities, Some(1010));
    assert_eq!(extract(&mut tight, &data.attacker, &cfg).unwrap().queries_used, 1000);
    // Less than one image per epoch is refused before anything is sent.
    let mut tiny = LocalModel::new(victim.clone(), AccessLevel::Probabilities, Some(19));
    let err = extract(&mut tiny, &data.attacker, &cfg).err().unwrap().to_string();
    assert!(err.contains("less than one image"), "{err}");
    assert_eq!(tiny.queries_used(), 0);
    // A victim that fails mid-training (after 1,000 answered images, in epoch 3) stops the
    // attack at once, with its own error.
    let mut flaky = Recorder::new(LocalModel::new(victim.clone(), AccessLevel::Probabilities, None));
    flaky.fail_after = Some(1000);
    let err = extract(&mut flaky, &data.attacker, &cfg).err().unwrap();
    assert!(matches!(err, mown_adversary::AttackError::Access(_)), "{err}");
    assert!(err.to_string().contains("connection reset"), "{err}");
    assert_eq!((flaky.sent.len(), flaky.asked_after_failing), (1000, 1), "no query after the failing one");
    // So does one that never gives what the thief asks for (probabilities from a labels API).
    let mut labels_only = LocalModel::new(victim.clone(), AccessLevel::Labels, None);
    let err = extract(&mut labels_only, &data.attacker, &cfg).err().unwrap().to_string();
    assert!(err.contains("not available"), "{err}");
    for (bad, needle) in [
        (ExtractConfig { mix: 2, ..cfg.clone() }, "use one"),
        (ExtractConfig { train: TrainConfig { epochs: 0, ..cfg.train.clone() }, ..cfg }, "at least 1"),
    ] {
        let err = extract(&mut api, &data.attacker, &bad).err().unwrap().to_string();
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn a_second_zoo_run_trains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zoo.toml");
    std::fs::write(
        &config,
        r#"
victim = "train(mlp,digits,seed=1,epochs=2,part=1/2)"
stolen = ["ftal(1)", "prune(w,0.3)", "extract(mlp,topk:3,noise,budget=200,epochs=1)"]
independent = ["train(mlp,digits,seed=5,epochs=2,part=2/2)"]
[training]
batch_size = 64
"#,
    )
    .unwrap();
    let zoo = Zoo::load(&config).unwrap();
    assert_eq!(zoo.members().len(), 5);
    let mut first = Builder::new(Some(zoo.cache_dir.clone()), Device::flex(), base());
    let entries = zoo.build(&mut first, |_| {}).unwrap();
    assert_eq!(first.trained, 5);
    assert_eq!(entries[0].role, Role::Victim);
    assert!((entries[0].fidelity - 1.0).abs() < 1e-12);
    assert!(entries.iter().any(|e| e.queries_used == 200));
    // A copy cached before copies recorded their task's dataset reads back with it.
    let copy: Chain =
        "train(mlp,digits,seed=1,epochs=2,part=1/2)-extract(mlp,topk:3,noise,budget=200,epochs=1)".parse().unwrap();
    let cached = first.cache_path(&copy).unwrap();
    let mut old = mown_nn::io::load(&cached, &Device::flex()).unwrap();
    assert_eq!(old.meta.provenance.dataset, "digits");
    old.meta.provenance.dataset.clear();
    mown_nn::io::save(&old, &cached).unwrap();
    let mut second = Builder::new(Some(zoo.cache_dir.clone()), Device::flex(), base());
    let again = zoo.build(&mut second, |_| {}).unwrap();
    assert_eq!(second.trained, 0, "second run retrained something");
    assert!(again.iter().all(|e| e.from_cache));
    for (a, b) in entries.iter().zip(&again) {
        assert_eq!(a.accuracy, b.accuracy);
        assert_eq!(a.queries_used, b.queries_used);
    }
    let reread = second.build(&copy).unwrap();
    assert!(reread.from_cache && second.trained == 0, "the copy was rebuilt, not read from the cache");
    assert_eq!(reread.model.meta.provenance.dataset, "digits");
    // ...and the cached file now names it too (zoo.json lists it for `mown eval`).
    assert_eq!(mown_nn::io::load(&cached, &Device::flex()).unwrap().meta.provenance.dataset, "digits");
}

#[test]
fn a_cache_shared_by_differently_trained_zoos_keeps_their_models_apart() {
    let dir = tempfile::tempdir().unwrap();
    let chain: Chain = "train(mlp,digits,seed=1,epochs=1)".parse().unwrap();
    let zoo_default = mown_adversary::zoo::TrainingDefaults::default().train_config();
    let mut plain = Builder::new(Some(dir.path().to_path_buf()), Device::flex(), zoo_default.clone());
    // The zoo's default training keeps the file name the cache has always used.
    let path = plain.cache_path(&chain).unwrap();
    let hash = hex::encode(sha2::Sha256::digest(chain.to_string().as_bytes()));
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(name, format!("train_mlp_digits_seed_1_epochs_1_-{}.safetensors", &hash[..16]));
    let first = plain.build(&chain).unwrap();
    assert!(!first.from_cache);
    // Another weight decay is another model: trained anew, cached beside the first.
    let lighter = TrainConfig { weight_decay: 1e-4, ..zoo_default.clone() };
    let mut other = Builder::new(Some(dir.path().to_path_buf()), Device::flex(), lighter);
    assert_ne!(other.cache_path(&chain).unwrap(), path);
    let second = other.build(&chain).unwrap();
    assert!(!second.from_cache && other.trained == 1, "a model trained another way came from the cache");
    let sha = |m: &mown_nn::Model| mown_nn::io::model_sha256(m).unwrap();
    assert_ne!(sha(&second.model), sha(&first.model));
    // Seeds, epochs and progress bars are the chain's or the caller's business: same key.
    let noisy = TrainConfig { progress: true, seed: 9, epochs: 77, ..zoo_default };
    let mut again = Builder::new(Some(dir.path().to_path_buf()), Device::flex(), noisy);
    assert!(again.build(&chain).unwrap().from_cache);
}

#[test]
fn copies_of_a_root_without_a_dataset_record_their_chains_task() {
    // eval-watermark's owners are such roots: models built outside a chain, named by hand.
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::new(Some(dir.path().to_path_buf()), Device::flex(), base());
    let victim: Chain = "train(mlp,digits,seed=1,epochs=1,part=1/2)".parse().unwrap();
    let mut root = b.build(&victim).unwrap().model;
    root.meta.provenance.dataset.clear();
    let steps = Chain::parse_attack("prune(w,0.3)").unwrap();
    let fresh = b.build_on("owner", &root, &victim.steps[0], &steps).unwrap();
    assert!(!fresh.from_cache);
    assert_eq!(fresh.model.meta.provenance.dataset, "digits");
    let cached = b.build_on("owner", &root, &victim.steps[0], &steps).unwrap();
    assert!(cached.from_cache);
    assert_eq!(cached.model.meta.provenance.dataset, "digits");
}

#[test]
fn bad_zoo_configs_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    for (text, needle) in [
        ("victim = \"train(mlp,digits)\"\nstolen = [\"prune(w,2)\"]", "[0, 1)"),
        ("victim = \"train(mlp,digits)-ftal(1)\"", "single train"),
        ("victim = \"train(mlp,digits)\"\nindependent = [\"train(mlp,digits)\"]", "victim itself"),
        ("victim = \"train(mlp,digits)\"\nstoeln = []", "stoeln"),
        ("victim = ", "bad.toml"),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = Zoo::load(&path).err().unwrap().to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

/// A model trained by `mown train --data mnist` records its data as `mnist:<dir>`; the builder
/// loads that form from the directory it names (so a missing one is a data error naming it), and
/// still rejects data kinds it does not know.
#[test]
fn builder_takes_recorded_sources_with_their_directory() {
    let mut b = Builder::new(None, Device::flex(), base());
    let (train, _) = b.dataset("digits").unwrap();
    assert!(!train.is_empty());
    let missing = b.dataset("mnist:/nonexistent/mnist-dir").map(|_| ()).unwrap_err().to_string();
    assert!(missing.contains("/nonexistent/mnist-dir"), "{missing}");
    let unknown = b.dataset("imagenet:/somewhere").map(|_| ()).unwrap_err().to_string();
    assert!(unknown.contains("unknown dataset"), "{unknown}");
}

/// A model mown did not train roots a zoo by its SHA-256 (here a mown file and an ONNX export of
/// another model, imported on the fly): copies derive from it, a second build reads everything
/// from the cache, and a root no given file matches, or one claiming another task, is refused.
#[test]
fn a_zoo_rooted_at_a_given_model_derives_copies_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let mut b = Builder::new(None, device.clone(), base());
    let owner = b.build(&"train(mlp,digits,seed=9,epochs=3,part=1/2)".parse().unwrap()).unwrap().model;
    let other = b.build(&"train(lenet5,digits,seed=4,epochs=3,part=2/2)".parse().unwrap()).unwrap().model;
    mown_nn::io::save(&owner, &dir.path().join("owner.safetensors")).unwrap();
    mown_access::onnx::export_onnx(&other, &dir.path().join("other.onnx")).unwrap();
    let owner_sha = mown_nn::io::model_sha256(&owner).unwrap();
    let imported = mown_access::onnx::import_onnx(
        &dir.path().join("other.onnx"),
        &mown_access::onnx::ImportOptions::default(),
        &device,
    )
    .unwrap()
    .model;
    let other_sha = mown_nn::io::model_sha256(&imported).unwrap();
    // An unreadable file among them is passed over, and named only if no file matches.
    std::fs::write(dir.path().join("junk.safetensors"), b"not a model").unwrap();
    let zoo_file = |victim: &str| {
        let path = dir.path().join("zoo.toml");
        std::fs::write(
            &path,
            format!(
                "victim = \"{victim}\"\nstolen = [\"ftal(1)\"]\nindependent = [\"model({other_sha},digits,seed=2)\"]\n\
                 models = [\"junk.safetensors\", \"owner.safetensors\", \"other.onnx\"]\n[training]\nbatch_size = 64\n"
            ),
        )
        .unwrap();
        Zoo::load(&path).unwrap()
    };
    let zoo = zoo_file(&format!("model({owner_sha},digits,seed=1,part=1/2)"));
    let mut first = zoo.builder(device.clone());
    let entries = zoo.build(&mut first, |_| {}).unwrap();
    // The victim is the given file itself, not a retrained model; only the copy is trained.
    let victim = first.build(&zoo.victim).unwrap().model;
    assert_eq!(mown_nn::io::model_sha256(&victim).unwrap(), owner_sha);
    assert_eq!(first.trained, 3, "victim and independent read, the copy derived: {entries:?}");
    let test = first.step_data(&zoo.victim.steps[0]).unwrap().test;
    assert_eq!(entries[0].accuracy, owner.accuracy(&test).unwrap());
    let independent = entries.iter().find(|e| e.role == Role::Independent).unwrap();
    // The import is the model it came from (logits within float rounding: a tie may flip a label).
    assert!((independent.accuracy - other.accuracy(&test).unwrap()).abs() < 0.01, "{entries:?}");
    let copy = entries.iter().find(|e| e.role == Role::Stolen).unwrap();
    assert!(copy.name.starts_with(&format!("model({owner_sha},digits,seed=1,part=1/2)-ftal(1")), "{}", copy.name);
    assert!(copy.fidelity > independent.fidelity, "{entries:?}");
    let mut second = zoo.builder(device.clone());
    assert!(zoo.build(&mut second, |_| {}).unwrap().iter().all(|e| e.from_cache));
    assert_eq!(second.trained, 0);
    // No file with that hash; a file whose classes are not the claimed task's.
    let unknown = zoo_file(&format!("model({},digits)", "0".repeat(64)));
    let err = unknown.build(&mut unknown.builder(device.clone()), |_| {}).unwrap_err().to_string();
    assert!(err.contains("none of the model files") && err.contains("junk.safetensors"), "{err}");
    // The same file under another seed is still the victim.
    let path = dir.path().join("zoo.toml");
    std::fs::write(
        &path,
        format!(
            "victim = \"model({owner_sha},digits,seed=1)\"\nindependent = [\"model({owner_sha},digits,seed=7)\"]\n"
        ),
    )
    .unwrap();
    let err = Zoo::load(&path).err().expect("refused").to_string();
    assert!(err.contains("is the victim itself"), "{err}");
    let wrong = zoo_file(&format!("model({owner_sha},digits[0-4])"));
    let err = wrong.build(&mut wrong.builder(device), |_| {}).unwrap_err().to_string();
    assert!(err.contains("classes"), "{err}");
}
