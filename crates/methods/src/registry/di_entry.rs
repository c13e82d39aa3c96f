//! Dataset inference's registry entry (seed 001's baseline): it reads the owner and its data.

use super::{Entry, Generated, Method, OwnerInputs, Param, parse};
use crate::dataset_inference::{DiParams, Embedding, generate};
use crate::{Evidence, MethodError};

pub(super) const PARAMS: &[Param] = &[
    Param {
        key: "n",
        help: "images per side (training, held-out) for the confidence model and again for verification (100)",
    },
    Param { key: "starts", help: "random directions per norm (10)" },
    Param { key: "steps", help: "steps per walk (50)" },
    Param {
        key: "embedding",
        help: "walk (Blind Walk, labels only) or mingd (the paper's white-box MinGD: suspects must be model files) (walk)",
    },
    Param { key: "mingd_steps", help: "MinGD: descent steps per image and class (50)" },
    Param { key: "mingd_alpha", help: "MinGD: step sizes linf:l2:l1 (0.01:0.1:0.5)" },
    Param { key: "draws", help: "draws of the paper's own test, reported beside the verdict (100)" },
    Param { key: "m", help: "samples per draw of the paper's own test (10)" },
    Param { key: "seed", help: "seed of every random choice (0)" },
];

pub(super) struct DatasetInference(pub(super) DiParams);

impl Method for DatasetInference {
    fn entry(&self) -> &'static Entry {
        super::entry("dataset-inference").expect("dataset inference is registered")
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError> {
        let p = &mut self.0;
        match key {
            "n" => p.n = parse(value, "a count")?,
            "starts" => p.starts = parse(value, "a count")?,
            "steps" => p.steps = parse(value, "a count")?,
            "embedding" => {
                p.embedding = match value.to_ascii_lowercase().as_str() {
                    "walk" | "blind-walk" => Embedding::Walk,
                    "mingd" => Embedding::Mingd,
                    other => {
                        return Err(MethodError::BadParameter(format!("embedding '{other}' is not walk or mingd")));
                    }
                }
            }
            "mingd_steps" => p.mingd.steps = parse(value, "a count")?,
            "mingd_alpha" => {
                let a: Vec<f32> =
                    value.split(':').map(|v| parse(v.trim(), "step sizes LINF:L2:L1")).collect::<Result<_, _>>()?;
                match a[..] {
                    [linf, l2, l1] if a.iter().all(|v| *v > 0.0 && v.is_finite()) => {
                        (p.mingd.alpha_linf, p.mingd.alpha_l2, p.mingd.alpha_l1) = (linf, l2, l1)
                    }
                    _ => return Err(MethodError::BadParameter(format!("mingd_alpha '{value}' is not LINF:L2:L1 > 0"))),
                }
            }
            "draws" => p.draws = parse(value, "a count")?,
            "m" => p.m = parse(value, "a count")?,
            "seed" => p.seed = parse(value, "an integer")?,
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        Ok(())
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError> {
        let fp = generate(inputs.model, inputs.train, inputs.held_out, &self.0)?;
        let summary = format!(
            "{}: {} private and {} public verification images; confidence model validation accuracy {:.3}; owner \
             delta mu {:.3}",
            fp.method(),
            fp.params.n,
            fp.params.n,
            fp.stats["confidence_model"]["validation_accuracy"].as_f64().unwrap_or(f64::NAN),
            fp.stats["owner_delta_mu"].as_f64().unwrap_or(f64::NAN)
        );
        Ok(Generated {
            summary,
            timings: serde_json::json!({ "seconds": fp.stats["seconds"] }),
            owner: None,
            evidence: Box::new(fp),
        })
    }
}
