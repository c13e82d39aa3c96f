//! An ONNX classifier file behind the query interface, run by tract.

use std::path::{Path, PathBuf};

use mown_data::ImageShape;
use mown_nn::model::{INFERENCE_BATCH, softmax_rows};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use super::{OnnxOptions, OnnxOutput, file_error, graph};
use crate::{AccessError, AccessLevel, Answer, QueryModel, answer_from_probabilities};

/// Largest deviation from 1 accepted in a probability row of an `OnnxOutput::Probabilities` model.
const PROB_SUM_TOLERANCE: f32 = 1e-3;

/// How the file takes images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// `[N, C, H, W]`.
    Images,
    /// `[N, C*H*W]`: each image flattened row-major (scikit-learn exports).
    Flat,
}

/// An ONNX suspect: counts queries and enforces the budget like `LocalModel`.
pub struct OnnxModel {
    plan: Arc<TypedSimplePlan>,
    path: PathBuf,
    name: String,
    shape: ImageShape,
    layout: Layout,
    classes: usize,
    /// The reading in use (never `Auto`), the score output's name, and why it is read so.
    output: OnnxOutput,
    output_name: String,
    output_why: String,
    /// Images per run when the file fixes the batch dimension (partial chunks are zero-padded).
    fixed_batch: Option<usize>,
    level: AccessLevel,
    budget: Option<usize>,
    used: usize,
}

/// The most pixel values a file's fixed batch may hold (1 GiB of f32): every query, the test run
/// on one blank image included, is padded up to that batch.
const MAX_BATCH_VALUES: usize = 1 << 28;

impl OnnxModel {
    /// Parses `path`, picks the score output (see `OnnxOptions::output_name`) and how to read it
    /// (see `OnnxOutput`), fixes the input to `[N, C, H, W]` or `[N, C*H*W]` f32 and checks the
    /// output is `[N, classes]` with one test run on a blank image.
    pub fn open(path: &Path, opts: OnnxOptions) -> Result<OnnxModel, AccessError> {
        let meta = std::fs::metadata(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(file_error(path, "not a file"));
        }
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_path(path)
            .map_err(|e| file_error(path, format!("not a readable ONNX model: {e:#}")))?;
        let dir = path.parent().and_then(|d| d.to_str());
        let parsed =
            onnx.parse(&proto, dir).map_err(|e| file_error(path, format!("not a readable ONNX model: {e:#}")))?;
        if !parsed.unresolved_inputs.is_empty() {
            return Err(file_error(
                path,
                format!("not a readable ONNX model: values {:?} are used but never defined", parsed.unresolved_inputs),
            ));
        }
        let mut model = parsed.model;
        let inputs = model.input_outlets().map_err(|e| file_error(path, e))?.len();
        let outlets = model.output_outlets().map_err(|e| file_error(path, e))?.to_vec();
        if inputs != 1 || outlets.is_empty() {
            return Err(file_error(
                path,
                format!(
                    "has {inputs} inputs and {} outputs; a classifier takes one image batch and gives a score matrix",
                    outlets.len()
                ),
            ));
        }
        let score = graph::score_output(path, &proto, opts.output_name.as_deref())?;
        let (output, output_why) = graph::resolve_output(path, opts.output, &proto, &score)?;
        let outlet = *outlets.get(score.index).ok_or_else(|| file_error(path, "graph outputs are inconsistent"))?;
        // Keep only what the scores need (tract would drop the rest later anyway): skl2onnx's
        // label branch may use operators tract lacks, and only operators that run count.
        if outlets.len() > 1 {
            model.select_output_outlets(&[outlet]).map_err(|e| file_error(path, e))?;
        }
        model = model.into_compact().map_err(|e| file_error(path, format!("cannot prepare the graph: {e:#}")))?;
        graph::check_operators(path, &proto, &model)?;

        let fact = model.input_fact(0).map_err(|e| file_error(path, e))?.clone();
        if let Some(dt) = fact.datum_type.concretize()
            && dt != f32::datum_type()
        {
            return Err(file_error(path, format!("input is {dt:?}; only f32 pixel inputs are supported")));
        }
        let dim = |i: usize| fact.shape.dim(i).and_then(|d| d.concretize()).and_then(|d| d.as_usize());
        let (shape, layout) = match fact.shape.rank().concretize() {
            Some(4) | None => (input_shape(path, [dim(1), dim(2), dim(3)], opts.input_shape)?, Layout::Images),
            Some(2) => (flat_input_shape(path, dim(1), opts.input_shape)?, Layout::Flat),
            Some(rank) => {
                return Err(file_error(
                    path,
                    format!("input has rank {rank}; expected 4 (N, C, H, W) or 2 (N, C*H*W flattened images)"),
                ));
            }
        };
        let fixed_batch = dim(0).filter(|&b| b > 0);
        if let Some(b) = fixed_batch
            && b.saturating_mul(shape.numel()) > MAX_BATCH_VALUES
        {
            return Err(file_error(
                path,
                format!(
                    "fixes the batch size at {b} images of {shape:?}: every query would be padded to more than {MAX_BATCH_VALUES} values"
                ),
            ));
        }

        let (plan, batch, classes) = match fixed_batch {
            Some(b) => build(path, model, shape, layout, Some(b), opts.classes)?,
            // Some graphs only type-check with a concrete batch (hard-coded reshapes): fall back
            // to running them one image at a time.
            None => match build(path, model.clone(), shape, layout, None, opts.classes) {
                Ok(built) => built,
                Err(symbolic) => build(path, model, shape, layout, Some(1), opts.classes).map_err(|_| symbolic)?,
            },
        };
        let name = path.display().to_string();
        let suspect = OnnxModel {
            plan,
            path: path.to_path_buf(),
            name,
            shape,
            layout,
            classes,
            output,
            output_name: score.name,
            output_why,
            fixed_batch: batch,
            level: opts.level,
            budget: opts.budget,
            used: 0,
        };
        tracing::debug!("{}: {}", suspect.name, suspect.output_reading());
        // A test run catches graphs that type-check but fail or disagree on the class count
        // when run; it is not a query (nothing is asked of anyone but this file).
        suspect.scores(&vec![0.0; shape.numel()]).map_err(|e| match e {
            AccessError::Suspect(m) => AccessError::Suspect(format!("{m} (test run on a blank image)")),
            other => other,
        })?;
        Ok(suspect)
    }

    /// How the scores are read: `Probabilities` (used as given) or `Logits` (softmaxed); never
    /// `Auto`, which is resolved when the file is opened.
    pub fn output(&self) -> OnnxOutput {
        self.output
    }

    /// The graph output the scores are read from.
    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// For reports: which output is read, how and why, e.g. "output `probabilities`:
    /// probabilities as given (auto: written by skl2onnx, whose classifiers output
    /// predict_proba)" or "output `logits`: softmax of logits (auto: no Softmax at the end of
    /// the graph)".
    pub fn output_reading(&self) -> String {
        format!("output `{}`: {} ({})", self.output_name, self.output.reading(), self.output_why)
    }

    /// Whether the file takes each image flattened row-major (`[N, C*H*W]`, as scikit-learn
    /// exports do) rather than as `[N, C, H, W]`.
    pub fn takes_flat_input(&self) -> bool {
        self.layout == Layout::Flat
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The batch size the file fixes, run in zero-padded chunks (None: any batch size).
    pub fn fixed_batch(&self) -> Option<usize> {
        self.fixed_batch
    }

    /// The file this suspect was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Probabilities `[n, classes]` for images already checked against the input shape.
    fn scores(&self, images: &[f32]) -> Result<Vec<f32>, AccessError> {
        let numel = self.shape.numel();
        let n = images.len() / numel;
        let chunk = self.fixed_batch.unwrap_or(INFERENCE_BATCH);
        let mut out = Vec::with_capacity(n * self.classes);
        for start in (0..n).step_by(chunk) {
            let end = (start + chunk).min(n);
            let rows = end - start;
            let run_rows = self.fixed_batch.unwrap_or(rows);
            let mut data = images[start * numel..end * numel].to_vec();
            data.resize(run_rows * numel, 0.0);
            let values = self.run(&data, run_rows)?;
            out.extend_from_slice(&values[..rows * self.classes]);
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            let image = i / self.classes;
            return Err(file_error(&self.path, format!("output for image {image} is not finite ({})", out[i])));
        }
        match self.output {
            OnnxOutput::Logits => softmax_rows(&mut out, self.classes),
            OnnxOutput::Probabilities | OnnxOutput::Auto => {
                for (i, row) in out.chunks(self.classes).enumerate() {
                    let sum: f32 = row.iter().sum();
                    if (sum - 1.0).abs() > PROB_SUM_TOLERANCE || row.iter().any(|&p| p < 0.0) {
                        return Err(file_error(
                            &self.path,
                            format!(
                                "output `{}` row {i} is not a probability vector (sum {sum}), yet it is read as probabilities ({}); open it with output logits",
                                self.output_name, self.output_why
                            ),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// One forward pass on `rows` images; returns `rows * classes` raw outputs.
    fn run(&self, data: &[f32], rows: usize) -> Result<Vec<f32>, AccessError> {
        let s = self.shape;
        let fail = |e: TractError| file_error(&self.path, format!("inference failed: {e:#}"));
        let input = match self.layout {
            Layout::Images => Tensor::from_shape(&[rows, s.channels, s.height, s.width], data),
            // NCHW images are stored row-major: each one is already its flattened feature row.
            Layout::Flat => Tensor::from_shape(&[rows, s.numel()], data),
        }
        .map_err(fail)?;
        let outputs = self.plan.run(tvec![input.into_tvalue()]).map_err(fail)?;
        let first = outputs.first().ok_or_else(|| file_error(&self.path, "the model returned no output"))?;
        let values: Vec<f32> =
            first.cast_to::<f32>().map_err(fail)?.to_plain_array_view::<f32>().map_err(fail)?.iter().copied().collect();
        if values.len() != rows * self.classes {
            return Err(file_error(
                &self.path,
                format!(
                    "output has shape {:?} for {rows} images; expected {rows} x {} classes",
                    first.shape(),
                    self.classes
                ),
            ));
        }
        Ok(values)
    }
}

/// The input (C, H, W): from the file where it fixes them, from the options otherwise; both
/// must agree.
fn input_shape(path: &Path, file: [Option<usize>; 3], given: Option<ImageShape>) -> Result<ImageShape, AccessError> {
    let given_dims = given.map(|s| [s.channels, s.height, s.width]);
    let mut dims = [0; 3];
    for (i, name) in ["channels", "height", "width"].into_iter().enumerate() {
        dims[i] = match (file[i], given_dims.map(|g| g[i])) {
            (Some(f), Some(g)) if f != g => {
                return Err(file_error(path, format!("input {name} is {f} in the file but {g} was given")));
            }
            (Some(v), _) | (None, Some(v)) => v,
            (None, None) => {
                return Err(file_error(
                    path,
                    format!("input {name} is not fixed in the file; give the input shape (C, H, W)"),
                ));
            }
        };
    }
    let shape = ImageShape::new(dims[0], dims[1], dims[2]);
    if shape.numel() == 0 {
        return Err(file_error(path, format!("input shape {shape:?} has a zero dimension")));
    }
    // The limits of mown's own model files: a file from the other side of a dispute must not make
    // us allocate gigabytes for its test run.
    if shape.is_implausibly_large() {
        return Err(file_error(path, format!("input shape {shape:?} is implausibly large for an image classifier")));
    }
    Ok(shape)
}

/// The image shape of a flat `[N, features]` input: it must be given, and hold `features` values.
fn flat_input_shape(
    path: &Path,
    features: Option<usize>,
    given: Option<ImageShape>,
) -> Result<ImageShape, AccessError> {
    let takes = features.map_or_else(|| "flat features".to_string(), |f| format!("{f} features"));
    let Some(shape) = given else {
        return Err(file_error(
            path,
            format!(
                "input has rank 2 (N, {takes}): it takes each image flattened, as scikit-learn exports do, and does \
                 not say the image shape; give the input shape (C, H, W) of the images it was trained on"
            ),
        ));
    };
    let shape = input_shape(path, [None; 3], Some(shape))?;
    if let Some(f) = features
        && f != shape.numel()
    {
        return Err(file_error(
            path,
            format!(
                "input takes {f} features per image but the input shape {}x{}x{} given has {} pixels",
                shape.channels,
                shape.height,
                shape.width,
                shape.numel()
            ),
        ));
    }
    Ok(shape)
}

/// Types and optimises the graph for `[batch or N, C, H, W]` (or `[batch or N, C*H*W]`) input;
/// returns the plan, the fixed batch (None: any) and the class count.
fn build(
    path: &Path,
    mut model: InferenceModel,
    shape: ImageShape,
    layout: Layout,
    batch: Option<usize>,
    classes: Option<usize>,
) -> Result<(Arc<TypedSimplePlan>, Option<usize>, usize), AccessError> {
    let fail = |e: TractError| file_error(path, format!("cannot prepare the graph: {e:#}"));
    let n = match batch {
        Some(b) => b.to_dim(),
        None => model.sym("N").to_dim(),
    };
    let dims: TVec<TDim> = match layout {
        Layout::Images => tvec![n, shape.channels.to_dim(), shape.height.to_dim(), shape.width.to_dim()],
        Layout::Flat => tvec![n, shape.numel().to_dim()],
    };
    model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), dims)).map_err(fail)?;
    let typed = model.into_optimized().map_err(fail)?;
    let out = typed.output_fact(0).map_err(fail)?;
    let out_dims: Vec<TDim> = out.shape.iter().cloned().collect();
    if out_dims.len() < 2 {
        return Err(file_error(path, format!("output has shape {out_dims:?}; expected (N, classes)")));
    }
    // (N, K) or a shape such as (N, K, 1, 1) holding K scores per image.
    let found = out_dims[1..].iter().map(|d| d.as_usize()).try_fold(1usize, |acc, d| d.map(|d| acc * d));
    let classes = match (found, classes) {
        (Some(f), Some(c)) if f != c => {
            return Err(file_error(path, format!("output has {f} classes but {c} were expected")));
        }
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => {
            return Err(file_error(
                path,
                format!("output shape {out_dims:?} does not fix the class count; give it in the options"),
            ));
        }
    };
    if classes < 2 {
        return Err(file_error(path, format!("output has {classes} scores per image; a classifier needs at least 2")));
    }
    let plan = typed.into_runnable().map_err(fail)?;
    Ok((plan, batch, classes))
}

impl QueryModel for OnnxModel {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn input_shape(&self) -> ImageShape {
        self.shape
    }

    fn num_classes(&self) -> usize {
        self.classes
    }

    fn access(&self) -> AccessLevel {
        self.level
    }

    fn query(&mut self, images: &[f32], level: AccessLevel) -> Result<Answer, AccessError> {
        let n = crate::admit(images, self.shape, level, self.level, self.budget, self.used)?;
        let probs = self.scores(images)?;
        self.used += n;
        Ok(answer_from_probabilities(probs, self.classes, level))
    }

    fn queries_used(&self) -> usize {
        self.used
    }

    fn queries_left(&self) -> Option<usize> {
        self.budget.map(|b| b.saturating_sub(self.used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes_are_checked_before_anything_is_allocated() {
        let p = Path::new("s.onnx");
        assert_eq!(input_shape(p, [Some(1), Some(28), Some(28)], None).unwrap(), ImageShape::new(1, 28, 28));
        let huge = input_shape(p, [Some(3), Some(4096), Some(4096)], None).unwrap_err().to_string();
        assert!(huge.contains("implausibly large"), "{huge}");
        let given = input_shape(p, [None, Some(32), Some(32)], Some(ImageShape::new(3, 32, 32))).unwrap();
        assert_eq!(given, ImageShape::new(3, 32, 32));
        let clash = input_shape(p, [Some(1), Some(32), Some(32)], Some(ImageShape::new(3, 32, 32))).unwrap_err();
        assert!(clash.to_string().contains("channels is 1 in the file but 3"), "{clash}");
    }
}
