//! The graph of an imported model (`mown import`, issue #29): a serialisable list of operators
//! in topological order that [`super::GraphNet`] runs on burn, so that a model mown did not
//! train gets forward passes, input and parameter gradients and fine-tuning like its own.
//!
//! Value 0 is the normalised NCHW image; node `i` produces value `i + 1`, so a node can only read
//! earlier values and the order is topological by construction. Trainable tensors are
//! parameters (burn `Param`s, referenced by index), BatchNorm running statistics are buffers
//! (saved, never trained), small constants and folded shapes sit inline. The whole definition
//! lives in the model file's metadata and is covered by its SHA-256 (see `crate::io`).

use serde::{Deserialize, Serialize};

/// A dimension, or an entry of a folded shape: a number, or a multiple of the batch size, which
/// an imported model keeps free so that any batch runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dim {
    Fixed(i64),
    /// `k` times the batch size.
    Batch(i64),
}

impl Dim {
    /// The batch dimension itself.
    pub const N: Dim = Dim::Batch(1);

    pub fn value(self, batch: usize) -> i64 {
        match self {
            Dim::Fixed(k) => k,
            Dim::Batch(k) => k * batch as i64,
        }
    }

    pub fn fixed(self) -> Option<i64> {
        match self {
            Dim::Fixed(k) => Some(k),
            Dim::Batch(_) => None,
        }
    }

    /// Product; `None` when it would be quadratic in the batch size.
    pub fn checked_mul(self, o: Dim) -> Option<Dim> {
        match (self, o) {
            (Dim::Fixed(a), Dim::Fixed(b)) => Some(Dim::Fixed(a * b)),
            (Dim::Fixed(a), Dim::Batch(b)) | (Dim::Batch(b), Dim::Fixed(a)) => Some(Dim::Batch(a * b)),
            _ => None,
        }
    }

    /// Exact quotient; `None` when it does not divide or is not a number or batch multiple.
    pub fn checked_div(self, o: Dim) -> Option<Dim> {
        match (self, o) {
            (_, Dim::Fixed(0) | Dim::Batch(0)) => None,
            (Dim::Fixed(a), Dim::Fixed(b)) if a % b == 0 => Some(Dim::Fixed(a / b)),
            (Dim::Batch(a), Dim::Fixed(b)) if a % b == 0 => Some(Dim::Batch(a / b)),
            (Dim::Batch(a), Dim::Batch(b)) if a % b == 0 => Some(Dim::Fixed(a / b)),
            _ => None,
        }
    }

    pub fn checked_add(self, o: Dim) -> Option<Dim> {
        match (self, o) {
            (Dim::Fixed(a), Dim::Fixed(b)) => Some(Dim::Fixed(a + b)),
            (Dim::Batch(a), Dim::Batch(b)) => Some(Dim::Batch(a + b)),
            (Dim::Batch(a), Dim::Fixed(0)) | (Dim::Fixed(0), Dim::Batch(a)) => Some(Dim::Batch(a)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(k) => write!(f, "{k}"),
            Dim::Batch(1) => f.write_str("N"),
            Dim::Batch(k) => write!(f, "{k}N"),
        }
    }
}

/// `[N, 3, 8, 8]`, for error messages.
pub fn shape_string(shape: &[Dim]) -> String {
    format!("[{}]", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// What a node reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operand {
    /// A value computed at run time (0: the normalised image).
    Value(usize),
    /// A trainable tensor, by index into [`GraphDef::params`].
    Param(usize),
    /// A saved but untrained tensor (BatchNorm running statistics), by index into
    /// [`GraphDef::buffers`].
    Buffer(usize),
    /// A small constant (an ONNX `Constant` node), stored here.
    Const { shape: Vec<usize>, data: Vec<f32> },
}

/// How a tensor is initialised when a model with this graph is built from scratch
/// (`Model::init`: distillation students, re-initialised heads): PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Uniform in ±1/sqrt(fan_in) (Kaiming uniform with a = sqrt(5)), also for biases.
    Uniform { fan_in: usize },
    /// BatchNorm scale and running variance.
    Ones,
    /// PReLU slopes.
    Slope,
    /// BatchNorm shift and running mean, and anything else.
    Zeros,
}

/// A parameter or buffer: its name in the source file, shape and initialisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: Role,
}

impl TensorSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The operators, with ONNX semantics (opset 13), attributes already resolved: axes
/// non-negative, `auto_pad` turned into explicit pads, constant inputs folded in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Inputs x, weight `[out, in/group, kh, kw]`, optional bias. Pads in ONNX order
    /// (top, left, bottom, right).
    Conv {
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        group: usize,
    },
    /// `alpha * A' B' + beta * C`.
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    Add,
    Sub,
    Mul,
    Div,
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    /// Inputs x and slope (broadcast to x).
    PRelu,
    Elu {
        alpha: f32,
    },
    Sigmoid,
    Tanh,
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    /// Inference mode: inputs x, scale, shift, running mean, running variance.
    BatchNorm {
        epsilon: f32,
    },
    MaxPool {
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        ceil_mode: bool,
    },
    AveragePool {
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        count_include_pad: bool,
        ceil_mode: bool,
    },
    GlobalAveragePool,
    GlobalMaxPool,
    Flatten {
        axis: usize,
    },
    /// ONNX's 0 (copy the input's dimension, unless `allowzero`) and -1 (inferred) apply.
    Reshape {
        shape: Vec<Dim>,
        allowzero: bool,
    },
    Transpose {
        perm: Vec<usize>,
    },
    Squeeze {
        axes: Vec<usize>,
    },
    /// Axes of the output.
    Unsqueeze {
        axes: Vec<usize>,
    },
    Concat {
        axis: usize,
    },
    /// Constant padding, `(before, after)` per axis.
    Pad {
        pads: Vec<(usize, usize)>,
        value: f32,
    },
    Identity,
}

impl Op {
    /// The ONNX operator name.
    pub fn onnx_name(&self) -> &'static str {
        match self {
            Op::Conv { .. } => "Conv",
            Op::Gemm { .. } => "Gemm",
            Op::MatMul => "MatMul",
            Op::Add => "Add",
            Op::Sub => "Sub",
            Op::Mul => "Mul",
            Op::Div => "Div",
            Op::Relu => "Relu",
            Op::LeakyRelu { .. } => "LeakyRelu",
            Op::PRelu => "PRelu",
            Op::Elu { .. } => "Elu",
            Op::Sigmoid => "Sigmoid",
            Op::Tanh => "Tanh",
            Op::Clip { .. } => "Clip",
            Op::BatchNorm { .. } => "BatchNormalization",
            Op::MaxPool { .. } => "MaxPool",
            Op::AveragePool { .. } => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::GlobalMaxPool => "GlobalMaxPool",
            Op::Flatten { .. } => "Flatten",
            Op::Reshape { .. } => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Squeeze { .. } => "Squeeze",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Concat { .. } => "Concat",
            Op::Pad { .. } => "Pad",
            Op::Identity => "Identity",
        }
    }
}

/// One operator application; it produces value `index + 1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    #[serde(flatten)]
    pub op: Op,
    pub inputs: Vec<Operand>,
}

/// A whole imported network: image in, logits out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphDef {
    /// Where the graph came from (file format, producer, input layout).
    pub source: String,
    /// Names of the values (`nodes.len() + 1` of them; value 0 is the image).
    pub values: Vec<String>,
    pub params: Vec<TensorSpec>,
    pub buffers: Vec<TensorSpec>,
    pub nodes: Vec<Node>,
    /// The value holding the logits.
    pub output: usize,
    /// A final Softmax or LogSoftmax removed at import, so that the model returns logits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripped: Option<String>,
}

impl GraphDef {
    /// Checks the wiring and infers every value's shape for images `[N, c, h, w]`; returns the
    /// class count (the output must be `[N, classes]`).
    pub fn validate(&self, input: [usize; 3]) -> Result<usize, String> {
        if self.values.len() != self.nodes.len() + 1 {
            return Err(format!("{} value names for {} nodes", self.values.len(), self.nodes.len()));
        }
        let image = [Dim::N, Dim::Fixed(input[0] as i64), Dim::Fixed(input[1] as i64), Dim::Fixed(input[2] as i64)];
        let mut shapes: Vec<Vec<Dim>> = vec![image.to_vec()];
        for (i, node) in self.nodes.iter().enumerate() {
            let inputs = node
                .inputs
                .iter()
                .map(|o| self.operand_shape(o, &shapes))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("node {} ({}): {e}", node.name, node.op.onnx_name()))?;
            let out = super::graph_shapes::infer(&node.op, &inputs)
                .map_err(|e| format!("node {} ({}): {e}", node.name, node.op.onnx_name()))?;
            debug_assert_eq!(shapes.len(), i + 1);
            shapes.push(out);
        }
        let out = shapes.get(self.output).ok_or_else(|| format!("output value {} does not exist", self.output))?;
        match out[..] {
            [Dim::Batch(1), Dim::Fixed(k)] if k >= 2 => Ok(k as usize),
            _ => Err(format!(
                "the output {} is {}, not [N, classes] (logits of a classifier)",
                self.values[self.output],
                shape_string(out)
            )),
        }
    }

    /// The shape of an operand, given the shapes of the values computed so far.
    pub fn operand_shape(&self, o: &Operand, values: &[Vec<Dim>]) -> Result<Vec<Dim>, String> {
        let fixed = |s: &[usize]| s.iter().map(|&d| Dim::Fixed(d as i64)).collect();
        match o {
            Operand::Value(v) => values.get(*v).cloned().ok_or_else(|| format!("reads value {v} before it exists")),
            Operand::Param(p) => {
                self.params.get(*p).map(|t| fixed(&t.shape)).ok_or_else(|| format!("no parameter {p}"))
            }
            Operand::Buffer(b) => self.buffers.get(*b).map(|t| fixed(&t.shape)).ok_or_else(|| format!("no buffer {b}")),
            Operand::Const { shape, data } => {
                if shape.iter().product::<usize>() != data.len() {
                    return Err(format!("a constant of shape {shape:?} holds {} values", data.len()));
                }
                Ok(fixed(shape))
            }
        }
    }

    /// Scalars in parameters (trained) and buffers (not trained).
    pub fn num_params(&self) -> (usize, usize) {
        (self.params.iter().map(TensorSpec::numel).sum(), self.buffers.iter().map(TensorSpec::numel).sum())
    }

    /// How many nodes of each operator, in first-use order: `Conv x 3, Relu x 3, ...`.
    pub fn op_summary(&self) -> Vec<(&'static str, usize)> {
        let mut out: Vec<(&'static str, usize)> = Vec::new();
        for node in &self.nodes {
            let name = node.op.onnx_name();
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => *count += 1,
                None => out.push((name, 1)),
            }
        }
        out
    }
}
