//! `krait render`: print a recipe's rendered metadata per variant, or the archive paths
//! `krait build` would write (`conda render`, `conda build --output`).

use crate::cli::GlobalArgs;
use crate::recipe::{render_recipe, system_config_files, OutputType, Recipe, RenderOptions};
use miette::IntoDiagnostic;
use rattler_conda_types::Subdir;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recipe folders containing meta.yaml, or meta.yaml files.
    #[arg(required = true, value_name = "RECIPE")]
    pub recipes: Vec<PathBuf>,
    /// Extra conda_build_config.yaml files, merged in order after the recipe's own (which
    /// comes after ~/conda_build_config.yaml and ./conda_build_config.yaml).
    #[arg(short = 'm', long = "variant-config-files", value_name = "FILE")]
    pub variant_config_files: Vec<PathBuf>,
    /// Variant config files merged first, in order; they replace ~/conda_build_config.yaml
    /// and ./conda_build_config.yaml (the recipe's own and -m files still apply after them).
    #[arg(
        short = 'e',
        long = "exclusive-config-files",
        visible_alias = "exclusive-config-file",
        value_name = "FILE"
    )]
    pub exclusive_config_files: Vec<PathBuf>,
    /// Set a variant value (repeat a key for several values).
    #[arg(long = "variant", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub variants: Vec<(String, String)>,
    /// Python version(s) to render for (same as --variant python=X.Y).
    #[arg(long, value_name = "X.Y")]
    pub python: Vec<String>,
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

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    Ok((key.trim().to_string(), value.trim().to_string()))
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
    let mut overrides: Map<String, Value> = Map::new();
    let pairs = args
        .python
        .iter()
        .map(|v| ("python".to_string(), v.clone()))
        .chain(args.variants.iter().cloned());
    for (key, value) in pairs {
        let entry = overrides
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(value));
        }
    }
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
            options.variant_config_files = args.variant_config_files.clone();
            options.exclusive_config_files = args.exclusive_config_files.clone();
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
