//! Symbolic links among a package's files, checked and fixed before packaging (conda-build's
//! `post.check_symlinks`):
//!
//! - an absolute link to a path inside the host prefix becomes relative, so it still points
//!   there wherever the package is installed;
//! - a link into the build root (the work folder, the build environment, ...) is an error: that
//!   path is gone once the build is over;
//! - any other link out of the prefix is an error too. conda-build lets links to system paths
//!   (`/usr/...`) through; krait refuses them, as its installer refuses to link them.

use super::BuildError;
use std::path::{Component, Path, PathBuf};

/// `path` with `.` and `..` resolved lexically (links are not followed: the build's paths may
/// not exist where the package is installed).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The path from folder `from` to `to`, both absolute and normalized.
fn relative_to(to: &Path, from: &Path) -> PathBuf {
    let to: Vec<Component> = to.components().collect();
    let from: Vec<Component> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for part in &to[common..] {
        rel.push(part.as_os_str());
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    rel
}

/// Checks every symbolic link among `files` (relative to `host_prefix`): absolute links into
/// the prefix are rewritten relative in place; links into `build_root` or elsewhere out of the
/// prefix stop the build, all of them named.
pub fn check_symlinks(
    files: &[PathBuf],
    host_prefix: &Path,
    build_root: &Path,
) -> Result<(), BuildError> {
    let prefix = normalize(host_prefix);
    let root = normalize(build_root);
    let mut problems = Vec::new();
    for rel in files {
        let path = host_prefix.join(rel);
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            continue;
        }
        let link = std::fs::read_link(&path).map_err(BuildError::io(&path))?;
        let folder = normalize(path.parent().unwrap_or(host_prefix));
        let target = normalize(&folder.join(&link));
        if target.starts_with(&prefix) {
            if link.is_absolute() {
                let relative = relative_to(&target, &folder);
                tracing::info!(
                    "making absolute symlink relative ({} -> {} :-> {})",
                    rel.display(),
                    link.display(),
                    relative.display()
                );
                std::fs::remove_file(&path).map_err(BuildError::io(&path))?;
                std::os::unix::fs::symlink(&relative, &path).map_err(BuildError::io(&path))?;
            }
        } else if target.starts_with(&root) {
            problems.push(format!(
                "  {} -> {}: a path that may not exist after the build is completed",
                rel.display(),
                link.display()
            ));
        } else {
            problems.push(format!(
                "  {} -> {}: outside the prefix",
                rel.display(),
                link.display()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BuildError::Symlinks(problems.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        let rel = |to: &str, from: &str| relative_to(Path::new(to), Path::new(from));
        assert_eq!(rel("/p/lib/libz.so.1", "/p/lib"), Path::new("libz.so.1"));
        assert_eq!(
            rel("/p/lib/libz.so.1", "/p/bin"),
            Path::new("../lib/libz.so.1")
        );
        assert_eq!(rel("/p/share", "/p/a/b"), Path::new("../../share"));
        assert_eq!(
            normalize(Path::new("/p/bin/../lib/./x")),
            Path::new("/p/lib/x")
        );
    }
}
