//! `krait build RECIPE_OR_FOLDER...`: build conda packages from meta.yaml recipes.

use crate::builder::package::ArchiveFormat;
use crate::builder::{build, BuildOptions};
use crate::channel::resolve::ChannelArgs;
use crate::channel::upload::{Destination, Uploader};
use crate::cli::render::VariantArgs;
use crate::cli::upload::TokenArgs;
use crate::cli::GlobalArgs;
use crate::config::krait_home;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recipe folders, meta.yaml files, or folders of recipe folders (built in dependency order);
    /// with --test, package archives.
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
    #[command(flatten)]
    variants: VariantArgs,
    /// Where packages go (an indexed channel); default ~/.krait/conda-bld.
    #[arg(long)]
    output_folder: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value = "conda")]
    package_format: ArchiveFormat,
    /// Do not run the recipes' tests.
    #[arg(long)]
    no_test: bool,
    /// Do not build a variant whose packages (name-version-build) are all already in the
    /// output folder or one of the channels.
    #[arg(long)]
    skip_existing: bool,
    /// Test the given package archives instead of building recipes (as `krait test` does).
    #[arg(long, conflicts_with_all = ["no_test", "skip_existing", "upload_to"])]
    test: bool,
    /// Use only cached repodata and packages; remote channels with nothing cached are left out.
    #[arg(long)]
    offline: bool,
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
    if args.test {
        for archive in &args.recipes {
            crate::cli::test::test_one(archive, &args.channels, global)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let output_folder = crate::env::prefix::absolute(
        &args
            .output_folder
            .unwrap_or_else(|| krait_home().join("conda-bld")),
    );
    let croot =
        crate::env::prefix::absolute(&args.croot.unwrap_or_else(|| krait_home().join("krait-bld")));
    let overrides = args.variants.overrides()?;
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
        channels: args.channels,
        variant_config_files: args.variant_config_files,
        exclusive_config_files: args.exclusive_config_files,
        variant_overrides: overrides,
        output_folder,
        croot,
        format: args.package_format,
        test: !args.no_test,
        skip_existing: args.skip_existing,
        offline: args.offline,
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
