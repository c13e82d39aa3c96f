//! How mown sees a suspect: a black box that answers a batch of images with labels, top-k or
//! probabilities, counts every image it is asked about, and refuses past a query budget.
//!
//! Everything that only needs predictions (extraction attacks, every verification) takes a
//! `&mut dyn QueryModel`, never a `Model`: a stolen API gives no weights, and the types make
//! sure no code path can peek. The query interface lives in its own crate, below the attacks
//! and the methods, because both sides of a dispute use it.

mod http;
mod local;
pub mod onnx;
pub mod wire;

pub use http::{HttpModel, HttpOptions, check_reply};
pub use local::LocalModel;
pub use onnx::{
    ImportOptions, Imported, Layout, OnnxModel, OnnxOptions, OnnxOutput, export_onnx, import_onnx, open_onnx,
};

use mown_data::ImageShape;
use serde::{Deserialize, Serialize};

/// How much of the output a suspect reveals (ordered: labels < top-k < probabilities <
/// white-box).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "k")]
pub enum AccessLevel {
    Labels,
    TopK(usize),
    Probabilities,
    /// The model's parameters: probabilities and parameter gradients (seed 001's meta-classifier).
    /// Only a model file the verifier holds gives it (an arbitration setting, seed 001 §1); no
    /// HTTP API or ONNX suspect does.
    WhiteBox,
}

impl AccessLevel {
    /// Whether answers at `self` can be produced from answers at `available`.
    pub fn within(self, available: AccessLevel) -> bool {
        match (self, available) {
            (_, AccessLevel::WhiteBox) => true,
            (AccessLevel::WhiteBox, _) => false,
            (_, AccessLevel::Probabilities) => true,
            (AccessLevel::Labels, _) => true,
            (AccessLevel::TopK(a), AccessLevel::TopK(b)) => a <= b,
            _ => false,
        }
    }
}

impl std::fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccessLevel::Labels => f.write_str("labels"),
            AccessLevel::TopK(k) => write!(f, "topk:{k}"),
            AccessLevel::Probabilities => f.write_str("probs"),
            AccessLevel::WhiteBox => f.write_str("white-box"),
        }
    }
}

impl std::str::FromStr for AccessLevel {
    type Err = AccessError;
    fn from_str(s: &str) -> Result<Self, AccessError> {
        match s.trim() {
            "labels" | "label" => Ok(AccessLevel::Labels),
            "probs" | "probabilities" => Ok(AccessLevel::Probabilities),
            "white-box" | "whitebox" => Ok(AccessLevel::WhiteBox),
            other => other
                .strip_prefix("topk:")
                .and_then(|k| k.parse().ok())
                .filter(|&k| k >= 1)
                .map(AccessLevel::TopK)
                .ok_or_else(|| {
                    AccessError::BadRequest(format!(
                        "unknown access level '{other}' (labels, topk:K, probs, white-box)"
                    ))
                }),
        }
    }
}

/// A suspect's answer for a batch of n images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "values")]
pub enum Answer {
    Labels(Vec<usize>),
    /// Per image, the k (class, probability) pairs of highest probability, best first.
    TopK(Vec<Vec<(usize, f32)>>),
    /// Row-major `[n, classes]`.
    Probabilities(Vec<f32>),
}

impl Answer {
    /// The top-1 labels, whatever the access level.
    pub fn labels(&self, classes: usize) -> Vec<usize> {
        match self {
            Answer::Labels(l) => l.clone(),
            Answer::TopK(rows) => rows.iter().map(|r| r.first().map(|p| p.0).unwrap_or(0)).collect(),
            Answer::Probabilities(p) => mown_nn::model::argmax_rows(p, classes),
        }
    }

    /// A soft-label matrix `[n, classes]` for training a copy: probabilities as given; top-k
    /// with the remaining mass spread evenly over the other classes; labels one-hot.
    pub fn soft_labels(&self, classes: usize) -> Vec<f32> {
        match self {
            Answer::Probabilities(p) => p.clone(),
            Answer::Labels(l) => {
                let mut out = vec![0.0; l.len() * classes];
                for (i, &c) in l.iter().enumerate() {
                    out[i * classes + c.min(classes - 1)] = 1.0;
                }
                out
            }
            Answer::TopK(rows) => {
                let mut out = vec![0.0; rows.len() * classes];
                for (i, row) in rows.iter().enumerate() {
                    let given: f32 = row.iter().map(|p| p.1).sum();
                    let rest = classes.saturating_sub(row.len());
                    let fill = if rest > 0 { ((1.0 - given).max(0.0)) / rest as f32 } else { 0.0 };
                    out[i * classes..(i + 1) * classes].fill(fill);
                    for &(c, p) in row {
                        if c < classes {
                            out[i * classes + c] = p;
                        }
                    }
                }
                out
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Answer::Labels(l) => l.len(),
            Answer::TopK(r) => r.len(),
            Answer::Probabilities(p) => p.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("query budget exhausted: {used} of {budget} images used, {requested} more requested")]
    BudgetExceeded { budget: usize, used: usize, requested: usize },
    #[error("access level {requested} is not available from this suspect (it reveals {available})")]
    LevelUnavailable { requested: AccessLevel, available: AccessLevel },
    #[error("bad query: {0}")]
    BadRequest(String),
    #[error("suspect failed: {0}")]
    Suspect(String),
    /// An ONNX file that cannot be imported as a mown model (`mown import`).
    #[error("cannot import ONNX model: {0}")]
    Import(String),
    #[error(transparent)]
    Model(#[from] mown_nn::NnError),
}

/// Query access to a classifier. Implemented by local models, ONNX files and HTTP APIs.
pub trait QueryModel {
    /// A short description for reports (file name, URL, derivation).
    fn describe(&self) -> String;
    fn input_shape(&self) -> ImageShape;
    fn num_classes(&self) -> usize;
    /// The most this suspect reveals.
    fn access(&self) -> AccessLevel;
    /// Answers `images` (NCHW, pixels in [0, 1]) at `level`, counting every image.
    fn query(&mut self, images: &[f32], level: AccessLevel) -> Result<Answer, AccessError>;
    /// Images asked about so far.
    fn queries_used(&self) -> usize;
    /// Images that may still be asked about (None: unlimited).
    fn queries_left(&self) -> Option<usize>;

    /// The suspect's architecture (e.g. "arc-c"), when it is a model file mown can read.
    fn architecture(&self) -> Option<String> {
        None
    }

    /// White-box suspects only: per-parameter gradients of the mean cross-entropy of `images`
    /// with `labels` (`Model::parameter_gradients`), counting every image as a query.
    fn parameter_gradients(
        &mut self,
        images: &[f32],
        labels: &[usize],
    ) -> Result<Vec<mown_nn::ParamGradient>, AccessError> {
        let _ = (images, labels);
        Err(AccessError::LevelUnavailable { requested: AccessLevel::WhiteBox, available: self.access() })
    }

    /// White-box suspects only: the gradient, with respect to the pixels (row-major like
    /// `images`), of each image's targeted margin max_j z_j - z_t (t its `targets` label; the
    /// official MinGD loss), and the logits, in evaluation mode; every image counts as a query.
    /// Dataset inference's MinGD needs it.
    fn target_margin_gradients(
        &mut self,
        images: &[f32],
        targets: &[usize],
    ) -> Result<(Vec<f32>, Vec<f32>), AccessError> {
        let _ = (images, targets);
        Err(AccessError::LevelUnavailable { requested: AccessLevel::WhiteBox, available: self.access() })
    }

    /// Convenience: top-1 labels (works at every access level).
    fn labels(&mut self, images: &[f32]) -> Result<Vec<usize>, AccessError> {
        let classes = self.num_classes();
        Ok(self.query(images, AccessLevel::Labels)?.labels(classes))
    }
}

/// Environment variable holding the bearer token for URL suspects when none is given.
pub const TOKEN_ENV: &str = "MOWN_SUSPECT_TOKEN";

/// How to open a suspect named on a command line.
#[derive(Clone, Debug)]
pub struct SuspectOptions {
    /// The most the suspect is asked for (verification needs only labels).
    pub level: AccessLevel,
    /// Bearer token for URL suspects; None: `$MOWN_SUSPECT_TOKEN` if set.
    pub token: Option<String>,
    pub budget: Option<usize>,
    /// ONNX suspects: the image shape, needed for files that take flat feature vectors
    /// (scikit-learn exports); the evidence's shape.
    pub input_shape: Option<ImageShape>,
    /// ONNX suspects: how to read the score output (auto by default: see [`OnnxOutput`]).
    pub onnx_output: OnnxOutput,
}

impl SuspectOptions {
    pub fn new(level: AccessLevel) -> Self {
        SuspectOptions { level, token: None, budget: None, input_shape: None, onnx_output: OnnxOutput::default() }
    }
}

/// Opens a suspect given as a `.safetensors` file, an `.onnx` file or an `http(s)://` prediction
/// API, so that every command taking a suspect works on all three.
pub fn open_suspect(
    spec: &str,
    opts: &SuspectOptions,
    device: &mown_nn::burn::prelude::Device,
) -> Result<Box<dyn QueryModel>, AccessError> {
    let remote = spec.starts_with("http://") || spec.starts_with("https://");
    if opts.level == AccessLevel::WhiteBox && (remote || spec.to_ascii_lowercase().ends_with(".onnx")) {
        return Err(AccessError::BadRequest(format!(
            "the method needs the suspect's parameters (white-box: parameter gradients), and {spec} is {}: give the \
             suspect as a mown model file, or use a black-box method",
            if remote {
                "a prediction API, which answers only with outputs"
            } else {
                "an ONNX file, which mown runs as a black box"
            }
        )));
    }
    if remote {
        let mut http = HttpOptions::new(spec);
        http.token = opts.token.clone().or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()));
        http.level = Some(opts.level);
        http.budget = opts.budget;
        return Ok(Box::new(HttpModel::connect(http)?));
    }
    if spec.to_ascii_lowercase().ends_with(".onnx") {
        let onnx = OnnxOptions {
            level: opts.level,
            budget: opts.budget,
            input_shape: opts.input_shape,
            output: opts.onnx_output,
            ..OnnxOptions::default()
        };
        return Ok(Box::new(open_onnx(spec, onnx)?));
    }
    let model = mown_nn::io::load(std::path::Path::new(spec), device)?;
    Ok(Box::new(LocalModel::new(model, opts.level, opts.budget).with_name(spec)))
}

/// The checks every suspect makes before answering: the level is one it reveals, the batch holds
/// whole finite images of its shape, and the budget (`used` of `budget` images so far) covers
/// it. Returns the image count, to be charged once the answer is in.
pub fn admit(
    images: &[f32],
    shape: ImageShape,
    level: AccessLevel,
    available: AccessLevel,
    budget: Option<usize>,
    used: usize,
) -> Result<usize, AccessError> {
    if !level.within(available) {
        return Err(AccessError::LevelUnavailable { requested: level, available });
    }
    let n = check_batch(images, shape)?;
    if let Some(budget) = budget
        && used + n > budget
    {
        return Err(AccessError::BudgetExceeded { budget, used, requested: n });
    }
    Ok(n)
}

/// Checks a batch against the suspect's input shape; returns the image count.
pub fn check_batch(images: &[f32], shape: ImageShape) -> Result<usize, AccessError> {
    Ok(mown_nn::model::check_images(images, shape)?)
}

/// Turns probabilities into the answer for `level`.
pub fn answer_from_probabilities(probs: Vec<f32>, classes: usize, level: AccessLevel) -> Answer {
    match level {
        AccessLevel::Probabilities | AccessLevel::WhiteBox => Answer::Probabilities(probs),
        AccessLevel::Labels => Answer::Labels(mown_nn::model::argmax_rows(&probs, classes)),
        AccessLevel::TopK(k) => Answer::TopK(
            probs
                .chunks(classes)
                .map(|row| {
                    let mut idx: Vec<usize> = (0..classes).collect();
                    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                    idx.into_iter().take(k.min(classes)).map(|c| (c, row[c])).collect()
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_levels_order_and_parse() {
        assert!(AccessLevel::Labels.within(AccessLevel::TopK(1)));
        assert!(AccessLevel::TopK(3).within(AccessLevel::TopK(5)));
        assert!(!AccessLevel::TopK(5).within(AccessLevel::TopK(3)));
        assert!(!AccessLevel::Probabilities.within(AccessLevel::TopK(10)));
        assert!(AccessLevel::TopK(10).within(AccessLevel::Probabilities));
        assert!(AccessLevel::Probabilities.within(AccessLevel::WhiteBox));
        assert!(!AccessLevel::WhiteBox.within(AccessLevel::Probabilities));
        for level in [AccessLevel::Labels, AccessLevel::TopK(3), AccessLevel::Probabilities, AccessLevel::WhiteBox] {
            assert_eq!(level.to_string().parse::<AccessLevel>().unwrap(), level);
        }
        assert!("topk:0".parse::<AccessLevel>().is_err());
        assert!("everything".parse::<AccessLevel>().unwrap_err().to_string().contains("everything"));
    }

    #[test]
    fn white_box_is_refused_for_apis_and_onnx_files() {
        let device = mown_nn::burn::prelude::Device::flex();
        let opts = SuspectOptions::new(AccessLevel::WhiteBox);
        for spec in ["http://127.0.0.1:9/", "suspect.onnx"] {
            match open_suspect(spec, &opts, &device) {
                Ok(_) => panic!("{spec} opened white-box"),
                Err(e) => assert!(e.to_string().contains("white-box"), "{spec}: {e}"),
            }
        }
        let onnx = open_onnx("suspect.onnx", OnnxOptions { level: AccessLevel::WhiteBox, ..OnnxOptions::default() });
        assert!(onnx.err().is_some_and(|e| e.to_string().contains("black boxes")));
    }

    #[test]
    fn answers_convert_between_levels() {
        let probs = vec![0.1, 0.6, 0.3, 0.5, 0.2, 0.3];
        let top2 = answer_from_probabilities(probs.clone(), 3, AccessLevel::TopK(2));
        assert_eq!(top2, Answer::TopK(vec![vec![(1, 0.6), (2, 0.3)], vec![(0, 0.5), (2, 0.3)]]));
        assert_eq!(top2.labels(3), vec![1, 0]);
        let soft = top2.soft_labels(3);
        assert!((soft[0] - 0.1).abs() < 1e-6 && (soft[4] - 0.2).abs() < 1e-6, "{soft:?}");
        let labels = answer_from_probabilities(probs, 3, AccessLevel::Labels);
        assert_eq!(labels.soft_labels(3), vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
    }
}
