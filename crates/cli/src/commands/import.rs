//! `mown import MODEL.onnx --out owner.safetensors`: an ONNX image classifier trained elsewhere
//! (PyTorch, Keras via tf2onnx) becomes a mown model file, so that every white-box step
//! (fingerprints, watermarks by fine-tuning, attacks) runs on it. With `--arch`, the file is a
//! PyTorch state_dict saved with safetensors for one of mown's own architectures
//! (`mown_nn::pytorch` has the name mapping).

use std::path::PathBuf;

use anyhow::{Context, bail};
use mown_access::onnx::{ImportOptions, Layout, import_onnx};
use mown_data::ImageShape;

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// ONNX file of an image classifier: one image input, logits (or a final Softmax) out. With
    /// --arch: a PyTorch state_dict saved with safetensors.
    pub model: PathBuf,
    /// The file is a PyTorch state_dict of this mown architecture (lenet5, arc-a..arc-e,
    /// resnet20, resnet18, vgg11, vgg16), with the module names of bench/pytorch_nn.py;
    /// --input-shape is then required.
    #[arg(long)]
    pub arch: Option<mown_nn::Arch>,
    /// Output model file (.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Input layout of the file: nchw (PyTorch) or nhwc (Keras / TensorFlow).
    #[arg(long, default_value = "nchw")]
    pub layout: String,
    /// Values the network takes: 0-1 or 0-255 (mown always feeds pixels in [0, 1]).
    #[arg(long, default_value = "0-1")]
    pub input_range: String,
    /// Mean subtracted per channel, in the input range's units (one value or one per channel).
    #[arg(long, value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Standard deviation divided by per channel, in the input range's units.
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// Class names, comma-separated, or the class count the graph must have.
    #[arg(long)]
    pub classes: Option<String>,
    /// C,H,W of the input where the file leaves them symbolic.
    #[arg(long)]
    pub input_shape: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn input_range(s: &str) -> anyhow::Result<f32> {
    match s.trim() {
        "0-1" | "1" => Ok(1.0),
        "0-255" | "255" => Ok(255.0),
        other => bail!("unknown input range '{other}' (0-1 or 0-255)"),
    }
}

fn input_shape(s: &str) -> anyhow::Result<ImageShape> {
    let v: Vec<usize> = s
        .split([',', 'x'])
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--input-shape '{s}': C,H,W"))?;
    let [c, h, w] = v[..] else { bail!("--input-shape '{s}': three numbers C,H,W") };
    Ok(ImageShape::new(c, h, w))
}

pub fn run(a: ImportArgs) -> anyhow::Result<()> {
    if let Some(arch) = a.arch {
        return run_state_dict(&a, arch);
    }
    let device = a.device.device()?;
    let layout: Layout = a.layout.parse()?;
    let (class_names, class_count) = match a.classes.as_deref() {
        None => (None, None),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(k) => (None, Some(k)),
            Err(_) => (Some(s.split(',').map(|n| n.trim().to_string()).collect()), None),
        },
    };
    let opts = ImportOptions {
        layout,
        input_range: input_range(&a.input_range)?,
        mean: a.mean.clone(),
        std: a.std.clone(),
        class_names,
        input_shape: a.input_shape.as_deref().map(input_shape).transpose()?,
    };
    let imported = import_onnx(&a.model, &opts, &device)?;
    let model = imported.model;
    if let Some(k) = class_count
        && k != model.num_classes()
    {
        bail!("{} gives {} logits, --classes says {k}", a.model.display(), model.num_classes());
    }
    // A first forward pass, on mid-grey images: a graph that runs but answers NaN is refused now.
    model.logits(&vec![0.5; 2 * model.input_shape().numel()]).context("running the imported model")?;
    let meta = mown_nn::io::save(&model, &a.out)?;
    let graph = meta.graph.as_ref().context("the imported model has its graph")?;
    let s = model.input_shape();
    println!(
        "{} -> {}: input {}x{}x{} ({:?} in the file), {} classes",
        a.model.display(),
        a.out.display(),
        s.channels,
        s.height,
        s.width,
        layout,
        model.num_classes()
    );
    println!("  source: {}", graph.source);
    let ops: Vec<String> = graph.op_summary().iter().map(|(op, n)| format!("{op} x{n}")).collect();
    println!("  ops: {} nodes: {}", graph.nodes.len(), ops.join(", "));
    if let Some(stripped) = &graph.stripped {
        println!("  final {stripped} removed: the model returns logits");
    }
    let (trained, frozen) = graph.num_params();
    println!("  parameters: {trained} trainable, {frozen} frozen (BatchNorm running statistics and large constants)");
    println!(
        "  normalisation: mean {:?}, std {:?} (of pixels in [0, 1])",
        meta.normalization.mean, meta.normalization.std
    );
    println!("  derivation: {}", meta.provenance.derivation);
    println!("  onnx sha256: {}", imported.onnx_sha256);
    println!("  model sha256: {} (weights and graph)", meta.weights_sha256);
    Ok(())
}

/// `--arch`: a PyTorch state_dict of one of mown's architectures.
fn run_state_dict(a: &ImportArgs, arch: mown_nn::Arch) -> anyhow::Result<()> {
    if a.layout.parse::<Layout>()? != Layout::Nchw {
        bail!("--layout applies to ONNX files; a PyTorch state_dict's network takes NCHW images");
    }
    let shape = input_shape(a.input_shape.as_deref().context("--arch needs --input-shape C,H,W")?)?;
    let bytes = std::fs::read(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let bias = mown_nn::pytorch::classifier_bias(arch).with_context(|| format!("{arch} has no PyTorch definition"))?;
    let classes =
        mown_nn::pytorch::tensor_len(&bytes, bias).map_err(|e| anyhow::anyhow!("{}: {e}", a.model.display()))?;
    let names: Vec<String> = match a.classes.as_deref().map(str::trim) {
        None => (0..classes).map(|k| k.to_string()).collect(),
        Some(s) if s.parse::<usize>().is_ok() => {
            if s.parse::<usize>()? != classes {
                bail!("{} gives {classes} logits ({bias}), --classes says {s}", a.model.display());
            }
            (0..classes).map(|k| k.to_string()).collect()
        }
        Some(s) => s.split(',').map(|n| n.trim().to_string()).collect(),
    };
    let range = input_range(&a.input_range)?;
    let normalization =
        mown_access::onnx::input_normalization(shape.channels, range, a.mean.as_deref(), a.std.as_deref())?;
    let spec = mown_nn::ModelSpec::new(arch, shape, classes)?;
    let mut meta = mown_nn::ModelMeta::new(spec, normalization, names)?;
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    meta.provenance.derivation = format!("import-pytorch({arch},sha256={})", &sha[..16]);
    meta.provenance.details = serde_json::json!({ "state_dict_sha256": sha, "input_range": range });
    let source = a.model.display().to_string();
    let model = mown_nn::pytorch::import_state_dict(&bytes, meta, &source, &a.device.device()?)?;
    model.logits(&vec![0.5; 2 * shape.numel()]).context("running the imported model")?;
    let meta = mown_nn::io::save(&model, &a.out)?;
    println!(
        "{} -> {}: {arch}, input {}x{}x{}, {classes} classes (PyTorch state_dict)",
        a.model.display(),
        a.out.display(),
        shape.channels,
        shape.height,
        shape.width
    );
    println!(
        "  normalisation: mean {:?}, std {:?} (of pixels in [0, 1])",
        meta.normalization.mean, meta.normalization.std
    );
    println!("  derivation: {}", meta.provenance.derivation);
    println!("  model sha256: {}", meta.weights_sha256);
    Ok(())
}
