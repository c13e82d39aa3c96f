//! The prediction API over loopback: answers equal the local model's at every level, every
//! bad request gets its 4xx with a JSON error, tokens and budgets hold, clients are counted.

use mown_access::wire::{InfoResponse, StatsResponse};
use mown_access::{AccessError, AccessLevel, Answer, HttpModel, HttpOptions, LocalModel, QueryModel};
use mown_data::{ImageShape, Normalization};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec};
use mown_serve::{RunningServer, ServeConfig, spawn_background};
use serde_json::Value;

fn model() -> Model {
    let shape = ImageShape { channels: 1, height: 8, width: 8 };
    let spec = ModelSpec::new(Arch::Mlp, shape, 10).unwrap();
    let meta = ModelMeta::new(spec, Normalization::identity(1), (0..10).map(|i| i.to_string()).collect()).unwrap();
    Model::init(meta, &Device::flex(), 3)
}

fn images(n: usize) -> Vec<f32> {
    (0..n * 64).map(|i| ((i * 37 + 11) % 101) as f32 / 100.0).collect()
}

fn start(config: ServeConfig) -> RunningServer {
    spawn_background(ServeConfig { port: 0, ..config }, model()).unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build())
}

/// Sends `body` to `path` (POST, or GET when None); status, JSON body (Null if not JSON), headers.
fn call(server: &RunningServer, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value, String) {
    let url = format!("{}{path}", server.url());
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut r = match body {
        Some(b) => {
            let mut req = agent().post(&url).header("Content-Type", "application/json");
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            req.send(b).unwrap()
        }
        None => {
            let mut req = agent().get(&url);
            if let Some(a) = &auth {
                req = req.header("Authorization", a);
            }
            req.call().unwrap()
        }
    };
    let status = r.status().as_u16();
    let www = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = r.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), www)
}

fn inputs_json(n: usize, numel: usize, value: &str) -> String {
    let image = format!("[{}]", vec![value; numel].join(","));
    format!("{{\"inputs\": [{}]}}", vec![image; n].join(","))
}

#[test]
fn answers_equal_the_local_models_at_every_level() {
    let server = start(ServeConfig { level: AccessLevel::Probabilities, ..ServeConfig::default() });
    let (status, body, _) = call(&server, "/health", None, None);
    assert_eq!((status, body), (200, Value::String("ok".into())));
    let (status, info, _) = call(&server, "/v1/info", None, None);
    assert_eq!(status, 200);
    let info: InfoResponse = serde_json::from_value(info).unwrap();
    assert_eq!((info.input_shape, info.classes, info.output.as_str()), ([1, 8, 8], 10, "probs"));

    let x = images(7);
    let mut local = LocalModel::new(model(), AccessLevel::Probabilities, None);
    // Small batches on several threads: the answers must come back reassembled in order.
    let opts = HttpOptions { batch_size: 2, concurrency: 3, ..HttpOptions::new(server.url()) };
    let mut remote = HttpModel::connect(opts).unwrap();
    assert_eq!((remote.input_shape(), remote.num_classes()), (local.input_shape(), 10));
    for level in [AccessLevel::Labels, AccessLevel::TopK(3), AccessLevel::Probabilities] {
        let (want, got) = (local.query(&x, level).unwrap(), remote.query(&x, level).unwrap());
        match (&want, &got) {
            (Answer::Probabilities(a), Answer::Probabilities(b)) => {
                assert_eq!(a.len(), b.len());
                assert!(a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-6), "{a:?} vs {b:?}");
            }
            (Answer::TopK(a), Answer::TopK(b)) => {
                assert_eq!(a.len(), 7);
                for (ra, rb) in a.iter().zip(b) {
                    assert_eq!(ra.iter().map(|p| p.0).collect::<Vec<_>>(), rb.iter().map(|p| p.0).collect::<Vec<_>>());
                }
            }
            _ => assert_eq!(want, got),
        }
    }
    assert_eq!(remote.queries_used(), 21);
    let stats = server.stats();
    assert_eq!(stats.clients.len(), 1);
    assert_eq!((stats.clients[0].client.as_str(), stats.clients[0].images), ("ip:127.0.0.1", 21));
    assert_eq!(stats.clients[0].requests, 12, "7 images in batches of 2 is 4 requests per level");
}

/// A bad request and what it must get: what it is, path, token, body, status, a word of the error.
type BadCase<'a> = (&'a str, &'a str, Option<&'a str>, Option<String>, u16, &'a str);

#[test]
fn every_bad_request_gets_its_4xx_with_a_json_error() {
    let server = start(ServeConfig {
        level: AccessLevel::TopK(3),
        tokens: vec!["secret".into()],
        max_body_bytes: 64 << 10,
        max_images_per_request: 16,
        ..ServeConfig::default()
    });
    let t = Some("secret");
    let good = inputs_json(2, 64, "0.5");
    let (status, body, _) = call(&server, "/v1/predict", t, Some(&good));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"], "topk:3");
    assert_eq!(body["topk"].as_array().unwrap().len(), 2);
    assert_eq!(body["queries_used"], 2);

    let huge = inputs_json(300, 64, "0.5");
    let cases: Vec<BadCase> = vec![
        ("malformed JSON", "/v1/predict", t, Some(good[..good.len() / 2].to_string()), 400, "invalid JSON"),
        ("not an object", "/v1/predict", t, Some("[1, 2]".into()), 400, "invalid JSON"),
        ("unknown field", "/v1/predict", t, Some("{\"inputs\": [], \"x\": 1}".into()), 400, "unknown field"),
        ("wrong shape", "/v1/predict", t, Some(inputs_json(1, 63, "0.5")), 400, "expected C*H*W = 1x8x8 = 64"),
        ("NaN", "/v1/predict", t, Some(inputs_json(1, 64, "NaN")), 400, "invalid JSON"),
        ("null pixel", "/v1/predict", t, Some(inputs_json(1, 64, "null")), 400, "invalid JSON"),
        ("infinite", "/v1/predict", t, Some(inputs_json(1, 64, "1e39")), 400, "not finite"),
        ("out of range", "/v1/predict", t, Some(inputs_json(1, 64, "1.5")), 400, "outside the pixel range"),
        ("empty batch", "/v1/predict", t, Some("{\"inputs\": []}".into()), 400, "empty"),
        ("too many images", "/v1/predict", t, Some(inputs_json(17, 64, "0.5")), 413, "at most 16"),
        ("oversized body", "/v1/predict", t, Some(huge), 413, "at most 65536"),
        ("level above", "/v1/predict", t, Some(good.replace('}', ", \"output\": \"probs\"}")), 403, "above"),
        ("top-k above", "/v1/predict", t, Some(good.replace('}', ", \"output\": \"topk:4\"}")), 403, "above"),
        ("unknown level", "/v1/predict", t, Some(good.replace('}', ", \"output\": \"all\"}")), 400, "unknown access"),
        ("no token", "/v1/predict", None, Some(good.clone()), 401, "missing bearer token"),
        ("bad token", "/v1/predict", Some("guess"), Some(good.clone()), 401, "invalid token"),
        ("info without token", "/v1/info", None, None, 401, "missing"),
        ("stats with a bad token", "/v1/stats", Some("secret2"), None, 401, "invalid token"),
        ("unknown endpoint", "/v2/predict", t, Some(good.clone()), 404, "no such endpoint"),
        ("wrong method", "/v1/predict", t, None, 405, "method not allowed"),
    ];
    for (what, path, token, body, expect, needle) in cases {
        let (status, reply, www) = call(&server, path, token, body.as_deref());
        assert_eq!(status, expect, "{what}: {reply}");
        let error = reply["error"].as_str().unwrap_or_else(|| panic!("{what}: no JSON error body: {reply}"));
        assert!(error.contains(needle), "{what}: '{error}' should mention '{needle}'");
        if expect == 401 {
            assert_eq!(www, "Bearer", "{what}");
        }
    }
    // A wrong "Basic" scheme is refused too, and none of the refusals were charged.
    let mut r = agent()
        .post(format!("{}/v1/predict", server.url()))
        .header("Authorization", "Basic c2VjcmV0")
        .send(good.as_str())
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "{}", r.body_mut().read_to_string().unwrap());
    let stats = server.stats();
    assert_eq!(stats.clients[0].images, 2);
    assert_eq!(stats.unauthorized, 5);
    assert!(server.is_running());
}

#[test]
fn clients_are_counted_by_token_and_budgets_hold() {
    let server = start(ServeConfig {
        level: AccessLevel::Labels,
        tokens: vec!["alice".into(), "bob".into()],
        client_budget: Some(10),
        ..ServeConfig::default()
    });
    let four = inputs_json(4, 64, "0.25");
    for expected in [4, 8] {
        let (status, body, _) = call(&server, "/v1/predict", Some("alice"), Some(&four));
        assert_eq!((status, body["queries_used"].as_u64()), (200, Some(expected)), "{body}");
    }
    let (status, body, _) = call(&server, "/v1/predict", Some("alice"), Some(&four));
    assert_eq!(status, 429, "{body}");
    assert!(body["error"].as_str().unwrap().contains("8 of 10 images used"), "{body}");
    let (status, body, _) = call(&server, "/v1/predict", Some("bob"), Some(&inputs_json(2, 64, "0.25")));
    assert_eq!((status, body["queries_used"].as_u64()), (200, Some(2)));
    let (status, stats, _) = call(&server, "/v1/stats", Some("bob"), None);
    assert_eq!(status, 200);
    let stats: StatsResponse = serde_json::from_value(stats).unwrap();
    let summary: Vec<_> = stats.clients.iter().map(|c| (c.client.as_str(), c.requests, c.images, c.rejected)).collect();
    assert_eq!(summary, vec![("token-1", 3, 8, 1), ("token-2", 1, 2, 0)]);

    // HttpModel: its own budget is checked before anything is sent; the server's 429 is an error.
    let opts = HttpOptions { token: Some("bob".into()), budget: Some(5), ..HttpOptions::new(server.url()) };
    let mut bob = HttpModel::connect(opts).unwrap();
    assert_eq!(bob.access(), AccessLevel::Labels);
    let err = bob.labels(&images(6)).unwrap_err();
    assert!(matches!(err, AccessError::BudgetExceeded { budget: 5, used: 0, requested: 6 }), "{err}");
    assert_eq!(bob.labels(&images(5)).unwrap().len(), 5);
    assert_eq!(server.stats().clients[1].images, 7);
    let err = bob.query(&images(1), AccessLevel::TopK(2)).unwrap_err();
    assert!(matches!(err, AccessError::LevelUnavailable { .. }), "{err}");
    let opts = HttpOptions { token: Some("alice".into()), ..HttpOptions::new(server.url()) };
    let err = HttpModel::connect(opts).unwrap().labels(&images(3)).unwrap_err().to_string();
    assert!(err.contains("429") && err.contains(&server.url()), "{err}");
    let err = HttpModel::connect(HttpOptions::new(server.url())).err().unwrap().to_string();
    assert!(err.contains("401") && err.contains("MOWN_SUSPECT_TOKEN"), "{err}");
    let opts = HttpOptions {
        level: Some(AccessLevel::Probabilities),
        token: Some("bob".into()),
        ..HttpOptions::new(server.url())
    };
    assert!(matches!(HttpModel::connect(opts), Err(AccessError::LevelUnavailable { .. })));
}

#[test]
fn queries_are_split_paced_and_reassembled_in_order() {
    let server = start(ServeConfig { level: AccessLevel::Labels, ..ServeConfig::default() });
    let x = images(8);
    let want = LocalModel::new(model(), AccessLevel::Labels, None).labels(&x).unwrap();
    let opts = HttpOptions {
        batch_size: 1,
        concurrency: 4,
        max_requests_per_second: Some(40.0),
        ..HttpOptions::new(server.url())
    };
    let mut remote = HttpModel::connect(opts).unwrap();
    let t0 = std::time::Instant::now();
    assert_eq!(remote.labels(&x).unwrap(), want);
    // /v1/info, then 8 requests at 40 per second: the last leaves 200 ms after the first call.
    assert!(t0.elapsed() >= std::time::Duration::from_millis(170), "{:?}", t0.elapsed());
    assert_eq!(server.stats().clients[0].requests, 8);
}

/// Under `--any-range`, one client's huge pixels overflow the logits; a request batched with
/// them must still get its answer, and the bad one a 500 naming the problem.
#[test]
fn a_bad_request_does_not_fail_the_requests_batched_with_it() {
    let server = start(ServeConfig {
        pixel_range: None,
        max_batch_delay: std::time::Duration::from_millis(500),
        ..ServeConfig::default()
    });
    let url = server.url();
    let huge = std::thread::spawn(move || {
        let body = inputs_json(2, 64, "3e38");
        let mut r = agent().post(&format!("{url}/v1/predict")).send(&body).unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    let (status, body, _) = call(&server, "/v1/predict", None, Some(&inputs_json(3, 64, "0.5")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["labels"].as_array().map(Vec::len), Some(3), "{body}");
    let (status, text) = huge.join().unwrap();
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("NaN or infinite"), "{text}");
}
