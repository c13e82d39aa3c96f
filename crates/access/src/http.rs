//! A suspect behind a remote prediction API (`mown serve` or any server speaking
//! [`crate::wire`]): the realistic case, where the owner has neither weights nor a file.
//!
//! Everything the server says is checked before it can reach a verdict: row counts, class
//! count, label range, probabilities finite and summing to 1, top-k sorted. A reply that fails
//! a check, a timeout or an HTTP error is an [`AccessError`], never a silently wrong label.
//! Transient failures (5xx, timeouts, dropped connections) are retried with exponential
//! backoff; 4xx never is, since repeating a refused request cannot change the answer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mown_data::ImageShape;

use crate::wire::{ErrorBody, INFO_PATH, InfoResponse, PREDICT_PATH, PredictRequest, PredictResponse};
use crate::{AccessError, AccessLevel, Answer, QueryModel};

/// Largest reply body read (a 256-image batch of 1,000-class probabilities is about 3 MB).
const MAX_REPLY_BYTES: u64 = 256 << 20;

/// How to reach and pace a remote API.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Base URL, e.g. `http://127.0.0.1:8080` (a trailing `/v1/predict` is tolerated).
    pub url: String,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Images per HTTP request; a query is split into requests of this size.
    pub batch_size: usize,
    /// Requests in flight at once for one query.
    pub concurrency: usize,
    /// Limit on one HTTP request, connect to last byte of the reply.
    pub timeout: Duration,
    /// Extra attempts after a 5xx, a timeout or a connection error.
    pub retries: usize,
    /// Wait before the first retry; doubled before each further one.
    pub backoff: Duration,
    /// Pace requests (all threads together) to at most this many per second.
    pub max_requests_per_second: Option<f64>,
    /// Images this client may ask about in total (None: unlimited), checked before sending.
    pub budget: Option<usize>,
    /// The level to query at most (None: whatever the server offers).
    pub level: Option<AccessLevel>,
}

impl HttpOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            batch_size: 256,
            concurrency: 4,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(100),
            max_requests_per_second: None,
            budget: None,
            level: None,
        }
    }
}

/// Spaces requests `interval` apart across threads.
struct Throttle {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Throttle {
    fn wait(&self) {
        let now = Instant::now();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }
}

/// A remote prediction API behind the query interface.
pub struct HttpModel {
    base: String,
    opts: HttpOptions,
    agent: ureq::Agent,
    info: InfoResponse,
    shape: ImageShape,
    level: AccessLevel,
    used: usize,
    throttle: Option<Throttle>,
}

/// What one attempt at a request came to.
enum Attempt {
    Done(Vec<u8>),
    /// Worth another try (5xx, timeout, connection trouble); the reason.
    Transient(String),
    Fatal(AccessError),
}

impl HttpModel {
    /// Connects to the API and learns its input shape, class count and level from `/v1/info`.
    pub fn connect(opts: HttpOptions) -> Result<HttpModel, AccessError> {
        let base = base_url(&opts.url)?;
        if opts.batch_size == 0 || opts.concurrency == 0 {
            return Err(AccessError::BadRequest("batch size and concurrency must be at least 1".into()));
        }
        let throttle = match opts.max_requests_per_second {
            None => None,
            Some(r) if r.is_finite() && r > 0.0 => {
                Some(Throttle { interval: Duration::from_secs_f64(1.0 / r), next: Mutex::new(Instant::now()) })
            }
            Some(r) => return Err(AccessError::BadRequest(format!("requests per second must be positive, got {r}"))),
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout))
            .max_idle_connections_per_host(opts.concurrency.max(4))
            .user_agent(concat!("mown/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::new_with_config(config);
        let placeholder = InfoResponse {
            model: String::new(),
            input_shape: [0; 3],
            classes: 0,
            output: String::new(),
            max_images_per_request: 0,
            max_body_bytes: 0,
            client_budget: None,
            pixel_range: None,
        };
        let mut model = HttpModel {
            base,
            opts,
            agent,
            info: placeholder,
            shape: ImageShape { channels: 0, height: 0, width: 0 },
            level: AccessLevel::Labels,
            used: 0,
            throttle,
        };
        let bytes = model.call(INFO_PATH, None)?;
        let info: InfoResponse = serde_json::from_slice(&bytes)
            .map_err(|e| model.suspect(format!("{INFO_PATH} is not a mown info reply: {e}")))?;
        let [channels, height, width] = info.input_shape;
        if channels * height * width == 0 || info.classes < 2 {
            return Err(model.suspect(format!(
                "{INFO_PATH} reports input shape {:?} and {} classes",
                info.input_shape, info.classes
            )));
        }
        let served: AccessLevel =
            info.output.parse().map_err(|_| model.suspect(format!("unknown output level '{}'", info.output)))?;
        if served == AccessLevel::WhiteBox {
            return Err(model.suspect("/v1/info claims white-box output: a prediction API answers with outputs only"));
        }
        let level = model.opts.level.unwrap_or(served);
        if !level.within(served) {
            return Err(AccessError::LevelUnavailable { requested: level, available: served });
        }
        if info.max_images_per_request > 0 {
            model.opts.batch_size = model.opts.batch_size.min(info.max_images_per_request);
        }
        model.shape = ImageShape { channels, height, width };
        model.level = level;
        model.info = info;
        Ok(model)
    }

    /// What `/v1/info` said.
    pub fn info(&self) -> &InfoResponse {
        &self.info
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn suspect(&self, problem: impl std::fmt::Display) -> AccessError {
        AccessError::Suspect(format!("HTTP suspect {}: {problem}", self.base))
    }

    /// GET (no body) or POST `path`, with retries; the reply body of a 2xx.
    fn call(&self, path: &str, body: Option<&[u8]>) -> Result<Vec<u8>, AccessError> {
        let url = format!("{}{path}", self.base);
        let mut last = String::new();
        for attempt in 0..=self.opts.retries {
            if attempt > 0 {
                let wait = self.opts.backoff.saturating_mul(1 << (attempt - 1).min(16));
                tracing::debug!("retrying {url} in {wait:?} after: {last}");
                std::thread::sleep(wait);
            }
            if let Some(t) = &self.throttle {
                t.wait();
            }
            match self.attempt(&url, path, body) {
                Attempt::Done(bytes) => return Ok(bytes),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Transient(reason) => last = reason,
            }
        }
        Err(self.suspect(format!("{path}: {last} (gave up after {} attempts)", self.opts.retries + 1)))
    }

    fn attempt(&self, url: &str, path: &str, body: Option<&[u8]>) -> Attempt {
        let auth = self.opts.token.as_ref().map(|t| format!("Bearer {t}"));
        let sent = match body {
            None => {
                let mut req = self.agent.get(url);
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            Some(bytes) => {
                let mut req = self.agent.post(url).header("Content-Type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.send(bytes)
            }
        };
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => return transport_error(e, || self.suspect(format!("{path}: request failed"))),
        };
        let status = response.status().as_u16();
        let bytes = match response.body_mut().with_config().limit(MAX_REPLY_BYTES).read_to_vec() {
            Ok(b) => b,
            Err(e) => return transport_error(e, || self.suspect(format!("{path}: reading the reply failed"))),
        };
        match status {
            200..=299 => Attempt::Done(bytes),
            500..=599 => Attempt::Transient(format!("HTTP {status}: {}", error_message(&bytes))),
            _ => Attempt::Fatal(self.refused(path, status, &bytes)),
        }
    }

    /// The error for a status that retrying cannot fix.
    fn refused(&self, path: &str, status: u16, body: &[u8]) -> AccessError {
        let msg = error_message(body);
        match status {
            400 => AccessError::BadRequest(format!("{}{path} rejected the query (400): {msg}", self.base)),
            413 => AccessError::BadRequest(format!(
                "{}{path} refused the request as too large (413): {msg}; lower the batch size",
                self.base
            )),
            401 => self.suspect(format!(
                "{path}: unauthorized (401): {msg}; give the API's token (--token or MOWN_SUSPECT_TOKEN)"
            )),
            403 => self.suspect(format!("{path}: forbidden (403): {msg}")),
            429 => self.suspect(format!("{path}: the server refuses more queries (429): {msg}")),
            _ => self.suspect(format!("{path}: unexpected HTTP {status}: {msg}")),
        }
    }

    /// Sends one chunk of images and checks the reply.
    fn query_chunk(&self, images: &[f32], level: AccessLevel) -> Result<Answer, AccessError> {
        let numel = self.shape.numel();
        let rows = images.len() / numel;
        let request = PredictRequest {
            inputs: images.chunks(numel).map(<[f32]>::to_vec).collect(),
            output: Some(level.to_string()),
        };
        let body = serde_json::to_vec(&request).map_err(|e| AccessError::BadRequest(e.to_string()))?;
        let bytes = self.call(PREDICT_PATH, Some(&body))?;
        let reply: PredictResponse = serde_json::from_slice(&bytes)
            .map_err(|e| self.suspect(format!("malformed reply to {PREDICT_PATH}: {e}")))?;
        check_reply(reply, rows, self.info.classes, level).map_err(|p| self.suspect(p))
    }
}

impl QueryModel for HttpModel {
    fn describe(&self) -> String {
        format!("{} ({})", self.base, self.info.model)
    }

    fn input_shape(&self) -> ImageShape {
        self.shape
    }

    fn num_classes(&self) -> usize {
        self.info.classes
    }

    fn access(&self) -> AccessLevel {
        self.level
    }

    /// Splits the query into `batch_size` requests sent from up to `concurrency` threads and
    /// reassembles the answers in order. Images of requests that were answered are charged even
    /// when another request of the same query fails: the server has seen them.
    fn query(&mut self, images: &[f32], level: AccessLevel) -> Result<Answer, AccessError> {
        let n = crate::admit(images, self.shape, level, self.level, self.opts.budget, self.used)?;
        if n == 0 {
            return Ok(crate::answer_from_probabilities(Vec::new(), self.info.classes, level));
        }
        let chunks: Vec<&[f32]> = images.chunks(self.opts.batch_size * self.shape.numel()).collect();
        let results: Vec<Mutex<Option<Result<Answer, AccessError>>>> =
            chunks.iter().map(|_| Mutex::new(None)).collect();
        let this = &*self;
        let run =
            |i: usize| *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(this.query_chunk(chunks[i], level));
        if chunks.len() == 1 || self.opts.concurrency == 1 {
            for (i, slot) in results.iter().enumerate() {
                run(i);
                if matches!(&*slot.lock().unwrap_or_else(|e| e.into_inner()), Some(Err(_))) {
                    break;
                }
            }
        } else {
            let next = AtomicUsize::new(0);
            let failed = AtomicBool::new(false);
            std::thread::scope(|s| {
                for _ in 0..self.opts.concurrency.min(chunks.len()) {
                    s.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= chunks.len() || failed.load(Ordering::Relaxed) {
                                break;
                            }
                            run(i);
                            if matches!(&*results[i].lock().unwrap_or_else(|e| e.into_inner()), Some(Err(_))) {
                                failed.store(true, Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
        }
        let numel = self.shape.numel();
        let mut answers = Vec::with_capacity(chunks.len());
        let mut first_error = None;
        for (chunk, slot) in chunks.iter().zip(results) {
            match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(Ok(answer)) => {
                    self.used += chunk.len() / numel;
                    answers.push(answer);
                }
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                None => {}
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(concat_answers(answers))
    }

    fn queries_used(&self) -> usize {
        self.used
    }

    fn queries_left(&self) -> Option<usize> {
        self.opts.budget.map(|b| b.saturating_sub(self.used))
    }
}

/// `http://host:port` from what a user typed.
fn base_url(url: &str) -> Result<String, AccessError> {
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(AccessError::BadRequest(format!("'{url}' is not an http:// or https:// URL")));
    }
    let mut base = url.trim_end_matches('/');
    for suffix in [PREDICT_PATH, INFO_PATH] {
        base = base.strip_suffix(suffix).unwrap_or(base);
    }
    Ok(base.to_string())
}

/// Maps a ureq error to a retry (timeouts, connection trouble) or a final error.
fn transport_error(e: ureq::Error, fatal: impl FnOnce() -> AccessError) -> Attempt {
    match e {
        ureq::Error::Timeout(t) => Attempt::Transient(format!("timed out ({t})")),
        ureq::Error::Io(io) => Attempt::Transient(format!("connection error: {io}")),
        ureq::Error::ConnectionFailed => Attempt::Transient("connection failed".into()),
        ureq::Error::Protocol(p) => Attempt::Transient(format!("broken HTTP reply: {p}")),
        other => match fatal() {
            AccessError::Suspect(m) => Attempt::Fatal(AccessError::Suspect(format!("{m}: {other}"))),
            e => Attempt::Fatal(e),
        },
    }
}

/// The `error` of a JSON error body, else the start of the body as text.
fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => b.error,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            if text.trim().is_empty() { "(empty body)".into() } else { text }
        }
    }
}

fn concat_answers(answers: Vec<Answer>) -> Answer {
    let mut it = answers.into_iter();
    let Some(mut all) = it.next() else { return Answer::Labels(Vec::new()) };
    for a in it {
        match (&mut all, a) {
            (Answer::Labels(x), Answer::Labels(y)) => x.extend(y),
            (Answer::TopK(x), Answer::TopK(y)) => x.extend(y),
            (Answer::Probabilities(x), Answer::Probabilities(y)) => x.extend(y),
            _ => unreachable!("every chunk is answered at the same level"),
        }
    }
    all
}

/// Checks a reply for `rows` images at `level` and turns it into an answer; Err: the problem.
pub fn check_reply(reply: PredictResponse, rows: usize, classes: usize, level: AccessLevel) -> Result<Answer, String> {
    if reply.classes != classes {
        return Err(format!("reply reports {} classes, /v1/info said {classes}", reply.classes));
    }
    if reply.output.parse::<AccessLevel>().ok() != Some(level) {
        return Err(format!("asked for {level}, the reply is '{}'", reply.output));
    }
    let count = |got: usize| {
        if got == rows { Ok(()) } else { Err(format!("reply has {got} rows for {rows} images")) }
    };
    let prob_ok = |p: f32| p.is_finite() && (-1e-6..=1.0 + 1e-6).contains(&p);
    match level {
        AccessLevel::WhiteBox => Err("a prediction API cannot answer at the white-box level".into()),
        AccessLevel::Labels => {
            let labels = reply.labels.ok_or("reply has no 'labels'")?;
            count(labels.len())?;
            if let Some(l) = labels.iter().find(|&&l| l >= classes) {
                return Err(format!("label {l} is out of range for {classes} classes"));
            }
            Ok(Answer::Labels(labels))
        }
        AccessLevel::TopK(k) => {
            let rows_k = reply.topk.ok_or("reply has no 'topk'")?;
            count(rows_k.len())?;
            for (i, row) in rows_k.iter().enumerate() {
                if row.len() != k.min(classes) {
                    return Err(format!("image {i}: {} top-k entries, expected {}", row.len(), k.min(classes)));
                }
                if row.iter().any(|&(c, p)| c >= classes || !prob_ok(p)) {
                    return Err(format!("image {i}: top-k has a class or probability out of range: {row:?}"));
                }
                if row.windows(2).any(|w| w[0].1 < w[1].1) {
                    return Err(format!("image {i}: top-k is not sorted by probability: {row:?}"));
                }
                let mut seen: Vec<usize> = row.iter().map(|p| p.0).collect();
                seen.sort_unstable();
                if seen.windows(2).any(|w| w[0] == w[1]) {
                    return Err(format!("image {i}: top-k repeats a class: {row:?}"));
                }
                if row.iter().map(|p| p.1).sum::<f32>() > 1.0 + 1e-3 {
                    return Err(format!("image {i}: top-k probabilities sum above 1"));
                }
            }
            Ok(Answer::TopK(rows_k))
        }
        AccessLevel::Probabilities => {
            let probs = reply.probabilities.ok_or("reply has no 'probabilities'")?;
            count(probs.len())?;
            let mut flat = Vec::with_capacity(rows * classes);
            for (i, row) in probs.into_iter().enumerate() {
                if row.len() != classes {
                    return Err(format!("image {i}: {} probabilities for {classes} classes", row.len()));
                }
                if !row.iter().all(|&p| prob_ok(p)) {
                    return Err(format!("image {i}: probability not finite or outside [0, 1]"));
                }
                let sum: f32 = row.iter().sum();
                if (sum - 1.0).abs() > 1e-3 {
                    return Err(format!("image {i}: probabilities sum to {sum}, not 1"));
                }
                flat.extend(row);
            }
            Ok(Answer::Probabilities(flat))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(output: &str) -> PredictResponse {
        PredictResponse {
            model: "m".into(),
            classes: 3,
            output: output.into(),
            labels: None,
            topk: None,
            probabilities: None,
            queries_used: 0,
        }
    }

    #[test]
    fn replies_are_checked_before_they_become_answers() {
        let ok = PredictResponse { labels: Some(vec![0, 2]), ..reply("labels") };
        assert_eq!(check_reply(ok.clone(), 2, 3, AccessLevel::Labels).unwrap(), Answer::Labels(vec![0, 2]));
        assert!(check_reply(ok.clone(), 3, 3, AccessLevel::Labels).unwrap_err().contains("2 rows for 3"));
        let bad = PredictResponse { labels: Some(vec![0, 3]), ..ok.clone() };
        assert!(check_reply(bad, 2, 3, AccessLevel::Labels).unwrap_err().contains("label 3"));
        assert!(
            check_reply(PredictResponse { classes: 4, ..ok }, 2, 3, AccessLevel::Labels)
                .unwrap_err()
                .contains("4 classes")
        );
        let unsorted = PredictResponse { topk: Some(vec![vec![(0, 0.2), (1, 0.7)]]), ..reply("topk:2") };
        assert!(check_reply(unsorted, 1, 3, AccessLevel::TopK(2)).unwrap_err().contains("not sorted"));
        let sums = PredictResponse { probabilities: Some(vec![vec![0.5, 0.4, 0.4]]), ..reply("probs") };
        assert!(check_reply(sums, 1, 3, AccessLevel::Probabilities).unwrap_err().contains("sum to"));
        let nan_free = PredictResponse { probabilities: Some(vec![vec![0.5, 0.25, 0.25]]), ..reply("probs") };
        assert!(check_reply(nan_free.clone(), 1, 3, AccessLevel::Probabilities).is_ok());
        assert!(check_reply(nan_free, 1, 3, AccessLevel::Labels).unwrap_err().contains("asked for labels"));
    }

    #[test]
    fn urls_are_normalised_and_checked() {
        assert_eq!(base_url("http://h:1/v1/predict").unwrap(), "http://h:1");
        assert_eq!(base_url(" https://h/ ").unwrap(), "https://h");
        assert!(base_url("ftp://h").is_err());
    }
}
