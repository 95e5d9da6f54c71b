//! `load_setup_py_data()`: run a project's setup.py with the render environment's Python and
//! capture what it passes to `setup()`.

use minijinja::{Error, ErrorKind};
use std::path::{Path, PathBuf};

/// Runs setup.py with `setup()` captured, like conda-build's `load_setup_py_data.py`; a stub
/// `setuptools` stands in when the interpreter has none.
const SETUP_PY_SHIM: &str = include_str!("load_setup_py_data.py");

fn find_python(path_env: Option<&str>) -> Option<PathBuf> {
    let dirs = std::env::split_paths(path_env?).collect::<Vec<_>>();
    ["python3", "python", "python.exe"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// What setup.py passed to `setup()`, as JSON (values Python cannot express in JSON as strings).
pub(super) fn run_setup_py(
    path: &Path,
    path_env: Option<&str>,
) -> std::result::Result<serde_json::Value, Error> {
    let python = find_python(path_env).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            "load_setup_py_data() runs setup.py with Python, but no python3/python is on PATH",
        )
    })?;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(SETUP_PY_SHIM)
        .arg(path)
        .output()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot run {}: {e}", python.display()),
            )
        })?;
    if !out.status.success() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "load_setup_py_data(): {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("load_setup_py_data(): bad output: {e}"),
        )
    })
}
