//! Choosing the trigger set (seed 004 §3.1 and §4.5): n held-out images, each with a wrong label
//! drawn at random (default), or the wrong label a clean model finds most or least likely.

use std::str::FromStr;

use mown_data::Dataset;
use mown_nn::Model;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::MethodError;

/// How each trigger's watermark label is chosen; it is never the true label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelRule {
    /// Uniform over the C-1 wrong classes (the paper's default).
    Random,
    /// The wrong class a clean model scores highest: least distortion, weakest transfer (§4.5).
    MostLikely,
    /// The wrong class a clean model scores lowest: most distortion, strongest transfer (§4.5).
    LeastLikely,
}

impl std::fmt::Display for LabelRule {
    /// The short spelling `FromStr` takes, so that names built from a rule (cache keys) do not
    /// depend on how the user typed it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabelRule::Random => "random",
            LabelRule::MostLikely => "most",
            LabelRule::LeastLikely => "least",
        })
    }
}

impl FromStr for LabelRule {
    type Err = MethodError;
    fn from_str(s: &str) -> Result<Self, MethodError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "random" => Ok(LabelRule::Random),
            "most" | "most-likely" => Ok(LabelRule::MostLikely),
            "least" | "least-likely" => Ok(LabelRule::LeastLikely),
            other => {
                Err(MethodError::BadParameter(format!("unknown trigger label rule '{other}' (random, most, least)")))
            }
        }
    }
}

/// The trigger images with their watermark and true labels.
#[derive(Clone, Debug)]
pub struct Triggers {
    /// NCHW pixels in [0, 1].
    pub images: Vec<f32>,
    pub labels: Vec<usize>,
    pub true_labels: Vec<usize>,
    /// Positions in the pool they were drawn from.
    pub indices: Vec<usize>,
}

/// Draws `n` distinct images from `pool` (seeded) and labels each by `rule`. `clean` is the clean
/// reference model the likelihood rules need.
pub fn select_triggers(
    pool: &Dataset,
    n: usize,
    rule: LabelRule,
    clean: Option<&Model>,
    seed: u64,
) -> Result<Triggers, MethodError> {
    let classes = pool.num_classes;
    if classes < 2 {
        return Err(MethodError::BadParameter(format!(
            "a trigger set needs at least 2 classes, {} has {classes}",
            pool.name
        )));
    }
    if n == 0 || n > pool.len() {
        return Err(MethodError::BadParameter(format!(
            "cannot draw {n} triggers from {} held-out images of {}",
            pool.len(),
            pool.name
        )));
    }
    let indices: Vec<usize> = pool.shuffled_indices(seed).into_iter().take(n).collect();
    let subset = pool.subset(&indices, "-triggers")?;
    let true_labels = subset.labels().to_vec();
    let mut rng = StdRng::seed_from_u64(mown_nn::seed::derive(seed, 1));
    let labels = match rule {
        LabelRule::Random => true_labels
            .iter()
            .map(|&t| {
                let pick = rng.random_range(0..classes - 1);
                if pick >= t { pick + 1 } else { pick }
            })
            .collect(),
        LabelRule::MostLikely | LabelRule::LeastLikely => {
            let model = clean.ok_or_else(|| {
                MethodError::BadParameter("the most/least-likely label rules need a clean reference model".into())
            })?;
            if model.num_classes() != classes {
                return Err(MethodError::BadParameter(format!(
                    "the clean model has {} classes, the data {classes}",
                    model.num_classes()
                )));
            }
            if model.input_shape() != subset.shape {
                return Err(MethodError::BadParameter(format!(
                    "the clean model takes {:?} images, the data are {:?}",
                    model.input_shape(),
                    subset.shape
                )));
            }
            let logits = model.logits(subset.images())?;
            logits
                .chunks(classes)
                .zip(&true_labels)
                .map(|(row, &t)| {
                    let wrong = (0..classes).filter(|&c| c != t);
                    let by = |a: &usize, b: &usize| row[*a].total_cmp(&row[*b]).then(b.cmp(a));
                    match rule {
                        LabelRule::MostLikely => wrong.max_by(by),
                        _ => wrong.min_by(by),
                    }
                    .expect("at least two classes")
                })
                .collect()
        }
    };
    Ok(Triggers { images: subset.images().to_vec(), labels, true_labels, indices })
}

/// BadNets' triggers: `n` seeded held-out images whose true class is not the target, stamped
/// with the trigger's patch and labelled with the target.
pub fn badnets_triggers(
    pool: &Dataset,
    n: usize,
    trigger: &super::margin::BadnetsTrigger,
    seed: u64,
) -> Result<Triggers, MethodError> {
    if trigger.target >= pool.num_classes {
        return Err(MethodError::BadParameter(format!(
            "BadNets target class {} with {} classes",
            trigger.target, pool.num_classes
        )));
    }
    let indices: Vec<usize> =
        pool.shuffled_indices(seed).into_iter().filter(|&i| pool.labels()[i] != trigger.target).take(n).collect();
    if n == 0 || indices.len() < n {
        return Err(MethodError::BadParameter(format!(
            "cannot draw {n} BadNets triggers from the {} held-out images of {} outside class {}",
            indices.len(),
            pool.name,
            trigger.target
        )));
    }
    let subset = pool.subset(&indices, "-badnets")?;
    let stamp = crate::extfeat::style::PatchStamp { size: trigger.patch, seed: mown_nn::seed::derive(seed, 2) };
    let images = crate::extfeat::style::StyleTransform::stylise(&stamp, subset.images(), subset.shape)?;
    Ok(Triggers { images, labels: vec![trigger.target; n], true_labels: subset.labels().to_vec(), indices })
}

/// The pool without the trigger images: where clean accuracy is measured, so the triggers
/// (whose watermark labels are wrong on purpose) do not count against the owner.
pub fn without_triggers(pool: &Dataset, indices: &[usize]) -> Result<Dataset, MethodError> {
    let used: std::collections::HashSet<usize> = indices.iter().copied().collect();
    let rest: Vec<usize> = (0..pool.len()).filter(|i| !used.contains(i)).collect();
    if rest.is_empty() {
        return Err(MethodError::BadParameter(format!("no images of {} are left after the triggers", pool.name)));
    }
    Ok(pool.subset(&rest, "-clean")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mown_data::{Dataset, ImageShape};

    fn pool() -> Dataset {
        let shape = ImageShape { channels: 1, height: 2, width: 2 };
        let labels: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let images: Vec<f32> = (0..60 * 4).map(|i| (i % 7) as f32 / 7.0).collect();
        let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        Dataset::new("toy", shape, 3, names, images, labels).unwrap()
    }

    #[test]
    fn random_labels_are_never_true_and_seeded() {
        let p = pool();
        let a = select_triggers(&p, 40, LabelRule::Random, None, 5).unwrap();
        assert!(a.labels.iter().zip(&a.true_labels).all(|(l, t)| l != t));
        assert!(a.labels.iter().all(|&l| l < 3));
        // Both wrong classes occur (a rule stuck on one would fail).
        assert!(a.labels.iter().zip(&a.true_labels).any(|(&l, &t)| l == (t + 1) % 3));
        assert!(a.labels.iter().zip(&a.true_labels).any(|(&l, &t)| l == (t + 2) % 3));
        let b = select_triggers(&p, 40, LabelRule::Random, None, 5).unwrap();
        assert_eq!((a.indices.clone(), a.labels.clone()), (b.indices, b.labels));
        let mut sorted = a.indices.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 40, "distinct images");
    }

    #[test]
    fn badnets_triggers_avoid_the_target_and_carry_the_patch() {
        let p = pool();
        let trigger = crate::watermark::margin::BadnetsTrigger { patch: 1, target: 2 };
        let t = badnets_triggers(&p, 30, &trigger, 4).unwrap();
        assert!(t.labels.iter().all(|&l| l == 2) && t.true_labels.iter().all(|&l| l != 2));
        // The corner pixel is the patch's (0 or 1), the same in every trigger; the rest is the image.
        let corner: Vec<f32> = t.images.chunks(4).map(|img| img[3]).collect();
        assert!(corner.iter().all(|&v| v == corner[0] && (v == 0.0 || v == 1.0)));
        for (img, &i) in t.images.chunks(4).zip(&t.indices) {
            assert_eq!(&img[..3], &p.images()[i * 4..i * 4 + 3]);
        }
        // 40 images lie outside class 2: 41 cannot be drawn; class 3 does not exist.
        assert!(badnets_triggers(&p, 41, &trigger, 4).is_err());
        let bad = crate::watermark::margin::BadnetsTrigger { patch: 1, target: 3 };
        assert!(badnets_triggers(&p, 5, &bad, 4).is_err());
    }

    #[test]
    fn bad_requests_are_refused() {
        let p = pool();
        assert!(select_triggers(&p, 0, LabelRule::Random, None, 1).is_err());
        assert!(select_triggers(&p, 61, LabelRule::Random, None, 1).unwrap_err().to_string().contains("61"));
        assert!(select_triggers(&p, 5, LabelRule::LeastLikely, None, 1).unwrap_err().to_string().contains("clean"));
        // A clean model for other images: a named mismatch, not labels read from the wrong rows.
        // 5 triggers of 2x2 would divide evenly into 10 of its 1x2 images.
        let shape = ImageShape { channels: 1, height: 1, width: 2 };
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let spec = mown_nn::ModelSpec::new(mown_nn::Arch::Mlp, shape, 3).unwrap();
        let meta = mown_nn::ModelMeta::new(spec, mown_data::Normalization::identity(1), names).unwrap();
        let other = Model::init(meta, &mown_nn::burn::prelude::Device::flex(), 1);
        let err = select_triggers(&p, 5, LabelRule::LeastLikely, Some(&other), 1).unwrap_err().to_string();
        assert!(err.contains("clean model takes"), "{err}");
        assert!("sideways".parse::<LabelRule>().is_err());
        assert_eq!("least".parse::<LabelRule>().unwrap(), LabelRule::LeastLikely);
        // Any accepted spelling prints back as the one short name (cache keys use it).
        for (typed, name) in [("Least-Likely", "least"), ("most-likely", "most"), (" RANDOM", "random")] {
            let rule = typed.parse::<LabelRule>().unwrap();
            assert_eq!((rule.to_string(), rule.to_string().parse::<LabelRule>().unwrap()), (name.into(), rule));
        }
    }
}
