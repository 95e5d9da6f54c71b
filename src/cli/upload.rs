//! `krait upload ARCHIVE... --to (URL | DIR | s3://bucket/channel) [--label L]`: put packages into a channel (or
//! one of its labels); `krait upload --remove SUBDIR/FILE... --to ...` takes them out.

use crate::cli::args::TokenArgs;
use crate::cli::GlobalArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Package archives (.conda or .tar.bz2).
    #[arg(required_unless_present = "remove", conflicts_with = "remove")]
    archives: Vec<PathBuf>,
    /// Delete this package (`<subdir>/<file name>`, e.g. noarch/pkg-1.0-0.conda) from the
    /// channel instead: its file and its repodata entry go together. Repeatable.
    #[arg(long, value_name = "SUBDIR/FILE")]
    remove: Vec<String>,
    /// Upload to (or remove from) this label of the channel, as anaconda.org has them
    /// (`<channel>/label/<label>/`; `main` is the channel itself).
    #[arg(long)]
    label: Option<String>,
    /// A `krait serve` URL (http://host:port/, /t/<token>/ allowed), a channel folder, or a
    /// channel in an S3 bucket (s3://bucket/channel; credentials, region and endpoint from the
    /// AWS chain).
    #[arg(long, value_name = "URL|DIR|S3")]
    to: String,
    #[command(flatten)]
    token: TokenArgs,
    /// Replace archives that are already in the channel.
    #[arg(long)]
    force: bool,
    /// Print a JSON list of what was uploaded.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let uploader = args
        .token
        .uploader(&args.to, args.force)?
        .with_label(args.label)?;
    let runtime = crate::cli::runtime()?;
    if !args.remove.is_empty() {
        for target in &args.remove {
            uploader.remove(&runtime, target)?;
            if !args.json && !global.quiet {
                println!("removed {target}");
            }
        }
        if args.json {
            println!("{}", serde_json::json!({ "removed": args.remove }));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut uploaded = Vec::new();
    for archive in &args.archives {
        let done = uploader.upload(&runtime, archive)?;
        if !args.json && !global.quiet {
            println!("uploaded {} (sha256 {})", done.target, done.sha256);
        }
        uploaded.push(done);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&uploaded).expect("uploads serialize")
        );
    }
    Ok(ExitCode::SUCCESS)
}
