//! `krait lock`: solves specs (from the command line or an environment.yml) for several
//! platforms and writes the result as lockfiles through `rattler_lock`: `pixi.lock` and
//! conda-lock's `conda-lock.yml` (version 1, CEP-37), both with one `default` environment.

use super::install::SolveSettings;
use super::solve::{self, SolveRequest};
use rattler_conda_types::{MatchSpec, RepoDataRecord};
use rattler_lock::{LockFile, PlatformData};
use std::path::{Path, PathBuf};

/// Errors while locking.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    #[error("invalid platform {0:?}")]
    #[diagnostic(help("use conda's subdir names, e.g. linux-64, osx-arm64, win-64"))]
    Platform(String),
    #[error("cannot build the lockfile: {0}")]
    Build(String),
    #[error("cannot write a conda-lock file: {0}")]
    #[diagnostic(help(
        "conda-lock files name packages by URL: lock from http(s) channels, or write only --pixi-lock"
    ))]
    CondaLock(String),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// What to lock, and for which platforms.
pub struct LockRequest {
    pub specs: Vec<MatchSpec>,
    pub platforms: Vec<String>,
}

/// Solves `request` for each platform with the channels of `settings`.
pub async fn lock(settings: &SolveSettings, request: &LockRequest) -> miette::Result<LockFile> {
    let mut builder = LockFile::builder();
    let mut platforms = Vec::new();
    let mut solved: Vec<(String, Vec<RepoDataRecord>)> = Vec::new();
    let mut channels = Vec::new();
    for platform in &request.platforms {
        let mut settings = settings.clone();
        settings.platform = Some(platform.clone());
        let ctx = settings.context()?;
        channels = ctx
            .channels
            .iter()
            .map(|c| rattler_lock::Channel::from(c.base_url.as_str()))
            .collect();
        let records = solve::solve(
            &ctx.gateway,
            SolveRequest {
                channels: &ctx.channels,
                subdir: ctx.subdir,
                specs: request.specs.clone(),
                installed: &[],
                unlocked: Vec::new(),
                pinned: Vec::new(),
                priority: ctx.priority,
            },
        )
        .await?;
        platforms.push(PlatformData {
            name: platform
                .as_str()
                .try_into()
                .map_err(|_| LockError::Platform(platform.clone()))?,
            subdir: ctx.subdir,
            virtual_packages: Vec::new(),
        });
        solved.push((platform.clone(), records));
    }
    builder = builder
        .with_platforms(platforms)
        .map_err(|e| LockError::Build(e.to_string()))?;
    builder.set_channels("default", channels);
    for (platform, records) in solved {
        for record in records {
            builder
                .add_conda_package("default", &platform, record.into())
                .map_err(|e| LockError::Build(e.to_string()))?;
        }
    }
    Ok(builder.finish())
}

/// Writes `lock` as `pixi.lock` to `path`.
pub fn write_pixi(lock: &LockFile, path: &Path) -> Result<(), LockError> {
    let text = lock.render_to_string().map_err(|e| LockError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write(path, &text)
}

/// Writes the `default` environment of `lock` as conda-lock's `conda-lock.yml` (v1) to
/// `path`, naming `sources` as the files it was locked from.
pub fn write_conda_lock(
    lock: &LockFile,
    path: &Path,
    sources: Vec<String>,
) -> Result<(), LockError> {
    let environment = lock
        .default_environment()
        .ok_or_else(|| LockError::Build("the lock has no default environment".into()))?;
    let options = rattler_lock::conda_lock::ExportOptions {
        sources,
        ..Default::default()
    };
    let text = environment
        .to_conda_lock(&options)
        .map_err(|e| LockError::CondaLock(e.to_string()))?
        .to_yaml()
        .map_err(|e| LockError::Build(e.to_string()))?;
    write(path, &text)
}

fn write(path: &Path, text: &str) -> Result<(), LockError> {
    crate::fs::write_atomic(path, text.as_bytes()).map_err(|e| LockError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
