//! `krait update [-n|-p] (PACKAGE... | --all)`.

use crate::cli::args::{parse_names, SolveArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::env::install::{self, Operation};
use crate::env::prefix;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Packages to update to the newest version the other specs allow.
    #[arg(required_unless_present = "all")]
    packages: Vec<String>,
    /// Update every installed package.
    #[arg(long, conflicts_with = "packages")]
    all: bool,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let ctx = args.solve.settings().context()?;
    let prefix = prefix::existing(&ctx.config, &args.target.env_target())?;
    let names = if args.all {
        None
    } else {
        Some(parse_names(&args.packages)?)
    };
    let runtime = crate::cli::runtime()?;
    let outcome = runtime.block_on(install::run(
        &ctx,
        &prefix,
        Operation::Update(names),
        &args.solve.run_options(global, &ctx.config, false),
    ))?;
    args.solve.print(&outcome, global);
    Ok(ExitCode::SUCCESS)
}
