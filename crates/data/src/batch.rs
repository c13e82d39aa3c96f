//! Mini-batch iteration, the one way models consume a [`Dataset`].

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;

impl Dataset {
    /// Iterates over mini-batches; the last, possibly partial, batch is
    /// included so every example is seen once per pass. A `batch_size` of 0
    /// is treated as 1 rather than looping forever or yielding nothing.
    pub fn batches(&self, batch_size: usize, order: BatchOrder) -> Batches<'_> {
        let order = match order {
            BatchOrder::Sequential => (0..self.len()).collect(),
            BatchOrder::Shuffled { seed } => self.shuffled_indices(seed),
        };
        Batches { dataset: self, order, pos: 0, batch_size: batch_size.max(1) }
    }
}

/// Order in which [`Dataset::batches`] visits examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchOrder {
    Sequential,
    /// A fresh permutation per seed; use a different seed per epoch.
    Shuffled {
        seed: u64,
    },
}

/// A mini-batch: `len` images (NCHW, `len * numel` values), their labels, and their indices in
/// the dataset (so objectives can look up per-example targets such as a victim's soft labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<usize>,
    pub indices: Vec<usize>,
    pub len: usize,
}

/// Iterator returned by [`Dataset::batches`].
#[derive(Debug)]
pub struct Batches<'a> {
    dataset: &'a Dataset,
    order: Vec<usize>,
    pos: usize,
    batch_size: usize,
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let end = (self.pos + self.batch_size).min(self.order.len());
        let idx = self.order.get(self.pos..end).filter(|s| !s.is_empty())?;
        self.pos = end;
        let n = self.dataset.shape.numel();
        let mut images = Vec::with_capacity(idx.len() * n);
        let mut labels = Vec::with_capacity(idx.len());
        let mut indices = Vec::with_capacity(idx.len());
        for &i in idx {
            // Indices come from 0..len(), so both lookups succeed.
            if let (Some(img), Some(&l)) = (self.dataset.get_image(i), self.dataset.labels().get(i)) {
                images.extend_from_slice(img);
                labels.push(l);
                indices.push(i);
            }
        }
        let len = labels.len();
        Some(Batch { images, labels, indices, len })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.order.len().saturating_sub(self.pos);
        let n = left.div_ceil(self.batch_size);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::ImageShape;
    use crate::dataset::tests::toy;

    #[test]
    fn batches_cover_everything_once() {
        let d = toy(3, 5, ImageShape::new(1, 2, 2));
        let seq: Vec<Batch> = d.batches(4, BatchOrder::Sequential).collect();
        assert_eq!(seq.len(), 4);
        assert_eq!(seq.iter().map(|b| b.len).collect::<Vec<_>>(), [4, 4, 4, 3]);
        assert_eq!(seq[3].images.len(), 3 * 4);
        let labels: Vec<usize> = seq.iter().flat_map(|b| b.labels.clone()).collect();
        assert_eq!(labels, d.labels());

        let it = d.batches(4, BatchOrder::Shuffled { seed: 7 });
        assert_eq!(it.len(), 4);
        let shuffled: Vec<f32> = it.flat_map(|b| b.images).collect();
        assert_ne!(shuffled, d.images());
        let mut a: Vec<u32> = shuffled.iter().map(|v| v.to_bits()).collect();
        let mut b: Vec<u32> = d.images().iter().map(|v| v.to_bits()).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert_eq!(d.batches(0, BatchOrder::Sequential).count(), 15);
    }
}
