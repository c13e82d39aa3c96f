//! `mown methods [NAME]`: the method registry, for people choosing a method and for scripts
//! (`--json`).

use mown_methods::registry::{self, Entry, OwnerEffect};

#[derive(clap::Args, Debug)]
pub struct MethodsArgs {
    /// One method, with its parameters' current defaults.
    pub name: Option<String>,
    /// The registry (or the method) as JSON.
    #[arg(long)]
    pub json: bool,
}

fn effect(e: &Entry) -> &'static str {
    match e.effect {
        OwnerEffect::Reads => "reads the owner",
        OwnerEffect::Tunes => "fine-tunes the owner",
        OwnerEffect::Trains => "trains the owner (watermark)",
    }
}

fn describe(e: &Entry) -> anyhow::Result<serde_json::Value> {
    let m = registry::method(e.name, &[])?;
    Ok(serde_json::json!({
        "name": e.name,
        "aliases": e.aliases,
        "paper": e.paper,
        "summary": e.summary,
        "needs": e.needs.to_string(),
        "owner": effect(e),
        "references": e.references,
        "params": e.params.iter().map(|p| serde_json::json!({ "key": p.key, "help": p.help })).collect::<Vec<_>>(),
        "defaults": m.settings(),
    }))
}

pub fn run(a: MethodsArgs) -> anyhow::Result<()> {
    let entries: Vec<&Entry> = match &a.name {
        Some(name) => vec![registry::entry(name)?],
        None => registry::registry().iter().collect(),
    };
    if a.json {
        let all = entries.iter().map(|e| describe(e)).collect::<anyhow::Result<Vec<_>>>()?;
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    if a.name.is_none() {
        println!("{:<14} {:<7} {:<30} what it is", "method", "needs", "owner");
        for e in &entries {
            println!("{:<14} {:<7} {:<30} {}", e.name, e.needs.to_string(), effect(e), e.summary);
        }
        println!(
            "\n`mown methods NAME` lists a method's parameters; set them with `--set KEY=VALUE` or NAME[KEY=VALUE,...]."
        );
        return Ok(());
    }
    let e = entries[0];
    println!("{}: {}\npaper: {}\nneeds: {} from a suspect; {}", e.name, e.summary, e.paper, e.needs, effect(e));
    if e.references {
        println!("generation needs reference models: copies (--piracy) and independent models (--homologous)");
    }
    println!("parameters:");
    for p in e.params {
        println!("  {:<18} {}", p.key, p.help);
    }
    Ok(())
}
