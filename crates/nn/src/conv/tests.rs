//! mown's convolution against burn's op on the same module and input: values, gradients, and
//! finite differences. Both paths are called explicitly, so the global switch is not touched.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use super::{conv2d_fast, fast_geometry};

struct Case {
    batch: usize,
    channels: [usize; 2],
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: PaddingConfig2d,
    bias: bool,
}

fn cases() -> Vec<Case> {
    let case = |batch, channels, size, kernel, stride, padding, bias| Case {
        batch,
        channels,
        size,
        kernel,
        stride,
        padding,
        bias,
    };
    use PaddingConfig2d::{Explicit, Valid};
    vec![
        case(1, [1, 4], [8, 8], [3, 3], [1, 1], Explicit(1, 1, 1, 1), true),
        case(3, [3, 5], [9, 7], [3, 3], [2, 2], Explicit(1, 1, 1, 1), false),
        case(2, [3, 2], [10, 10], [5, 5], [1, 1], Valid, true),
        case(4, [2, 6], [6, 6], [1, 1], [1, 1], Valid, false),
        case(2, [4, 3], [7, 7], [1, 1], [2, 2], Valid, true),
        case(5, [1, 2], [12, 9], [3, 2], [2, 3], Explicit(2, 0, 1, 1), true),
        case(1, [3, 3], [4, 4], [4, 4], [1, 1], Valid, true),
    ]
}

fn module(c: &Case, device: &Device) -> Conv2d {
    Conv2dConfig::new(c.channels, c.kernel)
        .with_stride(c.stride)
        .with_padding(c.padding.clone())
        .with_bias(c.bias)
        .init(device)
}

fn input(c: &Case, device: &Device) -> Tensor<4> {
    Tensor::random([c.batch, c.channels[0], c.size[0], c.size[1]], Distribution::Normal(0.0, 1.0), device)
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

fn assert_close(fast: &[f32], reference: &[f32], tolerance: f32, what: &str) {
    assert_eq!(fast.len(), reference.len(), "{what}: lengths");
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (a, b)) in fast.iter().zip(reference).enumerate() {
        assert!((a - b).abs() <= tolerance * scale, "{what}[{i}]: mown {a}, burn {b} (scale {scale})");
    }
}

#[test]
fn forward_matches_burns_op() {
    let device = Device::flex();
    for c in cases() {
        let conv = module(&c, &device);
        let x = input(&c, &device);
        assert!(fast_geometry(&conv, &x).is_some());
        let what = format!("forward {:?} stride {:?}", c.kernel, c.stride);
        assert_close(&values(conv2d_fast(&conv, x.clone())), &values(conv.forward(x)), 1e-4, &what);
    }
}

#[test]
fn gradients_match_burns_op() {
    let device = Device::flex().autodiff();
    for c in cases() {
        let conv = module(&c, &device);
        let x = input(&c, &device).require_grad();
        let out_fast = conv2d_fast(&conv, x.clone());
        let mix = Tensor::<4>::random(out_fast.dims(), Distribution::Normal(0.0, 1.0), &device);
        let grads_fast = (out_fast * mix.clone()).sum().backward();
        let grads_burn = (conv.forward(x.clone()) * mix).sum().backward();
        let what = format!("{:?} stride {:?}", c.kernel, c.stride);
        let pair = |t: Option<Tensor<4>>, u: Option<Tensor<4>>| (values(t.unwrap()), values(u.unwrap()));
        let (a, b) = pair(x.grad(&grads_fast), x.grad(&grads_burn));
        assert_close(&a, &b, 1e-4, &format!("input grad {what}"));
        let w = conv.weight.val();
        let (a, b) = pair(w.grad(&grads_fast), w.grad(&grads_burn));
        assert_close(&a, &b, 1e-4, &format!("weight grad {what}"));
        if let Some(bias) = &conv.bias {
            let (a, b) = (bias.val().grad(&grads_fast).unwrap(), bias.val().grad(&grads_burn).unwrap());
            let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
            assert_close(&a, &b, 1e-4, &format!("bias grad {what}"));
        }
    }
}

/// Central differences in f64 of sum(mix * conv(x)) against the autodiff gradients.
#[test]
fn gradients_match_finite_differences() {
    let device = Device::flex().autodiff();
    let c = Case {
        batch: 2,
        channels: [2, 3],
        size: [5, 4],
        kernel: [3, 3],
        stride: [2, 1],
        padding: PaddingConfig2d::Explicit(1, 1, 1, 1),
        bias: false,
    };
    let conv = module(&c, &device);
    let x = input(&c, &device).require_grad();
    let out = conv2d_fast(&conv, x.clone());
    let mix = Tensor::<4>::random(out.dims(), Distribution::Normal(0.0, 1.0), &device);
    let grads = (out * mix.clone()).sum().backward();
    let dx = values(x.grad(&grads).unwrap());
    let dw = values(conv.weight.val().grad(&grads).unwrap());

    let plain = Device::flex();
    let (xs, ws, ms) = (values(x.clone().inner()), values(conv.weight.val().inner()), values(mix.inner()));
    let objective = |xv: &[f32], wv: &[f32]| -> f64 {
        let mut probe = module(&c, &plain);
        probe.weight = Param::from_tensor(Tensor::from_data(TensorData::new(wv.to_vec(), conv.weight.dims()), &plain));
        let xt = Tensor::<4>::from_data(TensorData::new(xv.to_vec(), x.dims()), &plain);
        let y = values(conv2d_fast(&probe, xt));
        y.iter().zip(&ms).map(|(a, b)| *a as f64 * *b as f64).sum()
    };
    let h = 1e-2f32;
    for i in (0..xs.len()).step_by(7) {
        let (mut up, mut down) = (xs.clone(), xs.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (objective(&up, &ws) - objective(&down, &ws)) / (2.0 * h as f64);
        assert!((numeric - dx[i] as f64).abs() <= 1e-2 * (1.0 + numeric.abs()), "dx[{i}]: {numeric} vs {}", dx[i]);
    }
    for i in (0..ws.len()).step_by(5) {
        let (mut up, mut down) = (ws.clone(), ws.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (objective(&xs, &up) - objective(&xs, &down)) / (2.0 * h as f64);
        assert!((numeric - dw[i] as f64).abs() <= 1e-2 * (1.0 + numeric.abs()), "dw[{i}]: {numeric} vs {}", dw[i]);
    }
}

#[test]
fn unsupported_convolutions_stay_on_burns_op() {
    let device = Device::flex();
    let same = Conv2dConfig::new([2, 2], [3, 3]).with_padding(PaddingConfig2d::Same).init(&device);
    let grouped = Conv2dConfig::new([2, 2], [3, 3]).with_groups(2).init(&device);
    let x = Tensor::<4>::zeros([1, 2, 5, 5], &device);
    assert!(fast_geometry(&same, &x).is_none());
    assert!(fast_geometry(&grouped, &x).is_none());
    // A channel mismatch is burn's op's error to report, not a wrong answer from ours.
    let wrong = Tensor::<4>::zeros([1, 3, 5, 5], &device);
    assert!(fast_geometry(&module(&cases()[0], &device), &wrong).is_none());
}

/// Pooling and ELU against burn's ops: values and input gradients, odd sizes included.
#[test]
fn pooling_and_elu_match_burns_ops() {
    use super::{elu_fast, max_pool2x2_fast};
    let device = Device::flex().autodiff();
    for dims in [[2, 3, 6, 6], [1, 1, 5, 7], [3, 2, 28, 28], [40, 8, 14, 14]] {
        let x = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let burn_pool = burn::nn::pool::MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        let (fast, slow) = (max_pool2x2_fast(x.clone()), burn_pool.forward(x.clone()));
        assert_eq!(fast.dims(), slow.dims());
        let mix = Tensor::<4>::random(fast.dims(), Distribution::Normal(0.0, 1.0), &device);
        let (a, b) = (values(fast.clone()), values(slow.clone()));
        assert_close(&a, &b, 0.0, &format!("max pool {dims:?}"));
        let (ga, gb) = ((fast * mix.clone()).sum().backward(), (slow * mix).sum().backward());
        let (a, b) = (values(x.grad(&ga).unwrap()), values(x.grad(&gb).unwrap()));
        assert_close(&a, &b, 0.0, &format!("max pool gradient {dims:?}"));

        let (fast, slow) = (elu_fast(x.clone(), 0.8), burn::tensor::activation::elu(x.clone(), 0.8));
        let mix = Tensor::<4>::random(fast.dims(), Distribution::Normal(0.0, 1.0), &device);
        assert_close(&values(fast.clone()), &values(slow.clone()), 1e-5, &format!("elu {dims:?}"));
        let (ga, gb) = ((fast * mix.clone()).sum().backward(), (slow * mix).sum().backward());
        let (a, b) = (values(x.grad(&ga).unwrap()), values(x.grad(&gb).unwrap()));
        assert_close(&a, &b, 1e-5, &format!("elu gradient {dims:?}"));
    }
}

/// BatchNorm in training against burn's: output, the three gradients, and the running statistics.
#[test]
fn batch_norm_training_matches_burns() {
    use burn::nn::BatchNormConfig;
    let device = Device::flex().autodiff();
    for dims in [[4, 3, 5, 5], [2, 16, 8, 8], [9, 2, 1, 1]] {
        let ours = BatchNormConfig::new(dims[1]).init(&device);
        let theirs = ours.clone();
        // Non-trivial affine parameters and running statistics.
        let x = Tensor::<4>::random(dims, Distribution::Normal(0.5, 2.0), &device).require_grad();
        let (a, b) = (super::batch_norm(&ours, x.clone()), theirs.forward(x.clone()));
        assert_close(&values(a.clone()), &values(b.clone()), 1e-4, &format!("batch norm {dims:?}"));
        let mix = Tensor::<4>::random(a.dims(), Distribution::Normal(0.0, 1.0), &device);
        let (ga, gb) = ((a * mix.clone()).sum().backward(), (b * mix).sum().backward());
        assert_close(&values(x.grad(&ga).unwrap()), &values(x.grad(&gb).unwrap()), 1e-4, "input gradient");
        let one = |t: Tensor<1>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        for (p, what) in [(&ours.gamma, "gamma"), (&ours.beta, "beta")] {
            let q = if what == "gamma" { &theirs.gamma } else { &theirs.beta };
            assert_close(&one(p.val().grad(&ga).unwrap()), &one(q.val().grad(&gb).unwrap()), 1e-4, what);
        }
        assert_close(&one(ours.running_mean.value()), &one(theirs.running_mean.value()), 1e-5, "running mean");
        assert_close(&one(ours.running_var.value()), &one(theirs.running_var.value()), 1e-5, "running var");
    }
}
