//! The HTTP endpoints: authentication, validation of every request, per-client counts and
//! budgets, and the JSON replies of `mown_access::wire`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use mown_access::wire::{
    ClientStats, ErrorBody, HEALTH_PATH, INFO_PATH, InfoResponse, PREDICT_PATH, PredictRequest, PredictResponse,
    STATS_PATH, StatsResponse,
};
use mown_access::{AccessLevel, Answer, answer_from_probabilities};
use mown_data::ImageShape;
use mown_nn::Model;
use sha2::{Digest, Sha256};

use crate::batcher::{BatchError, Batcher};
use crate::{ServeConfig, ServeError, ServerState};

/// Slack on the pixel range, for values rounded on their way through JSON or image codecs.
const RANGE_SLACK: f32 = 1e-3;
/// An oversized body is read (and discarded) up to this multiple of the limit before the 413,
/// so that a client still writing it reads the status instead of a reset connection.
const DRAIN_FACTOR: usize = 4;

pub(crate) struct AppState {
    pub config: ServeConfig,
    shape: ImageShape,
    classes: usize,
    token_hashes: Vec<[u8; 32]>,
    batcher: Batcher,
    clients: Mutex<HashMap<String, ClientStats>>,
    unauthorized: AtomicU64,
    started: Instant,
}

impl AppState {
    pub fn new(config: ServeConfig, model: Model) -> Result<AppState, ServeError> {
        let bad = |m: String| Err(ServeError::Config(m));
        if config.max_batch == 0 || config.max_images_per_request == 0 {
            return bad("max batch and max images per request must be at least 1".into());
        }
        if config.level == AccessLevel::WhiteBox {
            return bad("a prediction API answers with outputs (labels, topk:K or probs), never white-box".into());
        }
        if config.max_body_bytes < 1024 {
            return bad(format!("a body limit of {} bytes cannot hold a request", config.max_body_bytes));
        }
        if let Some(t) = config.tokens.iter().find(|t| t.is_empty() || t.chars().any(|c| c.is_whitespace())) {
            return bad(format!("token {t:?} is empty or contains whitespace"));
        }
        if let Some([lo, hi]) = config.pixel_range
            && !(lo.is_finite() && hi.is_finite() && lo <= hi)
        {
            return bad(format!("bad pixel range [{lo}, {hi}]"));
        }
        let token_hashes = config.tokens.iter().map(|t| Sha256::digest(t.as_bytes()).into()).collect();
        let batcher = Batcher::start(model.clone(), config.max_batch, config.max_batch_delay)
            .map_err(|source| ServeError::Io { context: "starting the inference thread".into(), source })?;
        Ok(AppState {
            shape: model.input_shape(),
            classes: model.num_classes(),
            config,
            token_hashes,
            batcher,
            clients: Mutex::new(HashMap::new()),
            unauthorized: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    pub fn stats(&self) -> StatsResponse {
        let mut clients: Vec<ClientStats> = self.lock_clients().values().cloned().collect();
        clients.sort_by(|a, b| a.client.cmp(&b.client));
        StatsResponse {
            clients,
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            model_calls: self.batcher.counters.calls.load(Ordering::Relaxed),
            model_images: self.batcher.counters.images.load(Ordering::Relaxed),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        }
    }

    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, ClientStats>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_client<T>(&self, client: &str, f: impl FnOnce(&mut ClientStats) -> T) -> T {
        let mut clients = self.lock_clients();
        let entry = clients
            .entry(client.to_string())
            .or_insert_with(|| ClientStats { client: client.to_string(), ..ClientStats::default() });
        f(entry)
    }

    /// The client a request comes from, or 401. Tokens are compared as SHA-256 digests with a
    /// constant-time comparison against every configured token, so timing reveals nothing.
    fn authenticate(&self, headers: &HeaderMap, remote: Option<SocketAddr>) -> Result<String, ApiError> {
        if self.token_hashes.is_empty() {
            return Ok(remote.map_or_else(|| "ip:unknown".to_string(), |a| format!("ip:{}", a.ip())));
        }
        let refuse = |m: &str| {
            self.unauthorized.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::new(StatusCode::UNAUTHORIZED, m).closing())
        };
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return refuse("missing bearer token (Authorization: Bearer TOKEN)");
        };
        let value = value.to_str().unwrap_or("");
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return refuse("the Authorization header must be 'Bearer TOKEN'"),
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (i, known) in self.token_hashes.iter().enumerate() {
            let diff = known.iter().zip(&digest).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(i);
            }
        }
        match found {
            Some(i) => Ok(format!("token-{}", i + 1)),
            None => refuse("invalid token"),
        }
    }

    fn info(&self) -> InfoResponse {
        InfoResponse {
            model: self.config.name.clone(),
            input_shape: [self.shape.channels, self.shape.height, self.shape.width],
            classes: self.classes,
            output: self.config.level.to_string(),
            max_images_per_request: self.config.max_images_per_request,
            max_body_bytes: self.config.max_body_bytes,
            client_budget: self.config.client_budget,
            pixel_range: self.config.pixel_range,
        }
    }
}

/// A refusal: status plus the JSON `{"error": ...}` body.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    /// Sent before the request body was read: the connection cannot be reused, and saying so
    /// (`Connection: close`) keeps a keep-alive client from sending its next request into it.
    close: bool,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), close: false }
    }
    fn closing(mut self) -> Self {
        self.close = true;
        self
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json(self.status, &ErrorBody { error: self.message });
        if self.close {
            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("serialising the reply: {e}")).into_response(),
    }
}

/// The API's routes; serve with `into_make_service_with_connect_info::<SocketAddr>()` so that
/// clients without tokens are told apart by address.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route(HEALTH_PATH, get(|| async { "ok" }))
        .route(INFO_PATH, get(info))
        .route(STATS_PATH, get(stats))
        .route(PREDICT_PATH, post(predict))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "no such endpoint (see /v1/info, /v1/predict)").closing()
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint").closing()
        })
        .with_state(state)
}

fn remote(req: &Request) -> Option<SocketAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

async fn info(State(state): State<ServerState>, req: Request) -> Result<Response, ApiError> {
    state.0.authenticate(req.headers(), remote(&req))?;
    Ok(json(StatusCode::OK, &state.0.info()))
}

async fn stats(State(state): State<ServerState>, req: Request) -> Result<Response, ApiError> {
    state.0.authenticate(req.headers(), remote(&req))?;
    Ok(json(StatusCode::OK, &state.0.stats()))
}

async fn predict(State(state): State<ServerState>, req: Request) -> Result<Response, ApiError> {
    let started = Instant::now();
    let s = &state.0;
    let client = s.authenticate(req.headers(), remote(&req))?;
    s.with_client(&client, |c| c.requests += 1);
    let result = answer(s, &client, req).await;
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(e) => {
            if e.status.is_client_error() {
                s.with_client(&client, |c| c.rejected += 1);
            } else {
                tracing::warn!("{client}: {} {}", e.status, e.message);
            }
            e.status
        }
    };
    tracing::debug!("{client} {PREDICT_PATH} -> {status} in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    result
}

async fn answer(s: &AppState, client: &str, req: Request) -> Result<Response, ApiError> {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = read_body(req.into_body(), declared, s.config.max_body_bytes).await?;
    let request: PredictRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))?;
    drop(body);
    let level = match request.output.as_deref() {
        None => s.config.level,
        Some(text) => text.parse::<AccessLevel>().map_err(|e| ApiError::bad(e.to_string()))?,
    };
    if !level.within(s.config.level) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("output {level} is above what this API reveals ({})", s.config.level),
        ));
    }
    let (images, n) = validate_inputs(s, request.inputs)?;
    let used = reserve(s, client, n)?;
    let probs = match s.batcher.probabilities(images, n).await {
        Ok(p) => p,
        Err(e) => {
            s.with_client(client, |c| c.images = c.images.saturating_sub(n as u64));
            return Err(match e {
                BatchError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
                BatchError::Failed(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m),
            });
        }
    };
    let classes = s.classes;
    let mut reply = PredictResponse {
        model: s.config.name.clone(),
        classes,
        output: level.to_string(),
        labels: None,
        topk: None,
        probabilities: None,
        queries_used: used,
    };
    match answer_from_probabilities(probs, classes, level) {
        Answer::Labels(l) => reply.labels = Some(l),
        Answer::TopK(t) => reply.topk = Some(t),
        Answer::Probabilities(p) => reply.probabilities = Some(p.chunks(classes).map(<[f32]>::to_vec).collect()),
    }
    Ok(json(StatusCode::OK, &reply))
}

/// Charges `n` images to the client before inference (refunded if inference fails); 429 past
/// the budget. Returns the client's total including these.
fn reserve(s: &AppState, client: &str, n: usize) -> Result<u64, ApiError> {
    s.with_client(client, |c| {
        if let Some(budget) = s.config.client_budget
            && c.images + n as u64 > budget
        {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("query budget exhausted: {} of {budget} images used, {n} more requested", c.images),
            ));
        }
        c.images += n as u64;
        Ok(c.images)
    })
}

/// Flattens the inputs after checking count, per-image length, finiteness and range.
fn validate_inputs(s: &AppState, inputs: Vec<Vec<f32>>) -> Result<(Vec<f32>, usize), ApiError> {
    let n = inputs.len();
    if n == 0 {
        return Err(ApiError::bad("'inputs' is empty: send at least one image"));
    }
    let max = s.config.max_images_per_request;
    if n > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{n} images in one request; at most {max} (split the batch)"),
        ));
    }
    let shape = s.shape;
    let numel = shape.numel();
    let mut flat = Vec::with_capacity(n * numel);
    for (i, image) in inputs.into_iter().enumerate() {
        if image.len() != numel {
            return Err(ApiError::bad(format!(
                "input {i} has {} values; expected C*H*W = {}x{}x{} = {numel}",
                image.len(),
                shape.channels,
                shape.height,
                shape.width
            )));
        }
        if let Some(j) = image.iter().position(|v| !v.is_finite()) {
            return Err(ApiError::bad(format!("input {i} value {j} is not finite ({})", image[j])));
        }
        if let Some([lo, hi]) = s.config.pixel_range
            && let Some(j) = image.iter().position(|&v| v < lo - RANGE_SLACK || v > hi + RANGE_SLACK)
        {
            return Err(ApiError::bad(format!(
                "input {i} value {j} is {}, outside the pixel range [{lo}, {hi}] (scale pixels to [0, 1])",
                image[j]
            )));
        }
        flat.extend(image);
    }
    Ok((flat, n))
}

/// Reads the body up to `limit` bytes; a larger one is drained (up to `DRAIN_FACTOR` times the
/// limit) and refused with 413.
async fn read_body(mut body: Body, declared: Option<u64>, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = |size: String| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body of {size} bytes; at most {limit}"))
    };
    let drain_cap = limit.saturating_mul(DRAIN_FACTOR);
    if let Some(len) = declared
        && len > drain_cap as u64
    {
        return Err(too_large(len.to_string()).closing());
    }
    let mut buf = Vec::with_capacity(declared.map_or(0, |l| (l as usize).min(limit)));
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad(format!("reading the request body: {e}")).closing())?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total > drain_cap {
                return Err(too_large(format!("over {total}")).closing());
            }
            if total <= limit {
                buf.extend_from_slice(&data);
            }
        }
    }
    if total > limit {
        return Err(too_large(total.to_string()));
    }
    Ok(Bytes::from(buf))
}
