//! Diagnostic for issue #5 (seed 004 §4.6, Fig. 4): watermark accuracy of a model on its
//! triggers after an L∞ projected-gradient attack of growing radius against the watermark labels.
//! A margin-watermarked model should keep its labels up to its ε; a plain one should not.
//! `cargo run --release -p mown-methods --example watermark_margin -- MODEL KEY [MODEL KEY ...]`

use mown_methods::WatermarkKey;
use mown_methods::watermark::margin_pga;
use mown_nn::burn::prelude::Device;
use mown_nn::io;
use mown_nn::model::{images_tensor, tensor_to_vec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || !args.len().is_multiple_of(2) {
        return Err("usage: watermark_margin MODEL KEY [MODEL KEY ...]".into());
    }
    let radii = [0.0, 2.5 / 255.0, 5.0 / 255.0, 10.0 / 255.0, 20.0 / 255.0];
    println!(
        "model                                     {}",
        radii.map(|r| format!("eps {:>5.1}/255", r * 255.0)).join(" ")
    );
    for pair in args.chunks(2) {
        let model = io::load(std::path::Path::new(&pair[0]), &Device::flex())?;
        let key = WatermarkKey::load(std::path::Path::new(&pair[1]))?;
        let mut row = Vec::new();
        for eps in radii {
            let x = images_tensor(&key.triggers, key.input_shape, &Device::flex());
            let moved = if eps > 0.0 { margin_pga(&model, x, &key.labels, eps, eps / 10.0, 10) } else { x };
            let predicted = model.predict(&tensor_to_vec(moved))?;
            let hits = predicted.iter().zip(&key.labels).filter(|(a, b)| a == b).count();
            row.push(format!("{:>13.2}", hits as f64 / key.len() as f64));
        }
        println!(
            "{:<41} {}",
            format!("{} ({})", key.scheme, &pair[0][pair[0].len().saturating_sub(30)..]),
            row.join(" ")
        );
    }
    Ok(())
}
