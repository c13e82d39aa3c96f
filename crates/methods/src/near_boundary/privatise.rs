//! Phase 2 of seed 000 (§2.3, "privatisation"): a DCGAN learns the near-boundary CW-L2 examples
//! and generates new samples; those near the owner's (s, t) boundary are the private evidence.
//!
//! The paper contradicts itself on the generator's input: §2.3 says "the generator takes the
//! adversarial examples from CW-L2 as input", Eq. 3 that it takes noise T. We read it as Eq. 3
//! does: G maps Gaussian noise to images and is trained with the CW examples as the *real*
//! distribution (the only reading under which G "generates new near-boundary data" that a thief
//! cannot rebuild from public training data). One unconditional GAN per boundary. Nothing in the
//! paper's loss keeps generated samples near the boundary, so they are checked afterwards:
//! Definition 2 at the same tau on the owner *before* phase 3, as many candidates as it takes
//! (up to `max_candidates`), and the acceptance rate is reported.

use mown_nn::Model;
use mown_nn::dcgan::{DcganParams, train_dcgan};
use serde::{Deserialize, Serialize};

use super::is_near_boundary;
use crate::MethodError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrivatiseParams {
    /// The DCGAN; its `seed` is replaced by the evidence's seed, so one seed fixes the whole file.
    pub gan: DcganParams,
    /// Generated candidates at most; generation stops once enough are accepted.
    pub max_candidates: usize,
}

impl Default for PrivatiseParams {
    fn default() -> Self {
        PrivatiseParams { gan: DcganParams::default(), max_candidates: 16384 }
    }
}

/// Generated samples near `owner`'s (s, t) boundary (at most `wanted`) and what it took.
#[allow(clippy::too_many_arguments)]
pub fn privatise(
    owner: &Model,
    examples: &[f32],
    s: usize,
    t: usize,
    tau: f64,
    wanted: usize,
    p: &PrivatiseParams,
    seed: u64,
) -> Result<(Vec<f32>, serde_json::Value), MethodError> {
    let shape = owner.input_shape();
    let numel = shape.numel();
    let gan = DcganParams { seed, ..p.gan.clone() };
    let (generator, report) = train_dcgan(examples, shape, &gan)?;
    let classes = owner.num_classes();
    let (mut kept, mut tried, mut near, mut round) = (Vec::new(), 0usize, 0usize, 0u64);
    let chunk = 1024usize;
    while kept.len() < wanted * numel && tried < p.max_candidates {
        let n = chunk.min(p.max_candidates - tried);
        let images = generator.sample(n, mown_nn::seed::derive(seed, 10 + round));
        let probs = owner.probabilities(&images)?;
        for (i, row) in probs.chunks(classes).enumerate() {
            if is_near_boundary(row, s, t, tau) {
                near += 1;
                if kept.len() < wanted * numel {
                    kept.extend_from_slice(&images[i * numel..(i + 1) * numel]);
                }
            }
        }
        tried += n;
        round += 1;
    }
    let accepted = kept.len() / numel;
    let stats = serde_json::json!({
        "real_examples": examples.len() / numel, "candidates": tried, "accepted": accepted,
        "acceptance_rate": near as f64 / tried.max(1) as f64, "gan": report,
    });
    Ok((kept, stats))
}
