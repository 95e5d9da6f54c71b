//! `krait skeleton pypi NAME[==VERSION]...`: conda recipes from Python packages.

use crate::cli::GlobalArgs;
use crate::skeleton::{self, SkeletonError};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Debug, clap::Subcommand)]
enum Kind {
    /// Write meta.yaml recipes for packages of a Python package index (or local sdists).
    Pypi(PypiArgs),
}

#[derive(Debug, clap::Args)]
struct PypiArgs {
    /// Packages, optionally pinned: `requests`, `attrs==23.1.0`.
    #[arg(required_unless_present_any = ["sdist", "wheel"])]
    packages: Vec<String>,
    /// Write `<DIR>/<name>/meta.yaml`.
    #[arg(long, default_value = ".", value_name = "DIR")]
    output_dir: PathBuf,
    /// The package index (PEP 691 simple API); default: pip's (PIP_INDEX_URL, pip.conf).
    #[arg(long, value_name = "URL")]
    index_url: Option<String>,
    /// Use a local sdist (.tar.gz) instead of the index; repeatable.
    #[arg(long, value_name = "FILE")]
    sdist: Vec<PathBuf>,
    /// Install a local wheel (.whl) as is instead of building from source; repeatable. Brings
    /// pip and build backends into a channel.
    #[arg(long, value_name = "FILE")]
    wheel: Vec<PathBuf>,
    /// Print a JSON list of the written recipes.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let Kind::Pypi(args) = args.kind;
    let mut written = Vec::new();
    for sdist in &args.sdist {
        let source = skeleton::local_source(sdist)?;
        written.push(skeleton::write_recipe(
            sdist,
            &source,
            None,
            &args.output_dir,
        )?);
    }
    for wheel in &args.wheel {
        written.push(skeleton::write_wheel_recipe(wheel, &args.output_dir)?);
    }
    if !args.packages.is_empty() {
        let index_url = args
            .index_url
            .clone()
            .or_else(skeleton::pip_index_url)
            .ok_or(SkeletonError::NoIndex)?;
        let downloads = tempfile::tempdir().map_err(|source| SkeletonError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let client = crate::net::network_client(&crate::config::Config::load()?);
        let runtime = crate::cli::runtime()?;
        for package in &args.packages {
            let (name, version) = match package.split_once("==") {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (package.trim(), None),
            };
            let fetched = runtime.block_on(skeleton::fetch_sdist(
                &client,
                &index_url,
                name,
                version,
                downloads.path(),
            ))?;
            written.push(skeleton::write_recipe(
                &fetched.sdist,
                &fetched.source,
                fetched.wheel.as_deref(),
                &args.output_dir,
            )?);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&written).expect("recipes serialize")
        );
    } else if !global.quiet {
        for w in &written {
            println!(
                "wrote {} ({} {}{})",
                w.path.display(),
                w.name,
                w.version,
                if w.noarch { ", noarch: python" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
