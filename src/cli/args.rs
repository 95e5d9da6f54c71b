//! Argument groups shared by several subcommands (channels, environment target, solving, upload
//! token, archive format), each turned into the library's plain settings here, once.

use crate::builder::package::ArchiveFormat;
use crate::channel::resolve::ChannelSelection;
use crate::channel::serve::read_token_file;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::install::{Outcome, RunOptions, SolveSettings};
use crate::env::prefix::EnvTarget;
use crate::env::report;
use crate::env::transaction::LinkMode;
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
