//! The external-features watermark's registry entry (seed 001): it trains the owner with a share
//! of stylised images, so like the trigger-set watermarks it takes a fresh model and a training
//! configuration.

use super::{Entry, Generated, Method, OwnerInputs, Param, parse};
use crate::extfeat::meta::{PairTest, Protocol, Verifier};
use crate::extfeat::{ExtFeatParams, embed, style};
use crate::{Evidence, MethodError};

pub(super) const PARAMS: &[Param] = &[
    Param { key: "gamma", help: "share of training images replaced by stylised ones (0.1)" },
    Param {
        key: "style",
        help: "arbitrary[:STYLE[:SEED[:TILE]]] (Magenta's arbitrary-style pair from scripts/fetch-data.sh, the \
               style image multistyle26's STYLE painted on noise of SEED, TILE pixels per image in a 384 mosaic; \
               19:0:96, the default), multistyle26[:STYLE[:SCALE]] (faster; 19 at 4x) or \
               texture[:SEED[:STRENGTH]] (a labelled non-neural stand-in) or patch[:SIZE[:SEED]] (the paper's \
               patch baseline: a corner patch, labels kept)",
    },
    Param { key: "verify_images", help: "held-out images kept with their stylised twins, 2 queries each (200)" },
    Param { key: "draws", help: "t-test repetitions (30)" },
    Param { key: "draw_size", help: "samples per repetition (20)" },
    Param { key: "cost_images", help: "stylised held-out images the accuracy cost is measured on (1000)" },
    Param { key: "seed", help: "seed of every random choice (0)" },
    Param {
        key: "verifier",
        help: "twins (black-box: true-class probability on stylised vs clean twins) or meta (the paper's \
               meta-classifier on parameter-gradient signs; white-box suspects of the owner's architecture) (twins)",
    },
    Param { key: "benign", help: "meta: benign models (clean data, owner's architecture) in the negative class (3)" },
    Param {
        key: "protocol",
        help: "meta: honest (a further benign model, unseen by the classifier, is Definition 2's reference) or paper \
               (one benign model in both roles; needs benign=1) (honest)",
    },
    Param {
        key: "test",
        help: "meta: Definition 2's test, paired (one-sided) or welch2 (the official code's) (paired)",
    },
    Param { key: "m", help: "meta: images per Definition-2 draw (10)" },
    Param { key: "meta_draws", help: "meta: Definition-2 draws (40)" },
    Param { key: "train_images", help: "meta: stylised training images whose gradients train the classifier (1000)" },
    Param { key: "classifier_epochs", help: "meta: classifier training epochs (100)" },
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
            "verifier" => {
                p.verifier = match value {
                    "twins" => Verifier::Twins,
                    "meta" => Verifier::Meta,
                    _ => return Err(MethodError::BadParameter(format!("verifier is twins or meta, not '{value}'"))),
                }
            }
            "benign" => p.meta.benign = parse(value, "a count")?,
            "protocol" => {
                p.meta.protocol = match value {
                    "honest" => Protocol::Honest,
                    "paper" => Protocol::Paper,
                    _ => return Err(MethodError::BadParameter(format!("protocol is honest or paper, not '{value}'"))),
                }
            }
            "test" => {
                p.meta.test = match value {
                    "paired" => PairTest::Paired,
                    "welch2" => PairTest::Welch2,
                    _ => return Err(MethodError::BadParameter(format!("test is paired or welch2, not '{value}'"))),
                }
            }
            "m" => p.meta.m = parse(value, "a count")?,
            "meta_draws" => p.meta.draws = parse(value, "a count")?,
            "train_images" => p.meta.train_images = parse(value, "a count")?,
            "classifier_epochs" => p.meta.classifier.epochs = parse(value, "a count")?,
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        Ok(())
    }

    fn name(&self) -> String {
        match self.0.verifier {
            Verifier::Twins => "extfeat".into(),
            Verifier::Meta => "extfeat[verifier=meta]".into(),
        }
    }

    fn requires(&self) -> mown_access::AccessLevel {
        match self.0.verifier {
            Verifier::Twins => mown_access::AccessLevel::Probabilities,
            Verifier::Meta => mown_access::AccessLevel::WhiteBox,
        }
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
        let mut summary = format!(
            "{}: {} of {} training images stylised; clean accuracy {:.4}, stylised {:.4}; {} verification twins",
            key.method(),
            key.stylised_indices.len(),
            inputs.train.len(),
            key.stats["clean_accuracy"].as_f64().unwrap_or(f64::NAN),
            key.stats["stylised_accuracy"].as_f64().unwrap_or(f64::NAN),
            key.len()
        );
        if let Some(m) = &key.meta {
            summary.push_str(&format!(
                "; meta-classifier on {} gradient features, validation accuracy {:.3}, P(stolen) owner {:.3} vs \
                 benign reference {:.3}",
                m.feature_width,
                m.stats["classifier"]["validation_accuracy"].as_f64().unwrap_or(f64::NAN),
                m.stats["owner_mean_score"].as_f64().unwrap_or(f64::NAN),
                m.stats["reference_mean_score"].as_f64().unwrap_or(f64::NAN),
            ));
        }
        Ok(Generated { summary, timings: key.timings.clone(), owner: Some(model), evidence: Box::new(key) })
    }
}
