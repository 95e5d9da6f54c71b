//! environment.yml's `pip:` section, as conda's `env create` installs it: once the conda
//! packages are linked, the environment's own `python -m pip install -U -r <requirements>`
//! runs activated, in the file's folder (so `-r file` and `-e path` lines are relative to it).
//! Also the reverse for `env export`: the Python distributions pip installed, which no conda
//! package owns.

use super::activation::{self, ActivationError};
use rattler_conda_types::PrefixRecord;
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Errors while installing an environment's pip requirements.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PipError {
    #[error("the environment.yml has pip requirements but {0} has no python to run pip with")]
    #[diagnostic(help("add `python` and `pip` to the file's dependencies"))]
    NoPython(PathBuf),
    #[error("cannot write the pip requirements file in {dir}: {source}")]
    Requirements {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Activation(#[from] ActivationError),
    #[error("cannot run {python}: {source}")]
    Spawn {
        python: PathBuf,
        source: std::io::Error,
    },
    #[error("pip failed ({status}); the conda packages of {prefix} stay installed\n{stderr}")]
    #[diagnostic(help(
        "fix the `pip:` requirements, then run `krait env update -f FILE` to install them"
    ))]
    Failed {
        prefix: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

fn python(prefix: &Path) -> PathBuf {
    if cfg!(windows) {
        prefix.join("python.exe")
    } else {
        prefix.join("bin").join("python")
    }
}

/// Installs `requirements` (lines of a pip requirements file) into `prefix` with its own pip,
/// as conda does: `python -m pip install -U -r condaenv.*.requirements.txt --exists-action=b`,
/// run in `workdir`. Returns pip's standard output.
pub fn install(
    prefix: &Path,
    requirements: &[String],
    workdir: &Path,
    envs_dirs: &[PathBuf],
) -> Result<String, PipError> {
    let python = python(prefix);
    if !python.exists() {
        return Err(PipError::NoPython(prefix.to_path_buf()));
    }
    // In the file's folder, as conda writes it (a `-r` line is relative to the file that
    // holds it); removed when dropped.
    let file = tempfile::Builder::new()
        .prefix("condaenv.")
        .suffix(".requirements.txt")
        .tempfile_in(workdir)
        .and_then(|mut file| {
            file.write_all(requirements.join("\n").as_bytes())?;
            file.flush()?;
            Ok(file)
        })
        .map_err(|source| PipError::Requirements {
            dir: workdir.to_path_buf(),
            source,
        })?;
    let mut command = activation::activated_command(prefix, &python, envs_dirs)?;
    command
        .args(["-m", "pip", "install", "-U", "-r"])
        .arg(file.path())
        .arg("--exists-action=b")
        .current_dir(workdir)
        .stdin(std::process::Stdio::null());
    let output = command.output().map_err(|source| PipError::Spawn {
        python: python.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(PipError::Failed {
            prefix: prefix.to_path_buf(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The `name==version` of every Python distribution in the prefix's site-packages that no
/// conda package installed (conda's `env export` lists these under `pip:`), sorted by name.
pub fn installed_by_pip(prefix: &Path, records: &[PrefixRecord]) -> Vec<String> {
    let owned: BTreeSet<PathBuf> = records
        .iter()
        .flat_map(|r| r.files.iter())
        .filter_map(|file| metadata_dir(file))
        .collect();
    let pattern = prefix.join("lib/python*/site-packages/*");
    let Ok(entries) = glob::glob(&pattern.to_string_lossy()) else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .filter(|dir| {
            dir.strip_prefix(prefix)
                .is_ok_and(|rel| metadata_dir(rel).is_some() && !owned.contains(rel))
        })
        .filter_map(|dir| name_and_version(&dir))
        .collect();
    found.sort_by_key(|(name, _)| name.to_lowercase());
    found
        .into_iter()
        .map(|(name, version)| format!("{name}=={version}"))
        .collect()
}

/// The `…/site-packages/X.dist-info` (or `.egg-info`) folder a prefix-relative path is in.
fn metadata_dir(path: &Path) -> Option<PathBuf> {
    let mut dir = PathBuf::new();
    for component in path.components() {
        dir.push(component);
        let name = component.as_os_str().to_string_lossy();
        if name.ends_with(".dist-info") || name.ends_with(".egg-info") {
            return dir
                .parent()
                .is_some_and(|p| p.ends_with("site-packages"))
                .then_some(dir);
        }
    }
    None
}

/// `Name` and `Version` from a distribution's METADATA (or an egg's PKG-INFO).
fn name_and_version(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(dir.join("METADATA"))
        .or_else(|_| std::fs::read_to_string(dir.join("PKG-INFO")))
        .or_else(|_| std::fs::read_to_string(dir))
        .ok()?;
    let header = |key: &str| {
        text.lines()
            .take_while(|line| !line.is_empty())
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .map(|value| value.trim().to_string())
    };
    Some((header("Name")?, header("Version")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_folders_are_found_below_site_packages_only() {
        assert_eq!(
            metadata_dir(Path::new(
                "lib/python3.11/site-packages/pip-24.0.dist-info/RECORD"
            )),
            Some(PathBuf::from(
                "lib/python3.11/site-packages/pip-24.0.dist-info"
            ))
        );
        assert_eq!(metadata_dir(Path::new("share/x.dist-info/METADATA")), None);
        assert_eq!(
            metadata_dir(Path::new("lib/python3.11/site-packages/pip/__init__.py")),
            None
        );
    }
}
