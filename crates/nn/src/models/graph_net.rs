//! `GraphNet`: an imported graph ([`GraphDef`]) as a burn module. Its parameters are burn
//! `Param`s with their real shapes, so training, parameter gradients and saving treat them as
//! any mown layer's; BatchNorm running statistics are `RunningState` buffers, saved but never
//! trained (fine-tuning an imported model trains BatchNorm's scale and shift and keeps its
//! statistics frozen: the graph runs BatchNorm in inference mode, as ONNX defines it).

use std::sync::Arc;

use burn::module::{Param, RunningState};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::Distribution;

use super::graph::{GraphDef, Op, Operand, Role, TensorSpec};
use super::graph_ops::{Val, apply};
use crate::NnError;

/// A trainable tensor of rank 1 to 4.
#[derive(Module, Debug)]
pub enum GraphParam {
    R1(Param<Tensor<1>>),
    R2(Param<Tensor<2>>),
    R3(Param<Tensor<3>>),
    R4(Param<Tensor<4>>),
}

impl GraphParam {
    fn from_values(values: Vec<f32>, shape: &[usize], device: &Device) -> Result<GraphParam, String> {
        let t = Tensor::<1>::from_floats(values.as_slice(), device);
        Ok(match *shape {
            [a] => GraphParam::R1(Param::from_tensor(t.reshape([a]))),
            [a, b] => GraphParam::R2(Param::from_tensor(t.reshape([a, b]))),
            [a, b, c] => GraphParam::R3(Param::from_tensor(t.reshape([a, b, c]))),
            [a, b, c, d] => GraphParam::R4(Param::from_tensor(t.reshape([a, b, c, d]))),
            _ => return Err(format!("a parameter of shape {shape:?} (rank 1 to 4 are supported)")),
        })
    }

    fn val(&self) -> Val {
        match self {
            GraphParam::R1(p) => Val::new(p.val()),
            GraphParam::R2(p) => Val::new(p.val()),
            GraphParam::R3(p) => Val::new(p.val()),
            GraphParam::R4(p) => Val::new(p.val()),
        }
    }
}

/// An imported network. The definition is shared (`Arc`) and never changes after import.
#[derive(Module, Debug)]
pub struct GraphNet {
    pub params: Vec<GraphParam>,
    pub buffers: Vec<RunningState<Tensor<1>>>,
    #[module(skip)]
    pub def: Arc<GraphDef>,
}

fn initial(spec: &TensorSpec, device: &Device) -> Tensor<1> {
    let n = spec.numel();
    match spec.role {
        Role::Uniform { fan_in } => {
            let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
            Tensor::random([n], Distribution::Uniform(-bound, bound), device)
        }
        Role::Ones => Tensor::ones([n], device),
        Role::Slope => Tensor::full([n], 0.25, device),
        Role::Zeros => Tensor::zeros([n], device),
    }
}

impl GraphNet {
    /// The network of `def` with the given parameter and buffer values (flat, row-major, in the
    /// order of `def.params` and `def.buffers`).
    pub fn new(
        def: GraphDef,
        params: Vec<Vec<f32>>,
        buffers: Vec<Vec<f32>>,
        device: &Device,
    ) -> Result<GraphNet, NnError> {
        let bad = |m: String| NnError::BadSpec(format!("imported graph: {m}"));
        if params.len() != def.params.len() || buffers.len() != def.buffers.len() {
            return Err(bad(format!(
                "{} parameters and {} buffers for a graph with {} and {}",
                params.len(),
                buffers.len(),
                def.params.len(),
                def.buffers.len()
            )));
        }
        for (spec, values) in def.params.iter().chain(&def.buffers).zip(params.iter().chain(&buffers)) {
            if spec.numel() != values.len() {
                return Err(bad(format!("{} has shape {:?} but {} values", spec.name, spec.shape, values.len())));
            }
        }
        let params = def
            .params
            .iter()
            .zip(params)
            .map(|(spec, v)| {
                GraphParam::from_values(v, &spec.shape, device).map_err(|e| bad(format!("{}: {e}", spec.name)))
            })
            .collect::<Result<_, _>>()?;
        let buffers =
            buffers.into_iter().map(|v| RunningState::new(Tensor::from_floats(v.as_slice(), device))).collect();
        Ok(GraphNet { params, buffers, def: Arc::new(def) })
    }

    /// The network of `def` freshly initialised (PyTorch's default initialisation by role);
    /// hold the seed lock (`crate::seed`) for reproducible weights.
    pub fn init(def: &GraphDef, device: &Device) -> Result<GraphNet, NnError> {
        let flat = |specs: &[TensorSpec]| -> Vec<Vec<f32>> {
            specs.iter().map(|s| crate::model::tensor_to_vec(initial(s, device))).collect()
        };
        GraphNet::new(def.clone(), flat(&def.params), flat(&def.buffers), device)
    }

    /// The values of parameter `i`, row-major.
    pub fn param_values(&self, i: usize) -> Vec<f32> {
        crate::model::tensor_to_vec(self.params[i].val().t)
    }

    /// The values of buffer `i`.
    pub fn buffer_values(&self, i: usize) -> Vec<f32> {
        crate::model::tensor_to_vec(self.buffers[i].value())
    }

    /// Logits for normalised NCHW images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let def = &*self.def;
        let batch = x.dims()[0];
        let device = x.device();
        // The last node reading each value, so that intermediate tensors are freed early.
        let mut last_use = vec![0; def.values.len()];
        for (i, node) in def.nodes.iter().enumerate() {
            for o in &node.inputs {
                if let Operand::Value(v) = o {
                    last_use[*v] = i;
                }
            }
        }
        last_use[def.output] = usize::MAX;
        let mut values: Vec<Option<Val>> = vec![None; def.values.len()];
        values[0] = Some(Val::new(x));
        for (i, node) in def.nodes.iter().enumerate() {
            let inputs = node
                .inputs
                .iter()
                .map(|o| match o {
                    Operand::Value(v) => values[*v].clone().expect("the graph was validated: values precede their use"),
                    Operand::Param(p) => self.params[*p].val(),
                    Operand::Buffer(b) => Val::shaped(self.buffers[*b].value(), &def.buffers[*b].shape),
                    Operand::Const { shape, data } => {
                        Val::shaped(Tensor::<1>::from_floats(data.as_slice(), &device), shape)
                    }
                })
                .collect();
            for o in &node.inputs {
                if let Operand::Value(v) = o
                    && last_use[*v] == i
                {
                    values[*v] = None;
                }
            }
            values[i + 1] = Some(apply(&node.op, inputs, batch));
        }
        values[def.output].take().expect("the output was computed").get::<2>()
    }

    /// Where the final linear layer sits: `(weight parameter, bias parameter)`. It is a Gemm
    /// with a `[in, out]` weight (imports store Gemm weights that way) or a MatMul followed by an
    /// Add of a bias, computing the output.
    fn head_params(&self) -> Result<(usize, Option<usize>), NnError> {
        let def = &*self.def;
        let fail = || {
            NnError::BadSpec(
                "the imported graph does not end in a linear layer (Gemm, or MatMul then Add, on parameters), \
                 which attacks that re-train or re-initialise the last layer need"
                    .into(),
            )
        };
        let last = def.output.checked_sub(1).and_then(|i| def.nodes.get(i)).ok_or_else(fail)?;
        let rank = |p: usize, r: usize| def.params[p].shape.len() == r;
        match (&last.op, &last.inputs[..]) {
            (
                Op::Gemm { alpha, beta, trans_a: false, trans_b: false },
                [Operand::Value(_), Operand::Param(w), rest @ ..],
            ) if *alpha == 1.0 && *beta == 1.0 && rank(*w, 2) => match rest {
                [] => Ok((*w, None)),
                [Operand::Param(b)] if rank(*b, 1) => Ok((*w, Some(*b))),
                _ => Err(fail()),
            },
            (Op::Add, [Operand::Value(v), Operand::Param(b)] | [Operand::Param(b), Operand::Value(v)])
                if *v >= 1 && rank(*b, 1) =>
            {
                match (&def.nodes[*v - 1].op, &def.nodes[*v - 1].inputs[..]) {
                    (Op::MatMul, [Operand::Value(_), Operand::Param(w)]) if rank(*w, 2) => Ok((*w, Some(*b))),
                    _ => Err(fail()),
                }
            }
            _ => Err(fail()),
        }
    }

    /// The final linear layer as a burn `Linear` sharing this network's parameters.
    pub fn head(&self) -> Result<Linear, NnError> {
        let (w, b) = self.head_params()?;
        let GraphParam::R2(weight) = &self.params[w] else { unreachable!("rank checked") };
        let bias = b.map(|b| match &self.params[b] {
            GraphParam::R1(p) => p.clone(),
            _ => unreachable!("rank checked"),
        });
        Ok(Linear { weight: weight.clone(), bias })
    }

    /// Replaces the final linear layer's parameters with `head`'s (same shapes).
    pub fn with_head(mut self, head: Linear) -> Result<GraphNet, NnError> {
        let (w, b) = self.head_params()?;
        let want = &self.def.params[w].shape;
        if head.weight.dims()[..] != want[..] || head.bias.is_some() != b.is_some() {
            return Err(NnError::BadSpec(format!(
                "a head of shape {:?} (bias: {}) for an imported last layer of shape {want:?} (bias: {})",
                head.weight.dims(),
                head.bias.is_some(),
                b.is_some()
            )));
        }
        self.params[w] = GraphParam::R2(head.weight);
        if let (Some(b), Some(bias)) = (b, head.bias) {
            self.params[b] = GraphParam::R1(bias);
        }
        Ok(self)
    }
}
