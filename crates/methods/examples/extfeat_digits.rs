//! External features (seed 001, black-box variant) on the embedded digits: an arc-c owner trained
//! with a share of stylised images, its copies, and independent models of four families, every
//! verdict by the one decision rule (`verify_models`). Prints the accuracy cost against a twin
//! trained without the feature, each copy's verdict against all independents, and the
//! false-positive rate leave-one-out over the independents (the twin included).
//!   cargo run --release -p mown-methods --example extfeat_digits -- [style=multistyle26:19:4] [gamma=0.1] [seed=1]

use std::sync::Arc;
use std::time::Instant;

use mown_adversary::Chain;
use mown_adversary::build::{Builder, StepData};
use mown_data::DataSource;
use mown_eval::{Decision, Policy};
use mown_methods::registry::{OwnerInputs, method};
use mown_methods::verify::verify_models;
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, LrSchedule, Model, ModelMeta, ModelSpec, OptimizerKind, TrainConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Error = Box<dyn std::error::Error>;

fn opt(args: &[String], key: &str, default: &str) -> String {
    args.iter().find_map(|a| a.strip_prefix(&format!("{key}="))).unwrap_or(default).to_string()
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed: u64 = opt(&args, "seed", "1").parse()?;
    let device = Device::flex();
    let (train, test) = DataSource::Digits.load()?;
    let cfg = TrainConfig {
        epochs: 30,
        batch_size: 64,
        lr: 0.05,
        optimizer: OptimizerKind::Sgd { momentum: 0.9, nesterov: false },
        schedule: LrSchedule::Cosine,
        seed,
        ..TrainConfig::default()
    };
    let fresh = || -> Result<Model, Error> {
        let spec = ModelSpec::new(Arch::ArcC, train.shape, train.num_classes)?;
        let mut meta = ModelMeta::for_dataset(spec, &train)?;
        meta.provenance.derivation = format!("train(arc-c,digits,seed={seed},epochs=30)");
        meta.provenance.dataset = "digits".into();
        Ok(Model::init(meta, &device, seed))
    };
    let settings = vec![
        ("style".to_string(), opt(&args, "style", "multistyle26:19:4")),
        ("gamma".to_string(), opt(&args, "gamma", "0.1")),
        ("verify_images".to_string(), "200".to_string()),
        ("seed".to_string(), seed.to_string()),
    ];
    let t0 = Instant::now();
    let model = fresh()?;
    let inputs = OwnerInputs::new(&model, &train, &test, &cfg);
    let made = method("extfeat", &settings)?.generate(&inputs)?;
    let owner = made.owner.ok_or("extfeat returned no owner")?;
    let key = made.evidence;
    println!("# {} ({:.1} s)", made.summary, t0.elapsed().as_secs_f64());
    let (twin, _) = mown_nn::train::train(fresh()?, &train, None, &cfg)?;
    println!("# accuracy: owner {:.4}, twin without the feature {:.4}", owner.accuracy(&test)?, twin.accuracy(&test)?);
    let data =
        StepData { owner: Arc::new(train.clone()), attacker: Arc::new(train.clone()), test: Arc::new(test.clone()) };
    let mut b = Builder::new(None, device.clone(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let mut copies = Vec::new();
    for recipe in [
        "ftal(2)",
        "prune(w,0.5,ft=2)",
        "distill(lenet5,epochs=20)",
        "extract(arc-c,probs,same,budget=1000,epochs=20)",
        "extract(lenet5,probs,same,budget=1000,epochs=20)",
        "extract(arc-c,labels,same,budget=1000,epochs=20)",
    ] {
        let mut m = owner.clone();
        for (i, step) in Chain::parse_attack(recipe)?.iter().enumerate() {
            m = b.derive(&m, step, &data, mown_nn::seed::derive(seed, 10 + i as u64))?.0;
        }
        copies.push((recipe.to_string(), m));
    }
    let mut independents = vec![(format!("twin: train(arc-c,digits,seed={seed},epochs=30)"), twin)];
    for (i, arch) in ["mlp", "lenet5", "arc-b", "arc-e", "resnet20", "mlp", "lenet5", "arc-b", "arc-e", "resnet20"]
        .iter()
        .enumerate()
    {
        let chain: Chain = format!("train({arch},digits,seed={},epochs=20)", seed + 20 + i as u64).parse()?;
        independents.push((chain.to_string(), b.build(&chain)?.model));
    }
    let policy = Policy::default();
    println!("\n## copies against all {} independent models", independents.len());
    for (name, m) in &copies {
        let v = verify_models(key.as_ref(), (name, m.clone()), independents.clone(), &policy)?;
        println!(
            "{:<13} score {:+.4} p {:.2e} threshold {:+.4} agreement {:.3}  {name}",
            v.decision.to_string(),
            v.score,
            v.p_value.unwrap_or(f64::NAN),
            v.threshold.as_ref().map_or(f64::NAN, |t| t.value),
            m.agreement(&owner, test.images())?
        );
    }
    let own = verify_models(key.as_ref(), ("owner", owner.clone()), independents.clone(), &policy)?;
    println!(
        "{:<13} score {:+.4} p {:.2e}  the owner itself",
        own.decision.to_string(),
        own.score,
        own.p_value.unwrap_or(f64::NAN)
    );
    println!("\n## independents, leave-one-out");
    let mut false_positives = 0;
    for (i, (name, m)) in independents.iter().enumerate() {
        let others: Vec<(String, Model)> =
            independents.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| x.clone()).collect();
        let v = verify_models(key.as_ref(), (name, m.clone()), others, &policy)?;
        false_positives += usize::from(v.decision == Decision::Stolen);
        println!(
            "{:<13} score {:+.4} p {:.2e}  {name}",
            v.decision.to_string(),
            v.score,
            v.p_value.unwrap_or(f64::NAN)
        );
    }
    println!(
        "\n# {}: FPR {false_positives}/{} (95% upper bound {:.3})",
        key.method(),
        independents.len(),
        mown_eval::fpr_upper_bound(false_positives, independents.len(), 0.95)?
    );
    Ok(())
}
