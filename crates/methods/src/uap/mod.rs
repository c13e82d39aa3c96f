//! UAP fingerprinting (Peng et al., "Fingerprinting Deep Neural Networks Globally via Universal
//! Adversarial Perturbations"; seed 003).
//!
//! - `deepfool` (in mown-adversary, which also trains with it): multi-class L2 DeepFool
//!   (Moosavi-Dezfooli et al., CVPR 2016), batched.
//! - [`universal`]: the universal perturbation v of Moosavi-Dezfooli et al. (CVPR 2017, Alg. 1).
//! - [`points`]: K-means on the owner's outputs, one point per cluster, and the multi-view
//!   sampling that makes positives for contrastive training (seed 003 §4.2-4.3, Algorithm 1).
//! - [`vector`]: the fingerprint F = [f(x1), f(x1+v), ...] (seed 003 §4.2, Eq. 6) and its 2n queries.
//! - [`encoder`]: the contrastive encoder trained with the supervised contrastive loss (Eq. 7).
//! - [`fingerprint`]: all of it as ownership evidence: generation, the file, the measurement.
//!
//! Everything works on plain buffers: NCHW pixels in [0, 1] and row-major probability rows, so
//! that the suspect side needs nothing but a black-box query interface.

pub mod encoder;
pub mod fingerprint;
pub mod points;
pub mod universal;
pub mod vector;

pub use encoder::{Encoder, EncoderConfig, EncoderParams, supcon_loss, train_encoder};
pub use fingerprint::{
    PerturbationKind, ReferenceRecord, ReferenceRole, UapFingerprint, UapFingerprintParams, generate,
};
pub use mown_adversary::deepfool::{CandidateClasses, DeepFoolParams, DeepFoolResult, deepfool};
pub use points::{Clusters, KMeansParams, cluster_outputs, kmeans, sample_views};
pub use universal::{Radius, UapParams, UapResult, universal_perturbation};
pub use vector::{fingerprint_vector, gather_images, query_images, shifted_queries};

/// L2 norm of a flat buffer, accumulated in f64 so that long images do not lose precision.
pub(crate) use mown_adversary::deepfool::l2_norm;

/// A tiny owner for the unit tests: the embedded digits and an MLP trained on them for a few
/// epochs (well under a second in release), as crates/nn/tests/common does.
#[cfg(test)]
pub(crate) mod testutil {
    use mown_data::{DataSource, Dataset};
    use mown_nn::burn::prelude::Device;
    use mown_nn::{Arch, Model, ModelMeta, ModelSpec, TrainConfig};

    pub fn digits() -> (Dataset, Dataset) {
        DataSource::Digits.load().expect("embedded digits load")
    }

    /// An MLP trained on the digits' training split: about 0.95 test accuracy.
    pub fn digits_mlp(train: &Dataset, seed: u64) -> Model {
        let spec = ModelSpec::new(Arch::Mlp, train.shape, train.num_classes).unwrap();
        let model = Model::init(ModelMeta::for_dataset(spec, train).unwrap(), &Device::flex(), seed);
        let cfg = TrainConfig { epochs: 8, batch_size: 64, lr: 0.05, seed, ..TrainConfig::default() };
        mown_nn::train::train(model, train, None, &cfg).unwrap().0
    }
}
