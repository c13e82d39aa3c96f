//! The importer's run-time operators: an ONNX node's attributes and inputs turned into a graph
//! IR operator (attributes resolved, `auto_pad` made explicit) and its operands.

use mown_nn::models::Dim;
use mown_nn::models::graph::{Op, Role};
use tract_onnx::pb::NodeProto;

use super::import::{Importer, Input, SUPPORTED, Slot, Sym, fixed_dim};
use super::import_util::{Attrs, axis, same_pads};

impl Importer {
    /// Operators computed at run time: the IR op and its operands.
    pub(super) fn compute_op(&mut self, n: &NodeProto, a: &Attrs) -> Result<(Op, Vec<Input>), String> {
        let op_type = n.op_type.as_str();
        let x = self.input(n, 0).ok_or("no input")?.to_string();
        let rank = self.shape_of(&x)?.len();
        let data = self.operand(&x, Slot::Data)?;
        let mut inputs = vec![data];
        let op = match op_type {
            "Conv" => {
                let w = self.shape_of(self.input(n, 1).ok_or("no weight")?)?;
                let w: Vec<usize> = w.iter().map(|d| d.fixed().unwrap_or(0) as usize).collect();
                if w.len() != 4 {
                    return Err(format!("a weight of shape {w:?}: only 2-D convolutions are supported"));
                }
                let fan_in = w[1] * w[2] * w[3];
                self.push(&mut inputs, n, 1, Slot::Train(Role::Uniform { fan_in }))?;
                self.push(&mut inputs, n, 2, Slot::Train(Role::Uniform { fan_in }))?;
                let (strides, dilations) = (pair(a, "strides")?, pair(a, "dilations")?);
                let pads = self.pads(n, a, [w[2], w[3]], strides, dilations)?;
                Op::Conv { strides, pads, dilations, group: a.int("group", 1).max(1) as usize }
            }
            "Gemm" => {
                let (trans_a, mut trans_b) = (a.int("transA", 0) != 0, a.int("transB", 0) != 0);
                let b = self.input(n, 1).ok_or("no B")?;
                let bs = self.shape_of(b)?;
                let fan_in = bs.get(if trans_b { 1 } else { 0 }).and_then(|d| d.fixed()).unwrap_or(1) as usize;
                match self.sym(b)?.clone() {
                    // Weights are stored [in, out], as burn's Linear keeps them.
                    Sym::Floats { name, shape, data, trainable: true } if trans_b && shape.len() == 2 => {
                        let (rows, cols) = (shape[0], shape[1]);
                        let t: Vec<f32> = (0..rows * cols).map(|i| data[(i % rows) * cols + i / rows]).collect();
                        let o = self.place(
                            format!("{name}^T"),
                            &name,
                            &[cols, rows],
                            t,
                            Slot::Train(Role::Uniform { fan_in }),
                            true,
                        );
                        inputs.push((o, vec![fixed_dim(cols), fixed_dim(rows)]));
                        trans_b = false;
                    }
                    _ => self.push(&mut inputs, n, 1, Slot::Train(Role::Uniform { fan_in }))?,
                }
                self.push(&mut inputs, n, 2, Slot::Train(Role::Uniform { fan_in }))?;
                Op::Gemm { alpha: a.float("alpha", 1.0), beta: a.float("beta", 1.0), trans_a, trans_b }
            }
            "MatMul" => {
                let b = self.shape_of(self.input(n, 1).ok_or("no B")?)?;
                let fan_in = b.len().checked_sub(2).and_then(|i| b[i].fixed()).unwrap_or(1) as usize;
                self.push(&mut inputs, n, 1, Slot::Train(Role::Uniform { fan_in }))?;
                Op::MatMul
            }
            "Add" | "Mul" | "Sub" | "Div" => {
                let (op, slot) = match op_type {
                    "Add" => (Op::Add, Slot::Train(Role::Zeros)),
                    "Mul" => (Op::Mul, Slot::Train(Role::Ones)),
                    "Sub" => (Op::Sub, Slot::Data),
                    _ => (Op::Div, Slot::Data),
                };
                // A weight on the left (`b + x`) is trainable like one on the right.
                if matches!(self.sym(&x)?, Sym::Floats { .. }) && !matches!(slot, Slot::Data) {
                    inputs[0] = self.operand(&x, slot)?;
                }
                self.push(&mut inputs, n, 1, slot)?;
                op
            }
            "Relu" => Op::Relu,
            "Sigmoid" => Op::Sigmoid,
            "Tanh" => Op::Tanh,
            "LeakyRelu" => Op::LeakyRelu { alpha: a.float("alpha", 0.01) },
            "Elu" => Op::Elu { alpha: a.float("alpha", 1.0) },
            "PRelu" => {
                self.push(&mut inputs, n, 1, Slot::Train(Role::Slope))?;
                Op::PRelu
            }
            "Clip" => {
                let bound = |s: &Self, i: usize, attr: &str| -> Result<Option<f32>, String> {
                    if s.opset < 11 {
                        return Ok(a.get(attr).map(|v| v.f));
                    }
                    match s.input(n, i) {
                        None => Ok(None),
                        Some(v) => match s.floats_of(v)?[..] {
                            [b] => Ok(Some(b)),
                            ref other => Err(format!("Clip {attr} of {} values", other.len())),
                        },
                    }
                };
                Op::Clip { min: bound(self, 1, "min")?, max: bound(self, 2, "max")? }
            }
            "BatchNormalization" => {
                if a.int("training_mode", 0) != 0 {
                    return Err("BatchNormalization in training mode".into());
                }
                for (i, slot) in [
                    Slot::Train(Role::Ones),
                    Slot::Train(Role::Zeros),
                    Slot::Frozen(Role::Zeros),
                    Slot::Frozen(Role::Ones),
                ]
                .into_iter()
                .enumerate()
                {
                    self.push(&mut inputs, n, i + 1, slot)?;
                }
                Op::BatchNorm { epsilon: a.float("epsilon", 1e-5) }
            }
            "MaxPool" | "AveragePool" => {
                let kernel = a.ints("kernel_shape").unwrap_or_default();
                let [kh, kw] = kernel[..] else {
                    return Err(format!("kernel {kernel:?}: only 2-D pooling is supported"));
                };
                let kernel = [kh.max(1) as usize, kw.max(1) as usize];
                let (strides, dilations) = (pair(a, "strides")?, pair(a, "dilations")?);
                let pads = self.pads(n, a, kernel, strides, dilations)?;
                let ceil_mode = a.int("ceil_mode", 0) != 0;
                if op_type == "MaxPool" {
                    Op::MaxPool { kernel, strides, pads, dilations, ceil_mode }
                } else {
                    if dilations != [1, 1] {
                        return Err("a dilated AveragePool".into());
                    }
                    Op::AveragePool {
                        kernel,
                        strides,
                        pads,
                        count_include_pad: a.int("count_include_pad", 0) != 0,
                        ceil_mode,
                    }
                }
            }
            "GlobalAveragePool" => Op::GlobalAveragePool,
            "GlobalMaxPool" => Op::GlobalMaxPool,
            "Flatten" => {
                let ax = a.int("axis", 1);
                Op::Flatten { axis: if ax == rank as i64 { rank } else { axis(ax, rank)? } }
            }
            "Reshape" => {
                let target = match self.input(n, 1) {
                    Some(s) => self.ints_of(s)?.data,
                    None => a.ints("shape").unwrap_or_default().into_iter().map(Dim::Fixed).collect(),
                };
                let mut shape = target;
                // A file exported with a fixed batch often has it baked into its reshapes; the
                // batch is symbolic here, so a leading entry equal to it that stands where the
                // input's batch axis stands is read as the batch.
                let first = self.shape_of(&x)?.first().copied();
                if let (Some(b), Some(Dim::Fixed(k)), Some(Dim::Batch(1))) =
                    (self.fixed_batch, shape.first().copied(), first)
                    && b == k
                {
                    shape[0] = Dim::N;
                }
                Op::Reshape { shape, allowzero: a.int("allowzero", 0) != 0 }
            }
            "Transpose" => {
                let perm = a.ints("perm").unwrap_or_else(|| (0..rank as i64).rev().collect());
                Op::Transpose { perm: perm.into_iter().map(|p| axis(p, rank)).collect::<Result<_, _>>()? }
            }
            "Squeeze" => {
                let shape = self.shape_of(&x)?;
                let axes = match self.axes(n)? {
                    Some(ax) => ax.into_iter().map(|v| axis(v, rank)).collect::<Result<Vec<_>, _>>()?,
                    None => (0..rank).filter(|&i| shape[i] == Dim::Fixed(1)).collect(),
                };
                Op::Squeeze { axes }
            }
            "Unsqueeze" => {
                let ax = self.axes(n)?.ok_or("no axes")?;
                let out = rank + ax.len();
                let mut axes = ax.into_iter().map(|v| axis(v, out)).collect::<Result<Vec<_>, _>>()?;
                axes.sort_unstable();
                Op::Unsqueeze { axes }
            }
            "Concat" => {
                for i in 1..n.input.len() {
                    self.push(&mut inputs, n, i, Slot::Data)?;
                }
                Op::Concat { axis: axis(a.int("axis", 0), rank)? }
            }
            "Pad" => {
                let mode = a.string("mode").unwrap_or_else(|| "constant".into());
                if mode != "constant" {
                    return Err(format!("Pad mode '{mode}' (only constant padding is supported)"));
                }
                let (pads, value) = if self.opset < 11 {
                    (a.ints("pads").unwrap_or_default(), a.float("value", 0.0))
                } else {
                    let pads =
                        self.ints_of(self.input(n, 1).ok_or("no pads")?)?.values().ok_or("batch-dependent pads")?;
                    let value = match self.input(n, 2) {
                        Some(v) => self.floats_of(v)?.first().copied().unwrap_or(0.0),
                        None => 0.0,
                    };
                    (pads, value)
                };
                let axes: Vec<usize> = match self.input(n, 3) {
                    Some(v) => self
                        .ints_of(v)?
                        .values()
                        .ok_or("batch-dependent axes")?
                        .into_iter()
                        .map(|v| axis(v, rank))
                        .collect::<Result<_, _>>()?,
                    None => (0..rank).collect(),
                };
                if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
                    return Err(format!("pads {pads:?} for axes {axes:?} (non-negative, two per axis)"));
                }
                let mut pairs = vec![(0, 0); rank];
                for (j, &ax) in axes.iter().enumerate() {
                    pairs[ax] = (pads[j] as usize, pads[j + axes.len()] as usize);
                }
                Op::Pad { pads: pairs, value }
            }
            other => {
                return Err(format!(
                    "unsupported operator {other} in node '{}' (supported: {SUPPORTED})",
                    if n.name.is_empty() { n.output.first().map_or("", |s| s.as_str()) } else { n.name.as_str() }
                ));
            }
        };
        Ok((op, inputs))
    }

    /// Explicit pads (ONNX order) from `pads` or `auto_pad`, for a 2-D window.
    fn pads(
        &self,
        n: &NodeProto,
        a: &Attrs,
        kernel: [usize; 2],
        strides: [usize; 2],
        dilations: [usize; 2],
    ) -> Result<[usize; 4], String> {
        let auto = a.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
        match auto.as_str() {
            "NOTSET" | "" => {
                let p = a.ints("pads").unwrap_or_else(|| vec![0; 4]);
                match p[..] {
                    [t, l, b, r] if p.iter().all(|&v| v >= 0) => Ok([t as usize, l as usize, b as usize, r as usize]),
                    _ => Err(format!("pads {p:?} (four non-negative values for a 2-D window)")),
                }
            }
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let s = self.shape_of(self.input(n, 0).ok_or("no input")?)?;
                let size =
                    |i: usize| s.get(i).and_then(|d| d.fixed()).map(|v| v as usize).ok_or("a symbolic image size");
                Ok(same_pads([size(2)?, size(3)?], kernel, strides, dilations, auto == "SAME_UPPER"))
            }
            other => Err(format!("auto_pad {other}")),
        }
    }
}

/// `strides` or `dilations`: two values, 1 by default.
fn pair(a: &Attrs, name: &str) -> Result<[usize; 2], String> {
    match a.ints(name).as_deref() {
        None => Ok([1, 1]),
        Some(&[x, y]) if x > 0 && y > 0 => Ok([x as usize, y as usize]),
        Some(v) => Err(format!("{name} {v:?} (two positive values for a 2-D window)")),
    }
}
