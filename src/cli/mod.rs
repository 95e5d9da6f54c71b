//! Command-line layer: one file per subcommand, each parsing its arguments and calling the library.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod config;
mod create;
mod env_common;
mod index;
mod install;
mod remove;
mod search;
mod serve;
mod skeleton;
mod update;
mod upload;

/// Options every subcommand accepts.
#[derive(Debug, clap::Args, Clone)]
pub struct GlobalArgs {
    /// Print only errors (no progress bars, no summaries).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Parser)]
#[command(
    name = "krait",
    version,
    about = "Build, index, serve and install conda packages"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show krait's merged configuration and where each value comes from.
    Config(config::Args),
    /// Create an environment from specs, a spec file, environment.yml or a lockfile.
    Create(create::Args),
    /// Write repodata.json for every subdir of a channel folder.
    Index(index::Args),
    /// Install packages into an environment, or roll it back to a revision.
    Install(install::Args),
    /// Remove packages (and what depends on them) from an environment.
    Remove(remove::Args),
    /// Search channels for packages matching MatchSpecs or name globs.
    Search(search::Args),
    /// Write conda recipes from other ecosystems' packages (`skeleton pypi`).
    Skeleton(skeleton::Args),
    /// Serve a channel folder over HTTP, with optional read/write tokens and uploads.
    Serve(serve::Args),
    /// Update packages of an environment.
    Update(update::Args),
    /// Upload package archives to a `krait serve` URL or into a channel folder.
    Upload(upload::Args),
}

/// Entry point of the binary: run one command and turn its error into a report and exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.global);
    let result = match cli.command {
        Command::Config(args) => config::run(args, &cli.global),
        Command::Create(args) => create::run(args, &cli.global),
        Command::Index(args) => index::run(args, &cli.global),
        Command::Install(args) => install::run(args, &cli.global),
        Command::Remove(args) => remove::run(args, &cli.global),
        Command::Search(args) => search::run(args, &cli.global),
        Command::Update(args) => update::run(args, &cli.global),
        Command::Serve(args) => serve::run(args, &cli.global),
        Command::Skeleton(args) => skeleton::run(args, &cli.global),
        Command::Upload(args) => upload::run(args, &cli.global),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(global: &GlobalArgs) {
    let level = match global.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KRAIT_LOG").unwrap_or_else(|_| {
        // `krait serve`'s access log is shown unless --quiet.
        let access = if global.quiet || global.verbose > 0 {
            ""
        } else {
            ",krait::serve=info"
        };
        tracing_subscriber::EnvFilter::new(format!("krait={level}{access},warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

/// A current-thread-free tokio runtime for commands that do async I/O.
pub(crate) fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| miette::miette!("cannot start the async runtime: {e}"))
}
