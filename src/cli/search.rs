//! `krait search SPEC...`: conda's search over channels.

use crate::channel::repodata;
use crate::channel::resolve::{host_subdir, parse_subdir, ChannelResolver};
use crate::channel::search::{self, SearchMode};
use crate::cli::args::ChannelArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// MatchSpecs or name globs, e.g. numpy, 'numpy>=1.20', 'numpy 1.26.* py311*', '*py*'.
    #[arg(required = true)]
    specs: Vec<String>,
    #[command(flatten)]
    channels: ChannelArgs,
    /// Search this subdir (any conda subdir, not only the host's), plus noarch.
    #[arg(long, alias = "subdir", value_name = "SUBDIR")]
    platform: Option<String>,
    /// Match the package name exactly (no globs, no '*name*' retry).
    #[arg(long)]
    full_name: bool,
    /// Treat each argument as a MatchSpec (conda's flag; it is how arguments are read anyway).
    #[arg(long)]
    spec: bool,
    /// Show details of every match: depends, constrains, size, sha256, url, license, timestamp.
    #[arg(short, long)]
    info: bool,
    /// Print JSON in conda's shape.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let _ = args.spec;
    let config = Config::load()?;
    let resolver = ChannelResolver::new(&config);
    let subdir = match &args.platform {
        Some(p) => parse_subdir(p)?,
        None => host_subdir(),
    };
    let mode = SearchMode {
        full_name: args.full_name,
    };
    // Reject a bad spec before touching any channel.
    for spec in &args.specs {
        search::parse_query(spec, mode)?;
    }
    let channels = resolver.channels_for(&args.channels.selection())?;
    let gateway = repodata::gateway(&config);
    let runtime = crate::cli::runtime()?;
    let mut records = Vec::new();
    let mut missing = Vec::new();
    for spec in &args.specs {
        let result = runtime.block_on(search::search(
            &gateway, &resolver, &channels, subdir, spec, mode,
        ))?;
        if let Some(wide) = &result.widened_to {
            if !args.json && !global.quiet {
                eprintln!("No match found for: {spec}. Now looking for: {wide}");
            }
        }
        if result.records.is_empty() {
            missing.push(result.query);
        }
        records.extend(result.records);
    }
    search::sort_as_conda(&mut records);
    if !missing.is_empty() {
        let message = search::not_found_message(&missing, &channels, subdir);
        if args.json {
            let error = serde_json::json!({
                "exception_name": "PackagesNotFoundError",
                "error": message,
                "packages": missing,
            });
            println!("{}", serde_json::to_string_pretty(&error).expect("json"));
        } else {
            eprintln!("{message}");
        }
        return Ok(ExitCode::FAILURE);
    }
    let out = if args.json {
        serde_json::to_string_pretty(&search::to_json(&records)).expect("json") + "\n"
    } else if args.info {
        search::format_info(&records)
    } else {
        search::format_table(&records)
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
