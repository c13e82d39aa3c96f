//! Data sets stored as ordinary image files: a folder per class, or the
//! sample images that ship inside the `foolbox` Python package (a handy,
//! version-pinned source of real CIFAR/MNIST test images).

use std::path::{Path, PathBuf};

use crate::cifar::{CIFAR10_CLASSES, CIFAR100_CLASSES};
use crate::dataset::{Dataset, ImageShape};
use crate::error::{DataError, read_bytes};
use crate::idx::FASHION_MNIST_CLASSES;

/// File extensions treated as images (compared case-insensitively).
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Sorted entries of `dir` (sorting makes labels and order reproducible
/// across file systems), skipping hidden names.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if !hidden {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Decodes one image to CHW floats in `[0, 1]` with 1 (luma) or 3 (RGB)
/// channels; 16-bit images are reduced to 8 bits first.
fn decode(path: &Path, channels: usize) -> Result<(ImageShape, Vec<f32>), DataError> {
    let bytes = read_bytes(path)?;
    let img = image::load_from_memory(&bytes).map_err(|e| DataError::parse(path, e.to_string()))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let shape = ImageShape::new(channels, h, w);
    let interleaved = match channels {
        1 => img.to_luma8().into_raw(),
        _ => img.to_rgb8().into_raw(),
    };
    let plane = h * w;
    let mut chw = vec![0f32; shape.numel()];
    for (k, &v) in interleaved.iter().enumerate() {
        let (pixel, c) = (k / channels, k % channels);
        if let Some(slot) = chw.get_mut(c * plane + pixel) {
            *slot = f32::from(v) / 255.0;
        }
    }
    Ok((shape, chw))
}

fn check_channels(channels: usize) -> Result<(), DataError> {
    if channels == 1 || channels == 3 {
        Ok(())
    } else {
        Err(DataError::InvalidArgument(format!("image channels must be 1 (grey) or 3 (RGB), got {channels}")))
    }
}

/// Decodes `files` (with their labels) into one dataset; every image must
/// have the size of the first.
fn load_files(
    name: String,
    files: &[(PathBuf, usize)],
    channels: usize,
    class_names: Vec<String>,
) -> Result<Dataset, DataError> {
    let mut shape = None;
    let mut images = Vec::new();
    let mut labels = Vec::with_capacity(files.len());
    for (path, label) in files {
        if *label >= class_names.len() {
            return Err(DataError::LabelOutOfRange {
                what: path.display().to_string(),
                label: *label,
                num_classes: class_names.len(),
            });
        }
        let (s, px) = decode(path, channels)?;
        match shape {
            None => shape = Some(s),
            Some(first) if first != s => {
                return Err(DataError::ShapeMismatch {
                    what: format!("image size of {}", path.display()),
                    expected: format!("{first} like {}", files[0].0.display()),
                    found: s.to_string(),
                });
            }
            Some(_) => {}
        }
        images.extend_from_slice(&px);
        labels.push(*label);
    }
    let shape = shape.ok_or_else(|| DataError::Empty { what: name.clone() })?;
    Dataset::new(name, shape, class_names.len(), class_names, images, labels)
}

/// Loads a folder with one sub-folder per class (class names = sorted
/// sub-folder names, labels = their positions), holding PNG/JPEG files of
/// one common size. `channels` is 1 (converted to luma) or 3 (RGB).
/// Named after the folder.
pub fn image_folder(dir: &Path, channels: usize) -> Result<Dataset, DataError> {
    check_channels(channels)?;
    let class_dirs: Vec<PathBuf> = sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if class_dirs.is_empty() {
        return Err(DataError::Empty { what: format!("image folder {} (no class sub-folders)", dir.display()) });
    }
    let mut names = Vec::with_capacity(class_dirs.len());
    let mut files = Vec::new();
    for (label, class_dir) in class_dirs.iter().enumerate() {
        let before = files.len();
        for f in sorted_entries(class_dir)? {
            if f.is_file() && is_image(&f) {
                files.push((f, label));
            }
        }
        if files.len() == before {
            return Err(DataError::Empty {
                what: format!("class folder {} (no .png/.jpg/.jpeg files)", class_dir.display()),
            });
        }
        let name = class_dir.file_name().map(|n| n.to_string_lossy().into_owned());
        names.push(name.unwrap_or_default());
    }
    let name = dir.file_name().map_or_else(|| "image-folder".to_string(), |n| n.to_string_lossy().into_owned());
    load_files(name, &files, channels, names)
}

/// Channels and class names of the sample sets in foolbox's `data` folder.
fn foolbox_kind(prefix: &str) -> Option<(usize, Vec<String>)> {
    let owned = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
    Some(match prefix {
        "cifar10" => (3, owned(&CIFAR10_CLASSES)),
        "cifar100" => (3, owned(&CIFAR100_CLASSES)),
        "mnist" => (1, (0..10).map(|d| d.to_string()).collect()),
        "fashionMNIST" => (1, owned(&FASHION_MNIST_CLASSES)),
        "imagenet" => (3, (0..1000).map(|d| d.to_string()).collect()),
        _ => return None,
    })
}

/// Loads foolbox's sample images `{prefix}_{index:02}_{label}.{png,jpg}`
/// from `dir` (foolbox's `data` folder), in index order, labels taken from
/// the file names. Prefixes: cifar10, cifar100, mnist, fashionMNIST,
/// imagenet. Named `foolbox/{prefix}`.
pub fn foolbox_images(dir: &Path, prefix: &str) -> Result<Dataset, DataError> {
    let (channels, names) = foolbox_kind(prefix).ok_or_else(|| {
        DataError::InvalidArgument(format!(
            "unknown foolbox prefix {prefix:?}; expected cifar10, cifar100, mnist, \
             fashionMNIST or imagenet"
        ))
    })?;
    let mut indexed = Vec::new();
    for path in sorted_entries(dir)? {
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let Some(rest) = stem.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
            continue;
        };
        if !is_image(&path) {
            continue;
        }
        let parsed = rest.split_once('_').and_then(|(i, l)| Some((i.parse::<usize>().ok()?, l.parse::<usize>().ok()?)));
        let (index, label) =
            parsed.ok_or_else(|| DataError::parse(&path, format!("expected a name like {prefix}_07_3.png")))?;
        indexed.push((index, path, label));
    }
    if indexed.is_empty() {
        return Err(DataError::NotFound {
            what: format!("foolbox images {prefix}_*.png in {}", dir.display()),
            hint: "run scripts/fetch-data.sh (it copies foolbox 3.3.4's data folder to \
                   $MOWN_DATA_DIR/foolbox/data)"
                .into(),
        });
    }
    indexed.sort_by_key(|(i, _, _)| *i);
    let files: Vec<(PathBuf, usize)> = indexed.into_iter().map(|(_, p, l)| (p, l)).collect();
    load_files(format!("foolbox/{prefix}"), &files, channels, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, w: u32, h: u32, seed: u8) {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([seed, (x * 10) as u8, (y * 20) as u8]));
        img.save(path).unwrap();
    }

    #[test]
    fn folder_classes_sorted_and_chw() {
        let t = tempfile::tempdir().unwrap();
        for (class, n) in [("zebra", 2), ("ant", 1)] {
            std::fs::create_dir(t.path().join(class)).unwrap();
            for k in 0..n {
                png(&t.path().join(class).join(format!("{k}.png")), 4, 3, 50 + k as u8);
            }
        }
        std::fs::write(t.path().join("ant").join("notes.txt"), "ignored").unwrap();
        let d = image_folder(t.path(), 3).unwrap();
        assert_eq!(d.class_names, ["ant", "zebra"]);
        assert_eq!(d.labels(), &[0, 1, 1]);
        assert_eq!(d.shape, ImageShape::new(3, 3, 4));
        let img = d.image(1);
        assert_eq!(img[0], 50.0 / 255.0); // R plane, pixel (0,0)
        assert_eq!(img[12 + 3], 30.0 / 255.0); // G plane, pixel (x=3,y=0)
        assert_eq!(img[24 + 8], 40.0 / 255.0); // B plane, pixel (x=0,y=2)
        let grey = image_folder(t.path(), 1).unwrap();
        assert_eq!(grey.shape, ImageShape::new(1, 3, 4));
        assert!(image_folder(t.path(), 2).is_err());
    }

    #[test]
    fn folder_errors_name_the_problem() {
        let t = tempfile::tempdir().unwrap();
        let e = image_folder(t.path(), 3).unwrap_err();
        assert!(matches!(e, DataError::Empty { .. }), "{e}");
        std::fs::create_dir(t.path().join("a")).unwrap();
        let e = image_folder(t.path(), 3).unwrap_err();
        assert!(matches!(e, DataError::Empty { .. }) && e.to_string().contains("a"), "{e}");
        png(&t.path().join("a").join("1.png"), 4, 4, 0);
        png(&t.path().join("a").join("2.png"), 5, 4, 0);
        let e = image_folder(t.path(), 3).unwrap_err();
        assert!(matches!(e, DataError::ShapeMismatch { .. }), "{e}");
        assert!(e.to_string().contains("2.png"), "{e}");
        std::fs::write(t.path().join("a").join("2.png"), b"not a png").unwrap();
        let e = image_folder(t.path(), 3).unwrap_err();
        assert!(matches!(e, DataError::Parse { .. }) && e.to_string().contains("2.png"), "{e}");
        assert!(image_folder(&t.path().join("missing"), 3).is_err());
    }

    #[test]
    fn foolbox_names_parse() {
        let t = tempfile::tempdir().unwrap();
        png(&t.path().join("cifar10_01_8.png"), 2, 2, 1);
        png(&t.path().join("cifar10_00_3.png"), 2, 2, 2);
        png(&t.path().join("cifar100_00_49.png"), 2, 2, 3);
        let d = foolbox_images(t.path(), "cifar10").unwrap();
        assert_eq!(d.labels(), &[3, 8]);
        assert_eq!(d.image(0)[0], 2.0 / 255.0);
        assert_eq!(d.num_classes, 10);
        let d = foolbox_images(t.path(), "cifar100").unwrap();
        assert_eq!((d.labels(), d.num_classes), (&[49][..], 100));
        assert!(matches!(foolbox_images(t.path(), "mnist"), Err(DataError::NotFound { .. })));
        assert!(foolbox_images(t.path(), "svhn").is_err());
        png(&t.path().join("cifar10_02_x.png"), 2, 2, 1);
        assert!(matches!(foolbox_images(t.path(), "cifar10"), Err(DataError::Parse { .. })));
        std::fs::remove_file(t.path().join("cifar10_02_x.png")).unwrap();
        png(&t.path().join("cifar10_02_10.png"), 2, 2, 1);
        let e = foolbox_images(t.path(), "cifar10").unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { label: 10, .. }), "{e}");
    }
}
