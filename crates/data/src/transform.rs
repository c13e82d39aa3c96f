//! Pixel transforms applied on the way into a model: per-channel
//! normalisation and training-time augmentation (resizing is in resize.rs).

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::batch::Batch;
use crate::dataset::ImageShape;
use crate::error::DataError;

/// The smallest std a normalisation accepts (and [`crate::Dataset::channel_stats`] produces).
pub const MIN_STD: f32 = 1e-12;

/// Per-channel affine normalisation `(x - mean) / std`.
///
/// Kept outside [`crate::Dataset`] so a model can store the statistics of *its*
/// training set and apply them to any query set. Deserialisation validates
/// the values, so a hand-edited file cannot smuggle in a zero std.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawNormalization")]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

#[derive(Deserialize)]
struct RawNormalization {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl TryFrom<RawNormalization> for Normalization {
    type Error = DataError;
    fn try_from(r: RawNormalization) -> Result<Self, DataError> {
        Normalization::new(r.mean, r.std)
    }
}

impl Normalization {
    /// Checked constructor: equal, non-zero lengths, finite means, finite
    /// positive stds.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self, DataError> {
        let n = Normalization { mean, std };
        n.validate()?;
        Ok(n)
    }

    /// Mean 0, std 1 for every channel: leaves pixels unchanged.
    pub fn identity(channels: usize) -> Self {
        Normalization { mean: vec![0.0; channels], std: vec![1.0; channels] }
    }

    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    pub fn validate(&self) -> Result<(), DataError> {
        if self.mean.is_empty() || self.mean.len() != self.std.len() {
            return Err(DataError::ShapeMismatch {
                what: "normalisation".into(),
                expected: "equal, non-zero numbers of means and stds".into(),
                found: format!("{} means, {} stds", self.mean.len(), self.std.len()),
            });
        }
        if let Some(index) = self.mean.iter().position(|m| !m.is_finite()) {
            let what = "normalisation mean".into();
            return Err(DataError::NonFinite { what, index });
        }
        // Below MIN_STD, normalised pixels of [0, 1] images pass 1e12 and overflow in the network
        // (1e-40 makes 1/std infinite outright).
        if let Some(i) = self.std.iter().position(|s| !(s.is_finite() && *s >= MIN_STD)) {
            return Err(DataError::InvalidArgument(format!(
                "normalisation std[{i}] = {} must be finite and >= {MIN_STD:e}",
                self.std[i]
            )));
        }
        Ok(())
    }

    /// Normalises a buffer of whole images (NCHW) in place. Errors if the
    /// channel count or buffer length does not fit `shape`.
    pub fn try_apply(&self, images: &mut [f32], shape: ImageShape) -> Result<(), DataError> {
        if shape.channels != self.channels() || shape.numel() == 0 {
            return Err(DataError::ShapeMismatch {
                what: "normalisation channels".into(),
                expected: format!("{} channels", self.channels()),
                found: format!("image shape {shape}"),
            });
        }
        if !images.len().is_multiple_of(shape.numel()) {
            return Err(DataError::ShapeMismatch {
                what: "normalisation buffer".into(),
                expected: format!("a multiple of {shape} = {} values", shape.numel()),
                found: format!("{} values", images.len()),
            });
        }
        let plane = shape.height * shape.width;
        for (k, chunk) in images.chunks_exact_mut(plane).enumerate() {
            let c = k % shape.channels;
            let (m, s) = (self.mean[c], self.std[c]);
            for v in chunk {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }

    /// Like [`Normalization::try_apply`], for callers that built the shape
    /// and statistics together. Panics on a channel/shape mismatch, which is
    /// a programming error rather than bad input.
    pub fn apply(&self, images: &mut [f32], shape: ImageShape) {
        if let Err(e) = self.try_apply(images, shape) {
            panic!("Normalization::apply: {e}");
        }
    }
}

/// Standard small-image training augmentation. `Default` is no augmentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augmentation {
    /// Pad every side with this many zero pixels, then crop back to the
    /// original size at a random offset (0 = off).
    pub pad_crop: usize,
    /// Mirror left-right with probability 0.5.
    pub horizontal_flip: bool,
}

impl Augmentation {
    pub fn is_identity(&self) -> bool {
        self.pad_crop == 0 && !self.horizontal_flip
    }

    /// Augments each image of `batch` independently, in place. Draws nothing
    /// from `rng` when this is the identity, so enabling no augmentation
    /// does not perturb other random streams.
    pub fn apply(&self, batch: &mut Batch, shape: ImageShape, rng: &mut impl Rng) {
        self.apply_images(&mut batch.images, shape, rng);
    }

    /// [`Augmentation::apply`] on a buffer of whole images (NCHW) of `shape`.
    pub fn apply_images(&self, images: &mut [f32], shape: ImageShape, rng: &mut impl Rng) {
        if self.is_identity() || shape.numel() == 0 {
            return;
        }
        // Padding beyond the image size only adds all-zero crops; capping it
        // keeps `2 * p` from overflowing on absurd settings.
        let (h, w) = (shape.height, shape.width);
        let p = self.pad_crop.min(h.max(w));
        let mut scratch = vec![0f32; shape.numel()];
        for img in images.chunks_exact_mut(shape.numel()) {
            if p > 0 {
                // Offset of the crop window in padded coordinates, 0..=2p;
                // source pixel = output pixel + offset - p.
                let oy = rng.random_range(0..=2 * p);
                let ox = rng.random_range(0..=2 * p);
                scratch.copy_from_slice(img);
                for (c_out, c_in) in img.chunks_exact_mut(h * w).zip(scratch.chunks_exact(h * w)) {
                    for y in 0..h {
                        let sy = (y + oy).checked_sub(p).filter(|&s| s < h);
                        for x in 0..w {
                            let sx = (x + ox).checked_sub(p).filter(|&s| s < w);
                            c_out[y * w + x] = match (sy, sx) {
                                (Some(sy), Some(sx)) => c_in[sy * w + sx],
                                _ => 0.0,
                            };
                        }
                    }
                }
            }
            if self.horizontal_flip && rng.random_bool(0.5) {
                flip_horizontal(img, w);
            }
        }
    }
}

/// Written as in derivation chains: `crop:N`, `flip`, `crop:N+flip`, or `none`.
impl std::fmt::Display for Augmentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.pad_crop, self.horizontal_flip) {
            (0, false) => f.write_str("none"),
            (0, true) => f.write_str("flip"),
            (p, false) => write!(f, "crop:{p}"),
            (p, true) => write!(f, "crop:{p}+flip"),
        }
    }
}

impl std::str::FromStr for Augmentation {
    type Err = DataError;
    /// Parses `crop:N`, `flip`, `none`, or `+`-joined parts (`crop:2+flip`); each part at most once.
    fn from_str(s: &str) -> Result<Self, DataError> {
        let bad = |why: String| {
            DataError::InvalidArgument(format!("augmentation '{s}': {why} (crop:N, flip, crop:N+flip, none)"))
        };
        let mut aug = Augmentation::default();
        let (mut crop_seen, mut flip_seen) = (false, false);
        for part in s.split('+').map(str::trim) {
            match part.to_ascii_lowercase().as_str() {
                "none" if s.trim().eq_ignore_ascii_case("none") => {}
                "flip" if !flip_seen => (aug.horizontal_flip, flip_seen) = (true, true),
                p if p.starts_with("crop:") && !crop_seen => {
                    let n: usize =
                        p["crop:".len()..].parse().map_err(|_| bad(format!("'{part}' needs a pixel count")))?;
                    if n == 0 {
                        return Err(bad("crop:0 crops nothing".into()));
                    }
                    (aug.pad_crop, crop_seen) = (n, true);
                }
                _ => return Err(bad(format!("unknown or repeated part '{part}'"))),
            }
        }
        Ok(aug)
    }
}

/// Mirrors every row of a CHW image.
pub(crate) fn flip_horizontal(img: &mut [f32], width: usize) {
    if width > 0 {
        for row in img.chunks_exact_mut(width) {
            row.reverse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::dataset::tests::toy;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn handmade() -> (Batch, ImageShape) {
        let shape = ImageShape::new(2, 3, 4);
        let images: Vec<f32> = (0..2 * shape.numel()).map(|k| k as f32 / 48.0).collect();
        (Batch { images, labels: vec![0, 1], indices: vec![0, 1], len: 2 }, shape)
    }

    #[test]
    fn no_augmentation_is_identity() {
        let (mut b, shape) = handmade();
        let before = b.clone();
        let aug = Augmentation::default();
        assert!(aug.is_identity());
        aug.apply(&mut b, shape, &mut StdRng::seed_from_u64(1));
        assert_eq!(b, before);
    }

    #[test]
    fn flip_twice_is_identity_and_flip_reverses_rows() {
        let (b, _) = handmade();
        let mut img = b.images.clone();
        flip_horizontal(&mut img, 4);
        assert_eq!(&img[..4], &[3.0 / 48.0, 2.0 / 48.0, 1.0 / 48.0, 0.0]);
        flip_horizontal(&mut img, 4);
        assert_eq!(img, b.images);
    }

    #[test]
    fn pad_crop_shifts_with_zero_fill_and_keeps_labels() {
        let (mut b, shape) = handmade();
        let before = b.clone();
        let aug = Augmentation { pad_crop: 2, horizontal_flip: true };
        let mut changed = false;
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..10 {
            let mut c = before.clone();
            aug.apply(&mut c, shape, &mut rng);
            assert_eq!(c.images.len(), before.images.len());
            assert_eq!(c.labels, before.labels);
            // every output value is either zero padding or an input value
            assert!(c.images.iter().all(|v| *v == 0.0 || before.images.contains(v)));
            changed |= c.images != before.images;
        }
        assert!(changed);
        aug.apply(&mut b, shape, &mut StdRng::seed_from_u64(3));
        let mut again = before.clone();
        aug.apply(&mut again, shape, &mut StdRng::seed_from_u64(3));
        assert_eq!(b, again, "augmentation must be reproducible from the rng");
    }

    #[test]
    fn augmentation_names_round_trip_and_typos_are_refused() {
        for text in ["none", "flip", "crop:2", "crop:4+flip"] {
            let aug: Augmentation = text.parse().unwrap();
            assert_eq!(aug.to_string(), text);
        }
        let both: Augmentation = "flip + crop:3".parse().unwrap();
        assert_eq!(both, Augmentation { pad_crop: 3, horizontal_flip: true });
        assert_eq!(both.to_string(), "crop:3+flip");
        for bad in ["", "crop", "crop:x", "crop:0", "flip+flip", "crop:1+crop:2", "rotate", "none+flip"] {
            assert!(bad.parse::<Augmentation>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn normalising_with_own_stats_gives_zero_mean_unit_std() {
        let d = toy(3, 20, ImageShape::new(3, 4, 4));
        let norm = d.channel_stats();
        let mut px = d.images().to_vec();
        norm.apply(&mut px, d.shape);
        let n = Dataset::new("n", d.shape, 3, d.class_names.clone(), px, d.labels().to_vec()).unwrap();
        let st = n.channel_stats();
        for c in 0..3 {
            assert!(st.mean[c].abs() < 1e-4, "mean {}", st.mean[c]);
            assert!((st.std[c] - 1.0).abs() < 1e-4, "std {}", st.std[c]);
        }
        let mut px = d.images().to_vec();
        Normalization::identity(3).apply(&mut px, d.shape);
        assert_eq!(px, d.images());
        assert!(norm.try_apply(&mut px[..5], d.shape).is_err());
        assert!(norm.try_apply(&mut px, ImageShape::new(1, 4, 4)).is_err());
    }

    #[test]
    fn normalisation_validation_and_serde() {
        assert!(Normalization::new(vec![0.5], vec![0.0]).is_err());
        assert!(Normalization::new(vec![0.5], vec![1e-40]).is_err(), "1/std would be infinite");
        assert!(Normalization::new(vec![0.5, 0.1], vec![1.0]).is_err());
        let n = Normalization::new(vec![0.5, 0.4], vec![0.2, 0.3]).unwrap();
        let s = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Normalization>(&s).unwrap(), n);
        let bad = r#"{"mean":[0.5],"std":[-1.0]}"#;
        assert!(serde_json::from_str::<Normalization>(bad).is_err());
    }
}
