//! `mown eval-method`: robustness, uniqueness, ARUC, ROC AUC and TPR at 1% FPR of ownership
//! methods over a zoo's stolen (positive) and independent (negative) models, and each method's
//! verdicts by the one rule (stolen models against all independents, independents leave-one-out).
//! Methods that change the owner get their own owner and copies (`eval_owner`).

use std::path::PathBuf;

use mown_adversary::AttackFamily;
use mown_adversary::build::Builder;
use mown_adversary::zoo::Zoo;
use mown_methods::registry::{self, OwnerEffect, OwnerInputs};
use mown_methods::uap::ReferenceRole;

use super::DeviceArgs;
use super::fingerprint::MethodFlags;

#[derive(clap::Args, Debug)]
pub struct EvalMethodArgs {
    /// Comma-separated methods of the registry (`mown methods`), each NAME or NAME[KEY=VALUE,...]:
    /// ipguard, cw-l2, fgsm, igsm, random, uap, sac-w, sac-m, akh (SAC on labels: sac-w[labels]).
    /// The parameter flags below apply to every listed method that has the parameter.
    pub methods: String,
    /// uap: attack recipes applied to the victim for the encoder's piracy references,
    /// ';'-separated (none of the zoo's own models may be among them).
    #[arg(long, value_delimiter = ';')]
    pub uap_piracy: Vec<String>,
    /// uap: train(...) chains of the encoder's homologous references, ';'-separated.
    #[arg(long, value_delimiter = ';')]
    pub uap_homologous: Vec<String>,
    /// The zoo (victim, stolen variants, independent models); built or loaded from its cache.
    #[arg(long)]
    pub zoo: PathBuf,
    /// The owner model to fingerprint, if not the zoo's victim (it must be the model the zoo's
    /// stolen variants derive from for the robustness figures to mean anything: its weights'
    /// SHA-256 is checked against the zoo victim's).
    #[arg(long)]
    pub victim: Option<PathBuf>,
    /// Fingerprint anyway when --victim differs from the zoo's victim (its stolen variants are
    /// then not copies of the fingerprinted model).
    #[arg(long)]
    pub allow_other_victim: bool,
    #[command(flatten)]
    pub flags: MethodFlags,
    /// Write the summaries (with the R/U curves and every score) as JSON here: `all` (every stolen
    /// model), `by_family` (post-processing, functionality stealing, adversarial training) and
    /// `verdicts` (each model's decision and p-value).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Significance level of the verdicts.
    #[arg(long, default_value_t = mown_eval::DEFAULT_ALPHA)]
    pub alpha: f64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: EvalMethodArgs) -> anyhow::Result<()> {
    let zoo = Zoo::load(&a.zoo)?;
    let device = a.device.device()?;
    let base = zoo.training.train_config();
    let mut builder = Builder::new(Some(zoo.cache_dir.clone()), device, base);
    let mut victim = builder.build(&zoo.victim)?.model;
    if let Some(path) = &a.victim {
        let given = mown_nn::io::load(path, &builder.device)?;
        let (want, got) = (mown_nn::io::model_sha256(&victim)?, mown_nn::io::model_sha256(&given)?);
        if want != got && !a.allow_other_victim {
            anyhow::bail!(
                "{} (sha256 {got}) is not the zoo's victim {} (sha256 {want}); the zoo's stolen models are not \
                 derived from it (pass --allow-other-victim to evaluate anyway)",
                path.display(),
                zoo.victim
            );
        }
        victim = given;
    }
    // (name, attack family or None for an independent model, model)
    let mut members = Vec::new();
    for chain in zoo.stolen.iter().chain(&zoo.independent) {
        let family = if zoo.stolen.contains(chain) {
            Some(chain.family().unwrap_or(AttackFamily::PostProcessing))
        } else {
            None
        };
        members.push((chain.to_string(), family, builder.build(chain)?.model));
    }
    let mut families: Vec<AttackFamily> = members.iter().filter_map(|m| m.1).collect();
    families.sort();
    families.dedup();
    let (mut summaries, mut by_family) = (Vec::new(), Vec::new());
    let (mut verdict_lines, mut verdict_json) = (Vec::new(), Vec::new());
    let data = builder.step_data(&zoo.victim.steps[0])?;
    let flags = a.flags.settings()?;
    for spec in registry::split_specs(&a.methods)? {
        let t0 = std::time::Instant::now();
        let (entry_name, _) = registry::parse_spec(&spec)?;
        let entry = registry::entry(&entry_name)?;
        // Shared flags go to the methods that take them; a spec's own settings are checked.
        let shared: Vec<(String, String)> =
            flags.iter().filter(|(k, _)| entry.params.iter().any(|p| p.key == k.replace('-', "_"))).cloned().collect();
        let method = registry::from_spec_with(&spec, &shared)?;
        let references = if entry.references { uap_references(&a, &zoo, &mut builder, &members)? } else { Vec::new() };
        // The evidence, and the stolen models of the owner it names.
        let (evidence, own_stolen) = if entry.effect == OwnerEffect::Reads {
            let cfg = zoo.training.train_config();
            let inputs = OwnerInputs::new(&victim, &data.owner, &data.test, &cfg).with_references(&references);
            let generated = method.generate(&inputs)?;
            eprintln!("{}", generated.summary);
            (generated.evidence, None)
        } else {
            let owner = super::eval_owner::method_owner(method.as_ref(), &zoo, &mut builder, &victim)?;
            eprintln!("{}", owner.summary);
            let root = zoo.victim.steps[0].clone();
            let mut copies = Vec::new();
            for chain in &zoo.stolen {
                let built = builder.build_on(&owner.name, &owner.model, &root, &chain.steps[1..])?;
                copies.push(built.model);
            }
            (owner.evidence, Some(copies))
        };
        let evidence = evidence.as_ref();
        // Members in zoo order; the stolen ones replaced by the method owner's copies.
        let models: Vec<&mown_nn::Model> = members
            .iter()
            .enumerate()
            .map(|(i, m)| match &own_stolen {
                Some(copies) if i < copies.len() => &copies[i],
                _ => &m.2,
            })
            .collect();
        let measured = super::eval_owner::measure_all(evidence, &models)?;
        let direction = evidence.direction();
        let scores: Vec<f64> = measured.iter().map(|m| direction.orient(m.measurement.score())).collect();
        let name = match direction {
            mown_eval::Direction::Higher => evidence.method(),
            mown_eval::Direction::Lower => format!("{} (-distance)", evidence.method()),
        };
        eprintln!("{name}: scored {} models in {:.1}s", members.len(), t0.elapsed().as_secs_f64());
        let (mut stolen_m, mut indep_m) = (Vec::new(), Vec::new());
        for ((member, family, model), m) in members.iter().zip(&measured) {
            match family {
                Some(_) => stolen_m.push((member.clone(), m.clone())),
                None => indep_m.push((member.clone(), Some(model.meta.spec.arch.family().to_string()), m.clone())),
            }
        }
        let policy = mown_eval::Policy { alpha: a.alpha, ..mown_eval::Policy::default() };
        let counts = super::eval_owner::verdicts(evidence, &stolen_m, &indep_m, &policy)?;
        verdict_lines.push(counts.line(&name, a.alpha)?);
        verdict_json.push(serde_json::json!({ "method": name, "verdicts": counts.to_json() }));
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for ((member, family, _), score) in members.iter().zip(scores) {
            match family {
                Some(f) => pos.push((*f, member.clone(), score)),
                None => neg.push((member.clone(), score)),
            }
        }
        let named = |keep: &dyn Fn(AttackFamily) -> bool| -> Vec<(String, f64)> {
            pos.iter().filter(|p| keep(p.0)).map(|p| (p.1.clone(), p.2)).collect()
        };
        summaries.push(mown_eval::summarize(&name, &named(&|_| true), &neg)?);
        for &family in &families {
            let label = format!("{} [{}]", name, family.name());
            by_family.push(mown_eval::summarize(&label, &named(&|f| f == family), &neg)?);
        }
    }
    println!("all stolen models against the independent ones:");
    print!("{}", mown_eval::summary_table(&summaries));
    if families.len() > 1 {
        // IPGuard's own zoo (seed 002 §4.1) is post-processing only; this row is the comparable one.
        println!("\nby attack family (each against all independent models):");
        print!("{}", mown_eval::summary_table(&by_family));
    }
    println!("\nverdicts by the one rule (stolen models against all independent ones; independents leave-one-out):");
    for line in &verdict_lines {
        println!("  {line}");
    }
    if let Some(path) = &a.json {
        let test = builder.step_data(&zoo.victim.steps[0])?.test;
        let mut fidelity = Vec::new();
        for (name, family, model) in &members {
            let agreement = model.agreement(&victim, test.images())?;
            fidelity.push(serde_json::json!({ "model": name, "stolen": family.is_some(), "agreement": agreement }));
        }
        let report = serde_json::json!({
            "all": summaries,
            "by_family": by_family,
            "verdicts": verdict_json,
            "agreement_with_victim": fidelity,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

/// UAP's encoder references (seed 003): copies made from the victim by `--uap-piracy` recipes and
/// homologous models of `--uap-homologous` chains, none of them a zoo member.
fn uap_references(
    a: &EvalMethodArgs,
    zoo: &Zoo,
    builder: &mut Builder,
    members: &[(String, Option<AttackFamily>, mown_nn::Model)],
) -> anyhow::Result<Vec<(String, ReferenceRole, mown_nn::Model)>> {
    let mut references = Vec::new();
    for recipe in &a.uap_piracy {
        let chain = zoo.victim.then(&mown_adversary::Chain::parse_attack(recipe)?);
        references.push((chain.to_string(), ReferenceRole::Piracy, builder.build(&chain)?.model));
    }
    for text in &a.uap_homologous {
        let chain: mown_adversary::Chain = text.parse()?;
        references.push((chain.to_string(), ReferenceRole::Homologous, builder.build(&chain)?.model));
    }
    if let Some(r) = references.iter().find(|r| members.iter().any(|m| m.0 == r.0)) {
        anyhow::bail!(
            "the encoder reference {} is also a zoo member: it would be judged by a verifier fitted on it",
            r.0
        );
    }
    Ok(references)
}
