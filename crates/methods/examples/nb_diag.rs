//! Temporary: why phase 3 breaks the demo owner.
use mown_adversary::build::Builder;
use mown_methods::near_boundary::finetune::{FtSpace, boundary_loss};
use mown_methods::near_boundary::{NearBoundaryParams, boundary_loss_value, generate};
use mown_nn::burn::prelude::*;
use mown_nn::train::{Objective, train_with};
use mown_nn::{Model, TrainConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Obj { samples: Vec<f32>, shape: mown_data::ImageShape, mode: u8, lambda: f32, steps: usize, space: FtSpace }
impl Objective for Obj {
    fn loss(&mut self, model: &Model, images: Tensor<4>, labels: &[usize]) -> Tensor<1> {
        self.steps += 1;
        let ft = |m: &Model| {
            let x = mown_nn::model::images_tensor(&self.samples, self.shape, &images.device());
            boundary_loss(m.forward(x), 3, 5, self.space)
        };
        match self.mode {
            0 => if self.steps % 2 == 1 { ft(model) } else { mown_nn::loss::cross_entropy(model.forward(images.clone()), labels) },
            1 => ft(model),
            2 => mown_nn::loss::cross_entropy(model.forward(images.clone()), labels),
            _ => mown_nn::loss::cross_entropy(model.forward(images.clone()), labels) + ft(model) * self.lambda,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let owner = mown_nn::io::load(std::path::Path::new("mown-demo/owner.safetensors"), &Device::flex())?;
    let mut b = Builder::new(None, Device::flex(), TrainConfig::default());
    let (train, test) = b.dataset("digits")?;
    println!("owner acc {:.4} provenance {:?}", owner.accuracy(&test)?, owner.meta.provenance.derivation);
    let p = NearBoundaryParams { source: 3, target: 5, finetune: None, ..Default::default() };
    let (ev, _) = generate(&owner, &train, &test, &p)?;
    println!("phase1 {}", ev.stats);
    let s = ev.samples.clone();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for spec in args {
        // mode:lr:epochs:lambda:space:wd:momentum
        let f: Vec<&str> = spec.split(':').collect();
        let mode: u8 = f[0].parse()?; let lr: f64 = f[1].parse()?; let epochs: usize = f[2].parse()?;
        let lambda: f32 = f[3].parse()?; let space = if f[4] == "l" { FtSpace::Logits } else { FtSpace::Probabilities };
        let wd: f64 = f[5].parse()?; let mom: f64 = f[6].parse()?;
        let cfg = TrainConfig { epochs, lr, batch_size: 64, weight_decay: wd, optimizer: mown_nn::train::OptimizerKind::Sgd { momentum: mom, nesterov: false }, ..TrainConfig::default() };
        let mut o = Obj { samples: s.clone(), shape: owner.input_shape(), mode, lambda, steps: 0, space };
        let (t, _) = train_with(owner.clone(), &train, None, &cfg, &mut o)?;
        let probs = t.probabilities(&s)?;
        let d: f64 = probs.chunks(10).map(|r| (r[5] - r[3]).abs() as f64).sum::<f64>() / (s.len() / 64) as f64;
        println!("{spec}: acc {:.4} lossft_p {:.4} lossft_l {:.4} mean_d {:.3}", t.accuracy(&test)?,
            boundary_loss_value(&t, &s, 3, 5, FtSpace::Probabilities)?, boundary_loss_value(&t, &s, 3, 5, FtSpace::Logits)?, d);
    }
    Ok(())
}
