//! `krait env list [--json]`, in conda's format: the environments under envs_dirs, then those
//! conda registered elsewhere.

use crate::cli::GlobalArgs;
use crate::config::Config;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print `{"envs": [...]}` as conda does.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let config = Config::load()?;
    let envs = crate::env::prefix::known(&config);
    if args.json {
        let value = serde_json::json!({ "envs": envs });
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", crate::env::report::environments_table(&config, &envs));
    Ok(ExitCode::SUCCESS)
}
