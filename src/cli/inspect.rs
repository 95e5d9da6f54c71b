//! `krait inspect linkages|objects PACKAGE...` (conda-build's `conda inspect`): the shared
//! libraries a package's ELF files need and where an environment provides them.

use crate::builder::inspect::{format_linkages, format_objects, linkages, objects, package_files};
use crate::cli::args::TargetArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::prefix;
use miette::IntoDiagnostic;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// The libraries each ELF file links to, grouped by the package of the environment that
    /// provides them (`system` and `not found` last).
    Linkages {
        #[command(flatten)]
        common: Common,
        /// Also name the file that needs each library.
        #[arg(long)]
        show_files: bool,
    },
    /// Each ELF file's type, SONAME, RPATH/RUNPATH and needed libraries.
    Objects {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Names of packages installed in the environment, or package archives.
    #[arg(required = true, value_name = "PACKAGE_OR_ARCHIVE")]
    packages: Vec<String>,
    /// The environment the libraries are looked up in (default: the active one).
    #[command(flatten)]
    target: TargetArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let (common, show_files) = match &args.what {
        What::Linkages { common, show_files } => (common, *show_files),
        What::Objects { common } => (common, false),
    };
    let config = Config::load()?;
    let prefix = prefix::existing(&config, &common.target.env_target())?;
    let mut json = serde_json::Map::new();
    for name in &common.packages {
        let package = package_files(name, &prefix)?;
        let (text, value) = match &args.what {
            What::Linkages { .. } => {
                let groups = linkages(&package, &prefix);
                let text = format_linkages(&package.dist, &groups, show_files);
                (text, serde_json::to_value(&groups).into_diagnostic()?)
            }
            What::Objects { .. } => {
                let found = objects(&package);
                let text = format_objects(&package.dist, &found);
                (text, serde_json::to_value(&found).into_diagnostic()?)
            }
        };
        if common.json {
            json.insert(package.dist.clone(), value);
        } else {
            print!("{text}");
        }
    }
    if common.json {
        println!("{}", serde_json::to_string_pretty(&json).into_diagnostic()?);
    }
    Ok(ExitCode::SUCCESS)
}
