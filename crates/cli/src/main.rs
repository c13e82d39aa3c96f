//! `mown`: prove that a suspect image classifier was stolen from yours.

mod commands;

use clap::{Parser, Subcommand};

/// burn-flex allocates a fresh buffer for nearly every tensor operation; glibc's allocator hands
/// the large ones back to the kernel and faults them in again each time. mimalloc keeps them,
/// which makes training and input gradients faster (docs/performance.md); `main` also stops it
/// from returning freed memory to the kernel (`mown_nn::alloc`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "mown", version, about = "Model ownership verification for image classifiers")]
struct Cli {
    /// Log level (error, warn, info, debug, trace); also RUST_LOG.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a classifier and save it as a mown model file.
    Train(commands::train::TrainArgs),
    /// Accuracy of a model on a dataset's test split.
    Eval(commands::eval::EvalArgs),
    /// Print a model file's metadata.
    Info(commands::info::InfoArgs),
    /// Benchmarks (`mown bench nn`: forward/train/input-gradient speed against PyTorch).
    Bench(commands::bench::BenchArgs),
    /// Derive a stolen model from a victim with an attack recipe.
    Steal(commands::steal::StealArgs),
    /// Build a zoo of stolen and independent models from a TOML file (cached).
    Zoo(commands::zoo::ZooArgs),
    /// Train independent models of several architecture families for a task (`verify --negatives`).
    Negatives(commands::negatives::NegativesArgs),
    /// Evidence of the owner's model from any fingerprinting method (`mown methods` lists them).
    Fingerprint(commands::fingerprint::FingerprintArgs),
    /// The methods mown implements: papers, what each needs from a suspect, and their parameters.
    Methods(commands::methods::MethodsArgs),
    /// Train the owner's model with a trigger-set watermark (margin, plain) and write its key.
    Watermark(commands::watermark::WatermarkArgs),
    /// Watermark accuracy of stolen copies and independent models for each scheme over a zoo.
    EvalWatermark(commands::eval_watermark::EvalWatermarkArgs),
    /// Verify a suspect against ownership evidence (a fingerprint or a watermark key) and print the verdict.
    Verify(commands::verify::VerifyArgs),
    /// Settle a dispute: two parties' near-boundary evidence for one boundary, on the disputed model.
    Dispute(commands::dispute::DisputeArgs),
    /// R/U/ARUC, ROC AUC and TPR@1%FPR of fingerprinting methods over a zoo.
    EvalMethod(commands::eval_method::EvalMethodArgs),
    /// The main job on the embedded digits: train an owner model and evaluate it.
    Demo(commands::demo::DemoArgs),
    /// Serve a model file as a prediction API (labels, top-k or probabilities over HTTP).
    Serve(commands::serve::ServeArgs),
    /// Export a model file as ONNX (pixels in, logits out) and check the export against it.
    ExportOnnx(commands::export::ExportOnnxArgs),
    /// Import an ONNX image classifier (PyTorch, Keras) as a mown model file.
    Import(commands::import::ImportArgs),
    /// Make the owner's ed25519 signing key (for `mown claim` and `mown verify --sign-key`).
    Keygen(commands::claim::KeygenArgs),
    /// Signed ownership claims: `create` one for a fingerprint or watermark key, `check` one.
    Claim(commands::claim::ClaimArgs),
}

/// `mown ... | head` should end quietly when the reader goes away, as any Unix tool does. Rust
/// starts with SIGPIPE ignored, so a write to the closed pipe fails and `println!` panics with
/// "failed printing to stdout". `serve` and `bench` (whose `bench serve` runs the same server in
/// process) keep SIGPIPE ignored: hyper's vectored socket writes can raise it when a client has
/// hung up, and that must fail one request, not kill the server.
#[cfg(unix)]
fn die_quietly_on_closed_stdout() {
    // SAFETY: called once at the start of main, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    let cli = Cli::parse();
    #[cfg(unix)]
    if !matches!(cli.command, Command::Serve(_) | Command::Bench(_)) {
        die_quietly_on_closed_stdout();
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    if !mown_nn::alloc::keep_freed_memory() {
        tracing::debug!("mimalloc purge delay left as it is (MIMALLOC_PURGE_DELAY set, or another mimalloc)");
    }
    let result = match cli.command {
        Command::Train(a) => commands::train::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Info(a) => commands::info::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::ExportOnnx(a) => commands::export::run(a),
        Command::Import(a) => commands::import::run(a),
        Command::Serve(a) => commands::serve::run(a),
        Command::Steal(a) => commands::steal::run(a),
        Command::Fingerprint(a) => commands::fingerprint::run(a),
        Command::Methods(a) => commands::methods::run(a),
        Command::Verify(a) => commands::verify::run(a),
        Command::Dispute(a) => commands::dispute::run(a),
        Command::EvalMethod(a) => commands::eval_method::run(a),
        Command::Watermark(a) => commands::watermark::run(a),
        Command::EvalWatermark(a) => commands::eval_watermark::run(a),
        Command::Zoo(a) => commands::zoo::run(a),
        Command::Negatives(a) => commands::negatives::run(a),
        Command::Keygen(a) => commands::claim::run_keygen(a),
        Command::Claim(a) => commands::claim::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
