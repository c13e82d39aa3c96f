//! The UCI optical-recognition digits (8x8, 1797 images), compiled into the
//! binary through smartcore, so the whole pipeline can be exercised with no
//! download at all.

use crate::dataset::{Dataset, ImageShape};
use crate::error::DataError;

/// Intensities in the UCI file are counts of set pixels in a 4x4 block.
const MAX_INTENSITY: f32 = 16.0;

/// Loads the embedded digits set: shape 1x8x8, classes "0".."9", values
/// divided by 16 into `[0, 1]`. Only smartcore's `data` and `target` are
/// used; its `feature_names`/`target_names` belong to another data set.
pub fn digits() -> Result<Dataset, DataError> {
    let raw = smartcore::dataset::digits::load_dataset();
    let shape = ImageShape::new(1, 8, 8);
    if raw.num_features != shape.numel() || raw.data.len() != raw.num_samples * shape.numel() {
        return Err(DataError::ShapeMismatch {
            what: "embedded digits data".into(),
            expected: format!("{} samples x 64 features", raw.num_samples),
            found: format!("{} features, {} values", raw.num_features, raw.data.len()),
        });
    }
    let mut labels = Vec::with_capacity(raw.target.len());
    for &t in &raw.target {
        if !((0.0..10.0).contains(&t) && t.fract() == 0.0) {
            return Err(DataError::InvalidArgument(format!("embedded digits data: bad target {t}")));
        }
        labels.push(t as usize);
    }
    let images = raw.data.iter().map(|&v| (v / MAX_INTENSITY).clamp(0.0, 1.0)).collect();
    let names = (0..10).map(|d| d.to_string()).collect();
    Dataset::new("digits", shape, 10, names, images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_counts_and_range() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.shape, ImageShape::new(1, 8, 8));
        assert_eq!(d.class_counts(), vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        assert!(d.images().iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(d.images().contains(&1.0));
        // every image has some ink
        assert!((0..d.len()).all(|i| d.image(i).iter().any(|&v| v > 0.0)));
        assert_eq!(d.class_names[3], "3");
        // The first UCI digit is a 0: its border columns are blank
        assert_eq!(d.labels()[0], 0);
        // UCI row 0 starts 0, 0, 5, 13, 9, 1, 0, 0 (images are row-major)
        assert_eq!(d.image(0)[..8], [0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0, 9.0 / 16.0, 1.0 / 16.0, 0.0, 0.0]);
    }
}
