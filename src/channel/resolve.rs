//! Turning a channel argument (`-c X`, a `channels:` entry, `X::pkg`) into channels with URLs.
//!
//! A channel may be a relative or absolute path, a `file://` URL, an `http(s)://` URL, the word
//! `defaults` (expanded to `default_channels`), or a name: a name listed in `custom_channels` maps
//! to `<custom url>/<name>`, any other to `<channel_alias>/<name>`, as conda does.

use crate::config::Config;
use rattler_conda_types::{Channel, Subdir};
use std::path::{Path, PathBuf};
use url::Url;

/// Errors while resolving a channel argument.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ResolveError {
    #[error("channel directory not found: {path}")]
    #[diagnostic(help(
        "pass an existing channel folder, a file:// or http(s):// URL, or a channel name"
    ))]
    MissingDirectory { path: PathBuf },
    #[error("invalid channel URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("no channels to search: the configuration lists none and no -c/--channel was given")]
    #[diagnostic(help("pass -c CHANNEL or add `channels:` to ~/.condarc"))]
    NoChannels,
    #[error("unknown subdir {0:?}")]
    #[diagnostic(help("use a conda subdir such as linux-64, osx-arm64, win-64 or noarch"))]
    UnknownSubdir(String),
}

/// The channels a command was asked for, on top of (or instead of) the configured ones.
#[derive(Debug, Clone, Default)]
pub struct ChannelSelection {
    /// Additional channels (path, URL or name), highest priority first.
    pub channels: Vec<String>,
    /// Search only `channels`, not the configured ones.
    pub override_channels: bool,
}

/// Parses a subdir name with a clear error for unknown ones.
pub fn parse_subdir(name: &str) -> Result<Subdir, ResolveError> {
    name.parse::<Subdir>()
        .map_err(|_| ResolveError::UnknownSubdir(name.to_string()))
}

/// The subdir krait targets when none is given: the host's.
pub fn host_subdir() -> Subdir {
    Subdir::current().unwrap_or(Subdir::Linux64)
}

/// Resolves channel arguments against a configuration.
pub struct ChannelResolver<'a> {
    config: &'a Config,
    cwd: PathBuf,
}

impl<'a> ChannelResolver<'a> {
    pub fn new(config: &'a Config) -> Self {
        ChannelResolver {
            config,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }

    /// The channels a command uses: `-c` channels first, then the configured ones unless
    /// `--override-channels`; `defaults` expanded; duplicates dropped.
    pub fn channels_for(&self, args: &ChannelSelection) -> Result<Vec<Channel>, ResolveError> {
        let mut names: Vec<&str> = args.channels.iter().map(String::as_str).collect();
        if !args.override_channels || args.channels.is_empty() {
            names.extend(self.config.channels.iter().map(String::as_str));
        }
        let mut channels: Vec<Channel> = Vec::new();
        for name in names {
            for channel in self.resolve(name)? {
                if !channels.iter().any(|c| c.base_url == channel.base_url) {
                    channels.push(channel);
                }
            }
        }
        if channels.is_empty() {
            return Err(ResolveError::NoChannels);
        }
        Ok(channels)
    }

    /// Resolves one channel argument; `defaults` and the names of `custom_multichannels` stand
    /// for several channels.
    pub fn resolve(&self, arg: &str) -> Result<Vec<Channel>, ResolveError> {
        let arg = arg.trim();
        let members = match arg {
            "defaults" => Some(&self.config.default_channels),
            name => self.config.custom_multichannels.get(name),
        };
        match members {
            Some(members) => members.iter().map(|c| self.resolve_one(c)).collect(),
            None => Ok(vec![self.resolve_one(arg)?]),
        }
    }

    fn resolve_one(&self, arg: &str) -> Result<Channel, ResolveError> {
        if arg.contains("://") {
            let url = parse_dir_url(arg)?;
            if url.scheme() == "file" {
                let path = url.to_file_path().map_err(|_| ResolveError::InvalidUrl {
                    url: arg.into(),
                    reason: "not a local path".into(),
                })?;
                return self.directory(&path);
            }
            return Ok(Channel::from_url(url));
        }
        if looks_like_path(arg) || self.cwd.join(arg).is_dir() {
            return self.directory(Path::new(arg));
        }
        let first = arg.split('/').next().unwrap_or(arg);
        let base = match self.config.custom_channels.get(first) {
            Some(custom) => custom.clone(),
            None => self.config.channel_alias.clone(),
        };
        let url = base
            .join(&format!("{arg}/"))
            .map_err(|e| ResolveError::InvalidUrl {
                url: format!("{base}{arg}"),
                reason: e.to_string(),
            })?;
        let mut channel = Channel::from_url(url);
        channel.name = Some(arg.to_string());
        Ok(channel)
    }

    fn directory(&self, path: &Path) -> Result<Channel, ResolveError> {
        let expanded = match path.to_str().and_then(|p| p.strip_prefix("~/")) {
            Some(rest) => dirs::home_dir().unwrap_or_default().join(rest),
            None => self.cwd.join(path),
        };
        let dir = match expanded.canonicalize() {
            Ok(dir) if dir.is_dir() => dir,
            _ => return Err(ResolveError::MissingDirectory { path: expanded }),
        };
        Channel::try_from_directory(&dir).map_err(|e| ResolveError::InvalidUrl {
            url: dir.display().to_string(),
            reason: e.to_string(),
        })
    }
}

fn parse_dir_url(raw: &str) -> Result<Url, ResolveError> {
    let with_slash = if raw.ends_with('/') {
        raw.to_string()
    } else {
        format!("{raw}/")
    };
    Url::parse(&with_slash).map_err(|e| ResolveError::InvalidUrl {
        url: raw.into(),
        reason: e.to_string(),
    })
}

/// conda's rule: a channel starting with `/`, `.` or `~` (or a drive letter) is a path.
fn looks_like_path(arg: &str) -> bool {
    arg.starts_with('/')
        || arg.starts_with('.')
        || arg.starts_with('~')
        || (arg.len() > 2 && arg.as_bytes()[1] == b':' && arg.as_bytes()[0].is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut config = Config {
            channel_alias: Url::parse("https://alias.invalid/").unwrap(),
            ..Config::default()
        };
        config.custom_channels.insert(
            "private".into(),
            Url::parse("https://private.invalid/base/").unwrap(),
        );
        config.default_channels = vec!["https://d.invalid/main".into(), "extra".into()];
        config
    }

    #[test]
    fn names_go_through_alias_or_custom_channels() {
        let config = config();
        let resolver = ChannelResolver::new(&config);
        let forge = &resolver.resolve("conda-forge").unwrap()[0];
        assert_eq!(
            forge.base_url.as_str(),
            "https://alias.invalid/conda-forge/"
        );
        assert_eq!(forge.name.as_deref(), Some("conda-forge"));
        let private = &resolver.resolve("private").unwrap()[0];
        assert_eq!(
            private.base_url.as_str(),
            "https://private.invalid/base/private/"
        );
        let defaults = resolver.resolve("defaults").unwrap();
        let urls: Vec<_> = defaults
            .iter()
            .map(|c| c.base_url.as_str().to_string())
            .collect();
        assert_eq!(
            urls,
            ["https://d.invalid/main/", "https://alias.invalid/extra/"]
        );
    }

    #[test]
    fn a_multichannel_name_stands_for_its_members() {
        let mut config = config();
        config.custom_multichannels.insert(
            "team".into(),
            vec!["https://team.invalid/stable".into(), "conda-forge".into()],
        );
        let resolver = ChannelResolver::new(&config);
        let urls: Vec<_> = resolver
            .resolve("team")
            .unwrap()
            .iter()
            .map(|c| c.base_url.as_str().to_string())
            .collect();
        assert_eq!(
            urls,
            [
                "https://team.invalid/stable/",
                "https://alias.invalid/conda-forge/"
            ]
        );
    }

    #[test]
    fn paths_must_exist() {
        let config = config();
        let resolver = ChannelResolver::new(&config);
        let err = resolver.resolve("./no/such/channel").unwrap_err();
        assert!(
            matches!(err, ResolveError::MissingDirectory { .. }),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path()).unwrap();
        let channel = &resolver.resolve(url.as_str()).unwrap()[0];
        assert_eq!(channel.base_url.as_str(), url.as_str());
    }

    #[test]
    fn override_channels_drops_configured_ones() {
        let mut config = config();
        config.channels = vec!["conda-forge".into()];
        let resolver = ChannelResolver::new(&config);
        let args = ChannelSelection {
            channels: vec!["bioconda".into()],
            override_channels: true,
        };
        let names: Vec<_> = resolver
            .channels_for(&args)
            .unwrap()
            .into_iter()
            .map(|c| c.name.unwrap())
            .collect();
        assert_eq!(names, ["bioconda"]);
    }
}
