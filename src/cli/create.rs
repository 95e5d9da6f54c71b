//! `krait create (-n NAME | -p PATH) [SPEC...] [--file FILE]`.

use crate::cli::args::{print_activation_hint, SolveArgs, TargetArgs};
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
    /// Packages to install, as MatchSpecs.
    specs: Vec<String>,
    /// Read specs from a file: a spec list, an @EXPLICIT file, environment.yml, or a
    /// conda-lock / pixi lockfile.
    #[arg(long = "file", short = 'f')]
    files: Vec<PathBuf>,
    /// Leave out `.condarc`'s create_default_packages.
    #[arg(long)]
    no_default_packages: bool,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    if args.target.name.is_none() && args.target.prefix.is_none() {
        return Err(miette::miette!(
            help = "give the new environment a name with -n NAME or a path with -p PATH",
            "krait create needs -n NAME or -p PATH"
        ));
    }
    let solve = &args.solve;
    let mut settings = solve.settings();
    let request = spec_file::gather(
        &args.specs,
        &args.files,
        &mut settings.channels,
        settings.platform.as_deref(),
    )?;
    let ctx = settings.context_for(!matches!(request, spec_file::Request::Exact(_)))?;
    let config = &ctx.config;
    let prefix = prefix::for_create(config, &args.target.env_target())?;
    let existed = prefix.join("conda-meta").is_dir();
    if existed && !solve.dry_run {
        // conda asks before replacing; krait refuses and says how.
        return Err(miette::miette!(
            help =
                "remove it first with `krait env remove`, or use `krait install` to add packages",
            "an environment already exists at {}",
            prefix.display()
        ));
    }
    let operation = match request {
        spec_file::Request::Specs(mut specs) => {
            if !args.no_default_packages {
                spec_file::add_default_packages(&mut specs, &config.create_default_packages)?;
            }
            Operation::Install(specs)
        }
        spec_file::Request::Exact(records) => Operation::Exact(records),
    };
    let runtime = crate::cli::runtime()?;
    let options = solve.run_options(global, config, !existed);
    let outcome = runtime.block_on(install::run(&ctx, &prefix, operation, &options))?;
    if !outcome.dry_run {
        // An empty environment is still an environment.
        std::fs::create_dir_all(prefix.join("conda-meta")).ok();
    }
    solve.print(&outcome, global);
    if !solve.json && !global.quiet && !outcome.dry_run {
        print_activation_hint(&args.target.env_target(), &prefix);
    }
    Ok(ExitCode::SUCCESS)
}
