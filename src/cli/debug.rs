//! `krait debug RECIPE` (conda-build's `conda debug`): set up a build's work folder and
//! environments without running its script, and print the command that enters them.

use crate::builder::debug::debug;
use crate::cli::args::SetupArgs;
use crate::cli::GlobalArgs;
use miette::IntoDiagnostic;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recipe folder or meta.yaml.
    recipe: PathBuf,
    #[command(flatten)]
    setup: SetupArgs,
    /// Print what was set up as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let options = args.setup.options(true)?;
    let setup = debug(&args.recipe, &options)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&setup).into_diagnostic()?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !global.quiet {
        eprintln!(
            "Build and host environments of {} created for debugging. To enter them:\n",
            setup.dist
        );
    }
    println!("{}", setup.command());
    if let (false, Some(script)) = (global.quiet, &setup.build_script) {
        eprintln!(
            "\nthen run the build script with: bash -x {}",
            script.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
