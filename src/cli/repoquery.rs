//! `krait repoquery depends|whoneeds [--tree] [--recursive] SPEC`: mamba's dependency queries
//! over an environment (`-n`/`-p`, else the active one) or over channels (`-c`, `--remote`).

use crate::channel::repodata;
use crate::channel::repoquery::{self, QueryKind};
use crate::channel::resolve::{host_subdir, parse_subdir, ChannelResolver};
use crate::cli::args::{ChannelArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::prefix;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Query,
}

#[derive(Debug, clap::Subcommand)]
enum Query {
    /// List what a package depends on (directly; all the way down with --recursive or --tree).
    Depends(QueryArgs),
    /// List the packages that depend on a package (directly; all the way up with --recursive or --tree).
    Whoneeds(QueryArgs),
}

#[derive(Debug, clap::Args)]
struct QueryArgs {
    /// The package as a MatchSpec, e.g. numpy or 'numpy>=1.26'; its highest matching version is used.
    spec: String,
    /// Show the dependency tree (follows dependencies transitively).
    #[arg(short = 't', long)]
    tree: bool,
    /// Follow dependencies transitively (a flat table of the whole closure).
    #[arg(long)]
    recursive: bool,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    channels: ChannelArgs,
    /// Query the configured channels (and any -c) instead of an environment; -c implies it.
    #[arg(long, conflicts_with_all = ["name", "prefix"])]
    remote: bool,
    /// With channels: query this subdir (plus noarch) instead of the host's.
    #[arg(long, alias = "subdir", value_name = "SUBDIR")]
    platform: Option<String>,
    /// Print mamba-style JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let (kind, args) = match args.command {
        Query::Depends(args) => (QueryKind::Depends, args),
        Query::Whoneeds(args) => (QueryKind::WhoNeeds, args),
    };
    let config = Config::load()?;
    let remote = args.remote || !args.channels.channels.is_empty();
    let (pool, searched) = if remote {
        if args.target.name.is_some() || args.target.prefix.is_some() {
            miette::bail!(
                "-n/-p query an environment and -c/--remote query channels: give one or the other"
            );
        }
        let resolver = ChannelResolver::new(&config);
        let subdir = match &args.platform {
            Some(p) => parse_subdir(p)?,
            None => host_subdir(),
        };
        let channels = resolver.channels_for(&args.channels.selection())?;
        let gateway = repodata::gateway(&config);
        let records = crate::cli::runtime()?.block_on(repoquery::channel_records(
            &gateway, &channels, subdir, kind, &args.spec,
        ))?;
        let names: Vec<&str> = channels
            .iter()
            .map(|c| c.base_url.as_str().trim_end_matches('/'))
            .collect();
        (records, format!("channels {} ({subdir})", names.join(", ")))
    } else {
        let prefix = prefix::existing(&config, &args.target.env_target())?;
        let records = prefix::installed(&prefix)?
            .into_iter()
            .map(|r| r.repodata_record)
            .collect();
        (records, format!("environment {}", prefix.display()))
    };
    let transitive = args.tree || args.recursive;
    let graph = repoquery::query(kind, &pool, &args.spec, transitive, &searched)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&graph.to_json()).expect("json")
        );
    } else if args.tree {
        print!("{}", graph.tree());
    } else {
        print!("{}", graph.table());
    }
    Ok(ExitCode::SUCCESS)
}
