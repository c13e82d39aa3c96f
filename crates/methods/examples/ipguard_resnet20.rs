//! Benchmark for issue #4: time to generate 100 IPGuard points on a ResNet-20 at 32x32x3 on this
//! machine. No CIFAR-10 is available offline, so the owner is a ResNet-20 trained on
//! Fashion-MNIST images resized to 32x32x3. The cost per iteration depends only on the
//! architecture and input size, but the number of iterations depends on the owner: a 2-epoch
//! owner (accuracy 0.74) needs about twice as many as the default 5-epoch one (0.81); see
//! docs/performance.md.
//!
//! Run: `cargo run --release -p mown-methods --example ipguard_resnet20 -- [k=2] [lr=0.01]
//! [candidates=200,0] [iterations=1000] [screen=0] [epochs=5] [per_class=300] [owner=PATH]`; every
//! combination of the listed k, lr, candidates, iterations and screen sizes is timed on one owner.
//! With `torch=1 owner=PATH`, each setting is also run by the PyTorch reference
//! (bench/pytorch_ipguard.py, same algorithm, same start points and owner weights, same thread
//! count) and the ratio of the optimisation times is printed.

use std::time::Instant;

use mown_data::{DataSource, ImageShape};
use mown_methods::Fingerprinter;
use mown_methods::ipguard::{IpGuard, IpGuardParams};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};

/// The allocator `mown` itself uses (crates/cli/src/main.rs says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The comma-separated values of `name=...` among the arguments, or `default`.
fn list<T: std::str::FromStr>(args: &[String], name: &str, default: &str) -> Result<Vec<T>, String> {
    let raw = args.iter().find_map(|a| a.strip_prefix(&format!("{name}="))).unwrap_or(default);
    raw.split(',').map(|v| v.parse().map_err(|_| format!("{name}: cannot parse '{v}'"))).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As in `mown`'s main: keep freed memory mapped (mown_nn::alloc).
    mown_nn::alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ks: Vec<f64> = list(&args, "k", "2")?;
    let lrs: Vec<f64> = list(&args, "lr", "0.01")?;
    let candidates: Vec<usize> = list(&args, "candidates", "200,0")?;
    let iterations: Vec<usize> = list(&args, "iterations", "1000")?;
    let screens: Vec<usize> = list(&args, "screen", "0")?;
    let epochs: usize = list(&args, "epochs", "5")?[0];
    let per_class: usize = list(&args, "per_class", "300")?[0];
    // `torch=1` also times bench/pytorch_ipguard.py from the same start points (needs `owner=`).
    let torch = list::<u8>(&args, "torch", "0")?[0] == 1;
    if torch && !args.iter().any(|a| a.starts_with("owner=")) {
        return Err("torch=1 needs owner=PATH: the PyTorch reference loads the owner from that file".into());
    }

    let (train, test) = DataSource::FashionMnist { dir: None }.load()?;
    let shape = ImageShape { channels: 3, height: 32, width: 32 };
    let train = train.take_per_class(per_class, 1)?.resized(shape)?;
    let test = test.take_per_class(50, 1)?.resized(shape)?;
    let spec = ModelSpec::new(Arch::Resnet20, shape, 10)?;
    let t0 = Instant::now();
    // `owner=PATH` reuses a saved owner (or saves the one trained here there) across runs.
    let saved = args.iter().find_map(|a| a.strip_prefix("owner=")).map(std::path::PathBuf::from);
    let owner = match &saved {
        Some(path) if path.exists() => mown_nn::io::load(path, &Device::flex())?,
        _ => {
            let owner = Model::init(ModelMeta::for_dataset(spec, &train)?, &Device::flex(), 1);
            let cfg = TrainConfig { epochs, batch_size: 64, ..TrainConfig::default() };
            let owner = mown_nn::train::train(owner, &train, None, &cfg)?.0;
            if let Some(path) = &saved {
                mown_nn::io::save(&owner, path)?;
            }
            owner
        }
    };
    println!(
        "owner: ResNet-20 on {} resized images, {:.1}s, test accuracy {:.3}",
        train.len(),
        t0.elapsed().as_secs_f64(),
        owner.accuracy(&test)?
    );
    for &k in &ks {
        for &lr in &lrs {
            for &c in &candidates {
                for &it in &iterations {
                    for &screen in &screens {
                        let params = IpGuardParams {
                            n: 100,
                            k,
                            lr,
                            candidates: c,
                            iterations: it,
                            screen,
                            seed: 1,
                            ..IpGuardParams::default()
                        };
                        let started = Instant::now();
                        let fp = IpGuard(params.clone()).generate(&owner, &train)?;
                        let rust_s = started.elapsed().as_secs_f64();
                        let (s, t) = (&fp.stats, &fp.timings);
                        println!(
                            "IPGuard-TL n=100 k={k} lr={lr} candidates={c} max_iter={it} screen={screen}: \
                             {rust_s:.1}s, {} converged, {} iterations ({} image gradients), converged at \
                             median {} / p90 {}",
                            s["converged"],
                            s["iterations"],
                            s["gradient_evaluations"],
                            s["converged_at_median"],
                            s["converged_at_p90"]
                        );
                        if let Some(path) = saved.as_ref().filter(|_| torch) {
                            let loop_s = t["loop_seconds"].as_f64().ok_or("no loop_seconds")?;
                            torch_reference(&owner, path, &train, &params, rust_s, loop_s)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Runs bench/pytorch_ipguard.py from the start points `generate` used (recomputed with the same
/// seed) and prints its time against ours. Both sides time the optimisation loop alone; drawing,
/// screening and labelling the points are not repeated by the reference.
fn torch_reference(
    owner: &Model,
    owner_path: &std::path::Path,
    train: &mown_data::Dataset,
    params: &IpGuardParams,
    rust_total_s: f64,
    rust_loop: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let cand = IpGuard(params.clone()).candidates(owner, train)?;
    let dir = std::env::temp_dir().join(format!("mown-ipguard-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let bytes: Vec<u8> = cand.points.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("start.f32"), bytes)?;
    let shape = owner.input_shape();
    let meta = serde_json::json!({
        "owner": std::fs::canonicalize(owner_path)?,
        "shape": [shape.channels, shape.height, shape.width],
        "i": cand.i, "j": cand.j,
        "n": params.n, "k": params.k, "lr": params.lr,
        "iterations": params.iterations, "clip": params.clip,
        "start_logits": owner.logits(&cand.points)?,
    });
    std::fs::write(dir.join("meta.json"), serde_json::to_vec(&meta)?)?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/pytorch_ipguard.py");
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&dir)
        .args(["--threads", &threads.to_string()])
        .output()?;
    std::fs::remove_dir_all(&dir)?;
    if !out.status.success() {
        return Err(format!("PyTorch reference failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let torch_s = r["seconds"].as_f64().ok_or("PyTorch reference: no seconds")?;
    let other_s = rust_total_s - rust_loop;
    println!(
        "  PyTorch {} ({} threads): {torch_s:.1}s optimising, {} converged, {} iterations ({} image gradients), \
         logits differ by at most {:.1e}; mown optimising {rust_loop:.1}s (+{other_s:.1}s drawing, screening, labelling), \
         mown / PyTorch time {:.2}",
        r["torch"].as_str().unwrap_or("?"),
        r["threads"],
        r["converged"],
        r["iterations"],
        r["gradient_evaluations"],
        r["max_logit_diff"].as_f64().unwrap_or(f64::NAN),
        rust_loop / torch_s
    );
    Ok(())
}
