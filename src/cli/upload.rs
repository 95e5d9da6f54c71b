//! `krait upload ARCHIVE... --to (URL | DIR)`: put packages into a channel.

use crate::channel::upload::{Destination, Uploader};
use crate::cli::args::TokenArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::net::network_client;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Package archives (.conda or .tar.bz2).
    #[arg(required = true)]
    archives: Vec<PathBuf>,
    /// A `krait serve` URL (http://host:port/, /t/<token>/ allowed) or a channel folder.
    #[arg(long, value_name = "URL|DIR")]
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
    let config = Config::load()?;
    let uploader = Uploader::new(
        Destination::parse(&args.to),
        args.token.token()?,
        args.force,
        network_client(&config),
    );
    let runtime = crate::cli::runtime()?;
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
