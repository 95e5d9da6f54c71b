//! Applying a solved environment to a prefix, all or nothing.
//!
//! rattler's `Installer` links and unlinks but does not roll back. Before it runs we note every
//! path in the prefix and keep hard links (copies where linking fails) of every file it may
//! remove: the files of packages being removed or replaced and `conda-meta/`. If any step fails
//! (a link or unlink error, a failing post-link script, Ctrl-C) we delete what appeared and put
//! the kept files back, so the prefix is as it was. What that needs (the paths that existed,
//! the kept files) is journaled in the keep folder before anything changes, so that when the
//! process dies outright (`kill -9`) the next krait process to lock the prefix finishes the
//! rollback ([`finish_interrupted`]).

use super::extract::extract_verified;
use super::safety::{self, Safety};
use futures::{StreamExt, TryStreamExt};
use rattler::install::{
    ExternalSymlinkPolicy, IndicatifReporter, Installer, InstallerError, LinkOptions, Transaction,
};
use rattler_cache::package_cache::{CacheMetadata, PackageCache, PackageCacheError};
use rattler_conda_types::package::PathsJson;
use rattler_conda_types::{MatchSpec, PrefixRecord, RepoDataRecord, Subdir};
use rattler_networking::LazyClient;
use rattler_package_streaming::ExtractError;
use reqwest_retry::policies::ExponentialBackoff;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Errors while applying a transaction. The prefix is restored before any of these is returned.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TransactionFailure {
    #[error("cannot plan the transaction: {0}")]
    Plan(String),
    #[error("nothing was installed into {prefix}: {message}")]
    #[diagnostic(help("the package is damaged or unsafe; rebuild it or use another channel"))]
    Refused { prefix: PathBuf, message: String },
    #[error("installation failed and {prefix} was rolled back: {message}")]
    #[diagnostic(help("nothing was changed; fix the cause above and run the command again"))]
    RolledBack { prefix: PathBuf, message: String },
    #[error("installation failed ({message}) and rolling back {prefix} also failed: {rollback}")]
    RollbackFailed {
        prefix: PathBuf,
        message: String,
        rollback: String,
    },
    #[error("cannot prepare the rollback copy of {prefix}: {source}")]
    Snapshot {
        prefix: PathBuf,
        source: std::io::Error,
    },
}

/// The packages a solve would add, change and remove.
pub type Plan = Transaction<PrefixRecord, RepoDataRecord>;

/// Diffs what is installed against the solved records.
pub fn plan(
    installed: &[PrefixRecord],
    desired: &[RepoDataRecord],
    subdir: Subdir,
) -> Result<Plan, TransactionFailure> {
    Transaction::from_current_and_desired(installed.to_vec(), desired.to_vec(), None, None, subdir)
        .map_err(|e| TransactionFailure::Plan(e.to_string()))
}

/// How to link files.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkMode {
    /// Copy every file instead of hard-linking or reflinking from the cache.
    pub copy: bool,
}

/// Options of one transaction run.
pub struct ApplyOptions<'a> {
    pub cache: &'a PackageCache,
    pub client: &'a reqwest_middleware::ClientWithMiddleware,
    /// When a package download that broke off mid-body is tried again.
    pub retry: ExponentialBackoff,
    pub subdir: Subdir,
    pub requested: Vec<MatchSpec>,
    pub link: LinkMode,
    /// `safety_checks` and `extra_safety_checks`.
    pub safety: Safety,
    pub progress: bool,
}

/// A package whose `paths.json` would write outside the prefix.
fn escaping_path(paths: &PathsJson) -> Option<&Path> {
    paths
        .paths
        .iter()
        .map(|e| e.relative_path.as_path())
        .find(|p| {
            p.is_absolute()
                || p.components().any(|c| {
                    matches!(
                        c,
                        Component::ParentDir | Component::RootDir | Component::Prefix(_)
                    )
                })
        })
}

/// Puts every package to link into the cache (verifying its sha256 against the record),
/// checks reused cache entries file by file as `safety_checks` says ([`super::safety`]), and
/// refuses any package whose `paths.json` names a path outside the prefix, before anything is
/// linked. Returns the cache entries whose content krait vouches for, to stamp once they are
/// linked.
async fn fetch_and_check(
    options: &ApplyOptions<'_>,
    plan: &Plan,
) -> Result<Vec<(PathBuf, PathsJson)>, String> {
    let cache = options.cache;
    // Held while fetching, as rattler's installer holds it: other krait (and rattler) processes
    // fetch into the cache one at a time, so extraction folders no one holds are abandoned.
    let _cache_lock = cache.acquire_global_lock().await.map_err(|e| {
        format!(
            "cannot lock the package cache: {}",
            crate::net::error_chain(&e)
        )
    })?;
    for abandoned in safety::remove_abandoned_extractions(cache) {
        tracing::info!(
            "removed {}, left by an interrupted fetch",
            abandoned.display()
        );
    }
    let client = LazyClient::from(options.client.clone());
    let bar = crate::progress::counter(
        plan.installed_packages().count() as u64,
        "fetch",
        options.progress,
    );
    let safety = options.safety;
    let fetches = plan.installed_packages().map(|record| {
        let client = client.clone();
        let bar = bar.clone();
        async move {
            let name = record.identifier.to_file_name();
            let fetch = || async {
                let fresh = Arc::new(safety::FreshFetch::default());
                let meta = fetch_one(cache, record, &client, &options.retry, fresh.clone())
                    .await
                    .map_err(|e| {
                        format!("failed to fetch {name}: {}", crate::net::error_chain(&e))
                    })?;
                let paths = match meta.paths_json() {
                    Some(paths) => paths.clone(),
                    None => PathsJson::from_package_directory_with_deprecated_fallback(meta.path())
                        .map_err(|e| format!("{name}: cannot read info/paths.json: {e}"))?,
                };
                Ok::<_, String>((meta.path().to_path_buf(), paths, fresh.happened()))
            };
            let (mut dir, mut paths, fresh) = fetch().await?;
            // Whether krait vouches for the entry's content once it is linked.
            let mut good = safety.checks();
            if safety.needs_hashing(&dir, &paths, fresh).await {
                if let Err(problem) = safety::verify_entry(&dir, &paths).await {
                    let problem = if fresh {
                        Some(problem)
                    } else {
                        tracing::warn!(
                            "{name}: the cached copy was modified ({problem}); extracting it again"
                        );
                        std::fs::remove_dir_all(&dir)
                            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
                        (dir, paths, _) = fetch().await?;
                        safety::verify_entry(&dir, &paths).await.err()
                    };
                    if let Some(problem) = problem {
                        safety.inconsistent(&name, &problem)?;
                        good = false;
                    }
                }
            }
            bar.inc(1);
            bar.set_message(name.clone());
            match escaping_path(&paths) {
                Some(path) => Err(format!(
                    "{name}: refusing the path {} in info/paths.json, which is outside the prefix",
                    path.display()
                )),
                None => Ok(good.then_some((dir, paths))),
            }
        }
    });
    // Extraction is CPU-bound (decompression and two digests per archive): a few at a time
    // per core beats a hundred threads contending for two cores. At least conda's default
    // fetch_threads (5), for downloads waiting on the network.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let parallel = (cores * 2).max(5);
    let fetched = futures::stream::iter(fetches)
        .buffer_unordered(parallel)
        .try_collect::<Vec<Option<(PathBuf, PathsJson)>>>()
        .await
        .map(|entries| entries.into_iter().flatten().collect());
    bar.finish_and_clear();
    fetched
}

/// Puts one package into the cache. An archive on the local disk whose record names a sha256
/// is unpacked by [`extract_verified`], which hashes it once; anything else goes through
/// rattler's download-and-extract. `fresh` learns whether the package was fetched rather than
/// found in the cache.
async fn fetch_one(
    cache: &PackageCache,
    record: &RepoDataRecord,
    client: &LazyClient,
    retry: &ExponentialBackoff,
    fresh: Arc<safety::FreshFetch>,
) -> Result<CacheMetadata, PackageCacheError> {
    let local = (record.url.scheme() == "file")
        .then(|| record.url.to_file_path().ok())
        .flatten();
    match (local, record.package_record.sha256) {
        (Some(archive), Some(sha256)) => {
            let extracting = fresh.clone();
            let fetch = move |destination: PathBuf| {
                let archive = archive.clone();
                extracting.mark();
                async move {
                    tokio::task::spawn_blocking(move || {
                        extract_verified(&archive, &destination, &sha256)
                    })
                    .await
                    .map_err(|e| ExtractError::IoError(std::io::Error::other(e)))?
                    .map(Some)
                }
            };
            cache
                .get_or_fetch(&record.package_record, fetch, None)
                .await
        }
        _ => {
            cache
                .get_or_fetch_from_url_with_retry(
                    &record.package_record,
                    record.url.clone(),
                    client.clone(),
                    *retry,
                    Some(fresh),
                    None,
                )
                .await
        }
    }
}

/// What a rollback needs: the paths that existed and the kept copies of files that may go.
struct Snapshot {
    prefix: PathBuf,
    before: HashSet<PathBuf>,
    keep_dir: PathBuf,
    kept: Vec<PathBuf>,
}

/// Where a running transaction keeps what it may remove, one folder per process id.
pub const KEEP_DIR: &str = ".krait-rollback";
/// The file in a keep folder that says how to roll back (see [`Snapshot::write_journal`]).
const JOURNAL: &str = "journal";
const JOURNAL_HEADER: &[u8] = b"krait rollback journal 1\n";

/// Finishes what transactions of dead krait processes left in `prefix`: each keep folder
/// with a journal is rolled back, as the process would have done had it lived; one without
/// (the process died while preparing, before changing anything) is deleted. Called with the
/// prefix lock held, so no live process owns any of them. Returns the process ids whose
/// transactions were rolled back.
pub fn finish_interrupted(prefix: &Path) -> Result<Vec<u32>, std::io::Error> {
    let keep_root = prefix.join(KEEP_DIR);
    let Ok(entries) = std::fs::read_dir(&keep_root) else {
        return Ok(Vec::new());
    };
    let mut rolled_back = Vec::new();
    for entry in entries {
        let keep_dir = entry?.path();
        match Snapshot::from_journal(prefix, &keep_dir)? {
            Some(snapshot) => {
                snapshot.restore()?;
                let pid: Option<u32> = keep_dir.file_name().and_then(|n| n.to_str()?.parse().ok());
                rolled_back.extend(pid);
            }
            None => std::fs::remove_dir_all(&keep_dir)?,
        }
    }
    let _ = std::fs::remove_dir(&keep_root);
    Ok(rolled_back)
}

fn walk_relative(prefix: &Path) -> HashSet<PathBuf> {
    walkdir::WalkDir::new(prefix)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_name() != KEEP_DIR)
        .filter_map(Result::ok)
        .filter_map(|e| e.path().strip_prefix(prefix).ok().map(Path::to_path_buf))
        .collect()
}

impl Snapshot {
    fn take(prefix: &Path, plan: &Plan) -> Result<Snapshot, std::io::Error> {
        let keep_dir = prefix.join(KEEP_DIR).join(std::process::id().to_string());
        if keep_dir.exists() {
            std::fs::remove_dir_all(&keep_dir)?;
        }
        std::fs::create_dir_all(&keep_dir)?;
        let mut to_keep: Vec<PathBuf> = plan
            .removed_packages()
            .flat_map(|r| r.files.iter().cloned())
            .collect();
        if let Ok(entries) = std::fs::read_dir(prefix.join("conda-meta")) {
            to_keep.extend(
                entries
                    .flatten()
                    .filter(|e| e.path().is_file())
                    .map(|e| PathBuf::from("conda-meta").join(e.file_name())),
            );
        }
        let mut kept = Vec::new();
        for rel in to_keep {
            let source = prefix.join(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&source) else {
                continue;
            };
            let target = keep_dir.join(&rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // conda-meta records are rewritten in place by the installer, so they are copied;
            // package files are only ever unlinked, so a hard link keeps them cheaply.
            let in_place = rel.starts_with("conda-meta");
            if meta.file_type().is_symlink() {
                let link = std::fs::read_link(&source)?;
                std::os::unix::fs::symlink(link, &target)?;
            } else if in_place || std::fs::hard_link(&source, &target).is_err() {
                std::fs::copy(&source, &target)?;
            }
            kept.push(rel);
        }
        let snapshot = Snapshot {
            prefix: prefix.to_path_buf(),
            before: walk_relative(prefix),
            keep_dir,
            kept,
        };
        // From here on the prefix may change: what a rollback needs must be on disk.
        snapshot.write_journal()?;
        Ok(snapshot)
    }

    /// Writes `before` and `kept` into the keep folder, so that a later krait process can
    /// finish the rollback if this one dies (`kill -9`, out of memory) while linking. Paths
    /// are stored as raw bytes, NUL-terminated: a path holds any byte but NUL.
    fn write_journal(&self) -> Result<(), std::io::Error> {
        use std::os::unix::ffi::OsStrExt;
        let mut bytes = JOURNAL_HEADER.to_vec();
        let entries =
            (self.before.iter().map(|p| (b'B', p))).chain(self.kept.iter().map(|p| (b'K', p)));
        for (kind, path) in entries {
            bytes.push(kind);
            bytes.extend_from_slice(path.as_os_str().as_bytes());
            bytes.push(0);
        }
        crate::fs::write_atomic(&self.keep_dir.join(JOURNAL), &bytes)
    }

    /// The snapshot a dead process journaled in `keep_dir`, or `None` when it died before
    /// writing its journal (and so before it changed the prefix).
    fn from_journal(prefix: &Path, keep_dir: &Path) -> Result<Option<Snapshot>, std::io::Error> {
        use std::os::unix::ffi::OsStrExt;
        let bytes = match std::fs::read(keep_dir.join(JOURNAL)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let body = bytes.strip_prefix(JOURNAL_HEADER).ok_or_else(|| {
            std::io::Error::other(format!(
                "{} is not a krait rollback journal",
                keep_dir.join(JOURNAL).display()
            ))
        })?;
        let mut snapshot = Snapshot {
            prefix: prefix.to_path_buf(),
            before: HashSet::new(),
            keep_dir: keep_dir.to_path_buf(),
            kept: Vec::new(),
        };
        for entry in body.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(&entry[1..]));
            match entry[0] {
                b'B' => {
                    snapshot.before.insert(path);
                }
                _ => snapshot.kept.push(path),
            }
        }
        Ok(Some(snapshot))
    }

    /// Puts the prefix back as it was when the snapshot was taken.
    fn restore(&self) -> Result<(), std::io::Error> {
        let now = walk_relative(&self.prefix);
        let mut new_paths: Vec<&PathBuf> = now.difference(&self.before).collect();
        // Deepest first, so files go before the folders that hold them.
        new_paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for rel in new_paths {
            let path = self.prefix.join(rel);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    let _ = std::fs::remove_dir(&path);
                }
                Ok(_) => std::fs::remove_file(&path)?,
                Err(_) => {}
            }
        }
        for rel in &self.kept {
            let kept = self.keep_dir.join(rel);
            // Already put back by a rollback that was itself interrupted.
            if std::fs::symlink_metadata(&kept).is_err() {
                continue;
            }
            let target = self.prefix.join(rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if std::fs::symlink_metadata(&target).is_ok() {
                std::fs::remove_file(&target)?;
            }
            std::fs::rename(kept, &target)?;
        }
        self.discard();
        Ok(())
    }

    fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.keep_dir);
        let _ = std::fs::remove_dir(self.prefix.join(KEEP_DIR));
    }
}

/// Why an installation attempt failed, before rollback.
enum Failure {
    Installer(InstallerError),
    PostLink(String),
    Interrupted,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Installer(e) => f.write_str(&crate::net::error_chain(e)),
            Failure::PostLink(m) => f.write_str(m),
            Failure::Interrupted => f.write_str("interrupted (Ctrl-C)"),
        }
    }
}

/// Applies `desired` to `prefix` (which holds `installed`), rolling back on any failure.
pub async fn apply(
    prefix: &Path,
    installed: Vec<PrefixRecord>,
    desired: Vec<RepoDataRecord>,
    plan: &Plan,
    options: ApplyOptions<'_>,
) -> Result<(), TransactionFailure> {
    let good_entries =
        fetch_and_check(&options, plan)
            .await
            .map_err(|message| TransactionFailure::Refused {
                prefix: prefix.to_path_buf(),
                message,
            })?;
    std::fs::create_dir_all(prefix.join("conda-meta")).map_err(|source| {
        TransactionFailure::Snapshot {
            prefix: prefix.to_path_buf(),
            source,
        }
    })?;
    let snapshot = Snapshot::take(prefix, plan).map_err(|source| TransactionFailure::Snapshot {
        prefix: prefix.to_path_buf(),
        source,
    })?;
    let link_options = if options.link.copy {
        LinkOptions {
            allow_symbolic_links: Some(true),
            allow_hard_links: Some(false),
            allow_ref_links: Some(false),
        }
    } else {
        LinkOptions::default()
    };
    let mut installer = Installer::new()
        .with_package_cache(options.cache.clone())
        .with_download_client(options.client.clone())
        .with_installed_packages(installed)
        .with_target_platform(options.subdir)
        .with_requested_specs(options.requested)
        .with_link_options(link_options)
        // Archives are untrusted: a symlink pointing out of the prefix is refused.
        .with_external_symlink_policy(ExternalSymlinkPolicy::Deny)
        .with_execute_link_scripts(true);
    if options.progress {
        installer = installer.with_reporter(IndicatifReporter::builder().finish());
    }
    // rattler runs post-link scripts without yielding, so the select below may not see a
    // Ctrl-C in time; a watcher on another worker remembers it for the check after.
    let interrupted = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn({
        let interrupted = interrupted.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::SeqCst);
            }
        }
    });
    let failure = tokio::select! {
        result = installer.install(prefix, desired) => match result {
            Ok(result) => match result.post_link_script_result {
                Some(Ok(post)) if !post.failed_packages.is_empty() => Some(Failure::PostLink(format!(
                    "post-link script failed for {}",
                    post.failed_packages.iter().map(|p| p.as_source()).collect::<Vec<_>>().join(", ")
                ))),
                Some(Err(e)) => Some(Failure::PostLink(format!("post-link scripts failed: {e}"))),
                _ => None,
            },
            Err(e) => Some(Failure::Installer(e)),
        },
        _ = tokio::signal::ctrl_c() => {
            // Let the installer's blocking file tasks settle before putting files back.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            Some(Failure::Interrupted)
        }
    };
    watcher.abort();
    // A Ctrl-C also reaches the scripts, which then fail: name the cause, not the symptom.
    let failure = if interrupted.load(Ordering::SeqCst) {
        Some(Failure::Interrupted)
    } else {
        failure
    };
    match failure {
        None => {
            snapshot.discard();
            // Linking moved the entries' ctimes (hard links do): stamp them as they are now.
            let _ = tokio::task::spawn_blocking(move || {
                for (entry, paths) in &good_entries {
                    safety::stamp_good(entry, paths);
                }
            })
            .await;
            Ok(())
        }
        Some(failure) => match snapshot.restore() {
            Ok(()) => Err(TransactionFailure::RolledBack {
                prefix: prefix.to_path_buf(),
                message: failure.to_string(),
            }),
            Err(e) => Err(TransactionFailure::RollbackFailed {
                prefix: prefix.to_path_buf(),
                message: failure.to_string(),
                rollback: e.to_string(),
            }),
        },
    }
}
