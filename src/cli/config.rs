//! `krait config --show [--json]`: the merged configuration and where each key comes from.

use crate::channel::config::Config;
use crate::cli::GlobalArgs;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show the merged configuration (the default and only action for now).
    #[arg(long)]
    show: bool,
    /// Print JSON: the configuration, its sources per key and the files read.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let _ = args.show;
    let config = Config::load()?;
    let value = serde_json::to_value(&config).expect("config serializes");
    let keys: Vec<String> = value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if args.json {
        let sources: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .map(|k| (k.clone(), config.source_of(k).into()))
            .collect();
        let out = serde_json::json!({
            "config": value,
            "sources": sources,
            "files": config.files,
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
        return Ok(ExitCode::SUCCESS);
    }
    println!("==> files read (lowest priority first) <==");
    if config.files.is_empty() {
        println!("  (none)");
    }
    for file in &config.files {
        println!("  {}", file.display());
    }
    for key in keys {
        println!("\n{key}: # from {}", config.source_of(&key));
        let yaml = serde_yaml::to_string(&value[&key]).expect("yaml");
        for line in yaml.lines() {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
