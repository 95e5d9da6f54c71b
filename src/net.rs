//! The HTTP client every krait request goes through, configured from `.condarc`: certificates
//! as `ssl_verify` says, proxies as `proxy_servers` picks them, conda's timeouts and retries,
//! and channel tokens; `s3://` channels through rattler's S3 middleware.

use crate::config::{proxy_for, Config, SslVerify};
use std::time::Duration;

/// The HTTP client of krait's channel requests: [`network_client`] with the tokens of
/// `channel_tokens` first, then rattler's credential stores (`RATTLER_AUTH_FILE`,
/// `~/.rattler/credentials.json`, netrc), through rattler's authentication middleware
/// (`/t/<token>/` channel URLs need nothing: the token is part of every URL). A request
/// failing on the way (a refused or reset connection, a timeout, 5xx, 408 or 429) is sent
/// again up to `remote_max_retries` times, waiting `remote_backoff_factor` seconds and
/// doubling, as conda does (a package download that breaks off after the answer began is
/// tried again by `env::transaction`). Retries are reported through krait's own log (one line
/// per URL under `-v`, nothing by default or under `--quiet`), and a request that still fails
/// ends in an error naming its URL and attempts.
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
        .with(GiveUpNamingUrl)
        .with(
            reqwest_retry::RetryTransientMiddleware::new_with_policy_and_strategy(
                retry_policy(config),
                TransientButNotCertificates,
            ),
        )
        .with(AnnounceRetry)
        // Inside the retries: a mirror that fails counts a failure, and the next attempt goes to
        // the next mirror in order.
        .with(mirrors(config))
        .with(AuthenticationMiddleware::from_auth_storage(storage))
        // Last: `s3://` requests become presigned HTTPS ones (credentials from the AWS chain,
        // see `channel::s3`), signed anew for every attempt.
        .with(rattler_networking::s3_middleware::S3Middleware::new(
            Default::default(),
            AuthenticationStorage::empty(),
        ))
        .build()
}

/// `mirrored_channels` as rattler's mirror middleware: a channel's requests go to its first
/// mirror that has not failed more often than the others.
fn mirrors(config: &Config) -> rattler_networking::MirrorMiddleware {
    use rattler_networking::mirror_middleware::Mirror;
    let map = config
        .mirror_urls()
        .into_iter()
        .map(|(channel, urls)| {
            let mirrors = urls
                .into_iter()
                .map(|url| Mirror {
                    url,
                    no_zstd: false,
                    no_bz2: false,
                    max_failures: None,
                })
                .collect();
            (channel, mirrors)
        })
        .collect();
    rattler_networking::MirrorMiddleware::from_map(map)
}

/// The attempts made so far at one request, and why the last one failed; kept in the request's
/// extensions, which every attempt of the retry middleware shares.
#[derive(Clone, Default)]
struct Attempts {
    made: u32,
    last_failure: Option<String>,
}

/// A request that failed on every attempt.
#[derive(Debug, thiserror::Error)]
pub enum RetriesExhausted {
    #[error("{url}: failed after {attempts} attempts")]
    Error {
        url: url::Url,
        attempts: u32,
        #[source]
        source: reqwest_middleware::Error,
    },
    #[error("{url}: HTTP {status} after {attempts} attempts")]
    Status {
        url: url::Url,
        status: reqwest::StatusCode,
        attempts: u32,
    },
}

/// Inside the retry middleware, so it sees every attempt: counts them and, on the first retry
/// of a URL, says so (shown under `-v`). reqwest-retry's own line (`WARN reqwest_retry::...:
/// Retry attempt #0`) names no URL and is turned off in the CLI's log filter.
struct AnnounceRetry;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for AnnounceRetry {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = req.url().clone();
        let attempts = extensions.get_or_insert_default::<Attempts>();
        attempts.made += 1;
        if attempts.made == 2 {
            let reason = attempts.last_failure.as_deref().unwrap_or("it failed");
            tracing::info!(target: "krait::net", "retrying {url}: {reason}");
        }
        let result = next.run(req, extensions).await;
        let failure = match &result {
            Err(error) => Some(error_chain(error)),
            Ok(response) if !response.status().is_success() => {
                Some(format!("HTTP {}", response.status()))
            }
            Ok(_) => None,
        };
        extensions.get_or_insert_default::<Attempts>().last_failure = failure;
        result
    }
}

/// Outside the retry middleware: a request that was retried and still failed becomes an error
/// naming its URL and how many attempts were made.
struct GiveUpNamingUrl;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for GiveUpNamingUrl {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = req.url().clone();
        let result = next.run(req, extensions).await;
        let attempts = extensions.get::<Attempts>().map_or(1, |a| a.made);
        if attempts < 2 {
            return result;
        }
        match result {
            Err(error) => Err(reqwest_middleware::Error::middleware(
                RetriesExhausted::Error {
                    url,
                    attempts,
                    source: without_retry_count(error),
                },
            )),
            // Callers turn a final 5xx into an error anyway; this one says it was retried.
            Ok(response) if is_retried_status(response.status()) => Err(
                reqwest_middleware::Error::middleware(RetriesExhausted::Status {
                    url,
                    status: response.status(),
                    attempts,
                }),
            ),
            Ok(response) => Ok(response),
        }
    }
}

/// The error of the last attempt, out of reqwest-retry's `Request failed after N retries`
/// wrapper (the attempts are in krait's message already).
fn without_retry_count(error: reqwest_middleware::Error) -> reqwest_middleware::Error {
    match error {
        reqwest_middleware::Error::Middleware(wrapped) => {
            match wrapped.downcast::<reqwest_retry::RetryError>() {
                Ok(reqwest_retry::RetryError::WithRetries { err, .. })
                | Ok(reqwest_retry::RetryError::Error(err)) => err,
                Err(other) => reqwest_middleware::Error::Middleware(other),
            }
        }
        other => other,
    }
}

/// The answers reqwest-retry's default strategy retries: a server error, 408 and 429.
fn is_retried_status(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
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
