//! Stratified, seeded splitting.
//!
//! Ownership experiments compare models trained on *different* data, so the
//! parts must be disjoint, class-balanced and exactly reproducible: every
//! function here draws from one `StdRng` seeded with the caller's seed and
//! visits classes in label order, and each part keeps the original order of
//! its examples (so the result does not depend on the shuffle beyond
//! membership).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::dataset::Dataset;
use crate::error::DataError;

impl Dataset {
    /// Indices of each class, each list shuffled with one rng seeded by
    /// `seed` (classes processed in label order).
    fn shuffled_by_class(&self, seed: u64) -> Vec<Vec<usize>> {
        let mut by_class = vec![Vec::new(); self.num_classes];
        for (i, &l) in self.labels().iter().enumerate() {
            if let Some(v) = by_class.get_mut(l) {
                v.push(i);
            }
        }
        let mut rng = StdRng::seed_from_u64(seed);
        for v in &mut by_class {
            v.shuffle(&mut rng);
        }
        by_class
    }

    /// Splits into two stratified parts: about `first_fraction` of every
    /// class goes to the first part (rounded per class), the rest to the
    /// second. Parts are named `{name}/first` and `{name}/second`.
    pub fn split(&self, first_fraction: f64, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        if !(first_fraction > 0.0 && first_fraction < 1.0) {
            return Err(DataError::InvalidArgument(format!(
                "split fraction must be strictly between 0 and 1, got {first_fraction}"
            )));
        }
        let mut first = Vec::new();
        let mut second = Vec::new();
        for class in self.shuffled_by_class(seed) {
            let k = ((class.len() as f64) * first_fraction).round() as usize;
            let k = k.min(class.len());
            first.extend_from_slice(&class[..k]);
            second.extend_from_slice(&class[k..]);
        }
        first.sort_unstable();
        second.sort_unstable();
        Ok((self.subset(&first, "first")?, self.subset(&second, "second")?))
    }

    /// Splits into `parts` disjoint, stratified parts that together cover
    /// every example exactly once. Examples are dealt round-robin, and the
    /// dealer keeps going across classes so part sizes differ by at most one.
    /// Parts are named `{name}/part{k}`.
    pub fn disjoint_parts(&self, parts: usize, seed: u64) -> Result<Vec<Dataset>, DataError> {
        if parts == 0 || parts > self.len() {
            return Err(DataError::InvalidArgument(format!(
                "{}: cannot make {parts} non-empty parts from {} examples",
                self.name,
                self.len()
            )));
        }
        let mut out = vec![Vec::new(); parts];
        let mut next = 0;
        for class in self.shuffled_by_class(seed) {
            for i in class {
                out[next].push(i);
                next = (next + 1) % parts;
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(k, mut idx)| {
                idx.sort_unstable();
                self.subset(&idx, &format!("part{k}"))
            })
            .collect()
    }

    /// A random sample of at most `n` examples per class (all of a class
    /// when it has fewer; check [`Dataset::class_counts`] if exactly `n` is
    /// needed). Named `{name}/per-class-{n}`.
    pub fn take_per_class(&self, n: usize, seed: u64) -> Result<Dataset, DataError> {
        if n == 0 {
            return Err(DataError::InvalidArgument("take_per_class needs n >= 1".into()));
        }
        let mut idx: Vec<usize> =
            self.shuffled_by_class(seed).into_iter().flat_map(|c| c.into_iter().take(n)).collect();
        idx.sort_unstable();
        self.subset(&idx, &format!("per-class-{n}"))
    }
}

#[cfg(test)]
mod tests {
    use crate::dataset::ImageShape;
    use crate::dataset::tests::toy;

    fn ids(d: &crate::Dataset) -> Vec<u32> {
        // toy() encodes the example index in the first pixel
        (0..d.len()).map(|i| (d.image(i)[0] * 250.0).round() as u32).collect()
    }

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let d = toy(4, 50, ImageShape::new(1, 2, 2));
        let (a, b) = d.split(0.8, 1).unwrap();
        assert_eq!(a.class_counts(), vec![40; 4]);
        assert_eq!(b.class_counts(), vec![10; 4]);
        let (ia, ib) = (ids(&a), ids(&b));
        assert!(ia.iter().all(|x| !ib.contains(x)));
        assert_eq!(ia.len() + ib.len(), 200);
        let (a2, b2) = d.split(0.8, 1).unwrap();
        assert_eq!((a2.images(), b2.images()), (a.images(), b.images()));
        let (a3, _) = d.split(0.8, 2).unwrap();
        assert_ne!(ids(&a3), ia);
        assert!(d.split(0.0, 1).is_err());
        assert!(d.split(1.0, 1).is_err());
        assert!(d.split(f64::NAN, 1).is_err());
    }

    #[test]
    fn disjoint_parts_cover_exactly_once() {
        let d = toy(3, 7, ImageShape::new(1, 1, 1));
        let parts = d.disjoint_parts(4, 9).unwrap();
        assert_eq!(parts.len(), 4);
        let mut all: Vec<u32> = parts.iter().flat_map(ids).collect();
        all.sort();
        assert_eq!(all, (0..21).collect::<Vec<u32>>());
        let sizes: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        for p in &parts {
            // 7 per class over 4 parts: each part has 1 or 2 of each class
            assert!(p.class_counts().iter().all(|&c| (1..=2).contains(&c)));
        }
        let again = d.disjoint_parts(4, 9).unwrap();
        assert_eq!(again, parts);
        let other = d.disjoint_parts(4, 10).unwrap();
        assert_ne!(other, parts);
        assert!(d.disjoint_parts(0, 1).is_err());
        assert!(d.disjoint_parts(22, 1).is_err());
    }

    #[test]
    fn take_per_class_caps_each_class() {
        let d = toy(3, 10, ImageShape::new(1, 1, 1));
        let t = d.take_per_class(4, 3).unwrap();
        assert_eq!(t.class_counts(), vec![4, 4, 4]);
        assert_eq!(d.take_per_class(20, 3).unwrap().len(), 30);
        assert_ne!(ids(&t), ids(&d.take_per_class(4, 4).unwrap()));
        assert!(d.take_per_class(0, 3).is_err());
    }
}
