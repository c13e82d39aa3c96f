//! Concurrent load with every kind of bad request mixed in: no crash, every bad request its
//! 4xx, every good one a correct 200, and the server's counts agree with the clients'.

use mown_access::AccessLevel;
use mown_data::{ImageShape, Normalization};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec};
use mown_serve::load::{LoadConfig, run_load};
use mown_serve::{ServeConfig, spawn_background};

#[test]
fn two_thousand_requests_from_32_clients_with_a_fifth_bad() {
    let shape = ImageShape { channels: 1, height: 8, width: 8 };
    let spec = ModelSpec::new(Arch::ArcA, shape, 10).unwrap();
    let meta = ModelMeta::new(spec, Normalization::identity(1), (0..10).map(|i| i.to_string()).collect()).unwrap();
    let model = Model::init(meta, &Device::flex(), 5);
    let config = ServeConfig {
        port: 0,
        level: AccessLevel::TopK(3),
        tokens: vec!["load".into()],
        max_body_bytes: 256 << 10,
        ..ServeConfig::default()
    };
    let server = spawn_background(config, model).unwrap();
    let images: Vec<f32> = (0..200 * 64).map(|i| ((i * 7919) % 1000) as f32 / 999.0).collect();
    let cfg = LoadConfig { requests: 2000, clients: 32, token: Some("load".into()), ..LoadConfig::default() };
    let report = run_load(&server.url(), &images, &cfg).unwrap();
    eprintln!(
        "{:.0} requests/s, {:.0} predictions/s, p50 {:.2} ms, p99 {:.2} ms, mean batch {:.1}: {:?}",
        report.requests_per_second,
        report.predictions_per_second,
        report.p50_ms,
        report.p99_ms,
        report.mean_batch,
        report.statuses
    );
    assert!(report.ok(), "{} violations: {:#?}", report.violation_count, report.violations);
    assert!(server.is_running());
    assert_eq!(report.good_answered, report.good);
    let bad = report.requests - report.good;
    assert!((300..500).contains(&bad), "{bad} bad requests of 2000 at 20%");
    // Every bad kind was exercised, each with the one status it must get.
    for (kind, status) in [
        ("malformed-json", 400),
        ("wrong-shape", 400),
        ("nan", 400),
        ("infinite", 400),
        ("out-of-range", 400),
        ("empty-batch", 400),
        ("level-above", 403),
        ("oversized", 413),
        ("too-many-images", 413),
        ("no-such-endpoint", 404),
        ("bad-token", 401),
        ("no-token", 401),
    ] {
        let got = &report.statuses[kind];
        assert!(got.len() == 1 && got.contains_key(&status), "{kind}: {got:?}");
    }
    let stats = server.stats();
    assert_eq!(stats.clients.len(), 1);
    assert_eq!(stats.clients[0].images as usize, report.good * 8);
}
