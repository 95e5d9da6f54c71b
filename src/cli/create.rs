//! `krait create (-n NAME | -p PATH) [SPEC...] [--file FILE]`.

use crate::cli::args::{print_activation_hint, SolveArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::env::clone::CloneSource;
use crate::env::install::{self, Operation};
use crate::env::prefix::{self, EnvTarget};
use crate::env::spec_file;
use std::path::{Path, PathBuf};
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
    /// Create the environment as a copy of this one (a name or a path): its packages
    /// linked anew from the package cache, its own files copied.
    #[arg(long, value_name = "ENV", conflicts_with_all = ["specs", "files"])]
    clone: Option<String>,
    /// Leave out `.condarc`'s create_default_packages.
    #[arg(long)]
    no_default_packages: bool,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    args.target.require(
        "create",
        "give the new environment a name with -n NAME or a path with -p PATH",
    )?;
    if let Some(source) = &args.clone {
        return clone(source, &args.target.env_target(), &args.solve, global);
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

/// `create --clone SOURCE`, printed as conda prints it.
fn clone(
    source: &str,
    target: &EnvTarget,
    solve: &SolveArgs,
    global: &GlobalArgs,
) -> miette::Result<ExitCode> {
    let ctx = solve.settings().context_for(false)?;
    let source = prefix::existing(&ctx.config, &EnvTarget::from_name_or_path(source))?;
    let dest = prefix::for_create(&ctx.config, target)?;
    if dest.join("conda-meta").is_dir() {
        return Err(miette::miette!(
            help = "remove it first with `krait env remove`, or pick another name",
            "an environment already exists at {}",
            dest.display()
        ));
    }
    // conda installs a clone without asking, as it does an @EXPLICIT list.
    let mut options = solve.run_options(global, &ctx.config, true);
    options.yes = true;
    let runtime = crate::cli::runtime()?;
    let (outcome, from, copied) =
        runtime.block_on(crate::env::clone::clone(&ctx, &source, &dest, &options))?;
    let talk = !solve.json && !global.quiet;
    if talk {
        report_clone(&source, &dest, &from, copied);
    }
    solve.print(&outcome, global);
    if talk && !outcome.dry_run {
        print_activation_hint(target, &dest);
    }
    Ok(ExitCode::SUCCESS)
}

/// conda's clone summary.
pub fn report_clone(source: &Path, dest: &Path, from: &CloneSource, copied: usize) {
    if !from.left_out.is_empty() {
        println!("The following packages cannot be cloned out of the root environment:");
        for name in &from.left_out {
            println!(" - {name}");
        }
    }
    println!("Source:      {}", source.display());
    println!("Destination: {}", dest.display());
    println!("Packages: {}", from.records.len());
    println!("Files: {copied}");
}
