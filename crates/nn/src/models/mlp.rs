//! Multi-layer perceptron on flattened pixels.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Mlp {
    pub layers: Vec<Linear>,
}

impl Mlp {
    pub fn new(inputs: usize, hidden: &[usize], classes: usize, device: &Device) -> Self {
        let mut sizes = vec![inputs];
        sizes.extend_from_slice(hidden);
        sizes.push(classes);
        let layers = sizes.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        Self { layers }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h: Tensor<2> = x.flatten(1, 3);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = burn::tensor::activation::relu(h);
            }
        }
        h
    }

    pub fn head(&self) -> &Linear {
        self.layers.last().expect("an MLP has at least one layer")
    }

    pub fn set_head(&mut self, head: Linear) {
        if let Some(last) = self.layers.last_mut() {
            *last = head;
        }
    }
}
