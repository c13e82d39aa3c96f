//! `mown zoo`: build a victim, its stolen variants and independent models from a TOML file.

use std::path::PathBuf;

use mown_adversary::zoo::{Zoo, table};

use super::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct ZooArgs {
    /// Zoo configuration (TOML; see `mown_adversary::zoo`).
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: ZooArgs) -> anyhow::Result<()> {
    let zoo = Zoo::load(&a.config)?;
    let mut builder = zoo.builder(a.device.device()?);
    let total = zoo.members().len() as u64;
    let bar = (!a.no_progress).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} models  {elapsed}  {msg}") {
            bar.set_style(style);
        }
        bar
    });
    // Rows are printed as models finish, so a long zoo shows results (and keeps them in a log)
    // even if it is interrupted; the full table follows at the end.
    let entries = zoo.build(&mut builder, |e| {
        let row = table(std::slice::from_ref(e));
        let row = row.lines().nth(1).unwrap_or_default().to_string();
        // indicatif drops `println` when stderr is not a terminal (a log file): print directly.
        match &bar {
            Some(bar) if !bar.is_hidden() => {
                bar.inc(1);
                bar.println(row);
            }
            _ => eprintln!("{row}"),
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print!("{}", table(&entries));
    println!(
        "{} models ({} trained this run, the rest from {}); table saved as {}",
        entries.len(),
        builder.trained,
        zoo.cache_dir.display(),
        zoo.cache_dir.join("zoo.json").display()
    );
    Ok(())
}
