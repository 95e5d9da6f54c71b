//! `krait lock [SPEC...] [-f environment.yml] [-c CHANNEL] [-p PLATFORM...]`: write
//! `pixi.lock` and `conda-lock.yml` for several platforms.

use crate::cli::args::ChannelArgs;
use crate::cli::GlobalArgs;
use crate::env::install::SolveSettings;
use crate::env::lock::{self, LockRequest};
use crate::env::spec_file::{self, Request};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Packages to lock, as MatchSpecs.
    specs: Vec<String>,
    /// Read specs (and channels) from a file: environment.yml or a spec list.
    #[arg(long = "file", short = 'f')]
    files: Vec<PathBuf>,
    #[command(flatten)]
    channels: ChannelArgs,
    /// A platform to lock for (repeatable); default: this machine's.
    #[arg(short = 'p', long = "platform", value_name = "SUBDIR")]
    platforms: Vec<String>,
    /// Write pixi's lockfile here.
    #[arg(long, value_name = "PATH")]
    pixi_lock: Option<PathBuf>,
    /// Write conda-lock's lockfile (version 1) here.
    #[arg(long, value_name = "PATH")]
    conda_lock: Option<PathBuf>,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    if args.specs.is_empty() && args.files.is_empty() {
        return Err(miette::miette!(
            help = "e.g. `krait lock -c conda-forge -p linux-64 -p osx-arm64 numpy`",
            "krait lock needs package specs or --file"
        ));
    }
    let mut settings = SolveSettings {
        channels: args.channels.selection(),
        ..SolveSettings::default()
    };
    let (request, extras) =
        spec_file::gather_with_extras(&args.specs, &args.files, &mut settings.channels, None)?;
    let specs = match request {
        Request::Specs(specs) => specs,
        Request::Exact(_) => {
            return Err(miette::miette!(
                "an @EXPLICIT file or lockfile is locked already: install it with `krait create --file`"
            ))
        }
    };
    if !extras.pip.is_empty() {
        return Err(miette::miette!(
            help = "lock the conda packages alone (move the pip requirements to a requirements.txt)",
            "krait lock cannot lock the `pip:` section of an environment.yml: it does not resolve PyPI packages"
        ));
    }
    let platforms = if args.platforms.is_empty() {
        vec![crate::channel::resolve::host_subdir().to_string()]
    } else {
        args.platforms.clone()
    };
    let runtime = crate::cli::runtime()?;
    let locked = runtime.block_on(lock::lock(&settings, &LockRequest { specs, platforms }))?;
    let (pixi, conda) = match (&args.pixi_lock, &args.conda_lock) {
        (None, None) => (
            Some(PathBuf::from("pixi.lock")),
            Some(PathBuf::from("conda-lock.yml")),
        ),
        (pixi, conda) => (pixi.clone(), conda.clone()),
    };
    if let Some(path) = &pixi {
        lock::write_pixi(&locked, path)?;
    }
    if let Some(path) = &conda {
        let sources = args.files.iter().map(|f| f.display().to_string()).collect();
        lock::write_conda_lock(&locked, path, sources)?;
    }
    if !global.quiet {
        for path in pixi.iter().chain(conda.iter()) {
            println!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
