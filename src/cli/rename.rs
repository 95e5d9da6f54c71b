//! `krait rename (-n OLD | -p PATH) NEW`: conda's rename, a clone to the new name or path
//! followed by removing the old environment (packages embed their prefix, so the files are
//! linked anew rather than moved).

use crate::cli::args::{SolveArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::env::clone::{self, RenameError};
use crate::env::prefix::{self, EnvTarget};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment to rename.
    #[command(flatten)]
    target: TargetArgs,
    /// Its new name, or a path.
    #[arg(value_name = "NEW")]
    destination: String,
    /// Replace an environment that already has that name or path.
    #[arg(long)]
    force: bool,
    /// Only show what would be done.
    #[arg(long)]
    dry_run: bool,
    /// Accepted for conda compatibility; krait does not ask.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let _ = args.yes;
    args.target
        .require("rename", "e.g. `krait rename -n old new`")?;
    let solve = SolveArgs {
        dry_run: args.dry_run,
        yes: true,
        ..SolveArgs::default()
    };
    let ctx = solve.settings().context_for(false)?;
    let source = prefix::existing(&ctx.config, &args.target.env_target())?;
    clone::check_renamable(&source, args.target.name.as_deref(), &ctx.config.envs_dirs)?;
    let dest = prefix::for_create(
        &ctx.config,
        &EnvTarget::from_name_or_path(&args.destination),
    )?;
    if dest.join("conda-meta").is_dir() || dest == source {
        if !args.force || dest == source {
            return Err(RenameError::Exists(dest).into());
        }
        if !args.dry_run {
            prefix::remove(&dest)?;
        }
    }
    let options = solve.run_options(global, &ctx.config, true);
    let runtime = crate::cli::runtime()?;
    let (outcome, from, copied) = runtime.block_on(clone::clone(&ctx, &source, &dest, &options))?;
    if !global.quiet {
        super::create::report_clone(&source, &dest, &from, copied);
    }
    if !outcome.dry_run {
        prefix::remove(&source)?;
    }
    solve.print(&outcome, global);
    Ok(ExitCode::SUCCESS)
}
