//! Argument groups shared by several subcommands (channels, environment target, solving, upload
//! token, archive format), each turned into the library's plain settings here, once.

use crate::builder::package::ArchiveFormat;
use crate::builder::BuildOptions;
use crate::channel::resolve::ChannelSelection;
use crate::channel::serve::read_token_file;
use crate::channel::upload::{Destination, Uploader};
use crate::cli::GlobalArgs;
use crate::config::{build_root_dir, local_channel_dir, Config};
use crate::env::install::{Outcome, RunOptions, SolveSettings};
use crate::env::prefix::EnvTarget;
use crate::env::report;
use crate::env::transaction::LinkMode;
use crate::net::network_client;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// The channel options every channel-reading command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ChannelArgs {
    /// Additional channel to search (path, URL or name); repeatable, highest priority first.
    #[arg(short = 'c', long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,
    /// Do not search the configured channels, only those given with -c.
    #[arg(long)]
    pub override_channels: bool,
}

impl ChannelArgs {
    pub fn selection(&self) -> ChannelSelection {
        ChannelSelection {
            channels: self.channels.clone(),
            override_channels: self.override_channels,
        }
    }
}

/// `-n NAME` / `-p PATH`, as every environment command takes them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// Name of the environment (under the configured envs_dirs).
    #[arg(short = 'n', long = "name", conflicts_with = "prefix")]
    pub name: Option<String>,
    /// Full path to the environment.
    #[arg(short = 'p', long = "prefix")]
    pub prefix: Option<PathBuf>,
}

impl TargetArgs {
    /// Refuses a command that needs an environment named by `-n` or `-p` when it has neither.
    pub fn require(&self, command: &str, help: &str) -> miette::Result<()> {
        if self.name.is_none() && self.prefix.is_none() {
            return Err(miette::miette!(
                help = help.to_string(),
                "krait {command} needs -n NAME or -p PATH"
            ));
        }
        Ok(())
    }

    pub fn env_target(&self) -> EnvTarget {
        EnvTarget {
            name: self.name.clone(),
            prefix: self.prefix.clone(),
        }
    }
}

/// The write token of a `krait serve` channel (`krait upload`, `krait build --upload-to`).
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

    /// The uploader to `destination` (a `krait serve` URL or a channel folder) with this token.
    pub fn uploader(&self, destination: &str, force: bool) -> miette::Result<Uploader> {
        let config = Config::load()?;
        Ok(Uploader::new(
            Destination::parse(destination),
            self.token()?,
            force,
            network_client(&config),
        ))
    }
}

/// `--package-format conda|tar.bz2`.
impl clap::ValueEnum for ArchiveFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[ArchiveFormat::Conda, ArchiveFormat::TarBz2]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let name = self.extension().trim_start_matches('.');
        Some(clap::builder::PossibleValue::new(name))
    }
}

/// Channel, solver and output flags, with conda's names.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SolveArgs {
    #[command(flatten)]
    pub channels: ChannelArgs,
    /// Only take a package from the highest-priority channel that has it.
    #[arg(long)]
    pub strict_channel_priority: bool,
    /// Solve for this subdir instead of the host's.
    #[arg(long, alias = "subdir", value_name = "SUBDIR")]
    pub platform: Option<String>,
    /// Also use krait's local build output folder as a channel.
    #[arg(long)]
    pub use_local: bool,
    /// Only show what would be done.
    #[arg(long)]
    pub dry_run: bool,
    /// Print conda-style JSON.
    #[arg(long)]
    pub json: bool,
    /// Use only cached repodata and packages.
    #[arg(long)]
    pub offline: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Copy files into the environment instead of linking them from the cache.
    #[arg(long)]
    pub copy: bool,
}

impl SolveArgs {
    /// The library's solve settings from these flags.
    pub fn settings(&self) -> SolveSettings {
        SolveSettings {
            channels: self.channels.selection(),
            strict_channel_priority: self.strict_channel_priority,
            platform: self.platform.clone(),
            use_local: self.use_local,
            offline: self.offline,
        }
    }

    /// `config` adds `always_copy` to `--copy`.
    pub fn run_options(&self, global: &GlobalArgs, config: &Config, creating: bool) -> RunOptions {
        RunOptions {
            dry_run: self.dry_run,
            yes: self.yes,
            json: self.json,
            quiet: global.quiet,
            link: LinkMode {
                copy: self.copy || config.always_copy,
            },
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
            creating,
        }
    }

    /// Prints the outcome as conda does.
    pub fn print(&self, outcome: &Outcome, global: &GlobalArgs) {
        if self.json {
            let value = report::plan_json(&outcome.prefix, &outcome.plan, outcome.dry_run);
            println!("{}", serde_json::to_string_pretty(&value).expect("json"));
        } else if global.quiet {
        } else if outcome.plan.operations.is_empty() {
            println!("# All requested packages already installed.");
        } else if outcome.dry_run {
            println!("DryRunExit: Dry run. Exiting.");
        } else {
            println!("done");
        }
    }
}

/// Prints how to activate a freshly created environment, as conda does.
pub fn print_activation_hint(target: &EnvTarget, prefix: &std::path::Path) {
    let what = match &target.name {
        Some(name) => name.clone(),
        None => prefix.display().to_string(),
    };
    println!("#\n# To activate this environment, use\n#\n#     $ krait activate {what}\n#\n# To deactivate an active environment, use\n#\n#     $ krait deactivate");
}

/// Parses package names given on the command line.
pub fn parse_names(names: &[String]) -> miette::Result<Vec<rattler_conda_types::PackageName>> {
    names
        .iter()
        .map(|p| {
            rattler_conda_types::PackageName::try_from(p.as_str())
                .map_err(|e| miette::miette!("invalid package name {p:?}: {e}"))
        })
        .collect()
}

/// The variant inputs of the command line: config files (`-m`, `-e`) and values
/// (`--variants`, `--variant`, `--python`, stacked after every conda_build_config.yaml).
#[derive(Debug, Clone, clap::Args)]
pub struct VariantArgs {
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
    /// Variant values as a YAML mapping, e.g. "{python: [3.10, 3.11], numpy: 1.26}".
    #[arg(long = "variants", value_name = "YAML")]
    pub variants_yaml: Option<String>,
    /// Set a variant value (repeat a key for several values).
    #[arg(long = "variant", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub variant: Vec<(String, String)>,
    /// Python version(s) (same as --variant python=X.Y).
    #[arg(long, value_name = "X.Y")]
    pub python: Vec<String>,
}

impl VariantArgs {
    /// The values by key: `--variants` first, then each `--variant` and `--python` value added
    /// to its key's list.
    pub fn overrides(&self) -> miette::Result<Map<String, Value>> {
        let mut overrides = match &self.variants_yaml {
            Some(text) => crate::recipe::variants::parse_variants_text(text)?,
            None => Map::new(),
        };
        let pairs = self
            .python
            .iter()
            .map(|v| ("python".to_string(), v.clone()))
            .chain(self.variant.iter().cloned());
        let mut given: Map<String, Value> = Map::new();
        for (key, value) in pairs {
            let entry = given.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                values.push(Value::String(value));
            }
        }
        overrides.extend(given);
        Ok(overrides)
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    Ok((key.trim().to_string(), value.trim().to_string()))
}

/// What a build and `krait debug` share: channels, variants and folders.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub channels: ChannelArgs,
    #[command(flatten)]
    variants: VariantArgs,
    /// Where packages go (an indexed channel); default ~/.krait/conda-bld.
    #[arg(long)]
    output_folder: Option<PathBuf>,
    /// Where build folders are made; default ~/.krait/krait-bld.
    #[arg(long)]
    croot: Option<PathBuf>,
    /// Use only cached repodata and packages; remote channels with nothing cached are left out.
    #[arg(long)]
    offline: bool,
}

impl SetupArgs {
    /// Build options from these arguments: packages tested, nothing skipped or uploaded.
    pub fn options(self, quiet: bool) -> miette::Result<BuildOptions> {
        let output_folder =
            crate::env::prefix::absolute(&self.output_folder.unwrap_or_else(local_channel_dir));
        let croot = crate::env::prefix::absolute(&self.croot.unwrap_or_else(build_root_dir));
        Ok(BuildOptions {
            variant_overrides: self.variants.overrides()?,
            variant_config_files: self.variants.variant_config_files,
            exclusive_config_files: self.variants.exclusive_config_files,
            channels: self.channels.selection(),
            output_folder,
            croot,
            format: ArchiveFormat::Conda,
            test: true,
            skip_existing: false,
            offline: self.offline,
            keep_build_dirs: false,
            quiet,
            upload: None,
        })
    }
}
