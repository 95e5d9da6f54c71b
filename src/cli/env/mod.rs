//! `krait env list | remove | export | create | update`: whole environments, and
//! environment.yml files.

use crate::cli::args::{SolveArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::env::prefix::EnvTarget;
use crate::env::spec_file;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod config;
mod create;
mod export;
mod list;
mod remove;
mod update;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: EnvCommand,
}

#[derive(Debug, Subcommand)]
enum EnvCommand {
    /// An environment's own variables: `krait env config vars list|set|unset`.
    Config(config::Args),
    /// Create an environment from an environment.yml file.
    Create(create::Args),
    /// Write an environment's name, channels and packages as environment.yml.
    Export(export::Args),
    /// List the environments under envs_dirs.
    List(list::Args),
    /// Remove an environment and everything in it.
    Remove(remove::Args),
    /// Bring an environment in line with an environment.yml file.
    Update(update::Args),
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    match args.command {
        EnvCommand::Config(args) => config::run(args, global),
        EnvCommand::Create(args) => create::run(args, global),
        EnvCommand::Export(args) => export::run(args, global),
        EnvCommand::List(args) => list::run(args, global),
        EnvCommand::Remove(args) => remove::run(args, global),
        EnvCommand::Update(args) => update::run(args, global),
    }
}

/// What `env create -f` and `env update -f` read from their file, resolved.
struct FileRequest {
    request: crate::env::spec_file::Request,
    extras: spec_file::YamlExtras,
    target: EnvTarget,
    solve: SolveArgs,
    ctx: crate::env::install::Context,
}

/// Reads an environment file (adding its channels), picks the environment it is for, and
/// builds the solving context. conda's `env create`/`env update` do not ask for confirmation.
fn read_file_request(
    file: &Path,
    given: &TargetArgs,
    solve: &SolveArgs,
) -> miette::Result<FileRequest> {
    let mut solve = solve.clone();
    solve.yes = true;
    let mut settings = solve.settings();
    let (request, extras) = spec_file::gather_with_extras(
        &[],
        std::slice::from_ref(&file.to_path_buf()),
        &mut settings.channels,
        settings.platform.as_deref(),
    )?;
    let target = spec_file::file_target(file, &given.env_target())?;
    let ctx = settings.context_for(!matches!(request, spec_file::Request::Exact(_)))?;
    Ok(FileRequest {
        request,
        extras,
        target,
        solve,
        ctx,
    })
}

/// Applies what the file asks beyond conda packages, once they are linked, as conda's
/// `env create`/`env update` do: its `pip:` requirements through the environment's pip, then
/// its `variables:` into `conda-meta/state`.
fn apply_extras(
    prefix: &Path,
    extras: &spec_file::YamlExtras,
    config: &crate::config::Config,
    global: &GlobalArgs,
) -> miette::Result<()> {
    if !extras.pip.is_empty() {
        if !global.quiet {
            eprintln!("Installing pip dependencies");
        }
        let out =
            crate::env::pip::install(prefix, &extras.pip, &extras.pip_dir, &config.envs_dirs)?;
        if global.verbose > 0 {
            eprint!("{out}");
        }
    }
    if !extras.variables.is_empty() {
        let mut state = crate::env::state::PrefixState::read(prefix)?;
        state.set(extras.variables.iter().cloned());
        state.write()?;
    }
    Ok(())
}

/// conda's default environment file.
fn default_file() -> PathBuf {
    PathBuf::from("environment.yml")
}
