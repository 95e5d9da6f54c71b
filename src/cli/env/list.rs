//! `krait env list [--json]`, in conda's format: the environments under envs_dirs, then those
//! conda registered elsewhere.

use crate::cli::GlobalArgs;
use crate::config::Config;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print `{"envs": [...]}` as conda does.
    #[arg(long)]
    pub(super) json: bool,
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let config = Config::load()?;
    let envs = super::known_envs(&config);
    if args.json {
        let value = serde_json::json!({ "envs": envs });
        println!("{}", serde_json::to_string_pretty(&value).expect("json"));
        return Ok(ExitCode::SUCCESS);
    }
    let active = std::env::var_os("CONDA_PREFIX").map(std::path::PathBuf::from);
    println!("# conda environments:\n#");
    for env in &envs {
        // As conda: environments outside envs_dirs have no name.
        let in_envs_dirs = env
            .parent()
            .is_some_and(|p| config.envs_dirs.iter().any(|d| d == p));
        let name = match env.file_name() {
            Some(name) if in_envs_dirs => name.to_string_lossy(),
            _ => "".into(),
        };
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
