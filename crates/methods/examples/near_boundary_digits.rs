//! Near-boundary evidence (seed 000) on the embedded digits: verdicts on copies of the
//! boundary-tuned owner and on independent models, with and without phase 3 (a quick look
//! before the Fashion-MNIST zoo of issue #27; not a test).
//!   cargo build --release --workspace --all-targets && target/release/examples/near_boundary_digits

use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_eval::Policy;
use mown_methods::near_boundary::{NearBoundaryParams, generate};
use mown_methods::verify::verify_models;
use mown_nn::burn::prelude::Device;
use mown_nn::{Model, TrainConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = Builder::new(None, Device::flex(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let root: Chain = "train(arc-c,digits,seed=1,epochs=15,part=1/2)".parse()?;
    let owner = b.build(&root)?.model;
    let data = b.step_data(&root.steps[0])?;
    let negatives: Vec<(String, Model)> = [
        "train(mlp,digits,seed=31,epochs=10,part=2/2,opt=adam)",
        "train(lenet5,digits,seed=32,epochs=10,part=1/2)",
        "train(arc-e,digits,seed=33,epochs=10,part=2/2)",
        "train(arc-c,digits,seed=34,epochs=10,part=2/2)",
    ]
    .iter()
    .map(|c| Ok((c.to_string(), b.build(&c.parse::<Chain>()?)?.model)))
    .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let recipes = [
        "ftal(1,lr=0.001)",
        "ftll(2)",
        "ftal(2)",
        "rtll(2)",
        "prune(w,0.3,ft=1)",
        "prune(w,0.5)",
        "distill(lenet5,epochs=15)",
        "extract(arc-c,probs,same,budget=800,epochs=15)",
        "extract(arc-c,labels,same,budget=800,epochs=15)",
    ];
    let independents = [
        "train(arc-c,digits,seed=41,epochs=10,part=2/2)",
        "train(lenet5,digits,seed=42,epochs=10,part=2/2)",
        "train(mlp,digits,seed=43,epochs=10,part=1/2)",
    ];
    let policy = Policy { family_bound: false, ..Policy::default() };
    let d = NearBoundaryParams::default();
    for (name, gan, finetune) in
        [("phases 1-3", true, true), ("phases 1 and 3 (no DCGAN)", false, true), ("phase 1 only", false, false)]
    {
        let p = NearBoundaryParams {
            source: 3,
            target: 5,
            seeds: 120,
            samples: 40,
            seed: 4,
            privatise: if gan { d.privatise.clone() } else { None },
            finetune: if finetune { d.finetune.clone() } else { None },
            ..Default::default()
        };
        let (evidence, tuned) = generate(&owner, &data.owner, &data.test, &p)?;
        println!("## {name}: {} ({})", evidence.stats, evidence.timings);
        // Distinct names: each variant's tuned owner is its own derivation root.
        let root_name = format!("owner-nb-{}{}", u8::from(gan), u8::from(finetune));
        for recipe in recipes {
            let steps = Chain::parse_attack(recipe)?;
            let copy = b.build_on(&root_name, &tuned, &root.steps[0], &steps)?.model;
            let v = verify_models(&evidence, (recipe, copy), negatives.clone(), &policy)?;
            // Seed 000's delta-mu = mu_S - mu (independents' mean minus the suspect's): ours negated.
            let dmu = -v.effect_size.as_ref().and_then(|e| e["delta_mu"].as_f64()).unwrap_or(f64::NAN);
            println!(
                "  copy         {:<13} mean d {:.4}  delta-mu {dmu:+.3}  p {:.2e}  {recipe}",
                v.decision.to_string(),
                v.score,
                v.p_value.unwrap_or(f64::NAN)
            );
        }
        for chain in independents {
            let m = b.build(&chain.parse()?)?.model;
            let v = verify_models(&evidence, (chain, m), negatives.clone(), &policy)?;
            println!(
                "  independent  {:<13} mean d {:.4}  p {:.2e}  {chain}",
                v.decision.to_string(),
                v.score,
                v.p_value.unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}
