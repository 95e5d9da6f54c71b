//! Scoped tokens of `krait serve --tokens-file`: who may read, write (upload, copy) or delete in
//! which channel, until when. Only a salted HMAC-SHA256 of each token is stored; a presented
//! token is checked against every entry with a constant-time comparison.
//!
//! ```toml
//! public_channels = ["ops"]          # readable without a token
//! [[tokens]]
//! name = "ci"                        # who, in the audit log
//! hash = "hmac-sha256:<salt hex>:<mac hex>"   # krait serve --hash-token < token
//! expires = "2027-01-01T00:00:00Z"   # optional
//! scopes = { team = ["read", "write"], "*" = ["read"] }
//! ```
//! The same in YAML when the file ends in `.yaml`/`.yml`.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a token may do in a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Delete,
}

/// Errors of a tokens file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TokensError {
    #[error("cannot read tokens file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tokens file {path} is invalid: {message}")]
    #[diagnostic(help(
        "see `krait serve --help`: [[tokens]] entries with name, hash, scopes and optional expires"
    ))]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    public_channels: Vec<String>,
    #[serde(default)]
    tokens: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    hash: String,
    #[serde(default)]
    expires: Option<String>,
    scopes: BTreeMap<String, Vec<Scope>>,
}

/// One token: its stored hash, owner and scopes.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub name: String,
    salt: Vec<u8>,
    mac: Vec<u8>,
    expires: Option<jiff::Timestamp>,
    scopes: BTreeMap<String, Vec<Scope>>,
}

/// The loaded tokens file.
#[derive(Debug, Clone)]
pub struct Tokens {
    public_channels: Vec<String>,
    entries: Vec<TokenEntry>,
}

/// Why a token does not open a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    Unknown,
    Expired(String),
    OutOfScope(String),
}

fn mac_of(salt: &[u8], token: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes keys of any length");
    mac.update(token.as_bytes());
    mac
}

/// The line to store for `token`: `hmac-sha256:<salt hex>:<mac hex>` with a fresh random salt.
pub fn hash_token(token: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS has randomness");
    let mac = mac_of(&salt, token).finalize().into_bytes();
    format!("hmac-sha256:{}:{}", hex::encode(salt), hex::encode(mac))
}

impl Tokens {
    /// Reads a TOML (or, by extension, YAML) tokens file.
    pub fn load(path: &Path) -> Result<Tokens, TokensError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| TokensError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let file: TokensFile = if yaml {
            serde_yaml::from_str(&text).map_err(|e| invalid(e.to_string()))?
        } else {
            toml::from_str(&text).map_err(|e| invalid(e.to_string()))?
        };
        let mut entries = Vec::new();
        for raw in file.tokens {
            let parts: Vec<&str> = raw.hash.split(':').collect();
            let (salt, mac) = match parts.as_slice() {
                ["hmac-sha256", salt, mac] => (hex::decode(salt), hex::decode(mac)),
                _ => {
                    return Err(invalid(format!(
                    "token {:?}: hash must be hmac-sha256:<salt>:<mac> (krait serve --hash-token)",
                    raw.name
                )))
                }
            };
            let (Ok(salt), Ok(mac)) = (salt, mac) else {
                return Err(invalid(format!("token {:?}: hash is not hex", raw.name)));
            };
            let expires = raw
                .expires
                .as_deref()
                .map(|e| {
                    e.parse::<jiff::Timestamp>().map_err(|err| {
                        invalid(format!(
                            "token {:?}: expires {e:?} is not an RFC 3339 time: {err}",
                            raw.name
                        ))
                    })
                })
                .transpose()?;
            entries.push(TokenEntry {
                name: raw.name,
                salt,
                mac,
                expires,
                scopes: raw.scopes,
            });
        }
        Ok(Tokens {
            public_channels: file.public_channels,
            entries,
        })
    }

    /// Whether `channel` may be read without a token.
    pub fn is_public(&self, channel: &str) -> bool {
        self.public_channels
            .iter()
            .any(|c| c == channel || c == "*")
    }

    /// The entry of `token` if it may do `scope` in `channel` now. Any scope in a channel
    /// lets a token read it.
    pub fn authorize(
        &self,
        token: &str,
        channel: &str,
        scope: Scope,
    ) -> Result<&TokenEntry, Denial> {
        let entry = self
            .entries
            .iter()
            .find(|e| mac_of(&e.salt, token).verify_slice(&e.mac).is_ok())
            .ok_or(Denial::Unknown)?;
        if entry.expires.is_some_and(|t| t <= jiff::Timestamp::now()) {
            return Err(Denial::Expired(entry.name.clone()));
        }
        let granted = [channel, "*"]
            .iter()
            .filter_map(|c| entry.scopes.get(*c))
            .flatten()
            .any(|s| *s == scope || scope == Scope::Read);
        if granted {
            Ok(entry)
        } else {
            Err(Denial::OutOfScope(entry.name.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_tokens_open_only_their_scopes_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(
            &path,
            format!(
                "[[tokens]]\nname = \"ci\"\nhash = \"{}\"\nscopes = {{ team = [\"write\"] }}\n\
                 [[tokens]]\nname = \"old\"\nhash = \"{}\"\nexpires = \"2020-01-01T00:00:00Z\"\n\
                 scopes = {{ \"*\" = [\"read\"] }}\n",
                hash_token("ci-secret"),
                hash_token("old-secret")
            ),
        )
        .unwrap();
        let tokens = Tokens::load(&path).unwrap();
        assert!(!std::fs::read_to_string(&path)
            .unwrap()
            .contains("ci-secret"));
        assert_eq!(
            tokens
                .authorize("ci-secret", "team", Scope::Write)
                .unwrap()
                .name,
            "ci"
        );
        assert!(tokens.authorize("ci-secret", "team", Scope::Read).is_ok());
        assert_eq!(
            tokens
                .authorize("ci-secret", "team", Scope::Delete)
                .unwrap_err(),
            Denial::OutOfScope("ci".into())
        );
        assert!(tokens.authorize("ci-secret", "ops", Scope::Read).is_err());
        assert_eq!(
            tokens
                .authorize("ci-secre", "team", Scope::Read)
                .unwrap_err(),
            Denial::Unknown
        );
        assert_eq!(
            tokens
                .authorize("old-secret", "team", Scope::Read)
                .unwrap_err(),
            Denial::Expired("old".into())
        );
    }
}
