//! Loading repodata through `rattler_repodata_gateway`, for local and HTTP channels alike.
//!
//! The gateway caches fetched repodata under `<first pkgs_dir>/cache` and prefers
//! `repodata.json.zst` when a server has it. `offline` reads only that cache.

use super::config::{proxy_for, Config, SslVerify};
use rattler_cache::package_cache::PackageCache;
use rattler_cache::validation::ValidationMode;
use rattler_conda_types::{Channel, MatchSpec, RepoDataRecord, Subdir};
use rattler_repodata_gateway::fetch::CacheAction;
use rattler_repodata_gateway::{ChannelConfig, Gateway, RepoData, SourceConfig};
use std::path::PathBuf;
use std::time::Duration;

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

/// The HTTP client of krait's channel requests: [`network_client`] with the tokens of
/// `channel_tokens` first, then rattler's credential stores (`RATTLER_AUTH_FILE`,
/// `~/.rattler/credentials.json`, netrc), through rattler's authentication middleware
/// (`/t/<token>/` channel URLs need nothing: the token is part of every URL). A request
/// failing on the way (a refused or reset connection, a timeout, 5xx, 408 or 429) is sent
/// again up to `remote_max_retries` times, waiting `remote_backoff_factor` seconds and
/// doubling, as conda does (a package download that breaks off after the answer began is
/// tried again by `env::transaction`).
pub fn http_client(config: &Config) -> reqwest_middleware::ClientWithMiddleware {
    use rattler_networking::authentication_storage::backends::memory::MemoryStorage;
    use rattler_networking::authentication_storage::StorageBackend;
    use rattler_networking::{Authentication, AuthenticationMiddleware, AuthenticationStorage};
    let configured = MemoryStorage::new();
    for (host, token) in config.token_hosts() {
        // Storing in memory cannot fail.
        let _ = configured.store(&host, &Authentication::BearerToken(token));
    }
    let mut storage = AuthenticationStorage::empty();
    storage.add_backend(std::sync::Arc::new(configured));
    if let Ok(defaults) = AuthenticationStorage::from_env_and_defaults() {
        for backend in defaults.backends {
            storage.add_backend(backend);
        }
    }
    reqwest_middleware::ClientBuilder::new(network_client(config))
        .with(
            reqwest_retry::RetryTransientMiddleware::new_with_policy_and_strategy(
                retry_policy(config),
                TransientButNotCertificates,
            ),
        )
        .with(AuthenticationMiddleware::from_auth_storage(storage))
        .build()
}

/// A client with `.condarc`'s network settings and nothing else (uploads, which must not be
/// sent twice, and PyPI use it as it is): `https` certificates are checked as `ssl_verify`
/// says, requests go through the proxy `proxy_servers` picks (else the `*_PROXY` variables'),
/// a connection must open within `remote_connect_timeout_secs` and an answer must not stall
/// for `remote_read_timeout_secs`.
pub fn network_client(config: &Config) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs_f64(config.remote_connect_timeout_secs))
        .read_timeout(Duration::from_secs_f64(config.remote_read_timeout_secs));
    let builder = match &config.ssl_verify {
        SslVerify::System => builder,
        SslVerify::Off => builder.tls_danger_accept_invalid_certs(true),
        // The bundle was checked when the configuration was read; a bundle that still fails
        // to parse leaves no trusted root, so https fails closed.
        SslVerify::Bundle { pem, .. } => {
            builder.tls_certs_only(reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default())
        }
    };
    let builder = if config.proxy_servers.is_empty() {
        builder
    } else {
        let proxies = config.proxy_servers.clone();
        builder.proxy(
            reqwest::Proxy::custom(move |url| proxy_for(&proxies, url).cloned())
                .no_proxy(reqwest::NoProxy::from_env()),
        )
    };
    builder
        .build()
        .expect("the TLS backend initialises (as in reqwest::Client::new)")
}

/// reqwest-retry's choice of what to retry, except that a refused certificate is final: asking
/// again cannot change it, and the user should learn of it (and of `ssl_verify`) at once.
struct TransientButNotCertificates;

impl reqwest_retry::RetryableStrategy for TransientButNotCertificates {
    fn handle(
        &self,
        result: &Result<reqwest::Response, reqwest_middleware::Error>,
    ) -> Option<reqwest_retry::Retryable> {
        if let Err(error) = result {
            if refused_certificate(error) {
                return Some(reqwest_retry::Retryable::Fatal);
            }
        }
        reqwest_retry::DefaultRetryableStrategy.handle(result)
    }
}

/// Whether a TLS handshake failed on the server's certificate. rustls's error travels inside
/// `io::Error`s, whose `source()` skips the error they wrap, so those are opened instead.
fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut link = Some(error);
    while let Some(current) = link {
        if matches!(
            current.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        link = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
}

/// conda's `remote_max_retries` and `remote_backoff_factor`: the first retry after the factor in
/// seconds, each next one after twice as long.
pub fn retry_policy(config: &Config) -> reqwest_retry::policies::ExponentialBackoff {
    let first_wait = Duration::from_secs_f64(config.remote_backoff_factor);
    let longest_wait = first_wait.max(Duration::from_secs(1)) * 64;
    reqwest_retry::policies::ExponentialBackoff::builder()
        .retry_bounds(first_wait, longest_wait)
        .jitter(reqwest_retry::Jitter::None)
        .build_with_max_retries(config.remote_max_retries)
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
    let output = gateway
        .query(channels.iter().cloned(), subdirs, specs)
        .recursive(recursive)
        .execute()
        .await
        .map_err(|e| {
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

/// An error with its causes, one line: the gateway hides the useful part (which file, which
/// line) in its sources.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
