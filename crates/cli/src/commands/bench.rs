//! `mown bench nn`: our throughput next to PyTorch's, measured in the same invocation; `mown bench
//! serve`, `mown bench methods` and `mown bench merge` live in their own modules.

use std::io::Write;
use std::process::Command;

use anyhow::{Context, bail};
use clap::builder::TypedValueParser;
use mown_nn::bench::{CASES, Throughput, measure};
use serde::Deserialize;

use super::DeviceArgs;

/// The reference script, compiled in so that an installed binary can still run it.
const TORCH_SCRIPT: &str = include_str!("../../../../bench/pytorch_nn.py");

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// What to benchmark: nn, serve (the HTTP API under load, see docs/http-api.md), methods (every
    /// method against every attack of a zoo: --config), merge (join `methods --shard` files).
    pub what: String,
    /// nn: images per batch, the same for mown and PyTorch; several as a list (`--batch 32,128`).
    #[arg(long, default_value = "128", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..).map(|v| v as usize))]
    pub batch: Vec<usize>,
    /// nn: which convolution mown's models run on the CPU: mown (crates/nn/src/conv), burn (burn-flex's
    /// own op), or both, one column each, for the before/after of docs/performance.md.
    #[arg(long, default_value = "mown", value_parser = ["mown", "burn", "both"])]
    pub conv: String,
    /// nn: timed repetitions of each case; the report gives their median.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..).map(|v| v as usize))]
    pub iters: usize,
    /// nn: untimed repetitions before the timed ones (allocator and kernel warm-up).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Skip the PyTorch reference even if torch is importable.
    #[arg(long)]
    pub no_torch: bool,
    /// PyTorch device for the reference (cpu or cuda).
    #[arg(long, default_value = "cpu")]
    pub torch_device: String,
    /// Only the cases whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub serve: super::bench_serve::ServeBenchArgs,
    #[command(flatten)]
    pub methods: super::bench_methods::MethodsBenchArgs,
}

#[derive(Deserialize)]
struct TorchReport {
    torch: String,
    threads: usize,
    cases: std::collections::BTreeMap<String, Throughput>,
}

/// Threads our CPU backend uses (rayon's default, or RAYON_NUM_THREADS).
fn our_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

fn run_torch(a: &BenchArgs, batch: usize, threads: usize) -> anyhow::Result<Option<TorchReport>> {
    if a.no_torch {
        return Ok(None);
    }
    let importable =
        Command::new("python3").args(["-c", "import torch"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !importable {
        eprintln!("note: python3 cannot import torch; no PyTorch reference this run (pip install torch)");
        return Ok(None);
    }
    let mut script = tempfile_path("mown_pytorch_nn.py");
    std::fs::File::create(&script)?.write_all(TORCH_SCRIPT.as_bytes())?;
    let mut cmd = Command::new("python3");
    cmd.arg(&script).args(["--batch", &batch.to_string(), "--iters", &a.iters.to_string()]);
    if let Some(only) = &a.only {
        cmd.args(["--only", only]);
    }
    cmd.args(["--warmup", &a.warmup.to_string(), "--threads", &threads.to_string(), "--device", &a.torch_device]);
    let out = cmd.output().context("running the PyTorch reference")?;
    let _ = std::fs::remove_file(&mut script);
    if !out.status.success() {
        bail!("PyTorch reference failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    Ok(Some(serde_json::from_str(last).context("parsing the PyTorch reference output")?))
}

/// Reads one operation's images per second.
type Getter = fn(&Throughput) -> f64;

fn conv_name(fast: bool) -> &'static str {
    if fast { "mown" } else { "burn" }
}

fn tempfile_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{}-{name}", std::process::id()))
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    if a.what == "serve" {
        return super::bench_serve::run(&a.serve, a.json.as_deref(), &a.device);
    }
    if a.what == "methods" {
        return super::bench_methods::run_methods(&a.methods, &a.device);
    }
    if a.what == "merge" {
        return super::bench_methods::run_merge(&a.methods);
    }
    if a.what != "nn" {
        bail!("unknown benchmark '{}' (available: nn, serve, methods, merge)", a.what);
    }
    let device = a.device.device()?;
    let threads = our_threads();
    let cases: Vec<_> = CASES.iter().filter(|c| a.only.as_deref().is_none_or(|o| c.name.contains(o))).collect();
    // The convolutions measured, in column order: burn-flex's op (before) and mown's (after).
    let convs: Vec<bool> = match a.conv.as_str() {
        "both" => vec![false, true],
        "burn" => vec![false],
        _ => vec![true],
    };
    let mut rows = Vec::new();
    for &batch in &a.batch {
        let mut ours: Vec<Vec<Throughput>> = Vec::new();
        for case in &cases {
            let mut per_conv = Vec::new();
            for &fast in &convs {
                mown_nn::conv::set_fast(fast);
                eprintln!("measuring {} at batch {batch} ({} convolution) ...", case.name, conv_name(fast));
                per_conv.push(measure(case, &device, batch, a.warmup, a.iters)?);
            }
            ours.push(per_conv);
        }
        mown_nn::conv::set_fast(true);
        let torch = run_torch(&a, batch, threads)?;
        println!(
            "mown bench nn: batch {batch}, median of {} iterations after {} warm-up, device {}, {} threads{}",
            a.iters,
            a.warmup,
            a.device.device,
            threads,
            torch
                .as_ref()
                .map(|t| format!("; PyTorch {} ({}, {} threads)", t.torch, a.torch_device, t.threads))
                .unwrap_or_default()
        );
        let mut header = format!("{:<18} {:<15}", "model", "operation");
        for &fast in &convs {
            header += &format!(" {:>12}", format!("{} img/s", conv_name(fast)));
        }
        header += &format!(" {:>12}", "torch img/s");
        for &fast in &convs {
            header += &format!(" {:>10}", format!("{}/torch", conv_name(fast)));
        }
        println!("{header}");
        for (case, measured) in cases.iter().zip(&ours) {
            let reference = torch.as_ref().and_then(|r| r.cases.get(case.name));
            let pick: [(&str, Getter); 3] = [
                ("forward", |t| t.forward),
                ("train step", |t| t.train_step),
                ("input gradient", |t| t.input_gradient),
            ];
            for (op, get) in pick {
                let r = reference.map(get);
                let mut line = format!("{:<18} {:<15}", case.name, op);
                for t in measured {
                    line += &format!(" {:>12.0}", get(t));
                }
                line += &format!(" {:>12}", r.map_or("-".into(), |r| format!("{r:.0}")));
                for t in measured {
                    line += &format!(" {:>10}", r.map_or("-".into(), |r| format!("{:.2}", get(t) / r)));
                }
                println!("{line}");
                let mut row = serde_json::json!({"model": case.name, "operation": op, "batch": batch, "torch": r});
                for (t, &fast) in measured.iter().zip(&convs) {
                    row[conv_name(fast)] = serde_json::json!(get(t));
                }
                rows.push(row);
            }
        }
    }
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_vec_pretty(&rows)?)?;
    }
    Ok(())
}
