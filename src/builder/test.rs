//! Testing a built package in a fresh environment, as conda-build's `test()`: `test/commands`
//! (run_test.sh), `imports` (run_test.py with the environment's python), `run_test.pl`, test
//! files and source files, with conda-build's build variables (`environ.get_dict` for the test
//! prefix) in the scripts' environment.

use super::{script, BuildError};
use crate::channel::resolve::ChannelSelection;
use crate::config::Config;
use crate::env::install::{self, Context, Operation, RunOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name, version, build and build number of a package, from its `info/index.json`.
struct PackageIndex {
    name: String,
    version: String,
    build: String,
    build_number: u64,
    subdir: String,
}

fn read_index(info: &Path) -> Result<PackageIndex, BuildError> {
    let path = info.join("index.json");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).map_err(BuildError::io(&path))?)
            .map_err(|source| BuildError::Json {
                path: path.clone(),
                source,
            })?;
    let text = |key: &str| index[key].as_str().unwrap_or_default().to_string();
    Ok(PackageIndex {
        name: text("name"),
        version: text("version"),
        build: text("build"),
        build_number: index["build_number"].as_u64().unwrap_or_default(),
        subdir: text("subdir"),
    })
}

/// `MetaData.get_test_deps`: the package, `test/requires`, and the interpreters its test
/// scripts need (python for `run_test.py`, which `test/imports` also makes; perl for
/// `run_test.pl`), even when the recipe did not list them.
fn test_specs(package_spec: &str, test_dir: &Path) -> Vec<String> {
    let mut specs = vec![package_spec.to_string()];
    let requires = test_dir.join("test_time_dependencies.json");
    if let Ok(text) = std::fs::read_to_string(&requires) {
        let extra: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
        specs.extend(extra);
    }
    for (script, interpreter) in [("run_test.py", "python"), ("run_test.pl", "perl")] {
        if test_dir.join(script).is_file() {
            specs.push(interpreter.to_string());
        }
    }
    specs
}

/// The variant the package was built with, from `info/recipe/conda_build_config.yaml`.
fn recorded_variant(info: &Path) -> crate::recipe::variants::Variant {
    std::fs::read_to_string(info.join("recipe/conda_build_config.yaml"))
        .ok()
        .and_then(|text| serde_yaml::from_str(&text).ok())
        .unwrap_or_default()
}

/// The test scripts' environment: the process's, then conda-build's build variables for the
/// test prefix (`SRC_DIR` is the test folder, as `conda_build_vars` makes it for a `_t` prefix).
fn test_environment(
    info: &Path,
    test_dir: &Path,
    env_prefix: &Path,
) -> Result<BTreeMap<String, String>, BuildError> {
    let index = read_index(info)?;
    let recipe = info.join("recipe");
    let dirs = script::Dirs {
        work: test_dir.to_path_buf(),
        src: test_dir.to_path_buf(),
        build_prefix: env_prefix.to_path_buf(),
        host_prefix: env_prefix.to_path_buf(),
        recipe: if recipe.is_dir() {
            recipe
        } else {
            test_dir.to_path_buf()
        },
    };
    let hash = index
        .build
        .split('_')
        .find(|p| p.len() == 8 && p.starts_with('h'))
        .unwrap_or("")
        .to_string();
    let variant = recorded_variant(info);
    let build_platform = rattler_conda_types::Subdir::current()
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| index.subdir.clone());
    let id = script::Identity {
        name: &index.name,
        version: &index.version,
        build_number: index.build_number,
        build_string: &index.build,
        hash: &hash,
        target_platform: &index.subdir,
        build_platform: &build_platform,
        script_env: &[],
        variant: &variant,
    };
    Ok(script::environment(&dirs, &id))
}

/// Creates `env_prefix` with `package_spec` plus the test requirements and runs the scripts in
/// `info/test` inside it. `info` is the package's `info/` folder.
pub fn run_tests(
    ctx: &Context,
    runtime: &tokio::runtime::Runtime,
    package_spec: &str,
    info: &Path,
    env_prefix: &Path,
    quiet: bool,
) -> Result<(), BuildError> {
    let test_dir = info.join("test");
    if !test_dir.is_dir() {
        return Ok(());
    }
    let specs = test_specs(package_spec, &test_dir)
        .iter()
        .map(|s| {
            super::solver_spec(s)
                .map_err(|e| BuildError::TestFailed(format!("test requirement {s:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let _ = std::fs::remove_dir_all(env_prefix);
    let options = RunOptions {
        yes: true,
        quiet: true,
        creating: true,
        command_line: format!("krait test {package_spec}"),
        ..RunOptions::default()
    };
    runtime
        .block_on(install::run(
            ctx,
            env_prefix,
            Operation::Install(specs),
            &options,
        ))
        .map_err(|e| BuildError::TestEnvironment {
            package: package_spec.to_string(),
            source: Box::new(e),
        })?;
    let env = test_environment(info, &test_dir, env_prefix)?;
    let run = |program: &str, flags: &[&str], script: &Path| -> Result<(), BuildError> {
        let output = Command::new(program)
            .args(flags)
            .arg(script)
            .current_dir(&test_dir)
            .envs(&env)
            .env("CONDA_PREFIX", env_prefix)
            .output()
            .map_err(|e| BuildError::TestFailed(format!("{program}: {e}")))?;
        if !quiet {
            eprint!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if !output.status.success() {
            return Err(BuildError::TestFailed(format!(
                "{} failed with {}: {}",
                script.file_name().unwrap_or_default().to_string_lossy(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(())
    };
    let sh = test_dir.join("run_test.sh");
    if sh.is_file() {
        // conda-build's test runner: `bash -e run_test.sh`.
        run("bash", &["-e"], &sh)?;
    }
    let py = test_dir.join("run_test.py");
    if py.is_file() {
        let python = env_prefix.join("bin/python");
        if !python.is_file() {
            return Err(BuildError::TestFailed(
                "run_test.py needs python, which the test environment does not have".into(),
            ));
        }
        run(&python.display().to_string(), &["-s"], &py)?;
    }
    let pl = test_dir.join("run_test.pl");
    if pl.is_file() {
        run("perl", &[], &pl)?;
    }
    Ok(())
}

/// `krait test ARCHIVE` and `krait build --test`: re-runs the tests of an archive that sits in
/// a channel folder, with that channel (the folder above its subdir) before `channels`.
/// Returns the archive's absolute path.
pub fn test_in_its_channel(
    archive: &Path,
    channels: &ChannelSelection,
    quiet: bool,
) -> Result<PathBuf, BuildError> {
    let archive = crate::env::prefix::absolute(archive);
    let channel = archive
        .parent()
        .and_then(|subdir| subdir.parent())
        .ok_or_else(|| BuildError::NotInChannel(archive.clone()))?;
    let config = Config::load()?;
    let ctx = super::context(&config, channels, channel)?;
    test_archive(&ctx, &archive, quiet)?;
    Ok(archive)
}

/// `krait test ARCHIVE`: re-runs a built package's tests, with the archive's own channel
/// (the folder above its subdir) first.
pub fn test_archive(ctx: &Context, archive: &Path, quiet: bool) -> Result<(), BuildError> {
    let work = tempfile::tempdir().map_err(BuildError::io(&std::env::temp_dir()))?;
    rattler_package_streaming::fs::extract(archive, work.path()).map_err(|e| {
        BuildError::TestFailed(format!("cannot extract {}: {e}", archive.display()))
    })?;
    let info = work.path().join("info");
    let index = read_index(&info)?;
    let spec = format!("{} =={} {}", index.name, index.version, index.build);
    let runtime = tokio::runtime::Runtime::new().map_err(BuildError::Runtime)?;
    run_tests(
        ctx,
        &runtime,
        &spec,
        &info,
        &work.path().join("test_env"),
        quiet,
    )
}
