//! `mown bench serve`: load on the prediction API over loopback, with bad requests mixed in.
//! Every bad request must get its 4xx and every good one a correct 200; the figures are
//! throughput and the latency of good requests.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mown_access::AccessLevel;
use mown_data::DataSource;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};
use mown_serve::ServeConfig;
use mown_serve::load::{LoadConfig, run_load};

use super::DeviceArgs;

#[derive(clap::Args, Clone, Debug)]
pub struct ServeBenchArgs {
    /// serve: the model to serve (default: arc-a trained for 3 epochs on the digits, 1x8x8).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// serve: requests in the measured run.
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// serve: concurrent client threads.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// serve: fraction of deliberately bad requests.
    #[arg(long, default_value_t = 0.2)]
    pub bad_fraction: f64,
    /// serve: images in each good request.
    #[arg(long, default_value_t = 8)]
    pub images_per_request: usize,
    /// serve: the level the API serves (labels, topk:K, probs).
    #[arg(long, default_value = "probs")]
    pub output: String,
    /// serve: the server's body limit (oversized requests are just above it).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// serve: images per forward pass the batcher aims for.
    #[arg(long, default_value_t = 256)]
    pub max_batch: usize,
}

const TOKEN: &str = "bench-token";

/// The served model and images of its shape to query it with.
fn model_and_images(a: &ServeBenchArgs, device: &mown_nn::burn::prelude::Device) -> anyhow::Result<(Model, Vec<f32>)> {
    if let Some(path) = &a.model {
        let model = mown_nn::io::load(path, device)?;
        let data = model.meta.provenance.dataset.clone();
        let images = match data.parse::<DataSource>().and_then(|s| s.load()) {
            Ok((_, test)) if test.shape == model.input_shape() => test.images().to_vec(),
            _ => {
                eprintln!("note: dataset '{data}' unavailable; querying with uniform noise images");
                let numel = model.input_shape().numel();
                let mut x = 0x2545_F491u64;
                (0..512 * numel)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 40) as f32 / (1u64 << 24) as f32
                    })
                    .collect()
            }
        };
        return Ok((model, images));
    }
    let (train, test) = DataSource::Digits.load()?;
    let spec = ModelSpec::new(Arch::ArcA, train.shape, train.num_classes)?;
    let mut meta = ModelMeta::for_dataset(spec, &train)?;
    meta.provenance.derivation = "train(arc-a,digits,seed=1,epochs=3)".into();
    let cfg = TrainConfig { epochs: 3, batch_size: 64, seed: 1, ..TrainConfig::default() };
    let t0 = Instant::now();
    let (model, _) = mown_nn::train::train(Model::init(meta, device, 1), &train, None, &cfg)?;
    eprintln!(
        "trained arc-a on the digits in {:.1}s: test accuracy {:.3}",
        t0.elapsed().as_secs_f64(),
        model.accuracy(&test)?
    );
    Ok((model, test.images().to_vec()))
}

pub fn run(a: &ServeBenchArgs, json: Option<&Path>, device: &DeviceArgs) -> anyhow::Result<()> {
    let device = device.device()?;
    let level: AccessLevel = a.output.parse()?;
    let (model, images) = model_and_images(a, &device)?;
    let name = model.meta.provenance.derivation.clone();
    let shape = model.input_shape();
    let config = ServeConfig {
        port: 0,
        name: name.clone(),
        level,
        tokens: vec![TOKEN.into()],
        max_batch: a.max_batch,
        max_body_bytes: a.max_body_bytes,
        ..ServeConfig::default()
    };
    let server = mown_serve::spawn_background(config, model).context("starting the server")?;
    let cfg = LoadConfig {
        requests: a.requests,
        clients: a.clients,
        bad_fraction: a.bad_fraction,
        images_per_request: a.images_per_request,
        token: Some(TOKEN.into()),
        seed: 1,
        timeout: Duration::from_secs(60),
    };
    // Warm-up: connections, allocator, the model's first passes.
    run_load(&server.url(), &images, &LoadConfig { requests: 200.min(a.requests), seed: 2, ..cfg.clone() })
        .map_err(anyhow::Error::msg)?;
    let r = run_load(&server.url(), &images, &cfg).map_err(anyhow::Error::msg)?;
    let crashed = !server.is_running();
    println!(
        "mown bench serve: {name} ({}x{}x{}), output {level}, {} requests from {} clients on loopback, \
         {:.0}% bad, {} images per good request, {} cores",
        shape.channels,
        shape.height,
        shape.width,
        r.requests,
        r.clients,
        a.bad_fraction * 100.0,
        a.images_per_request,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "throughput: {:.0} requests/s, {:.0} predictions/s ({:.2}s in all; mean server batch {:.1} images)",
        r.requests_per_second, r.predictions_per_second, r.seconds, r.mean_batch
    );
    println!(
        "good requests: {} of {} answered correctly; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        r.good_answered, r.good, r.p50_ms, r.p99_ms, r.max_ms
    );
    println!("{:<18} statuses (status x count)", "request kind");
    for (kind, statuses) in &r.statuses {
        let s: Vec<String> = statuses.iter().map(|(st, n)| format!("{st} x {n}")).collect();
        println!("{kind:<18} {}", s.join(", "));
    }
    println!(
        "violations: {}; server healthy afterwards: {}; server thread alive: {}",
        r.violation_count, r.healthy_after, !crashed
    );
    for v in &r.violations {
        println!("  {v}");
    }
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_vec_pretty(&r)?)?;
    }
    if !r.ok() || crashed {
        bail!("the server mishandled {} requests", r.violation_count);
    }
    Ok(())
}
