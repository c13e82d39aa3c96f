//! The graph IR's operators on tiny inputs, against burn's own modules or values computed by
//! hand, and the checks a graph must pass before it runs.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;

use super::graph::{Dim, GraphDef, Node, Op, Operand, Role, TensorSpec};
use super::graph_ops::{Val, apply};
use super::{GraphNet, Network};
use crate::model::tensor_to_vec;

fn dev() -> Device {
    Device::flex()
}

fn val(dims: &[usize], data: Vec<f32>) -> Val {
    Val::shaped(Tensor::<1>::from_floats(data.as_slice(), &dev()), dims)
}

/// `0, 1, 2, ...` scaled, in a shape.
fn ramp(dims: &[usize], scale: f32) -> Val {
    let n = dims.iter().product::<usize>();
    val(dims, (0..n).map(|i| (i as f32 * scale).sin()).collect())
}

fn run(op: Op, inputs: Vec<Val>) -> (Vec<usize>, Vec<f32>) {
    let out = apply(&op, inputs, 2);
    (out.dims(), tensor_to_vec(out.t))
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    let d = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(d < 1e-5, "max difference {d}: {a:?} vs {b:?}");
}

#[test]
fn conv_matches_burn_with_groups_asymmetric_pads_stride_and_dilation() {
    let conv = Conv2dConfig::new([4, 6], [3, 2])
        .with_groups(2)
        .with_stride([2, 1])
        .with_dilation([1, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 0, 2, 1))
        .init(&dev());
    let x = ramp(&[2, 4, 7, 6], 0.37);
    let want = tensor_to_vec(conv.forward(x.get::<4>()));
    let op = Op::Conv { strides: [2, 1], pads: [1, 0, 2, 1], dilations: [1, 2], group: 2 };
    let inputs = vec![x, Val::new(conv.weight.val()), Val::new(conv.bias.as_ref().unwrap().val())];
    let (dims, got) = run(op, inputs);
    assert_eq!(dims, [2, 6, 4, 5]);
    close(&got, &want);
}

#[test]
fn conv_by_hand() {
    // A 2x2 all-ones kernel over [[1, 2], [3, 4]] padded by one row on top: [[1+2], [1+2+3+4]].
    let op = Op::Conv { strides: [1, 1], pads: [1, 0, 0, 0], dilations: [1, 1], group: 1 };
    let (dims, got) = run(op, vec![val(&[1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]), val(&[1, 1, 2, 2], vec![1.0; 4])]);
    assert_eq!(dims, [1, 1, 2, 1]);
    close(&got, &[3.0, 10.0]);
}

#[test]
fn elementwise_ops_broadcast_like_numpy() {
    let x = val(&[1, 2, 1, 2], vec![1.0, -2.0, 3.0, -4.0]);
    let c = val(&[2, 1, 1], vec![10.0, 20.0]);
    close(&run(Op::Add, vec![x.clone(), c.clone()]).1, &[11.0, 8.0, 23.0, 16.0]);
    close(&run(Op::Sub, vec![c.clone(), x.clone()]).1, &[9.0, 12.0, 17.0, 24.0]);
    close(&run(Op::Mul, vec![x.clone(), c.clone()]).1, &[10.0, -20.0, 60.0, -80.0]);
    close(&run(Op::Div, vec![x.clone(), c.clone()]).1, &[0.1, -0.2, 0.15, -0.2]);
    assert_eq!(run(Op::Add, vec![x.clone(), c.clone()]).0, [1, 2, 1, 2]);
    close(&run(Op::PRelu, vec![x.clone(), val(&[2, 1, 1], vec![0.5, 0.25])]).1, &[1.0, -1.0, 3.0, -1.0]);
    close(&run(Op::Relu, vec![x.clone()]).1, &[1.0, 0.0, 3.0, 0.0]);
    close(&run(Op::LeakyRelu { alpha: 0.1 }, vec![x.clone()]).1, &[1.0, -0.2, 3.0, -0.4]);
    let elu = |v: f32| if v > 0.0 { v } else { 0.5 * (v.exp() - 1.0) };
    close(&run(Op::Elu { alpha: 0.5 }, vec![x.clone()]).1, &[1.0, elu(-2.0), 3.0, elu(-4.0)]);
    close(&run(Op::Clip { min: Some(-1.0), max: Some(2.0) }, vec![x.clone()]).1, &[1.0, -1.0, 2.0, -1.0]);
    close(&run(Op::Clip { min: None, max: Some(2.0) }, vec![x.clone()]).1, &[1.0, -2.0, 2.0, -4.0]);
    let s = |v: f32| 1.0 / (1.0 + (-v).exp());
    close(&run(Op::Sigmoid, vec![x.clone()]).1, &[s(1.0), s(-2.0), s(3.0), s(-4.0)]);
    close(&run(Op::Tanh, vec![x]).1, &[1f32.tanh(), (-2f32).tanh(), 3f32.tanh(), (-4f32).tanh()]);
}

#[test]
fn batch_norm_uses_the_running_statistics() {
    let x = val(&[1, 2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let p = |a: f32, b: f32| val(&[2], vec![a, b]);
    let (eps, var) = (1e-5f32, [4.0f32, 0.25]);
    let got = run(Op::BatchNorm { epsilon: eps }, vec![x, p(2.0, 1.0), p(0.5, -1.0), p(1.0, 3.0), p(var[0], var[1])]).1;
    let f = |v: f32, c: usize| {
        let (g, b, m) = ([2.0, 1.0][c], [0.5, -1.0][c], [1.0, 3.0][c]);
        (v - m) / (var[c] + eps).sqrt() * g + b
    };
    close(&got, &[f(1.0, 0), f(2.0, 0), f(3.0, 1), f(4.0, 1)]);
}

#[test]
fn pools_by_hand() {
    let x = val(&[1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    // 2x2 average with one pad on every side, stride 2: each corner window holds one pixel.
    let avg = |include| Op::AveragePool {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        count_include_pad: include,
        ceil_mode: false,
    };
    close(&run(avg(false), vec![x.clone()]).1, &[1.0, 2.0, 3.0, 4.0]);
    close(&run(avg(true), vec![x.clone()]).1, &[0.25, 0.5, 0.75, 1.0]);
    let max = Op::MaxPool { kernel: [2, 2], strides: [1, 1], pads: [0, 0, 1, 0], dilations: [1, 1], ceil_mode: false };
    let (dims, got) = run(max, vec![x.clone()]);
    assert_eq!(dims, [1, 1, 2, 1]);
    close(&got, &[4.0, 4.0]);
    close(&run(Op::GlobalAveragePool, vec![x.clone()]).1, &[2.5]);
    close(&run(Op::GlobalMaxPool, vec![x]).1, &[4.0]);
}

#[test]
fn shape_ops() {
    let x = ramp(&[2, 3, 2, 2], 1.0);
    let values = tensor_to_vec(x.t.clone());
    let reshape = Op::Reshape { shape: vec![Dim::N, Dim::Fixed(-1)], allowzero: false };
    assert_eq!(run(reshape, vec![x.clone()]), (vec![2, 12], values.clone()));
    assert_eq!(run(Op::Flatten { axis: 2 }, vec![x.clone()]).0, [6, 4]);
    let (dims, got) = run(Op::Transpose { perm: vec![0, 2, 3, 1] }, vec![x.clone()]);
    assert_eq!(dims, [2, 2, 2, 3]);
    assert_eq!(got[..3], [values[0], values[4], values[8]], "channels last");
    let unsq = run(Op::Unsqueeze { axes: vec![0, 3] }, vec![x.clone()]);
    assert_eq!(unsq.0, [1, 2, 3, 1, 2, 2]);
    let gap = apply(&Op::GlobalAveragePool, vec![x.clone()], 2);
    assert_eq!(run(Op::Squeeze { axes: vec![2, 3] }, vec![gap]).0, [2, 3]);
    let (dims, got) = run(Op::Concat { axis: 1 }, vec![x.clone(), x.clone()]);
    assert_eq!(dims, [2, 6, 2, 2]);
    assert_eq!(got[12..16], values[..4], "second copy after the first image's channels");
    let (dims, got) = run(Op::Pad { pads: vec![(0, 0), (0, 0), (1, 0), (0, 1)], value: 7.0 }, vec![x]);
    assert_eq!(dims, [2, 3, 3, 3]);
    assert_eq!(got[..4], [7.0, 7.0, 7.0, values[0]]);
}

#[test]
fn gemm_and_matmul() {
    let a = val(&[2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = val(&[3, 1], vec![1.0, 0.0, -1.0]);
    let c = val(&[1], vec![10.0]);
    close(&run(Op::MatMul, vec![a.clone(), b.clone()]).1, &[-2.0, -2.0]);
    let gemm = Op::Gemm { alpha: 2.0, beta: 0.5, trans_a: false, trans_b: false };
    close(&run(gemm, vec![a.clone(), b, c]).1, &[1.0, 1.0]);
    let bt = val(&[1, 3], vec![1.0, 0.0, -1.0]);
    close(&run(Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: true }, vec![a, bt]).1, &[-2.0, -2.0]);
}

/// Flatten -> Gemm over `[N, 1, 2, 2]` images.
fn linear_graph() -> GraphDef {
    let spec =
        |name: &str, shape: Vec<usize>| TensorSpec { name: name.into(), shape, role: Role::Uniform { fan_in: 4 } };
    GraphDef {
        source: "test".into(),
        values: vec!["image".into(), "flat".into(), "logits".into()],
        params: vec![spec("w", vec![4, 3]), spec("b", vec![3])],
        buffers: vec![],
        nodes: vec![
            Node { name: "flat".into(), op: Op::Flatten { axis: 1 }, inputs: vec![Operand::Value(0)] },
            Node {
                name: "fc".into(),
                op: Op::Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: false },
                inputs: vec![Operand::Value(1), Operand::Param(0), Operand::Param(1)],
            },
        ],
        output: 2,
        stripped: None,
    }
}

#[test]
fn a_graph_runs_and_exposes_its_head() {
    let def = linear_graph();
    assert_eq!(def.validate([1, 2, 2]), Ok(3));
    let w: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let net = GraphNet::new(def, vec![w, vec![1.0, 2.0, 3.0]], vec![], &dev()).unwrap();
    let x = Tensor::<1>::from_floats([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0].as_slice(), &dev()).reshape([2, 1, 2, 2]);
    // Row 0 = w[0] + w[3] + b, row 1 = w[1] + b.
    close(&tensor_to_vec(net.forward(x)), &[10.0, 13.0, 16.0, 4.0, 6.0, 8.0]);
    let head = net.head().unwrap();
    assert_eq!(head.weight.dims(), [4, 3]);
    let net = Network::Graph(net).with_head(head).unwrap();
    assert_eq!(net.num_params(), 15);
    assert!(GraphNet::new(linear_graph(), vec![vec![0.0; 11], vec![0.0; 3]], vec![], &dev()).is_err());
}

#[test]
fn bad_graphs_fail_validation() {
    let mut def = linear_graph();
    assert!(def.validate([1, 3, 3]).unwrap_err().contains("inner dimensions"), "9 features into a 4-row weight");
    def.nodes[0].inputs = vec![Operand::Value(2)];
    assert!(def.validate([1, 2, 2]).unwrap_err().contains("before it exists"));
    let mut def = linear_graph();
    def.output = 1;
    def.nodes.pop();
    def.values.pop();
    assert!(def.validate([1, 2, 3]).is_ok_and(|k| k == 6), "[N, 6] reads as 6 logits");
    def.nodes[0].op = Op::Flatten { axis: 0 };
    assert!(def.validate([1, 2, 2]).unwrap_err().contains("not [N, classes]"));
}
