//! The main job on the embedded digits: an owner, the copies a thief makes of it, independent
//! models, and every method fast enough there (generation and verification under 20 s each),
//! judged by the one rule, as a verdict table and the benchmark's HTML report. It is `mown bench
//! methods` on a config written into the output folder, so a second run reads its cache.

use std::path::PathBuf;
use std::time::Instant;

use mown_bench::{BenchConfig, ModelRole, Shard, Stage};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to write the models (cache), the config and the report.
    #[arg(long, default_value = "mown-demo")]
    pub out_dir: PathBuf,
    /// Seed of the owner (the independent models' seeds follow from it).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The methods of the demo: each generates its evidence and verifies the whole zoo in under 20 s
/// on 2 cores (docs/results/demo-digits.txt has the seconds). Left out: near-boundary (about 50 s
/// of CW-L2 and DCGAN), dataset inference (about 150 s), UAP (its encoder needs reference models
/// of its own) and external features (its style model comes from scripts/fetch-data.sh, and the
/// demo needs no download).
pub const DEMO_METHODS: &[&str] =
    &["ipguard", "cw-l2", "fgsm", "igsm", "random", "sac-w", "sac-m", "akh", "margin", "plain", "badnets"];

/// The demo's zoo: the owner trains on half of the digits; the thief holds the other half (its
/// fine-tuning data and query images); independent models of four architecture families (the
/// owner's arc-c is of the arc-cnn family) train on that half. Fewer families would put the
/// threshold's bound for a model of an unseen family out of reach (docs/decisions.md).
pub fn demo_zoo(seed: u64) -> String {
    // Two of each family, seeds seed+20 .. seed+29 in this order.
    let families = [("mlp", 20), ("lenet5", 20), ("arc-b", 20), ("arc-e", 20), ("resnet20", 20)];
    let independent: String = (0..2u64)
        .flat_map(|round| {
            families.iter().enumerate().map(move |(i, (arch, epochs))| {
                let s = seed + 20 + round * families.len() as u64 + i as u64;
                format!("  \"train({arch},digits,seed={s},epochs={epochs},part=2/2)\",\n")
            })
        })
        .collect();
    format!(
        r#"# mown demo's zoo (written by `mown demo`)
victim = "train(arc-c,digits,seed={seed},epochs=30,part=1/2)"
cache_dir = "cache"
stolen = [
  "ftal(2)",
  "prune(w,0.5,ft=2)",
  "extract(arc-c,labels,same,budget=700,epochs=20)",
  "extract(lenet5,probs,same,budget=700,epochs=20)",
]
independent = [
{independent}]
"#
    )
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&a.out_dir)?;
    std::fs::write(a.out_dir.join("zoo.toml"), demo_zoo(a.seed))?;
    let methods: Vec<String> = DEMO_METHODS.iter().map(|m| format!("\"{m}\"")).collect();
    let bench = format!(
        "# mown demo's benchmark (written by `mown demo`)\ntitle = \"mown demo: the embedded digits\"\nzoo = \"zoo.toml\"\n\
         methods = [{}]\nalpha = 0.05\n[settings]\nseed = \"{}\"\n",
        methods.join(", "),
        a.seed
    );
    let config_path = a.out_dir.join("bench.toml");
    std::fs::write(&config_path, bench)?;
    let cfg = BenchConfig::load(&config_path)?;
    println!("mown demo: the UCI handwritten digits (8x8, embedded); models cached in {}", cfg.zoo.cache_dir.display());
    println!("1. the owner trains on half of the digits; a thief, holding the other half, copies it four ways;");
    println!("   ten models of four architecture families are trained independently on the thief's half.");
    println!("2. each method makes its evidence (the watermarks train their own owner, and the thief's");
    println!("   recipes are applied to it), then every model is measured and judged by the one rule:");
    let result = mown_bench::run_shard(&cfg, a.device.device()?, Shard::WHOLE, Stage::All, &mut |line| {
        if !line.starts_with("measured ") {
            println!("   {line}");
        }
    })?;
    let report = mown_bench::assemble(&cfg, &[result])?;
    println!("3. the models (accuracy on the owner's test images, agreement with the owner there):");
    println!("   {:<12} {:>8} {:>9} {:>7}  model", "role", "accuracy", "agreement", "queries");
    for m in std::iter::once(&report.victim).chain(&report.models) {
        let role = match m.role {
            ModelRole::Victim => "owner",
            ModelRole::Stolen => "copy",
            ModelRole::Independent => "independent",
        };
        let name = m.attack.as_deref().unwrap_or(&m.name);
        println!("   {role:<12} {:>8.3} {:>9.3} {:>7}  {name}", m.accuracy, m.agreement_with_victim, m.queries);
    }
    println!("   (an honest model agrees with the owner almost as often as a copy: telling them apart is");
    println!("   what fingerprints and watermarks are for.)");
    println!("4. verdicts (alpha {}; each independent model judged against the other nine):", report.alpha);
    for line in mown_bench::table::verdict_table(&report).lines() {
        println!("   {line}");
    }
    let (json, html) = mown_bench::html::write_report(&report, &a.out_dir)?;
    println!("5. report: {} (JSON: {})", html.display(), json.display());
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
