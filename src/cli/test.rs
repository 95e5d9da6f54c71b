//! `krait test ARCHIVE`: re-run the tests of a built package.

use crate::builder::test::test_in_its_channel;
use crate::cli::args::ChannelArgs;
use crate::cli::GlobalArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The package archive (.conda or .tar.bz2) inside a channel folder.
    archive: PathBuf,
    #[command(flatten)]
    channels: ChannelArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let tested = test_in_its_channel(&args.archive, &args.channels.selection(), global.quiet)?;
    if !global.quiet {
        println!("tests passed: {}", tested.display());
    }
    Ok(ExitCode::SUCCESS)
}
