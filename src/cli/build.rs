//! `krait build RECIPE_OR_FOLDER...`: build conda packages from meta.yaml recipes.

use crate::builder::package::ArchiveFormat;
use crate::builder::{build, BuildOptions};
use crate::channel::upload::{Destination, Uploader};
use crate::cli::args::{ChannelArgs, TokenArgs};
use crate::cli::GlobalArgs;
use crate::config::{build_root_dir, local_channel_dir};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recipe folders, meta.yaml files, or folders of recipe folders (built in dependency order).
    #[arg(required = true)]
    recipes: Vec<PathBuf>,
    #[command(flatten)]
    channels: ChannelArgs,
    /// Extra conda_build_config.yaml files, merged in order after the recipe's own.
    #[arg(short = 'm', long = "variant-config-files", value_name = "FILE")]
    variant_config_files: Vec<PathBuf>,
    /// Variant config files merged first, in place of ~/conda_build_config.yaml and
    /// ./conda_build_config.yaml.
    #[arg(
        short = 'e',
        long = "exclusive-config-files",
        visible_alias = "exclusive-config-file",
        value_name = "FILE"
    )]
    exclusive_config_files: Vec<PathBuf>,
    /// Python version(s) to build for (same as a `python` variant).
    #[arg(long, value_name = "X.Y")]
    python: Vec<String>,
    /// Where packages go (an indexed channel); default ~/.krait/conda-bld.
    #[arg(long)]
    output_folder: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value = "conda")]
    package_format: ArchiveFormat,
    /// Do not run the recipes' tests.
    #[arg(long)]
    no_test: bool,
    /// Keep the work, build and host folders.
    #[arg(long)]
    keep_build_dirs: bool,
    /// Where build folders are made; default <output folder>/../krait-bld.
    #[arg(long)]
    croot: Option<PathBuf>,
    /// Print the built archives as JSON.
    #[arg(long)]
    json: bool,
    /// After each package is built and tested, upload it to this `krait serve` URL or channel
    /// folder (as `krait upload --to` does).
    #[arg(long, value_name = "URL|DIR")]
    upload_to: Option<String>,
    #[command(flatten)]
    token: TokenArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let output_folder =
        crate::env::prefix::absolute(&args.output_folder.unwrap_or_else(local_channel_dir));
    let croot = crate::env::prefix::absolute(&args.croot.unwrap_or_else(build_root_dir));
    let mut overrides = serde_json::Map::new();
    if !args.python.is_empty() {
        overrides.insert("python".into(), serde_json::json!(args.python));
    }
    let upload = match &args.upload_to {
        Some(to) => {
            let config = crate::config::Config::load()?;
            let uploader = Uploader::new(
                Destination::parse(to),
                args.token.token()?,
                false,
                crate::net::network_client(&config),
            );
            uploader.check()?;
            Some(uploader)
        }
        None => None,
    };
    let options = BuildOptions {
        channels: args.channels.selection(),
        variant_config_files: args.variant_config_files,
        exclusive_config_files: args.exclusive_config_files,
        variant_overrides: overrides,
        output_folder,
        croot,
        format: args.package_format,
        test: !args.no_test,
        keep_build_dirs: args.keep_build_dirs,
        quiet: global.quiet || args.json,
        upload,
    };
    let built = build(&args.recipes, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&built).expect("json"));
    } else if !global.quiet {
        for b in &built {
            println!("{}", b.archive.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
