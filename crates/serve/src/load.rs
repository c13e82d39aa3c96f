//! A load generator for the prediction API: many concurrent clients firing good requests mixed
//! with every kind of bad one, checking that each bad request gets its 4xx and each good one a
//! correct 200. Used by `mown bench serve` and by the load test.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mown_access::wire::{
    ErrorBody, INFO_PATH, InfoResponse, PREDICT_PATH, PredictRequest, PredictResponse, STATS_PATH, StatsResponse,
};
use mown_access::{AccessLevel, check_reply};

/// What to fire at the server.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub requests: usize,
    pub clients: usize,
    /// Fraction of requests that are deliberately bad, spread over every bad kind.
    pub bad_fraction: f64,
    pub images_per_request: usize,
    /// The server's token (None: it has none, and the token kinds are skipped).
    pub token: Option<String>,
    pub seed: u64,
    /// Limit on one request.
    pub timeout: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            requests: 10_000,
            clients: 32,
            bad_fraction: 0.2,
            images_per_request: 8,
            token: None,
            seed: 1,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What happened, by request kind and status.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadReport {
    pub requests: usize,
    pub clients: usize,
    pub seconds: f64,
    pub requests_per_second: f64,
    /// Images answered per second by good requests.
    pub predictions_per_second: f64,
    pub good: usize,
    pub good_answered: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// kind -> status -> count ("good" included; status 0: no HTTP reply).
    pub statuses: BTreeMap<String, BTreeMap<u16, usize>>,
    /// Every request that did not get what it should, described (first 20 kept).
    pub violations: Vec<String>,
    pub violation_count: usize,
    /// Mean images per forward pass the server's batcher ran.
    pub mean_batch: f64,
    pub healthy_after: bool,
}

impl LoadReport {
    pub fn ok(&self) -> bool {
        self.violation_count == 0 && self.healthy_after
    }
}

/// A request to send and the status it must get.
struct Shot {
    kind: &'static str,
    path: &'static str,
    body: Arc<Vec<u8>>,
    token: Option<String>,
    expect: u16,
    rows: usize,
}

/// xorshift64*: reproducible request mixes without pulling in an RNG API.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn body(inputs: Vec<Vec<f32>>, output: Option<String>) -> Arc<Vec<u8>> {
    Arc::new(serde_json::to_vec(&PredictRequest { inputs, output }).expect("serialise a request"))
}

/// One bad request: its kind, path, body, bearer token and the status it must get.
type BadRequest = (&'static str, &'static str, Arc<Vec<u8>>, Option<String>, u16);

/// Prepared bodies: serialising them up front keeps the clients' CPU out of the measurement.
struct Bodies {
    good: Vec<Arc<Vec<u8>>>,
    bad: Vec<BadRequest>,
}

fn prepare(info: &InfoResponse, images: &[f32], cfg: &LoadConfig) -> Bodies {
    let numel: usize = info.input_shape.iter().product();
    let pool: Vec<Vec<f32>> = images.chunks(numel).map(<[f32]>::to_vec).collect();
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let pick = |rng: &mut Rng, n: usize| (0..n).map(|_| pool[rng.below(pool.len())].clone()).collect::<Vec<_>>();
    let k = cfg.images_per_request.max(1);
    let good = (0..32).map(|_| body(pick(&mut rng, k), None)).collect();
    let token = cfg.token.clone();
    let one = pick(&mut rng, 1);
    let mut short = one.clone();
    short[0].pop();
    let valid = String::from_utf8(body(one.clone(), None).to_vec()).expect("utf-8 JSON");
    let nan = Arc::new(replace_first_value(&valid, "NaN").into_bytes());
    let inf = Arc::new(replace_first_value(&valid, "1e39").into_bytes());
    let mut out_of_range = one.clone();
    out_of_range[0][0] = 2.5;
    // Over the body limit (each value takes about 4 bytes, "0.5,"), well under the 4x the server
    // drains, and valid JSON, so that only the size is wrong.
    let oversized = body(vec![vec![0.5; numel]; info.max_body_bytes / (numel * 3) + 1], None);
    let too_many = body(vec![vec![0.5; numel]; info.max_images_per_request + 1], None);
    let served: AccessLevel = info.output.parse().unwrap_or(AccessLevel::Labels);
    // Above the served level (403), or unparseable when nothing is above it (400).
    let (above_kind, above, above_status) = match served {
        AccessLevel::Probabilities => ("unknown-level", "topk:0".to_string(), 400),
        _ => ("level-above", "probs".to_string(), 403),
    };
    let mut bad = vec![
        ("malformed-json", PREDICT_PATH, Arc::new(valid.as_bytes()[..valid.len() / 2].to_vec()), token.clone(), 400),
        ("wrong-shape", PREDICT_PATH, body(short, None), token.clone(), 400),
        ("nan", PREDICT_PATH, nan, token.clone(), 400),
        ("infinite", PREDICT_PATH, inf, token.clone(), 400),
        ("out-of-range", PREDICT_PATH, body(out_of_range, None), token.clone(), 400),
        ("empty-batch", PREDICT_PATH, body(Vec::new(), None), token.clone(), 400),
        (above_kind, PREDICT_PATH, body(one.clone(), Some(above)), token.clone(), above_status),
        ("oversized", PREDICT_PATH, oversized, token.clone(), 413),
        ("too-many-images", PREDICT_PATH, too_many, token.clone(), 413),
        ("no-such-endpoint", "/v1/nothing", body(one.clone(), None), token.clone(), 404),
    ];
    if token.is_some() {
        bad.push(("bad-token", PREDICT_PATH, body(one.clone(), None), Some("not-the-token".into()), 401));
        bad.push(("no-token", PREDICT_PATH, body(one, None), None, 401));
    }
    Bodies { good, bad }
}

/// `json` with the first pixel value written as `value` (JSON has no NaN; f32 has no 1e39).
fn replace_first_value(json: &str, value: &str) -> String {
    let mut out = json.to_string();
    if let Some(p) = out.find("[[") {
        let end = out[p + 2..].find([',', ']']).map_or(out.len(), |e| p + 2 + e);
        out.replace_range(p + 2..end, value);
    }
    out
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build(),
    )
}

/// GET `path` with the token; the status and body (status 0: no reply).
fn get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    match req.call() {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_vec().unwrap_or_default()),
        Err(_) => (0, Vec::new()),
    }
}

/// One client's results: (kind, status) per request, latencies of good answers, violations.
#[derive(Default)]
struct ClientLog {
    statuses: Vec<(&'static str, u16)>,
    good_ms: Vec<f64>,
    violations: Vec<String>,
}

fn client(base: &str, shots: Vec<Shot>, info: &InfoResponse, timeout: Duration) -> ClientLog {
    let agent = agent(timeout);
    let level: AccessLevel = info.output.parse().unwrap_or(AccessLevel::Labels);
    let mut log = ClientLog::default();
    for shot in shots {
        let t0 = Instant::now();
        let mut req = agent.post(format!("{base}{}", shot.path)).header("Content-Type", "application/json");
        if let Some(t) = &shot.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let (status, bytes) = match req.send(shot.body.as_slice()) {
            Ok(mut r) => {
                let status = r.status().as_u16();
                (status, r.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap_or_default())
            }
            Err(e) => {
                log.violations.push(format!("{}: no reply: {e}", shot.kind));
                (0, Vec::new())
            }
        };
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        log.statuses.push((shot.kind, status));
        if status == 0 {
            continue;
        }
        if status != shot.expect {
            let text: String = String::from_utf8_lossy(&bytes).chars().take(160).collect();
            log.violations.push(format!("{}: expected {}, got {status}: {text}", shot.kind, shot.expect));
        } else if shot.kind == "good" {
            match serde_json::from_slice::<PredictResponse>(&bytes) {
                Ok(reply) => match check_reply(reply, shot.rows, info.classes, level) {
                    Ok(_) => log.good_ms.push(ms),
                    Err(p) => log.violations.push(format!("good: bad reply: {p}")),
                },
                Err(e) => log.violations.push(format!("good: malformed reply: {e}")),
            }
        } else if serde_json::from_slice::<ErrorBody>(&bytes).is_err() {
            log.violations.push(format!("{}: {status} without a JSON error body", shot.kind));
        }
    }
    log
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Fires `cfg.requests` requests at the API at `base` from `cfg.clients` threads, good ones
/// built from `images` (flat NCHW in [0, 1], of the served shape), and checks every reply.
pub fn run_load(base: &str, images: &[f32], cfg: &LoadConfig) -> Result<LoadReport, String> {
    let base = base.trim_end_matches('/').to_string();
    let probe = agent(cfg.timeout);
    let token = cfg.token.as_deref();
    let (status, bytes) = get(&probe, &format!("{base}{INFO_PATH}"), token);
    if status != 200 {
        return Err(format!("{base}{INFO_PATH} answered {status}"));
    }
    let info: InfoResponse = serde_json::from_slice(&bytes).map_err(|e| format!("bad info reply: {e}"))?;
    let numel: usize = info.input_shape.iter().product();
    if images.is_empty() || !images.len().is_multiple_of(numel) {
        return Err(format!("{} values are not whole images of {:?}", images.len(), info.input_shape));
    }
    let stats = |probe: &ureq::Agent| -> Option<StatsResponse> {
        let (s, b) = get(probe, &format!("{base}{STATS_PATH}"), token);
        if s == 200 { serde_json::from_slice(&b).ok() } else { None }
    };
    let before = stats(&probe).unwrap_or_default();
    let bodies = prepare(&info, images, cfg);
    let mut rng = Rng(cfg.seed | 1);
    let clients = cfg.clients.max(1);
    let mut plans: Vec<Vec<Shot>> = (0..clients).map(|_| Vec::new()).collect();
    let mut bad_index = 0;
    for i in 0..cfg.requests {
        let shot = if rng.unit() < cfg.bad_fraction && !bodies.bad.is_empty() {
            let (kind, path, body, token, expect) = bodies.bad[bad_index % bodies.bad.len()].clone();
            bad_index += 1;
            Shot { kind, path, body, token, expect, rows: 0 }
        } else {
            let body = bodies.good[rng.below(bodies.good.len())].clone();
            Shot {
                kind: "good",
                path: PREDICT_PATH,
                body,
                token: cfg.token.clone(),
                expect: 200,
                rows: cfg.images_per_request.max(1),
            }
        };
        plans[i % clients].push(shot);
    }
    let good = plans.iter().flatten().filter(|s| s.kind == "good").count();
    let started = Instant::now();
    let logs: Vec<ClientLog> = std::thread::scope(|s| {
        let handles: Vec<_> =
            plans.into_iter().map(|plan| s.spawn(|| client(&base, plan, &info, cfg.timeout))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut report = LoadReport { requests: cfg.requests, clients, seconds, good, ..LoadReport::default() };
    let mut latencies = Vec::new();
    for log in logs {
        for (kind, status) in log.statuses {
            *report.statuses.entry(kind.to_string()).or_default().entry(status).or_default() += 1;
        }
        report.violation_count += log.violations.len();
        report.violations.extend(log.violations);
        latencies.extend(log.good_ms);
    }
    report.violations.truncate(20);
    report.good_answered = latencies.len();
    latencies.sort_by(f64::total_cmp);
    report.p50_ms = percentile(&latencies, 0.5);
    report.p99_ms = percentile(&latencies, 0.99);
    report.max_ms = latencies.last().copied().unwrap_or(f64::NAN);
    report.requests_per_second = cfg.requests as f64 / seconds;
    report.predictions_per_second = (report.good_answered * cfg.images_per_request.max(1)) as f64 / seconds;
    report.healthy_after = get(&probe, &format!("{base}/health"), None).0 == 200;
    if let Some(after) = stats(&probe) {
        let images = |s: &StatsResponse| s.clients.iter().map(|c| c.images).sum::<u64>();
        let counted = images(&after) - images(&before);
        let expected = (report.good_answered * cfg.images_per_request.max(1)) as u64;
        if counted != expected {
            report.violation_count += 1;
            report.violations.push(format!("server counted {counted} images, clients had {expected} answered"));
        }
        let calls = after.model_calls - before.model_calls;
        report.mean_batch = (after.model_images - before.model_images) as f64 / calls.max(1) as f64;
    }
    Ok(report)
}
