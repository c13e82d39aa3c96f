//! Writes a mown model as an ONNX graph (opset 13) that takes pixels in [0, 1] and returns
//! logits, by walking the burn network layer by layer. The input normalisation is part of the
//! graph, so the file answers exactly like the model file it came from.

use std::path::Path;

use mown_nn::Model;
use mown_nn::burn::nn::conv::Conv2d;
use mown_nn::burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use mown_nn::burn::prelude::Tensor;
use mown_nn::model::tensor_to_vec;
use mown_nn::models::{Activation, Network};
use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, type_proto,
};

use super::file_error;
use crate::AccessError;

/// ONNX opset the graph is written for (every operator used has been stable since).
const OPSET: i64 = 13;
/// IR version that goes with opset 13.
const IR_VERSION: i64 = 7;
/// Name of the graph input (pixels, NCHW f32 in [0, 1]) and output (logits).
pub const INPUT_NAME: &str = "pixels";
pub const OUTPUT_NAME: &str = "logits";
/// Symbolic batch dimension of input and output.
const BATCH: &str = "N";

/// What `export_onnx` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// Operator nodes in the graph.
    pub nodes: usize,
    /// Scalars stored in initializers (weights and normalisation constants).
    pub parameters: usize,
    pub bytes: usize,
}

/// Writes `model` to `path` as ONNX (atomically: a temporary file renamed into place).
pub fn export_onnx(model: &Model, path: &Path) -> Result<ExportSummary, AccessError> {
    let proto = model_proto(model)?;
    let bytes = proto.encode_to_vec();
    let graph = proto.graph.as_ref();
    let summary = ExportSummary {
        nodes: graph.map_or(0, |g| g.node.len()),
        parameters: graph.map_or(0, |g| g.initializer.iter().map(|t| t.float_data.len()).sum()),
        bytes: bytes.len(),
    };
    let io = |e: std::io::Error| file_error(path, format!("cannot write: {e}"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("onnx.partial");
    std::fs::write(&tmp, &bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(summary)
}

/// The ONNX encoding of `model`, for callers that do not want a file.
pub fn onnx_bytes(model: &Model) -> Result<Vec<u8>, AccessError> {
    Ok(model_proto(model)?.encode_to_vec())
}

fn model_proto(model: &Model) -> Result<ModelProto, AccessError> {
    let model = model.valid();
    let spec = *model.spec();
    let input = spec.input;
    let mut g = Graph::default();

    // Normalisation, as Model::normalize does it, so the file takes pixels.
    let c = input.channels;
    let mean = g.constant("normalize.mean", &[1, c, 1, 1], model.meta.normalization.mean.clone());
    let std = g.constant("normalize.std", &[1, c, 1, 1], model.meta.normalization.std.clone());
    let x = g.node("Sub", "normalize.sub", vec![INPUT_NAME.into(), mean], vec![]);
    let x = g.node("Div", "normalize.div", vec![x, std], vec![]);

    let logits = match &model.net {
        Network::Mlp(m) => {
            let mut h = g.node("Flatten", "flatten", vec![x], vec![int("axis", 1)]);
            let last = m.layers.len().saturating_sub(1);
            for (i, layer) in m.layers.iter().enumerate() {
                h = g.linear(h, layer, &format!("layers.{i}"));
                if i < last {
                    h = g.node("Relu", &format!("layers.{i}.relu"), vec![h], vec![]);
                }
            }
            h
        }
        Network::Lenet5(m) => {
            let [pool1, pool2] = m.pools();
            let mut h = g.conv(x, &m.conv1, "conv1")?;
            h = g.node("Relu", "conv1.relu", vec![h], vec![]);
            if pool1 {
                h = g.max_pool(h, "pool1");
            }
            h = g.conv(h, &m.conv2, "conv2")?;
            h = g.node("Relu", "conv2.relu", vec![h], vec![]);
            if pool2 {
                h = g.max_pool(h, "pool2");
            }
            h = g.node("Flatten", "flatten", vec![h], vec![int("axis", 1)]);
            h = g.linear(h, &m.fc1, "fc1");
            h = g.node("Relu", "fc1.relu", vec![h], vec![]);
            h = g.linear(h, &m.fc2, "fc2");
            h = g.node("Relu", "fc2.relu", vec![h], vec![]);
            g.linear(h, &m.fc3, "fc3")
        }
        Network::Simple(m) => {
            let mut h = x;
            for (i, ((conv, act), &pool)) in m.convs.iter().zip(&m.acts).zip(m.pool_after()).enumerate() {
                h = g.conv(h, conv, &format!("convs.{i}"))?;
                h = g.activation(h, act, 4, &format!("acts.{i}"));
                if pool {
                    h = g.max_pool(h, &format!("pool.{i}"));
                }
            }
            // Dropout is the identity in evaluation mode.
            h = g.node("Flatten", "flatten", vec![h], vec![int("axis", 1)]);
            h = g.linear(h, &m.fc1, "fc1");
            h = g.activation(h, &m.fc_act, 2, "fc_act");
            g.linear(h, &m.fc2, "fc2")
        }
        Network::ResNet(m) => {
            let mut h = g.conv(x, &m.stem.conv, "stem.conv")?;
            h = g.batch_norm(h, &m.stem.bn, "stem.bn");
            h = g.node("Relu", "stem.relu", vec![h], vec![]);
            for (i, block) in m.blocks.iter().enumerate() {
                let p = format!("blocks.{i}");
                let identity = match &block.shortcut {
                    Some(s) => {
                        let s_out = g.conv(h.clone(), &s.conv, &format!("{p}.shortcut.conv"))?;
                        g.batch_norm(s_out, &s.bn, &format!("{p}.shortcut.bn"))
                    }
                    None => h.clone(),
                };
                let mut y = g.conv(h, &block.conv1, &format!("{p}.conv1"))?;
                y = g.batch_norm(y, &block.bn1, &format!("{p}.bn1"));
                y = g.node("Relu", &format!("{p}.relu1"), vec![y], vec![]);
                y = g.conv(y, &block.conv2, &format!("{p}.conv2"))?;
                y = g.batch_norm(y, &block.bn2, &format!("{p}.bn2"));
                y = g.node("Add", &format!("{p}.add"), vec![y, identity], vec![]);
                h = g.node("Relu", &format!("{p}.relu2"), vec![y], vec![]);
            }
            h = g.node("GlobalAveragePool", "gap", vec![h], vec![]);
            h = g.node("Flatten", "flatten", vec![h], vec![int("axis", 1)]);
            g.linear(h, &m.fc, "fc")
        }
        Network::Vgg(m) => {
            let mut h = x;
            for (i, (layer, &pool)) in m.features.iter().zip(m.pool_after()).enumerate() {
                h = g.conv(h, &layer.conv, &format!("features.{i}.conv"))?;
                h = g.batch_norm(h, &layer.bn, &format!("features.{i}.bn"));
                h = g.node("Relu", &format!("features.{i}.relu"), vec![h], vec![]);
                if pool {
                    h = g.max_pool(h, &format!("features.{i}.pool"));
                }
            }
            h = g.node("GlobalAveragePool", "gap", vec![h], vec![]);
            h = g.node("Flatten", "flatten", vec![h], vec![int("axis", 1)]);
            g.linear(h, &m.fc, "fc")
        }
        Network::Graph(m) => super::export_graph::emit(&mut g.nodes, &mut g.inits, x, m)?,
    };
    // The node computing the logits gives the graph output its public name.
    let Some(last) = g.nodes.iter_mut().find(|n| n.output.first() == Some(&logits)) else {
        return Err(AccessError::BadRequest(format!("cannot export {}: the network has no layers", spec.arch)));
    };
    last.output = vec![OUTPUT_NAME.into()];

    let graph = GraphProto {
        name: format!("mown {}", spec.arch),
        node: g.nodes,
        initializer: g.inits,
        input: vec![value_info(INPUT_NAME, &[None, Some(c), Some(input.height), Some(input.width)])],
        output: vec![value_info(OUTPUT_NAME, &[None, Some(spec.num_classes)])],
        ..Default::default()
    };
    let sha = if model.meta.weights_sha256.is_empty() {
        mown_nn::io::model_sha256(&model)?
    } else {
        model.meta.weights_sha256.clone()
    };
    let meta = &model.meta;
    let props = [
        ("mown.arch", spec.arch.to_string()),
        ("mown.derivation", meta.provenance.derivation.clone()),
        ("mown.weights_sha256", sha),
        ("mown.class_names", serde_json::to_string(&meta.class_names).unwrap_or_default()),
    ];
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "mown".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "Takes NCHW f32 pixels in [0, 1] (normalisation included); returns logits.".into(),
        graph: Some(graph),
        metadata_props: props
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key: key.into(), value })
            .collect(),
        ..Default::default()
    })
}

/// Nodes and initializers under construction; every output is named after its node.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
}

impl Graph {
    fn constant(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        self.inits.push(TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            float_data: values,
            ..Default::default()
        });
        name.into()
    }

    fn param<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) -> String {
        let dims = tensor.dims();
        self.constant(name, &dims, tensor_to_vec(tensor))
    }

    fn node(&mut self, op: &str, name: &str, inputs: Vec<String>, attribute: Vec<AttributeProto>) -> String {
        let output = format!("{name}.out");
        self.nodes.push(NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs,
            output: vec![output.clone()],
            attribute,
            ..Default::default()
        });
        output
    }

    /// burn stores the weight as `[in, out]`: Gemm without transposition.
    fn linear(&mut self, x: String, layer: &Linear, name: &str) -> String {
        let mut inputs = vec![x, self.param(&format!("{name}.weight"), layer.weight.val())];
        if let Some(b) = &layer.bias {
            inputs.push(self.param(&format!("{name}.bias"), b.val()));
        }
        self.node("Gemm", name, inputs, vec![])
    }

    fn conv(&mut self, x: String, conv: &Conv2d, name: &str) -> Result<String, AccessError> {
        let [kh, kw] = conv.kernel_size;
        let pads = match conv.padding {
            PaddingConfig2d::Valid => [0, 0, 0, 0],
            // burn's order (top, left, bottom, right) is ONNX's (x1_begin, x2_begin, x1_end, x2_end).
            PaddingConfig2d::Explicit(t, l, b, r) => [t, l, b, r],
            PaddingConfig2d::Same if conv.stride == [1, 1] && kh % 2 == 1 && kw % 2 == 1 => {
                [kh / 2, kw / 2, kh / 2, kw / 2]
            }
            PaddingConfig2d::Same => {
                return Err(AccessError::BadRequest(format!(
                    "cannot export {name}: 'same' padding with stride {:?} and kernel {kh}x{kw}",
                    conv.stride
                )));
            }
        };
        let mut inputs = vec![x, self.param(&format!("{name}.weight"), conv.weight.val())];
        if let Some(b) = &conv.bias {
            inputs.push(self.param(&format!("{name}.bias"), b.val()));
        }
        let attrs = vec![
            ints("kernel_shape", &[kh, kw]),
            ints("strides", &conv.stride),
            ints("pads", &pads),
            ints("dilations", &conv.dilation),
            int("group", conv.groups as i64),
        ];
        Ok(self.node("Conv", name, inputs, attrs))
    }

    /// Evaluation mode: the running statistics.
    fn batch_norm(&mut self, x: String, bn: &BatchNorm, name: &str) -> String {
        let inputs = vec![
            x,
            self.param(&format!("{name}.gamma"), bn.gamma.val()),
            self.param(&format!("{name}.beta"), bn.beta.val()),
            self.param(&format!("{name}.running_mean"), bn.running_mean.value()),
            self.param(&format!("{name}.running_var"), bn.running_var.value()),
        ];
        self.node("BatchNormalization", name, inputs, vec![float("epsilon", bn.epsilon as f32)])
    }

    /// `rank` is the rank of `x`: a per-channel PReLU slope must broadcast over dimension 1.
    fn activation(&mut self, x: String, act: &Activation, rank: usize, name: &str) -> String {
        match act {
            Activation::Relu(_) => self.node("Relu", name, vec![x], vec![]),
            Activation::Elu(e) => self.node("Elu", name, vec![x], vec![float("alpha", e.alpha as f32)]),
            Activation::PRelu(p) => {
                let values = tensor_to_vec(p.alpha.val());
                let mut dims = vec![values.len()];
                if values.len() > 1 {
                    dims.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
                }
                let slope = self.constant(&format!("{name}.alpha"), &dims, values);
                self.node("PRelu", name, vec![x, slope], vec![])
            }
        }
    }

    fn max_pool(&mut self, x: String, name: &str) -> String {
        self.node("MaxPool", name, vec![x], vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])])
    }
}

pub(super) fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i, ..Default::default() }
}

pub(super) fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

pub(super) fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Float as i32, f, ..Default::default() }
}

/// A float tensor value; `None` dimensions are the symbolic batch.
fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v as i64),
                None => dimension::Value::DimParam(BATCH.into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
