//! Resizing between datasets of different shapes, so a model trained on one
//! data set can be queried with another.

use crate::dataset::{Dataset, ImageShape};
use crate::error::DataError;

impl Dataset {
    /// Converts every image to `shape`, so a model trained on one data set
    /// can be queried with another (e.g. MNIST 1x28x28 into a 3x32x32 model).
    ///
    /// Channels: 1 -> 3 replicates the grey value (what a grey photo looks
    /// like in RGB); 3 -> 1 takes the plain average of R, G and B (symmetric
    /// with replication: grey -> RGB -> grey is lossless). Other channel
    /// changes are refused. Space: bilinear interpolation with half-pixel
    /// centres and edge clamping (the convention of PIL / `align_corners =
    /// false`), without anti-aliasing, which matters little for the small
    /// scale factors used here. The result is named `{name}@{shape}`.
    pub fn resized(&self, shape: ImageShape) -> Result<Dataset, DataError> {
        let from = self.shape;
        if shape == from {
            return Ok(self.clone());
        }
        let channel_ok = from.channels == shape.channels
            || (from.channels == 1 && shape.channels == 3)
            || (from.channels == 3 && shape.channels == 1);
        if !channel_ok || shape.numel() == 0 {
            return Err(DataError::ShapeMismatch {
                what: format!("resizing {}", self.name),
                expected: "a non-empty shape with the same channels, 1->3 or 3->1".into(),
                found: format!("{from} -> {shape}"),
            });
        }
        let (in_plane, out_plane) = (from.height * from.width, shape.height * shape.width);
        let mut out = vec![0f32; self.len() * shape.numel()];
        let mut grey = vec![0f32; in_plane];
        let src_images = self.images().chunks_exact(from.numel());
        for (img, dst) in src_images.zip(out.chunks_exact_mut(shape.numel())) {
            // Source planes after channel conversion, before spatial resize.
            let planes: Vec<&[f32]> = if from.channels == 3 && shape.channels == 1 {
                for (i, g) in grey.iter_mut().enumerate() {
                    *g = (img[i] + img[in_plane + i] + img[2 * in_plane + i]) / 3.0;
                }
                vec![&grey[..]]
            } else {
                img.chunks_exact(in_plane).collect()
            };
            for (c, dst_plane) in dst.chunks_exact_mut(out_plane).enumerate() {
                // 1 -> 3: every output channel reads the one grey plane.
                let plane = planes.get(c).or(planes.first()).copied().unwrap_or_default();
                bilinear(plane, (from.height, from.width), dst_plane, (shape.height, shape.width));
            }
        }
        let labels = self.labels().to_vec();
        Dataset::new(format!("{}@{shape}", self.name), shape, self.num_classes, self.class_names.clone(), out, labels)
    }
}

/// Bilinear resize of one plane, half-pixel centres, clamped edges.
fn bilinear(src: &[f32], (ih, iw): (usize, usize), dst: &mut [f32], (oh, ow): (usize, usize)) {
    let coord = |o: usize, i: usize, n: usize| -> (usize, usize, f32) {
        let s = ((o as f32 + 0.5) * i as f32 / n as f32 - 0.5).clamp(0.0, (i - 1) as f32);
        let lo = s.floor() as usize;
        let hi = (lo + 1).min(i - 1);
        (lo, hi, s - lo as f32)
    };
    for y in 0..oh {
        let (y0, y1, wy) = coord(y, ih, oh);
        for x in 0..ow {
            let (x0, x1, wx) = coord(x, iw, ow);
            let top = src[y0 * iw + x0] * (1.0 - wx) + src[y0 * iw + x1] * wx;
            let bot = src[y1 * iw + x0] * (1.0 - wx) + src[y1 * iw + x1] * wx;
            dst[y * ow + x] = top * (1.0 - wy) + bot * wy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tests::toy;

    #[test]
    fn resize_channels_and_space() {
        let d = toy(2, 3, ImageShape::new(1, 4, 4));
        let up = d.resized(ImageShape::new(3, 8, 8)).unwrap();
        assert_eq!(up.len(), d.len());
        assert_eq!(up.labels(), d.labels());
        // toy images are constant per image, so any resize keeps the value
        for i in 0..d.len() {
            let v = d.image(i)[0];
            assert!(up.image(i).iter().all(|x| (x - v).abs() < 1e-6));
        }
        let back = up.resized(ImageShape::new(1, 4, 4)).unwrap();
        for (a, b) in back.images().iter().zip(d.images()) {
            assert!((a - b).abs() < 1e-6);
        }
        assert!(d.resized(ImageShape::new(2, 4, 4)).is_err());
        assert_eq!(d.resized(d.shape).unwrap(), d);
        // a gradient is interpolated, not just copied
        let g = Dataset::new("g", ImageShape::new(1, 1, 2), 1, vec!["a".into()], vec![0.0, 1.0], vec![0]).unwrap();
        let r = g.resized(ImageShape::new(1, 1, 4)).unwrap();
        assert_eq!(r.images(), &[0.0, 0.25, 0.75, 1.0]);
    }
}
