//! The one verification path: evidence + suspect + independent models -> verdict. The CLI, the
//! demo, the benchmarks and the tests all call [`verify`], so that loading the negatives,
//! refusing suspects that cannot be judged, the threshold, the p-values and every warning are
//! the same everywhere (and land in the JSON report, not only on stderr).
//!
//! "Independent models" (the negatives) are models trained without access to the owner or its
//! copies, spanning at least three architecture families, and never used to fit any part of a
//! verifier: a model whose SHA-256 the evidence lists as a reference model is refused as a
//! negative and as a suspect, and so is a suspect that is itself one of the negatives.
//!
//! The decision itself is `mown_eval::decide` (see there for the rules: counts are tested with
//! binomial / beta-binomial tails, samples with a one-sided Welch t-test; STOLEN needs the
//! threshold and p < alpha).

use std::path::{Path, PathBuf};

use mown_access::{AccessLevel, LocalModel, QueryModel};
use mown_eval::{NegativeScore, Policy, Verdict};

use crate::{Evidence, Measured, MethodError};

/// An independent model ready to be measured.
pub struct Negative {
    pub name: String,
    /// Architecture family (`mown_nn::Arch::family`, or "onnx:PRODUCER"), when known.
    pub family: Option<String>,
    /// SHA-256 identifying it (a mown model's weights hash; an ONNX file's bytes).
    pub sha256: Option<String>,
    pub model: Box<dyn QueryModel>,
}

/// What identifies a suspect or negative given as a path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Identity {
    /// A mown model's weights hash.
    pub weights_sha256: Option<String>,
    /// The file's bytes.
    pub file_sha256: Option<String>,
    pub family: Option<String>,
}

impl Identity {
    fn hashes(&self) -> impl Iterator<Item = &str> {
        self.weights_sha256.iter().chain(&self.file_sha256).map(String::as_str)
    }

    fn shares_hash_with(&self, other: &Identity) -> bool {
        self.hashes().any(|h| other.hashes().any(|o| o == h))
    }
}

/// Identifies a suspect named on a command line: mown model files by their weights hash (so a
/// re-saved copy is recognised) and file hash, ONNX files by their bytes; URLs have no identity.
pub fn identify(spec: &str) -> Result<Identity, MethodError> {
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Ok(Identity::default());
    }
    let path = Path::new(spec);
    let bytes =
        std::fs::read(path).map_err(|e| MethodError::Refused(format!("cannot read {}: {e}", path.display())))?;
    let file_sha256 = Some(crate::sha256_hex(&bytes));
    if spec.to_ascii_lowercase().ends_with(".onnx") {
        return Ok(Identity { weights_sha256: None, file_sha256, family: onnx_family(&bytes) });
    }
    let meta = mown_nn::io::read_meta(path)?;
    Ok(Identity {
        weights_sha256: Some(meta.weights_sha256),
        file_sha256,
        family: Some(meta.spec.arch.family().into()),
    })
}

/// "onnx:PRODUCER" from an ONNX file's producer name (field 2 of ModelProto), read without
/// parsing the graph: skl2onnx, pytorch, tf2onnx or mown exports are different toolchains.
fn onnx_family(bytes: &[u8]) -> Option<String> {
    use prost::Message;
    #[derive(Clone, PartialEq, prost::Message)]
    struct Producer {
        #[prost(string, tag = "2")]
        producer_name: String,
    }
    let p = Producer::decode(bytes).ok()?;
    Some(format!("onnx:{}", if p.producer_name.is_empty() { "unknown" } else { &p.producer_name }))
}

/// Opens independent models from files (mown models or ONNX), each answering at `level`; ONNX
/// files that take flat feature vectors (scikit-learn) are fed images of `shape`.
pub fn load_negatives(
    paths: &[PathBuf],
    level: AccessLevel,
    shape: mown_data::ImageShape,
    onnx_output: mown_access::OnnxOutput,
    device: &mown_nn::burn::prelude::Device,
) -> Result<Vec<Negative>, MethodError> {
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let spec = path.display().to_string();
        let id = identify(&spec)?;
        let model: Box<dyn QueryModel> = if spec.to_ascii_lowercase().ends_with(".onnx") {
            let opts = mown_access::OnnxOptions {
                level,
                input_shape: Some(shape),
                output: onnx_output,
                ..mown_access::OnnxOptions::default()
            };
            Box::new(mown_access::open_onnx(path, opts)?)
        } else {
            let model = mown_nn::io::load(path, device)?;
            Box::new(LocalModel::new(model, level, None).with_name(spec.clone()))
        };
        out.push(Negative {
            name: spec,
            family: id.family.clone(),
            sha256: id.weights_sha256.or(id.file_sha256),
            model,
        });
    }
    Ok(out)
}

/// Refuses a suspect that cannot answer what the evidence needs.
pub fn check_access(evidence: &dyn Evidence, suspect: &dyn QueryModel) -> Result<(), MethodError> {
    let need = evidence.requires();
    if !need.within(suspect.access()) {
        return Err(MethodError::Refused(format!(
            "{} needs {need} answers from the suspect, and {} reveals only {}",
            evidence.method(),
            suspect.describe(),
            suspect.access()
        )));
    }
    Ok(())
}

/// Verifies `suspect` against `evidence`, judged against `negatives` under `policy`.
/// `suspect_id` (from [`identify`]) lets verification refuse a suspect that is one of the
/// negatives or one of the verifier's reference models.
pub fn verify(
    evidence: &dyn Evidence,
    suspect: &mut dyn QueryModel,
    suspect_id: &Identity,
    negatives: &mut [Negative],
    policy: &Policy,
) -> Result<Verdict, MethodError> {
    let references = evidence.reference_models();
    let is_reference = |h: &str| references.iter().any(|r| r == h);
    if let Some(h) = suspect_id.hashes().find(|h| is_reference(h)) {
        return Err(MethodError::Refused(format!(
            "{} is one of the models the verifier was fitted on (SHA-256 {h}); judge only models it never saw",
            suspect.describe()
        )));
    }
    for neg in negatives.iter() {
        let neg_id = Identity { weights_sha256: neg.sha256.clone(), file_sha256: None, family: None };
        if suspect_id.shares_hash_with(&neg_id) {
            return Err(MethodError::Refused(format!(
                "{} is also one of the independent models ({}): a model cannot be both",
                suspect.describe(),
                neg.name
            )));
        }
        if let Some(h) = neg.sha256.as_deref().filter(|h| is_reference(h)) {
            return Err(MethodError::Refused(format!(
                "independent model {} is one of the models the verifier was fitted on (SHA-256 {h}): calibration needs \
                 models it never saw",
                neg.name
            )));
        }
        if neg.sha256.as_deref() == Some(evidence.owner_sha256()) {
            return Err(MethodError::Refused(format!("independent model {} is the owner's model itself", neg.name)));
        }
    }
    check_access(evidence, suspect)?;
    let mut scores = Vec::with_capacity(negatives.len());
    for neg in negatives.iter_mut() {
        check_access(evidence, neg.model.as_ref())?;
        let measured = evidence.measure(neg.model.as_mut())?;
        scores.push(NegativeScore {
            name: neg.name.clone(),
            family: neg.family.clone(),
            measurement: measured.measurement,
        });
    }
    let measured = evidence.measure(suspect)?;
    judge(evidence, &suspect.describe(), measured, &scores, policy)
}

/// The verdict on a suspect already measured, against negatives already measured: what
/// [`verify`] does after its checks and queries, for callers that measure every model of a zoo
/// once and judge each against the others (the benchmarks). The checks of [`verify`] (a
/// suspect among the negatives or the references) are the caller's.
pub fn judge(
    evidence: &dyn Evidence,
    suspect_name: &str,
    measured: Measured,
    negatives: &[NegativeScore],
    policy: &Policy,
) -> Result<Verdict, MethodError> {
    let mut details = measured.details;
    if let Some(map) = details.as_object_mut() {
        map.insert("owner_sha256".into(), evidence.owner_sha256().into());
        map.insert("evidence_kind".into(), evidence.kind().name().into());
    }
    let mut policy = policy.clone();
    if policy.resampling.is_none() {
        policy.resampling = evidence.resampling();
    }
    let mut verdict = mown_eval::decide(
        &evidence.traits(),
        suspect_name,
        &measured.measurement,
        negatives,
        &policy,
        measured.queries,
        details,
    )?;
    for w in evidence.warnings() {
        verdict.warn(w);
    }
    Ok(verdict)
}

/// [`verify`] for callers holding models in memory (the demo, tests): the suspect and the
/// negatives are named, the families come from their architectures.
pub fn verify_models(
    evidence: &dyn Evidence,
    suspect: (&str, mown_nn::Model),
    negatives: Vec<(String, mown_nn::Model)>,
    policy: &Policy,
) -> Result<Verdict, MethodError> {
    let level = evidence.requires();
    let weights = |m: &mown_nn::Model| mown_nn::io::model_sha256(m);
    let suspect_id = Identity {
        weights_sha256: Some(weights(&suspect.1)?),
        file_sha256: None,
        family: Some(suspect.1.meta.spec.arch.family().into()),
    };
    let mut negs = Vec::with_capacity(negatives.len());
    for (name, model) in negatives {
        negs.push(Negative {
            family: Some(model.meta.spec.arch.family().into()),
            sha256: Some(weights(&model)?),
            model: Box::new(LocalModel::new(model, level, None).with_name(name.clone())),
            name,
        });
    }
    let mut api = LocalModel::new(suspect.1, level, None).with_name(suspect.0);
    verify(evidence, &mut api, &suspect_id, &mut negs, policy)
}
