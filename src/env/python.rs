//! After linking, byte-compile the `.py` files of `noarch: python` packages with the
//! environment's own interpreter, as conda does, and record the `.pyc` files in each package's
//! `conda-meta` record so that removing the package removes them too.

use rattler_conda_types::prefix_record::{PathType, PathsEntry};
use rattler_conda_types::{NoArchType, PrefixRecord};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Errors while byte-compiling.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CompileError {
    #[error("cannot byte-compile noarch python files with {python}: {message}")]
    Failed { python: PathBuf, message: String },
    #[error("cannot update {path}: {message}")]
    Record { path: PathBuf, message: String },
}

/// The `.pyc` path CPython writes for a source file (PEP 3147).
fn pyc_path(py: &Path, cache_tag: &str) -> PathBuf {
    let stem = py.file_stem().unwrap_or_default().to_string_lossy();
    py.parent()
        .unwrap_or(Path::new(""))
        .join("__pycache__")
        .join(format!("{stem}.{cache_tag}.pyc"))
}

/// Byte-compiles what noarch python packages in `prefix` installed and is not compiled yet.
pub fn compile_noarch(prefix: &Path) -> Result<(), CompileError> {
    let python = prefix.join("bin").join("python");
    if !python.is_file() {
        return Ok(());
    }
    let meta = prefix.join("conda-meta");
    let mut pending: Vec<(PathBuf, PrefixRecord, Vec<PathBuf>)> = Vec::new();
    for entry in std::fs::read_dir(&meta).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(record) = PrefixRecord::from_path(&path) else {
            continue;
        };
        if record.repodata_record.package_record.noarch != NoArchType::python() {
            continue;
        }
        let has_pyc = record
            .files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "pyc"));
        let sources: Vec<PathBuf> = record
            .files
            .iter()
            .filter(|f| {
                f.extension().is_some_and(|e| e == "py")
                    && f.components().any(|c| c.as_os_str() == "site-packages")
            })
            .cloned()
            .collect();
        if !has_pyc && !sources.is_empty() {
            pending.push((path, record, sources));
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let failed = |message: String| CompileError::Failed {
        python: python.clone(),
        message,
    };
    let tag = Command::new(&python)
        .args(["-c", "import sys; print(sys.implementation.cache_tag)"])
        .output()
        .map_err(|e| failed(e.to_string()))?;
    let cache_tag = String::from_utf8_lossy(&tag.stdout).trim().to_string();
    let mut child = Command::new(&python)
        .args(["-Wi", "-m", "compileall", "-q", "-l", "-i", "-"])
        .current_dir(prefix)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        for (_, _, sources) in &pending {
            for source in sources {
                writeln!(stdin, "{}", source.display()).map_err(|e| failed(e.to_string()))?;
            }
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    for (path, mut record, sources) in pending {
        for source in sources {
            let pyc = pyc_path(&source, &cache_tag);
            if !prefix.join(&pyc).is_file() {
                continue;
            }
            record.files.push(pyc.clone());
            record.paths_data.paths.push(PathsEntry {
                relative_path: pyc,
                original_path: None,
                path_type: PathType::PycFile,
                no_link: false,
                sha256: None,
                sha256_in_prefix: None,
                size_in_bytes: None,
                file_mode: None,
                prefix_placeholder: None,
            });
        }
        record
            .write_to_path(&path, true)
            .map_err(|e| CompileError::Record {
                path: path.clone(),
                message: e.to_string(),
            })?;
    }
    Ok(())
}
