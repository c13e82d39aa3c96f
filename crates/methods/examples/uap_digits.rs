//! UAP fingerprint on the embedded digits: similarities of unseen copies and independent models
//! for a few generation settings (a quick look before the Fashion-MNIST zoo; not a test).
//!   cargo run --release -p mown-methods --example uap_digits -- [clusters=20] [views=40] [epochs=30] [rms=0.3] [refs=3]

use mown_access::{AccessLevel, LocalModel};
use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_methods::Evidence;
use mown_methods::uap::{Radius, ReferenceRole, UapFingerprintParams, generate};
use mown_nn::TrainConfig;
use mown_nn::burn::prelude::Device;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: f64) -> f64 {
    std::env::args()
        .filter_map(|a| a.strip_prefix(&format!("{name}=")).and_then(|v| v.parse().ok()))
        .next()
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache = std::env::temp_dir().join("mown-uap-digits-cache");
    let mut b = Builder::new(Some(cache), Device::flex(), TrainConfig { batch_size: 64, ..TrainConfig::default() });
    let root: Chain = "train(arc-c,digits,seed=1,epochs=15,part=1/2)".parse()?;
    let owner = b.build(&root)?.model;
    let data = b.step_data(&root.steps[0])?;
    let extract =
        |arch: &str, seed: usize| format!("{root}-extract({arch},probs,same,budget={},epochs=15)", 500 + seed);
    let refs = arg("refs", 3.0) as usize;
    let piracy = ["mlp", "lenet5", "arc-b", "arc-d", "resnet20"];
    let homologous = ["mlp", "lenet5", "arc-b", "arc-d", "resnet20"];
    let mut references = Vec::new();
    for (i, arch) in piracy.iter().take(refs).enumerate() {
        let c = extract(arch, i);
        references.push((c.clone(), ReferenceRole::Piracy, b.build(&c.parse()?)?.model));
    }
    for (i, arch) in homologous.iter().take(refs).enumerate() {
        let c = format!("train({arch},digits,seed={},epochs=10,part=2/2)", 21 + i);
        references.push((c.clone(), ReferenceRole::Homologous, b.build(&c.parse()?)?.model));
    }
    let mut p = UapFingerprintParams {
        train_views: arg("views", 40.0) as usize,
        verify_views: 30,
        uap_images: 500,
        uap_held_out: 200,
        seed: 3,
        ..Default::default()
    };
    p.kmeans.clusters = arg("clusters", 20.0) as usize;
    p.encoder.epochs = arg("epochs", 30.0) as usize;
    p.uap.xi = Radius::Rms(arg("rms", 0.3));
    let t0 = std::time::Instant::now();
    let fp = generate(&owner, &data.owner, &data.test, &references, &p)?;
    println!("generated in {:.1}s: {}", t0.elapsed().as_secs_f64(), fp.uap_stats);
    let suspects: Vec<String> = vec![
        extract("arc-c", 10),
        extract("arc-e", 11),
        extract("lenet5", 12),
        format!("{root}-ftal(3)"),
        format!("{root}-prune(w,0.5,ft=1)"),
        "train(arc-c,digits,seed=51,epochs=10,part=2/2)".into(),
        "train(arc-e,digits,seed=52,epochs=10,part=1/2)".into(),
        "train(arc-d,digits,seed=53,epochs=10,part=2/2,opt=rmsprop)".into(),
        "train(mlp,digits,seed=54,epochs=10,part=1/2,opt=adam)".into(),
        "train(lenet5,digits,seed=55,epochs=10,part=2/2)".into(),
        "train(resnet20,digits,seed=56,epochs=10,part=1/2)".into(),
    ];
    for s in suspects {
        let m = b.build(&s.parse()?)?.model;
        let agree = m.agreement(&owner, data.test.images())?;
        let mut api = LocalModel::new(m, AccessLevel::Probabilities, None);
        let sims = fp.measure(&mut api)?.measurement;
        println!("{:.4}  agreement {agree:.3}  {s}", sims.score());
    }
    Ok(())
}
