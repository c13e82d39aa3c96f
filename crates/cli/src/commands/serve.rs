//! `mown serve`: a model file as a prediction API (see docs/http-api.md).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use mown_access::AccessLevel;
use mown_serve::ServeConfig;

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The model file to serve (or an .onnx classifier, imported with `mown import`'s defaults).
    pub model: PathBuf,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The most the API reveals: labels, topk:K or probs.
    #[arg(long, default_value = "labels")]
    pub output: String,
    /// Accepted bearer token (repeat for several clients; also MOWN_SERVE_TOKENS, comma-separated).
    #[arg(long = "token")]
    pub tokens: Vec<String>,
    /// Images per forward pass the batcher aims for.
    #[arg(long, default_value_t = 256)]
    pub max_batch: usize,
    /// Milliseconds the batcher waits for more requests.
    #[arg(long, default_value_t = 2.0)]
    pub max_batch_delay_ms: f64,
    #[arg(long, default_value_t = 8 << 20)]
    pub max_body_bytes: usize,
    #[arg(long, default_value_t = 1024)]
    pub max_images_per_request: usize,
    /// Images each client may have answered in total (429 past it).
    #[arg(long)]
    pub client_budget: Option<u64>,
    /// Accept any finite pixel value instead of only [0, 1].
    #[arg(long)]
    pub any_range: bool,
    /// Name the replies carry (default: the file name).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    let device = a.device.device()?;
    let model = super::load_model(&a.model, &device)?;
    let level: AccessLevel = a.output.parse()?;
    let mut tokens = a.tokens.clone();
    if let Ok(env) = std::env::var("MOWN_SERVE_TOKENS") {
        tokens.extend(env.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from));
    }
    let name = a.name.clone().unwrap_or_else(|| {
        a.model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
    });
    let config = ServeConfig {
        host: a.host.clone(),
        port: a.port,
        name,
        level,
        tokens,
        max_batch: a.max_batch,
        max_batch_delay: batch_delay(a.max_batch_delay_ms)?,
        max_body_bytes: a.max_body_bytes,
        max_images_per_request: a.max_images_per_request,
        client_budget: a.client_budget,
        pixel_range: if a.any_range { None } else { Some([0.0, 1.0]) },
    };
    let auth = if config.tokens.is_empty() { "no authentication" } else { "bearer tokens" };
    let (shape, classes) = (model.input_shape(), model.num_classes());
    mown_serve::serve_blocking(config, model, |addr| {
        // Not println!: a closed stdout (a caller that read the address and left) must not stop
        // the server.
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "serving {} ({}x{}x{} -> {classes} classes, output {level}, {auth}) on http://{addr}",
            a.model.display(),
            shape.channels,
            shape.height,
            shape.width
        );
        let _ = writeln!(out, "endpoints: GET /health, GET /v1/info, POST /v1/predict, GET /v1/stats; Ctrl-C stops");
        let _ = out.flush();
    })
    .with_context(|| format!("serving on {}:{}", a.host, a.port))
}

/// The longest a request may wait for others to share its batch. A minute is far past any use
/// (the point is milliseconds), and it keeps `Instant + delay` from overflowing in the batcher.
fn batch_delay(ms: f64) -> anyhow::Result<Duration> {
    if !(ms.is_finite() && (0.0..=60_000.0).contains(&ms)) {
        anyhow::bail!("--max-batch-delay-ms must be between 0 and 60000, got {ms}");
    }
    Ok(Duration::from_secs_f64(ms / 1e3))
}
