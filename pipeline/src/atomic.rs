//! Whole-file writes that a `kill -9` cannot leave half done: write a temporary file beside the
//! target, sync it, rename it into place. Temporaries left by a killed run are swept at the
//! start of the next one.

use std::io::Write;
use std::path::Path;

const TEMPORARY_PREFIX: &str = ".imgpipe-tmp-";

pub fn write(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = target.parent().expect("output paths have a parent");
    std::fs::create_dir_all(parent)?;
    let mut temporary = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .tempfile_in(parent)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_data()?;
    temporary.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Removes temporaries under `root` (recursively); a missing root is fine.
pub fn sweep(root: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            sweep(&entry.path())?;
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(TEMPORARY_PREFIX)
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
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
        sweep(dir.path()).unwrap();
        assert!(!leftover.exists() && target.exists());
    }
}
