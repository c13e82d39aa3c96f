//! The fingerprint of one model on one point set (seed 003 §4.2, Eq. 6; Algorithm 1 lines 1-7):
//! F(f, v, x_1..x_n) = [f(x_1), f(x_1+v), f(x_2), f(x_2+v), ...], probability rows, interleaved,
//! 2·n·N values for N classes. The owner and every suspect must see the same v and the same
//! points in the same order (seed 003 §3.3, Eq. 4), so the query images are built here once.

use crate::MethodError;

/// The 2n query images [x_1, clip(x_1 + v), x_2, clip(x_2 + v), ...] for `points` (NCHW, pixels
/// in [0, 1]; v has one image's shape). Clipping is ours: the paper writes x + v, but a suspect
/// API only accepts images. The answers to these queries, in order, are already F.
pub fn query_images(points: &[f32], v: &[f32]) -> Result<Vec<f32>, MethodError> {
    if v.is_empty() || !points.len().is_multiple_of(v.len()) {
        return Err(MethodError::BadParameter(format!(
            "{} pixel values are not whole images of the perturbation's {}",
            points.len(),
            v.len()
        )));
    }
    Ok(interleave(points, v.len(), |_| v))
}

/// [`query_images`] with each point's own shift (`shifts` in the layout of `points`): the
/// local-perturbation ablation. Both buffers must hold whole images of `numel` values.
pub fn shifted_queries(points: &[f32], shifts: &[f32], numel: usize) -> Vec<f32> {
    interleave(points, numel, |i| &shifts[i * numel..(i + 1) * numel])
}

/// Each point, then the point plus `shift(i)`, clipped to [0, 1].
fn interleave<'a>(points: &[f32], numel: usize, shift: impl Fn(usize) -> &'a [f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(2 * points.len());
    for (i, x) in points.chunks(numel).enumerate() {
        out.extend_from_slice(x);
        out.extend(x.iter().zip(shift(i)).map(|(a, b)| (a + b).clamp(0.0, 1.0)));
    }
    out
}

/// F from the clean rows f(x_i) and the perturbed rows f(x_i + v) (`[n, classes]` each,
/// row-major), interleaved.
pub fn fingerprint_vector(clean: &[f32], perturbed: &[f32], classes: usize) -> Result<Vec<f32>, MethodError> {
    if classes == 0 || clean.len() != perturbed.len() || !clean.len().is_multiple_of(classes) {
        return Err(MethodError::BadParameter(format!(
            "{} clean and {} perturbed values are not matching rows of {classes} classes",
            clean.len(),
            perturbed.len()
        )));
    }
    Ok(clean.chunks(classes).zip(perturbed.chunks(classes)).flat_map(|(a, b)| a.iter().chain(b).copied()).collect())
}

/// The images at `indices` (e.g. one view of [`super::sample_views`]) from a flat NCHW buffer of
/// images with `numel` values each, in the order given.
pub fn gather_images(images: &[f32], numel: usize, indices: &[usize]) -> Result<Vec<f32>, MethodError> {
    let n = images.len().checked_div(numel).unwrap_or(0);
    if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
        return Err(MethodError::BadParameter(format!("image index {bad} out of {n}")));
    }
    Ok(indices.iter().flat_map(|&i| images[i * numel..(i + 1) * numel].iter().copied()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_rows_interleave_clean_and_perturbed() {
        // Two 2-pixel images and v = (0.5, -0.5) (values exact in binary).
        let q = query_images(&[0.25, 0.75, 0.75, 0.125], &[0.5, -0.5]).unwrap();
        assert_eq!(q, vec![0.25, 0.75, 0.75, 0.25, 0.75, 0.125, 1.0, 0.0]);
        assert!(query_images(&[0.1, 0.2, 0.3], &[0.0, 0.0]).is_err());
        let f = fingerprint_vector(&[0.9, 0.1, 0.2, 0.8], &[0.3, 0.7, 0.6, 0.4], 2).unwrap();
        assert_eq!(f, vec![0.9, 0.1, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4]);
        assert!(fingerprint_vector(&[0.5, 0.5], &[1.0], 2).is_err());
        assert_eq!(gather_images(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, &[2, 0]).unwrap(), vec![5.0, 6.0, 1.0, 2.0]);
        assert!(gather_images(&[1.0, 2.0], 2, &[1]).is_err());
    }
}
