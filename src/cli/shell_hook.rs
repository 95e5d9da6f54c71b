//! `krait shell-hook --shell SHELL`: the shell function behind `krait activate`/`deactivate`,
//! used as `eval "$(krait shell-hook --shell bash)"`.

use crate::cli::GlobalArgs;
use crate::env::activation::{self, ShellKind};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, xonsh, powershell, cmd or nu; by default the shell named by $SHELL.
    #[arg(short, long)]
    shell: Option<ShellKind>,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let exe = std::env::current_exe()
        .map_err(|e| miette::miette!("cannot find the krait executable's path: {e}"))?;
    let shell = match args.shell {
        Some(shell) => shell,
        None => ShellKind::from_env()?,
    };
    print!("{}", activation::hook(&shell, &exe));
    Ok(ExitCode::SUCCESS)
}
