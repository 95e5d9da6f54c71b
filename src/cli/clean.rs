//! `krait clean [--all] [--tarballs] [--index-cache] [--packages]`: free space in pkgs_dirs.

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::cache::{self, CleanSelection};
use crate::env::report::{self, Confirm};
use indicatif::HumanBytes;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove tarballs, the index cache and unused packages.
    #[arg(short, long)]
    all: bool,
    /// Remove downloaded package archives (.conda, .tar.bz2).
    #[arg(short, long)]
    tarballs: bool,
    /// Remove the repodata cache (`<first pkgs_dir>/cache`).
    #[arg(short, long)]
    index_cache: bool,
    /// Remove extracted packages that no environment links to.
    #[arg(short, long)]
    packages: bool,
    /// Only show what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Print conda-style JSON.
    #[arg(long)]
    json: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes")]
    yes: bool,
}

impl Args {
    fn selection(&self) -> CleanSelection {
        CleanSelection {
            tarballs: self.all || self.tarballs,
            index_cache: self.all || self.index_cache,
            packages: self.all || self.packages,
        }
    }
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let selection = args.selection();
    if selection.is_empty() {
        return Err(miette::miette!(
            help = "pass --all, or one or more of --tarballs, --index-cache, --packages",
            "krait clean needs something to remove"
        ));
    }
    let config = Config::load()?;
    // Held while looking and removing.
    let _cache_lock = crate::cli::runtime()?.block_on(cache::lock(&config))?;
    let targets = cache::find(&config, selection);
    let quiet = global.quiet || args.json;
    if !quiet {
        for target in &targets {
            if target.paths.is_empty() {
                println!("There are no {} to remove.", target.what);
                continue;
            }
            println!(
                "Will remove {} ({}) {}:",
                target.paths.len(),
                HumanBytes(target.size),
                target.what
            );
            for path in &target.paths {
                println!("  {}", path.display());
            }
        }
    }
    let anything = targets.iter().any(|t| !t.paths.is_empty());
    if anything && !args.dry_run {
        if !args.yes && !args.json {
            if let Confirm::No = report::confirm()? {
                return Err(crate::env::EnvError::Aborted.into());
            }
        }
        for path in targets.iter().flat_map(|t| &t.paths) {
            cache::remove(path)?;
        }
    }
    if args.json {
        let mut out = serde_json::json!({ "success": true, "dry_run": args.dry_run });
        for target in &targets {
            out[target.key] = serde_json::json!({
                "files": target.paths,
                "total_size": target.size,
            });
        }
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    }
    Ok(ExitCode::SUCCESS)
}
