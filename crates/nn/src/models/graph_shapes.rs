//! Static shape inference for the graph IR, with the batch size kept symbolic: the importer
//! uses it to fold shape computations and resolve `auto_pad`, and loading uses it to reject a
//! graph whose wiring does not fit its weights before any image runs.

use super::graph::{Dim, Op, shape_string};

type Shape = Vec<Dim>;

fn fixed(d: Dim, what: &str) -> Result<usize, String> {
    match d {
        Dim::Fixed(k) if k >= 0 => Ok(k as usize),
        _ => Err(format!("{what} is {d}, not a fixed size")),
    }
}

fn want_rank(s: &Shape, rank: usize, what: &str) -> Result<(), String> {
    if s.len() != rank {
        return Err(format!("{what} has shape {}, expected rank {rank}", shape_string(s)));
    }
    Ok(())
}

/// numpy broadcasting of two shapes.
pub fn broadcast(a: &Shape, b: &Shape) -> Result<Shape, String> {
    let rank = a.len().max(b.len());
    let at = |s: &Shape, i: usize| if i + s.len() < rank { Dim::Fixed(1) } else { s[i + s.len() - rank] };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Ok(x),
            (Dim::Fixed(1), y) => Ok(y),
            (x, Dim::Fixed(1)) => Ok(x),
            (x, y) => Err(format!("shapes {} and {} do not broadcast ({x} vs {y})", shape_string(a), shape_string(b))),
        })
        .collect()
}

/// Output size of a sliding window (convolution or pooling) along one axis, PyTorch's rule for
/// `ceil_mode` (the last window must start inside the input or the leading padding).
pub fn window_out(
    size: usize,
    kernel: usize,
    stride: usize,
    pad: (usize, usize),
    dilation: usize,
    ceil: bool,
) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    let padded = size + pad.0 + pad.1;
    if padded < span || stride == 0 {
        return None;
    }
    let mut out = if ceil { (padded - span).div_ceil(stride) + 1 } else { (padded - span) / stride + 1 };
    if ceil && (out - 1) * stride >= size + pad.0 {
        out -= 1;
    }
    Some(out)
}

fn product(dims: &[Dim]) -> Result<Dim, String> {
    dims.iter().try_fold(Dim::Fixed(1), |acc, &d| {
        acc.checked_mul(d).ok_or_else(|| "a product of two batch dimensions".to_string())
    })
}

/// The shape `op` gives for operand shapes `inputs` (already counted and checked by the caller's
/// operand resolution).
pub fn infer(op: &Op, inputs: &[Shape]) -> Result<Shape, String> {
    let arity = |n: std::ops::RangeInclusive<usize>| {
        if n.contains(&inputs.len()) { Ok(()) } else { Err(format!("{} inputs, expected {n:?}", inputs.len())) }
    };
    match op {
        Op::Conv { strides, pads, dilations, group } => {
            arity(2..=3)?;
            let (x, w) = (&inputs[0], &inputs[1]);
            want_rank(x, 4, "the input")?;
            want_rank(w, 4, "the weight")?;
            let (cin, m) = (fixed(x[1], "the channel count")?, fixed(w[0], "the weight")?);
            let (kh, kw) = (fixed(w[2], "the kernel")?, fixed(w[3], "the kernel")?);
            if *group == 0 || cin != fixed(w[1], "the weight")? * group || m % group != 0 {
                return Err(format!(
                    "input {} and weight {} do not fit group {group}",
                    shape_string(x),
                    shape_string(w)
                ));
            }
            if let Some(b) = inputs.get(2)
                && b[..] != [Dim::Fixed(m as i64)]
            {
                return Err(format!("bias {} for {m} output channels", shape_string(b)));
            }
            let mut out = vec![x[0], Dim::Fixed(m as i64)];
            for (i, k) in [kh, kw].into_iter().enumerate() {
                let size = fixed(x[2 + i], "the image size")?;
                let o = window_out(size, k, strides[i], (pads[i], pads[i + 2]), dilations[i], false)
                    .ok_or_else(|| format!("kernel {kh}x{kw} does not fit input {}", shape_string(x)))?;
                out.push(Dim::Fixed(o as i64));
            }
            Ok(out)
        }
        Op::Gemm { trans_a, trans_b, .. } => {
            arity(2..=3)?;
            want_rank(&inputs[0], 2, "A")?;
            want_rank(&inputs[1], 2, "B")?;
            let (m, ka) = if *trans_a { (inputs[0][1], inputs[0][0]) } else { (inputs[0][0], inputs[0][1]) };
            let (kb, n) = if *trans_b { (inputs[1][1], inputs[1][0]) } else { (inputs[1][0], inputs[1][1]) };
            if ka != kb {
                return Err(format!("inner dimensions {ka} and {kb} differ"));
            }
            let out = vec![m, n];
            if let Some(c) = inputs.get(2)
                && broadcast(&out, c)? != out
            {
                return Err(format!("C {} does not broadcast to {}", shape_string(c), shape_string(&out)));
            }
            Ok(out)
        }
        Op::MatMul => {
            arity(2..=2)?;
            let (a, b) = (&inputs[0], &inputs[1]);
            if a.len() < 2 || b.len() < 2 {
                return Err("a 1-D operand (only matrices and stacks of them are supported)".into());
            }
            if a[a.len() - 1] != b[b.len() - 2] {
                return Err(format!("inner dimensions of {} and {} differ", shape_string(a), shape_string(b)));
            }
            let mut out = broadcast(&a[..a.len() - 2].to_vec(), &b[..b.len() - 2].to_vec())?;
            out.extend([a[a.len() - 2], b[b.len() - 1]]);
            Ok(out)
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div => {
            arity(2..=2)?;
            broadcast(&inputs[0], &inputs[1])
        }
        Op::PRelu => {
            arity(2..=2)?;
            let out = broadcast(&inputs[0], &inputs[1])?;
            if out != inputs[0] {
                return Err(format!("slope {} does not broadcast to {}", shape_string(&inputs[1]), shape_string(&out)));
            }
            Ok(out)
        }
        Op::Relu | Op::LeakyRelu { .. } | Op::Elu { .. } | Op::Sigmoid | Op::Tanh | Op::Clip { .. } | Op::Identity => {
            arity(1..=1)?;
            Ok(inputs[0].clone())
        }
        Op::BatchNorm { .. } => {
            arity(5..=5)?;
            let x = &inputs[0];
            if x.len() < 2 {
                return Err(format!("input {} has no channel axis", shape_string(x)));
            }
            for s in &inputs[1..] {
                if s[..] != [x[1]] {
                    return Err(format!("statistics {} for input {}", shape_string(s), shape_string(x)));
                }
            }
            Ok(x.clone())
        }
        Op::MaxPool { kernel, strides, pads, dilations, ceil_mode } => {
            pool(inputs, kernel, strides, pads, dilations, *ceil_mode)
        }
        Op::AveragePool { kernel, strides, pads, ceil_mode, .. } => {
            pool(inputs, kernel, strides, pads, &[1, 1], *ceil_mode)
        }
        Op::GlobalAveragePool | Op::GlobalMaxPool => {
            arity(1..=1)?;
            let x = &inputs[0];
            if x.len() < 3 {
                return Err(format!("input {} has no spatial axes", shape_string(x)));
            }
            Ok(x.iter().enumerate().map(|(i, &d)| if i < 2 { d } else { Dim::Fixed(1) }).collect())
        }
        Op::Flatten { axis } => {
            arity(1..=1)?;
            let x = &inputs[0];
            if *axis > x.len() {
                return Err(format!("axis {axis} of {}", shape_string(x)));
            }
            Ok(vec![product(&x[..*axis])?, product(&x[*axis..])?])
        }
        Op::Reshape { shape, allowzero } => {
            arity(1..=1)?;
            reshape(&inputs[0], shape, *allowzero)
        }
        Op::Transpose { perm } => {
            arity(1..=1)?;
            let x = &inputs[0];
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..x.len()).collect::<Vec<_>>() {
                return Err(format!("permutation {perm:?} of {}", shape_string(x)));
            }
            Ok(perm.iter().map(|&p| x[p]).collect())
        }
        Op::Squeeze { axes } => {
            arity(1..=1)?;
            let x = &inputs[0];
            if let Some(&a) = axes.iter().find(|&&a| x.get(a) != Some(&Dim::Fixed(1))) {
                return Err(format!("cannot squeeze axis {a} of {}", shape_string(x)));
            }
            Ok(x.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect())
        }
        Op::Unsqueeze { axes } => {
            arity(1..=1)?;
            let rank = inputs[0].len() + axes.len();
            if axes.iter().any(|&a| a >= rank) {
                return Err(format!("axes {axes:?} for an output of rank {rank}"));
            }
            let mut rest = inputs[0].iter();
            Ok((0..rank)
                .map(|i| if axes.contains(&i) { Dim::Fixed(1) } else { *rest.next().unwrap_or(&Dim::Fixed(1)) })
                .collect())
        }
        Op::Concat { axis } => {
            arity(1..=usize::MAX)?;
            let first = &inputs[0];
            if *axis >= first.len() {
                return Err(format!("axis {axis} of {}", shape_string(first)));
            }
            let mut out = first.clone();
            for s in &inputs[1..] {
                let same = s.len() == first.len() && (0..s.len()).all(|i| i == *axis || s[i] == first[i]);
                if !same {
                    return Err(format!("{} and {} differ off axis {axis}", shape_string(first), shape_string(s)));
                }
                out[*axis] =
                    out[*axis].checked_add(s[*axis]).ok_or("the concatenated size mixes batch and fixed sizes")?;
            }
            Ok(out)
        }
        Op::Pad { pads, .. } => {
            arity(1..=1)?;
            let x = &inputs[0];
            if pads.len() != x.len() {
                return Err(format!("{} pads for {}", pads.len(), shape_string(x)));
            }
            x.iter()
                .zip(pads)
                .map(|(&d, &(a, b))| {
                    d.checked_add(Dim::Fixed((a + b) as i64)).ok_or_else(|| "padding the batch axis".to_string())
                })
                .collect()
        }
    }
}

fn pool(
    inputs: &[Shape],
    kernel: &[usize; 2],
    strides: &[usize; 2],
    pads: &[usize; 4],
    dilations: &[usize; 2],
    ceil: bool,
) -> Result<Shape, String> {
    if inputs.len() != 1 {
        return Err(format!("{} inputs, expected 1", inputs.len()));
    }
    let x = &inputs[0];
    want_rank(x, 4, "the input")?;
    let mut out = x[..2].to_vec();
    for i in 0..2 {
        let size = fixed(x[2 + i], "the image size")?;
        let o = window_out(size, kernel[i], strides[i], (pads[i], pads[i + 2]), dilations[i], ceil)
            .ok_or_else(|| format!("window {kernel:?} does not fit input {}", shape_string(x)))?;
        out.push(Dim::Fixed(o as i64));
    }
    Ok(out)
}

/// ONNX Reshape: 0 copies the input's dimension (unless `allowzero`), one -1 is inferred.
pub fn reshape(x: &Shape, target: &[Dim], allowzero: bool) -> Result<Shape, String> {
    let mut out = Vec::with_capacity(target.len());
    let mut infer_at = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            Dim::Fixed(0) if !allowzero => out.push(
                *x.get(i).ok_or_else(|| format!("0 at position {i} but the input {} is shorter", shape_string(x)))?,
            ),
            Dim::Fixed(-1) if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(Dim::Fixed(1));
            }
            Dim::Fixed(k) if k < 0 => return Err(format!("bad target entry {k}")),
            d => out.push(d),
        }
    }
    let total = product(x)?;
    if let Some(i) = infer_at {
        let known = product(&out)?;
        out[i] = total
            .checked_div(known)
            .ok_or_else(|| format!("cannot infer the -1 of {} from {}", shape_string(target), shape_string(x)))?;
    }
    if product(&out)? != total {
        return Err(format!("cannot reshape {} to {}", shape_string(x), shape_string(target)));
    }
    Ok(out)
}
