//! `mown import`: an ONNX image classifier becomes a mown model whose network is the file's
//! graph run on burn ([`mown_nn::models::GraphNet`]), differentiable like mown's own.
//!
//! The protobuf is read with tract-onnx's types. Nodes are translated in file order (ONNX
//! requires topological order) after dropping those the output does not need. A final Softmax
//! or LogSoftmax is stripped so the model returns logits. Shape computations (`Shape`, `Gather`,
//! `Concat`, `Cast`, `Unsqueeze`, arithmetic) are folded here with the batch size symbolic, so
//! any batch size runs. Initializers become trainable parameters, except BatchNorm running
//! statistics (frozen buffers), operands of Sub and Div (preprocessing constants), and inputs
//! that act as attributes (Reshape targets, Clip bounds, Pad amounts).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mown_data::ImageShape;
use mown_nn::models::Dim;
use mown_nn::models::graph::{GraphDef, Node, Op, Operand, Role, TensorSpec};
use mown_nn::models::graph_shapes::infer;
use tract_onnx::pb::tensor_shape_proto::dimension;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, type_proto};

use super::graph::PROBABILITY_NAMES;
use super::import_util::{Attrs, Data, Ints, arith, decode, gather, slice};

/// Pixel layout the file's input takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    #[default]
    Nchw,
    /// Keras / TensorFlow: `[N, H, W, C]`. The import puts a transpose in front of the graph so
    /// that the model takes NCHW images like every mown model.
    Nhwc,
}

/// Constant inputs larger than this are stored as buffers in the weights, not inline in the
/// graph's JSON.
const INLINE_LIMIT: usize = 4096;

/// The operators the importer understands (for the error on any other).
pub const SUPPORTED: &str = "Conv, Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu, PRelu, Elu, Sigmoid, Tanh, \
    Clip, BatchNormalization, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Flatten, Reshape, Transpose, \
    Squeeze, Unsqueeze, Concat, Pad, Dropout, Identity, Constant, Shape, Gather, Slice, Cast, and a final \
    Softmax / LogSoftmax";

/// The translated graph, its weights, and what the file said about its input.
pub(super) struct Translated {
    pub def: GraphDef,
    pub params: Vec<Vec<f32>>,
    pub buffers: Vec<Vec<f32>>,
    pub input: ImageShape,
    pub classes: usize,
}

/// What an ONNX value name stands for during the import.
#[derive(Clone, Debug)]
pub(super) enum Sym {
    /// Computed when the model runs.
    Value(usize),
    /// A float tensor known now: an initializer (`trainable`) or a `Constant` node's.
    Floats {
        name: String,
        shape: Vec<usize>,
        data: Arc<Vec<f32>>,
        trainable: bool,
    },
    Ints(Ints),
}

/// An operand and its shape.
pub(super) type Input = (Operand, Vec<Dim>);

/// How a node uses an input, which decides what a constant there becomes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Slot {
    /// The data being transformed; a constant here stays a constant.
    Data,
    /// A weight: an initializer becomes a trainable parameter.
    Train(Role),
    /// BatchNorm running statistics: a saved, untrained buffer.
    Frozen(Role),
}

pub(super) struct Importer {
    pub(super) opset: i64,
    /// A batch size the file fixes (read as symbolic; see `reshape_target`).
    pub(super) fixed_batch: Option<i64>,
    pub(super) syms: HashMap<String, Sym>,
    pub(super) placed: HashMap<String, Operand>,
    pub(super) def: GraphDef,
    pub(super) shapes: Vec<Vec<Dim>>,
    pub(super) params: Vec<Vec<f32>>,
    pub(super) buffers: Vec<Vec<f32>>,
}

/// Translates `proto`'s graph. `layout` says how its input is laid out; `input_shape` fills in
/// (and must agree with) the file's channel count, height and width.
pub(super) fn translate(
    proto: &ModelProto,
    layout: Layout,
    input_shape: Option<ImageShape>,
) -> Result<Translated, String> {
    let graph = proto.graph.as_ref().ok_or("the file has no graph")?;
    let opset =
        proto.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(13, |o| o.version);
    let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    // skl2onnx's classifiers give `label` first and the scores under a known name after it.
    let output = graph
        .output
        .iter()
        .find(|o| graph.output.len() > 1 && PROBABILITY_NAMES.contains(&o.name.as_str()))
        .or(graph.output.first())
        .ok_or("the graph has no output")?
        .name
        .clone();

    // Trailing pass-through operators and a final Softmax / LogSoftmax.
    let producer: HashMap<&str, &NodeProto> =
        graph.node.iter().flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n))).collect();
    let mut result = output.clone();
    let mut stripped = None;
    while let Some(n) = producer.get(result.as_str()) {
        match n.op_type.as_str() {
            "Identity" | "Dropout" => {}
            "Softmax" | "LogSoftmax" if stripped.is_none() => {
                let default = if opset < 13 { 1 } else { -1 };
                stripped = Some((n.op_type.clone(), Attrs(n).int("axis", default)));
            }
            _ => break,
        }
        result = n.input.first().cloned().unwrap_or_default();
    }

    // The nodes the result needs, in file order.
    let mut keep = HashSet::new();
    let mut needed: HashSet<String> = HashSet::from([result.clone()]);
    let mut stack = vec![result.clone()];
    while let Some(v) = stack.pop() {
        if let Some(n) = producer.get(v.as_str())
            && keep.insert(n.output.clone())
        {
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                if needed.insert(i.clone()) {
                    stack.push(i.clone());
                }
            }
        }
    }
    let nodes: Vec<&NodeProto> = graph.node.iter().filter(|n| keep.contains(&n.output)).collect();

    let (input_name, image, fixed_batch, flat) = read_input(graph, &inits, &needed, layout, input_shape)?;
    let mut imp = Importer {
        opset,
        fixed_batch,
        syms: HashMap::new(),
        placed: HashMap::new(),
        def: GraphDef {
            source: format!(
                "onnx (opset {opset}, producer '{} {}', input {} {:?})",
                proto.producer_name, proto.producer_version, input_name, layout
            ),
            values: vec!["image".into()],
            params: Vec::new(),
            buffers: Vec::new(),
            nodes: Vec::new(),
            output: 0,
            stripped: stripped.as_ref().map(|(op, axis)| format!("{op}(axis={axis})")),
        },
        shapes: vec![vec![Dim::N, fixed_dim(image.channels), fixed_dim(image.height), fixed_dim(image.width)]],
        params: Vec::new(),
        buffers: Vec::new(),
    };
    for t in &graph.initializer {
        let (shape, data) = decode(t)?;
        let sym = match data {
            Data::F(v) => Sym::Floats { name: t.name.clone(), shape, data: Arc::new(v), trainable: true },
            Data::I(v) => Sym::Ints(Ints::fixed(shape, &v)),
        };
        imp.syms.insert(t.name.clone(), sym);
    }
    let image_sym = match layout {
        // A flat input ([N, C*H*W], scikit-learn's): the image flattened row-major.
        Layout::Nchw if flat => {
            imp.emit("flat", Op::Flatten { axis: 1 }, vec![(Operand::Value(0), imp.shapes[0].clone())])?
        }
        Layout::Nchw => Sym::Value(0),
        Layout::Nhwc => imp.emit(
            "nhwc",
            Op::Transpose { perm: vec![0, 2, 3, 1] },
            vec![(Operand::Value(0), imp.shapes[0].clone())],
        )?,
    };
    imp.syms.insert(input_name, image_sym);

    for n in nodes {
        let label = if n.name.is_empty() { n.output.first().cloned().unwrap_or_default() } else { n.name.clone() };
        if let Some(extra) = n.output.iter().skip(1).find(|o| !o.is_empty() && needed.contains(*o)) {
            return Err(format!(
                "node '{label}' ({}): its second output {extra} is used, which mown does not support",
                n.op_type
            ));
        }
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            // skl2onnx's default export wraps the probabilities in a ZipMap of dictionaries.
            let hint = if n.op_type == "ZipMap" {
                "; export with skl2onnx's options={'zipmap': False} to get a probabilities tensor"
            } else {
                ""
            };
            return Err(format!(
                "unsupported operator {}.{} in node '{label}' (supported: {SUPPORTED}){hint}",
                n.domain, n.op_type
            ));
        }
        let sym = imp.node(n, &label).map_err(|e| {
            if e.starts_with("unsupported operator") { e } else { format!("node '{label}' ({}): {e}", n.op_type) }
        })?;
        imp.syms.insert(n.output[0].clone(), sym);
    }
    let Some(Sym::Value(out)) = imp.syms.get(&result).cloned() else {
        return Err(format!("the output {output} is not computed from the image"));
    };
    if let Some((op, axis)) = &stripped {
        let rank = imp.shapes[out].len() as i64;
        if rank != 2 || (*axis != -1 && *axis != 1) {
            return Err(format!("the final {op} runs on axis {axis} of a rank-{rank} tensor, not over the classes"));
        }
    }
    imp.def.output = out;
    let classes = imp.def.validate([image.channels, image.height, image.width])?;
    Ok(Translated { def: imp.def, params: imp.params, buffers: imp.buffers, input: image, classes })
}

pub(super) fn fixed_dim(d: usize) -> Dim {
    Dim::Fixed(d as i64)
}

/// The one graph input the output needs: its name, the image shape (C, H, W), the batch size
/// if the file fixes it, and whether the input is flat (`[N, C*H*W]`, given the image shape).
fn read_input(
    graph: &GraphProto,
    inits: &HashSet<&str>,
    needed: &HashSet<String>,
    layout: Layout,
    given: Option<ImageShape>,
) -> Result<(String, ImageShape, Option<i64>, bool), String> {
    let inputs: Vec<_> =
        graph.input.iter().filter(|i| !inits.contains(i.name.as_str()) && needed.contains(&i.name)).collect();
    let [input] = inputs[..] else {
        return Err(format!("the graph takes {} inputs; mown imports models of one image input", inputs.len()));
    };
    let shape = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t.shape.clone().map(|s| s.dim).unwrap_or_default(),
        _ => return Err(format!("the input {} is not a tensor", input.name)),
    };
    let dims: Vec<Option<i64>> = shape
        .iter()
        .map(|d| match d.value {
            Some(dimension::Value::DimValue(v)) if v > 0 => Some(v),
            _ => None,
        })
        .collect();
    let show = dims.iter().map(|d| d.map_or("?".into(), |v| v.to_string())).collect::<Vec<_>>().join(", ");
    if dims.len() == 2 {
        if layout != Layout::Nchw {
            return Err(format!(
                "the input {} is flat ([{show}]): mown reads a flat input as an NCHW image flattened row by row; \
                 --layout nhwc is not supported for it",
                input.name
            ));
        }
        let Some(image) = given else {
            return Err(format!(
                "the input {} is flat ([{show}]): give the image shape it flattens (--input-shape C,H,W)",
                input.name
            ));
        };
        if let Some(f) = dims[1].filter(|&f| f as usize != image.numel()) {
            return Err(format!(
                "the input {} takes {f} values per image, and {image:?} has {}",
                input.name,
                image.numel()
            ));
        }
        return Ok((input.name.clone(), image, dims[0], true));
    }
    if dims.len() != 4 {
        return Err(format!(
            "the input {} has rank {} ([{show}]); mown imports image classifiers taking [N, C, H, W] (or [N, H, W, C] with --layout nhwc)",
            input.name,
            dims.len()
        ));
    }
    let (c, h, w) = match layout {
        Layout::Nchw => (dims[1], dims[2], dims[3]),
        Layout::Nhwc => (dims[3], dims[1], dims[2]),
    };
    let pick = |file: Option<i64>, given: Option<usize>, what: &str| match (file, given) {
        (Some(f), Some(g)) if f as usize != g => Err(format!("the input's {what} is {f} in the file, {g} given")),
        (Some(f), _) => Ok(f as usize),
        (None, Some(g)) => Ok(g),
        (None, None) => Err(format!("the input's {what} is not fixed in the file ([{show}]): give the input shape")),
    };
    let image = ImageShape::new(
        pick(c, given.map(|s| s.channels), "channel count")?,
        pick(h, given.map(|s| s.height), "height")?,
        pick(w, given.map(|s| s.width), "width")?,
    );
    Ok((input.name.clone(), image, dims[0], false))
}

impl Importer {
    pub(super) fn sym(&self, name: &str) -> Result<&Sym, String> {
        self.syms.get(name).ok_or_else(|| format!("reads '{name}', which no earlier node produces"))
    }

    pub(super) fn shape_of(&self, name: &str) -> Result<Vec<Dim>, String> {
        Ok(match self.sym(name)? {
            Sym::Value(v) => self.shapes[*v].clone(),
            Sym::Floats { shape, .. } | Sym::Ints(Ints { shape, .. }) => shape.iter().map(|&d| fixed_dim(d)).collect(),
        })
    }

    /// A constant integer input (a shape, axes, pads).
    pub(super) fn ints_of(&self, name: &str) -> Result<Ints, String> {
        match self.sym(name)? {
            Sym::Ints(i) => Ok(i.clone()),
            Sym::Floats { shape, data, .. } if data.iter().all(|v| v.fract() == 0.0) => {
                Ok(Ints::fixed(shape.clone(), &data.iter().map(|&v| v as i64).collect::<Vec<_>>()))
            }
            _ => Err(format!(
                "input {name} is computed at run time and does not fold to constant integers (a dynamic shape)"
            )),
        }
    }

    /// A constant float input (Clip bounds, a Pad value).
    pub(super) fn floats_of(&self, name: &str) -> Result<Vec<f32>, String> {
        match self.sym(name)? {
            Sym::Floats { data, .. } => Ok(data.to_vec()),
            Sym::Ints(i) => Ok(i.values().ok_or("batch-dependent")?.into_iter().map(|v| v as f32).collect()),
            Sym::Value(_) => Err(format!("input {name} is computed at run time; mown needs it constant")),
        }
    }

    pub(super) fn input<'n>(&self, n: &'n NodeProto, i: usize) -> Option<&'n str> {
        n.input.get(i).map(|s| s.as_str()).filter(|s| !s.is_empty())
    }

    pub(super) fn place(
        &mut self,
        key: String,
        name: &str,
        shape: &[usize],
        data: Vec<f32>,
        slot: Slot,
        trainable: bool,
    ) -> Operand {
        if let Some(o) = self.placed.get(&key) {
            return o.clone();
        }
        let operand = match slot {
            Slot::Train(role) if trainable => {
                // Parameters have rank >= 1: a scalar is stored as [1] (it broadcasts the same).
                let shape = if shape.is_empty() { vec![1] } else { shape.to_vec() };
                self.def.params.push(TensorSpec { name: name.into(), shape, role });
                self.params.push(data);
                Operand::Param(self.params.len() - 1)
            }
            Slot::Frozen(role) => {
                self.def.buffers.push(TensorSpec { name: name.into(), shape: shape.to_vec(), role });
                self.buffers.push(data);
                Operand::Buffer(self.buffers.len() - 1)
            }
            _ if data.len() <= INLINE_LIMIT => Operand::Const { shape: shape.to_vec(), data },
            _ => return self.place(key, name, shape, data, Slot::Frozen(Role::Zeros), false),
        };
        self.placed.insert(key, operand.clone());
        operand
    }

    pub(super) fn operand(&mut self, name: &str, slot: Slot) -> Result<Input, String> {
        let shape = self.shape_of(name)?;
        let operand = match self.sym(name)?.clone() {
            Sym::Value(v) => Operand::Value(v),
            Sym::Floats { name: n, shape, data, trainable } => {
                self.place(n.clone(), &n, &shape, data.to_vec(), slot, trainable)
            }
            Sym::Ints(i) => {
                let v = i.values().ok_or_else(|| format!("batch-dependent integers {name} used as data"))?;
                Operand::Const { shape: i.shape.clone(), data: v.into_iter().map(|x| x as f32).collect() }
            }
        };
        Ok((operand, shape))
    }

    /// Appends input `i` of `n`, if present, as an operand in `slot`.
    pub(super) fn push(&mut self, inputs: &mut Vec<Input>, n: &NodeProto, i: usize, slot: Slot) -> Result<(), String> {
        if let Some(name) = self.input(n, i) {
            let o = self.operand(name, slot)?;
            inputs.push(o);
        }
        Ok(())
    }

    /// Appends a node reading `inputs`; its output is a new value.
    fn emit(&mut self, name: &str, op: Op, inputs: Vec<Input>) -> Result<Sym, String> {
        let shapes: Vec<Vec<Dim>> = inputs.iter().map(|(_, s)| s.clone()).collect();
        let out = infer(&op, &shapes)?;
        self.def.nodes.push(Node { name: name.into(), op, inputs: inputs.into_iter().map(|(o, _)| o).collect() });
        self.def.values.push(name.into());
        self.shapes.push(out);
        Ok(Sym::Value(self.shapes.len() - 1))
    }

    /// Axes from the `axes` attribute (before opset 13) or the second input.
    pub(super) fn axes(&self, n: &NodeProto) -> Result<Option<Vec<i64>>, String> {
        match self.input(n, 1) {
            Some(a) => Ok(Some(self.ints_of(a)?.values().ok_or("batch-dependent axes")?)),
            None => Ok(Attrs(n).ints("axes")),
        }
    }

    fn node(&mut self, n: &NodeProto, label: &str) -> Result<Sym, String> {
        let a = Attrs(n);
        let op_type = n.op_type.as_str();
        let x = || self.input(n, 0).ok_or_else(|| "no input".to_string());
        let ints_in = |s: &Self, i: usize| -> bool {
            s.input(n, i).and_then(|v| s.syms.get(v)).is_some_and(|s| matches!(s, Sym::Ints(_)))
        };
        match op_type {
            "Identity" | "Dropout" => return Ok(self.sym(x()?)?.clone()),
            "Constant" => return constant(n),
            "Cast" => {
                let to = a.int("to", 1);
                let float = matches!(to, 1 | 10 | 11 | 16);
                return Ok(match (self.sym(x()?)?.clone(), float) {
                    (s @ Sym::Value(_), true) => s,
                    (Sym::Value(_), false) => return Err(format!("a cast of a computed tensor to element type {to}")),
                    (Sym::Ints(i), true) => Sym::Floats {
                        name: n.output[0].clone(),
                        shape: i.shape.clone(),
                        data: Arc::new(i.values().ok_or("batch-dependent")?.into_iter().map(|v| v as f32).collect()),
                        trainable: false,
                    },
                    (s @ Sym::Floats { .. }, true) | (s @ Sym::Ints(_), false) => s,
                    (Sym::Floats { .. }, false) => Sym::Ints(self.ints_of(x()?)?),
                });
            }
            "Shape" => {
                let shape = self.shape_of(x()?)?;
                let all = Ints { shape: vec![shape.len()], data: shape };
                let r = all.data.len() as i64;
                return Ok(Sym::Ints(slice(&all, a.int("start", 0), a.int("end", r), 1)?));
            }
            "Gather" => {
                let (Sym::Ints(data), true) = (self.sym(x()?)?.clone(), a.int("axis", 0) == 0) else {
                    return Err(
                        "Gather is supported only on folded shapes (axis 0), not on tensors computed at run time"
                            .into(),
                    );
                };
                let idx = self.ints_of(self.input(n, 1).ok_or("no indices")?)?;
                return Ok(Sym::Ints(gather(&data, &idx)?));
            }
            "Slice" => {
                let Sym::Ints(data) = self.sym(x()?)?.clone() else {
                    return Err("Slice is supported only on folded shapes, not on tensors computed at run time".into());
                };
                let one = |s: &Self, i: usize, attr: &str| -> Result<Option<i64>, String> {
                    let v = match s.input(n, i) {
                        Some(v) if s.opset >= 10 => s.ints_of(v)?.values(),
                        _ => a.ints(attr),
                    };
                    match v.as_deref() {
                        None => Ok(None),
                        Some([v]) => Ok(Some(*v)),
                        Some(v) => Err(format!("{attr} {v:?}: only one sliced axis is supported on shapes")),
                    }
                };
                if one(self, 3, "axes")?.is_some_and(|ax| ax != 0 && ax != -1) {
                    return Err("Slice of a shape along an axis other than 0".into());
                }
                let (start, end) = (one(self, 1, "starts")?.unwrap_or(0), one(self, 2, "ends")?.unwrap_or(i64::MAX));
                return Ok(Sym::Ints(slice(&data, start, end, one(self, 4, "steps")?.unwrap_or(1))?));
            }
            "Add" | "Sub" | "Mul" | "Div" if ints_in(self, 0) && ints_in(self, 1) => {
                let (p, q) = (self.ints_of(x()?)?, self.ints_of(self.input(n, 1).ok_or("one input")?)?);
                return Ok(Sym::Ints(arith(op_type, &p, &q)?));
            }
            "Concat" if (0..n.input.len()).all(|i| ints_in(self, i)) => {
                let parts = n.input.iter().map(|i| self.ints_of(i)).collect::<Result<Vec<_>, _>>()?;
                let data: Vec<Dim> = parts.into_iter().flat_map(|p| p.data).collect();
                return Ok(Sym::Ints(Ints { shape: vec![data.len()], data }));
            }
            "Unsqueeze" | "Squeeze" if ints_in(self, 0) => {
                let Sym::Ints(mut i) = self.sym(x()?)?.clone() else { unreachable!() };
                i.shape = if op_type == "Unsqueeze" {
                    vec![i.data.len()]
                } else {
                    i.shape.into_iter().filter(|&d| d != 1).collect()
                };
                return Ok(Sym::Ints(i));
            }
            "Softmax" | "LogSoftmax" => {
                return Err(format!(
                    "{op_type} is supported only as the model's last operator (it is stripped to logits)"
                ));
            }
            _ => {}
        }
        let (op, inputs) = self.compute_op(n, &a)?;
        self.emit(label, op, inputs)
    }
}

/// A `Constant` node's value.
fn constant(n: &NodeProto) -> Result<Sym, String> {
    let a = Attrs(n);
    let name = n.output[0].clone();
    let floats =
        |shape: Vec<usize>, v: Vec<f32>| Sym::Floats { name: name.clone(), shape, data: Arc::new(v), trainable: false };
    if let Some(t) = a.get("value").and_then(|v| v.t.as_ref()) {
        return Ok(match decode(t)? {
            (shape, Data::F(v)) => floats(shape, v),
            (shape, Data::I(v)) => Sym::Ints(Ints::fixed(shape, &v)),
        });
    }
    if let Some(v) = a.get("value_float") {
        return Ok(floats(vec![], vec![v.f]));
    }
    if let Some(v) = a.get("value_floats") {
        return Ok(floats(vec![v.floats.len()], v.floats.clone()));
    }
    if let Some(v) = a.get("value_int") {
        return Ok(Sym::Ints(Ints::fixed(vec![], &[v.i])));
    }
    if let Some(v) = a.get("value_ints") {
        return Ok(Sym::Ints(Ints::fixed(vec![v.ints.len()], &v.ints)));
    }
    Err("a Constant without a tensor, float or int value".into())
}
