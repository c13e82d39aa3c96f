//! The in-memory dataset every loader produces and every model consumes.
//!
//! Images are stored as one flat `f32` buffer in NCHW order with values in
//! `[0, 1]`, because that is the layout tensor libraries take without copying
//! and the scale every loader can agree on (normalisation is a separate,
//! explicit step, see [`crate::Normalization`]).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::transform::Normalization;

/// Below this per-channel std (pixels in [0, 1]) a channel counts as constant.
pub const CONSTANT_CHANNEL_STD: f64 = 1e-6;

/// Channels, height and width of one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl ImageShape {
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        ImageShape { channels, height, width }
    }

    /// Number of values in one image.
    pub const fn numel(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// More than 64 channels or 1024 pixels a side: no image classifier mown handles, so a model
    /// file or ONNX file claiming it is refused before anything that size is allocated.
    pub const fn is_implausibly_large(&self) -> bool {
        self.channels > 64 || self.height > 1024 || self.width > 1024
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// A labelled set of equally sized images.
///
/// The metadata fields are public for convenience (e.g. renaming a split);
/// the pixel and label buffers are private so their lengths always agree.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Human-readable name used in reports, e.g. `"fashion-mnist/train"`.
    pub name: String,
    pub shape: ImageShape,
    pub num_classes: usize,
    pub class_names: Vec<String>,
    images: Vec<f32>,
    labels: Vec<usize>,
}

impl Dataset {
    /// Builds a dataset, checking every invariant the rest of the crate
    /// relies on, so that later indexing can never go out of bounds.
    pub fn new(
        name: impl Into<String>,
        shape: ImageShape,
        num_classes: usize,
        class_names: Vec<String>,
        images: Vec<f32>,
        labels: Vec<usize>,
    ) -> Result<Self, DataError> {
        let name = name.into();
        if shape.numel() == 0 {
            return Err(DataError::InvalidArgument(format!("{name}: image shape {shape} has no pixels")));
        }
        if num_classes == 0 {
            return Err(DataError::InvalidArgument(format!("{name}: a dataset needs at least one class")));
        }
        if class_names.len() != num_classes {
            return Err(DataError::ShapeMismatch {
                what: format!("{name}: class names"),
                expected: format!("{num_classes} names"),
                found: format!("{} names", class_names.len()),
            });
        }
        if labels.is_empty() {
            return Err(DataError::Empty { what: name });
        }
        let expected = labels.len().checked_mul(shape.numel());
        if expected != Some(images.len()) {
            return Err(DataError::ShapeMismatch {
                what: format!("{name}: image buffer"),
                expected: format!("{} labels x {shape} values", labels.len()),
                found: format!("{} values", images.len()),
            });
        }
        if let Some(&label) = labels.iter().find(|&&l| l >= num_classes) {
            return Err(DataError::LabelOutOfRange { what: name, label, num_classes });
        }
        if let Some(index) = images.iter().position(|v| !v.is_finite()) {
            return Err(DataError::NonFinite { what: name, index });
        }
        Ok(Dataset { name, shape, num_classes, class_names, images, labels })
    }

    /// Number of examples (never zero for a constructed dataset).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always false for a constructed dataset; provided for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All pixels, NCHW.
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Pixels of example `i` (CHW). Panics if `i >= len()`, like slice
    /// indexing; use [`Dataset::get_image`] for a checked version.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.shape.numel();
        &self.images[i * n..(i + 1) * n]
    }

    /// Pixels of example `i`, or `None` when out of range.
    pub fn get_image(&self, i: usize) -> Option<&[f32]> {
        let n = self.shape.numel();
        self.images.get(i.checked_mul(n)?..i.checked_add(1)?.checked_mul(n)?)
    }

    /// The examples of classes `first..=last` only, relabelled `0..=last-first` (names kept), named
    /// `"{name}[first-last]"`: a task on part of the classes, or a same-domain query set with no
    /// class in common with it (how CIFAR-100 stands to CIFAR-10 in seed 004's extraction).
    pub fn class_range(&self, first: usize, last: usize) -> Result<Dataset, DataError> {
        let name = format!("{}[{first}-{last}]", self.name);
        if first > last || last >= self.num_classes {
            return Err(DataError::InvalidArgument(format!(
                "{name}: classes {first}-{last} are not a range within the {} classes 0-{}",
                self.num_classes,
                self.num_classes - 1
            )));
        }
        let keep: Vec<usize> = (0..self.len()).filter(|&i| (first..=last).contains(&self.labels[i])).collect();
        if keep.is_empty() {
            return Err(DataError::InvalidArgument(format!("{name}: no examples of classes {first}-{last}")));
        }
        let mut part = self.subset(&keep, "")?;
        part.name = name;
        part.labels.iter_mut().for_each(|l| *l -= first);
        part.num_classes = last - first + 1;
        part.class_names = self.class_names[first..=last].to_vec();
        Ok(part)
    }

    /// The examples at `indices` (repeats allowed, order kept), named
    /// `"{name}/{name_suffix}"` (or unchanged if the suffix is empty).
    pub fn subset(&self, indices: &[usize], name_suffix: &str) -> Result<Dataset, DataError> {
        let name = if name_suffix.is_empty() { self.name.clone() } else { format!("{}/{}", self.name, name_suffix) };
        if indices.is_empty() {
            return Err(DataError::Empty { what: name });
        }
        let n = self.shape.numel();
        let mut images = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let image = self.get_image(i).ok_or_else(|| {
                DataError::InvalidArgument(format!("{}: index {i} out of range for {} examples", self.name, self.len()))
            })?;
            images.extend_from_slice(image);
            labels.push(self.labels[i]);
        }
        Dataset::new(name, self.shape, self.num_classes, self.class_names.clone(), images, labels)
    }

    /// Number of examples of each class, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l) {
                *c += 1;
            }
        }
        counts
    }

    /// Per-channel mean and (population) standard deviation over the whole
    /// set, accumulated in f64 so 60k images do not lose precision. A
    /// constant channel (std below [`CONSTANT_CHANNEL_STD`]) gets std 1 so normalising it stays
    /// well defined.
    pub fn channel_stats(&self) -> Normalization {
        let c = self.shape.channels;
        let plane = self.shape.height * self.shape.width;
        let mut sum = vec![0f64; c];
        let mut sum_sq = vec![0f64; c];
        for (k, chunk) in self.images.chunks_exact(plane).enumerate() {
            let ch = k % c;
            for &v in chunk {
                sum[ch] += f64::from(v);
                sum_sq[ch] += f64::from(v) * f64::from(v);
            }
        }
        let count = (self.len() * plane) as f64;
        let mut mean = Vec::with_capacity(c);
        let mut std = Vec::with_capacity(c);
        for ch in 0..c {
            let m = sum[ch] / count;
            let var = (sum_sq[ch] / count - m * m).max(0.0);
            let s = var.sqrt();
            mean.push(m as f32);
            // A channel varying by less than 1e-6 is constant up to rounding (a constant 0.3 is not
            // exact in binary and leaves a tiny nonzero variance): dividing by it would blow the
            // noise up.
            std.push(if s >= CONSTANT_CHANNEL_STD { s as f32 } else { 1.0 });
        }
        Normalization { mean, std }
    }

    /// A permutation of `0..len()`, reproducible from `seed`.
    pub fn shuffled_indices(&self, seed: u64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut StdRng::seed_from_u64(seed));
        idx
    }

    /// Consumes the dataset, returning its pixel and label buffers.
    pub fn into_parts(self) -> (Vec<f32>, Vec<usize>) {
        (self.images, self.labels)
    }
}

/// Which half of a data set with an official train/test split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small synthetic set: `per_class` examples of each of `classes`
    /// classes, pixel values encode the example index so subsets are
    /// traceable.
    pub(crate) fn toy(classes: usize, per_class: usize, shape: ImageShape) -> Dataset {
        let n = classes * per_class;
        let labels: Vec<usize> = (0..n).map(|i| i % classes).collect();
        let images = (0..n * shape.numel()).map(|k| ((k / shape.numel()) % 251) as f32 / 250.0).collect();
        let names = (0..classes).map(|c| c.to_string()).collect();
        Dataset::new("toy", shape, classes, names, images, labels).unwrap()
    }

    #[test]
    fn new_rejects_bad_inputs() {
        let s = ImageShape::new(1, 2, 2);
        let names = || vec!["a".to_string(), "b".to_string()];
        let ok = Dataset::new("x", s, 2, names(), vec![0.0; 8], vec![0, 1]);
        assert!(ok.is_ok());
        let e = Dataset::new("x", s, 2, names(), vec![0.0; 7], vec![0, 1]);
        assert!(matches!(e, Err(DataError::ShapeMismatch { .. })));
        let e = Dataset::new("x", s, 2, names(), vec![0.0; 8], vec![0, 2]);
        assert!(matches!(e, Err(DataError::LabelOutOfRange { label: 2, .. })));
        let e = Dataset::new("x", s, 2, names(), vec![], vec![]);
        assert!(matches!(e, Err(DataError::Empty { .. })));
        let mut px = vec![0.0; 8];
        px[5] = f32::NAN;
        let e = Dataset::new("x", s, 2, names(), px, vec![0, 1]);
        assert!(matches!(e, Err(DataError::NonFinite { index: 5, .. })));
        let e = Dataset::new("x", s, 3, names(), vec![0.0; 8], vec![0, 1]);
        assert!(matches!(e, Err(DataError::ShapeMismatch { .. })));
    }

    #[test]
    fn a_class_range_without_examples_is_an_error_naming_it() {
        let d = toy(3, 4, ImageShape::new(1, 2, 2));
        let no_twos: Vec<usize> = (0..d.len()).filter(|&i| d.labels()[i] != 2).collect();
        let d = d.subset(&no_twos, "").unwrap();
        assert_eq!(d.class_range(1, 2).unwrap().class_counts(), vec![4, 0]);
        let err = d.class_range(2, 2).unwrap_err().to_string();
        assert!(err.contains("toy[2-2]: no examples of classes 2-2"), "{err}");
        assert!(d.class_range(1, 3).unwrap_err().to_string().contains("not a range within the 3 classes"));
    }

    #[test]
    fn subset_and_image_access() {
        let d = toy(3, 4, ImageShape::new(2, 3, 3));
        assert_eq!(d.len(), 12);
        assert_eq!(d.class_counts(), vec![4, 4, 4]);
        let s = d.subset(&[5, 1, 5], "pick").unwrap();
        assert_eq!(s.name, "toy/pick");
        assert_eq!(s.labels(), &[2, 1, 2]);
        assert_eq!(s.image(0), d.image(5));
        assert_eq!(s.image(1), d.image(1));
        assert!(d.subset(&[12], "x").is_err());
        assert!(matches!(d.subset(&[], "x"), Err(DataError::Empty { .. })));
        assert!(d.get_image(12).is_none());
    }

    #[test]
    fn channel_stats_per_channel() {
        let s = ImageShape::new(2, 1, 2);
        // channel 0: 0, 1, 0, 1 ; channel 1: constant 0.5
        let px = vec![0.0, 1.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5];
        let d = Dataset::new("s", s, 1, vec!["a".into()], px, vec![0, 0]).unwrap();
        let st = d.channel_stats();
        assert!((st.mean[0] - 0.5).abs() < 1e-6 && (st.std[0] - 0.5).abs() < 1e-6);
        assert!((st.mean[1] - 0.5).abs() < 1e-6 && st.std[1] == 1.0);
        // 0.3 is not exact in binary: its rounding must not pass for variation.
        let px: Vec<f32> = (0..300).map(|i| if i % 3 == 0 { 0.3 } else { 0.7 + (i % 7) as f32 * 0.01 }).collect();
        let d = Dataset::new("r", ImageShape::new(3, 10, 10), 1, vec!["a".into()], px.clone(), vec![0]).unwrap();
        let px: Vec<f32> = px.iter().map(|_| 0.3).collect();
        let flat = Dataset::new("c", ImageShape::new(3, 10, 10), 1, vec!["a".into()], px, vec![0]).unwrap();
        assert!(d.channel_stats().std.iter().all(|&s| s > 0.01 && s < 1.0));
        assert_eq!(flat.channel_stats().std, vec![1.0; 3]);
    }
}
