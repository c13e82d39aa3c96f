//! HttpModel against a scripted raw-TCP server: every way a remote API can misbehave (malformed
//! or inconsistent replies, 5xx, refusals, hangs, a closed port) is a clear AccessError, never a
//! panic and never an answer; transient failures are retried, refusals are not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mown_access::{AccessError, AccessLevel, HttpModel, HttpOptions, QueryModel};

enum Reply {
    Json(u16, String),
    /// Read the request, then say nothing for this long.
    Hang(Duration),
}

const INFO: &str = r#"{"model":"fake","input_shape":[1,2,2],"classes":3,"output":"probs","max_images_per_request":64,"max_body_bytes":100000}"#;

/// Serves `script`, one connection per reply; returns the base URL and the request lines seen.
fn fake(script: Vec<Reply>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for reply in script {
            let Ok((stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock().unwrap().push(first.trim().to_string());
            let mut stream = reader.into_inner();
            match reply {
                Reply::Json(status, body) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                Reply::Hang(d) => std::thread::sleep(d),
            }
        }
    });
    (url, seen)
}

fn opts(url: &str) -> HttpOptions {
    HttpOptions {
        retries: 2,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        ..HttpOptions::new(url)
    }
}

fn info() -> Reply {
    Reply::Json(200, INFO.into())
}

fn probs(rows: &str) -> Reply {
    Reply::Json(
        200,
        format!(r#"{{"model":"fake","classes":3,"output":"probs","probabilities":{rows},"queries_used":1}}"#),
    )
}

/// Connects, asks for probabilities of one 1x2x2 image, returns the error text.
fn error_of(script: Vec<Reply>, o: impl FnOnce(HttpOptions) -> HttpOptions) -> (AccessError, usize) {
    let (url, seen) = fake(script);
    let mut api = HttpModel::connect(o(opts(&url))).unwrap();
    let err = api.query(&[0.1, 0.2, 0.3, 0.4], AccessLevel::Probabilities).unwrap_err();
    assert!(err.to_string().contains(&url), "errors name the URL: {err}");
    assert_eq!(api.queries_used(), 0, "a failed query is not charged");
    let predicts = seen.lock().unwrap().iter().filter(|l| l.starts_with("POST /v1/predict")).count();
    (err, predicts)
}

#[test]
fn a_good_reply_is_an_answer() {
    let (url, seen) = fake(vec![info(), probs("[[0.2,0.5,0.3]]")]);
    let mut api = HttpModel::connect(opts(&format!("{url}/v1/predict"))).unwrap();
    assert_eq!((api.num_classes(), api.access()), (3, AccessLevel::Probabilities));
    let answer = api.query(&[0.1, 0.2, 0.3, 0.4], AccessLevel::Probabilities).unwrap();
    assert_eq!(answer.labels(3), vec![1]);
    assert_eq!(api.queries_used(), 1);
    assert_eq!(seen.lock().unwrap()[0], "GET /v1/info HTTP/1.1");
}

#[test]
fn malformed_and_inconsistent_replies_are_suspect_errors() {
    let cases = [
        (Reply::Json(200, "{\"labels\": [1".into()), "malformed reply"),
        (Reply::Json(200, "not json at all".into()), "malformed reply"),
        (probs("[[0.2,0.5,0.3],[0.2,0.5,0.3]]"), "2 rows for 1 images"),
        (probs("[[0.2,0.8]]"), "2 probabilities for 3 classes"),
        (probs("[[0.2,0.5,0.9]]"), "sum to"),
        (probs("[[-0.5,1.0,0.5]]"), "outside [0, 1]"),
        (
            Reply::Json(200, r#"{"model":"f","classes":4,"output":"probs","probabilities":[[0.25,0.25,0.25,0.25]],"queries_used":1}"#.into()),
            "4 classes",
        ),
        (Reply::Json(200, r#"{"model":"f","classes":3,"output":"labels","labels":[2],"queries_used":1}"#.into()), "asked for probs"),
    ];
    for (reply, needle) in cases {
        let (err, predicts) = error_of(vec![info(), reply], |o| o);
        assert!(matches!(err, AccessError::Suspect(_)), "{err}");
        assert!(err.to_string().contains(needle), "'{err}' should mention '{needle}'");
        assert_eq!(predicts, 1, "a bad 200 reply is not retried");
    }
}

#[test]
fn server_errors_are_retried_with_backoff_and_refusals_are_not() {
    // 500, 503, then an answer: two retries suffice.
    let (url, seen) = fake(vec![
        info(),
        Reply::Json(500, r#"{"error":"boom"}"#.into()),
        Reply::Json(503, "busy".into()),
        probs("[[0.6,0.3,0.1]]"),
    ]);
    let mut api = HttpModel::connect(opts(&url)).unwrap();
    assert_eq!(api.query(&[0.0; 4], AccessLevel::Probabilities).unwrap().labels(3), vec![0]);
    assert_eq!(seen.lock().unwrap().len(), 4);
    // Always 500: gives up after 1 + 2 attempts and says why.
    let script = (0..4).map(|_| Reply::Json(500, r#"{"error":"model crashed"}"#.into()));
    let (err, predicts) = error_of(std::iter::once(info()).chain(script).collect(), |o| o);
    let text = err.to_string();
    assert!(text.contains("HTTP 500") && text.contains("model crashed") && text.contains("3 attempts"), "{text}");
    assert_eq!(predicts, 3);
    // 4xx: the request itself is wrong or refused; retrying cannot help.
    for (status, needle) in [(400, "rejected the query (400)"), (401, "unauthorized"), (429, "429"), (404, "404")] {
        let body = format!(r#"{{"error":"refused {status}"}}"#);
        let (err, predicts) = error_of(vec![info(), Reply::Json(status, body), probs("[[1,0,0]]")], |o| o);
        assert!(err.to_string().contains(needle) && err.to_string().contains("refused"), "{err}");
        assert_eq!(predicts, 1, "HTTP {status} was retried");
    }
}

#[test]
fn a_hanging_server_times_out() {
    let hang = || Reply::Hang(Duration::from_secs(3));
    let t0 = Instant::now();
    let (err, predicts) = error_of(vec![info(), hang(), hang()], |o| HttpOptions {
        timeout: Duration::from_millis(300),
        retries: 1,
        ..o
    });
    assert!(err.to_string().contains("timed out") && err.to_string().contains("2 attempts"), "{err}");
    assert!(predicts >= 1);
    assert!(t0.elapsed() < Duration::from_secs(3), "took {:?}", t0.elapsed());
}

#[test]
fn bad_servers_and_urls_fail_to_connect_clearly() {
    let (url, _) =
        fake(vec![Reply::Json(200, r#"{"model":"f","input_shape":[0,2,2],"classes":3,"output":"probs"}"#.into())]);
    let err = HttpModel::connect(opts(&url)).err().unwrap().to_string();
    assert!(err.contains("input shape") && err.contains(&url), "{err}");
    let (url, _) = fake(vec![Reply::Json(200, "<html>".into())]);
    let err = HttpModel::connect(opts(&url)).err().unwrap().to_string();
    assert!(err.contains("not a mown info reply"), "{err}");
    // A closed port: connection errors are retried, then reported.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = HttpModel::connect(opts(&format!("http://127.0.0.1:{port}"))).err().unwrap().to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains("3 attempts"), "{err}");
    assert!(HttpModel::connect(opts("ftp://example")).is_err());
    // Level above what the server offers is refused at connect time.
    let (url, _) = fake(vec![Reply::Json(200, INFO.replace("probs", "labels"))]);
    let o = HttpOptions { level: Some(AccessLevel::TopK(2)), ..opts(&url) };
    assert!(matches!(HttpModel::connect(o), Err(AccessError::LevelUnavailable { .. })));
}
