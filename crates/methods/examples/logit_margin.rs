//! The owner's logit margins (top-1 minus top-2 logit) over its training images: the scale
//! IPGuard's k is measured against (`--k auto`).
//!   cargo run --release -p mown-methods --example logit_margin -- MODEL.safetensors DATA

use mown_adversary::build::Builder;
use mown_nn::TrainConfig;
use mown_nn::burn::prelude::Device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let owner = mown_nn::io::load(std::path::Path::new(&args[1]), &Device::flex())?;
    let mut b = Builder::new(None, Device::flex(), TrainConfig::default());
    let (train, _) = b.dataset(&args[2])?;
    let mut m = mown_methods::ipguard::logit_margins(&owner, &train)?;
    m.sort_by(f32::total_cmp);
    let q = |p: f64| m[((m.len() - 1) as f64 * p) as usize];
    println!(
        "{}: margins over {} images: p10 {:.2} p25 {:.2} median {:.2} p75 {:.2} p90 {:.2}",
        args[1],
        m.len(),
        q(0.1),
        q(0.25),
        q(0.5),
        q(0.75),
        q(0.9)
    );
    Ok(())
}
