//! `krait env list [--json]`, in conda's format.

use crate::channel::config::Config;
use crate::cli::GlobalArgs;
use crate::env::prefix;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print `{"envs": [...]}` as conda does.
    #[arg(long)]
    pub(super) json: bool,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let config = Config::load()?;
    let envs = prefix::list(&config);
    if args.json {
        let value = serde_json::json!({ "envs": envs });
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
        return Ok(ExitCode::SUCCESS);
    }
    let active = std::env::var_os("CONDA_PREFIX").map(std::path::PathBuf::from);
    println!("# conda environments:\n#");
    for env in &envs {
        let name = env.file_name().unwrap_or_default().to_string_lossy();
        let mark = if active.as_ref() == Some(env) {
            "*"
        } else {
            " "
        };
        println!("{name:<20}  {mark}  {}", env.display());
    }
    println!();
    Ok(ExitCode::SUCCESS)
}
