//! `krait test ARCHIVE`: re-run the tests of a built package.

use crate::builder::test::test_archive;
use crate::cli::args::ChannelArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
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
    let archive = crate::env::prefix::absolute(&args.archive);
    let channel = archive
        .parent()
        .and_then(|subdir| subdir.parent())
        .ok_or_else(|| miette::miette!("{} is not inside a channel folder", archive.display()))?;
    let config = Config::load()?;
    let ctx = crate::builder::context(&config, &args.channels.selection(), channel)?;
    test_archive(&ctx, &archive, global.quiet)?;
    if !global.quiet {
        println!("tests passed: {}", archive.display());
    }
    Ok(ExitCode::SUCCESS)
}
