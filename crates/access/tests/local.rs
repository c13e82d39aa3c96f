//! A local model behind the query interface counts queries, enforces its budget and level, and
//! validates inputs.

use mown_access::{AccessError, AccessLevel, Answer, LocalModel, QueryModel};
use mown_data::{ImageShape, Normalization};
use mown_nn::burn::prelude::Device;
use mown_nn::{Arch, Model, ModelMeta, ModelSpec};

fn model() -> Model {
    let shape = ImageShape { channels: 1, height: 8, width: 8 };
    let spec = ModelSpec::new(Arch::Mlp, shape, 10).unwrap();
    let meta = ModelMeta::new(spec, Normalization::identity(1), (0..10).map(|i| i.to_string()).collect()).unwrap();
    Model::init(meta, &Device::flex(), 1)
}

#[test]
fn counts_queries_and_refuses_past_the_budget() {
    let m = model();
    let images = vec![0.3f32; 5 * 64];
    let expected = m.predict(&images).unwrap();
    let mut api = LocalModel::new(m, AccessLevel::Probabilities, Some(12));
    assert_eq!(api.labels(&images).unwrap(), expected);
    let Answer::Probabilities(p) = api.query(&images, AccessLevel::Probabilities).unwrap() else { panic!() };
    assert_eq!(p.len(), 50);
    assert_eq!(api.queries_used(), 10);
    let err = api.query(&images, AccessLevel::Labels).unwrap_err();
    assert!(matches!(err, AccessError::BudgetExceeded { budget: 12, used: 10, requested: 5 }), "{err}");
    assert_eq!(api.queries_used(), 10, "a refused query is not charged");
}

#[test]
fn reveals_no_more_than_its_level_and_rejects_bad_input() {
    let mut api = LocalModel::new(model(), AccessLevel::TopK(3), None);
    let images = vec![0.3f32; 2 * 64];
    assert!(
        matches!(api.query(&images, AccessLevel::TopK(3)).unwrap(), Answer::TopK(r) if r.len() == 2 && r[0].len() == 3)
    );
    assert!(matches!(api.query(&images, AccessLevel::Probabilities), Err(AccessError::LevelUnavailable { .. })));
    assert!(api.query(&images[..100], AccessLevel::Labels).unwrap_err().to_string().contains("100 values"));
    let mut nan = images.clone();
    nan[0] = f32::NAN;
    assert!(api.query(&nan, AccessLevel::Labels).unwrap_err().to_string().contains("NaN"));
    assert_eq!(api.queries_used(), 2, "refused and invalid queries are not charged");
}
