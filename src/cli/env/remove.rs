//! `krait env remove (-n NAME | -p PATH)`: delete a whole environment.

use crate::cli::args::TargetArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::prefix::{self, PrefixLock};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Only show what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Accepted for conda compatibility; krait does not ask.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let _ = args.yes;
    args.target
        .require("env remove", "e.g. `krait env remove -n myenv`")?;
    let config = Config::load()?;
    let prefix = prefix::existing(&config, &args.target.env_target())?;
    if std::env::var_os("CONDA_PREFIX")
        .is_some_and(|active| prefix::absolute(active.as_ref()) == prefix)
    {
        return Err(miette::miette!(
            help = "run `krait deactivate` first",
            "cannot remove {}: it is the active environment",
            prefix.display()
        ));
    }
    if !global.quiet {
        println!("Remove all packages in environment {}:", prefix.display());
    }
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = PrefixLock::acquire(&prefix, global.quiet)?;
    prefix::remove(&prefix)?;
    Ok(ExitCode::SUCCESS)
}
