//! `krait env create [-f environment.yml] [-n NAME | -p PATH]`.

use crate::cli::args::{print_activation_hint, SolveArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::env::install::{self, Operation};
use crate::env::prefix;
use crate::env::spec_file;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment file (environment.yml, a spec list, @EXPLICIT or a lockfile).
    #[arg(short, long, default_value_os_t = super::default_file())]
    file: PathBuf,
    /// Name or path of the new environment; defaults to the file's `name:`.
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let super::FileRequest {
        request,
        extras,
        target,
        solve,
        ctx,
    } = super::read_file_request(&args.file, &args.target, &args.solve)?;
    let prefix = prefix::for_create(&ctx.config, &target)?;
    if prefix.join("conda-meta").is_dir() && !solve.dry_run {
        return Err(miette::miette!(
            help = "update it with `krait env update -f FILE`, or remove it first with `krait env remove`",
            "an environment already exists at {}",
            prefix.display()
        ));
    }
    let operation = match request {
        spec_file::Request::Specs(specs) => Operation::Install(specs),
        spec_file::Request::Exact(records) => Operation::Exact(records),
    };
    let runtime = crate::cli::runtime()?;
    let outcome = runtime.block_on(install::run(
        &ctx,
        &prefix,
        operation,
        &solve.run_options(global, &ctx.config, true),
    ))?;
    if !outcome.dry_run {
        std::fs::create_dir_all(prefix.join("conda-meta")).ok();
        super::apply_extras(&prefix, &extras, &ctx.config, global)?;
    }
    solve.print(&outcome, global);
    if !solve.json && !global.quiet && !outcome.dry_run {
        print_activation_hint(&target, &prefix);
    }
    Ok(ExitCode::SUCCESS)
}
