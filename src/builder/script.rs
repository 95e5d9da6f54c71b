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
    /// The variant built (its keys become variables unless conda-build's own names clash).
    pub variant: &'a crate::recipe::variants::Variant,
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

/// conda-build's script environment (`environ.get_dict`: `conda_build_vars`, the language
/// variables, `meta_vars`, `os_vars`, then the variant's keys).
pub fn environment(dirs: &Dirs, id: &Identity<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    let host = dirs.host_prefix.display().to_string();
    let inherited = |k: &str| std::env::var(k).unwrap_or_default();
    // conda_build_vars
    set("CONDA_DEFAULT_ENV", host.clone());
    set(
        "ARCH",
        match id.target_platform.rsplit('-').next() {
            Some("64") => "64",
            Some("32") => "32",
            Some(arch) => arch,
            None => "",
        }
        .to_string(),
    );
    set("SUBDIR", id.target_platform.to_string());
    set("ROOT", crate::config::krait_home().display().to_string());
    set(
        "SYS_PREFIX",
        crate::config::krait_home().display().to_string(),
    );
    set("DIRTY", String::new());
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "REQUESTS_CA_BUNDLE"] {
        set(name, inherited(name));
    }
    // os_vars and unix_vars / linux_vars: inherited when set, else conda-build's default.
    for name in ["LANG", "LC_ALL", "MAKEFLAGS", "SSL_CERT_FILE"] {
        if let Ok(value) = std::env::var(name) {
            set(name, value);
        }
    }
    set("PKG_CONFIG_PATH", format!("{host}/lib/pkgconfig"));
    set("CMAKE_GENERATOR", "Unix Makefiles".to_string());
    set("LD_RUN_PATH", format!("{host}/lib"));
    set("BUILD", "x86_64-conda_cos6-linux-gnu".to_string());
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
        set("CONDA_PY", py.replace('.', ""));
        set(
            "PY3K",
            if py.starts_with('3') { "1" } else { "0" }.to_string(),
        );
    }
    let numpy = id
        .variant
        .get("numpy")
        .and_then(|v| v.as_str())
        .unwrap_or(crate::recipe::context::DEFAULT_NUMPY);
    let npy: Vec<&str> = numpy.split('.').take(2).collect();
    set("NPY_VER", npy.join("."));
    set("CONDA_NPY", npy.concat());
    set("NPY_DISTUTILS_APPEND_FLAGS", "1".to_string());
    let path = std::env::var("PATH").unwrap_or_default();
    set(
        "PATH",
        format!("{}/bin:{host}/bin:{path}", dirs.build_prefix.display()),
    );
    for name in id.script_env {
        match name.split_once('=') {
            Some((name, value)) => set(name, value.to_string()),
            None => {
                if let Ok(value) = std::env::var(name) {
                    set(name, value);
                }
            }
        }
    }
    // The variant's keys, unless a build variable of the same (upper-case) name exists.
    for (key, value) in id.variant {
        if env.contains_key(&key.to_uppercase()) {
            continue;
        }
        if let Some(text) = value.as_str() {
            env.entry(key.clone()).or_insert_with(|| text.to_string());
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
/// Shell lines sourcing the build and host environments' `etc/conda/activate.d` scripts
/// (compiler packages set `CC`, `CFLAGS`, ... there).
fn activation(dirs: &Dirs) -> String {
    [&dirs.build_prefix, &dirs.host_prefix]
        .iter()
        .map(|p| {
            format!(
                "for f in \"{}\"/etc/conda/activate.d/*.sh; do [ -f \"$f\" ] && . \"$f\"; done\n",
                p.display()
            )
        })
        .collect()
}

/// Writes `build_env_setup.sh` into the work folder (`SRC_DIR`) as conda-build's `write_build_scripts` does: sourcing it
/// gives a shell the build script's variables and activated environments (`krait debug`).
pub fn write_env_setup(dirs: &Dirs, env: &BTreeMap<String, String>) -> Result<PathBuf, BuildError> {
    let path = dirs.src.join("build_env_setup.sh");
    let exports: String = env
        .iter()
        .map(|(k, v)| format!("export {k}='{}'\n", v.replace('\'', "'\\''")))
        .collect();
    // Ends in `:` so that sourcing it succeeds when the last activate.d glob matched nothing.
    std::fs::write(&path, format!("{exports}{}:\n", activation(dirs)))
        .map_err(BuildError::io(&path))?;
    Ok(path)
}

pub fn run(
    script: &str,
    dirs: &Dirs,
    env: &BTreeMap<String, String>,
    quiet: bool,
    log_name: &str,
) -> Result<(), BuildError> {
    let script_path = dirs.work.join(format!("{log_name}.sh"));
    let activate = activation(dirs);
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
            variant: &Default::default(),
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
