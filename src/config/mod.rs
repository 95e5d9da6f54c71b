//! krait's configuration: conda's `.condarc` files plus `KRAIT_*` environment variables.
//!
//! Files are read where conda reads them, lowest priority first: `$XDG_CONFIG_HOME/conda/.condarc`
//! (default `~/.config/conda/.condarc`), `~/.conda/.condarc`, `~/.condarc`, then `$CONDARC`.
//! `KRAIT_*` variables override every file. As in conda, a later source replaces a scalar,
//! lists are merged with the higher-priority source's items first (duplicates dropped), and maps
//! are merged key by key.

pub mod file;
mod folders;

pub use folders::{build_root_dir, git_cache_dir, krait_home, local_channel_dir};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use url::Url;

/// Errors while reading configuration.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    #[diagnostic(help("fix the YAML in this file or unset CONDARC to skip it"))]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: invalid value {value:?} for `{key}`: {reason}")]
    InvalidValue {
        origin: String,
        key: &'static str,
        value: String,
        reason: String,
    },
}

/// `ssl_verify`: how the certificates of `https` channels are checked, with conda's meaning.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SslVerify {
    /// Against the system's trusted roots (`true`, or `truststore`).
    #[default]
    System,
    /// Not at all (`false`): anyone between krait and the channel can pose as it.
    Off,
    /// Against the certificates of this PEM bundle only, as `requests` does with a path (an
    /// internal CA, or a private channel's self-signed certificate).
    Bundle { path: PathBuf, pem: Vec<u8> },
}

impl Serialize for SslVerify {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SslVerify::System => serializer.serialize_bool(true),
            SslVerify::Off => serializer.serialize_bool(false),
            SslVerify::Bundle { path, .. } => path.serialize(serializer),
        }
    }
}

impl SslVerify {
    /// Reads a `.condarc` value; a bundle must be a readable file holding PEM certificates.
    fn parse(origin: &str, value: &serde_yaml::Value) -> Result<SslVerify, ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidValue {
            origin: origin.to_string(),
            key: "ssl_verify",
            value: match value {
                serde_yaml::Value::String(s) => s.clone(),
                other => format!("{other:?}"),
            },
            reason,
        };
        let text = match value {
            serde_yaml::Value::Bool(true) => return Ok(SslVerify::System),
            serde_yaml::Value::Bool(false) => return Ok(SslVerify::Off),
            serde_yaml::Value::String(text) => text,
            _ => return Err(invalid("expected true, false or a CA bundle path".into())),
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "truststore" => return Ok(SslVerify::System),
            "false" => return Ok(SslVerify::Off),
            _ => {}
        }
        let path = expand_path(text);
        let pem = std::fs::read(&path)
            .map_err(|e| invalid(format!("cannot read the CA bundle {}: {e}", path.display())))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(invalid(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        Ok(SslVerify::Bundle { path, pem })
    }
}

/// How channel order constrains the solver, with conda's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChannelPriority {
    /// A package found in a higher-priority channel hides every record of the same name in lower ones.
    Strict,
    /// Higher-priority channels are preferred, but lower ones may still provide a package.
    #[default]
    Flexible,
    /// Channel order is ignored; the highest version wins.
    Disabled,
}

impl std::str::FromStr for ChannelPriority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "flexible" | "true" => Ok(Self::Flexible),
            "disabled" | "false" => Ok(Self::Disabled),
            _ => Err("expected strict, flexible or disabled".into()),
        }
    }
}

/// conda's `safety_checks`: what happens when a package's files do not match its
/// `info/paths.json` (a cached copy edited after extraction, or a package inconsistent in
/// itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SafetyChecks {
    /// Refuse to link the package.
    Enabled,
    /// Say so, and link it (conda's default). A modified cached copy is still extracted
    /// again from its archive first.
    #[default]
    Warn,
    /// Do not check cached packages' files at all.
    Disabled,
}

impl std::str::FromStr for SafetyChecks {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enabled" | "true" => Ok(Self::Enabled),
            "warn" => Ok(Self::Warn),
            "disabled" | "false" => Ok(Self::Disabled),
            _ => Err("expected enabled, warn or disabled".into()),
        }
    }
}

/// A scalar of `.condarc` as text (`channel_priority: false` and `channel_priority: "false"`
/// alike), for keys whose values are words.
fn scalar_text(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// One `.condarc` file as written; every key optional, unknown keys ignored as conda does.
#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    channels: Option<Vec<String>>,
    default_channels: Option<Vec<String>>,
    channel_alias: Option<String>,
    custom_channels: Option<BTreeMap<String, String>>,
    custom_multichannels: Option<BTreeMap<String, Vec<String>>>,
    mirrored_channels: Option<BTreeMap<String, Vec<String>>>,
    channel_priority: Option<serde_yaml::Value>,
    pkgs_dirs: Option<Vec<String>>,
    envs_dirs: Option<Vec<String>>,
    offline: Option<bool>,
    remote_max_retries: Option<u32>,
    remote_backoff_factor: Option<f64>,
    remote_connect_timeout_secs: Option<f64>,
    remote_read_timeout_secs: Option<f64>,
    ssl_verify: Option<serde_yaml::Value>,
    proxy_servers: Option<BTreeMap<String, String>>,
    pinned_packages: Option<Vec<String>>,
    create_default_packages: Option<Vec<String>>,
    always_copy: Option<bool>,
    safety_checks: Option<serde_yaml::Value>,
    extra_safety_checks: Option<bool>,
    channel_tokens: Option<BTreeMap<String, String>>,
    conda_build: Option<RawCondaBuild>,
}

/// The `conda_build:` section; krait reads the keys that change rendering.
#[derive(Debug, Default, Deserialize)]
struct RawCondaBuild {
    config_file: Option<String>,
}

/// The merged configuration, with the source of every key that was set.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub channels: Vec<String>,
    pub default_channels: Vec<String>,
    pub channel_alias: Url,
    pub custom_channels: BTreeMap<String, Url>,
    /// A name standing for several channels, as `defaults` stands for `default_channels`.
    pub custom_multichannels: BTreeMap<String, Vec<String>>,
    /// A channel (name or URL) → the URLs it is fetched from instead, tried in order
    /// (mamba's and pixi's `mirrored_channels`).
    pub mirrored_channels: BTreeMap<String, Vec<Url>>,
    pub channel_priority: ChannelPriority,
    pub pkgs_dirs: Vec<PathBuf>,
    pub envs_dirs: Vec<PathBuf>,
    pub offline: bool,
    /// How many times a request that failed on the way (connection refused or reset, a
    /// timeout, a 5xx, 408 or 429 answer) is sent again; conda's key and default (3).
    pub remote_max_retries: u32,
    /// Seconds before the first retry, doubling for each next one (conda's key, default 1).
    pub remote_backoff_factor: f64,
    /// Seconds to wait for a connection (conda's key and default, 9.15).
    pub remote_connect_timeout_secs: f64,
    /// Seconds a request may wait for the next bytes of an answer (conda's key and default, 60).
    pub remote_read_timeout_secs: f64,
    pub ssl_verify: SslVerify,
    /// `proxy_servers`: scheme (`http`, `https`, `all`) or `scheme://host` → proxy URL, as
    /// `requests` picks them; with none, the `*_PROXY` variables apply. Passwords are never
    /// printed.
    #[serde(serialize_with = "serialize_proxies")]
    pub proxy_servers: BTreeMap<String, Url>,
    /// MatchSpecs every solve in every environment must honour, besides the environment's
    /// own `conda-meta/pinned` (conda's key).
    pub pinned_packages: Vec<String>,
    /// MatchSpecs added to every `create` that does not name the package itself, unless
    /// `--no-default-packages` (conda's key).
    pub create_default_packages: Vec<String>,
    /// Copy files into environments instead of linking them from the cache, as `--copy`
    /// (conda's key).
    pub always_copy: bool,
    /// What a cached package whose files do not match its `paths.json` gets (conda's key).
    pub safety_checks: SafetyChecks,
    /// Also check the files of packages just extracted, not only reused ones (conda's key).
    pub extra_safety_checks: bool,
    /// `conda_build: {config_file: ...}`: the user's conda_build_config.yaml, in place of
    /// `~/conda_build_config.yaml`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conda_build_config_file: Option<PathBuf>,
    /// `channel_tokens:` (a krait key): channel URL (or host) → token, sent as
    /// `Authorization: Bearer` to that channel's host. Never printed.
    #[serde(skip)]
    pub channel_tokens: BTreeMap<String, String>,
    /// Per key, the files or variables that set it, highest priority first.
    #[serde(skip)]
    pub sources: BTreeMap<&'static str, Vec<String>>,
    /// The configuration files that exist and were read, lowest priority first.
    #[serde(skip)]
    pub files: Vec<PathBuf>,
}

fn home_dir() -> PathBuf {
    dirs::home_dir().unwrap_or_else(|| PathBuf::from("/"))
}

impl Default for Config {
    fn default() -> Self {
        let home = krait_home();
        Config {
            channels: vec!["defaults".into()],
            default_channels: vec![
                "https://repo.anaconda.com/pkgs/main".into(),
                "https://repo.anaconda.com/pkgs/r".into(),
            ],
            channel_alias: Url::parse("https://conda.anaconda.org/").expect("static URL"),
            custom_channels: BTreeMap::new(),
            custom_multichannels: BTreeMap::new(),
            mirrored_channels: BTreeMap::new(),
            channel_priority: ChannelPriority::Flexible,
            pkgs_dirs: vec![home.join("pkgs")],
            envs_dirs: vec![home.join("envs")],
            offline: false,
            remote_max_retries: 3,
            remote_backoff_factor: 1.0,
            remote_connect_timeout_secs: 9.15,
            remote_read_timeout_secs: 60.0,
            ssl_verify: SslVerify::System,
            proxy_servers: BTreeMap::new(),
            pinned_packages: Vec::new(),
            create_default_packages: Vec::new(),
            always_copy: false,
            safety_checks: SafetyChecks::Warn,
            extra_safety_checks: false,
            conda_build_config_file: None,
            channel_tokens: BTreeMap::new(),
            sources: BTreeMap::new(),
            files: Vec::new(),
        }
    }
}

/// The user's own file, which `krait config --set` and friends change (conda's `~/.condarc`).
pub fn user_condarc() -> PathBuf {
    home_dir().join(".condarc")
}

/// The configuration files conda reads, lowest priority first (whether or not they exist).
pub fn search_path() -> Vec<PathBuf> {
    let home = home_dir();
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    let mut files = vec![
        xdg.join("conda").join(".condarc"),
        home.join(".conda").join(".condarc"),
        user_condarc(),
    ];
    if let Some(condarc) = std::env::var_os("CONDARC") {
        files.push(PathBuf::from(condarc));
    }
    files
}

/// Expands `~` and `$VAR`/`${VAR}` in a configured path, as conda does.
fn expand_path(raw: &str) -> PathBuf {
    let with_vars = regex::Regex::new(r"\$\{(\w+)\}|\$(\w+)")
        .expect("static regex")
        .replace_all(raw, |caps: &regex::Captures| {
            let name = caps
                .get(1)
                .or_else(|| caps.get(2))
                .expect("one group matches");
            std::env::var(name.as_str()).unwrap_or_default()
        })
        .into_owned();
    match with_vars.strip_prefix('~') {
        Some(rest) => home_dir().join(rest.trim_start_matches('/')),
        None => PathBuf::from(with_vars),
    }
}

fn parse_url(origin: &str, key: &'static str, value: &str) -> Result<Url, ConfigError> {
    let with_slash = if value.ends_with('/') {
        value.to_string()
    } else {
        format!("{value}/")
    };
    Url::parse(&with_slash).map_err(|e| ConfigError::InvalidValue {
        origin: origin.into(),
        key,
        value: value.into(),
        reason: e.to_string(),
    })
}

/// Merges a lower-priority list under a higher-priority one, conda style.
fn merge_list<T: PartialEq + Clone>(higher: &mut Vec<T>, lower: &[T]) {
    for item in lower {
        if !higher.contains(item) {
            higher.push(item.clone());
        }
    }
}

/// Accumulates sources from highest to lowest priority.
struct Merger {
    config: Config,
    set: std::collections::BTreeSet<&'static str>,
}

impl Merger {
    /// Starts from krait's defaults, with no key set by any source yet.
    fn new() -> Merger {
        Merger {
            config: Config::default(),
            set: Default::default(),
        }
    }

    /// Records that `origin` sets `key`; true when it is the first (highest-priority) source to.
    fn claim(&mut self, key: &'static str, origin: &str) -> bool {
        self.config
            .sources
            .entry(key)
            .or_default()
            .push(origin.to_string());
        self.set.insert(key)
    }

    /// Applies one source. Sources arrive highest priority first, so scalars keep the first value
    /// and lists take lower-priority items after their own.
    fn apply(&mut self, origin: &str, raw: RawConfig) -> Result<(), ConfigError> {
        let lists = [
            ("channels", raw.channels),
            ("default_channels", raw.default_channels),
            ("pinned_packages", raw.pinned_packages),
            ("create_default_packages", raw.create_default_packages),
        ];
        for (key, items) in lists {
            let Some(items) = items else { continue };
            let first = self.claim(key, origin);
            let target = match key {
                "channels" => &mut self.config.channels,
                "default_channels" => &mut self.config.default_channels,
                "pinned_packages" => &mut self.config.pinned_packages,
                _ => &mut self.config.create_default_packages,
            };
            merge_into(target, items, first);
        }
        let dirs = [("pkgs_dirs", raw.pkgs_dirs), ("envs_dirs", raw.envs_dirs)];
        for (key, raw_dirs) in dirs {
            let Some(raw_dirs) = raw_dirs else { continue };
            let first = self.claim(key, origin);
            let target = match key {
                "pkgs_dirs" => &mut self.config.pkgs_dirs,
                _ => &mut self.config.envs_dirs,
            };
            merge_into(
                target,
                raw_dirs.iter().map(|d| expand_path(d)).collect(),
                first,
            );
        }
        if let Some(alias) = raw.channel_alias {
            let url = parse_url(origin, "channel_alias", &alias)?;
            if self.claim("channel_alias", origin) {
                self.config.channel_alias = url;
            }
        }
        if let Some(custom) = raw.custom_channels {
            self.claim("custom_channels", origin);
            for (name, url) in custom {
                let url = parse_url(origin, "custom_channels", &url)?;
                self.config.custom_channels.entry(name).or_insert(url);
            }
        }
        if let Some(mirrored) = raw.mirrored_channels {
            self.claim("mirrored_channels", origin);
            for (channel, mirrors) in mirrored {
                let urls = mirrors
                    .iter()
                    .map(|m| parse_url(origin, "mirrored_channels", m))
                    .collect::<Result<Vec<_>, _>>()?;
                self.config.mirrored_channels.entry(channel).or_insert(urls);
            }
        }
        if let Some(multichannels) = raw.custom_multichannels {
            self.claim("custom_multichannels", origin);
            for (name, members) in multichannels {
                self.config
                    .custom_multichannels
                    .entry(name)
                    .or_insert(members);
            }
        }
        if let Some(priority) = raw.channel_priority {
            let text = scalar_text(&priority);
            let parsed =
                text.parse::<ChannelPriority>()
                    .map_err(|reason| ConfigError::InvalidValue {
                        origin: origin.into(),
                        key: "channel_priority",
                        value: text.clone(),
                        reason,
                    })?;
            if self.claim("channel_priority", origin) {
                self.config.channel_priority = parsed;
            }
        }
        if let Some(tokens) = raw.channel_tokens {
            self.claim("channel_tokens", origin);
            for (channel, token) in tokens {
                self.config.channel_tokens.entry(channel).or_insert(token);
            }
        }
        if let Some(file) = raw.conda_build.and_then(|c| c.config_file) {
            if self.claim("conda_build.config_file", origin) {
                self.config.conda_build_config_file = Some(expand_path(&file));
            }
        }
        if let Some(offline) = raw.offline {
            if self.claim("offline", origin) {
                self.config.offline = offline;
            }
        }
        if let Some(always_copy) = raw.always_copy {
            if self.claim("always_copy", origin) {
                self.config.always_copy = always_copy;
            }
        }
        if let Some(checks) = raw.safety_checks {
            let text = scalar_text(&checks);
            let parsed =
                text.parse::<SafetyChecks>()
                    .map_err(|reason| ConfigError::InvalidValue {
                        origin: origin.into(),
                        key: "safety_checks",
                        value: text.clone(),
                        reason,
                    })?;
            if self.claim("safety_checks", origin) {
                self.config.safety_checks = parsed;
            }
        }
        if let Some(extra) = raw.extra_safety_checks {
            if self.claim("extra_safety_checks", origin) {
                self.config.extra_safety_checks = extra;
            }
        }
        if let Some(retries) = raw.remote_max_retries {
            if self.claim("remote_max_retries", origin) {
                self.config.remote_max_retries = retries;
            }
        }
        if let Some(proxies) = raw.proxy_servers {
            self.claim("proxy_servers", origin);
            for (key, proxy) in proxies {
                let url = Url::parse(&proxy).map_err(|e| ConfigError::InvalidValue {
                    origin: origin.into(),
                    key: "proxy_servers",
                    value: format!("{key}: {}", without_password(&proxy)),
                    reason: e.to_string(),
                })?;
                self.config.proxy_servers.entry(key).or_insert(url);
            }
        }
        if let Some(value) = raw.ssl_verify {
            let verify = SslVerify::parse(origin, &value)?;
            if self.claim("ssl_verify", origin) {
                self.config.ssl_verify = verify;
            }
        }
        let seconds = [
            ("remote_backoff_factor", raw.remote_backoff_factor, 0.0),
            (
                "remote_connect_timeout_secs",
                raw.remote_connect_timeout_secs,
                0.001,
            ),
            (
                "remote_read_timeout_secs",
                raw.remote_read_timeout_secs,
                0.001,
            ),
        ];
        for (key, value, least) in seconds {
            let Some(value) = value else { continue };
            if !(least..=3600.0).contains(&value) {
                return Err(ConfigError::InvalidValue {
                    origin: origin.to_string(),
                    key,
                    value: value.to_string(),
                    reason: format!("expected seconds between {least} and 3600"),
                });
            }
            if self.claim(key, origin) {
                let target = match key {
                    "remote_backoff_factor" => &mut self.config.remote_backoff_factor,
                    "remote_connect_timeout_secs" => &mut self.config.remote_connect_timeout_secs,
                    _ => &mut self.config.remote_read_timeout_secs,
                };
                *target = value;
            }
        }
        Ok(())
    }
}

/// Replaces the default list with the first source's, then merges lower-priority sources under it.
fn merge_into<T: PartialEq + Clone>(target: &mut Vec<T>, items: Vec<T>, first: bool) {
    if first {
        *target = items;
    } else {
        merge_list(target, &items);
    }
}

fn list_from_env(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Reads `KRAIT_*` variables into the same shape as a file.
fn raw_from_env() -> Result<Option<(String, RawConfig)>, ConfigError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut names = Vec::new();
    let mut raw = RawConfig::default();
    if let Some(v) = var("KRAIT_CHANNELS") {
        names.push("KRAIT_CHANNELS");
        raw.channels = Some(list_from_env(&v));
    }
    if let Some(v) = var("KRAIT_DEFAULT_CHANNELS") {
        names.push("KRAIT_DEFAULT_CHANNELS");
        raw.default_channels = Some(list_from_env(&v));
    }
    if let Some(v) = var("KRAIT_CHANNEL_ALIAS") {
        names.push("KRAIT_CHANNEL_ALIAS");
        raw.channel_alias = Some(v);
    }
    if let Some(v) = var("KRAIT_CHANNEL_PRIORITY") {
        names.push("KRAIT_CHANNEL_PRIORITY");
        raw.channel_priority = Some(serde_yaml::Value::String(v));
    }
    if let Some(v) = var("KRAIT_PKGS_DIRS") {
        names.push("KRAIT_PKGS_DIRS");
        raw.pkgs_dirs = Some(list_from_env(&v));
    }
    if let Some(v) = var("KRAIT_ENVS_DIRS") {
        names.push("KRAIT_ENVS_DIRS");
        raw.envs_dirs = Some(list_from_env(&v));
    }
    if let Some(v) = var("KRAIT_OFFLINE") {
        names.push("KRAIT_OFFLINE");
        raw.offline = Some(match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                return Err(ConfigError::InvalidValue {
                    origin: "KRAIT_OFFLINE".into(),
                    key: "offline",
                    value: v,
                    reason: "expected true or false".into(),
                })
            }
        });
    }
    Ok((!names.is_empty()).then(|| ("environment".to_string(), raw)))
}

fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_text(path, &text)
}

fn parse_text(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(RawConfig::default());
    }
    serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Checks the text of a configuration file the way [`Config::load`] reads it, reporting
/// errors against `path`; `krait config --set` and friends check a file before writing it.
pub fn check_text(path: &Path, text: &str) -> Result<(), ConfigError> {
    let mut merger = Merger::new();
    merger.apply(&path.display().to_string(), parse_text(path, text)?)
}

impl Config {
    /// Loads the configuration from conda's files and `KRAIT_*` variables.
    pub fn load() -> Result<Config, ConfigError> {
        let files: Vec<PathBuf> = search_path().into_iter().filter(|p| p.is_file()).collect();
        let mut sources = Vec::new();
        if let Some(env) = raw_from_env()? {
            sources.push(env);
        }
        for file in files.iter().rev() {
            sources.push((file.display().to_string(), read_file(file)?));
        }
        let mut merger = Merger::new();
        for (origin, raw) in sources {
            merger.apply(&origin, raw)?;
        }
        merger.config.files = files;
        Ok(merger.config)
    }

    /// The first package cache directory, where repodata and package caches live.
    /// `mirrored_channels` with each channel as its URL (a name through `custom_channels` or
    /// `channel_alias`, as channel arguments are resolved).
    pub fn mirror_urls(&self) -> Vec<(Url, Vec<Url>)> {
        self.mirrored_channels
            .iter()
            .filter_map(|(channel, mirrors)| {
                let url = if channel.contains("://") {
                    Url::parse(&format!("{}/", channel.trim_end_matches('/'))).ok()?
                } else {
                    let first = channel.split('/').next().unwrap_or(channel);
                    let base = self
                        .custom_channels
                        .get(first)
                        .unwrap_or(&self.channel_alias);
                    base.join(&format!("{channel}/")).ok()?
                };
                Some((url, mirrors.clone()))
            })
            .collect()
    }

    pub fn pkgs_dir(&self) -> &Path {
        self.pkgs_dirs
            .first()
            .map(PathBuf::as_path)
            .unwrap_or(Path::new("."))
    }

    /// The host each `channel_tokens` entry applies to, with its token: a key is a channel URL
    /// (`https://host:port/path`) or a bare host name.
    pub fn token_hosts(&self) -> Vec<(String, String)> {
        self.channel_tokens
            .iter()
            .map(|(channel, token)| {
                let host = Url::parse(channel)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_else(|| channel.trim_end_matches('/').to_string());
                (host, token.clone())
            })
            .collect()
    }

    /// The source that decided a key, or `default` when nothing set it.
    pub fn source_of(&self, key: &str) -> String {
        self.sources
            .get(key)
            .map(|s| s.join(", "))
            .unwrap_or_else(|| "default".into())
    }
}

/// The proxy for a request to `url`, the most specific key first, as `requests` selects it:
/// `scheme://host`, `scheme`, `all://host`, `all`.
pub fn proxy_for<'a>(proxies: &'a BTreeMap<String, Url>, url: &Url) -> Option<&'a Url> {
    let (scheme, host) = (url.scheme(), url.host_str().unwrap_or_default());
    [
        format!("{scheme}://{host}"),
        scheme.to_string(),
        format!("all://{host}"),
        "all".to_string(),
    ]
    .iter()
    .find_map(|key| proxies.get(key))
}

/// A URL as text with its password, if any, replaced by `****`.
fn without_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

fn serialize_proxies<S: serde::Serializer>(
    proxies: &BTreeMap<String, Url>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        proxies
            .iter()
            .map(|(key, url)| (key, without_password(url.as_str()))),
    )
}

/// A channel URL with the token of conda's `/t/<token>/` form replaced by `mask`.
pub fn mask_token(url: &str, mask: &str) -> String {
    match url.find("/t/") {
        Some(start) => {
            let rest = &url[start + 3..];
            let end = rest.find('/').unwrap_or(rest.len());
            format!("{}/t/{mask}{}", &url[..start], &rest[end..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_proxy_wins_and_passwords_are_not_shown() {
        let proxies: BTreeMap<String, Url> = [
            ("http", "http://p1:3128"),
            ("https://repo.internal", "http://p2:3128"),
            ("all", "http://user:secret@p3:3128"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Url::parse(v).unwrap()))
        .collect();
        let pick = |url: &str| {
            proxy_for(&proxies, &Url::parse(url).unwrap()).map(|u| u.host_str().unwrap())
        };
        assert_eq!(pick("http://a.example/x"), Some("p1"));
        assert_eq!(pick("https://repo.internal/c"), Some("p2"));
        assert_eq!(pick("https://other.example/c"), Some("p3"));
        assert_eq!(
            proxy_for(&BTreeMap::new(), &Url::parse("http://a/").unwrap()),
            None
        );
        let shown = serde_json::to_string(&Config {
            proxy_servers: proxies,
            ..Config::default()
        })
        .unwrap();
        assert!(
            shown.contains("user:****@p3") && !shown.contains("secret"),
            "{shown}"
        );
    }

    #[test]
    fn tokens_are_masked_mid_url_and_at_its_end() {
        assert_eq!(
            mask_token("https://h/t/tk-1/conda-forge/noarch", "<TOKEN>"),
            "https://h/t/<TOKEN>/conda-forge/noarch"
        );
        assert_eq!(
            mask_token("https://h/t/tk-1", "<TOKEN>"),
            "https://h/t/<TOKEN>"
        );
        assert_eq!(
            mask_token("file:///srv/channel", "<TOKEN>"),
            "file:///srv/channel"
        );
    }

    #[test]
    fn lists_merge_with_higher_priority_first_and_scalars_keep_the_highest() {
        let mut merger = Merger::new();
        let high: RawConfig =
            serde_yaml::from_str("channels: [a, b]\nchannel_priority: strict\n").unwrap();
        let low: RawConfig = serde_yaml::from_str(
            "channels: [b, c]\nchannel_priority: disabled\nchannel_alias: https://example.invalid\n",
        )
        .unwrap();
        merger.apply("high", high).unwrap();
        merger.apply("low", low).unwrap();
        let config = merger.config;
        assert_eq!(config.channels, vec!["a", "b", "c"]);
        assert_eq!(config.channel_priority, ChannelPriority::Strict);
        assert_eq!(config.channel_alias.as_str(), "https://example.invalid/");
        assert_eq!(config.source_of("channels"), "high, low");
        assert_eq!(config.source_of("channel_alias"), "low");
        assert_eq!(config.source_of("offline"), "default");
    }

    #[test]
    fn multichannels_keep_the_highest_definition_of_a_name() {
        let mut merger = Merger::new();
        let high: RawConfig =
            serde_yaml::from_str("custom_multichannels:\n  team: [a, b]\n").unwrap();
        let low: RawConfig =
            serde_yaml::from_str("custom_multichannels:\n  team: [c]\n  other: [d]\n").unwrap();
        merger.apply("high", high).unwrap();
        merger.apply("low", low).unwrap();
        let multichannels = merger.config.custom_multichannels;
        assert_eq!(multichannels["team"], ["a", "b"]);
        assert_eq!(multichannels["other"], ["d"]);
    }

    #[test]
    fn channel_tokens_apply_to_the_channel_host() {
        let mut merger = Merger::new();
        let raw: RawConfig = serde_yaml::from_str(
            "channel_tokens:\n  http://127.0.0.1:8080/private: abc\n  example.org: xyz\n",
        )
        .unwrap();
        merger.apply("file", raw).unwrap();
        let hosts = merger.config.token_hosts();
        assert!(hosts.contains(&("127.0.0.1".into(), "abc".into())));
        assert!(hosts.contains(&("example.org".into(), "xyz".into())));
        assert!(!serde_json::to_string(&merger.config)
            .unwrap()
            .contains("abc"));
    }

    #[test]
    fn bad_priority_names_origin_and_value() {
        let mut merger = Merger::new();
        let raw: RawConfig = serde_yaml::from_str("channel_priority: sometimes\n").unwrap();
        let err = merger.apply("/x/.condarc", raw).unwrap_err().to_string();
        assert!(
            err.contains("/x/.condarc") && err.contains("sometimes"),
            "{err}"
        );
    }
}
