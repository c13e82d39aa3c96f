//! Tests against the real data sets, installed by `scripts/fetch-data.sh`.
//! They fail (never skip) when the data is missing: CI always installs it,
//! and a silently skipped test would hide a broken loader.

use std::path::{Path, PathBuf};

use mown_data::{
    CIFAR10_CLASSES, DataSource, Dataset, ImageShape, Split, fashion_mnist, foolbox_images, image_folder, mnist_json,
};
use sha2::{Digest, Sha256};

fn data_dir() -> PathBuf {
    match std::env::var_os("MOWN_DATA_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data"),
    }
}

fn fashion_dir() -> PathBuf {
    match std::env::var_os("MOWN_FASHION_MNIST_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(mown_data::FASHION_MNIST_SYSTEM_DIR),
    }
}

/// Panics with instructions when `path` is missing.
fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "test data {} is missing: run scripts/fetch-data.sh from the repository root \
         (or set MOWN_DATA_DIR / MOWN_FASHION_MNIST_DIR)",
        path.display()
    );
    path
}

fn foolbox_dir() -> PathBuf {
    require(data_dir().join("foolbox/data"))
}

fn bytes(d: &Dataset) -> Vec<u8> {
    d.images().iter().map(|&v| (v * 255.0).round() as u8).collect()
}

/// Rebuilds the IDX files from what the loader produced and hashes them, so
/// the published checksums vouch for the whole decode-and-scale path.
fn idx_hashes(d: &Dataset) -> (String, String) {
    let n = d.len() as u32;
    let mut img = 0x0803u32.to_be_bytes().to_vec();
    for v in [n, d.shape.height as u32, d.shape.width as u32] {
        img.extend_from_slice(&v.to_be_bytes());
    }
    img.extend(bytes(d));
    let mut lab = 0x0801u32.to_be_bytes().to_vec();
    lab.extend_from_slice(&n.to_be_bytes());
    lab.extend(d.labels().iter().map(|&l| l as u8));
    let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    (hex(&img), hex(&lab))
}

#[test]
fn fashion_mnist_counts_and_checksums() {
    let dir = require(fashion_dir().join("t10k-labels-idx1-ubyte.gz"));
    let dir = dir.parent().unwrap();
    let train = fashion_mnist(Some(dir), Split::Train).unwrap();
    let test = fashion_mnist(None, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.shape, ImageShape::new(1, 28, 28));
    assert_eq!(train.class_counts(), vec![6000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    assert_eq!(test.name, "fashion-mnist/test");
    assert_eq!(test.class_names[9], "Ankle boot");
    assert_eq!(
        idx_hashes(&train),
        (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888".into(),
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9".into()
        )
    );
    assert_eq!(
        idx_hashes(&test),
        (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b".into(),
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34".into()
        )
    );

    // foolbox's fashionMNIST_XX_label.png are the first 20 test images.
    let fb = foolbox_images(&foolbox_dir(), "fashionMNIST").unwrap();
    assert_eq!(fb.len(), 20);
    assert_eq!(fb.shape, test.shape);
    let first = test.subset(&(0..20).collect::<Vec<_>>(), "first20").unwrap();
    assert_eq!(fb.labels(), first.labels());
    assert_eq!(bytes(&fb), bytes(&first));
    assert_eq!(fb.labels()[..3], [9, 2, 1]);
}

#[test]
fn fashion_mnist_source_uses_official_split() {
    let dir = require(fashion_dir().join("t10k-labels-idx1-ubyte.gz"));
    let src = DataSource::FashionMnist { dir: Some(dir.parent().unwrap().to_path_buf()) };
    let (train, test) = src.load().unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.name, "fashion-mnist/train");
}

#[test]
fn mnist_json_counts() {
    let root = require(data_dir().join("mnist/package"));
    let d = mnist_json(&root).unwrap();
    assert_eq!(d.len(), 10_000);
    assert_eq!(d.shape, ImageShape::new(1, 28, 28));
    assert_eq!(d.class_counts(), vec![1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    assert!(d.images().iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(d.images().iter().any(|&v| v > 0.99));
    // class order: all zeros first
    assert!(d.labels()[..1001].iter().all(|&l| l == 0));
    let (train, test) = DataSource::Mnist { dir: root }.load().unwrap();
    assert_eq!(test.len(), 2000);
    assert_eq!(train.len(), 8000);
}

#[test]
fn foolbox_cifar10_labels_and_shape() {
    let d = foolbox_images(&foolbox_dir(), "cifar10").unwrap();
    assert_eq!(d.shape, ImageShape::new(3, 32, 32));
    assert_eq!(d.labels(), &[3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]);
    assert_eq!(d.class_names[3], "cat");
    // real photos: channels differ and values span the range
    let img = d.image(0);
    assert_ne!(img[..1024], img[1024..2048]);
    let c100 = foolbox_images(&foolbox_dir(), "cifar100").unwrap();
    assert_eq!((c100.len(), c100.num_classes, c100.labels()[0]), (20, 100, 49));
    let mnist = foolbox_images(&foolbox_dir(), "mnist").unwrap();
    assert_eq!(mnist.shape, ImageShape::new(1, 28, 28));
    assert_eq!(mnist.labels()[..4], [7, 2, 1, 0]);
}

#[test]
fn image_folder_on_real_cifar_pngs() {
    let fb = foolbox_images(&foolbox_dir(), "cifar10").unwrap();
    let t = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(foolbox_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(rest) = name.strip_prefix("cifar10_") else {
            continue;
        };
        let (index, label) = rest.trim_end_matches(".png").split_once('_').unwrap();
        let class = CIFAR10_CLASSES[label.parse::<usize>().unwrap()];
        std::fs::create_dir_all(t.path().join(class)).unwrap();
        std::fs::copy(&path, t.path().join(class).join(format!("{index}.png"))).unwrap();
    }
    let d = image_folder(t.path(), 3).unwrap();
    assert_eq!(d.len(), 20);
    assert_eq!(d.shape, ImageShape::new(3, 32, 32));
    let mut present: Vec<&str> = fb.labels().iter().map(|&l| CIFAR10_CLASSES[l]).collect();
    present.sort();
    present.dedup();
    assert_eq!(d.class_names, present);
    // each loaded image equals the foolbox image with the same class name
    for i in 0..d.len() {
        let class = &d.class_names[d.labels()[i]];
        let found = (0..fb.len()).any(|j| CIFAR10_CLASSES[fb.labels()[j]] == class && fb.image(j) == d.image(i));
        assert!(found, "folder image {i} ({class}) not among the foolbox images");
    }
    let grey = image_folder(t.path(), 1).unwrap();
    assert_eq!(grey.shape, ImageShape::new(1, 32, 32));
    // mixing in an image of another size names the file
    let odd = foolbox_dir().join("mnist_00_7.png");
    std::fs::copy(odd, t.path().join("cat").join("zz_odd.png")).unwrap();
    let e = image_folder(t.path(), 3).unwrap_err();
    assert!(e.to_string().contains("zz_odd.png"), "{e}");
}

#[test]
fn mnist_resized_for_a_cifar_model() {
    let fb = foolbox_images(&foolbox_dir(), "mnist").unwrap();
    let r = fb.resized(ImageShape::new(3, 32, 32)).unwrap();
    assert_eq!(r.len(), 20);
    let img = r.image(0);
    assert_eq!(img[..1024], img[1024..2048]);
    let back = r.resized(ImageShape::new(1, 28, 28)).unwrap();
    let err: f32 =
        back.images().iter().zip(fb.images()).map(|(a, b)| (a - b).abs()).sum::<f32>() / fb.images().len() as f32;
    assert!(err < 0.05, "mean round-trip error {err}");
}
