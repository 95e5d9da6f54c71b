//! `krait doctor [-n|-p] [--json]`: an environment's health report, as `conda doctor` prints it.

use crate::cli::args::TargetArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::doctor;
use crate::env::prefix::{self, PrefixLock};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let config = Config::load()?;
    let prefix = prefix::existing(&config, &args.target.env_target())?;
    // Waits for a running transaction, and finishes one whose process died, so that the
    // report is about a prefix no one is changing.
    let _lock = PrefixLock::acquire(&prefix, global.quiet || args.json)?;
    let report = doctor::examine(&prefix)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        print!("{}", report.text());
    }
    Ok(if report.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
