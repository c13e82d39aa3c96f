//! CIFAR-10 / CIFAR-100 in the "binary version" layout of
//! <https://www.cs.toronto.edu/~kriz/cifar.html>: fixed-size records of
//! label byte(s) followed by 3072 pixel bytes (1024 R, 1024 G, 1024 B,
//! each row-major 32x32), i.e. already CHW.

use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, ImageShape, Split};
use crate::error::{DataError, read_bytes};

const SHAPE: ImageShape = ImageShape::new(3, 32, 32);

pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// CIFAR-100 fine labels, in label order.
#[rustfmt::skip]
pub const CIFAR100_CLASSES: [&str; 100] = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
];

/// Which CIFAR binary layout a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CifarVariant {
    /// 1 label byte per record.
    Cifar10,
    /// A coarse (20 super-classes) then a fine (100 classes) label byte; we
    /// use the fine label.
    Cifar100,
}

impl CifarVariant {
    fn label_bytes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 1,
            CifarVariant::Cifar100 => 2,
        }
    }

    pub fn num_classes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 10,
            CifarVariant::Cifar100 => 100,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "cifar10",
            CifarVariant::Cifar100 => "cifar100",
        }
    }

    pub fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            CifarVariant::Cifar10 => &CIFAR10_CLASSES,
            CifarVariant::Cifar100 => &CIFAR100_CLASSES,
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    fn record_len(self) -> usize {
        self.label_bytes() + SHAPE.numel()
    }
}

/// Reads and concatenates CIFAR binary files (e.g. the five training
/// batches). Named `"cifar10"` / `"cifar100"`.
pub fn cifar_binary(paths: &[PathBuf], variant: CifarVariant) -> Result<Dataset, DataError> {
    let rec = variant.record_len();
    let classes = variant.num_classes();
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        let bytes = read_bytes(path)?;
        if bytes.is_empty() {
            return Err(DataError::Empty { what: format!("CIFAR file {}", path.display()) });
        }
        if bytes.len() % rec != 0 {
            return Err(DataError::Truncated {
                path: path.clone(),
                expected_bytes: bytes.len().div_ceil(rec) as u64 * rec as u64,
                found_bytes: bytes.len() as u64,
            });
        }
        images.reserve(bytes.len() / rec * SHAPE.numel());
        for (k, record) in bytes.chunks_exact(rec).enumerate() {
            let (head, pixels) = record.split_at(variant.label_bytes());
            let out_of_range = |label: u8, n: usize| DataError::LabelOutOfRange {
                what: format!("{} record {k}", path.display()),
                label: label.into(),
                num_classes: n,
            };
            if variant == CifarVariant::Cifar100 && usize::from(head[0]) >= 20 {
                return Err(out_of_range(head[0], 20));
            }
            let label = head[head.len() - 1];
            if usize::from(label) >= classes {
                return Err(out_of_range(label, classes));
            }
            labels.push(usize::from(label));
            images.extend(pixels.iter().map(|&p| f32::from(p) / 255.0));
        }
    }
    if labels.is_empty() {
        return Err(DataError::Empty { what: format!("{} (no files given)", variant.name()) });
    }
    Dataset::new(variant.name(), SHAPE, classes, variant.class_names(), images, labels)
}

/// Picks `sub` inside `dir` when the user pointed at the extraction parent.
fn resolve(dir: &Path, sub: &str, probe: &str) -> PathBuf {
    let nested = dir.join(sub);
    if !dir.join(probe).is_file() && nested.join(probe).is_file() { nested } else { dir.to_path_buf() }
}

fn existing(files: Vec<PathBuf>, variant: CifarVariant) -> Result<Vec<PathBuf>, DataError> {
    if let Some(missing) = files.iter().find(|p| !p.is_file()) {
        let archive = match variant {
            CifarVariant::Cifar10 => "cifar-10-binary.tar.gz",
            CifarVariant::Cifar100 => "cifar-100-binary.tar.gz",
        };
        return Err(DataError::NotFound {
            what: format!("{} file {}", variant.name(), missing.display()),
            hint: format!(
                "download https://www.cs.toronto.edu/~kriz/{archive}, extract it and pass \
                 the extracted folder"
            ),
        });
    }
    Ok(files)
}

/// Loads the official CIFAR-10 split from a `cifar-10-batches-bin` folder
/// (`data_batch_1..5.bin` / `test_batch.bin`), or from its parent. Named
/// `cifar10/train` or `cifar10/test`.
pub fn cifar10_dir(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let dir = resolve(dir, "cifar-10-batches-bin", "test_batch.bin");
    let files = match split {
        Split::Train => (1..=5).map(|k| dir.join(format!("data_batch_{k}.bin"))).collect(),
        Split::Test => vec![dir.join("test_batch.bin")],
    };
    let mut d = cifar_binary(&existing(files, CifarVariant::Cifar10)?, CifarVariant::Cifar10)?;
    d.name = format!("cifar10/{}", split.as_str());
    Ok(d)
}

/// Loads the official CIFAR-100 split from a `cifar-100-binary` folder
/// (`train.bin` / `test.bin`), or from its parent.
pub fn cifar100_dir(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let dir = resolve(dir, "cifar-100-binary", "test.bin");
    let files = vec![dir.join(format!("{}.bin", split.as_str()))];
    let mut d = cifar_binary(&existing(files, CifarVariant::Cifar100)?, CifarVariant::Cifar100)?;
    d.name = format!("cifar100/{}", split.as_str());
    Ok(d)
}

/// Writes a 3x32x32 dataset in CIFAR binary form. Pixels are rounded to the
/// nearest of 256 levels (clamped to `[0, 1]`), so data read from a CIFAR
/// file round-trips exactly. For CIFAR-100 the coarse byte is written as 0:
/// a `Dataset` carries only the fine label.
pub fn write_cifar_binary(path: &Path, dataset: &Dataset, variant: CifarVariant) -> Result<(), DataError> {
    if dataset.shape != SHAPE {
        return Err(DataError::ShapeMismatch {
            what: format!("writing {} as CIFAR", dataset.name),
            expected: SHAPE.to_string(),
            found: dataset.shape.to_string(),
        });
    }
    let mut out = Vec::with_capacity(dataset.len() * variant.record_len());
    for (i, &label) in dataset.labels().iter().enumerate() {
        let label = u8::try_from(label).ok().filter(|&l| usize::from(l) < variant.num_classes()).ok_or_else(|| {
            DataError::LabelOutOfRange {
                what: format!("writing {} example {i}", dataset.name),
                label,
                num_classes: variant.num_classes(),
            }
        })?;
        if variant == CifarVariant::Cifar100 {
            out.push(0);
        }
        out.push(label);
        out.extend(dataset.image(i).iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
    }
    std::fs::write(path, out).map_err(|e| DataError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(n: usize, classes: usize) -> Dataset {
        let images = (0..n * SHAPE.numel()).map(|k| ((k * 7 + k / 3) % 256) as f32 / 255.0);
        let labels = (0..n).map(|i| (i * 3) % classes).collect();
        let names = (0..classes).map(|c| format!("c{c}")).collect();
        Dataset::new("gen", SHAPE, classes, names, images.collect(), labels).unwrap()
    }

    #[test]
    fn class_name_tables() {
        let mut names = CIFAR100_CLASSES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 100);
        assert_eq!(CIFAR100_CLASSES[49], "mountain");
        assert_eq!(CIFAR10_CLASSES[3], "cat");
    }

    #[test]
    fn cifar10_round_trip_and_errors() {
        let t = tempfile::tempdir().unwrap();
        let d = generated(7, 10);
        let p = t.path().join("b.bin");
        write_cifar_binary(&p, &d, CifarVariant::Cifar10).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 7 * 3073);
        let back = cifar_binary(std::slice::from_ref(&p), CifarVariant::Cifar10).unwrap();
        assert_eq!(back.images(), d.images());
        assert_eq!(back.labels(), d.labels());
        assert_eq!(back.class_names[0], "airplane");
        let two = cifar_binary(&[p.clone(), p.clone()], CifarVariant::Cifar10).unwrap();
        assert_eq!(two.len(), 14);

        let mut bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
        let e = cifar_binary(std::slice::from_ref(&p), CifarVariant::Cifar10).unwrap_err();
        assert!(matches!(e, DataError::Truncated { expected_bytes: 21511, found_bytes: 21411, .. }), "{e}");
        bytes[3073] = 10; // label of record 1
        std::fs::write(&p, &bytes).unwrap();
        let e = cifar_binary(std::slice::from_ref(&p), CifarVariant::Cifar10).unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { label: 10, num_classes: 10, .. }), "{e}");
        assert!(e.to_string().contains("record 1"));
        std::fs::write(&p, b"").unwrap();
        let e = cifar_binary(std::slice::from_ref(&p), CifarVariant::Cifar10).unwrap_err();
        assert!(matches!(e, DataError::Empty { .. }));
        assert!(matches!(cifar_binary(&[], CifarVariant::Cifar10), Err(DataError::Empty { .. })));
        // labels >= 10 cannot be written as CIFAR-10
        let e = write_cifar_binary(&p, &generated(5, 20), CifarVariant::Cifar10).unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { .. }));
    }

    #[test]
    fn cifar100_uses_fine_labels() {
        let t = tempfile::tempdir().unwrap();
        let d = generated(40, 100);
        let p = t.path().join("train.bin");
        write_cifar_binary(&p, &d, CifarVariant::Cifar100).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), 40 * 3074);
        bytes[0] = 19; // coarse label must not leak into the labels
        std::fs::write(&p, &bytes).unwrap();
        let back = cifar100_dir(t.path(), Split::Train).unwrap();
        assert_eq!(back.labels(), d.labels());
        assert_eq!(back.images(), d.images());
        assert!(back.labels().iter().any(|&l| l >= 20));
        assert_eq!(back.num_classes, 100);
        assert_eq!(back.name, "cifar100/train");
        bytes[0] = 20;
        std::fs::write(&p, &bytes).unwrap();
        assert!(cifar100_dir(t.path(), Split::Train).is_err());
        let e = cifar100_dir(t.path(), Split::Test).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }));
    }

    #[test]
    fn cifar10_dir_layout() {
        let t = tempfile::tempdir().unwrap();
        let inner = t.path().join("cifar-10-batches-bin");
        std::fs::create_dir(&inner).unwrap();
        let d = generated(3, 10);
        for f in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4"] {
            write_cifar_binary(&inner.join(format!("{f}.bin")), &d, CifarVariant::Cifar10).unwrap();
        }
        write_cifar_binary(&inner.join("test_batch.bin"), &d, CifarVariant::Cifar10).unwrap();
        let e = cifar10_dir(t.path(), Split::Train).unwrap_err();
        assert!(e.to_string().contains("data_batch_5.bin"), "{e}");
        write_cifar_binary(&inner.join("data_batch_5.bin"), &d, CifarVariant::Cifar10).unwrap();
        assert_eq!(cifar10_dir(t.path(), Split::Train).unwrap().len(), 15);
        let test = cifar10_dir(&inner, Split::Test).unwrap();
        assert_eq!((test.len(), test.name.as_str()), (3, "cifar10/test"));
    }
}
