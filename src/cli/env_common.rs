//! Flags shared by the environment commands (create, install, remove, update, env ...) and the
//! plumbing from them to an [`env::install::Context`](crate::env::install::Context).

use crate::channel::resolve::{host_subdir, parse_subdir, ChannelArgs, ChannelResolver};
use crate::cli::GlobalArgs;
use crate::config::{self, Config};
use crate::env::install::{Context, Outcome, RunOptions};
use crate::env::prefix::TargetArgs;
use crate::env::report;
use crate::env::transaction::LinkMode;

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
    /// Loads configuration, resolves channels and subdir, and builds the context.
    pub fn context(&self) -> miette::Result<Context> {
        let mut config = Config::load()?;
        if self.offline {
            config.offline = true;
        }
        let mut channel_args = self.channels.clone();
        if self.use_local {
            let local = config::local_channel_dir();
            if local.is_dir() {
                channel_args.channels.insert(0, local.display().to_string());
            } else {
                tracing::warn!("--use-local: {} does not exist yet", local.display());
            }
        }
        let channels = ChannelResolver::new(&config).channels_for(&channel_args)?;
        let subdir = match &self.platform {
            Some(p) => parse_subdir(p)?,
            None => host_subdir(),
        };
        Ok(Context::new(
            config,
            channels,
            subdir,
            self.strict_channel_priority,
        ))
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
pub fn print_activation_hint(target: &TargetArgs, prefix: &std::path::Path) {
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
