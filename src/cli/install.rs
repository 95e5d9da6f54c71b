//! `krait install [-n|-p] SPEC... [--file FILE] [--revision N]`.

use crate::cli::args::{SolveArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::env::install::{self, Operation};
use crate::env::prefix;
use crate::env::spec_file;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Packages to install or change, as MatchSpecs.
    specs: Vec<String>,
    /// Read specs from a file (spec list, @EXPLICIT, environment.yml, lockfile).
    #[arg(long = "file", short = 'f')]
    files: Vec<PathBuf>,
    /// Roll the environment back to this history revision (see `krait list --revisions`).
    #[arg(long, conflicts_with_all = ["specs", "files"])]
    revision: Option<usize>,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let solve = &args.solve;
    let mut settings = solve.settings();
    let operation = match args.revision {
        Some(n) => Operation::Revision(n),
        None => {
            if args.specs.is_empty() && args.files.is_empty() {
                return Err(miette::miette!(
                    help = "e.g. `krait install -n myenv numpy>=1.26`",
                    "krait install needs at least one package spec, --file or --revision"
                ));
            }
            match spec_file::gather(
                &args.specs,
                &args.files,
                &mut settings.channels,
                settings.platform.as_deref(),
            )? {
                spec_file::Request::Specs(specs) => Operation::Install(specs),
                spec_file::Request::Exact(records) => Operation::Exact(records),
            }
        }
    };
    let ctx = settings.context_for(!matches!(operation, Operation::Exact(_)))?;
    let prefix = prefix::existing(&ctx.config, &args.target.env_target())?;
    let runtime = crate::cli::runtime()?;
    let outcome = runtime.block_on(install::run(
        &ctx,
        &prefix,
        operation,
        &solve.run_options(global, &ctx.config, false),
    ))?;
    solve.print(&outcome, global);
    Ok(ExitCode::SUCCESS)
}
