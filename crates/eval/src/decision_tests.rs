use super::*;

fn counts(matches: usize, n: usize) -> Measurement {
    Measurement::Counts { matches, n }
}

fn negs(hits: &[usize], n: usize, families: &[&str]) -> Vec<NegativeScore> {
    hits.iter()
        .enumerate()
        .map(|(i, &h)| NegativeScore {
            name: format!("indep-{i}"),
            family: families.get(i % families.len().max(1)).map(|f| f.to_string()),
            measurement: counts(h, n),
        })
        .collect()
}

fn ipguard() -> MethodTraits {
    MethodTraits { method: "ipguard-TL".into(), direction: Direction::Higher, chance_rate: None, architecture: None }
}

fn run(suspect: &Measurement, negatives: &[NegativeScore], policy: &Policy) -> Verdict {
    decide(&ipguard(), "suspect", suspect, negatives, policy, 100, serde_json::Value::Null).unwrap()
}

#[test]
fn a_copy_against_enough_diverse_negatives_is_stolen() {
    let hits: Vec<usize> = (0..100).map(|i| i % 20).collect();
    let v = run(&counts(97, 100), &negs(&hits, 100, &["mlp", "lenet5", "arc-a"]), &Policy::default());
    assert_eq!(v.decision, Decision::Stolen, "{v}");
    // Three families that score alike: the unseen-family bound (0.50) is above the pooled
    // threshold and still far below a copy.
    let t = v.threshold.as_ref().unwrap();
    let ThresholdSource::NewFamily { pooled_source, bound, .. } = &t.source else { panic!("{v}") };
    assert!(matches!(**pooled_source, ThresholdSource::Calibrated { negatives: 100, .. }), "{v}");
    assert_eq!(bound.families, 3);
    assert!(t.value > 0.4 && t.value < 0.6, "{v}");
    assert!(v.p_value.unwrap() < 1e-10 && !v.other_p_values.is_empty(), "{v}");
    assert!(v.warnings.is_empty(), "{v}");
    let text = v.to_string();
    assert!(text.starts_with("VERDICT: STOLEN (ipguard-TL score 0.9700 >= threshold"), "{text}");
    assert!(text.contains("< alpha 0.05") && text.contains("3 families (arc-a, lenet5, mlp)"), "{text}");
}

#[test]
fn above_the_threshold_without_significance_is_inconclusive() {
    // IPGuard at k = 30 on the digits: every model matches 0.99-1.00 (issue #25).
    let v =
        run(&counts(100, 100), &negs(&[99, 100, 99, 100, 99], 100, &["mlp", "lenet5", "arc-a"]), &Policy::default());
    assert_eq!(v.decision, Decision::Inconclusive, "{v}");
    assert!(v.p_value.unwrap() > 0.05, "{v}");
    assert!(v.warnings.iter().any(|w| w.contains("cannot tell")), "{v}");
    assert!(v.reasons.iter().any(|r| r.contains("reach the top")), "{v}");
}

#[test]
fn two_negatives_and_no_chance_rate_is_never_stolen() {
    // Two CNN negatives at 0.18-0.22, a scikit-learn MLP at 0.37 and a copy at 1.0.
    for k in [37, 100] {
        let v = run(&counts(k, 100), &negs(&[18, 22], 100, &["lenet5", "arc-a"]), &Policy::default());
        assert_eq!(v.decision, Decision::Inconclusive, "{v}");
        assert!(v.threshold.is_none(), "{v}");
        assert!(v.reasons.iter().any(|r| r.contains("fit a null (that needs 3)")), "{v}");
        assert!(v.warnings.iter().any(|w| w.contains("only 2 independent")), "{v}");
    }
}

#[test]
fn a_few_negatives_get_a_fitted_threshold_and_a_family_warning() {
    let unbounded = Policy { family_bound: false, ..Policy::default() };
    let two = negs(&[18, 22, 20, 15, 25], 100, &["lenet5", "arc-a"]);
    let v = run(&counts(90, 100), &two, &unbounded);
    let t = v.threshold.as_ref().unwrap();
    assert!(matches!(t.source, ThresholdSource::FittedNull { negatives: 5, .. }), "{v}");
    assert!(t.value > 0.25 && t.value < 0.9, "{v}");
    assert!(t.describe().contains("too few to calibrate"), "{}", t.describe());
    assert_eq!(v.decision, Decision::Stolen, "{v}");
    assert!(v.warnings.iter().any(|w| w.contains("span 2 architecture families")), "{v}");
    // Two families cannot say what a third reaches (Student t with 1 degree of freedom): no rate
    // passes, and the verdict says why.
    let v = run(&counts(90, 100), &two, &Policy::default());
    assert_eq!(v.decision, Decision::Inconclusive, "{v}");
    assert!(v.reasons.iter().any(|r| r.contains("for a model of a family they lack")), "{v}");
    // Three families: the bound (about 0.52) lets a copy through.
    let v = run(&counts(90, 100), &negs(&[18, 22, 20, 15, 25], 100, &["lenet5", "arc-a", "mlp"]), &Policy::default());
    assert_eq!(v.decision, Decision::Stolen, "{v}");
    assert!(v.threshold.as_ref().unwrap().describe().contains("3 families"), "{v}");
    // A negative-like score is not stolen.
    let v = run(&counts(21, 100), &negs(&[18, 22, 20, 15, 25], 100, &["lenet5", "arc-a", "mlp"]), &Policy::default());
    assert_eq!(v.decision, Decision::NotStolen, "{v}");
}

#[test]
fn a_model_of_a_family_the_negatives_lack_is_not_accused() {
    // The digits of docs/results/sac-akh-digits.txt: 12 mown negatives of 3 families match
    // 0.08-0.29 of IPGuard's points, independent scikit-learn MLPs 0.45-0.53.
    let hits = [8, 15, 20, 12, 29, 22, 18, 25, 10, 27, 21, 30];
    let negatives = negs(&hits, 100, &["mlp", "lenet", "arc-cnn"]);
    let pooled = run(&counts(53, 100), &negatives, &Policy { family_bound: false, ..Policy::default() });
    assert_eq!(pooled.decision, Decision::Stolen, "{pooled}");
    let v = run(&counts(53, 100), &negatives, &Policy::default());
    assert_eq!(v.decision, Decision::Inconclusive, "{v}");
    assert!(v.threshold.as_ref().unwrap().value > 0.53, "{v}");
    // A copy still is.
    assert_eq!(run(&counts(100, 100), &negatives, &Policy::default()).decision, Decision::Stolen);
}

#[test]
fn negatives_at_zero_give_a_null_that_is_not_zero() {
    let v = run(&counts(1, 100), &negs(&[0, 0, 0, 0], 100, &["mlp", "lenet5", "arc-a"]), &Policy::default());
    let p = v.p_value.unwrap();
    assert!(p > 1e-3 && p < 1.0, "{v}"); // one match is not proof, and no underflow
    assert!(v.to_string().contains("smoothed by half a match"), "{v}");
    assert_ne!(v.decision, Decision::Stolen, "{v}");
}

#[test]
fn a_chance_rate_decides_without_negatives() {
    let wm = MethodTraits {
        method: "margin-watermark".into(),
        direction: Direction::Higher,
        chance_rate: Some(1.0 / 9.0),
        architecture: None,
    };
    let policy = Policy::default();
    let v = decide(&wm, "copy", &counts(60, 100), &[], &policy, 100, serde_json::Value::Null).unwrap();
    assert_eq!(v.decision, Decision::Stolen, "{v}");
    assert!(matches!(v.threshold.as_ref().unwrap().source, ThresholdSource::ChanceNull { .. }));
    let v = decide(&wm, "indep", &counts(12, 100), &[], &policy, 100, serde_json::Value::Null).unwrap();
    assert_eq!(v.decision, Decision::NotStolen, "{v}");
    assert_eq!(v.negatives.count, 0);
}

#[test]
fn bad_inputs_are_errors() {
    let bad_alpha = Policy { alpha: 0.0, ..Policy::default() };
    assert!(decide(&ipguard(), "s", &counts(1, 10), &[], &bad_alpha, 0, serde_json::Value::Null).is_err());
    let err = decide(
        &ipguard(),
        "s",
        &counts(5, 10),
        &negs(&[1, 2, 3], 20, &["mlp"]),
        &Policy::default(),
        0,
        serde_json::Value::Null,
    )
    .unwrap_err();
    assert!(err.to_string().contains("the suspect was asked 10"), "{err}");
    assert!(decide(&ipguard(), "s", &counts(11, 10), &[], &Policy::default(), 0, serde_json::Value::Null).is_err());
}

fn samples(values: &[f64]) -> Measurement {
    Measurement::Samples { values: values.to_vec() }
}

fn sample_negs(center: f64, models: usize) -> Vec<NegativeScore> {
    (0..models)
        .map(|m| NegativeScore {
            name: format!("hom-{m}"),
            family: Some(["arc-b", "arc-c", "arc-d"][m % 3].into()),
            measurement: samples(&(0..20).map(|i| center + 0.01 * ((i * 7 + m * 3) % 11) as f64).collect::<Vec<_>>()),
        })
        .collect()
}

#[test]
fn samples_are_decided_by_welch_and_the_threshold() {
    let uap =
        MethodTraits { method: "uap".into(), direction: Direction::Higher, chance_rate: None, architecture: None };
    let copy: Vec<f64> = (0..20).map(|i| 0.9 + 0.005 * (i % 5) as f64).collect();
    let policy = Policy { resampling: Some(Resampling { draws: 30, size: 20, seed: 7 }), ..Policy::default() };
    let v =
        decide(&uap, "copy", &samples(&copy), &sample_negs(0.1, 5), &policy, 4000, serde_json::Value::Null).unwrap();
    assert_eq!(v.decision, Decision::Stolen, "{v}");
    let e = v.effect_size.as_ref().unwrap();
    assert!(e["delta_mu"].as_f64().unwrap() > 0.7 && e["draws"] == 30, "{v}");
    assert!(v.p_value_null.as_deref().unwrap().contains("2 x mean p"), "{v}");
    // Same seed, same verdict; an innocent model is not stolen.
    let again =
        decide(&uap, "copy", &samples(&copy), &sample_negs(0.1, 5), &policy, 4000, serde_json::Value::Null).unwrap();
    assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(&v).unwrap());
    let innocent: Vec<f64> = (0..20).map(|i| 0.1 + 0.01 * (i % 9) as f64).collect();
    let v = decide(&uap, "indep", &samples(&innocent), &sample_negs(0.1, 5), &policy, 4000, serde_json::Value::Null)
        .unwrap();
    assert_eq!(v.decision, Decision::NotStolen, "{v}");
}

#[test]
fn lower_is_copy_for_distances() {
    let dist =
        MethodTraits { method: "distance".into(), direction: Direction::Lower, chance_rate: None, architecture: None };
    let close: Vec<f64> = (0..20).map(|i| 0.01 + 0.001 * (i % 4) as f64).collect();
    let v =
        decide(&dist, "copy", &samples(&close), &sample_negs(0.5, 4), &Policy::default(), 0, serde_json::Value::Null)
            .unwrap();
    assert_eq!(v.decision, Decision::Stolen, "{v}");
    let t = v.threshold.as_ref().unwrap();
    assert_eq!(t.direction, Direction::Lower);
    assert!(t.value < 0.55 && t.describe().contains("just below"), "{}", t.describe());
    assert!(v.to_string().contains("<= threshold"), "{v}");
    let far: Vec<f64> = close.iter().map(|d| d + 0.8).collect();
    let v = decide(&dist, "far", &samples(&far), &sample_negs(0.5, 4), &Policy::default(), 0, serde_json::Value::Null)
        .unwrap();
    assert_eq!(v.decision, Decision::NotStolen, "{v}");
}

#[test]
fn the_unseen_family_bound_lowers_a_distance_threshold() {
    // Distances (lower = copy) of three families centred at 0.3, 0.4 and 0.5: the bound lies
    // below the pooled threshold (just below the lowest negative), on the copy side.
    let dist =
        MethodTraits { method: "distance".into(), direction: Direction::Lower, chance_rate: None, architecture: None };
    let mut negatives = Vec::new();
    for (f, centre) in [("mlp", 0.3), ("lenet", 0.4), ("arc-cnn", 0.5)] {
        for m in 0..2 {
            let values: Vec<f64> = (0..10).map(|i| centre + 0.01 * ((i + m) % 3) as f64).collect();
            negatives.push(NegativeScore {
                name: format!("{f}-{m}"),
                family: Some(f.into()),
                measurement: samples(&values),
            });
        }
    }
    let copy: Vec<f64> = (0..10).map(|i| 0.2 + 0.001 * i as f64).collect();
    let v = decide(&dist, "copy", &samples(&copy), &negatives, &Policy::default(), 0, serde_json::Value::Null).unwrap();
    let t = v.threshold.as_ref().unwrap();
    let ThresholdSource::NewFamily { pooled, .. } = &t.source else { panic!("{v}") };
    assert!(t.value < *pooled && *pooled < 0.31, "{v}");
    // 0.2 passes the pooled threshold (just below 0.3) but not the bound: INCONCLUSIVE, and why.
    assert!(t.value < 0.2, "{v}");
    assert_eq!(v.decision, Decision::Inconclusive, "{v}");
    assert!(v.reasons.iter().any(|r| r.contains("for a model of a family they lack")), "{v}");
    let pooled_only = Policy { family_bound: false, ..Policy::default() };
    let v = decide(&dist, "copy", &samples(&copy), &negatives, &pooled_only, 0, serde_json::Value::Null).unwrap();
    assert_eq!(v.decision, Decision::Stolen, "{v}");
}

#[test]
fn negatives_of_one_family_cannot_make_a_suspect_stolen() {
    let v =
        run(&counts(95, 100), &negs(&(0..100).map(|i| i % 20).collect::<Vec<_>>(), 100, &["mlp"]), &Policy::default());
    assert_eq!(v.decision, Decision::Inconclusive, "{v}");
    assert!(v.reasons.iter().any(|r| r.contains("all of one family (mlp)")), "{v}");
}

#[test]
fn samples_with_too_few_negatives_are_inconclusive() {
    let uap =
        MethodTraits { method: "uap".into(), direction: Direction::Higher, chance_rate: None, architecture: None };
    let copy: Vec<f64> = (0..20).map(|i| 0.9 + 0.005 * (i % 5) as f64).collect();
    let v = decide(&uap, "copy", &samples(&copy), &sample_negs(0.1, 2), &Policy::default(), 0, serde_json::Value::Null)
        .unwrap();
    assert_eq!(v.decision, Decision::Inconclusive, "{v}");
    let v = decide(&uap, "copy", &samples(&copy), &[], &Policy::default(), 0, serde_json::Value::Null).unwrap();
    assert_eq!(v.decision, Decision::Inconclusive, "{v}");
    assert!(
        decide(&uap, "x", &samples(&[f64::NAN, 1.0]), &[], &Policy::default(), 0, serde_json::Value::Null).is_err()
    );
}
