//! `krait list [-n|-p] [REGEX] [--explicit [--md5|--sha256]] [--export] [--revisions] [--json]`.

use crate::channel::resolve::host_subdir;
use crate::cli::args::TargetArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::export::{self, ChannelNames, ExplicitHash};
use crate::env::history::History;
use crate::env::prefix;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Only list packages whose names match this regular expression (case-insensitive).
    regex: Option<String>,
    /// Write an @EXPLICIT spec file: one archive URL per package.
    #[arg(long, conflicts_with_all = ["export", "revisions"])]
    explicit: bool,
    /// With --explicit, append each archive's md5.
    #[arg(long, requires = "explicit", conflicts_with = "sha256")]
    md5: bool,
    /// With --explicit, append each archive's sha256.
    #[arg(long, requires = "explicit")]
    sha256: bool,
    /// Write `name=version=build` lines that `krait create --file` reads back.
    #[arg(short = 'e', long, conflicts_with = "revisions")]
    export: bool,
    /// Show the environment's history revisions.
    #[arg(short = 'r', long)]
    revisions: bool,
    /// Print conda-style JSON.
    #[arg(long, conflicts_with_all = ["explicit", "export"])]
    json: bool,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let config = Config::load()?;
    let prefix = prefix::existing(&config, &args.target.env_target())?;
    if args.revisions {
        let history = History::read(&prefix)?;
        if args.json {
            let value = export::revisions_json(&history);
            println!("{}", serde_json::to_string_pretty(&value).expect("json"));
        } else {
            print!("{}", export::revisions_text(&history));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let installed = prefix::installed(&prefix)?;
    let records = export::filter(&installed, args.regex.as_deref())?;
    let channels = ChannelNames::new(&config);
    if args.json {
        let value = export::list_json(&records, &channels);
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
    } else if args.explicit {
        let hash = match (args.md5, args.sha256) {
            (true, _) => Some(ExplicitHash::Md5),
            (_, true) => Some(ExplicitHash::Sha256),
            _ => None,
        };
        print!("{}", export::explicit(&records, host_subdir(), hash)?);
    } else if args.export {
        print!("{}", export::export_specs(&records, host_subdir()));
    } else {
        print!("{}", export::table(&prefix, &records, &channels));
    }
    // conda exits 1 when a pattern matches nothing.
    if args.regex.is_some() && records.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
