//! mown-serve: a mown model as a prediction API (MLaaS), speaking the JSON protocol of
//! `mown_access::wire`. It is a tool in its own right (`mown serve`) and the stolen API of the
//! tests: extraction attacks and verifications run against it over loopback, through the same
//! `HttpModel` an owner would point at a real suspect.
//!
//! Requests are validated in the async handlers (size, JSON, shape, NaN, range, token, level,
//! budget) and answered by a single inference thread that batches concurrent requests
//! (`batcher`). Every refusal is a 4xx with a JSON `{"error": ...}` body.

mod api;
mod batcher;
pub mod load;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mown_access::AccessLevel;
use mown_access::wire::StatsResponse;
use mown_nn::Model;
use tokio::sync::oneshot;

pub use api::router;

/// Everything `mown serve` can be told.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub host: String,
    /// 0: any free port (tests, the load benchmark).
    pub port: u16,
    /// The name replies carry (default: "model"; the CLI uses the file name).
    pub name: String,
    /// The most the API reveals; a request may ask for less.
    pub level: AccessLevel,
    /// Accepted bearer tokens, one per client ("token-1", "token-2", ... in stats). Empty: no
    /// authentication, clients are told apart by IP address.
    pub tokens: Vec<String>,
    /// Images per forward pass the batcher aims for.
    pub max_batch: usize,
    /// How long the batcher waits for more requests after the first.
    pub max_batch_delay: Duration,
    /// Request bodies above this are refused (413).
    pub max_body_bytes: usize,
    /// Requests with more images are refused (413).
    pub max_images_per_request: usize,
    /// Images each client may have answered in total; past it 429.
    pub client_budget: Option<u64>,
    /// Pixel values outside `[lo, hi]` (with 1e-3 slack for rounding) are refused (400), so a
    /// client that forgot to scale to [0, 1] hears about it. None: any finite value.
    pub pixel_range: Option<[f32; 2]>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            name: "model".into(),
            level: AccessLevel::Labels,
            tokens: Vec::new(),
            max_batch: 256,
            max_batch_delay: Duration::from_millis(2),
            max_body_bytes: 8 << 20,
            max_images_per_request: 1024,
            client_budget: None,
            pixel_range: Some([0.0, 1.0]),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("bad server configuration: {0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let context = context.into();
    move |source| ServeError::Io { context, source }
}

/// A configured model ready to answer: pass it to [`router`].
#[derive(Clone)]
pub struct ServerState(Arc<api::AppState>);

impl ServerState {
    /// Checks the configuration and starts the inference thread.
    pub fn new(config: ServeConfig, model: Model) -> Result<ServerState, ServeError> {
        Ok(ServerState(Arc::new(api::AppState::new(config, model)?)))
    }

    /// Per-client counts, as `GET /v1/stats` reports them.
    pub fn stats(&self) -> StatsResponse {
        self.0.stats()
    }

    pub fn config(&self) -> &ServeConfig {
        &self.0.config
    }
}

async fn run(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Serves `model` until Ctrl-C or SIGTERM.
pub async fn serve(config: ServeConfig, model: Model) -> Result<(), ServeError> {
    let addr = format!("{}:{}", config.host, config.port);
    let state = ServerState::new(config, model)?;
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(io_error(format!("binding {addr}")))?;
    let local = listener.local_addr().map_err(io_error("reading the bound address"))?;
    tracing::info!("serving {} on http://{local}", state.config().name);
    run(listener, state, shutdown_signal()).await.map_err(io_error("serving"))
}

/// [`serve`] on a runtime of its own; `on_ready` hears the bound address before the first
/// request is accepted (the CLI prints it).
pub fn serve_blocking(config: ServeConfig, model: Model, on_ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let listener = bind_std(&config)?;
    let addr = listener.local_addr().map_err(io_error("reading the bound address"))?;
    let state = ServerState::new(config, model)?;
    let rt = runtime()?;
    on_ready(addr);
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(io_error("listening"))?;
        run(listener, state, shutdown_signal()).await.map_err(io_error("serving"))
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn bind_std(config: &ServeConfig) -> Result<std::net::TcpListener, ServeError> {
    let addr = format!("{}:{}", config.host, config.port);
    let listener = std::net::TcpListener::bind(&addr).map_err(io_error(format!("binding {addr}")))?;
    listener.set_nonblocking(true).map_err(io_error("listening"))?;
    Ok(listener)
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mown-serve")
        .build()
        .map_err(io_error("starting the async runtime"))
}

/// A server running on a thread of its own; it stops when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    state: ServerState,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a server in the background (port 0 picks a free port): for tests and the load
/// benchmark, which need the address and a clean stop.
pub fn spawn_background(config: ServeConfig, model: Model) -> Result<RunningServer, ServeError> {
    let listener = bind_std(&config)?;
    let addr = listener.local_addr().map_err(io_error("reading the bound address"))?;
    let state = ServerState::new(config, model)?;
    let rt = runtime()?;
    let (tx, rx) = oneshot::channel::<()>();
    let served = state.clone();
    let thread = std::thread::Builder::new()
        .name("mown-serve-main".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return tracing::error!("listening on {addr}: {e}"),
                };
                let stop = Arc::new(tokio::sync::Notify::new());
                let stopped = stop.clone();
                let server = tokio::spawn(run(listener, served, async move { stopped.notified().await }));
                let _ = rx.await;
                stop.notify_one();
                // Idle keep-alive connections close at once; give in-flight requests a moment.
                let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
            });
            rt.shutdown_timeout(Duration::from_millis(500));
        })
        .map_err(io_error("starting the server thread"))?;
    tracing::info!("serving {} on http://{addr}", state.config().name);
    Ok(RunningServer { addr, state, shutdown: Some(tx), thread: Some(thread) })
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL for `HttpOptions`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> StatsResponse {
        self.state.stats()
    }

    /// Whether the server thread is still running (false after a crash).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
