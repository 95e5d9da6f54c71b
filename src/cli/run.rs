//! `krait run (-n NAME | -p PATH) CMD...`: run a command in the activated environment.

use crate::cli::args::TargetArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::activation;
use crate::env::prefix;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Run the command in this directory.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Accepted for conda compatibility: krait never captures the command's output, it streams.
    #[arg(long, alias = "live-stream")]
    no_capture_output: bool,
    /// The command and its arguments.
    #[arg(required = true, allow_hyphen_values = true, value_name = "CMD")]
    command: Vec<String>,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let _ = args.no_capture_output;
    let config = Config::load()?;
    let prefix = prefix::existing(&config, &args.target.env_target())?;
    let status = activation::run(
        &prefix,
        &args.command,
        args.cwd.as_deref(),
        &config.envs_dirs,
    )?;
    Ok(exit_code(status))
}

/// The command's exit code; a command killed by a signal exits as shells report it, 128 + N.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return ExitCode::from((128 + signal) as u8);
        }
    }
    ExitCode::from(status.code().unwrap_or(1) as u8)
}
