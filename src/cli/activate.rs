//! `krait activate NAME|PATH` and `krait deactivate`: print the script that the shell function
//! from `krait shell-hook` evaluates.

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::activation::{self, ShellKind};
use crate::env::prefix::{self, EnvTarget};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ActivateArgs {
    /// Environment name (under envs_dirs) or path.
    env: String,
    /// The shell to write the script for; the shell function passes it.
    #[arg(long)]
    shell: Option<ShellKind>,
}

#[derive(Debug, clap::Args)]
pub struct DeactivateArgs {
    /// The shell to write the script for; the shell function passes it.
    #[arg(long)]
    shell: Option<ShellKind>,
}

fn needs_hook(shell: Option<ShellKind>) -> miette::Result<ShellKind> {
    shell.ok_or_else(|| {
        miette::miette!(
            help = "run `eval \"$(krait shell-hook --shell bash)\"` (or your shell's equivalent) \
                    first, e.g. in ~/.bashrc; or use `krait run -n NAME CMD` without activating",
            "krait activate/deactivate must run through the shell function from `krait shell-hook`"
        )
    })
}

pub fn activate(args: ActivateArgs, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let shell = needs_hook(args.shell)?;
    let config = Config::load()?;
    let prefix = prefix::existing(&config, &EnvTarget::from_name_or_path(&args.env))?;
    print!(
        "{}",
        activation::activate(&shell, &prefix, &config.envs_dirs)?
    );
    Ok(ExitCode::SUCCESS)
}

pub fn deactivate(args: DeactivateArgs, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let shell = needs_hook(args.shell)?;
    let config = Config::load()?;
    print!("{}", activation::deactivate(&shell, &config.envs_dirs)?);
    Ok(ExitCode::SUCCESS)
}
