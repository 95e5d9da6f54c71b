//! `krait index`.

use crate::cli::GlobalArgs;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    Err(miette::miette!("krait index is being written"))
}
