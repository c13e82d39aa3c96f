//! Reading ONNX protobuf pieces for the importer: tensor payloads, node attributes, and the
//! integer arithmetic of shape computations (`Shape -> Gather -> Concat -> Reshape`) folded at
//! import time with the batch size kept symbolic.

use mown_nn::models::Dim;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

/// A tensor's payload: floats (f32 and f64) or integers (every integer type and bool).
#[derive(Clone, Debug)]
pub(super) enum Data {
    F(Vec<f32>),
    I(Vec<i64>),
}

fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N).map(|c| c.try_into().expect("exact chunks"))
}

/// Shape and payload of an initializer or constant.
pub(super) fn decode(t: &TensorProto) -> Result<(Vec<usize>, Data), String> {
    let name = &t.name;
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(format!(
            "tensor '{name}' keeps its data in an external file (save the model with its weights inside)"
        ));
    }
    if t.dims.iter().any(|&d| d < 0) {
        return Err(format!("tensor '{name}' has negative dimensions {:?}", t.dims));
    }
    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let raw = &t.raw_data;
    let ty = DataType::try_from(t.data_type).unwrap_or(DataType::Undefined);
    let data = match ty {
        DataType::Float if raw.is_empty() => Data::F(t.float_data.clone()),
        DataType::Float => Data::F(chunks::<4>(raw).map(f32::from_le_bytes).collect()),
        DataType::Double if raw.is_empty() => Data::F(t.double_data.iter().map(|&v| v as f32).collect()),
        DataType::Double => Data::F(chunks::<8>(raw).map(|b| f64::from_le_bytes(b) as f32).collect()),
        DataType::Int64 if raw.is_empty() => Data::I(t.int64_data.clone()),
        DataType::Int64 => Data::I(chunks::<8>(raw).map(i64::from_le_bytes).collect()),
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::Uint8 | DataType::Uint16 | DataType::Bool
            if raw.is_empty() =>
        {
            Data::I(t.int32_data.iter().map(|&v| v as i64).collect())
        }
        DataType::Int32 => Data::I(chunks::<4>(raw).map(|b| i32::from_le_bytes(b) as i64).collect()),
        DataType::Int8 => Data::I(raw.iter().map(|&b| b as i8 as i64).collect()),
        DataType::Uint8 | DataType::Bool => Data::I(raw.iter().map(|&b| b as i64).collect()),
        other => return Err(format!("tensor '{name}' has element type {other:?}, which mown does not import")),
    };
    let len = match &data {
        Data::F(v) => v.len(),
        Data::I(v) => v.len(),
    };
    if len != shape.iter().product::<usize>() {
        return Err(format!("tensor '{name}' of shape {shape:?} holds {len} values"));
    }
    Ok((shape, data))
}

/// A node's attributes.
pub(super) struct Attrs<'a>(pub &'a NodeProto);

impl Attrs<'_> {
    pub fn get(&self, name: &str) -> Option<&AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }

    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
}

/// Folded integers: a shape, axes, indices. Rank 0 or 1 in practice.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Ints {
    pub shape: Vec<usize>,
    pub data: Vec<Dim>,
}

impl Ints {
    pub fn fixed(shape: Vec<usize>, values: &[i64]) -> Ints {
        Ints { shape, data: values.iter().map(|&v| Dim::Fixed(v)).collect() }
    }

    /// The values when none depends on the batch size.
    pub fn values(&self) -> Option<Vec<i64>> {
        self.data.iter().map(|d| d.fixed()).collect()
    }
}

/// `+ - * /` of two folded integer tensors (scalars broadcast).
pub(super) fn arith(op: &str, a: &Ints, b: &Ints) -> Result<Ints, String> {
    let (n, shape) = match (a.data.len(), b.data.len()) {
        (x, y) if x == y => (x, if a.shape.len() >= b.shape.len() { a.shape.clone() } else { b.shape.clone() }),
        (1, y) => (y, b.shape.clone()),
        (x, 1) => (x, a.shape.clone()),
        (x, y) => return Err(format!("{op} of {x} and {y} values")),
    };
    let at = |v: &Ints, i: usize| if v.data.len() == 1 { v.data[0] } else { v.data[i] };
    let data = (0..n)
        .map(|i| {
            let (x, y) = (at(a, i), at(b, i));
            let r = match op {
                "Add" => x.checked_add(y),
                "Sub" => y.checked_mul(Dim::Fixed(-1)).and_then(|m| x.checked_add(m)),
                "Mul" => x.checked_mul(y),
                _ => x.checked_div(y),
            };
            match r {
                Some(Dim::Batch(0)) => Ok(Dim::Fixed(0)),
                Some(d) => Ok(d),
                None => Err(format!("{x} {op} {y} does not fold to a fixed or batch-proportional size")),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(Ints { shape, data })
}

/// ONNX Gather along axis 0 of a rank-1 tensor.
pub(super) fn gather(data: &Ints, indices: &Ints) -> Result<Ints, String> {
    if data.shape.len() != 1 {
        return Err(format!("Gather on an integer tensor of shape {:?}", data.shape));
    }
    let n = data.data.len() as i64;
    let picked = indices
        .values()
        .ok_or("batch-dependent indices")?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + n } else { i };
            data.data.get(j as usize).copied().filter(|_| (0..n).contains(&j)).ok_or(format!("index {i} of {n}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Ints { shape: indices.shape.clone(), data: picked })
}

/// ONNX Slice of a rank-1 tensor.
pub(super) fn slice(data: &Ints, start: i64, end: i64, step: i64) -> Result<Ints, String> {
    if data.shape.len() != 1 || step == 0 {
        return Err(format!("Slice of an integer tensor of shape {:?} with step {step}", data.shape));
    }
    let n = data.data.len() as i64;
    let clamp = |v: i64, lo: i64, hi: i64| (if v < 0 { v + n } else { v }).clamp(lo, hi);
    let picked: Vec<Dim> = if step > 0 {
        let (s, e) = (clamp(start, 0, n), clamp(end, 0, n));
        (s..e).step_by(step as usize).map(|i| data.data[i as usize]).collect()
    } else {
        let (s, e) = (clamp(start, -1, n - 1), clamp(end, -1, n - 1));
        let mut out = Vec::new();
        let mut i = s;
        while i > e {
            out.push(data.data[i as usize]);
            i += step;
        }
        out
    };
    Ok(Ints { shape: vec![picked.len()], data: picked })
}

/// An axis in `-rank..rank` made non-negative.
pub(super) fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if !(-r..r).contains(&a) {
        return Err(format!("axis {a} for rank {rank}"));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

/// Explicit pads (ONNX order) for `auto_pad` SAME_UPPER / SAME_LOWER along the two spatial axes.
pub(super) fn same_pads(
    size: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    upper: bool,
) -> [usize; 4] {
    let mut pads = [0; 4];
    for i in 0..2 {
        let out = size[i].div_ceil(strides[i].max(1));
        let span = dilations[i] * (kernel[i] - 1) + 1;
        let total = ((out.saturating_sub(1)) * strides[i] + span).saturating_sub(size[i]);
        let small = total / 2;
        let (begin, end) = if upper { (small, total - small) } else { (total - small, small) };
        pads[i] = begin;
        pads[i + 2] = end;
    }
    pads
}
