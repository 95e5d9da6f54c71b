//! Loading repodata through `rattler_repodata_gateway`, for local and HTTP channels alike.
//!
//! The gateway caches fetched repodata under `<first pkgs_dir>/cache` and prefers
//! `repodata.json.zst` when a server has it. `offline` reads only that cache.

use crate::config::Config;
use crate::net::{error_chain, http_client};
use rattler_cache::package_cache::PackageCache;
use rattler_cache::validation::ValidationMode;
use rattler_conda_types::{Channel, MatchSpec, RepoDataRecord, Subdir};
use rattler_repodata_gateway::fetch::{CacheAction, FetchRepoDataError};
use rattler_repodata_gateway::{ChannelConfig, Gateway, GatewayError, RepoData, SourceConfig};
use std::path::PathBuf;

/// Errors while loading repodata.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RepodataError {
    #[error("cannot load repodata from {channels}: {message}")]
    #[diagnostic(help(
        "check that each channel is reachable and holds valid <subdir>/repodata.json files; for a certificate error, point `ssl_verify` in .condarc at the CA bundle that signed the server's certificate"
    ))]
    Gateway { channels: String, message: String },
    #[error("{path}: malformed repodata: {message}")]
    #[diagnostic(help("re-index the channel with `krait index`"))]
    Malformed { path: PathBuf, message: String },
}

/// The shared package cache over every configured `pkgs_dirs` entry (the first writable one
/// receives new packages). On reuse rattler checks that every file of `paths.json` exists;
/// the environment transaction then hashes the entries changed since extraction
/// (`env::transaction`), so a damaged entry is extracted anew instead of being linked.
pub fn package_cache(config: &Config) -> PackageCache {
    PackageCache::new_layered(config.pkgs_dirs.clone(), false, ValidationMode::Fast)
}

/// A gateway configured from krait's configuration.
pub fn gateway(config: &Config) -> Gateway {
    let cache_action = if config.offline {
        CacheAction::ForceCacheOnly
    } else {
        CacheAction::CacheOrFetch
    };
    let client = http_client(config);
    Gateway::builder()
        .with_client(client)
        .with_cache_dir(config.pkgs_dir().join("cache"))
        .with_package_cache(package_cache(config))
        .with_channel_config(ChannelConfig {
            default: SourceConfig {
                cache_action,
                ..SourceConfig::default()
            },
            per_channel: Default::default(),
        })
        .finish()
}

/// The records of `channels` (in `subdir` and `noarch`) whose names the specs select; with
/// `recursive` also those of their dependencies. One bucket per channel and subdir, in
/// channel priority order: the shape the solver takes.
pub async fn query_repodata(
    gateway: &Gateway,
    channels: &[Channel],
    subdir: Subdir,
    specs: Vec<MatchSpec>,
    recursive: bool,
) -> Result<Vec<RepoData>, RepodataError> {
    let mut subdirs = vec![subdir];
    if subdir != Subdir::NoArch {
        subdirs.push(Subdir::NoArch);
    }
    let run = |channels: Vec<Channel>| {
        gateway
            .query(channels, subdirs.clone(), specs.clone())
            .recursive(recursive)
            .execute()
    };
    let mut result = run(channels.to_vec()).await;
    if result.as_ref().err().is_some_and(no_cache) {
        // Offline, conda leaves out a channel with nothing cached instead of failing.
        let mut usable = Vec::new();
        for channel in channels {
            match run(vec![channel.clone()]).await {
                Err(e) if no_cache(&e) => tracing::warn!(
                    "offline: skipping {}, which has no cached repodata",
                    channel.base_url.as_str()
                ),
                _ => usable.push(channel.clone()),
            }
        }
        result = run(usable).await;
    }
    let output = result.map_err(|e| {
        let subdirs = [subdir, Subdir::NoArch];
        let message = error_chain(&e);
        // Only a parse failure is pinned on a file: the strict check below is stricter than
        // the gateway (it rejects `null` lists the gateway accepts).
        let unreadable = if message.contains("parse") {
            channels
                .iter()
                .find_map(|c| unreadable_local_repodata(c, &subdirs))
        } else {
            None
        };
        match unreadable {
            Some((path, message)) => RepodataError::Malformed { path, message },
            None => RepodataError::Gateway {
                channels: channels
                    .iter()
                    .map(|c| c.base_url.as_str().trim_end_matches('/').to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                message,
            },
        }
    })?;
    Ok(output.repodata)
}

/// The gateway found no cached repodata where it may only read the cache (offline).
fn no_cache(error: &GatewayError) -> bool {
    matches!(
        error,
        GatewayError::FetchRepoDataError(FetchRepoDataError::NoCacheAvailable(_))
    )
}

/// Like [`query_repodata`], flattened into records (channel order kept).
pub async fn query(
    gateway: &Gateway,
    channels: &[Channel],
    subdir: Subdir,
    specs: Vec<MatchSpec>,
    recursive: bool,
) -> Result<Vec<RepoDataRecord>, RepodataError> {
    let buckets = query_repodata(gateway, channels, subdir, specs, recursive).await?;
    Ok(buckets.iter().flat_map(|r| r.iter().cloned()).collect())
}

/// For a local channel, the first `repodata.json` of `subdirs` that does not parse, and why:
/// the gateway's own message does not say which file it was.
fn unreadable_local_repodata(channel: &Channel, subdirs: &[Subdir]) -> Option<(PathBuf, String)> {
    let dir = channel.base_url.url().to_file_path().ok()?;
    subdirs.iter().find_map(|subdir| {
        let path = dir.join(subdir.as_str()).join("repodata.json");
        let bytes = std::fs::read(&path).ok()?;
        serde_json::from_slice::<rattler_conda_types::RepoData>(&bytes)
            .err()
            .map(|e| (path, e.to_string()))
    })
}
