//! `krait remove [-n|-p] (PACKAGE... | --all)`.

use crate::cli::args::{parse_names, SolveArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::env::install::{self, Operation};
use crate::env::prefix;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Packages to remove (with everything that depends on them).
    #[arg(required_unless_present = "all")]
    packages: Vec<String>,
    /// Remove every package, and the environment itself.
    #[arg(long, conflicts_with = "packages")]
    all: bool,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let ctx = args.solve.settings().context()?;
    let prefix = prefix::existing(&ctx.config, &args.target.env_target())?;
    let operation = if args.all {
        Operation::Remove(None)
    } else {
        Operation::Remove(Some(parse_names(&args.packages)?))
    };
    let runtime = crate::cli::runtime()?;
    let outcome = runtime.block_on(install::run(
        &ctx,
        &prefix,
        operation,
        &args.solve.run_options(global, &ctx.config, false),
    ))?;
    if args.all && !outcome.dry_run {
        std::fs::remove_dir_all(&prefix)
            .map_err(|e| miette::miette!("cannot remove {}: {e}", prefix.display()))?;
        crate::env::prefix::set_registered(&prefix, false);
    }
    args.solve.print(&outcome, global);
    Ok(ExitCode::SUCCESS)
}
