//! `krait clean [--all] [--tarballs] [--index-cache] [--packages]`: free space in pkgs_dirs.

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::env::report::{self, Confirm};
use indicatif::HumanBytes;
use rattler_cache::package_cache::PackageCache;
use std::path::{Path, PathBuf};
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

/// One kind of thing to remove, and what of it was found.
struct Target {
    key: &'static str,
    what: &'static str,
    paths: Vec<PathBuf>,
    size: u64,
}

fn size_of(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

fn is_archive(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.is_file() && (name.ends_with(".conda") || name.ends_with(".tar.bz2"))
}

/// An extracted package that no environment links to: as conda decides, none of its files
/// has another hard link.
#[cfg(unix)]
fn is_unused_package(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    path.join("info").join("index.json").is_file()
        && walkdir::WalkDir::new(path)
            .into_iter()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .all(|m| !m.is_file() || m.nlink() <= 1)
}

#[cfg(not(unix))]
fn is_unused_package(_path: &Path) -> bool {
    false
}

fn find(config: &Config, args: &Args) -> Vec<Target> {
    let mut targets = Vec::new();
    let mut add = |key, what, paths: Vec<PathBuf>| {
        let size = paths.iter().map(|p| size_of(p)).sum();
        targets.push(Target {
            key,
            what,
            paths,
            size,
        });
    };
    if args.all || args.tarballs {
        let tarballs = config
            .pkgs_dirs
            .iter()
            .flat_map(|d| entries(d))
            .filter(|p| is_archive(p))
            .collect();
        add("tarballs", "tarball(s)", tarballs);
    }
    if args.all || args.index_cache {
        let cache = config.pkgs_dir().join("cache");
        add("index_cache", "index cache(s)", entries(&cache));
    }
    if args.all || args.packages {
        let packages = config
            .pkgs_dirs
            .iter()
            .flat_map(|d| entries(d))
            .filter(|p| p.is_dir() && is_unused_package(p))
            .collect();
        add("packages", "package(s)", packages);
    }
    targets
}

fn remove(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path)?;
        // rattler's cache keeps a lock file next to each package folder, krait its
        // verification stamp (env::safety).
        for sidecar in [".lock", ".krait-verified"] {
            let mut file = path.as_os_str().to_owned();
            file.push(sidecar);
            let file = PathBuf::from(file);
            if file.is_file() {
                std::fs::remove_file(file)?;
            }
        }
        Ok(())
    } else {
        std::fs::remove_file(path)
    }
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    if !(args.all || args.tarballs || args.index_cache || args.packages) {
        return Err(miette::miette!(
            help = "pass --all, or one or more of --tarballs, --index-cache, --packages",
            "krait clean needs something to remove"
        ));
    }
    let config = Config::load()?;
    // rattler's installer holds this lock while it fills the cache; hold it while looking and
    // removing, so that no concurrent install sees a package half gone.
    let runtime = crate::cli::runtime()?;
    let _cache_lock = runtime
        .block_on(PackageCache::new(config.pkgs_dir()).acquire_global_lock())
        .map_err(|e| miette::miette!("cannot lock the package cache: {e}"))?;
    let targets = find(&config, &args);
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
            remove(path).map_err(|e| miette::miette!("cannot remove {}: {e}", path.display()))?;
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
