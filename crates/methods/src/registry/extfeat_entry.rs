//! The external-features watermark's registry entry (seed 001): it trains the owner with a share
//! of stylised images, so like the trigger-set watermarks it takes a fresh model and a training
//! configuration.

use super::{Entry, Generated, Method, OwnerInputs, Param, parse};
use crate::extfeat::{ExtFeatParams, embed, style};
use crate::{Evidence, MethodError};

pub(super) const PARAMS: &[Param] = &[
    Param { key: "gamma", help: "share of training images replaced by stylised ones (0.1)" },
    Param {
        key: "style",
        help: "multistyle26[:STYLE[:SCALE]] (the ONNX model from scripts/fetch-data.sh; 19 at 4x) or \
               texture[:SEED[:STRENGTH]] (a labelled non-neural stand-in)",
    },
    Param { key: "verify_images", help: "held-out images kept with their stylised twins, 2 queries each (200)" },
    Param { key: "draws", help: "t-test repetitions (30)" },
    Param { key: "draw_size", help: "samples per repetition (20)" },
    Param { key: "cost_images", help: "stylised held-out images the accuracy cost is measured on (1000)" },
    Param { key: "seed", help: "seed of every random choice (0)" },
];

pub(super) struct ExtFeat(pub(super) ExtFeatParams);

impl Method for ExtFeat {
    fn entry(&self) -> &'static Entry {
        super::entry("extfeat").expect("extfeat is registered")
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError> {
        let p = &mut self.0;
        match key {
            "gamma" => p.gamma = parse(value, "a number")?,
            "style" => p.style = value.parse()?,
            "verify_images" => p.verify_images = parse(value, "a count")?,
            "draws" => p.draws = parse(value, "a count")?,
            "draw_size" => p.draw_size = parse(value, "a count")?,
            "cost_images" => p.cost_images = parse(value, "a count")?,
            "seed" => p.seed = parse(value, "an integer")?,
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        Ok(())
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError> {
        let transform = style::open(&self.0.style, None)?;
        let (model, key) = embed(
            inputs.model.clone(),
            inputs.train,
            inputs.held_out,
            inputs.train_config,
            &self.0,
            transform.as_ref(),
        )?;
        let summary = format!(
            "{}: {} of {} training images stylised; clean accuracy {:.4}, stylised {:.4}; {} verification twins",
            key.method(),
            key.stylised_indices.len(),
            inputs.train.len(),
            key.stats["clean_accuracy"].as_f64().unwrap_or(f64::NAN),
            key.stats["stylised_accuracy"].as_f64().unwrap_or(f64::NAN),
            key.len()
        );
        Ok(Generated { summary, timings: key.timings.clone(), owner: Some(model), evidence: Box::new(key) })
    }
}
