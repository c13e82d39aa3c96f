//! What `mown bench methods` and `mown eval-method` need for methods that change the owner (watermarks trained in,
//! external features, near-boundary fine-tuning), and the verdicts it reports for every method.
//!
//! A method that trains the owner gets a fresh model from the zoo victim's train(...) step (same
//! architecture, data, seed and epochs); one that fine-tunes it starts from the victim. The zoo's
//! attack recipes are then applied to that owner (as `mown eval-watermark` does), so its stolen
//! rows are copies of the model its evidence names. Owner and evidence are cached under a name
//! made of the victim's chain, the method and a hash of its settings.

use anyhow::Context;
use mown_access::LocalModel;
use mown_adversary::Step;
use mown_adversary::build::Builder;
use mown_adversary::zoo::Zoo;
use mown_eval::{Decision, NegativeScore, Policy};
use mown_methods::registry::{Method, OwnerEffect, OwnerInputs};
use mown_methods::{Evidence, Measured};
use mown_nn::{Model, ModelMeta, ModelSpec, TrainConfig, io};
use sha2::{Digest, Sha256};

/// The owner a method made (or the cached one) and its evidence.
pub struct MethodOwner {
    pub name: String,
    pub model: Model,
    pub evidence: Box<dyn Evidence>,
    pub summary: String,
    /// Whether owner and evidence were loaded from the cache rather than made.
    pub from_cache: bool,
}

/// Generates (or loads from the zoo's cache) `method`'s owner and evidence.
pub fn method_owner(
    method: &dyn Method,
    zoo: &Zoo,
    builder: &mut Builder,
    victim: &Model,
) -> anyhow::Result<MethodOwner> {
    let settings = method.settings().to_string();
    let tag = hex::encode(Sha256::digest(settings.as_bytes()));
    let name = format!("{}-{}({})", zoo.victim, method.entry().name, &tag[..12]);
    // A zoo without a cache folder builds everything in memory.
    let path = builder.cache_path_for(&name);
    let evidence_path = path.as_ref().map(|p| p.with_extension("evidence.json"));
    let device = builder.device.clone();
    if let (Some(path), Some(evidence_path)) = (&path, &evidence_path)
        && let (Ok(model), Ok(evidence)) = (io::load(path, &device), mown_methods::evidence::load(evidence_path))
        && model.meta.provenance.derivation == name
        && io::model_sha256(&model).ok().as_deref() == Some(evidence.owner_sha256())
    {
        let summary = format!("{}: owner and evidence from the cache ({})", evidence.method(), path.display());
        return Ok(MethodOwner { name, model, evidence, summary, from_cache: true });
    }
    let root = zoo.victim.steps[0].clone();
    let Step::Train { arch, data: data_name, seed, epochs, .. } = &root else {
        anyhow::bail!("the zoo's victim must start with train(...)")
    };
    let data = builder.step_data(&root)?;
    let cfg = TrainConfig { epochs: *epochs, seed: *seed, ..zoo.training.train_config() };
    let start = match method.entry().effect {
        OwnerEffect::Trains => {
            let spec = ModelSpec::new(*arch, data.owner.shape, data.owner.num_classes)?;
            let mut meta = ModelMeta::for_dataset(spec, &data.owner)?;
            meta.provenance.derivation = zoo.victim.to_string();
            meta.provenance.dataset = data_name.clone();
            Model::init(meta, &device, *seed)
        }
        _ => victim.clone(),
    };
    let inputs = OwnerInputs::new(&start, &data.owner, &data.test, &cfg).with_clean(Some(victim));
    let generated = method.generate(&inputs)?;
    let mut model = generated.owner.context("the method changes the owner but returned none")?;
    model.meta.provenance.derivation = name.clone();
    // The evidence names the owner's weights, which a new derivation string does not change.
    if let (Some(path), Some(evidence_path)) = (&path, &evidence_path) {
        io::save(&model, path)?;
        generated.evidence.write(evidence_path)?;
    }
    Ok(MethodOwner { name, model, evidence: generated.evidence, summary: generated.summary, from_cache: false })
}

/// Every member measured once on `evidence`, as a white-box local model at the level it needs.
pub fn measure_all(evidence: &dyn Evidence, models: &[&Model]) -> anyhow::Result<Vec<Measured>> {
    models
        .iter()
        .map(|m| {
            let mut api = LocalModel::new((*m).clone(), evidence.requires(), None);
            Ok(evidence.measure(&mut api)?)
        })
        .collect()
}

/// Verdicts: each stolen model against all independent models, each independent model against
/// the others (leave-one-out), all by the one rule (`mown_methods::verify::judge`).
pub struct VerdictCounts {
    pub stolen: Vec<(String, Decision, Option<f64>)>,
    pub independent: Vec<(String, Decision, Option<f64>)>,
}

pub fn verdicts(
    evidence: &dyn Evidence,
    stolen: &[(String, Measured)],
    independent: &[(String, Option<String>, Measured)],
    policy: &Policy,
) -> anyhow::Result<VerdictCounts> {
    let negatives: Vec<NegativeScore> = independent
        .iter()
        .map(|(name, family, m)| NegativeScore {
            name: name.clone(),
            family: family.clone(),
            measurement: m.measurement.clone(),
        })
        .collect();
    let judge = |name: &str, m: &Measured, negs: &[NegativeScore]| -> anyhow::Result<(String, Decision, Option<f64>)> {
        let v = mown_methods::verify::judge(evidence, name, m.clone(), negs, policy)?;
        Ok((name.to_string(), v.decision, v.p_value))
    };
    let mut out = VerdictCounts { stolen: Vec::new(), independent: Vec::new() };
    for (name, m) in stolen {
        out.stolen.push(judge(name, m, &negatives)?);
    }
    for (i, (name, _, m)) in independent.iter().enumerate() {
        let others: Vec<NegativeScore> =
            negatives.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, n)| n.clone()).collect();
        out.independent.push(judge(name, m, &others)?);
    }
    Ok(out)
}

impl VerdictCounts {
    /// One line: detections, inconclusive, false positives with their 95% upper bound.
    pub fn line(&self, method: &str, alpha: f64) -> anyhow::Result<String> {
        let count = |rows: &[(String, Decision, Option<f64>)], d: Decision| rows.iter().filter(|r| r.1 == d).count();
        let fp = count(&self.independent, Decision::Stolen);
        let m = self.independent.len();
        Ok(format!(
            "{method}: STOLEN {}/{} stolen models ({} inconclusive); false positives {fp}/{m} independents \
             leave-one-out (95% upper bound {:.3}) at alpha {alpha}",
            count(&self.stolen, Decision::Stolen),
            self.stolen.len(),
            count(&self.stolen, Decision::Inconclusive),
            if m > 0 { mown_eval::fpr_upper_bound(fp, m, 0.95)? } else { 1.0 },
        ))
    }

    pub fn to_json(&self) -> serde_json::Value {
        let rows = |r: &[(String, Decision, Option<f64>)]| -> Vec<serde_json::Value> {
            r.iter()
                .map(|(n, d, p)| serde_json::json!({ "model": n, "decision": d.to_string(), "p_value": p }))
                .collect()
        };
        serde_json::json!({ "stolen": rows(&self.stolen), "independent": rows(&self.independent) })
    }
}
