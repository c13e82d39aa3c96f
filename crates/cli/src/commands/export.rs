use std::path::PathBuf;

use anyhow::Context;
use mown_access::{AccessLevel, Answer, OnnxOptions, QueryModel, export_onnx, open_onnx};

use super::DeviceArgs;

/// Largest probability difference between the model and its export accepted by the check.
const CHECK_TOLERANCE: f32 = 1e-4;

#[derive(clap::Args, Debug)]
pub struct ExportOnnxArgs {
    /// Model file (.safetensors).
    pub model: PathBuf,
    /// Output file (default: the model path with extension .onnx).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Random images on which the export is checked against the model.
    #[arg(long, default_value_t = 64)]
    pub check_images: usize,
    /// Seed of the check images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: ExportOnnxArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    let model = mown_nn::io::load(&a.model, &device)?;
    let out = a.out.clone().unwrap_or_else(|| a.model.with_extension("onnx"));
    let summary = export_onnx(&model, &out)?;
    println!(
        "{}: {} nodes, {} parameters, {} bytes (input NCHW pixels in [0, 1], output logits)",
        out.display(),
        summary.nodes,
        summary.parameters,
        summary.bytes
    );
    if a.check_images == 0 {
        return Ok(());
    }
    // Re-open the file the way a suspect is opened and compare on random pixels.
    let mut suspect = open_onnx(&out, OnnxOptions::default()).context("re-opening the export")?;
    let images = random_pixels(a.check_images * model.input_shape().numel(), a.seed);
    let Answer::Probabilities(got) = suspect.query(&images, AccessLevel::Probabilities)? else {
        anyhow::bail!("the export did not answer with probabilities");
    };
    let want = model.probabilities(&images)?;
    let diff = got.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let classes = model.num_classes();
    let agree = mown_nn::model::argmax_rows(&got, classes)
        .iter()
        .zip(mown_nn::model::argmax_rows(&want, classes))
        .filter(|(x, y)| **x == *y)
        .count();
    println!(
        "check on {} random images: max |prob difference| {diff:.2e}, labels agree on {agree}/{}",
        a.check_images, a.check_images
    );
    anyhow::ensure!(
        diff <= CHECK_TOLERANCE,
        "the export differs from the model by {diff} (tolerance {CHECK_TOLERANCE})"
    );
    Ok(())
}

/// Uniform pixels in [0, 1) from a xorshift generator (reproducible, no dependency).
fn random_pixels(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}
