//! ONNX suspects: mown's own exports answer like the models they came from, files written by the
//! reference `onnx` Python package answer like numpy says they should, and broken files are
//! errors naming the file.

use std::path::{Path, PathBuf};
use std::process::Command;

use mown_access::onnx::ExportSummary;
use mown_access::{
    AccessError, AccessLevel, Answer, OnnxModel, OnnxOptions, OnnxOutput, QueryModel, SuspectOptions, export_onnx,
    open_onnx, open_suspect,
};
use mown_data::{Dataset, ImageShape, Normalization};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};

const TOLERANCE: f32 = 1e-4;

/// A model briefly trained on digits, so that probabilities are far from uniform and BatchNorm
/// running statistics are not their initial values.
fn digits_model(arch: Arch) -> (Model, Dataset) {
    let data = mown_data::digits().unwrap();
    let train = data.subset(&(0..256).collect::<Vec<_>>(), "-train").unwrap();
    let spec = ModelSpec::new(arch, data.shape, 10).unwrap();
    let meta = ModelMeta::for_dataset(spec, &train).unwrap();
    let model = Model::init(meta, &Device::flex(), 7);
    let cfg = TrainConfig { epochs: 1, batch_size: 64, lr: 0.02, ..TrainConfig::default() };
    let (model, _) = mown_nn::train::train(model, &train, None, &cfg).unwrap();
    (model, data)
}

/// An initialised 1x28x28 model with a non-trivial normalisation, and pseudo-random pixels.
fn mnist_sized_model(arch: Arch, n: usize) -> (Model, Vec<f32>) {
    let shape = ImageShape::new(1, 28, 28);
    let spec = ModelSpec::new(arch, shape, 10).unwrap();
    let norm = Normalization::new(vec![0.286], vec![0.353]).unwrap();
    let meta = ModelMeta::new(spec, norm, (0..10).map(|i| format!("class {i}")).collect()).unwrap();
    let model = Model::init(meta, &Device::flex(), 3);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let images = (0..n * shape.numel())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    (model, images)
}

/// Exports `model`, reopens it and checks it answers like `model` on `images`.
fn assert_export_matches(model: &Model, images: &[f32], dir: &Path) -> ExportSummary {
    let arch = model.spec().arch;
    let path = dir.join(format!("{arch}-{}x{}.onnx", model.input_shape().height, model.input_shape().width));
    let summary = export_onnx(model, &path).unwrap_or_else(|e| panic!("{arch}: {e}"));
    assert!(summary.nodes >= 4 && summary.bytes > 0, "{arch}: {summary:?}");
    let mut suspect = open_onnx(&path, OnnxOptions::default()).unwrap_or_else(|e| panic!("{arch}: {e}"));
    assert_eq!(suspect.fixed_batch(), None, "{arch}: mown exports take any batch size");
    assert_eq!(suspect.input_shape(), model.input_shape(), "{arch}");
    assert_eq!(suspect.num_classes(), model.num_classes(), "{arch}");
    assert_eq!(suspect.output(), OnnxOutput::Logits, "{arch}: {}", suspect.output_reading());
    assert!(!suspect.takes_flat_input(), "{arch}");
    let Answer::Probabilities(got) = suspect.query(images, AccessLevel::Probabilities).unwrap() else {
        panic!("{arch}: not probabilities")
    };
    let want = model.probabilities(images).unwrap();
    let diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff < TOLERANCE, "{arch}: max probability difference {diff}");
    assert_eq!(suspect.labels(images).unwrap(), model.predict(images).unwrap(), "{arch}: labels differ");
    summary
}

#[test]
fn exported_digits_models_answer_like_mown() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [Arch::Mlp, Arch::Lenet5, Arch::ArcA, Arch::ArcB, Arch::ArcC, Arch::ArcD, Arch::ArcE, Arch::Resnet20] {
        let (model, data) = digits_model(arch);
        // 300 images: more than one inference chunk is not needed, but an odd count is.
        let images = &data.images()[..300 * data.shape.numel()];
        assert_export_matches(&model, images, dir.path());
    }
}

#[test]
fn exported_vgg_answers_like_mown() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data) = digits_model(Arch::Vgg11);
    assert_export_matches(&model, &data.images()[..40 * data.shape.numel()], dir.path());
}

#[test]
fn exported_28x28_models_answer_like_mown() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [Arch::Mlp, Arch::Lenet5, Arch::ArcD, Arch::ArcE] {
        let (model, images) = mnist_sized_model(arch, 37);
        assert_export_matches(&model, &images, dir.path());
    }
}

#[test]
fn onnx_suspect_counts_queries_and_enforces_budget_and_level() {
    let dir = tempfile::tempdir().unwrap();
    let (model, images) = mnist_sized_model(Arch::Mlp, 5);
    let path = dir.path().join("mlp.onnx");
    export_onnx(&model, &path).unwrap();
    let opts = OnnxOptions { level: AccessLevel::TopK(3), budget: Some(12), ..OnnxOptions::default() };
    let mut api = open_onnx(&path, opts).unwrap();
    assert_eq!(api.queries_used(), 0, "opening is not a query");
    assert!(
        matches!(api.query(&images, AccessLevel::TopK(3)).unwrap(), Answer::TopK(r) if r.len() == 5 && r[0].len() == 3)
    );
    assert!(matches!(api.query(&images, AccessLevel::Probabilities), Err(AccessError::LevelUnavailable { .. })));
    assert_eq!(api.labels(&images).unwrap(), model.predict(&images).unwrap());
    assert_eq!((api.queries_used(), api.queries_left()), (10, Some(2)));
    let err = api.query(&images, AccessLevel::Labels).unwrap_err();
    assert!(matches!(err, AccessError::BudgetExceeded { budget: 12, used: 10, requested: 5 }), "{err}");
    assert!(api.query(&images[..100], AccessLevel::Labels).unwrap_err().to_string().contains("100 values"));
    assert_eq!(api.queries_used(), 10, "refused queries are not charged");
    assert!(api.describe().contains("mlp.onnx"));

    // Every command taking a suspect opens .onnx files too.
    let opts = SuspectOptions { budget: Some(5), ..SuspectOptions::new(AccessLevel::Labels) };
    let mut suspect = open_suspect(path.to_str().unwrap(), &opts, &Device::flex()).unwrap();
    assert_eq!(suspect.labels(&images).unwrap(), model.predict(&images).unwrap());
    assert!(matches!(suspect.query(&images[..784], AccessLevel::Labels), Err(AccessError::BudgetExceeded { .. })));
}

#[test]
fn missing_corrupt_and_truncated_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.onnx");
    let err = open_onnx(&missing, OnnxOptions::default()).err().unwrap().to_string();
    assert!(err.contains("absent.onnx") && err.contains("cannot read"), "{err}");

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a protobuf \xff\xfe\x00\x01 at all").unwrap();
    let err = open_onnx(&garbage, OnnxOptions::default()).err().unwrap().to_string();
    assert!(err.contains("garbage.onnx") && err.contains("not a readable ONNX model"), "{err}");

    let (model, _) = mnist_sized_model(Arch::Lenet5, 1);
    let good = dir.path().join("lenet.onnx");
    export_onnx(&model, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = open_onnx(&truncated, OnnxOptions::default()).err().unwrap().to_string();
    assert!(err.contains("truncated.onnx"), "{err}");

    let err = open_onnx(dir.path(), OnnxOptions::default()).err().unwrap().to_string();
    assert!(err.contains("not a file"), "{err}");

    let wrong = OnnxOptions { input_shape: Some(ImageShape::new(1, 8, 8)), ..OnnxOptions::default() };
    let err = open_onnx(&good, wrong).err().unwrap().to_string();
    assert!(err.contains("height is 28 in the file but 8 was given"), "{err}");
    let err = open_onnx(&good, OnnxOptions { classes: Some(7), ..OnnxOptions::default() }).err().unwrap().to_string();
    assert!(err.contains("10 classes but 7 were expected"), "{err}");
}

/// Runs scripts/make_onnx_fixture.py with `args`; fails (never skips) when python or its onnx
/// package is missing.
fn fixture_script(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make_onnx_fixture.py");
    let out = Command::new("python3").arg(&script).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run python3 ({e}): run scripts/fetch-data.sh, which installs python's onnx and numpy")
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed: {stderr}\n(missing onnx or numpy? run scripts/fetch-data.sh)",
        script.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Fixture {
    dir: tempfile::TempDir,
    images: Vec<f32>,
    probs: Vec<f32>,
    labels: Vec<usize>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fixture_script(&[dir.path().to_str().unwrap()]);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
        let floats = |key: &str| -> Vec<f32> {
            json[key]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().clone())
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        };
        let images = floats("inputs");
        let mut probs = floats("logits");
        let labels = mown_nn::model::argmax_rows(&probs, 10);
        mown_nn::model::softmax_rows(&mut probs, 10);
        Fixture { dir, images, probs, labels }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn assert_answers(&self, name: &str, opts: OnnxOptions, fixed_batch: Option<usize>) -> OnnxModel {
        let mut suspect = open_onnx(self.path(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(suspect.fixed_batch(), fixed_batch, "{name}");
        assert_eq!((suspect.input_shape(), suspect.num_classes()), (ImageShape::new(1, 8, 8), 10), "{name}");
        let Answer::Probabilities(got) = suspect.query(&self.images, AccessLevel::Probabilities).unwrap() else {
            panic!()
        };
        let diff = got.iter().zip(&self.probs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{name}: max probability difference {diff}");
        assert_eq!(suspect.labels(&self.images).unwrap(), self.labels, "{name}");
        assert_eq!(suspect.queries_used(), 10, "{name}");
        suspect
    }
}

#[test]
fn python_onnx_files_answer_like_numpy() {
    let fx = Fixture::new();
    fx.assert_answers("classifier.onnx", OnnxOptions::default(), None);
    // Batch fixed to 1 in the file: run image by image.
    fx.assert_answers("classifier_b1.onnx", OnnxOptions::default(), Some(1));
    let probs = OnnxOptions { output: OnnxOutput::Probabilities, ..OnnxOptions::default() };
    fx.assert_answers("classifier_softmax.onnx", probs.clone(), None);
    // Auto (the default) sees the Softmax and reads probabilities as given.
    let auto = fx.assert_answers("classifier_softmax.onnx", OnnxOptions::default(), None);
    assert_eq!(auto.output(), OnnxOutput::Probabilities);
    assert!(auto.output_reading().contains("probabilities as given"), "{}", auto.output_reading());
    let logits = fx.assert_answers("classifier.onnx", OnnxOptions::default(), None);
    assert_eq!((logits.output(), logits.output_name()), (OnnxOutput::Logits, "output"));
    assert!(logits.output_reading().contains("softmax of logits"), "{}", logits.output_reading());
    let shape = OnnxOptions { input_shape: Some(ImageShape::new(1, 8, 8)), ..OnnxOptions::default() };
    fx.assert_answers("classifier_dynamic.onnx", shape.clone(), None);
    // Flat [N, 64] input: fed each image flattened row-major once the image shape is given.
    assert!(fx.assert_answers("classifier_rank2.onnx", shape, None).takes_flat_input());

    let err = |name: &str, opts: OnnxOptions| open_onnx(fx.path(name), opts).err().unwrap().to_string();
    let e = err("classifier_dynamic.onnx", OnnxOptions::default());
    assert!(e.contains("classifier_dynamic.onnx") && e.contains("height is not fixed"), "{e}");
    let e = err("classifier.onnx", probs);
    assert!(e.contains("not a probability vector") && e.contains("as requested"), "{e}");
    let e = err("classifier_softmax.onnx", OnnxOptions { output: OnnxOutput::Logits, ..OnnxOptions::default() });
    assert!(e.contains("classifier_softmax.onnx") && e.contains("softmax twice"), "{e}");
    let e = err("classifier_nan.onnx", OnnxOptions::default());
    assert!(e.contains("classifier_nan.onnx") && e.contains("not finite"), "{e}");
    let e = err("classifier_rank2.onnx", OnnxOptions::default());
    assert!(e.contains("classifier_rank2.onnx") && e.contains("rank 2"), "{e}");
}

#[test]
fn mown_exports_pass_the_reference_onnx_checker() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for arch in [Arch::Lenet5, Arch::ArcD, Arch::Resnet20] {
        let (model, _) = mnist_sized_model(arch, 1);
        let path = dir.path().join(format!("{arch}.onnx"));
        export_onnx(&model, &path).unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["--check"];
    args.extend(files.iter().map(String::as_str));
    let out = fixture_script(&args);
    assert_eq!(out.matches(": ok").count(), 3, "{out}");
}
