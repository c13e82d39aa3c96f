//! Seed 000's dispute on the embedded digits (§5.3's ambiguity attacks): the owner's evidence
//! (phases 1-3) against a thief's forgeries made on the model the thief holds, and where the
//! data cannot settle it (then only claims time-stamped before the theft can). Not a test.
//!   cargo build --release --workspace --all-targets && target/release/examples/near_boundary_dispute

use mown_access::{AccessLevel, LocalModel};
use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_methods::near_boundary::{NearBoundaryEvidence, NearBoundaryParams, dispute, forgery, generate};
use mown_nn::burn::prelude::Device;
use mown_nn::{Model, TrainConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A claimant's evidence and the model it is disputed on, or why the thief could not make it.
type Forgery = Result<(NearBoundaryEvidence, Model), String>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut b = Builder::new(None, Device::flex(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let root: Chain = "train(arc-c,digits,seed=1,epochs=15,part=1/2)".parse()?;
    let owner = b.build(&root)?.model;
    let data = b.step_data(&root.steps[0])?;
    let p = NearBoundaryParams { source: 3, target: 5, seeds: 120, samples: 40, seed: 4, ..Default::default() };
    let (evidence, tuned) = generate(&owner, &data.owner, &data.test, &p)?;
    println!("owner evidence: {} ({})", evidence.privatisation, evidence.timings);
    let thief = NearBoundaryParams { seed: 9, ..p.clone() };
    let cw_only = NearBoundaryParams { privatise: None, finetune: None, ..thief.clone() };
    let eps: Vec<f64> = (1..=30).map(|i| 0.01 * i as f64).collect();
    for recipe in ["ftal(1,lr=0.001)", "prune(w,0.5)", "extract(arc-c,labels,same,budget=800,epochs=15)"] {
        let stolen = b.build_on("owner-nb", &tuned, &root.steps[0], &Chain::parse_attack(recipe)?)?.model;
        println!("## stolen by {recipe}");
        // Each forgery: the claimant's evidence and the model the dispute is about (the pipeline
        // forgery tunes the stolen model, and the thief deploys that one).
        let mut forgeries: Vec<(&str, Forgery)> = Vec::new();
        let natural = NearBoundaryParams { tau: 0.9, ..cw_only.clone() };
        forgeries.push((
            "natural images (tau 0.9)",
            forgery::natural(&stolen, &data.attacker, &natural).map(|e| (e, stolen.clone())).map_err(|e| e.to_string()),
        ));
        forgeries.push((
            "targeted FGSM",
            forgery::fgsm(&stolen, &data.attacker, &cw_only, &eps)
                .map(|e| (e, stolen.clone()))
                .map_err(|e| e.to_string()),
        ));
        forgeries.push((
            "CW-L2 (phase 1)",
            generate(&stolen, &data.attacker, &data.test, &cw_only)
                .map(|(e, _)| (e, stolen.clone()))
                .map_err(|e| e.to_string()),
        ));
        forgeries.push((
            "whole pipeline (phases 1-3)",
            generate(&stolen, &data.attacker, &data.test, &thief).map_err(|e| e.to_string()),
        ));
        for (what, forged) in forgeries {
            match forged {
                Err(e) => println!("  {what:<28} not available: {e}"),
                Ok((claim, disputed)) => {
                    let mut suspect = LocalModel::new(disputed, AccessLevel::Probabilities, None);
                    let o = dispute(&evidence, &claim, &mut suspect, 0.05)?;
                    println!(
                        "  {what:<28} winner {:<9} owner d {:.4}  claimant d {:.4}  delta-mu {:+.3}  p(owner) {:.2e}  p(claimant) {:.2e}",
                        format!("{:?}", o.winner),
                        o.owner_mean,
                        o.claimant_mean,
                        o.delta_mu,
                        o.p_owner_closer,
                        o.p_claimant_closer
                    );
                }
            }
        }
    }
    Ok(())
}
