//! Fetching a recipe's sources into the work folder: `url` (relative path, `file://`,
//! `http(s)://`, mirrors) with a verified hash and a source cache, archives extracted with
//! single-top-folder hoisting, `path` copies (symlinks kept), `git_url` through the git CLI,
//! `folder`, and `patches` applied with GNU patch.

use super::BuildError;
use crate::recipe::model::Source;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What can go wrong while fetching, unpacking, cloning or patching a source.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SourceError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Walk(#[from] walkdir::Error),
    #[error("{url}: {message}")]
    Hash { url: String, message: String },
    #[error("no source URL could be fetched: {0}")]
    NoUrl(String),
    #[error("cannot extract {}: {source}", archive.display())]
    ExtractRun {
        archive: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot extract {}: exit {status}", archive.display())]
    Extract {
        archive: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("source path {} does not exist", .0.display())]
    MissingPath(PathBuf),
    #[error("{command}: {stderr}")]
    Command { command: String, stderr: String },
    #[error("patch {} does not exist", .0.display())]
    MissingPatch(PathBuf),
    #[error("patch {} does not apply at any strip level 0-3", .0.display())]
    PatchFailed(PathBuf),
}

/// An I/O error on `path`, for `map_err`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A program that could not be started, for `map_err`.
fn spawn(program: &'static str) -> impl FnOnce(std::io::Error) -> SourceError {
    move |source| SourceError::Spawn { program, source }
}

/// Downloads source URLs with krait's channel client, so `.condarc`'s `proxy_servers`,
/// `ssl_verify`, timeouts and retries apply to them as they do to channels.
pub struct Downloader<'a> {
    pub client: &'a reqwest_middleware::ClientWithMiddleware,
    pub runtime: &'a tokio::runtime::Runtime,
}

impl Downloader<'_> {
    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let error = |e: &dyn std::error::Error| crate::net::error_chain(e);
        self.runtime.block_on(async {
            let response = self.client.get(url).send().await.map_err(|e| error(&e))?;
            let response = response.error_for_status().map_err(|e| error(&e))?;
            let body = response.bytes().await.map_err(|e| error(&e))?;
            Ok(body.to_vec())
        })
    }
}

/// Fetches every source of a variant into `work`.
pub fn fetch_all(
    sources: &[Source],
    recipe_dir: &Path,
    work: &Path,
    cache: &Path,
    downloader: &Downloader,
) -> Result<(), BuildError> {
    std::fs::create_dir_all(work).map_err(io(work))?;
    for source in sources {
        let dest = match &source.folder {
            Some(folder) => work.join(folder),
            None => work.to_path_buf(),
        };
        std::fs::create_dir_all(&dest).map_err(io(&dest))?;
        if !source.url.is_empty() {
            let (archive, file_name) = fetch_url(source, recipe_dir, cache, downloader)?;
            unpack(&archive, &file_name, &dest, source)?;
        } else if let Some(path) = &source.path {
            copy_tree(&recipe_dir.join(path), &dest)?;
        } else if let Some(git) = &source.git_url {
            git_clone(git, source, recipe_dir, &dest)?;
        }
        for patch in &source.patches {
            apply_patch(&recipe_dir.join(patch), &dest)?;
        }
    }
    Ok(())
}

/// Downloads (or copies) the first mirror that works into the source cache and checks its hash.
/// Returns the cached file and the source's own file name (`fn`, else the URL's last part).
fn fetch_url(
    source: &Source,
    recipe_dir: &Path,
    cache: &Path,
    downloader: &Downloader,
) -> Result<(PathBuf, String), BuildError> {
    std::fs::create_dir_all(cache).map_err(io(cache))?;
    let mut errors = Vec::new();
    for raw in &source.url {
        let name = source
            .file_name
            .clone()
            .unwrap_or_else(|| raw.rsplit('/').next().unwrap_or("source").to_string());
        let key = source
            .sha256
            .clone()
            .or_else(|| source.md5.clone())
            .or_else(|| source.sha1.clone());
        let cached = cache.join(match &key {
            Some(hash) => format!("{}_{name}", &hash[..hash.len().min(12)]),
            None => name.clone(),
        });
        if key.is_some() && cached.is_file() && verify(&cached, source).is_ok() {
            return Ok((cached, name));
        }
        let bytes = if raw.starts_with("http://") || raw.starts_with("https://") {
            match downloader.get(raw) {
                Ok(bytes) => bytes,
                Err(e) => {
                    errors.push(format!("{raw}: {e}"));
                    continue;
                }
            }
        } else {
            let path = match raw.strip_prefix("file://") {
                Some(p) => PathBuf::from(p),
                None => recipe_dir.join(raw),
            };
            match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(format!("{}: {e}", path.display()));
                    continue;
                }
            }
        };
        let tmp = cached.with_extension("partial");
        std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
        if let Err(e) = verify(&tmp, source) {
            let _ = std::fs::remove_file(&tmp);
            return Err(SourceError::Hash {
                url: raw.clone(),
                message: e,
            }
            .into());
        }
        std::fs::rename(&tmp, &cached).map_err(io(&cached))?;
        return Ok((cached, name));
    }
    Err(SourceError::NoUrl(errors.join("; ")).into())
}

/// The hex digest of `bytes` with the named algorithm.
fn digest(kind: &str, bytes: &[u8]) -> String {
    use sha1::Digest;
    match kind {
        "sha256" => {
            hex::encode(rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(bytes))
        }
        "md5" => hex::encode(rattler_digest::compute_bytes_digest::<rattler_digest::Md5>(
            bytes,
        )),
        _ => hex::encode(sha1::Sha1::digest(bytes)),
    }
}

/// Checks the archive against every hash the recipe gives.
fn verify(path: &Path, source: &Source) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    for (kind, expected) in [
        ("sha256", &source.sha256),
        ("md5", &source.md5),
        ("sha1", &source.sha1),
    ] {
        if let Some(expected) = expected {
            let actual = digest(kind, &bytes);
            if !actual.eq_ignore_ascii_case(expected.trim()) {
                return Err(format!(
                    "{kind} mismatch: the recipe says {expected}, the download has {actual}"
                ));
            }
        }
    }
    Ok(())
}

/// Extracts a source archive into `dest`, or copies a plain file (a wheel, a script) there
/// under its own `file_name`; a single top-level folder is hoisted, as conda-build does.
fn unpack(archive: &Path, file_name: &str, dest: &Path, source: &Source) -> Result<(), BuildError> {
    let name = file_name.to_lowercase();
    let is_tar = [
        ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tar",
    ]
    .iter()
    .any(|ext| name.ends_with(ext));
    if !is_tar && !name.ends_with(".zip") {
        let target = dest.join(file_name);
        std::fs::copy(archive, &target).map_err(io(&target))?;
        return Ok(());
    }
    let staging = tempfile::tempdir_in(dest).map_err(io(dest))?;
    let status = if name.ends_with(".zip") {
        Command::new("unzip")
            .arg("-q")
            .arg(archive)
            .arg("-d")
            .arg(staging.path())
            .status()
    } else {
        Command::new("tar")
            .arg("-xf")
            .arg(archive)
            .arg("-C")
            .arg(staging.path())
            .status()
    };
    match status {
        Ok(s) if s.success() => {}
        Ok(status) => {
            return Err(SourceError::Extract {
                archive: archive.to_path_buf(),
                status,
            }
            .into())
        }
        Err(source) => {
            return Err(SourceError::ExtractRun {
                archive: archive.to_path_buf(),
                source,
            }
            .into())
        }
    }
    let entries: Vec<_> = std::fs::read_dir(staging.path())
        .map_err(io(staging.path()))?
        .flatten()
        .collect();
    let root = match entries.as_slice() {
        [only] if only.path().is_dir() && !source.no_hoist => only.path(),
        _ => staging.path().to_path_buf(),
    };
    for entry in std::fs::read_dir(&root).map_err(io(&root))?.flatten() {
        let target = dest.join(entry.file_name());
        std::fs::rename(entry.path(), &target).map_err(io(&target))?;
    }
    Ok(())
}

/// Copies a file, or a folder tree keeping symlinks as symlinks, creating the parent folders.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    if !from.exists() {
        return Err(SourceError::MissingPath(from.to_path_buf()).into());
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(SourceError::from)?;
        let rel = entry
            .path()
            .strip_prefix(from)
            .expect("walkdir stays under its root");
        if rel.components().any(|c| c.as_os_str() == ".git")
            && entry.depth() > 0
            && rel.starts_with(".git")
        {
            continue;
        }
        // A plain file as `from` is the walk's only entry, with an empty relative path.
        let target = if rel.as_os_str().is_empty() {
            to.to_path_buf()
        } else {
            to.join(rel)
        };
        if entry.file_type().is_symlink() {
            let link = std::fs::read_link(entry.path()).map_err(io(&target))?;
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(link, &target).map_err(io(&target))?;
        } else if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).map_err(io(&target))?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}

fn git_clone(url: &str, source: &Source, recipe_dir: &Path, dest: &Path) -> Result<(), BuildError> {
    let url =
        if Path::new(url).is_relative() && !url.contains("://") && recipe_dir.join(url).exists() {
            recipe_dir.join(url).display().to_string()
        } else {
            url.to_string()
        };
    let mut clone = Command::new("git");
    clone.arg("clone").arg("--quiet");
    if let Some(depth) = source.git_depth.filter(|d| *d > 0) {
        clone
            .arg("--depth")
            .arg(depth.to_string())
            .arg("--no-single-branch");
    }
    let out = clone.arg(&url).arg(dest).output().map_err(spawn("git"))?;
    if !out.status.success() {
        return Err(failed_command(format!("git clone {url}"), &out));
    }
    if let Some(rev) = &source.git_rev {
        let out = Command::new("git")
            .args(["checkout", "--quiet", rev])
            .current_dir(dest)
            .output()
            .map_err(spawn("git"))?;
        if !out.status.success() {
            return Err(failed_command(format!("git checkout {rev}"), &out));
        }
    }
    Ok(())
}

/// A command that ran and failed, with what it printed on stderr.
fn failed_command(command: String, out: &std::process::Output) -> BuildError {
    SourceError::Command {
        command,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
    .into()
}

/// Applies a patch with GNU patch, finding the strip level as conda-build does: the first of
/// -p0..-p3 that applies cleanly in a dry run.
fn apply_patch(patch: &Path, dest: &Path) -> Result<(), BuildError> {
    if !patch.is_file() {
        return Err(SourceError::MissingPatch(patch.to_path_buf()).into());
    }
    for level in 0..4 {
        let dry = Command::new("patch")
            .args([
                "--dry-run",
                "--batch",
                "--silent",
                &format!("-p{level}"),
                "-i",
            ])
            .arg(patch)
            .current_dir(dest)
            .output()
            .map_err(spawn("patch"))?;
        if dry.status.success() {
            let real = Command::new("patch")
                .args(["--batch", "--silent", &format!("-p{level}"), "-i"])
                .arg(patch)
                .current_dir(dest)
                .output()
                .map_err(spawn("patch"))?;
            if real.status.success() {
                return Ok(());
            }
        }
    }
    Err(SourceError::PatchFailed(patch.to_path_buf()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_file_source_keeps_its_own_name_in_the_work_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = tmp.path().join("demo-1.0-py3-none-any.whl");
        std::fs::write(&wheel, b"not unpacked").unwrap();
        let source = Source {
            url: vec![format!("file://{}", wheel.display())],
            sha256: Some(digest("sha256", b"not unpacked")),
            ..Source::default()
        };
        let work = tmp.path().join("work");
        let cache = tmp.path().join("cache");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = reqwest_middleware::ClientWithMiddleware::default();
        let downloader = Downloader {
            client: &client,
            runtime: &runtime,
        };
        let fetch = |sources: &[Source], work: &Path| {
            fetch_all(sources, tmp.path(), work, &cache, &downloader).unwrap()
        };
        fetch(std::slice::from_ref(&source), &work);
        let names: Vec<String> = std::fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo-1.0-py3-none-any.whl"]);
        // `fn` renames it.
        let renamed = Source {
            file_name: Some("renamed.whl".to_string()),
            ..source
        };
        let work = tmp.path().join("work2");
        fetch(&[renamed], &work);
        assert!(work.join("renamed.whl").is_file());
    }
}
