//! The five simple Fashion-MNIST CNNs of seed 003 (UAP fingerprinting), Table 1:
//!
//! | arch  | activation | dropout | kernel | conv layers |
//! |-------|------------|---------|--------|-------------|
//! | Arc A | ELU        | no      | 3      | 2           |
//! | Arc B | ELU        | no      | 5      | 3           |
//! | Arc C | ReLU       | no      | 3      | 2           |
//! | Arc D | PReLU      | no      | 3      | 4           |
//! | Arc E | ReLU       | yes     | 5      | 2           |
//!
//! The paper gives only these attributes. Our choices (documented, not from the paper): conv
//! widths 32, 64, 64, 128; "same" padding; a 2x2 max pool after conv 1 and 2 for 2-3 layer nets
//! and after conv 2 and 4 for Arc D; a 128-unit hidden dense layer; dropout 0.5 before the
//! classifier (and 0.25 after the conv stack) for Arc E.

use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use mown_data::ImageShape;

use super::blocks::{Activation, conv, max_pool};
use crate::arch::{Arch, pooled};

const WIDTHS: [usize; 4] = [32, 64, 64, 128];

#[derive(Module, Debug)]
pub struct SimpleCnn {
    pub convs: Vec<Conv2d>,
    pub acts: Vec<Activation>,
    pub fc1: Linear,
    pub fc_act: Activation,
    pub fc2: Linear,
    pub dropout_conv: Option<Dropout>,
    pub dropout_fc: Option<Dropout>,
    pool_after: Vec<bool>,
}

struct ArcTable {
    layers: usize,
    kernel: usize,
    dropout: bool,
    activation: fn(&Device) -> Activation,
}

fn table(arch: Arch) -> ArcTable {
    let elu: fn(&Device) -> Activation = |_| Activation::elu();
    let relu: fn(&Device) -> Activation = |_| Activation::relu();
    let prelu: fn(&Device) -> Activation = Activation::prelu;
    match arch {
        Arch::ArcA => ArcTable { layers: 2, kernel: 3, dropout: false, activation: elu },
        Arch::ArcB => ArcTable { layers: 3, kernel: 5, dropout: false, activation: elu },
        Arch::ArcC => ArcTable { layers: 2, kernel: 3, dropout: false, activation: relu },
        Arch::ArcD => ArcTable { layers: 4, kernel: 3, dropout: false, activation: prelu },
        _ => ArcTable { layers: 2, kernel: 5, dropout: true, activation: relu },
    }
}

impl SimpleCnn {
    pub fn new(arch: Arch, input: ImageShape, classes: usize, device: &Device) -> Self {
        let t = table(arch);
        let wants_pool: Vec<bool> =
            (0..t.layers).map(|i| if t.layers == 4 { i == 1 || i == 3 } else { i < 2 }).collect();
        let (mut h, mut w) = (input.height, input.width);
        let mut pool_after = Vec::with_capacity(t.layers);
        for &p in &wants_pool {
            let ok = p && pooled(h).is_some() && pooled(w).is_some();
            if ok {
                (h, w) = (h / 2, w / 2);
            }
            pool_after.push(ok);
        }
        let mut cin = input.channels;
        let mut convs = Vec::new();
        let mut acts = Vec::new();
        for &cout in WIDTHS.iter().take(t.layers) {
            convs.push(conv(cin, cout, t.kernel, 1, true, device));
            acts.push((t.activation)(device));
            cin = cout;
        }
        Self {
            convs,
            acts,
            fc1: LinearConfig::new(cin * h * w, 128).init(device),
            fc_act: (t.activation)(device),
            fc2: LinearConfig::new(128, classes).init(device),
            dropout_conv: t.dropout.then(|| DropoutConfig::new(0.25).init()),
            dropout_fc: t.dropout.then(|| DropoutConfig::new(0.5).init()),
            pool_after,
        }
    }

    /// For each conv, whether a 2x2 max pool follows it; for exporters.
    pub fn pool_after(&self) -> &[bool] {
        &self.pool_after
    }

    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<2> {
        for ((conv, act), &pool) in self.convs.iter().zip(&self.acts).zip(&self.pool_after) {
            x = act.forward(crate::conv::conv2d(conv, x));
            if pool {
                x = max_pool(x);
            }
        }
        if let Some(d) = &self.dropout_conv {
            x = d.forward(x);
        }
        let mut h: Tensor<2> = x.flatten(1, 3);
        h = self.fc_act.forward(self.fc1.forward(h));
        if let Some(d) = &self.dropout_fc {
            h = d.forward(h);
        }
        self.fc2.forward(h)
    }
}
