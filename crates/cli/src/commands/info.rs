use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Model file.
    pub model: PathBuf,
    /// Print the metadata as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: InfoArgs) -> anyhow::Result<()> {
    // Loading fully (not just the header) also verifies the weights against the recorded hash.
    let model = mown_nn::io::load(&a.model, &mown_nn::burn::prelude::Device::flex())?;
    let m = &model.meta;
    if a.json {
        println!("{}", serde_json::to_string_pretty(m)?);
        return Ok(());
    }
    let s = m.spec.input;
    println!("file            {}", a.model.display());
    println!("architecture    {} ({} parameters)", m.spec.arch, model.num_params());
    if let Some(g) = &m.graph {
        let ops: Vec<String> = g.op_summary().iter().map(|(op, n)| format!("{op} x{n}")).collect();
        println!("graph           {} nodes: {}", g.nodes.len(), ops.join(", "));
        println!("graph source    {}", g.source);
    }
    println!("input           {}x{}x{} (channels x height x width), pixels in [0, 1]", s.channels, s.height, s.width);
    println!("classes         {}: {}", m.spec.num_classes, m.class_names.join(", "));
    println!("normalisation   mean {:?} std {:?}", m.normalization.mean, m.normalization.std);
    println!("derivation      {}", m.provenance.derivation);
    println!("dataset         {}", m.provenance.dataset);
    println!("seed / epochs   {} / {}", m.provenance.seed, m.provenance.epochs);
    if let Some(acc) = m.provenance.test_accuracy {
        println!("test accuracy   {acc:.4}");
    }
    // For an imported model the hash covers its graph as well (mown_nn::io::model_hash).
    println!("weights sha256  {}", m.weights_sha256);
    println!("written by      {}", m.producer);
    Ok(())
}
