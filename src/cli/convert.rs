//! `krait convert --platform TARGET|all ARCHIVE... [-o OUTPUT_DIR]`: re-target packages without
//! platform-specific binaries to other subdirs (conda convert).

use crate::builder::convert::{convert, parse_targets};
use crate::cli::GlobalArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Package archives (.conda or .tar.bz2) to re-target.
    #[arg(required = true)]
    archives: Vec<PathBuf>,
    /// Target subdir (osx-arm64, linux-aarch64, win-64, ...) or `all`; repeat or comma-separate.
    #[arg(
        short,
        long = "platform",
        required = true,
        value_delimiter = ',',
        value_name = "TARGET|all"
    )]
    platforms: Vec<String>,
    /// Folder that receives `<subdir>/<archive>`.
    #[arg(short, long, default_value = ".")]
    output_dir: PathBuf,
    /// Print a JSON list of the conversions.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let targets = parse_targets(&args.platforms)?;
    let converted = convert(&args.archives, &targets, &args.output_dir)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&converted).expect("conversions serialize")
        );
    } else if !global.quiet {
        for c in &converted {
            match &c.output {
                Some(output) => println!("{} -> {}", c.source.display(), output.display()),
                None => println!(
                    "{}: already built for {}, skipped",
                    c.source.display(),
                    c.target
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
