//! `krait index CHANNEL`: write repodata for every subdir of a channel (a folder or
//! `s3://bucket/channel`) and of its labels (`label/<label>/`), and its channeldata.json.

use crate::channel::files::open_channel;
use crate::channel::index::{index_channel, install_patch_instructions, label_names};
use crate::channel::index::{is_sharded, IndexOptions};
use crate::cli::GlobalArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The channel: a folder (holding linux-64/, noarch/, ...) or a channel in an S3 bucket
    /// (s3://bucket/channel; credentials, region and endpoint from the AWS chain).
    channel: String,
    /// Re-read every archive instead of reusing records of unchanged ones.
    #[arg(long)]
    force: bool,
    /// Do not write repodata.json.zst.
    #[arg(long)]
    no_zst: bool,
    /// Also write sharded repodata (CEP-16: repodata_shards.msgpack.zst and shards/), which
    /// rattler, pixi and krait fetch instead of the whole repodata.json. `krait serve` always
    /// writes it; indexing and uploads keep it up to date where it exists.
    #[arg(long)]
    shards: bool,
    /// Fix records without rebuilding their packages: conda-index's patch_instructions.json
    /// (one file for every subdir, or a folder of <subdir>/patch_instructions.json). Kept in
    /// each subdir and applied by every later index run and upload; the unpatched records go
    /// to repodata_from_packages.json.
    #[arg(long, value_name = "FILE|DIR")]
    patch_instructions: Option<PathBuf>,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let runtime = crate::cli::runtime()?;
    let channel = open_channel(&args.channel, runtime.handle())?;
    let channel = channel.as_ref();
    let options = IndexOptions {
        force: args.force,
        write_zst: !args.no_zst,
        // Kept up to date where they exist, as uploads do.
        write_shards: args.shards || is_sharded(channel),
        progress: !global.quiet && !args.json,
        ..IndexOptions::default()
    };
    if let Some(patches) = &args.patch_instructions {
        install_patch_instructions(channel, patches)?;
    }
    let mut reports = index_channel(channel, &options)?;
    for name in label_names(channel)? {
        for mut report in index_channel(channel.label(&name).as_ref(), &options)? {
            report.subdir = format!("label/{name}/{}", report.subdir);
            reports.push(report);
        }
    }
    let mut bad = 0;
    for report in &reports {
        for archive in &report.bad {
            eprintln!(
                "error: skipped {}: {}",
                archive.path.display(),
                archive.reason
            );
            bad += 1;
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("reports serialize")
        );
    } else if !global.quiet {
        for r in &reports {
            println!(
                "{:<12} {:>6} packages ({} read, {} unchanged, {} bad)",
                r.subdir,
                r.packages,
                r.read,
                r.reused,
                r.bad.len()
            );
        }
    }
    if bad > 0 {
        eprintln!("error: {bad} archive(s) could not be indexed and were left out");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
