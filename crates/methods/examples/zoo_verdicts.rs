//! Verdicts by the one decision rule on a zoo (issue #26): each method's false-positive rate on
//! the independent models, leave-one-out (every independent judged against the other ones), and
//! its detections of the stolen models against all independents, with and without the bound for
//! an unseen family.
//!   cargo run --release -p mown-methods --example zoo_verdicts -- bench/zoo-fmnist-cpu.toml [N_AKH]

use mown_adversary::zoo::Zoo;
use mown_eval::{Decision, Policy};
use mown_methods::Evidence;
use mown_methods::verify::verify_models;
use mown_nn::Model;
use mown_nn::burn::prelude::Device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let zoo = Zoo::load(std::path::Path::new(args.get(1).map_or("bench/zoo-fmnist-cpu.toml", String::as_str)))?;
    let n_akh: usize = args.get(2).map_or(Ok(100), |s| s.parse())?;
    let mut b = zoo.builder(Device::flex());
    let victim = b.build(&zoo.victim)?.model;
    let data = b.step_data(&zoo.victim.steps[0])?;
    let test = data.test.clone();
    let mut stolen: Vec<(String, Model, f64)> = Vec::new();
    for c in &zoo.stolen {
        let m = b.build(c)?.model;
        let fidelity = m.agreement(&victim, test.images())?;
        stolen.push((c.to_string(), m, fidelity));
    }
    let independents: Vec<(String, Model)> = zoo
        .independent
        .iter()
        .map(|c| Ok((c.to_string(), b.build(c)?.model)))
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let mut evidence: Vec<Box<dyn Evidence>> = vec![
        Box::new(mown_methods::akh::generate(
            &victim,
            &data.owner,
            &data.test,
            &mown_methods::akh::AkhParams { n: n_akh, ..Default::default() },
        )?),
        Box::new(mown_methods::sac::generate(&victim, &data.owner, &data.test, &Default::default())?),
    ];
    // IPGuard with k = auto, the default: scaled to the victim's logits.
    let cfg = Default::default();
    let inputs = mown_methods::registry::OwnerInputs::new(&victim, &data.owner, &data.test, &cfg);
    evidence.push(mown_methods::registry::method("ipguard", &[])?.generate(&inputs)?.evidence);
    for (name, policy) in
        [("bounded", Policy::default()), ("pooled", Policy { family_bound: false, ..Policy::default() })]
    {
        for e in &evidence {
            let mut false_positives = Vec::new();
            let mut inconclusive = 0;
            for (i, (suspect, model)) in independents.iter().enumerate() {
                let others: Vec<(String, Model)> =
                    independents.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| x.clone()).collect();
                let v = verify_models(e.as_ref(), (suspect, model.clone()), others, &policy)?;
                match v.decision {
                    Decision::Stolen => false_positives.push(suspect.clone()),
                    Decision::Inconclusive => inconclusive += 1,
                    Decision::NotStolen => {}
                }
            }
            let fp = false_positives.len();
            let bound = mown_eval::fpr_upper_bound(fp, independents.len(), 0.95)?;
            println!(
                "[{name}] {}: FPR {fp}/{} (95% upper bound {bound:.3}), {inconclusive} inconclusive {:?}",
                e.method(),
                independents.len(),
                false_positives
            );
            for (suspect, model, fidelity) in &stolen {
                let v = verify_models(e.as_ref(), (suspect, model.clone()), independents.clone(), &policy)?;
                let short = suspect.strip_prefix(&format!("{}-", zoo.victim)).unwrap_or(suspect);
                println!(
                    "    {:<13} score {:.4} p {:.2e} threshold {:.4}  fidelity {fidelity:.3}  {short}",
                    v.decision.to_string(),
                    v.score,
                    v.p_value.unwrap_or(f64::NAN),
                    v.threshold.as_ref().map_or(f64::NAN, |t| t.value)
                );
            }
        }
    }
    Ok(())
}
