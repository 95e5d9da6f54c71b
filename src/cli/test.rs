//! `krait test ARCHIVE`: re-run the tests of a built package.

use crate::builder::test::test_archive;
use crate::channel::resolve::ChannelArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The package archive (.conda or .tar.bz2) inside a channel folder.
    archive: PathBuf,
    #[command(flatten)]
    channels: ChannelArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    test_one(&args.archive, &args.channels, global)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the tests of one archive with its own channel (the folder above its subdir) first;
/// also `krait build --test`.
pub fn test_one(archive: &Path, channels: &ChannelArgs, global: &GlobalArgs) -> miette::Result<()> {
    let archive = crate::env::prefix::absolute(archive);
    let channel = archive
        .parent()
        .and_then(|subdir| subdir.parent())
        .ok_or_else(|| miette::miette!("{} is not inside a channel folder", archive.display()))?;
    let config = Config::load()?;
    let ctx = crate::builder::context(&config, channels, channel)?;
    test_archive(&ctx, &archive, global.quiet)?;
    if !global.quiet {
        println!("tests passed: {}", archive.display());
    }
    Ok(())
}
