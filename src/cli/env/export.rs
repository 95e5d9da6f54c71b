//! `krait env export [-n|-p] [--from-history] [--no-builds] [--json] [-f FILE]`.

use crate::cli::args::{ChannelArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::export::{ChannelNames, Dependencies, EnvironmentExport};
use crate::env::history::History;
use crate::env::prefix;
use crate::env::state::PrefixState;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// List only the specs that were asked for (from conda-meta/history), not every package.
    #[arg(long, conflicts_with = "no_builds")]
    from_history: bool,
    /// Leave build strings out: `name=version`.
    #[arg(long)]
    no_builds: bool,
    /// Channels to add to the export; --override-channels leaves the configured ones out.
    #[command(flatten)]
    channels: ChannelArgs,
    /// Print JSON instead of YAML.
    #[arg(long)]
    json: bool,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    file: Option<PathBuf>,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let config = Config::load()?;
    let prefix = prefix::existing(&config, &args.target.env_target())?;
    let records = prefix::installed(&prefix)?;
    let history = History::read(&prefix)?;
    let name = match &args.target.name {
        Some(name) => name.clone(),
        None => prefix
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
    };
    let mut channels = args.channels.channels.clone();
    if !args.channels.override_channels {
        channels.extend(config.channels.iter().cloned());
    }
    let dependencies = if args.from_history {
        Dependencies::FromHistory
    } else if args.no_builds {
        Dependencies::NoBuilds
    } else {
        Dependencies::Pinned
    };
    let mut export = EnvironmentExport::new(
        name,
        &prefix,
        &records,
        &history,
        &channels,
        &ChannelNames::new(&config),
        dependencies,
    );
    export.variables = PrefixState::read(&prefix)?
        .env_vars()
        .into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect();
    let text = if args.json {
        serde_json::to_string_pretty(&export).expect("json") + "\n"
    } else {
        export.to_yaml()
    };
    match &args.file {
        Some(file) => std::fs::write(file, text)
            .map_err(|e| miette::miette!("cannot write {}: {e}", file.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
