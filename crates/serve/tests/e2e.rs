//! The whole dispute over loopback HTTP: a thief fine-tunes the owner's model and sells it as an
//! API; a second thief extracts a copy through that API; the owner fingerprints their model
//! (IPGuard) and verifies both copies through their own APIs. Neither thief nor owner touches
//! weights they should not have: everything after serving goes through `HttpModel`.

use mown_access::{AccessLevel, HttpModel, HttpOptions, LocalModel, QueryModel, SuspectOptions, open_suspect};
use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_adversary::extract::{ExtractConfig, extract};
use mown_methods::ipguard::{IpGuard, IpGuardParams};
use mown_methods::verify::{Identity, Negative, verify};
use mown_methods::{Fingerprinter, LabelProbe};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, TrainConfig};
use mown_serve::{RunningServer, ServeConfig, spawn_background};

fn serve(model: &Model, level: AccessLevel, token: &str) -> RunningServer {
    let config = ServeConfig { port: 0, level, tokens: vec![token.into()], ..ServeConfig::default() };
    spawn_background(config, model.clone()).unwrap()
}

#[test]
fn extract_through_the_api_then_verify_the_copy_through_its_api() {
    let t0 = std::time::Instant::now();
    let base = TrainConfig { batch_size: 64, ..TrainConfig::default() };
    let mut b = Builder::new(None, Device::flex(), base.clone());
    let owner_chain: Chain = "train(arc-c,digits,seed=1,epochs=20,part=1/2)".parse().unwrap();
    let owner = b.build(&owner_chain).unwrap().model;
    let data = b.step_data(&owner_chain.steps[0]).unwrap();
    let stolen = b.build(&owner_chain.then(&Chain::parse_attack("ftal(3)").unwrap())).unwrap().model;
    let independent = b.build(&"train(arc-c,digits,seed=9,epochs=20,part=2/2)".parse().unwrap()).unwrap().model;
    eprintln!("trained owner, stolen, independent: {:.1}s", t0.elapsed().as_secs_f64());

    // The fine-tuned copy, sold as an API that reveals probabilities.
    let api = serve(&stolen, AccessLevel::Probabilities, "paying-customer");
    let opts = HttpOptions {
        token: Some("paying-customer".into()),
        budget: Some(800),
        batch_size: 64,
        ..HttpOptions::new(api.url())
    };
    let mut victim = HttpModel::connect(opts).unwrap();
    // The API answers exactly as the model file does.
    let x = &data.test.images()[..100 * 64];
    let mut local = LocalModel::new(stolen.clone(), AccessLevel::Probabilities, None);
    assert_eq!(victim.labels(x).unwrap(), local.labels(x).unwrap());
    assert_eq!(victim.queries_used(), 100);

    let cfg = ExtractConfig {
        student: Arch::ArcC,
        level: AccessLevel::Probabilities,
        budget: 700,
        train: TrainConfig { epochs: 20, seed: 7, ..base },
        device: Device::flex(),
        temperature: 1.0,
        mix: 0,
    };
    let copy = extract(&mut victim, &data.attacker, &cfg).unwrap();
    assert_eq!((copy.queries_used, victim.queries_used()), (700, 800));
    assert_eq!(api.stats().clients[0].images, 800, "the server counted what the client was charged");
    assert!(victim.query(&x[..64], AccessLevel::Labels).is_err(), "the client-side budget is spent");
    let fidelity = copy.model.agreement(&stolen, data.test.images()).unwrap();
    eprintln!("extracted through HTTP: fidelity {fidelity:.3} ({:.1}s)", t0.elapsed().as_secs_f64());
    assert!(fidelity > 0.85, "fidelity {fidelity}");
    drop(api);

    // The owner fingerprints their model and queries each suspect's labels-only API.
    let fp = IpGuard(IpGuardParams { n: 60, k: 5.0, seed: 3, ..IpGuardParams::default() })
        .generate(&owner, &data.owner)
        .unwrap();
    let suspect = SuspectOptions { token: Some("owner".into()), ..SuspectOptions::new(AccessLevel::Labels) };
    let rate = |model: &Model| {
        let server = serve(model, AccessLevel::Labels, "owner");
        let mut remote = open_suspect(&server.url(), &suspect, &Device::flex()).unwrap();
        let over_http = fp.match_suspect(&mut *remote).unwrap();
        let in_process = fp.match_suspect(&mut LocalModel::new(model.clone(), AccessLevel::Labels, None)).unwrap();
        assert_eq!(over_http.matches, in_process.matches, "HTTP and local suspects disagree");
        assert_eq!(server.stats().clients[0].images, 60);
        over_http.matching_rate
    };
    let (copy_rate, stolen_rate, independent_rate) = (rate(&copy.model), rate(&stolen), rate(&independent));
    eprintln!(
        "matching rates over HTTP: extracted {copy_rate:.3}, fine-tuned {stolen_rate:.3}, independent {independent_rate:.3} \
         ({:.1}s in all)",
        t0.elapsed().as_secs_f64()
    );
    assert!(stolen_rate > independent_rate + 0.3, "fine-tuned {stolen_rate} vs independent {independent_rate}");
    // IPGuard does not catch extraction: the copy learns the victim's labels on the data, not its
    // decision boundary, where the fingerprint points lie. Measured on these models (n = 60-200
    // points): extracted arc-c 0.43 (probs) / 0.42 (labels) against 0.65 for the independent
    // arc-c, and likewise for CW-L2, FGSM, IGSM, random points and k = 2..50. So the copy's
    // verdict is checked for consistency only; separation is asserted for the fine-tuned API.

    // Verdicts through each API, judged against independent models of three families (the
    // arc-c above, an MLP and a LeNet-5 on the other half of the data).
    let mut negatives: Vec<(String, Model)> = vec![("independent arc-c".into(), independent.clone())];
    for chain in ["train(mlp,digits,seed=11,epochs=10,part=2/2)", "train(lenet5,digits,seed=12,epochs=10,part=2/2)"] {
        negatives.push((chain.into(), b.build(&chain.parse().unwrap()).unwrap().model));
    }
    for (model, rate, stolen_expected) in [(&stolen, stolen_rate, Some(true)), (&copy.model, copy_rate, None)] {
        let server = serve(model, AccessLevel::Labels, "owner");
        let mut remote = open_suspect(&server.url(), &suspect, &Device::flex()).unwrap();
        let mut negs: Vec<Negative> = negatives
            .iter()
            .map(|(name, m)| Negative {
                name: name.clone(),
                family: Some(m.meta.spec.arch.family().into()),
                sha256: Some(mown_nn::io::model_sha256(m).unwrap()),
                model: Box::new(LocalModel::new(m.clone(), AccessLevel::Labels, None)),
            })
            .collect();
        // Three small negatives, one per family, spread too far (0.2-0.6) to bound an unseen
        // family: this test is about the API path, so it decides on the pooled calibration.
        let policy = mown_eval::Policy { family_bound: false, ..mown_eval::Policy::default() };
        let verdict = verify(&fp, &mut *remote, &Identity::default(), &mut negs, &policy).unwrap();
        eprintln!("{verdict}");
        assert!(verdict.suspect.contains(&server.url()) && verdict.queries == 60, "{verdict}");
        assert_eq!(verdict.score, rate);
        assert_eq!(verdict.negatives.count, 3);
        if let Some(expected) = stolen_expected {
            assert_eq!(verdict.is_stolen(), expected, "{verdict}");
        }
    }
}
