//! IDX files (the MNIST / Fashion-MNIST container), gzipped or not.
//!
//! Format: big-endian magic `0x00000803` (u8 images, 3 dims) or
//! `0x00000801` (u8 labels, 1 dim), then one big-endian u32 per dimension,
//! then the payload. Compression is detected from the gzip magic bytes,
//! not the file name, so renamed files still load.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, ImageShape, Split};
use crate::error::{DataError, read_bytes};

pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// Raw contents of an IDX image file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// `count * rows * cols` bytes, row-major.
    pub pixels: Vec<u8>,
}

/// Reads a file, transparently gunzipping it.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_bytes(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::parse(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Checks the magic and returns the dimensions and the payload.
fn parse_idx<'a>(path: &Path, bytes: &'a [u8], magic: u32, ndims: usize) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let header = 4 + 4 * ndims;
    let truncated = |expected: u64| DataError::Truncated {
        path: path.to_path_buf(),
        expected_bytes: expected,
        found_bytes: bytes.len() as u64,
    };
    let word = |k: usize| -> Option<u32> {
        let b = bytes.get(4 * k..4 * k + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let found = word(0).ok_or_else(|| truncated(header as u64))?;
    if found != magic {
        return Err(DataError::BadMagic { path: path.to_path_buf(), expected: magic, found });
    }
    let dims = (1..=ndims)
        .map(|k| word(k).map(|d| d as usize))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| truncated(header as u64))?;
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|payload| payload.checked_add(header as u64))
        .ok_or_else(|| DataError::parse(path, format!("dimensions {dims:?} overflow")))?;
    let found_len = bytes.len() as u64;
    if found_len < expected {
        return Err(truncated(expected));
    }
    if found_len > expected {
        return Err(DataError::parse(path, format!("{} trailing bytes after the payload", found_len - expected)));
    }
    Ok((dims, &bytes[header..]))
}

/// Reads an IDX image file (`idx3-ubyte`, optionally gzipped).
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let bytes = read_maybe_gz(path)?;
    let (dims, payload) = parse_idx(path, &bytes, IDX_IMAGES_MAGIC, 3)?;
    Ok(IdxImages { count: dims[0], rows: dims[1], cols: dims[2], pixels: payload.to_vec() })
}

/// Reads an IDX label file (`idx1-ubyte`, optionally gzipped).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_maybe_gz(path)?;
    let (_, payload) = parse_idx(path, &bytes, IDX_LABELS_MAGIC, 1)?;
    Ok(payload.to_vec())
}

/// Combines an IDX image file and label file into a grey dataset, pixels
/// scaled by 1/255.
pub fn idx_dataset(
    images_path: &Path,
    labels_path: &Path,
    name: &str,
    class_names: Vec<String>,
) -> Result<Dataset, DataError> {
    let images = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images: images.count,
            labels: labels.len(),
        });
    }
    let num_classes = class_names.len();
    if let Some(&l) = labels.iter().find(|&&l| usize::from(l) >= num_classes) {
        return Err(DataError::LabelOutOfRange {
            what: labels_path.display().to_string(),
            label: l.into(),
            num_classes,
        });
    }
    let shape = ImageShape::new(1, images.rows, images.cols);
    let pixels = images.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let labels = labels.into_iter().map(usize::from).collect();
    Dataset::new(name, shape, num_classes, class_names, pixels, labels)
}

pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Where the Debian package `dataset-fashion-mnist` installs the files.
pub const FASHION_MNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The directory [`fashion_mnist`] reads when given none:
/// `$MOWN_FASHION_MNIST_DIR` if set, else [`FASHION_MNIST_SYSTEM_DIR`].
pub fn fashion_mnist_default_dir() -> PathBuf {
    match std::env::var_os("MOWN_FASHION_MNIST_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(FASHION_MNIST_SYSTEM_DIR),
    }
}

/// Finds `base.gz` or, failing that, uncompressed `base` in `dir`.
fn find_idx_file(dir: &Path, base: &str) -> Result<PathBuf, DataError> {
    let gz = dir.join(format!("{base}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let plain = dir.join(base);
    if plain.is_file() {
        return Ok(plain);
    }
    Err(DataError::NotFound {
        what: format!("Fashion-MNIST file {}(.gz)", plain.display()),
        hint: "install it with `apt-get install dataset-fashion-mnist` (or run \
               scripts/fetch-data.sh), or point MOWN_FASHION_MNIST_DIR at a folder \
               holding the IDX files"
            .into(),
    })
}

/// Loads Fashion-MNIST (1x28x28, 10 classes) from `dir`, or from
/// [`fashion_mnist_default_dir`] when `dir` is `None`. Named
/// `fashion-mnist/train` or `fashion-mnist/test`.
pub fn fashion_mnist(dir: Option<&Path>, split: Split) -> Result<Dataset, DataError> {
    let dir = dir.map_or_else(fashion_mnist_default_dir, Path::to_path_buf);
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = find_idx_file(&dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels = find_idx_file(&dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let names = FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect();
    idx_dataset(&images, &labels, &format!("fashion-mnist/{}", split.as_str()), names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    fn write(dir: &Path, name: &str, bytes: &[u8], gz: bool) -> PathBuf {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        if gz {
            let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap();
        } else {
            f.write_all(bytes).unwrap();
        }
        p
    }

    #[test]
    fn reads_plain_and_gzipped() {
        let t = tempfile::tempdir().unwrap();
        let mut img = header(IDX_IMAGES_MAGIC, &[2, 2, 3]);
        img.extend((0..12u8).map(|k| k * 20));
        let mut lab = header(IDX_LABELS_MAGIC, &[2]);
        lab.extend([1u8, 0]);
        for gz in [false, true] {
            let i = write(t.path(), &format!("i{gz}"), &img, gz);
            let l = write(t.path(), &format!("l{gz}"), &lab, gz);
            let d = idx_dataset(&i, &l, "t", vec!["a".into(), "b".into()]).unwrap();
            assert_eq!(d.shape, ImageShape::new(1, 2, 3));
            assert_eq!(d.labels(), &[1, 0]);
            assert_eq!(d.image(1)[0], 120.0 / 255.0);
        }
    }

    #[test]
    fn wrong_magic_truncated_and_count_mismatch() {
        let t = tempfile::tempdir().unwrap();
        let mut img = header(IDX_IMAGES_MAGIC, &[2, 2, 2]);
        img.extend([0u8; 8]);
        let i = write(t.path(), "img", &img, true);
        // labels file given where images are expected: wrong magic
        let mut lab = header(IDX_LABELS_MAGIC, &[3]);
        lab.extend([0u8, 1, 0]);
        let l = write(t.path(), "lab", &lab, false);
        let e = read_idx_images(&l).unwrap_err();
        assert!(matches!(e, DataError::BadMagic { found: 0x801, expected: 0x803, .. }), "{e}");
        let e = idx_dataset(&i, &l, "t", vec!["a".into(), "b".into()]).unwrap_err();
        assert!(matches!(e, DataError::CountMismatch { images: 2, labels: 3, .. }), "{e}");
        let short = write(t.path(), "short", &img[..img.len() - 3], false);
        let e = read_idx_images(&short).unwrap_err();
        assert!(matches!(e, DataError::Truncated { expected_bytes: 24, found_bytes: 21, .. }), "{e}");
        let tiny = write(t.path(), "tiny", &img[..6], true);
        assert!(matches!(read_idx_images(&tiny), Err(DataError::Truncated { .. })));
        let e = idx_dataset(&i, &l, "t", vec!["a".into()]);
        assert!(e.is_err());
        let missing = read_idx_labels(&t.path().join("nope")).unwrap_err();
        assert!(matches!(missing, DataError::Io { .. }));
        assert!(missing.to_string().contains("nope"));
    }

    #[test]
    fn missing_fashion_dir_gives_install_hint() {
        let t = tempfile::tempdir().unwrap();
        let e = fashion_mnist(Some(t.path()), Split::Test).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }));
        assert!(e.to_string().contains("apt-get install dataset-fashion-mnist"));
    }
}
