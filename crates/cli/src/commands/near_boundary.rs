//! `mown fingerprint near-boundary` (seed 000): private samples on one class boundary (s, t) of
//! the owner, and the boundary-tuned owner they belong to.

use std::path::PathBuf;

use anyhow::Context;
use mown_adversary::build::Builder;
use mown_methods::near_boundary::{FineTuneParams, FtSpace, NearBoundaryParams, PrivatiseParams, generate};
use mown_nn::dcgan::DcganParams;

/// Options of `mown fingerprint near-boundary`; `--n` is the number of samples (default 64).
#[derive(clap::Args, Debug, Clone)]
pub struct NearBoundaryArgs {
    /// near-boundary: the boundary S,T (class indices): seed images of class S move toward T.
    #[arg(long, value_delimiter = ',', default_values_t = [0usize, 1])]
    pub boundary: Vec<usize>,
    /// near-boundary: Definition 2's largest gap |g_s - g_t| of a near-boundary sample.
    #[arg(long, default_value_t = 0.1)]
    pub tau: f64,
    /// near-boundary: training images of class S that CW-L2 starts from.
    #[arg(long, default_value_t = 256)]
    pub seeds: usize,
    /// near-boundary: where the boundary-tuned owner is written (phase 3 changes the owner: the
    /// evidence names this model's SHA-256, and this is the model to deploy).
    #[arg(long)]
    pub tuned_out: Option<PathBuf>,
    /// near-boundary: skip phase 3 (the evidence then names the owner as it is).
    #[arg(long)]
    pub no_finetune: bool,
    /// near-boundary: epochs of boundary fine-tuning.
    #[arg(long, default_value_t = 1)]
    pub ft_epochs: usize,
    /// near-boundary: Loss_FT on probs (default) or logits (take a smaller --ft-lr).
    #[arg(long, default_value = "probs")]
    pub ft_space: String,
    /// near-boundary: the first fine-tuning rate (halved while a tuning is rejected).
    #[arg(long, default_value_t = 0.001)]
    pub ft_lr: f64,
    /// near-boundary: the most accuracy (0-1, on held-out data) phase 3 may cost.
    #[arg(long, default_value_t = 0.02)]
    pub ft_max_drop: f64,
    /// near-boundary: skip phase 2 (the evidence is then the CW-L2 examples, which a thief with
    /// the same public data can rebuild).
    #[arg(long)]
    pub no_gan: bool,
    /// near-boundary: DCGAN training steps (one discriminator and one generator step each).
    #[arg(long, default_value_t = 1000)]
    pub gan_steps: usize,
    /// near-boundary: DCGAN generator widths from the projected map up (one stride-2 layer each).
    #[arg(long, value_delimiter = ',', default_values_t = [128usize, 64])]
    pub gan_widths: Vec<usize>,
    /// near-boundary: DCGAN latent size.
    #[arg(long, default_value_t = 100)]
    pub gan_latent: usize,
}

pub fn run(
    a: &super::fingerprint::FingerprintArgs,
    owner: &mown_nn::Model,
    builder: &mut Builder,
    data: &str,
) -> anyhow::Result<()> {
    let nb = &a.near_boundary;
    let [source, target] = nb.boundary[..] else {
        anyhow::bail!("--boundary takes two classes S,T, got {:?}", nb.boundary);
    };
    let finetune = match (nb.no_finetune, &nb.tuned_out) {
        (true, _) => None,
        (false, None) => {
            anyhow::bail!("phase 3 fine-tunes the owner: give --tuned-out FILE for the tuned model, or --no-finetune")
        }
        (false, Some(_)) => Some(FineTuneParams {
            epochs: nb.ft_epochs,
            lr: nb.ft_lr,
            max_accuracy_drop: nb.ft_max_drop,
            space: match nb.ft_space.to_ascii_lowercase().as_str() {
                "probs" | "probabilities" => FtSpace::Probabilities,
                "logits" => FtSpace::Logits,
                other => anyhow::bail!("--ft-space {other}: probs or logits"),
            },
            seed: a.generation.seed,
            ..FineTuneParams::default()
        }),
    };
    let (train, test) = builder.dataset(data).with_context(|| format!("training images '{data}' (set --data)"))?;
    let p = NearBoundaryParams {
        source,
        target,
        tau: nb.tau,
        seeds: nb.seeds,
        samples: a.generation.n_or(64),
        finetune,
        privatise: (!nb.no_gan).then(|| PrivatiseParams {
            gan: DcganParams {
                steps: nb.gan_steps,
                widths: nb.gan_widths.clone(),
                latent: nb.gan_latent,
                ..DcganParams::default()
            },
            ..PrivatiseParams::default()
        }),
        seed: a.generation.seed,
        ..NearBoundaryParams::default()
    };
    let (evidence, tuned) = generate(owner, &train, &test, &p)?;
    evidence.save(&a.out)?;
    if let (Some(path), Some(_)) = (&nb.tuned_out, &p.finetune) {
        mown_nn::io::save(&tuned, path)?;
        println!("boundary-tuned owner written to {} (sha256 {})", path.display(), evidence.owner_sha256);
    }
    println!(
        "near-boundary({source},{target}): {} samples of {} written to {} ({}; {:.1}s)",
        evidence.len(),
        a.model.display(),
        a.out.display(),
        evidence.stats,
        evidence.timings["seconds"].as_f64().unwrap_or(f64::NAN)
    );
    for w in mown_methods::Evidence::warnings(&evidence) {
        eprintln!("warning: {w}");
    }
    Ok(())
}
