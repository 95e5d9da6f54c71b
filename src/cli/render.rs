//! `krait render`: print a recipe's rendered metadata per variant, or the archive paths
//! `krait build` would write (`conda render`, `conda build --output`).

use crate::cli::args::VariantArgs;
use crate::cli::GlobalArgs;
use crate::recipe::{render_recipe, system_config_files, OutputType, Recipe, RenderOptions};
use miette::IntoDiagnostic;
use rattler_conda_types::Subdir;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recipe folders containing meta.yaml, or meta.yaml files.
    #[arg(required = true, value_name = "RECIPE")]
    pub recipes: Vec<PathBuf>,
    #[command(flatten)]
    pub variants: VariantArgs,
    /// Target subdir, e.g. linux-64, osx-arm64, win-64 (default: this machine's); repeat to
    /// render for several.
    #[arg(long, value_name = "SUBDIR")]
    pub platform: Vec<String>,
    /// Subdir the build runs on (default: this machine's).
    #[arg(long, value_name = "SUBDIR")]
    pub build_platform: Option<String>,
    /// Print the package paths a build would write instead of the metadata.
    #[arg(long)]
    pub output: bool,
    /// Folder packages are written to (for --output).
    #[arg(long, value_name = "DIR")]
    pub output_folder: Option<PathBuf>,
    /// Print JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
}

fn parse_platform(value: &str) -> miette::Result<Subdir> {
    value
        .parse::<Subdir>()
        .map_err(|e| miette::miette!("unknown platform `{value}`: {e}"))
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let targets = if args.platform.is_empty() {
        vec![Subdir::current().unwrap_or(Subdir::Linux64)]
    } else {
        args.platform
            .iter()
            .map(|p| parse_platform(p))
            .collect::<miette::Result<Vec<_>>>()?
    };
    let build_platform = args
        .build_platform
        .as_deref()
        .map(parse_platform)
        .transpose()?;
    let overrides = args.variants.overrides()?;
    let folder = args
        .output_folder
        .clone()
        .unwrap_or_else(crate::config::local_channel_dir);
    let config = crate::config::Config::load()?;
    let system_config_files = system_config_files(config.conda_build_config_file.as_deref());
    let mut all_variants = Vec::new();
    for path in &args.recipes {
        let recipe = Recipe::load(path)?;
        for target in &targets {
            let mut options = RenderOptions::new(*target);
            if let Some(build) = build_platform {
                options.build_platform = build;
            }
            options.variant_config_files = args.variants.variant_config_files.clone();
            options.exclusive_config_files = args.variants.exclusive_config_files.clone();
            options.system_config_files = system_config_files.clone();
            options.variant_overrides = overrides.clone();
            let rendered = render_recipe(&recipe, &options)?;
            if !global.quiet {
                for warning in &rendered.warnings {
                    eprintln!("warning: {warning}");
                }
                if rendered.variants.is_empty() {
                    eprintln!(
                        "every variant of {} is skipped for {}",
                        recipe.meta_path.display(),
                        target.as_str()
                    );
                }
            }
            if args.output {
                for output in rendered.outputs() {
                    let dir = folder.join(&output.subdir);
                    // bldpkg_path: `type: conda` is the .tar.bz2 format; a wheel's file name
                    // is only known once pip has built it.
                    let extension = match output.package_type {
                        Some(OutputType::Wheel) => {
                            println!(
                                "wheel file for {} in: {}",
                                output.package.name.as_normalized(),
                                dir.display()
                            );
                            continue;
                        }
                        Some(OutputType::Conda) => "tar.bz2",
                        Some(OutputType::CondaV2) | None => "conda",
                    };
                    println!(
                        "{}",
                        dir.join(format!("{}.{extension}", output.dist_name()))
                            .display()
                    );
                }
            }
            all_variants.extend(rendered.variants);
        }
    }
    if args.output {
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&all_variants).into_diagnostic()?
        );
    } else {
        for variant in &all_variants {
            print!("---\n{}", serde_yaml::to_string(variant).into_diagnostic()?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
