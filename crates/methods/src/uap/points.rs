//! Seed 003's point selection (§4.2 and Algorithm 1, lines 9-14): K-means with n clusters on the
//! owner's representation of its training data, one point per cluster, so that the fingerprint's
//! points start in different classes and head for different boundaries; and the multi-view
//! sampling (§4.3) that turns one fingerprint into k positives for contrastive training.
//!
//! K-means is linfa-clustering's (Lloyd iterations from k-means++ seeds, the best of `runs`
//! restarts by inertia), on f64 copies of the features.

use linfa::DatasetBase;
use linfa::prelude::{Fit, Predict};
use linfa_clustering::{KMeans, KMeansInit};
use mown_nn::Model;
use mown_nn::seed::derive;
use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng as _;
use serde::{Deserialize, Serialize};

use crate::MethodError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeansParams {
    /// n: clusters, and so points per fingerprint (seed 003 uses 100 throughout, §5.1; §5.3: the gain
    /// levels off at about 70).
    pub clusters: usize,
    /// Restarts from fresh k-means++ seeds; the lowest inertia wins (linfa's default is 10; 3
    /// keeps 60,000 Fashion-MNIST images at 100 clusters to seconds).
    pub runs: usize,
    /// Lloyd iterations per run at most.
    pub max_iterations: u64,
    /// Stop a run once the centroids move less than this (summed L2).
    pub tolerance: f64,
    pub seed: u64,
}

impl Default for KMeansParams {
    fn default() -> Self {
        Self { clusters: 100, runs: 3, max_iterations: 300, tolerance: 1e-4, seed: 0 }
    }
}

/// The clusters found, members as indices into the images clustered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clusters {
    /// Members of each cluster, in increasing index order. Clusters that K-means left empty are
    /// dropped, so there can be fewer than asked for (only when the features have fewer
    /// distinct values than clusters).
    pub members: Vec<Vec<usize>>,
    /// Per cluster, the member nearest its centroid (ties: the lowest index): the fingerprint's
    /// points x_1..x_n.
    pub representatives: Vec<usize>,
    /// Centroids, `[clusters, dim]` row-major.
    pub centroids: Vec<f32>,
    pub dim: usize,
}

impl Clusters {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Clusters `images` by the owner's logits. Seed 003 says only "the last layer" (§4.2; "the
/// output layer" for its neighbourhoods, §4.3); we read it as the logits: the output of the last
/// layer, before the softmax squashes the distances between confident points.
pub fn cluster_outputs(owner: &Model, images: &[f32], params: &KMeansParams) -> Result<Clusters, MethodError> {
    let logits = owner.logits(images)?;
    kmeans(&logits, owner.num_classes(), params)
}

/// K-means on `features` (`[n, dim]` row-major). The same features and seed give the same
/// clusters.
pub fn kmeans(features: &[f32], dim: usize, params: &KMeansParams) -> Result<Clusters, MethodError> {
    let bad = |m: String| Err(MethodError::BadParameter(m));
    if dim == 0 || !features.len().is_multiple_of(dim) {
        return bad(format!("{} feature values are not rows of {dim}", features.len()));
    }
    let n = features.len() / dim;
    if params.clusters == 0 || params.clusters > n {
        return bad(format!("cannot make {} clusters of {n} points", params.clusters));
    }
    if features.iter().any(|v| !v.is_finite()) {
        return bad("features contain NaN or infinite values".into());
    }
    let records = Array2::from_shape_vec((n, dim), features.iter().map(|&v| v as f64).collect())
        .map_err(|e| MethodError::BadParameter(e.to_string()))?;
    let dataset = DatasetBase::from(records);
    let rng = Xoshiro256Plus::seed_from_u64(params.seed);
    let model = KMeans::params_with_rng(params.clusters, rng)
        .init_method(KMeansInit::KMeansPlusPlus)
        .n_runs(params.runs.max(1))
        .max_n_iterations(params.max_iterations.max(1))
        .tolerance(params.tolerance)
        .fit(&dataset)
        .map_err(|e| MethodError::BadParameter(format!("k-means failed: {e}")))?;
    let assignment = model.predict(dataset.records());
    let centroids = model.centroids();
    let mut members = vec![Vec::new(); params.clusters];
    for (i, &c) in assignment.iter().enumerate() {
        members[c].push(i);
    }
    let mut out = Clusters { members: Vec::new(), representatives: Vec::new(), centroids: Vec::new(), dim };
    for (c, list) in members.into_iter().enumerate().filter(|(_, m)| !m.is_empty()) {
        let centroid = centroids.row(c);
        let distance = |i: usize| -> f64 {
            features[i * dim..(i + 1) * dim].iter().zip(centroid.iter()).map(|(&a, &b)| (a as f64 - b).powi(2)).sum()
        };
        let nearest = list.iter().copied().fold((usize::MAX, f64::INFINITY), |best, i| {
            let d = distance(i);
            if d < best.1 { (i, d) } else { best }
        });
        out.representatives.push(nearest.0);
        out.centroids.extend(centroid.iter().map(|&v| v as f32));
        out.members.push(list);
    }
    Ok(out)
}

/// `views` point sets, each with one member of every cluster, in cluster order (Algorithm 1,
/// line 13: X^i ∈ C_1 × ... × C_n). Within a cluster the members are drawn without replacement
/// across views: view j takes the j-th member of a seeded shuffle of the cluster. A cluster with
/// fewer members than views (the paper does not say what then; its k = 200 views exceed many
/// cluster sizes) is reshuffled once it runs out and continues, so no member repeats until all
/// have been used, and, with two or more members, never in consecutive views. Each cluster's
/// draws come from its own stream of the seed, so they do not depend on the other clusters.
pub fn sample_views(clusters: &[Vec<usize>], views: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::with_capacity(clusters.len()); views];
    for (c, members) in clusters.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let mut rng = StdRng::seed_from_u64(derive(seed, c as u64));
        let mut deck: Vec<usize> = Vec::new();
        let mut last = None;
        for view in out.iter_mut() {
            if deck.is_empty() {
                deck = members.clone();
                deck.shuffle(&mut rng);
                // Draws pop from the end: keep the previous deck's last draw from coming first.
                if deck.len() > 1 && deck.last() == last.as_ref() {
                    let end = deck.len() - 1;
                    deck.swap(0, end);
                }
            }
            let pick = deck.pop().expect("deck refilled above");
            view.push(pick);
            last = Some(pick);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated blobs in 2-D, 9 points each, interleaved by index.
    fn blobs() -> Vec<f32> {
        let centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)];
        (0..27)
            .flat_map(|i| {
                let (x, y) = centres[i % 3];
                let jitter = (i / 3) as f32 * 0.1;
                [x + jitter, y - jitter]
            })
            .collect()
    }

    #[test]
    fn kmeans_finds_separated_blobs_and_their_central_members() {
        let params = KMeansParams { clusters: 3, seed: 7, ..KMeansParams::default() };
        let clusters = kmeans(&blobs(), 2, &params).unwrap();
        assert_eq!(clusters.len(), 3);
        let mut groups: Vec<Vec<usize>> = clusters.members.clone();
        groups.sort();
        let expected: Vec<Vec<usize>> = (0..3).map(|g| (0..9).map(|k| 3 * k + g).collect()).collect();
        assert_eq!(groups, expected);
        // Jitters 0.0..0.8: the centroid sits at jitter 0.4, which is member k = 4.
        for (list, &rep) in clusters.members.iter().zip(&clusters.representatives) {
            assert_eq!(rep, list[4]);
        }
        assert_eq!(kmeans(&blobs(), 2, &params).unwrap(), clusters);
        assert!(kmeans(&blobs(), 2, &KMeansParams { clusters: 28, ..params }).is_err());
    }

    #[test]
    fn owner_logits_cluster_reproducibly_with_central_representatives() {
        let (train, _) = crate::uap::testutil::digits();
        let model = crate::uap::testutil::digits_mlp(&train, 3);
        let params = KMeansParams { clusters: 20, seed: 1, ..KMeansParams::default() };
        let started = std::time::Instant::now();
        let clusters = cluster_outputs(&model, train.images(), &params).unwrap();
        eprintln!(
            "k-means: {} clusters of {} images in {:.3} s",
            clusters.len(),
            train.len(),
            started.elapsed().as_secs_f64()
        );
        assert_eq!(clusters.len(), 20);
        assert_eq!(clusters.members.iter().map(Vec::len).sum::<usize>(), train.len());
        assert_eq!(clusters, cluster_outputs(&model, train.images(), &params).unwrap());
        // Each representative is a member, and the member nearest its own centroid.
        let logits = model.logits(train.images()).unwrap();
        for (c, (list, &rep)) in clusters.members.iter().zip(&clusters.representatives).enumerate() {
            let centroid = &clusters.centroids[c * 10..(c + 1) * 10];
            let d =
                |i: usize| logits[i * 10..(i + 1) * 10].iter().zip(centroid).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
            assert!(list.contains(&rep) && list.iter().all(|&i| d(i) >= d(rep) - 1e-4));
        }
        // The owner's classes dominate its clusters: most clusters hold one label mostly.
        let pure = clusters
            .members
            .iter()
            .filter(|list| {
                let mut counts = [0usize; 10];
                list.iter().for_each(|&i| counts[train.labels()[i]] += 1);
                *counts.iter().max().unwrap() * 10 >= list.len() * 8
            })
            .count();
        assert!(pure >= 15, "only {pure} of 20 clusters are 80% one label");
    }

    #[test]
    fn views_take_one_member_per_cluster_without_repeats_and_reproduce() {
        let clusters = vec![(0..5).collect::<Vec<_>>(), (10..13).collect(), vec![20]];
        let views = sample_views(&clusters, 7, 3);
        assert_eq!(views, sample_views(&clusters, 7, 3));
        assert_ne!(views, sample_views(&clusters, 7, 4));
        assert_eq!(views.len(), 7);
        for (c, members) in clusters.iter().enumerate() {
            let column: Vec<usize> = views.iter().map(|v| v[c]).collect();
            assert!(column.iter().all(|m| members.contains(m)));
            // Every run of |C| consecutive views from the start uses each member once.
            for block in column.chunks(members.len()).filter(|b| b.len() == members.len()) {
                let mut sorted = block.to_vec();
                sorted.sort();
                assert_eq!(&sorted, members);
            }
            if members.len() > 1 {
                assert!(column.windows(2).all(|w| w[0] != w[1]), "cluster {c} repeats: {column:?}");
            }
        }
        // The first 5 views of a 5-member cluster are a permutation of it, whatever follows.
        let first: Vec<usize> = views[..5].iter().map(|v| v[0]).collect();
        assert_eq!(first, sample_views(&clusters[..1], 5, 3).iter().map(|v| v[0]).collect::<Vec<_>>());
    }
}
