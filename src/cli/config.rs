//! `krait config`: show the merged configuration and where each key comes from, or change one
//! configuration file as `conda config --set/--add/--append/--remove/--remove-key/--get` does.

use crate::cli::GlobalArgs;
use crate::config::file::{self as config_file, Edit};
use crate::config::{self, Config};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show the merged configuration (what happens without an edit or --get).
    #[arg(long)]
    show: bool,
    /// Print JSON: the configuration, its sources per key and the files read.
    #[arg(long)]
    json: bool,
    /// The file to change or read with --get (default: ~/.condarc).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Set a value: `--set channel_priority strict`, `--set proxy_servers.http URL`.
    #[arg(long, num_args = 2, value_names = ["KEY", "VALUE"])]
    set: Vec<String>,
    /// Put a value first in a list key (as conda's --add), moving it there if it is in it.
    #[arg(long, visible_alias = "prepend", num_args = 2, value_names = ["KEY", "VALUE"])]
    add: Vec<String>,
    /// Put a value last in a list key, moving it there if it is in it.
    #[arg(long, num_args = 2, value_names = ["KEY", "VALUE"])]
    append: Vec<String>,
    /// Take a value out of a list key.
    #[arg(long, num_args = 2, value_names = ["KEY", "VALUE"])]
    remove: Vec<String>,
    /// Take a key out (`KEY.NAME` for one entry of a mapping key).
    #[arg(long, value_name = "KEY")]
    remove_key: Vec<String>,
    /// Print the file's values (or one key's) as the --set/--add commands that make them.
    #[arg(long, value_name = "KEY", num_args = 0..=1, default_missing_value = "")]
    get: Option<String>,
}

impl Args {
    fn edits(&self) -> Vec<Edit> {
        let pairs = |values: &[String], make: fn(String, String) -> Edit| -> Vec<Edit> {
            values
                .chunks_exact(2)
                .map(|pair| make(pair[0].clone(), pair[1].clone()))
                .collect()
        };
        let mut edits = pairs(&self.set, Edit::Set);
        edits.extend(pairs(&self.add, Edit::Prepend));
        edits.extend(pairs(&self.append, Edit::Append));
        edits.extend(pairs(&self.remove, Edit::Remove));
        edits.extend(self.remove_key.iter().cloned().map(Edit::RemoveKey));
        edits
    }
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let file = args.file.clone().unwrap_or_else(config::user_condarc);
    let edits = args.edits();
    if !edits.is_empty() {
        config_file::edit(&file, &edits)?;
        if !global.quiet {
            eprintln!("wrote {}", file.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(key) = &args.get {
        let document = config_file::read(&file)?;
        let key = Some(key.as_str()).filter(|k| !k.is_empty());
        for line in config_file::get_lines(&document, key) {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    show(args.json)
}

fn show(json: bool) -> miette::Result<ExitCode> {
    let config = Config::load()?;
    let value = serde_json::to_value(&config).expect("config serializes");
    let keys: Vec<String> = value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if json {
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
