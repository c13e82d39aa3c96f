//! External features (seed 001) on the embedded digits: the paper's white-box meta-classifier
//! beside the black-box twins verifier, on one arc-c owner, judged against the same independent
//! arc-c models (the meta-classifier reads only the owner's architecture). Prints each copy's
//! verdict against all independents and Definition 2 (the suspect against the benign reference),
//! then the false-positive rate leave-one-out over the independents, for both verifiers.
//!   cargo run --release -p mown-methods --example extfeat_meta_digits -- [protocol=honest|paper]
//!     [benign=3] [independents=10] [seed=1] [style=multistyle26:19:4]

use std::sync::Arc;
use std::time::Instant;

use mown_adversary::Chain;
use mown_adversary::build::{Builder, StepData};
use mown_data::DataSource;
use mown_eval::{Decision, Policy};
use mown_methods::Evidence;
use mown_methods::extfeat::meta::{Protocol, Verifier};
use mown_methods::extfeat::{ExtFeatKey, ExtFeatParams, embed, style};
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
    let n_independent: usize = opt(&args, "independents", "10").parse()?;
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
    let spec = ModelSpec::new(Arch::ArcC, train.shape, train.num_classes)?;
    let mut meta = ModelMeta::for_dataset(spec, &train)?;
    meta.provenance.derivation = format!("train(arc-c,digits,seed={seed},epochs=30)");
    meta.provenance.dataset = "digits".into();
    let mut p = ExtFeatParams { seed, verifier: Verifier::Meta, ..ExtFeatParams::default() };
    p.style = opt(&args, "style", "multistyle26:19:4").parse()?;
    p.meta.protocol = if opt(&args, "protocol", "honest") == "paper" { Protocol::Paper } else { Protocol::Honest };
    p.meta.benign = opt(&args, "benign", if p.meta.protocol == Protocol::Paper { "1" } else { "3" }).parse()?;
    let t0 = Instant::now();
    let transform = style::open(&p.style, None)?;
    let (owner, meta_key) = embed(Model::init(meta, &device, seed), &train, &test, &cfg, &p, transform.as_ref())?;
    let fitted = meta_key.meta.as_ref().ok_or("no meta-classifier")?;
    println!(
        "# {} ({:.1} s): owner accuracy {:.4}, stylised {:.4}; {} gradient features; classifier {}; P(stolen) owner {:.3}, \
         benign reference {:.3}",
        meta_key.method(),
        t0.elapsed().as_secs_f64(),
        meta_key.stats["clean_accuracy"],
        meta_key.stats["stylised_accuracy"],
        fitted.feature_width,
        fitted.stats["classifier"],
        fitted.stats["owner_mean_score"],
        fitted.stats["reference_mean_score"]
    );
    println!("# timings {}", meta_key.timings);
    let mut twins_key: ExtFeatKey = meta_key.clone();
    twins_key.params.verifier = Verifier::Twins;
    twins_key.method = "extfeat".into();
    let data =
        StepData { owner: Arc::new(train.clone()), attacker: Arc::new(train.clone()), test: Arc::new(test.clone()) };
    let mut b = Builder::new(None, device.clone(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let mut copies = vec![("the owner itself".to_string(), owner.clone())];
    for recipe in [
        "ftal(2)",
        "prune(w,0.5,ft=2)",
        "distill(arc-c,epochs=20)",
        "extract(arc-c,probs,same,budget=1000,epochs=20)",
        "extract(arc-c,labels,same,budget=1000,epochs=20)",
    ] {
        let mut m = owner.clone();
        for (i, step) in Chain::parse_attack(recipe)?.iter().enumerate() {
            m = b.derive(&m, step, &data, mown_nn::seed::derive(seed, 10 + i as u64))?.0;
        }
        copies.push((recipe.to_string(), m));
    }
    // Independent arc-c models: other seeds, other data halves, other epochs; none seen by the
    // classifier (its benign models are seeded from the key's seed with another stream).
    let mut independents = Vec::new();
    for i in 0..n_independent {
        let part = ["1/2", "2/2", "4/4"][i % 3];
        let chain: Chain =
            format!("train(arc-c,digits,seed={},epochs={},part={part})", seed + 40 + i as u64, 20 + 5 * (i % 3))
                .parse()?;
        independents.push((chain.to_string(), b.build(&chain)?.model));
    }
    for key in [&meta_key, &twins_key] {
        let ev: &dyn Evidence = key;
        // The twins verifier reads any architecture, so one family of negatives would make it
        // INCONCLUSIVE by the family rule; for a comparison on the same negatives it is judged
        // by the pooled calibration alone (the meta-classifier is exempt by construction).
        let policy = Policy { family_bound: key.params.verifier == Verifier::Meta, ..Policy::default() };
        println!(
            "\n## {}: copies against all {} independent arc-c models{}",
            ev.method(),
            independents.len(),
            if policy.family_bound { "" } else { " (pooled calibration, family bound off)" }
        );
        for (name, m) in &copies {
            let started = Instant::now();
            let v = verify_models(ev, (name, m.clone()), independents.clone(), &policy)?;
            let d2 = &v.details["definition_2"]["result"];
            println!(
                "{:<13} score {:+.4} p {:.2e} threshold {:+.4}{}  ({:.1} s) {name}",
                v.decision.to_string(),
                v.score,
                v.p_value.unwrap_or(f64::NAN),
                v.threshold.as_ref().map_or(f64::NAN, |t| t.value),
                if d2.is_null() {
                    String::new()
                } else {
                    format!(
                        "  def2 dmu {:+.3} p {:.1e}",
                        d2["delta_mu"].as_f64().unwrap_or(f64::NAN),
                        d2["p_harmonic"].as_f64().unwrap_or(f64::NAN)
                    )
                },
                started.elapsed().as_secs_f64()
            );
        }
        println!("## {}: independents, leave-one-out", ev.method());
        let mut false_positives = 0;
        let mut def2_positives = 0;
        for (i, (name, m)) in independents.iter().enumerate() {
            let others: Vec<(String, Model)> =
                independents.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| x.clone()).collect();
            let v = verify_models(ev, (name, m.clone()), others, &policy)?;
            false_positives += usize::from(v.decision == Decision::Stolen);
            let d2 = &v.details["definition_2"]["result"];
            def2_positives += usize::from(d2["p_harmonic"].as_f64().is_some_and(|p| p < 0.01));
            println!(
                "{:<13} score {:+.4} p {:.2e}{}  {name}",
                v.decision.to_string(),
                v.score,
                v.p_value.unwrap_or(f64::NAN),
                if d2.is_null() {
                    String::new()
                } else {
                    format!(
                        "  def2 dmu {:+.3} p {:.1e}",
                        d2["delta_mu"].as_f64().unwrap_or(f64::NAN),
                        d2["p_harmonic"].as_f64().unwrap_or(f64::NAN)
                    )
                }
            );
        }
        println!(
            "# {}: FPR {false_positives}/{} (95% upper bound {:.3}){}",
            ev.method(),
            independents.len(),
            mown_eval::fpr_upper_bound(false_positives, independents.len(), 0.95)?,
            if key.params.verifier == Verifier::Meta {
                format!("; Definition 2 alone (p < 0.01) flags {def2_positives}/{}", independents.len())
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
