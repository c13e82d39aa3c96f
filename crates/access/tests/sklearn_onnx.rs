//! scikit-learn classifiers exported with skl2onnx as suspects: they take flattened 8x8 digits,
//! answer what sklearn's predict and predict_proba say (probabilities read as given, never
//! softmaxed again), and files mown cannot read are errors that say why. The fixtures are
//! committed (made by scripts/make_sklearn_fixture.py): no Python runs here.

use std::path::PathBuf;

use mown_access::{AccessLevel, Answer, OnnxModel, OnnxOptions, OnnxOutput, QueryModel, open_onnx};
use mown_data::ImageShape;
use serde_json::Value;

const TOLERANCE: f32 = 1e-5;
const CLASSES: usize = 10;
/// The files the tests run, with the family the fixture script trained.
const RUNNABLE: [&str; 4] = ["mlp32.onnx", "logreg.onnx", "tree.onnx", "forest.onnx"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn").join(name)
}

fn digits_shape() -> OnnxOptions {
    OnnxOptions { input_shape: Some(ImageShape::new(1, 8, 8)), ..OnnxOptions::default() }
}

struct Expected {
    json: Value,
    /// The held-out images, NCHW (= row-major flattened), pixels / 16.
    images: Vec<f32>,
}

impl Expected {
    fn load() -> Expected {
        let json: Value = serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap();
        let images = floats(&json["inputs"]);
        Expected { json, images }
    }

    fn count(&self) -> usize {
        self.json["indices"].as_array().unwrap().len()
    }

    fn labels(&self, model: &str) -> Vec<usize> {
        let labels = self.json["models"][model]["labels"].as_array().unwrap_or_else(|| panic!("{model}"));
        labels.iter().map(|v| v.as_u64().unwrap() as usize).collect()
    }

    fn probabilities(&self, model: &str) -> Vec<f32> {
        floats(&self.json["models"][model]["probabilities"])
    }
}

fn floats(rows: &Value) -> Vec<f32> {
    let rows = rows.as_array().unwrap();
    rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32)).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn open(name: &str, opts: OnnxOptions) -> OnnxModel {
    open_onnx(fixture(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn open_err(name: &str, opts: OnnxOptions) -> String {
    let err = open_onnx(fixture(name), opts).err().unwrap_or_else(|| panic!("{name} opened")).to_string();
    assert!(err.contains(name), "the error names the file: {err}");
    err
}

#[test]
fn fixture_images_are_mowns_embedded_digits() {
    let fx = Expected::load();
    let digits = mown_data::digits().unwrap();
    assert_eq!(digits.shape, ImageShape::new(1, 8, 8));
    let indices = fx.json["indices"].as_array().unwrap();
    let targets = fx.json["targets"].as_array().unwrap();
    for (row, (index, target)) in indices.iter().zip(targets).enumerate() {
        let i = index.as_u64().unwrap() as usize;
        assert_eq!(digits.image(i), &fx.images[row * 64..(row + 1) * 64], "image {i}: same pixels, same layout");
        assert_eq!(digits.labels()[i] as u64, target.as_u64().unwrap(), "image {i}");
    }
}

#[test]
fn sklearn_exports_answer_like_sklearn() {
    let fx = Expected::load();
    let n = fx.count();
    for name in RUNNABLE {
        let mut suspect = open(name, digits_shape());
        assert_eq!((suspect.input_shape(), suspect.num_classes()), (ImageShape::new(1, 8, 8), CLASSES), "{name}");
        assert!(suspect.takes_flat_input(), "{name}");
        assert_eq!(suspect.fixed_batch(), None, "{name}");
        assert_eq!(suspect.output(), OnnxOutput::Probabilities, "{name}: {}", suspect.output_reading());
        assert_eq!(suspect.output_name(), "probabilities", "{name}: the int64 `label` output is not the scores");
        let reading = suspect.output_reading();
        assert!(reading.contains("probabilities as given"), "{name}: {reading}");
        if name == "mlp32.onnx" {
            assert!(reading.contains("Softmax"), "{name}: {reading}");
        } else {
            assert!(reading.contains("skl2onnx"), "{name}: {reading}");
        }

        let Answer::Probabilities(got) = suspect.query(&fx.images, AccessLevel::Probabilities).unwrap() else {
            panic!("{name}: not probabilities")
        };
        let want = fx.probabilities(name);
        let diff = max_diff(&got, &want);
        assert!(diff < TOLERANCE, "{name}: max difference {diff} from sklearn's predict_proba");
        // Read as given: a second softmax would flatten every row towards 1/10.
        let mut twice = want.clone();
        mown_nn::model::softmax_rows(&mut twice, CLASSES);
        assert!(max_diff(&got, &twice) > 0.1, "{name}: probabilities were softmaxed again");
        for row in got.chunks(CLASSES) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{name}: {row:?}");
        }

        assert_eq!(suspect.labels(&fx.images).unwrap(), fx.labels(name), "{name}: labels differ from `label`");
        let Answer::TopK(top) = suspect.query(&fx.images, AccessLevel::TopK(3)).unwrap() else {
            panic!("{name}: not top-k")
        };
        assert_eq!(top.len(), n, "{name}");
        for (i, (row, label)) in top.iter().zip(fx.labels(name)).enumerate() {
            assert_eq!(row.len(), 3, "{name}");
            assert_eq!(row[0].0, label, "{name}: image {i}");
            assert!(row[0].1 >= row[1].1 && row[1].1 >= row[2].1, "{name}: {row:?}");
            for &(c, p) in row {
                assert!((p - want[i * CLASSES + c]).abs() < TOLERANCE, "{name}: image {i} class {c}");
            }
        }
        assert_eq!(suspect.queries_used(), 3 * n, "{name}");

        // One image at a time (an odd batch) answers the same.
        let single = suspect.query(&fx.images[..64], AccessLevel::Probabilities).unwrap();
        assert_eq!(single, Answer::Probabilities(got[..CLASSES].to_vec()), "{name}");
    }
}

#[test]
fn explicit_readings_of_sklearn_outputs() {
    let fx = Expected::load();
    let probs = OnnxOptions { output: OnnxOutput::Probabilities, ..digits_shape() };
    let mut explicit = open("logreg.onnx", probs.clone());
    assert_eq!(explicit.output(), OnnxOutput::Probabilities);
    assert!(explicit.output_reading().contains("as requested"), "{}", explicit.output_reading());
    let got = explicit.query(&fx.images, AccessLevel::Probabilities).unwrap();
    assert_eq!(got, open("logreg.onnx", digits_shape()).query(&fx.images, AccessLevel::Probabilities).unwrap());

    // Forcing logits on an output that is not a Softmax's is allowed (and softmaxes the
    // probabilities, which is what asking for it means).
    let logits = OnnxOptions { output: OnnxOutput::Logits, ..digits_shape() };
    let mut forced = open("logreg.onnx", logits.clone());
    assert_eq!(forced.output(), OnnxOutput::Logits);
    assert!(forced.output_reading().contains("softmax of logits"), "{}", forced.output_reading());
    let Answer::Probabilities(got) = forced.query(&fx.images, AccessLevel::Probabilities).unwrap() else { panic!() };
    let mut twice = fx.probabilities("logreg.onnx");
    mown_nn::model::softmax_rows(&mut twice, CLASSES);
    assert!(max_diff(&got, &twice) < TOLERANCE);

    // An output that comes out of a Softmax is never softmaxed twice.
    let err = open_err("mlp32.onnx", logits);
    assert!(err.contains("Softmax") && err.contains("twice"), "{err}");

    // The score output can be named; the label output is not scores.
    let named = OnnxOptions { output_name: Some("probabilities".into()), ..digits_shape() };
    assert_eq!(open("tree.onnx", named).output_name(), "probabilities");
    let label = OnnxOptions { output_name: Some("label".into()), ..digits_shape() };
    let err = open_err("tree.onnx", label);
    assert!(err.contains("`label` holds int64"), "{err}");
    let absent = OnnxOptions { output_name: Some("logits".into()), ..digits_shape() };
    let err = open_err("tree.onnx", absent);
    assert!(err.contains("no output named `logits`") && err.contains("`probabilities` (float)"), "{err}");
}

#[test]
fn zipmap_exports_are_refused_with_the_fix() {
    let err = open_err("logreg_zipmap.onnx", digits_shape());
    assert!(err.contains("output_probability") && err.contains("ZipMap"), "{err}");
    assert!(err.contains("zipmap=False") && err.contains("{'zipmap': False}"), "{err}");
}

#[test]
fn flat_inputs_need_a_matching_image_shape() {
    let err = open_err("mlp32.onnx", OnnxOptions::default());
    assert!(err.contains("rank 2") && err.contains("64 features") && err.contains("give the input shape"), "{err}");
    let mnist = OnnxOptions { input_shape: Some(ImageShape::new(1, 28, 28)), ..OnnxOptions::default() };
    let err = open_err("logreg.onnx", mnist);
    assert!(err.contains("takes 64 features") && err.contains("1x28x28") && err.contains("784 pixels"), "{err}");
    // Any C*H*W of 64 is accepted: the file only fixes the feature count.
    let other = OnnxOptions { input_shape: Some(ImageShape::new(4, 4, 4)), ..OnnxOptions::default() };
    let suspect = open("logreg.onnx", other);
    assert_eq!(suspect.input_shape(), ImageShape::new(4, 4, 4));
    // Wrong-sized queries are refused before anything runs.
    let mut suspect = open("mlp32.onnx", digits_shape());
    let err = suspect.query(&[0.5; 63], AccessLevel::Labels).unwrap_err().to_string();
    assert!(err.contains("63 values"), "{err}");
    assert_eq!(suspect.queries_used(), 0);
}

#[test]
fn unsupported_operators_are_named() {
    // SVC(probability=True) exports as ai.onnx.ml SVMClassifier, which tract 0.23 lacks.
    let err = open_err("svc.onnx", digits_shape());
    assert!(err.contains("SVMClassifier") && err.contains("ai.onnx.ml") && err.contains("tract"), "{err}");
    assert!(err.contains("does not implement"), "{err}");
}

#[test]
fn onnx_output_readings_parse_and_print() {
    for output in [OnnxOutput::Auto, OnnxOutput::Logits, OnnxOutput::Probabilities] {
        assert_eq!(output.to_string().parse::<OnnxOutput>().unwrap(), output);
    }
    assert_eq!("probs".parse::<OnnxOutput>().unwrap(), OnnxOutput::Probabilities);
    assert_eq!("probabilities".parse::<OnnxOutput>().unwrap(), OnnxOutput::Probabilities);
    assert_eq!(" logits ".parse::<OnnxOutput>().unwrap(), OnnxOutput::Logits);
    assert_eq!(OnnxOutput::default(), OnnxOutput::Auto);
    assert_eq!(OnnxOptions::default().output, OnnxOutput::Auto);
    assert_eq!(OnnxOutput::Probabilities.reading(), "probabilities as given");
    assert_eq!(OnnxOutput::Logits.reading(), "softmax of logits");
    let err = "softmax".parse::<OnnxOutput>().unwrap_err().to_string();
    assert!(err.contains("'softmax'") && err.contains("probs, logits, auto"), "{err}");
}

/// scikit-learn's MLP is a network: `mown import` makes it a differentiable mown model (the flat
/// input given its image shape, the `probabilities` output chosen over `label`, the Softmax
/// stripped), whose softmax is what sklearn's predict_proba said. A tree ensemble is not a
/// network, and its import names the operator.
#[test]
fn sklearn_mlp_imports_as_a_differentiable_model() {
    use mown_access::onnx::{ImportOptions, import_onnx};
    let device = mown_nn::burn::prelude::Device::flex();
    let expected = Expected::load();
    let opts = ImportOptions { input_shape: Some(ImageShape::new(1, 8, 8)), ..ImportOptions::default() };
    let model = import_onnx(&fixture("mlp32.onnx"), &opts, &device).unwrap().model;
    assert_eq!(model.meta.spec.num_classes, CLASSES);
    let logits = model.logits(&expected.images).unwrap();
    let probabilities: Vec<f32> = logits
        .chunks(CLASSES)
        .flat_map(|row| {
            let top = row.iter().copied().fold(f32::MIN, f32::max);
            let sum: f32 = row.iter().map(|z| (z - top).exp()).sum();
            row.iter().map(move |z| (z - top).exp() / sum).collect::<Vec<_>>()
        })
        .collect();
    assert!(max_diff(&probabilities, &expected.probabilities("mlp32.onnx")) < 1e-4);
    assert_eq!(model.predict(&expected.images).unwrap(), expected.labels("mlp32.onnx"));
    // Gradients reach its weights: it can be fine-tuned (and watermarked) like mown's own.
    let grads = model.parameter_gradients(&expected.images[..64], &expected.labels("mlp32.onnx")[..1]).unwrap();
    assert_eq!(grads.len(), 4, "two weight matrices and two biases");
    assert!(grads.iter().all(|g| g.values.iter().all(|v| v.is_finite())));
    assert!(grads.iter().any(|g| g.values.iter().any(|v| *v != 0.0)));
    let err = import_onnx(&fixture("mlp32.onnx"), &ImportOptions::default(), &device).err().unwrap().to_string();
    assert!(err.contains("flat") && err.contains("--input-shape"), "{err}");
    let err = import_onnx(&fixture("forest.onnx"), &opts, &device).err().unwrap().to_string();
    assert!(err.contains("TreeEnsembleClassifier"), "{err}");
}
