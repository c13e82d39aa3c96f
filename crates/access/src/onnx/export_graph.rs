//! `mown export-onnx` for an imported model: the graph's nodes written back as ONNX (opset 13)
//! with the current weights, after the normalisation nodes `export` puts first. Names come from
//! the imported file, renamed where they would collide with the export's own.

use std::collections::HashSet;

use mown_nn::models::graph::{Dim, Op, Operand};
use mown_nn::models::{GraphDef, GraphNet};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{NodeProto, TensorProto};

use super::export::{INPUT_NAME, float, int, ints};
use crate::AccessError;

struct Emitter<'a> {
    nodes: &'a mut Vec<NodeProto>,
    inits: &'a mut Vec<TensorProto>,
    used: HashSet<String>,
}

impl Emitter<'_> {
    /// `base`, or `base.1`, `base.2`, ... if taken.
    fn fresh(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "v" } else { base };
        let mut name = base.to_string();
        let mut i = 0;
        while !self.used.insert(name.clone()) {
            i += 1;
            name = format!("{base}.{i}");
        }
        name
    }

    fn floats(&mut self, base: &str, shape: &[usize], data: Vec<f32>) -> String {
        let name = self.fresh(base);
        self.inits.push(TensorProto {
            name: name.clone(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            float_data: data,
            ..Default::default()
        });
        name
    }

    fn int64s(&mut self, base: &str, data: Vec<i64>) -> String {
        let name = self.fresh(base);
        self.inits.push(TensorProto {
            name: name.clone(),
            dims: vec![data.len() as i64],
            data_type: DataType::Int64 as i32,
            int64_data: data,
            ..Default::default()
        });
        name
    }

    fn node(
        &mut self,
        op: &str,
        name: &str,
        input: Vec<String>,
        attribute: Vec<tract_onnx::pb::AttributeProto>,
    ) -> String {
        let output = self.fresh(&format!("{name}.out"));
        let name = self.fresh(name);
        self.nodes.push(NodeProto {
            name,
            op_type: op.into(),
            input,
            output: vec![output.clone()],
            attribute,
            ..Default::default()
        });
        output
    }

    /// A reshape target as an int64 tensor; batch multiples are read off the image at run time.
    fn shape_input(&mut self, name: &str, target: &[Dim]) -> String {
        if let Some(fixed) = target.iter().map(|d| d.fixed()).collect::<Option<Vec<i64>>>() {
            return self.int64s(&format!("{name}.shape"), fixed);
        }
        let shape = self.node("Shape", &format!("{name}.image_shape"), vec![INPUT_NAME.into()], vec![]);
        let (start, end) =
            (self.int64s(&format!("{name}.start"), vec![0]), self.int64s(&format!("{name}.end"), vec![1]));
        let batch = self.node("Slice", &format!("{name}.batch"), vec![shape, start, end], vec![]);
        let mut parts = Vec::new();
        for (i, d) in target.iter().enumerate() {
            parts.push(match *d {
                Dim::Fixed(k) => self.int64s(&format!("{name}.dim{i}"), vec![k]),
                Dim::Batch(1) => batch.clone(),
                Dim::Batch(k) => {
                    let factor = self.int64s(&format!("{name}.factor{i}"), vec![k]);
                    self.node("Mul", &format!("{name}.dim{i}"), vec![batch.clone(), factor], vec![])
                }
            });
        }
        self.node("Concat", &format!("{name}.target"), parts, vec![int("axis", 0)])
    }
}

/// Appends the nodes and weights of `net` reading the (normalised) image `x`; returns the name
/// of the logits.
pub(super) fn emit(
    nodes: &mut Vec<NodeProto>,
    inits: &mut Vec<TensorProto>,
    x: String,
    net: &GraphNet,
) -> Result<String, AccessError> {
    let def: &GraphDef = &net.def;
    let used = nodes.iter().flat_map(|n| n.output.iter().chain([&n.name])).chain(inits.iter().map(|t| &t.name));
    let mut used: HashSet<String> = used.cloned().collect();
    used.insert(INPUT_NAME.into());
    let mut e = Emitter { nodes, inits, used };
    let params: Vec<String> = (0..def.params.len())
        .map(|i| e.floats(&def.params[i].name, &def.params[i].shape, net.param_values(i)))
        .collect();
    let buffers: Vec<String> = (0..def.buffers.len())
        .map(|i| e.floats(&def.buffers[i].name, &def.buffers[i].shape, net.buffer_values(i)))
        .collect();
    let mut values = vec![x];
    for (i, node) in def.nodes.iter().enumerate() {
        let name = if node.name.is_empty() { format!("node{i}") } else { node.name.clone() };
        let mut input: Vec<String> = node
            .inputs
            .iter()
            .enumerate()
            .map(|(j, o)| match o {
                Operand::Value(v) => values[*v].clone(),
                Operand::Param(p) => params[*p].clone(),
                Operand::Buffer(b) => buffers[*b].clone(),
                Operand::Const { shape, data } => e.floats(&format!("{name}.const{j}"), shape, data.clone()),
            })
            .collect();
        let pads4 = |p: &[usize; 4]| ints("pads", p);
        let attrs = match &node.op {
            Op::Conv { strides, pads, dilations, group } => {
                let w = def.operand_shape(&node.inputs[1], &[]).ok().unwrap_or_default();
                let kernel: Vec<usize> = w.iter().skip(2).filter_map(|d| d.fixed()).map(|k| k as usize).collect();
                vec![
                    ints("kernel_shape", &kernel),
                    ints("strides", strides),
                    pads4(pads),
                    ints("dilations", dilations),
                    int("group", *group as i64),
                ]
            }
            Op::Gemm { alpha, beta, trans_a, trans_b } => vec![
                float("alpha", *alpha),
                float("beta", *beta),
                int("transA", *trans_a as i64),
                int("transB", *trans_b as i64),
            ],
            Op::LeakyRelu { alpha } | Op::Elu { alpha } => vec![float("alpha", *alpha)],
            Op::Clip { min, max } => {
                input.push(min.map_or(String::new(), |v| e.floats(&format!("{name}.min"), &[], vec![v])));
                input.push(max.map_or(String::new(), |v| e.floats(&format!("{name}.max"), &[], vec![v])));
                vec![]
            }
            Op::BatchNorm { epsilon } => vec![float("epsilon", *epsilon)],
            Op::MaxPool { kernel, strides, pads, dilations, ceil_mode } => vec![
                ints("kernel_shape", kernel),
                ints("strides", strides),
                pads4(pads),
                ints("dilations", dilations),
                int("ceil_mode", *ceil_mode as i64),
            ],
            Op::AveragePool { kernel, strides, pads, count_include_pad, ceil_mode } => vec![
                ints("kernel_shape", kernel),
                ints("strides", strides),
                pads4(pads),
                int("count_include_pad", *count_include_pad as i64),
                int("ceil_mode", *ceil_mode as i64),
            ],
            Op::Flatten { axis } => vec![int("axis", *axis as i64)],
            Op::Reshape { shape, allowzero } => {
                if *allowzero {
                    return Err(AccessError::BadRequest(format!(
                        "cannot export {name}: Reshape with allowzero needs opset 14"
                    )));
                }
                input.push(e.shape_input(&name, shape));
                vec![]
            }
            Op::Transpose { perm } => vec![ints("perm", perm)],
            Op::Squeeze { axes } | Op::Unsqueeze { axes } => {
                input.push(e.int64s(&format!("{name}.axes"), axes.iter().map(|&a| a as i64).collect()));
                vec![]
            }
            Op::Concat { axis } => vec![int("axis", *axis as i64)],
            Op::Pad { pads, value } => {
                let mut all: Vec<i64> = pads.iter().map(|p| p.0 as i64).collect();
                all.extend(pads.iter().map(|p| p.1 as i64));
                input.push(e.int64s(&format!("{name}.pads"), all));
                input.push(e.floats(&format!("{name}.value"), &[], vec![*value]));
                vec![]
            }
            Op::MatMul
            | Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::Relu
            | Op::PRelu
            | Op::Sigmoid
            | Op::Tanh
            | Op::GlobalAveragePool
            | Op::GlobalMaxPool
            | Op::Identity => vec![],
        };
        let out = e.node(node.op.onnx_name(), &name, input, attrs);
        values.push(out);
    }
    Ok(values[def.output].clone())
}
