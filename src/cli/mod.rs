//! Command-line layer: one file per subcommand, each parsing its arguments and calling the library.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod activate;
mod args;
mod build;
mod clean;
mod config;
mod convert;
mod copy;
mod create;
mod debug;
mod doctor;
mod env;
mod index;
mod info;
mod inspect;
mod install;
mod list;
mod lock;
mod remove;
mod rename;
mod render;
mod repoquery;
mod run;
mod search;
mod serve;
mod shell_hook;
mod skeleton;
mod test;
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
    /// Build conda packages from meta.yaml recipes.
    Build(build::Args),
    /// Print the script that activates an environment (through `krait shell-hook`'s function).
    Activate(activate::ActivateArgs),
    /// Remove cached package archives, extracted packages and repodata.
    Clean(clean::Args),
    /// Show krait's merged configuration and where each value comes from.
    Config(config::Args),
    /// Re-target packages without platform-specific binaries to other platforms (conda convert).
    Convert(convert::Args),
    /// Create an environment from specs, a spec file, environment.yml or a lockfile.
    Create(create::Args),
    /// Set up a recipe's work folder and environments and print how to enter them (conda debug).
    Debug(debug::Args),
    /// Check an environment's files against its records (missing, altered, unowned files).
    Doctor(doctor::Args),
    /// Print the script that deactivates the active environment (through the shell function).
    Deactivate(activate::DeactivateArgs),
    /// Manage whole environments: list, remove, export, create and update from environment.yml.
    Env(env::Args),
    /// Write repodata.json for every subdir of a channel folder.
    Index(index::Args),
    /// Show the platform, virtual packages, channels, caches and configuration files.
    Info(info::Args),
    /// Show the shared libraries a package links to, or its ELF files (conda inspect).
    Inspect(inspect::Args),
    /// Install packages into an environment, or roll it back to a revision.
    Install(install::Args),
    /// List the packages of an environment, or its history revisions.
    List(list::Args),
    /// Solve specs for several platforms and write pixi.lock and conda-lock.yml.
    Lock(lock::Args),
    /// Remove packages (and what depends on them) from an environment.
    Remove(remove::Args),
    /// Query dependencies as mamba does: `depends` or `whoneeds` a package, in an environment or channels.
    Repoquery(repoquery::Args),
    /// Rename an environment (a clone to the new name, then the old one removed).
    Rename(rename::Args),
    /// Run a command inside an activated environment.
    Run(run::Args),
    /// Print the shell function behind `krait activate` and `krait deactivate`.
    ShellHook(shell_hook::Args),
    /// Search channels for packages matching MatchSpecs or name globs.
    Search(search::Args),
    /// Re-run the tests of a built package.
    Test(test::Args),
    /// Update packages of an environment.
    Update(update::Args),
    /// Render a conda-build meta.yaml recipe for every variant, as conda-build does.
    Render(render::Args),
    /// Write conda recipes from other ecosystems' packages (`skeleton pypi`).
    Skeleton(skeleton::Args),
    /// Serve a channel folder over HTTP, with optional read/write tokens and uploads.
    Serve(serve::Args),
    /// Upload package archives to a `krait serve` URL or into a channel folder (or remove them).
    Upload(upload::Args),
    /// Copy packages between labels of a channel (promotion, e.g. dev to main).
    Copy(copy::Args),
}

/// Entry point of the binary: run one command and turn its error into a report and exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.global);
    // Errors are read by people and by tests: never wrap their lines.
    miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }))
    .ok();
    let result = match cli.command {
        Command::Build(args) => build::run(args, &cli.global),
        Command::Activate(args) => activate::activate(args, &cli.global),
        Command::Clean(args) => clean::run(args, &cli.global),
        Command::Config(args) => config::run(args, &cli.global),
        Command::Convert(args) => convert::run(args, &cli.global),
        Command::Create(args) => create::run(args, &cli.global),
        Command::Debug(args) => debug::run(args, &cli.global),
        Command::Doctor(args) => doctor::run(args, &cli.global),
        Command::Deactivate(args) => activate::deactivate(args, &cli.global),
        Command::Env(args) => env::run(args, &cli.global),
        Command::Index(args) => index::run(args, &cli.global),
        Command::Info(args) => info::run(args, &cli.global),
        Command::Inspect(args) => inspect::run(args, &cli.global),
        Command::Install(args) => install::run(args, &cli.global),
        Command::List(args) => list::run(args, &cli.global),
        Command::Lock(args) => lock::run(args, &cli.global),
        Command::Remove(args) => remove::run(args, &cli.global),
        Command::Repoquery(args) => repoquery::run(args, &cli.global),
        Command::Rename(args) => rename::run(args, &cli.global),
        Command::Run(args) => run::run(args, &cli.global),
        Command::ShellHook(args) => shell_hook::run(args, &cli.global),
        Command::Search(args) => search::run(args, &cli.global),
        Command::Test(args) => test::run(args, &cli.global),
        Command::Update(args) => update::run(args, &cli.global),
        Command::Render(args) => render::run(args, &cli.global),
        Command::Serve(args) => serve::run(args, &cli.global),
        Command::Skeleton(args) => skeleton::run(args, &cli.global),
        Command::Upload(args) => upload::run(args, &cli.global),
        Command::Copy(args) => copy::run(args, &cli.global),
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
        // reqwest-retry's line per retry is said by net.rs, with the URL, under -v.
        tracing_subscriber::EnvFilter::new(format!("krait={level}{access},reqwest_retry=off,warn"))
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
