//! The trigger-set watermarks' registry entries (margin, plain, BadNets): they train the model
//! they are given.

use serde_json::json;

use super::entries::{REGISTRY, SEED};
use super::{Entry, Generated, Method, OwnerInputs, Param, parse, parse_fraction};
use crate::watermark::{LabelRule, TriggerWatermark, WatermarkParams, without_triggers};
use crate::{Evidence, MethodError, Watermarker};

pub(super) const WATERMARK_PARAMS: &[Param] = &[
    Param { key: "n", help: "triggers, drawn from held-out data (100)" },
    Param { key: "labels", help: "trigger labels: random (wrong class), most or least (likely under a clean model)" },
    Param { key: "eps", help: "margin radius in pixel units, e.g. 5/255 (5/255)" },
    Param { key: "pga_steps", help: "projected-gradient-ascent steps per training step (5)" },
    Param { key: "pga_step_size", help: "PGA step size (eps / steps)" },
    Param { key: "lambda", help: "weight of the trigger loss (1)" },
    Param { key: "trigger_batch", help: "triggers per training step (32)" },
    Param { key: "trigger_aug", help: "random transformations of the triggers: none, crop:N, flip, crop:N+flip" },
    SEED,
];

pub(super) const BADNETS_PARAMS: &[Param] = &[
    Param { key: "n", help: "stamped held-out images, none of the target class (100)" },
    Param { key: "patch", help: "side of the corner patch in pixels (3)" },
    Param { key: "target", help: "the class stamped images are trained to (0)" },
    Param { key: "lambda", help: "weight of the trigger loss (1)" },
    Param { key: "trigger_batch", help: "triggers per training step (32)" },
    SEED,
];

/// The margin-based, plain and BadNets trigger-set watermarks: they train the model they are given.
pub(super) struct Watermark(pub(super) WatermarkParams);

impl Method for Watermark {
    fn entry(&self) -> &'static Entry {
        let name = self.0.scheme.to_string();
        REGISTRY.iter().find(|e| e.name == name).expect("every trigger watermark is registered")
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError> {
        let p = &mut self.0;
        match key {
            "n" => p.n = parse(value, "a count")?,
            "labels" => p.label_rule = value.parse::<LabelRule>()?,
            "eps" => p.eps = parse_fraction(value)?,
            "pga_steps" => p.steps = parse(value, "a count")?,
            "pga_step_size" => p.step_size = Some(parse_fraction(value)?),
            "lambda" => p.lambda = parse(value, "a number")?,
            "trigger_batch" => p.trigger_batch = parse(value, "a count")?,
            "trigger_aug" => p.trigger_aug = value.parse()?,
            "seed" => p.seed = parse(value, "an integer")?,
            "patch" | "target" if p.badnets.is_some() => {
                let b = p.badnets.as_mut().expect("checked");
                let v = parse(value, "a count")?;
                if key == "patch" { b.patch = v } else { b.target = v }
            }
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        p.validate()
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    /// Trains `inputs.model` (fresh, or the owner to fine-tune the watermark in) with the
    /// watermark, triggers drawn from the held-out data; the clean accuracy is measured on the
    /// held-out images that are not triggers.
    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError> {
        let marker = TriggerWatermark { params: self.0.clone(), clean: inputs.clean.cloned() };
        let (mut model, mut key) =
            marker.embed(inputs.model.clone(), inputs.train, inputs.held_out, inputs.train_config)?;
        let clean_test = without_triggers(inputs.held_out, &key.source_indices)?;
        let accuracy = model.accuracy(&clean_test)?;
        key.stats["clean_accuracy"] = json!(accuracy);
        key.stats["clean_test_images"] = json!(clean_test.len());
        model.meta.provenance.test_accuracy = Some(accuracy);
        Ok(Generated {
            summary: format!(
                "{}: watermark accuracy {:.4} on {} triggers; clean accuracy {accuracy:.4} on {} held-out images \
                 without the triggers",
                key.method(),
                key.stats["watermark_accuracy"].as_f64().unwrap_or(f64::NAN),
                key.len(),
                clean_test.len()
            ),
            timings: key.timings.clone(),
            owner: Some(model),
            evidence: Box::new(key),
        })
    }
}
