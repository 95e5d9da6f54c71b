//! File-system helpers shared by the modules that write files other processes read.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A temporary file in `dir` that will be renamed over a file: created with mode 0666 less the
/// umask, as `open(2)` creates a new file (tempfile's default, 0600, would make the result
/// unreadable to other users: a shared environment, a channel served by another account).
pub fn temp_file_in(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// Writes a file so readers see either the old or the new content, never a partial one: the
/// bytes go to a temporary file in the same folder, which is then [`persist`]ed over `path`. The file
/// ends with the mode writing it in place would leave: an existing file's own, else what a
/// new file gets under the umask (0644 under umask 022).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = temp_file_in(dir)?;
    if let Ok(existing) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(existing.permissions())?;
    }
    tmp.write_all(bytes)?;
    persist(tmp, path)
}

/// Renames a finished temporary file (from [`temp_file_in`]) over `path`, its content synced to
/// disk first so that a crash right after the rename cannot leave an empty or partial file.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Gives files that another library wrote through a 0600 temporary file (rattler's
/// `conda-meta/*.json` records) the mode a new file in their folder gets under the umask.
pub fn give_created_mode(files: &[std::path::PathBuf]) -> std::io::Result<()> {
    let Some(dir) = files.first().and_then(|f| f.parent()) else {
        return Ok(());
    };
    let mode = temp_file_in(dir)?
        .as_file()
        .metadata()?
        .permissions()
        .mode()
        & 0o7777;
    for file in files {
        let current = std::fs::metadata(file)?.permissions().mode() & 0o7777;
        if current == 0o600 && mode != 0o600 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repodata.json");
        std::fs::write(&path, b"old content that is longer").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no-such-dir").join("file");
        assert!(write_atomic(&missing, b"x").is_err());
        assert!(!missing.exists());
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_files_get_the_umask_mode_and_replaced_files_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        // What a plain create gives here, whatever the umask of the test run.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let new = dir.path().join("new");
        write_atomic(&new, b"x").unwrap();
        assert_eq!(mode(&new), mode(&plain));
        let private = dir.path().join("private");
        std::fs::write(&private, b"token").unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&private, b"other token").unwrap();
        assert_eq!(mode(&private), 0o600);
        let rattler_like = dir.path().join("record.json");
        std::fs::write(&rattler_like, b"{}").unwrap();
        std::fs::set_permissions(&rattler_like, std::fs::Permissions::from_mode(0o600)).unwrap();
        give_created_mode(std::slice::from_ref(&rattler_like)).unwrap();
        assert_eq!(mode(&rattler_like), mode(&plain));
    }
}
