//! The owner of a method that changes it (watermarks trained in, external features,
//! near-boundary fine-tuning), for `mown bench methods` and `mown eval-method`.
//!
//! A method that trains the owner gets a fresh model from the zoo victim's train(...) step (same
//! architecture, data, seed and epochs); one that fine-tunes it starts from the victim. The zoo's
//! attack recipes are then applied to that owner (as `mown eval-watermark` does), so its stolen
//! rows are copies of the model its evidence names. Owner and evidence are cached under a name
//! made of the victim's chain, the method and a hash of its settings.

use anyhow::Context;
use mown_adversary::Step;
use mown_adversary::build::Builder;
use mown_adversary::zoo::Zoo;
use mown_methods::Evidence;
use mown_methods::registry::{Method, OwnerEffect, OwnerInputs};
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
    /// The method's seconds per phase when it generated here (null from the cache).
    pub timings: serde_json::Value,
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
        return Ok(MethodOwner { name, model, evidence, summary, from_cache: true, timings: serde_json::Value::Null });
    }
    let root = zoo.victim.steps[0].clone();
    let data = builder.step_data(&root)?;
    let base = zoo.training.train_config();
    let start = match (method.entry().effect, &root) {
        (OwnerEffect::Trains, Step::Train { arch, data: data_name, seed, .. }) => {
            let spec = ModelSpec::new(*arch, data.owner.shape, data.owner.num_classes)?;
            let mut meta = ModelMeta::for_dataset(spec, &data.owner)?;
            meta.provenance.derivation = zoo.victim.to_string();
            meta.provenance.dataset = data_name.clone();
            Model::init(meta, &device, *seed)
        }
        (OwnerEffect::Trains, _) => anyhow::bail!(
            "{} trains its own owner from the victim's train(...) step, and the victim {} is a given model: \
             use a method that fine-tunes the owner",
            method.entry().name,
            zoo.victim
        ),
        _ => victim.clone(),
    };
    let cfg = match &root {
        Step::Train { epochs, seed, .. } => TrainConfig { epochs: *epochs, seed: *seed, ..base },
        _ => TrainConfig { seed: root.root_data().map_or(0, |r| r.seed), ..base },
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
    Ok(MethodOwner {
        name,
        model,
        evidence: generated.evidence,
        summary: generated.summary,
        from_cache: false,
        timings: generated.timings,
    })
}
