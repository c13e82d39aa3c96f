//! `mown bench methods` and `mown bench merge`: every method against every attack of a zoo
//! (crate mown-bench), its report as JSON, HTML and a terminal table.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mown_bench::{BenchConfig, Shard, Stage};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct MethodsBenchArgs {
    /// methods, merge: the benchmark config (bench/methods-fmnist.toml: a zoo file, the methods,
    /// alpha, shared settings).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// methods, merge: folder for report.json and report.html (or, with --shard, shard-I-of-N.json).
    #[arg(long, default_value = "bench-report")]
    pub out: PathBuf,
    /// methods: this process's share, I/N (1-based): evidence of methods m with m mod N = I-1,
    /// measurements of zoo members j with j mod N = I-1. All shards share the zoo's cache folder;
    /// `mown bench merge` joins their files (docs/benchmark.md).
    #[arg(long)]
    pub shard: Option<Shard>,
    /// methods: all (evidence, then measurements) or evidence (only this shard's evidence: a first
    /// array job, so that no shard generates another's).
    #[arg(long, default_value = "all")]
    pub stage: Stage,
    /// merge: the shard files (shard-I-of-N.json).
    #[arg(long = "shard-file", num_args = 1..)]
    pub shard_files: Vec<PathBuf>,
    /// methods (unsharded), merge: also decide every verdict that takes draws again with each
    /// of these samples per draw, from the cached measurements (seed 000's Fig. 4: p against the
    /// evidence-set size), printed, kept in report.json and drawn in report.html.
    #[arg(long = "draw-sizes", value_delimiter = ',')]
    pub draw_sizes: Vec<usize>,
}

pub fn run_methods(a: &MethodsBenchArgs, device: &DeviceArgs) -> anyhow::Result<()> {
    let cfg = load(a)?;
    let shard = a.shard.unwrap_or(Shard::WHOLE);
    if (a.shard.is_some() || a.stage == Stage::Evidence) && !a.draw_sizes.is_empty() {
        anyhow::bail!("--draw-sizes needs every measurement: give it to an unsharded run or to `mown bench merge`");
    }
    if !a.draw_sizes.is_empty() {
        mown_bench::sweep::check_sizes(&a.draw_sizes).context("--draw-sizes")?;
    }
    eprintln!(
        "mown bench methods: {} methods x {} models ({} stolen, {} independent), shard {shard}, cache {}",
        cfg.methods.len(),
        cfg.zoo.stolen.len() + cfg.zoo.independent.len(),
        cfg.zoo.stolen.len(),
        cfg.zoo.independent.len(),
        cfg.zoo.cache_dir.display()
    );
    let result = mown_bench::run_shard(&cfg, device.device()?, shard, a.stage, &mut |line| eprintln!("{line}"))?;
    if a.shard.is_some() || a.stage == Stage::Evidence {
        std::fs::create_dir_all(&a.out)?;
        let path = a.out.join(format!("shard-{}-of-{}.json", shard.index + 1, shard.count));
        std::fs::write(&path, serde_json::to_vec_pretty(&result)?)?;
        println!("shard {shard} done in {:.1} s: {}", result.wall_seconds, path.display());
        return Ok(());
    }
    let shards = [result];
    let mut report = mown_bench::assemble(&cfg, &shards)?;
    report.draw_sizes = sweep(a, &cfg, &shards)?;
    finish(&report, &a.out)
}

pub fn run_merge(a: &MethodsBenchArgs) -> anyhow::Result<()> {
    let cfg = load(a)?;
    if a.shard_files.is_empty() {
        anyhow::bail!("mown bench merge needs the shard files: --shard-file OUT/shard-*.json");
    }
    let mut shards = Vec::new();
    for path in &a.shard_files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        shards.push(serde_json::from_slice(&bytes).with_context(|| format!("{} is not a shard file", path.display()))?);
    }
    let mut report = mown_bench::assemble(&cfg, &shards)?;
    report.draw_sizes = sweep(a, &cfg, &shards)?;
    finish(&report, &a.out)
}

/// `--draw-sizes`: the verdicts again at each size, from the same measurements (they go into
/// the report; the terminal gets their table).
fn sweep(
    a: &MethodsBenchArgs,
    cfg: &BenchConfig,
    shards: &[mown_bench::ShardResult],
) -> anyhow::Result<Option<mown_bench::DrawSizeSweep>> {
    if a.draw_sizes.is_empty() {
        return Ok(None);
    }
    let sweep = mown_bench::draw_size_sweep(cfg, shards, &a.draw_sizes)?;
    print!("{}", mown_bench::sweep_table(&sweep));
    Ok(Some(sweep))
}

fn load(a: &MethodsBenchArgs) -> anyhow::Result<BenchConfig> {
    let path = a.config.as_deref().context("--config FILE is required (e.g. bench/methods-fmnist.toml)")?;
    BenchConfig::load(path)
}

fn finish(report: &mown_bench::BenchReport, out: &Path) -> anyhow::Result<()> {
    print!("{}", mown_bench::table::verdict_table(report));
    if let Some(effects) = mown_bench::table::effect_table(report) {
        print!("\n{effects}");
    }
    let (json, html) = mown_bench::html::write_report(report, out)?;
    println!("report: {} ({}), wall {:.1} s", html.display(), json.display(), report.wall_seconds);
    Ok(())
}
