//! PyTorch `state_dict`s saved with safetensors (`safetensors.torch.save_file(model.state_dict(),
//! ...)`) for mown's own architectures, named as the modules of bench/pytorch_nn.py name them:
//!
//! | mown | PyTorch module names | mown's |
//! |---|---|---|
//! | lenet5 | `conv1`, `conv2`, `fc1`, `fc2`, `fc3` | the same |
//! | arc-a .. arc-e | `conv1` .. `convN`, `fc1`, `fc2` | `convs.0` .. `convs.N-1`, `fc1`, `fc2` |
//! | resnet20, resnet18 | `stem.0` (conv), `stem.1` (BN), `blocks.I.{conv1,bn1,conv2,bn2}`, `blocks.I.short.{0,1}`, `fc` | `stem.conv`, `stem.bn`, the same, `blocks.I.shortcut.{conv,bn}`, `fc` |
//! | vgg11, vgg16 | `features.J` (a Sequential of Conv, BN, ReLU and MaxPool), `fc` | `features.K.{conv,bn}` for the K-th convolution, `fc` |
//!
//! Every tensor is then moved into burn's layout: a Linear weight is transposed (PyTorch keeps
//! `[out, in]`, burn `[in, out]`), and a BatchNorm's `weight` / `bias` become `gamma` / `beta`
//! (its `running_mean` / `running_var` keep their names; `num_batches_tracked` is dropped).
//! float16, bfloat16 and float64 tensors are converted to float32. A tensor the architecture
//! lacks, or one it needs that the file lacks, is an error that names it. Checked against
//! PyTorch's logits: LeNet-5, Arc A and ResNet-20 in the tests (committed fixture), ResNet-18 and
//! VGG-11/16 by bench/pytorch_import_check.py (their state_dicts are too large to commit).

use std::collections::{BTreeMap, HashMap, HashSet};

use burn::prelude::Device;
use safetensors::{Dtype, SafeTensors};

use crate::models::Network;
use crate::{Arch, Model, ModelMeta, NnError};

/// A model of `meta.spec` (an architecture listed above) with the weights of `bytes`, a
/// safetensors state_dict. `source` names the file in errors.
pub fn import_state_dict(bytes: &[u8], meta: ModelMeta, source: &str, device: &Device) -> Result<Model, NnError> {
    let arch = meta.spec.arch;
    let fail = |reason: String| NnError::WeightMismatch { path: source.into(), arch: arch.to_string(), reason };
    let tensors = read_floats(bytes).map_err(fail)?;
    let renamed = rename_all(arch, tensors).map_err(fail)?;
    let views: Vec<(String, Vec<usize>, Vec<u8>)> = renamed
        .into_iter()
        .map(|(name, (shape, data))| (name, shape, data.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let list: Vec<(String, safetensors::tensor::TensorView<'_>)> = views
        .iter()
        .map(|(name, shape, data)| {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                .map_err(|e| fail(format!("tensor {name}: {e}")))?;
            Ok((name.clone(), view))
        })
        .collect::<Result<_, NnError>>()?;
    let burn_bytes = safetensors::serialize(list, None).map_err(|e| fail(e.to_string()))?;
    let mut net = {
        // The skeleton's random init values are overwritten; hold the RNG as `io::load` does.
        let _lock = crate::seed::SeedLock::acquire(device, 0);
        Network::init(&meta.spec, device)
    };
    crate::io::load_weights(&mut net, burn_bytes).map_err(fail)?;
    let mut model = Model { meta, net };
    model.meta.weights_sha256 = crate::io::model_sha256(&model)?;
    Ok(model)
}

/// The name of the classifier's bias in a state_dict of `arch` (its length is the class count).
pub fn classifier_bias(arch: Arch) -> Option<&'static str> {
    match arch {
        Arch::Lenet5 => Some("fc3.bias"),
        Arch::ArcA | Arch::ArcB | Arch::ArcC | Arch::ArcD | Arch::ArcE => Some("fc2.bias"),
        Arch::Resnet20 | Arch::Resnet18 | Arch::Vgg11 | Arch::Vgg16 => Some("fc.bias"),
        Arch::Mlp | Arch::Imported => None,
    }
}

/// The length of tensor `name` in the state_dict `bytes` (for the class count).
pub fn tensor_len(bytes: &[u8], name: &str) -> Result<usize, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let view = file.tensor(name).map_err(|_| format!("no tensor {name} in the file"))?;
    Ok(view.shape().iter().product())
}

type Floats = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Every floating-point tensor as f32; `num_batches_tracked` (an integer counter) is dropped.
fn read_floats(bytes: &[u8]) -> Result<Floats, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F64 => {
                raw.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect()
            }
            Dtype::F16 => raw.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => raw.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            other => return Err(format!("tensor {name} is {other:?}, not floating point")),
        };
        if let Some(bad) = data.iter().position(|v| !v.is_finite()) {
            return Err(format!("tensor {name} holds a non-finite value at {bad}"));
        }
        out.insert(name, (view.shape().to_vec(), data));
    }
    Ok(out)
}

/// PyTorch's names and layouts to burn's, for `arch`.
fn rename_all(arch: Arch, tensors: Floats) -> Result<Floats, String> {
    let variant = match arch {
        Arch::Lenet5 => "Lenet5",
        Arch::ArcA | Arch::ArcB | Arch::ArcC | Arch::ArcD | Arch::ArcE => "Simple",
        Arch::Resnet20 | Arch::Resnet18 => "ResNet",
        Arch::Vgg11 | Arch::Vgg16 => "Vgg",
        Arch::Mlp | Arch::Imported => return Err(format!("{arch} has no PyTorch definition to import from")),
    };
    // VGG: the K-th convolution of the features Sequential (a 4-D weight), by index.
    let mut conv_indices: Vec<usize> = tensors
        .iter()
        .filter(|(_, (shape, _))| shape.len() == 4)
        .filter_map(|(name, _)| name.strip_prefix("features.")?.split('.').next()?.parse().ok())
        .collect();
    conv_indices.sort_unstable();
    conv_indices.dedup();
    let conv_k: HashMap<usize, usize> = conv_indices.iter().enumerate().map(|(k, &j)| (j, k)).collect();
    let batch_norms: HashSet<String> =
        tensors.keys().filter_map(|n| n.strip_suffix(".running_mean")).map(String::from).collect();
    let mut out = BTreeMap::new();
    for (name, (shape, data)) in tensors {
        let (module, param) = name.rsplit_once('.').ok_or_else(|| format!("tensor {name}: no module path"))?;
        let param = match param {
            "weight" if batch_norms.contains(module) => "gamma",
            "bias" if batch_norms.contains(module) => "beta",
            p => p,
        };
        let (shape, data) = if param == "weight" && shape.len() == 2 {
            let (rows, cols) = (shape[0], shape[1]);
            let t: Vec<f32> = (0..rows * cols).map(|i| data[(i % rows) * cols + i / rows]).collect();
            (vec![cols, rows], t)
        } else {
            (shape, data)
        };
        let path = module_path(arch, module, &conv_k).map_err(|e| format!("tensor {name}: {e}"))?;
        out.insert(format!("{variant}.{path}.{param}"), (shape, data));
    }
    Ok(out)
}

/// The burn module path of PyTorch module `module` (see the table above).
fn module_path(arch: Arch, module: &str, conv_k: &HashMap<usize, usize>) -> Result<String, String> {
    let parts: Vec<&str> = module.split('.').collect();
    match arch {
        Arch::Lenet5 => Ok(module.to_string()),
        Arch::Resnet20 | Arch::Resnet18 => Ok(match parts[..] {
            ["stem", "0"] => "stem.conv".into(),
            ["stem", "1"] => "stem.bn".into(),
            ["blocks", i, "short", "0"] => format!("blocks.{i}.shortcut.conv"),
            ["blocks", i, "short", "1"] => format!("blocks.{i}.shortcut.bn"),
            _ => module.to_string(),
        }),
        Arch::Vgg11 | Arch::Vgg16 => match parts[..] {
            ["features", j] => {
                let j: usize = j.parse().map_err(|_| format!("features index '{j}'"))?;
                match (conv_k.get(&j), j.checked_sub(1).and_then(|p| conv_k.get(&p))) {
                    (Some(k), _) => Ok(format!("features.{k}.conv")),
                    (None, Some(k)) => Ok(format!("features.{k}.bn")),
                    _ => Err(format!("features.{j} follows no convolution")),
                }
            }
            _ => Ok(module.to_string()),
        },
        _ => match module.strip_prefix("conv").map(str::parse::<usize>) {
            Some(Ok(i)) if i >= 1 => Ok(format!("convs.{}", i - 1)),
            _ => Ok(module.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_weights_transpose_and_batchnorm_renames() {
        let mut t = Floats::new();
        t.insert("fc.weight".into(), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        t.insert("stem.1.weight".into(), (vec![2], vec![1.0, 1.0]));
        t.insert("stem.1.running_mean".into(), (vec![2], vec![0.0, 0.0]));
        t.insert("blocks.3.short.0.weight".into(), (vec![2, 2, 1, 1], vec![0.0; 4]));
        let r = rename_all(Arch::Resnet20, t).unwrap();
        assert_eq!(r["ResNet.fc.weight"], (vec![3, 2], vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]));
        assert!(r.contains_key("ResNet.stem.bn.gamma") && r.contains_key("ResNet.stem.bn.running_mean"));
        assert!(r.contains_key("ResNet.blocks.3.shortcut.conv.weight"), "{:?}", r.keys());
    }

    #[test]
    fn vgg_features_map_to_the_kth_convolution() {
        let mut t = Floats::new();
        for j in [0, 4, 8] {
            t.insert(format!("features.{j}.weight"), (vec![1, 1, 3, 3], vec![0.0; 9]));
            t.insert(format!("features.{}.weight", j + 1), (vec![1], vec![1.0]));
            t.insert(format!("features.{}.running_mean", j + 1), (vec![1], vec![0.0]));
        }
        let r = rename_all(Arch::Vgg11, t.clone()).unwrap();
        assert!(r.contains_key("Vgg.features.2.conv.weight") && r.contains_key("Vgg.features.2.bn.gamma"));
        t.insert("features.6.weight".into(), (vec![1], vec![0.0]));
        assert!(rename_all(Arch::Vgg11, t).unwrap_err().contains("features.6 follows no convolution"));
        assert!(rename_all(Arch::Mlp, Floats::new()).unwrap_err().contains("no PyTorch definition"));
    }
}
