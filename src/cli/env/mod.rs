//! `krait env list | remove | export | create | update`: whole environments, and
//! environment.yml files.

use crate::cli::GlobalArgs;
use crate::env::prefix::TargetArgs;
use clap::Subcommand;
use rattler_conda_types::EnvironmentYaml;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    target: TargetArgs,
    solve: crate::cli::env_common::SolveArgs,
    ctx: crate::env::install::Context,
}

/// Reads an environment file (adding its channels), picks the environment it is for, and
/// builds the solving context. conda's `env create`/`env update` do not ask for confirmation.
fn read_file_request(
    file: &Path,
    given: &TargetArgs,
    solve: &crate::cli::env_common::SolveArgs,
) -> miette::Result<FileRequest> {
    let mut solve = solve.clone();
    solve.yes = true;
    let request = crate::env::spec_file::gather(
        &[],
        std::slice::from_ref(&file.to_path_buf()),
        &mut solve.channels,
        solve.platform.as_deref(),
    )?;
    let target = file_target(file, given)?;
    let ctx = solve.context_for(!matches!(request, crate::env::spec_file::Request::Exact(_)))?;
    Ok(FileRequest {
        request,
        target,
        solve,
        ctx,
    })
}

/// The environment an environment.yml file is for: `-n`/`-p` when given, else the file's
/// `name:` or `prefix:`, as conda decides.
fn file_target(file: &Path, given: &TargetArgs) -> miette::Result<TargetArgs> {
    if given.name.is_some() || given.prefix.is_some() {
        return Ok(given.clone());
    }
    let yaml = EnvironmentYaml::from_path(file)
        .map_err(|e| miette::miette!("cannot read {}: {e}", file.display()))?;
    match (yaml.name, yaml.prefix) {
        (Some(name), _) => Ok(TargetArgs {
            name: Some(name),
            prefix: None,
        }),
        (None, Some(prefix)) => Ok(TargetArgs {
            name: None,
            prefix: Some(prefix),
        }),
        (None, None) => Err(miette::miette!(
            help = "add `name: NAME` to the file, or pass -n NAME or -p PATH",
            "{} names no environment",
            file.display()
        )),
    }
}

/// conda's default environment file.
fn default_file() -> PathBuf {
    PathBuf::from("environment.yml")
}

/// The environments under envs_dirs, then those conda registered elsewhere.
pub fn known_envs(config: &crate::config::Config) -> Vec<PathBuf> {
    let mut envs = crate::env::prefix::list(config);
    for env in crate::env::prefix::registered() {
        if !envs.contains(&env) {
            envs.push(env);
        }
    }
    envs
}

/// `env list`, also behind `info --envs`.
pub fn list_envs(json: bool, global: &GlobalArgs) -> miette::Result<ExitCode> {
    list::run(list::Args { json }, global)
}
