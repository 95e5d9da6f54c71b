//! `krait upload ARCHIVE... --to (URL | DIR)`: put packages into a channel.

use crate::channel::serve::read_token_file;
use crate::channel::upload::{Destination, Uploader};
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::net::network_client;
use std::path::PathBuf;
use std::process::ExitCode;

/// The write token of a `krait serve` channel (shared with `krait build --upload-to`).
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The server's write token.
    #[arg(long, env = "KRAIT_UPLOAD_TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// File whose first line is the server's write token.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

impl TokenArgs {
    pub fn token(&self) -> miette::Result<Option<String>> {
        Ok(match &self.token_file {
            Some(path) => Some(read_token_file(path)?),
            None => self.token.clone(),
        })
    }
}

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
