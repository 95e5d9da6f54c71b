//! Running a build script with conda-build's environment: `PREFIX`, `BUILD_PREFIX`, `SRC_DIR`,
//! `RECIPE_DIR`, `PKG_*`, `PYTHON`, `SP_DIR`, ... and every `build/script_env` variable passed
//! through. Output is streamed (unless quiet) and logged; a failing script stops the build with
//! its exit code and the log's path.

use super::BuildError;
use crate::recipe::model::Output;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where a build happens.
pub struct Dirs {
    pub work: PathBuf,
    pub src: PathBuf,
    pub build_prefix: PathBuf,
    pub host_prefix: PathBuf,
    pub recipe: PathBuf,
}

/// What the script is building.
pub struct Identity<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub build_number: u64,
    pub build_string: &'a str,
    pub hash: &'a str,
    pub target_platform: &'a str,
    pub build_platform: &'a str,
    pub script_env: &'a [String],
}

/// The Python `major.minor` installed in a prefix, if any.
pub fn python_version(prefix: &Path) -> Option<String> {
    let lib = prefix.join("lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let version = name.strip_prefix("python")?;
        (version.contains('.') && e.path().join("os.py").exists()).then(|| version.to_string())
    })
}

/// conda-build's script environment.
pub fn environment(dirs: &Dirs, id: &Identity<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    let host = dirs.host_prefix.display().to_string();
    set("PREFIX", host.clone());
    set("BUILD_PREFIX", dirs.build_prefix.display().to_string());
    set("SRC_DIR", dirs.src.display().to_string());
    set("RECIPE_DIR", dirs.recipe.display().to_string());
    set("PKG_NAME", id.name.to_string());
    set("PKG_VERSION", id.version.to_string());
    set("PKG_BUILDNUM", id.build_number.to_string());
    set("PKG_BUILD_STRING", id.build_string.to_string());
    set("PKG_HASH", id.hash.to_string());
    set(
        "CPU_COUNT",
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .to_string(),
    );
    set(
        "SHLIB_EXT",
        if id.target_platform.starts_with("osx") {
            ".dylib"
        } else {
            ".so"
        }
        .to_string(),
    );
    set("HOST", "x86_64-conda-linux-gnu".to_string());
    set("target_platform", id.target_platform.to_string());
    set("build_platform", id.build_platform.to_string());
    set("CONDA_BUILD", "1".to_string());
    set("PYTHONNOUSERSITE", "1".to_string());
    // As conda-build: pip installs into the host prefix only what the recipe brings, never
    // reaches an index (which also skips its version check) and caches inside the work folder.
    // `PIP_NO_BUILD_ISOLATION=False` is pip's inverted spelling of --no-build-isolation.
    set("PIP_NO_BUILD_ISOLATION", "False".to_string());
    set("PIP_NO_DEPENDENCIES", "True".to_string());
    set("PIP_IGNORE_INSTALLED", "True".to_string());
    set("PIP_NO_INDEX", "True".to_string());
    set(
        "PIP_CACHE_DIR",
        dirs.work.join("pip_cache").display().to_string(),
    );
    if let Some(py) = python_version(&dirs.host_prefix) {
        set("PYTHON", format!("{host}/bin/python"));
        set("PY_VER", py.clone());
        set("STDLIB_DIR", format!("{host}/lib/python{py}"));
        set("SP_DIR", format!("{host}/lib/python{py}/site-packages"));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    set(
        "PATH",
        format!("{}/bin:{host}/bin:{path}", dirs.build_prefix.display()),
    );
    for name in id.script_env {
        if let Ok(value) = std::env::var(name) {
            set(name, value);
        }
    }
    env
}

/// The shell text that runs an output's own script, as conda-build's `bundle_conda` does: with
/// `script_interpreter` (split on spaces) when given, else by the extension
/// (`guess_interpreter`: `.py` runs with `python`). The script is copied into the work folder
/// and run from there. A `.sh` script without an interpreter is inlined, so it shares the
/// activation and `set -e` of the wrapper, as conda-build's `bash -e` of the activated file.
pub fn output_script(
    output: &Output,
    recipe_dir: &Path,
    script_name: &str,
    work: &Path,
) -> Result<String, BuildError> {
    let source = recipe_dir.join(script_name);
    let extension = Path::new(script_name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let interpreter = match (output.script_interpreter.as_deref(), extension.as_deref()) {
        (Some(given), _) => given.split_whitespace().collect::<Vec<_>>().join(" "),
        (None, Some("sh")) => {
            return std::fs::read_to_string(&source).map_err(BuildError::io(&source))
        }
        (None, Some("py")) => "python".to_string(),
        (None, _) => {
            return Err(BuildError::NoInterpreter {
                output: output.package.name.as_source().to_string(),
                script: script_name.to_string(),
            })
        }
    };
    let copy = work.join(script_name);
    super::source::copy_tree(&source, &copy)?;
    let quoted = format!("'{}'", copy.display().to_string().replace('\'', r"'\''"));
    Ok(format!("{interpreter} {quoted}"))
}

/// Writes `script` into the work folder and runs it with bash, logging to `<work>/build.log`.
pub fn run(
    script: &str,
    dirs: &Dirs,
    env: &BTreeMap<String, String>,
    quiet: bool,
    log_name: &str,
) -> Result<(), BuildError> {
    let script_path = dirs.work.join(format!("{log_name}.sh"));
    let activate: String = [&dirs.build_prefix, &dirs.host_prefix]
        .iter()
        .map(|p| {
            format!(
                "for f in \"{}\"/etc/conda/activate.d/*.sh; do [ -f \"$f\" ] && . \"$f\"; done\n",
                p.display()
            )
        })
        .collect();
    let body = format!("set -e\n{activate}set -x\ncd \"$SRC_DIR\"\n{script}\n");
    std::fs::write(&script_path, body).map_err(BuildError::io(&script_path))?;
    let log_path = dirs.work.join(format!("{log_name}.log"));
    let mut log = std::fs::File::create(&log_path).map_err(BuildError::io(&log_path))?;
    let mut child = Command::new("bash")
        .arg(&script_path)
        .env_clear()
        .envs(env)
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .current_dir(&dirs.src)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Spawn {
            program: "bash",
            source,
        })?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx_err = tx.clone();
    let err_thread = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx_err.send(line);
        }
    });
    let stdout = child.stdout.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    for line in rx {
        let _ = writeln!(log, "{line}");
        if !quiet {
            eprintln!("{line}");
        }
    }
    let _ = out_thread.join();
    let _ = err_thread.join();
    let status = child.wait().map_err(|source| BuildError::Spawn {
        program: "bash",
        source,
    })?;
    if !status.success() {
        return Err(BuildError::ScriptFailed {
            code: status.code().unwrap_or(-1),
            log: log_path,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_in_a_build_script_stays_offline_and_installs_no_dependencies() {
        let work = PathBuf::from("/w/work");
        let dirs = Dirs {
            src: work.join("src"),
            build_prefix: work.join("build_env"),
            host_prefix: work.join("host_env"),
            recipe: PathBuf::from("/w/recipe"),
            work,
        };
        let id = Identity {
            name: "demo",
            version: "1.0",
            build_number: 0,
            build_string: "py_0",
            hash: "h0",
            target_platform: "noarch",
            build_platform: "linux-64",
            script_env: &[],
        };
        let env = environment(&dirs, &id);
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("PIP_NO_INDEX"), Some("True"));
        assert_eq!(get("PIP_NO_DEPENDENCIES"), Some("True"));
        assert_eq!(get("PIP_IGNORE_INSTALLED"), Some("True"));
        assert_eq!(get("PIP_NO_BUILD_ISOLATION"), Some("False"));
        assert_eq!(get("PIP_CACHE_DIR"), Some("/w/work/pip_cache"));
    }
}
