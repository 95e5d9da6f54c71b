//! `krait env config vars list|set|unset [-n NAME | -p PATH]`: the environment's own
//! variables in `conda-meta/state`, as conda's `env config vars` keeps them.

use crate::cli::args::TargetArgs;
use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::prefix;
use crate::env::state::{self, PrefixState};
use clap::Subcommand;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// The environment's variables, applied on activation and by `krait run`.
    #[command(subcommand)]
    Vars(VarsCommand),
}

#[derive(Debug, Subcommand)]
enum VarsCommand {
    /// Print the environment's variables as `NAME = VALUE`.
    List {
        #[command(flatten)]
        target: TargetArgs,
        /// Print them as a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Set variables: `krait env config vars set NAME=VALUE...`.
    Set {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(required = true, value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
    /// Stop setting variables on activation.
    Unset {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(required = true, value_name = "NAME")]
        vars: Vec<String>,
    },
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let ConfigCommand::Vars(command) = args.command;
    let config = Config::load()?;
    match command {
        VarsCommand::List { target, json } => {
            let prefix = prefix::existing(&config, &target.env_target())?;
            let vars = PrefixState::read(&prefix)?.env_vars();
            if json {
                let object: serde_json::Map<String, serde_json::Value> =
                    vars.into_iter().map(|(k, v)| (k, v.into())).collect();
                println!("{}", serde_json::to_string_pretty(&object).expect("json"));
            } else {
                for (name, value) in vars {
                    println!("{name} = {value}");
                }
            }
        }
        VarsCommand::Set { target, vars } => {
            let prefix = prefix::existing(&config, &target.env_target())?;
            let assignments = vars
                .iter()
                .map(|v| state::parse_assignment(v))
                .collect::<Result<Vec<_>, _>>()?;
            let mut state = PrefixState::read(&prefix)?;
            state.set(assignments);
            state.write()?;
            reactivate_hint(&prefix, global);
        }
        VarsCommand::Unset { target, vars } => {
            let prefix = prefix::existing(&config, &target.env_target())?;
            let mut state = PrefixState::read(&prefix)?;
            state.unset(&vars);
            state.write()?;
            reactivate_hint(&prefix, global);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// conda's reminder when the changed environment is the active one.
fn reactivate_hint(prefix: &Path, global: &GlobalArgs) {
    let active = std::env::var_os("CONDA_PREFIX")
        .is_some_and(|active| prefix::absolute(active.as_ref()) == prefix);
    if active && !global.quiet {
        println!("To make your changes take effect please reactivate your environment");
    }
}
