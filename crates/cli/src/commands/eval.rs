use std::path::PathBuf;

use anyhow::Context;
use mown_data::DataSource;
use mown_nn::Model;

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model file, or an .onnx classifier (imported with `mown import`'s defaults).
    pub model: PathBuf,
    /// Data source (defaults to the one the model was trained on); resized to the model's input
    /// when its images have another shape.
    #[arg(long)]
    pub data: Option<String>,
    /// Also compare with another model of the same input and classes on the same images: label
    /// agreement (fidelity), each model's predicted-label histogram and mean top-class
    /// probability. With `--data` set to another task this shows how two models answer
    /// out-of-distribution queries, e.g. a watermarked owner and its no-watermark twin on the
    /// images a thief would send.
    #[arg(long)]
    pub against: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    let model = super::load_model(&a.model, &device)?;
    let data = a.data.clone().unwrap_or_else(|| model.meta.provenance.dataset.clone());
    let source: DataSource =
        data.parse().with_context(|| format!("the model records dataset '{data}'; pass --data"))?;
    let (_, mut test) = source.load()?;
    if test.shape != model.input_shape() {
        test = test.resized(model.input_shape())?;
    }
    if test.is_empty() {
        anyhow::bail!("dataset {} is empty", test.name);
    }
    // Another task's images (other classes) still serve `--against`, which compares the two
    // models' answers; an accuracy against labels of other classes would mean nothing.
    let same_task = super::same_task(&test, &model.meta.class_names);
    if !same_task && a.against.is_none() {
        anyhow::bail!(
            "{} has {} classes {:?}, the model {} classes {:?}: its accuracy there would mean nothing (--against compares two models on such images)",
            test.name,
            test.num_classes,
            test.class_names,
            model.num_classes(),
            model.meta.class_names
        );
    }
    let accuracy = |answers: &Answers| {
        if same_task { format!("{:.4}", answers.accuracy(test.labels())) } else { "n/a (other classes)".to_string() }
    };
    let started = std::time::Instant::now();
    let ours = Answers::of(&model, test.images())?;
    println!(
        "{}: accuracy {} on {} ({} images, {:.2}s)",
        a.model.display(),
        accuracy(&ours),
        test.name,
        test.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(other_path) = &a.against {
        let other = mown_nn::io::load(other_path, &device)?;
        if other.input_shape() != model.input_shape() || other.num_classes() != model.num_classes() {
            anyhow::bail!(
                "{} takes {:?} images into {} classes, {} takes {:?} into {}: not comparable",
                other_path.display(),
                other.input_shape(),
                other.num_classes(),
                a.model.display(),
                model.input_shape(),
                model.num_classes()
            );
        }
        let theirs = Answers::of(&other, test.images())?;
        let agree = ours.labels.iter().zip(&theirs.labels).filter(|(x, y)| x == y).count();
        println!(
            "against {}: accuracy {}, label agreement {:.4} ({agree} of {})",
            other_path.display(),
            accuracy(&theirs),
            agree as f64 / test.len() as f64,
            test.len()
        );
        println!("{:<12} {:>12} {:>12}", "label", "this model", "other model");
        for (class, name) in model.meta.class_names.iter().enumerate() {
            println!("{:<12} {:>12} {:>12}", name, ours.histogram[class], theirs.histogram[class]);
        }
        println!("{:<12} {:>12.4} {:>12.4}", "mean top", ours.mean_top, theirs.mean_top);
    }
    Ok(())
}

/// A model's answers on a set of images: labels, how often it gives each, and its mean
/// top-class probability (how sure it is).
struct Answers {
    labels: Vec<usize>,
    histogram: Vec<usize>,
    mean_top: f64,
}

impl Answers {
    fn of(model: &Model, images: &[f32]) -> anyhow::Result<Self> {
        let classes = model.num_classes();
        let probs = model.probabilities(images)?;
        let labels = mown_nn::model::argmax_rows(&probs, classes);
        let mut histogram = vec![0; classes];
        labels.iter().for_each(|&l| histogram[l] += 1);
        let top: f64 = probs.chunks(classes).map(|row| row.iter().cloned().fold(f32::MIN, f32::max) as f64).sum();
        Ok(Self { mean_top: top / labels.len().max(1) as f64, labels, histogram })
    }

    /// Top-1 accuracy against the true labels (one pass of the model serves both this and the
    /// comparison).
    fn accuracy(&self, truth: &[usize]) -> f64 {
        self.labels.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / self.labels.len().max(1) as f64
    }
}
