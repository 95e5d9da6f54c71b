//! Whole-file writes that a `kill -9` cannot leave half done: write a temporary file beside the
//! target, sync it, rename it into place. Temporaries left by a killed writer are swept later,
//! once they are older than any write still in progress. The file gets the mode a plain create
//! would (0666 less the umask), not the temporary file's private 0600: outputs are read by web
//! servers and syncs running as other users.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

const TEMPORARY_PREFIX: &str = ".imgpipe-tmp-";

pub fn write(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = target.parent().expect("output paths have a parent");
    std::fs::create_dir_all(parent)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMPORARY_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Passed to open(2), which applies the umask as for any create.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temporary = builder.tempfile_in(parent)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_data()?;
    temporary.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Removes temporaries under `root` (recursively) last modified before `cutoff`, so another
/// process's write in progress is left alone; returns how many were removed. A missing root,
/// or a temporary another sweeper removed first, is fine.
pub fn sweep(root: &Path, cutoff: SystemTime) -> std::io::Result<u64> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            removed += sweep(&entry.path(), cutoff)?;
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(TEMPORARY_PREFIX)
        {
            let stale = match entry.metadata().and_then(|m| m.modified()) {
                Ok(modified) => modified < cutoff,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
                Err(error) => return Err(error),
            };
            if stale {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_sweeps_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/out.bin");
        write(&target, b"data").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"data");
        let leftover = dir.path().join("a").join(format!("{TEMPORARY_PREFIX}x"));
        std::fs::write(&leftover, b"half").unwrap();
        let before = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(
            sweep(dir.path(), before).unwrap(),
            0,
            "a recent write is left alone"
        );
        assert!(leftover.exists());
        let after = SystemTime::now() + std::time::Duration::from_secs(1);
        assert_eq!(sweep(dir.path(), after).unwrap(), 1);
        assert!(!leftover.exists() && target.exists());
    }

    #[cfg(unix)]
    #[test]
    fn written_files_get_the_mode_of_a_plain_create() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let target = dir.path().join("out/atomic");
        write(&target, b"x").unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), mode(&plain), "{:o}", mode(&target));
        // Replacing a file keeps that mode too.
        write(&target, b"y").unwrap();
        assert_eq!(mode(&target), mode(&plain));
    }
}
