//! Seed 001's Tables 3 and 6 in shape, on the embedded digits: for each method that trains the
//! owner (external features with a style or a patch, BadNets), one arc-c owner, its copies by
//! every stealing type of the paper (source, fine-tuning, distillation, data-free distillation,
//! label- and logit-query extraction), and the same independent models of four families (plus
//! the owner's twin trained without the method), every verdict by the one rule.
//!   cargo run --release -p mown-methods --example table6_digits -- [methods=extfeat;badnets;extfeat[style=patch]]
//!     [seed=1] [dfad_iters=200]

use std::sync::Arc;
use std::time::Instant;

use mown_adversary::Chain;
use mown_adversary::build::{Builder, StepData};
use mown_data::DataSource;
use mown_eval::{Decision, Policy};
use mown_methods::registry::{OwnerInputs, from_spec};
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
    let dfad_iters: usize = opt(&args, "dfad_iters", "200").parse()?;
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
    let data =
        StepData { owner: Arc::new(train.clone()), attacker: Arc::new(train.clone()), test: Arc::new(test.clone()) };
    let mut b = Builder::new(None, device.clone(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let (twin, _) = mown_nn::train::train(fresh()?, &train, None, &cfg)?;
    let mut independents = vec![(format!("twin: train(arc-c,digits,seed={seed},epochs=30)"), twin)];
    for (i, arch) in ["mlp", "lenet5", "arc-b", "arc-e", "resnet20", "mlp", "lenet5", "arc-b", "arc-e", "resnet20"]
        .iter()
        .enumerate()
    {
        let chain: Chain = format!("train({arch},digits,seed={},epochs=20)", seed + 20 + i as u64).parse()?;
        independents.push((chain.to_string(), b.build(&chain)?.model));
    }
    let recipes = [
        ("fine-tuning", "ftal(2)".to_string()),
        ("pruning", "prune(w,0.5,ft=2)".to_string()),
        ("distillation", "distill(lenet5,epochs=20)".to_string()),
        ("data-free (DFAD)", format!("dfad(arc-c,iters={dfad_iters},batch=128)")),
        ("data-free (DFAD)", format!("dfad(lenet5,iters={dfad_iters},batch=128)")),
        ("label-query", "extract(arc-c,labels,same,budget=1000,epochs=20)".to_string()),
        ("logit-query", "extract(arc-c,probs,same,budget=1000,epochs=20)".to_string()),
    ];
    let policy = Policy::default();
    let methods = opt(&args, "methods", "extfeat;badnets;extfeat[style=patch]");
    for spec in methods.split(';').filter(|s| !s.trim().is_empty()) {
        let t0 = Instant::now();
        let model = fresh()?;
        let made = from_spec(spec)?.generate(&OwnerInputs::new(&model, &train, &test, &cfg))?;
        let owner = made.owner.ok_or("the method returned no owner")?;
        let key = made.evidence;
        println!("\n## {spec}: {} ({:.1} s)", made.summary, t0.elapsed().as_secs_f64());
        println!(
            "{:<18} {:<13} {:>8} {:>9} {:>9} {:>6}  suspect",
            "stealing type", "verdict", "score", "p", "threshold", "fid."
        );
        let mut rows = vec![("source".to_string(), "the owner itself".to_string(), owner.clone())];
        for (kind, recipe) in &recipes {
            let started = Instant::now();
            let mut m = owner.clone();
            for (i, step) in Chain::parse_attack(recipe)?.iter().enumerate() {
                m = b.derive(&m, step, &data, mown_nn::seed::derive(seed, 10 + i as u64))?.0;
            }
            eprintln!("{recipe}: {:.1} s", started.elapsed().as_secs_f64());
            rows.push((kind.to_string(), recipe.clone(), m));
        }
        for (kind, name, m) in &rows {
            let v = verify_models(key.as_ref(), (name, m.clone()), independents.clone(), &policy)?;
            println!(
                "{kind:<18} {:<13} {:>+8.4} {:>9.2e} {:>+9.4} {:>6.3}  {name}",
                v.decision.to_string(),
                v.score,
                v.p_value.unwrap_or(f64::NAN),
                v.threshold.as_ref().map_or(f64::NAN, |t| t.value),
                m.agreement(&owner, test.images())?
            );
        }
        let mut false_positives = 0;
        for (i, (name, m)) in independents.iter().enumerate() {
            let others: Vec<(String, Model)> =
                independents.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| x.clone()).collect();
            let v = verify_models(key.as_ref(), (name, m.clone()), others, &policy)?;
            false_positives += usize::from(v.decision == Decision::Stolen);
            println!(
                "{:<18} {:<13} {:>+8.4} {:>9.2e} {:>9} {:>6}  {name}",
                "independent",
                v.decision.to_string(),
                v.score,
                v.p_value.unwrap_or(f64::NAN),
                "(l-o-o)",
                ""
            );
        }
        println!(
            "# {}: FPR {false_positives}/{} leave-one-out (95% upper bound {:.3})",
            key.method(),
            independents.len(),
            mown_eval::fpr_upper_bound(false_positives, independents.len(), 0.95)?
        );
    }
    Ok(())
}
