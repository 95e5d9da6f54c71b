//! Testing a built package in a fresh environment: `test/commands` (run_test.sh), `imports`
//! (run_test.py with the environment's python), `run_test.pl`, test files and source files.

use super::BuildError;
use crate::env::install::{self, Context, Operation, RunOptions};
use std::path::Path;
use std::process::Command;

/// Creates `env_prefix` with `package_spec` plus the test requirements and runs the scripts in
/// `test_dir` (an `info/test` folder) inside it.
pub fn run_tests(
    ctx: &Context,
    runtime: &tokio::runtime::Runtime,
    package_spec: &str,
    test_dir: &Path,
    env_prefix: &Path,
    quiet: bool,
) -> Result<(), BuildError> {
    if !test_dir.is_dir() {
        return Ok(());
    }
    let mut specs = vec![package_spec.to_string()];
    let requires = test_dir.join("test_time_dependencies.json");
    if let Ok(text) = std::fs::read_to_string(&requires) {
        let extra: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
        specs.extend(extra);
    }
    let specs = specs
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
        .map_err(|e| BuildError::TestFailed(format!("cannot create the test environment: {e}")))?;
    let path = format!(
        "{}/bin:{}",
        env_prefix.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |program: &str, flags: &[&str], script: &Path| -> Result<(), BuildError> {
        let output = Command::new(program)
            .args(flags)
            .arg(script)
            .current_dir(test_dir)
            .env("PATH", &path)
            .env("PREFIX", env_prefix)
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
                "imports need python in the test requirements".into(),
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

/// `krait test ARCHIVE`: re-runs a built package's tests, with the archive's own channel
/// (the folder above its subdir) first.
pub fn test_archive(ctx: &Context, archive: &Path, quiet: bool) -> Result<(), BuildError> {
    let work = tempfile::tempdir().map_err(BuildError::io(&std::env::temp_dir()))?;
    rattler_package_streaming::fs::extract(archive, work.path()).map_err(|e| {
        BuildError::TestFailed(format!("cannot extract {}: {e}", archive.display()))
    })?;
    let index_path = work.path().join("info/index.json");
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&index_path).map_err(BuildError::io(&index_path))?,
    )
    .map_err(|source| BuildError::Json {
        path: index_path.clone(),
        source,
    })?;
    let spec = format!(
        "{} =={} {}",
        index["name"].as_str().unwrap_or_default(),
        index["version"].as_str().unwrap_or_default(),
        index["build"].as_str().unwrap_or_default()
    );
    let runtime = tokio::runtime::Runtime::new().map_err(BuildError::Runtime)?;
    run_tests(
        ctx,
        &runtime,
        &spec,
        &work.path().join("info/test"),
        &work.path().join("test_env"),
        quiet,
    )
}
