//! Probe inputs that need no optimisation, shared by SAC and AKH: the owner's mistakes, and
//! CutMix mixtures of training images.
//!
//! **Mistakes** (SAC-w, AKH). Both papers take test inputs the owner misclassifies; a good owner
//! makes few (the digits owner gets about 8 of 359 held-out images wrong), so mown looks, in this
//! order, at (1) held-out images, (2) training images, (3) augmented held-out images: a random
//! shift of up to [`MistakeParams::shift`] of the image width and Gaussian pixel noise whose
//! standard deviation grows by [`MistakeParams::noise_step`] per round, for up to
//! [`MistakeParams::rounds`] rounds (mild augmentations first, so the probes stay as close to
//! natural inputs as the owner allows), of the held-out images the owner gets right, each source
//! image giving at most one probe (no near-duplicates). An input is kept when the owner's label
//! differs from the label of the image it came from. The evidence records how many came from each source.
//!
//! **CutMix** (SAC-m, "CutMix", ICCV 2019, as SAC §3.3 uses it): a box of a second training
//! image pasted into a first, the box's area a fraction 1 - lambda of the image with lambda ~
//! U(0, 1) (Beta(1, 1), CutMix's default), at a uniformly random centre, clipped at the border.

use mown_data::{Dataset, ImageShape};
use mown_nn::Model;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::MethodError;

/// Where mistakes are looked for (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MistakeParams {
    /// Look at training images after the held-out ones.
    pub training: bool,
    /// Augment held-out images when the two sources give fewer than needed.
    pub augment: bool,
    /// Largest shift, as a fraction of the image width (at least one pixel).
    pub shift: f64,
    /// Noise standard deviation added per round (round r: r x noise_step).
    pub noise_step: f64,
    pub rounds: usize,
}

impl Default for MistakeParams {
    fn default() -> Self {
        MistakeParams { training: true, augment: true, shift: 0.1, noise_step: 0.05, rounds: 10 }
    }
}

/// Where a probe came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    HeldOut,
    Training,
    Augmented,
}

/// Inputs the owner gets wrong, with the owner's label and the true one.
#[derive(Clone, Debug, Default)]
pub struct Mistakes {
    pub images: Vec<f32>,
    pub true_labels: Vec<usize>,
    pub owner_labels: Vec<usize>,
    pub origins: Vec<Origin>,
}

impl Mistakes {
    pub fn len(&self) -> usize {
        self.owner_labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owner_labels.is_empty()
    }

    /// Probes per origin, for the evidence file.
    pub fn origin_counts(&self) -> serde_json::Value {
        let count = |o| self.origins.iter().filter(|&&x| x == o).count();
        serde_json::json!({
            "held_out": count(Origin::HeldOut),
            "training": count(Origin::Training),
            "augmented": count(Origin::Augmented),
        })
    }

    fn push(&mut self, image: &[f32], truth: usize, owner_label: usize, origin: Origin) {
        self.images.extend_from_slice(image);
        self.true_labels.push(truth);
        self.owner_labels.push(owner_label);
        self.origins.push(origin);
    }

    fn push_wrong(
        &mut self,
        owner: &Model,
        images: &[f32],
        truth: &[usize],
        origin: Origin,
        n: usize,
    ) -> Result<(), MethodError> {
        if images.is_empty() {
            return Ok(());
        }
        let numel = owner.input_shape().numel();
        let predicted = owner.predict(images)?;
        for (i, (&p, &t)) in predicted.iter().zip(truth).enumerate() {
            if self.len() >= n {
                break;
            }
            if p != t {
                self.push(&images[i * numel..(i + 1) * numel], t, p, origin);
            }
        }
        Ok(())
    }
}

/// Images of `data` in a seeded order.
fn shuffled(data: &Dataset, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let numel = data.images().len() / data.len().max(1);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let images = order.iter().flat_map(|&i| data.images()[i * numel..(i + 1) * numel].iter().copied()).collect();
    (images, order.iter().map(|&i| data.labels()[i]).collect())
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// Shifts an image by (dy, dx) pixels, filling with zeros.
fn shift_image(image: &[f32], shape: ImageShape, dy: i64, dx: i64) -> Vec<f32> {
    let (h, w) = (shape.height as i64, shape.width as i64);
    let mut out = vec![0.0; image.len()];
    for c in 0..shape.channels {
        let plane = c * shape.height * shape.width;
        for y in 0..h {
            for x in 0..w {
                let (sy, sx) = (y - dy, x - dx);
                if (0..h).contains(&sy) && (0..w).contains(&sx) {
                    out[plane + (y * w + x) as usize] = image[plane + (sy * w + sx) as usize];
                }
            }
        }
    }
    out
}

/// Up to `n` inputs `owner` misclassifies, from `test`, then `train`, then augmented `test`
/// images (see the module doc); fewer when the sources run out.
pub fn collect_mistakes(
    owner: &Model,
    train: &Dataset,
    test: &Dataset,
    n: usize,
    p: &MistakeParams,
    seed: u64,
) -> Result<Mistakes, MethodError> {
    if n == 0 {
        return Err(MethodError::BadParameter("the number of probes must be at least 1".into()));
    }
    if test.is_empty() && train.is_empty() {
        return Err(MethodError::BadParameter(
            "no held-out or training images to look for the owner's mistakes in".into(),
        ));
    }
    mown_nn::model::check_dataset_shape(test, owner.input_shape())?;
    mown_nn::model::check_dataset_shape(train, owner.input_shape())?;
    if !(0.0..=1.0).contains(&p.shift) || !p.noise_step.is_finite() || p.noise_step < 0.0 {
        return Err(MethodError::BadParameter(format!("shift {} and noise step {}", p.shift, p.noise_step)));
    }
    let shape = owner.input_shape();
    let numel = shape.numel();
    let mut found = Mistakes::default();
    let (held, held_labels) = shuffled(test, mown_nn::seed::derive(seed, 11));
    found.push_wrong(owner, &held, &held_labels, Origin::HeldOut, n)?;
    if p.training && found.len() < n {
        let (images, labels) = shuffled(train, mown_nn::seed::derive(seed, 12));
        found.push_wrong(owner, &images, &labels, Origin::Training, n)?;
    }
    if p.augment && !held_labels.is_empty() && found.len() < n {
        // Sources: the held-out images the owner gets right (its mistakes are probes already),
        // each giving at most one augmented probe, so that no two probes are near-duplicates.
        let predicted = owner.predict(&held)?;
        let mut open: Vec<usize> = (0..held_labels.len()).filter(|&i| predicted[i] == held_labels[i]).collect();
        let mut rng = StdRng::seed_from_u64(mown_nn::seed::derive(seed, 13));
        let max_shift = ((p.shift * shape.width as f64).round() as i64).max(1);
        for round in 1..=p.rounds {
            if found.len() >= n || open.is_empty() {
                break;
            }
            let sigma = (round as f64 * p.noise_step) as f32;
            let mut images = Vec::with_capacity(open.len() * numel);
            for &i in &open {
                let (dy, dx) = (rng.random_range(-max_shift..=max_shift), rng.random_range(-max_shift..=max_shift));
                let mut moved = shift_image(&held[i * numel..(i + 1) * numel], shape, dy, dx);
                for v in &mut moved {
                    *v = (*v + sigma * gaussian(&mut rng)).clamp(0.0, 1.0);
                }
                images.extend(moved);
            }
            let labels = owner.predict(&images)?;
            let mut still_open = Vec::with_capacity(open.len());
            for (j, &i) in open.iter().enumerate() {
                if found.len() < n && labels[j] != held_labels[i] {
                    found.push(&images[j * numel..(j + 1) * numel], held_labels[i], labels[j], Origin::Augmented);
                } else {
                    still_open.push(i);
                }
            }
            open = still_open;
        }
    }
    if found.is_empty() {
        return Err(MethodError::BadParameter(
            "the owner misclassifies none of the held-out, training or augmented images: no mistakes to probe with \
             (use CutMix probes, SAC-m, instead)"
                .into(),
        ));
    }
    Ok(found)
}

/// `n` CutMix mixtures of random pairs of `data`'s images (see the module doc).
pub fn cutmix(data: &Dataset, shape: ImageShape, n: usize, seed: u64) -> Result<Vec<f32>, MethodError> {
    if data.len() < 2 || n == 0 {
        return Err(MethodError::BadParameter(format!("CutMix needs >= 2 images and n >= 1 ({} images)", data.len())));
    }
    mown_nn::model::check_dataset_shape(data, shape)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let (h, w) = (shape.height, shape.width);
    let mut out = Vec::with_capacity(n * shape.numel());
    for _ in 0..n {
        let a = rng.random_range(0..data.len());
        let mut b = rng.random_range(0..data.len() - 1);
        if b >= a {
            b += 1;
        }
        let lambda: f64 = rng.random();
        let cut = (1.0 - lambda).sqrt();
        let (bh, bw) = ((h as f64 * cut).round() as usize, (w as f64 * cut).round() as usize);
        let (cy, cx) = (rng.random_range(0..h), rng.random_range(0..w));
        let (y0, y1) = (cy.saturating_sub(bh / 2), (cy + bh.div_ceil(2)).min(h));
        let (x0, x1) = (cx.saturating_sub(bw / 2), (cx + bw.div_ceil(2)).min(w));
        let mut mixed = data.image(a).to_vec();
        let other = data.image(b);
        for c in 0..shape.channels {
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = (c * h + y) * w + x;
                    mixed[i] = other[i];
                }
            }
        }
        out.extend(mixed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_data(n: usize) -> Dataset {
        let shape = ImageShape::new(1, 4, 4);
        let images: Vec<f32> = (0..n * 16).map(|i| (i % 16) as f32 / 16.0 * ((i / 16) % 2) as f32).collect();
        let labels = (0..n).map(|i| i % 2).collect();
        Dataset::new("tiny", shape, 2, vec!["a".into(), "b".into()], images, labels).unwrap()
    }

    #[test]
    fn shift_moves_pixels_and_fills_zeros() {
        let shape = ImageShape::new(1, 2, 2);
        assert_eq!(shift_image(&[1.0, 2.0, 3.0, 4.0], shape, 0, 1), vec![0.0, 1.0, 0.0, 3.0]);
        assert_eq!(shift_image(&[1.0, 2.0, 3.0, 4.0], shape, 1, 0), vec![0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn cutmix_pastes_a_box_of_another_image_and_is_seeded() {
        let data = tiny_data(6);
        let shape = data.shape;
        let a = cutmix(&data, shape, 20, 3).unwrap();
        assert_eq!(a, cutmix(&data, shape, 20, 3).unwrap());
        assert_eq!(a.len(), 20 * 16);
        // Every mixture's pixels come from the training images, position for position.
        for mixed in a.chunks(16) {
            for (i, v) in mixed.iter().enumerate() {
                assert!((0..data.len()).any(|j| data.image(j)[i] == *v));
            }
        }
        assert!(cutmix(&tiny_data(1), shape, 5, 0).is_err());
    }
}
