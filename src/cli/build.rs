//! `krait build RECIPE_OR_FOLDER...`: build conda packages from meta.yaml recipes.

use crate::builder::package::ArchiveFormat;
use crate::builder::test::test_in_its_channel;
use crate::builder::{build, BuildOptions};
use crate::cli::args::{SetupArgs, TokenArgs};
use crate::cli::GlobalArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recipe folders, meta.yaml files, or folders of recipe folders (built in dependency order);
    /// with --test, package archives.
    #[arg(required = true)]
    recipes: Vec<PathBuf>,
    #[command(flatten)]
    setup: SetupArgs,
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
    /// Keep the work, build and host folders.
    #[arg(long)]
    keep_build_dirs: bool,
    /// Print the built archives as JSON.
    #[arg(long)]
    json: bool,
    /// After each package is built and tested, upload it to this `krait serve` URL, channel
    /// folder or S3 channel (s3://bucket/channel), as `krait upload --to` does.
    #[arg(long, value_name = "URL|DIR|S3")]
    upload_to: Option<String>,
    /// Upload to this label of the channel (`<channel>/label/<label>/`), as `anaconda upload
    /// --label` does.
    #[arg(long, requires = "upload_to")]
    label: Option<String>,
    #[command(flatten)]
    token: TokenArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    if args.test {
        for archive in &args.recipes {
            let tested =
                test_in_its_channel(archive, &args.setup.channels.selection(), global.quiet)?;
            if !global.quiet {
                println!("tests passed: {}", tested.display());
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let upload = match &args.upload_to {
        Some(to) => {
            let uploader = args
                .token
                .uploader(to, false)?
                .with_label(args.label.clone())?;
            uploader.check()?;
            Some(uploader)
        }
        None => None,
    };
    let options = BuildOptions {
        format: args.package_format,
        test: !args.no_test,
        skip_existing: args.skip_existing,
        keep_build_dirs: args.keep_build_dirs,
        upload,
        ..args.setup.options(global.quiet || args.json)?
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
