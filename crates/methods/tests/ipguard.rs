//! IPGuard on the embedded digits: points converge, files reproduce, copies match, independent
//! models do not.

use mown_access::{AccessLevel, LocalModel};
use mown_adversary::Chain;
use mown_adversary::build::Builder;
use mown_methods::LabelProbe;
use mown_methods::ipguard::{IpGuard, IpGuardParams, ipguard_loss};
use mown_methods::{Fingerprint, Fingerprinter};
use mown_nn::TrainConfig;
use mown_nn::burn::prelude::Device;

fn builder() -> Builder {
    Builder::new(None, Device::flex(), TrainConfig { batch_size: 64, ..TrainConfig::default() })
}

/// An owner trained from `chain` (a root `train(...)` step) and its training images as seeds.
fn owner_and_seeds(chain: &str) -> (mown_nn::Model, std::sync::Arc<mown_data::Dataset>) {
    let mut b = builder();
    let chain: Chain = chain.parse().unwrap();
    let owner = b.build(&chain).unwrap().model;
    (owner, b.step_data(&chain.steps[0]).unwrap().owner)
}

#[test]
fn ipguard_separates_a_stolen_copy_from_an_independent_model() {
    let mut b = builder();
    let owner_chain: Chain = "train(arc-c,digits,seed=1,epochs=20,part=1/2)".parse().unwrap();
    let owner = b.build(&owner_chain).unwrap().model;
    let data = b.step_data(&owner_chain.steps[0]).unwrap();
    let params = IpGuardParams { n: 60, k: 5.0, seed: 3, ..IpGuardParams::default() };
    let fp = IpGuard(params.clone()).generate(&owner, &data.owner).unwrap();
    assert_eq!(fp.len(), 60);
    let converged = fp.stats["converged"].as_u64().unwrap();
    assert!(converged >= 54, "only {converged} of 60 points reached zero loss");
    assert!(fp.points.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // The owner agrees with its own fingerprint everywhere.
    let mut own = LocalModel::new(owner.clone(), AccessLevel::Labels, None);
    assert_eq!(fp.match_suspect(&mut own).unwrap().matching_rate, 1.0);

    let stolen = b.build(&owner_chain.then(&Chain::parse_attack("ftal(3)").unwrap())).unwrap().model;
    let independent = b.build(&"train(arc-c,digits,seed=9,epochs=20,part=2/2)".parse().unwrap()).unwrap().model;
    let rate = |m: mown_nn::Model| fp.match_suspect(&mut LocalModel::new(m, AccessLevel::Labels, None)).unwrap();
    let (s, i) = (rate(stolen), rate(independent));
    eprintln!("matching rate: stolen {}, independent {}", s.matching_rate, i.matching_rate);
    assert_eq!(s.queries, 60);
    assert!(s.matching_rate >= 0.8, "stolen copy matches only {}", s.matching_rate);
    assert!(s.matching_rate > i.matching_rate + 0.3, "stolen {} vs independent {}", s.matching_rate, i.matching_rate);
}

#[test]
fn same_seed_gives_an_identical_fingerprint_file() {
    let (owner, seeds) = owner_and_seeds("train(mlp,digits,seed=2,epochs=5)");
    let dir = tempfile::tempdir().unwrap();
    let params = IpGuardParams { n: 20, seed: 11, ..IpGuardParams::default() };
    let write = |name: &str, p: &IpGuardParams| {
        let mut fp = IpGuard(p.clone()).generate(&owner, &seeds).unwrap();
        fp.stats = serde_json::Value::Null; // wall time differs between runs
        let path = dir.path().join(name);
        fp.save(&path).unwrap();
        std::fs::read(&path).unwrap()
    };
    let a = write("a.json", &params);
    assert_eq!(a, write("b.json", &params));
    assert_ne!(a, write("c.json", &IpGuardParams { seed: 12, ..params.clone() }));
    let loaded = Fingerprint::load(&dir.path().join("a.json")).unwrap();
    assert_eq!(loaded.owner_sha256, mown_nn::io::model_sha256(&owner).unwrap());
    assert_eq!(loaded.method, "ipguard-TL");
}

#[test]
fn bad_fingerprints_and_mismatched_suspects_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fp.json");
    std::fs::write(&path, "{\"not\": \"a fingerprint\"}").unwrap();
    let err = Fingerprint::load(&path).unwrap_err().to_string();
    assert!(err.contains("not an evidence file"), "{err}");
    std::fs::write(&path, "{\"kind\": \"watermark-key\"}").unwrap();
    let err = Fingerprint::load(&path).unwrap_err().to_string();
    assert!(err.contains("is a watermark-key file, not a fingerprint"), "{err}");
    let (owner, seeds) = owner_and_seeds("train(mlp,digits,seed=2,epochs=1)");
    let mut fp =
        IpGuard(IpGuardParams { n: 5, iterations: 5, ..IpGuardParams::default() }).generate(&owner, &seeds).unwrap();
    fp.points.pop();
    fp.save(&path).unwrap();
    assert!(Fingerprint::load(&path).unwrap_err().to_string().contains("values for 5 points"));
    assert!(IpGuard(IpGuardParams { n: 0, ..IpGuardParams::default() }).generate(&owner, &seeds).is_err());
    let other: Chain = "train(mlp,fmnist,seed=2,epochs=1)".parse().unwrap();
    let _ = other; // a 28x28 suspect would need Fashion-MNIST; shape mismatch is checked below instead
    let mut fp2 =
        IpGuard(IpGuardParams { n: 5, iterations: 5, ..IpGuardParams::default() }).generate(&owner, &seeds).unwrap();
    fp2.num_classes = 7;
    let err = fp2.match_suspect(&mut LocalModel::new(owner, AccessLevel::Labels, None)).unwrap_err().to_string();
    assert!(err.contains("10 classes, the owner 7"), "{err}");
}

#[test]
fn oversampled_candidates_keep_only_converged_points() {
    let (owner, seeds) = owner_and_seeds("train(mlp,digits,seed=2,epochs=5)");
    // A short iteration budget leaves some of exactly n points unconverged ...
    let tight = IpGuardParams { n: 30, k: 5.0, iterations: 60, seed: 5, ..IpGuardParams::default() };
    let plain = IpGuard(tight.clone()).generate(&owner, &seeds).unwrap();
    let plain_converged = plain.stats["converged"].as_u64().unwrap();
    assert!(plain_converged < 30, "the budget was not tight: {plain_converged} of 30 converged");
    // ... while three candidates per point leave enough converged ones to fill the fingerprint.
    let over = IpGuard(IpGuardParams { candidates: 90, ..tight.clone() }).generate(&owner, &seeds).unwrap();
    assert_eq!(over.len(), 30);
    assert_eq!(over.stats["candidates"], 90);
    let over_converged = over.stats["converged"].as_u64().unwrap();
    eprintln!("converged: {plain_converged} of 30 without oversampling, {over_converged} of 30 with");
    assert_eq!(over_converged, 30, "{over_converged} vs {plain_converged} without oversampling");
    let mut own = LocalModel::new(owner.clone(), AccessLevel::Labels, None);
    assert_eq!(over.match_suspect(&mut own).unwrap().matching_rate, 1.0);
    let err = IpGuard(IpGuardParams { candidates: 10, ..tight }).generate(&owner, &seeds).unwrap_err();
    assert!(err.to_string().contains("candidates (10) must be 0 or at least n (30)"), "{err}");
}

#[test]
fn screened_start_points_converge_sooner() {
    let (owner, seeds) = owner_and_seeds("train(mlp,digits,seed=2,epochs=5)");
    let tight = IpGuardParams { n: 30, k: 5.0, iterations: 60, seed: 5, ..IpGuardParams::default() };
    let plain = IpGuard(tight.clone()).generate(&owner, &seeds).unwrap();
    let screened = IpGuard(IpGuardParams { screen: 300, ..tight.clone() }).generate(&owner, &seeds).unwrap();
    assert_eq!(screened.len(), 30);
    assert_eq!(screened.stats["screened"], 300);
    let converged = |fp: &mown_methods::Fingerprint| fp.stats["converged"].as_u64().unwrap();
    eprintln!("converged: {} of 30 from random start points, {} screened", converged(&plain), converged(&screened));
    assert!(converged(&screened) > converged(&plain), "{} vs {}", converged(&screened), converged(&plain));
    // Ranking keeps distinct start points, not copies of the closest image.
    let numel = seeds.shape.numel();
    let rows: Vec<&[f32]> = screened.points.chunks(numel).collect();
    for a in 0..rows.len() {
        for b in a + 1..rows.len() {
            assert_ne!(rows[a], rows[b], "points {a} and {b} are the same");
        }
    }
    // The same seed draws and ranks the same start points.
    let again = IpGuard(IpGuardParams { screen: 300, ..tight.clone() }).generate(&owner, &seeds).unwrap();
    assert_eq!(again.points, screened.points);
    let err = IpGuard(IpGuardParams { screen: 20, ..tight.clone() }).generate(&owner, &seeds).unwrap_err();
    assert!(err.to_string().contains("screen (20) must be 0 or at least"), "{err}");
    let err = IpGuard(IpGuardParams { screen: seeds.len() + 1, ..tight.clone() }).generate(&owner, &seeds).unwrap_err();
    assert!(err.to_string().contains("exceeds the"), "{err}");
    let random = IpGuardParams { screen: 300, target: mown_methods::ipguard::TargetRule::Random, ..tight.clone() };
    assert!(IpGuard(random).generate(&owner, &seeds).unwrap_err().to_string().contains("least-likely"));
    // Parameter files written before screening existed still load, as unscreened.
    let mut old = serde_json::to_value(&tight).unwrap();
    old.as_object_mut().unwrap().remove("screen");
    assert_eq!(serde_json::from_value::<IpGuardParams>(old).unwrap(), tight);
}

#[test]
fn generate_starts_from_the_public_candidates() {
    // bench/pytorch_ipguard.py is timed from `candidates()`: it must be exactly where `generate`
    // starts, and each point must move from the owner's label towards its least-likely one.
    let (owner, seeds) = owner_and_seeds("train(mlp,digits,seed=2,epochs=5)");
    let params = IpGuardParams { n: 30, k: 5.0, screen: 300, seed: 5, ..IpGuardParams::default() };
    let cand = IpGuard(params.clone()).candidates(&owner, &seeds).unwrap();
    let numel = seeds.shape.numel();
    assert_eq!((cand.i.len(), cand.j.len(), cand.screened, cand.points.len()), (30, 30, 300, 30 * numel));
    assert_eq!(cand.i, owner.predict(&cand.points).unwrap());
    let classes = owner.num_classes();
    let start_logits = owner.logits(&cand.points).unwrap();
    for (r, row) in start_logits.chunks(classes).enumerate() {
        let least = (0..classes).reduce(|a, b| if row[b] < row[a] { b } else { a });
        assert_eq!(Some(cand.j[r]), least, "row {r}");
    }
    // No iteration: the fingerprint is the candidates themselves (n equals their number).
    let unmoved = IpGuard(IpGuardParams { iterations: 0, ..params.clone() }).generate(&owner, &seeds).unwrap();
    assert_eq!(unmoved.points, cand.points);
    assert_eq!(unmoved.stats["gradient_evaluations"], 0);
    // One iteration pushes every candidate through one backward pass.
    let one = IpGuard(IpGuardParams { iterations: 1, ..params.clone() }).generate(&owner, &seeds).unwrap();
    assert_eq!(one.stats["gradient_evaluations"], 30);
    assert_ne!(one.points, cand.points, "one Adam step moved no point");
    // Screening keeps the 30 lowest initial losses of the 300 drawn, so even the worst kept one
    // (about the 10th percentile) lies below the median of an unscreened draw of 300.
    let loss = |logits: &[f32], i: &[usize], j: &[usize]| -> Vec<f32> {
        logits.chunks(classes).zip(i.iter().zip(j)).map(|(row, (&i, &j))| ipguard_loss(row, i, j, 5.0)).collect()
    };
    let kept = loss(&start_logits, &cand.i, &cand.j);
    let all =
        IpGuard(IpGuardParams { candidates: 300, screen: 0, ..params.clone() }).candidates(&owner, &seeds).unwrap();
    let mut drawn = loss(&owner.logits(&all.points).unwrap(), &all.i, &all.j);
    drawn.sort_by(f32::total_cmp);
    let worst_kept = kept.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!(worst_kept <= drawn[150], "kept a start point with loss {worst_kept}, median drawn {}", drawn[150]);
}
