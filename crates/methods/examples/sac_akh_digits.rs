//! SAC-w, SAC-m (probabilities and labels) and AKH on the embedded digits: each variant's score on
//! copies (extraction with labels and probabilities, distillation, fine-tuning, pruning) and on
//! independent models of five families, with the ROC AUC copies vs independents.
//!   cargo run --release -p mown-methods --example sac_akh_digits -- [CACHE_DIR] [N] [BLOCK]
//! Models are cached by derivation chain in CACHE_DIR (default target/sac-akh-cache).

use mown_access::{AccessLevel, LocalModel};
use mown_adversary::build::Builder;
use mown_methods::Evidence;
use mown_methods::akh::{AkhParams, generate as akh};
use mown_methods::probes::MistakeParams;
use mown_methods::sac::{SacParams, SacProbes, generate as sac};
use mown_nn::TrainConfig;
use mown_nn::burn::prelude::Device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let cache = args.get(1).cloned().unwrap_or_else(|| "target/sac-akh-cache".into());
    let n: usize = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let block: usize = args.get(3).map_or(Ok(20), |s| s.parse())?;
    let mut b =
        Builder::new(Some(cache.into()), Device::flex(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let root = "train(arc-c,digits,seed=1,epochs=30,part=1/2)";
    let root_chain: mown_adversary::Chain = root.parse()?;
    let owner = b.build(&root_chain)?.model;
    let data = b.step_data(&root_chain.steps[0])?;
    let copies: Vec<String> = [
        "extract(mlp,labels,same,budget=1000,epochs=20)",
        "extract(lenet5,labels,same,budget=1000,epochs=20)",
        "extract(arc-c,labels,same,budget=1000,epochs=20)",
        "extract(arc-b,labels,same,budget=500,epochs=20)",
        "extract(mlp,probs,same,budget=1000,epochs=20)",
        "extract(lenet5,topk:3,same,budget=1000,epochs=20)",
        "distill(lenet5)",
        "distill(mlp)",
        "ftal(2)",
        "prune(w,0.5,ft=1)",
    ]
    .iter()
    .map(|a| format!("{root}-{a}"))
    .collect();
    let mut independents = Vec::new();
    for (i, arch) in ["mlp", "lenet5", "arc-b", "arc-c", "arc-d"].iter().enumerate() {
        for (j, part) in ["part=2/2", "part=2/2,opt=adam", "part=1/2"].iter().enumerate() {
            independents.push(format!("train({arch},digits,seed={},epochs=20,{part})", 100 + 10 * i + j));
        }
    }
    let mut models = Vec::new();
    for c in copies.iter().chain(&independents) {
        let m = b.build(&c.parse()?)?.model;
        let agreement = m.agreement(&owner, data.test.images())?;
        models.push((c.clone(), copies.contains(c), m, agreement));
    }
    let no_aug = MistakeParams { augment: false, ..Default::default() };
    let sac_p = |probes, level, seed| SacParams { probes, n, block, level, seed, ..Default::default() };
    let mut evidence: Vec<Box<dyn Evidence>> = Vec::new();
    for level in [AccessLevel::Probabilities, AccessLevel::Labels] {
        for probes in [SacProbes::Wrong, SacProbes::CutMix] {
            evidence.push(Box::new(sac(&owner, &data.owner, &data.test, &sac_p(probes, level, 5))?));
        }
    }
    evidence.push(Box::new(akh(
        &owner,
        &data.owner,
        &data.test,
        &AkhParams { n: 100, seed: 5, ..Default::default() },
    )?));
    evidence.push(Box::new(akh(&owner, &data.owner, &data.test, &AkhParams { n: 100, mistakes: no_aug, seed: 5 })?));
    for e in &evidence {
        println!("== {} ==", e.method());
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for (name, stolen, m, agreement) in &models {
            let mut api = LocalModel::new(m.clone(), e.requires(), None);
            let measured = e.measure(&mut api)?;
            let s = measured.measurement.score();
            println!(
                "  {:<9} {s:.4} (agreement {agreement:.3}) {name} {}",
                if *stolen { "COPY" } else { "indep" },
                measured.details
            );
            if *stolen { pos.push(e.direction().orient(s)) } else { neg.push(e.direction().orient(s)) }
        }
        println!("  AUC {:.3}", mown_eval::roc_auc(&pos, &neg)?);
    }
    Ok(())
}
