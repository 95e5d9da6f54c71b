//! Editing one `.condarc` as `conda config --set/--add/--append/--remove/--remove-key` does:
//! the file is read as YAML, changed, checked the way krait reads configuration, and only then
//! written (atomically). Like conda, the rewrite drops the file's comments.

use crate::config::{check_text, ConfigError};
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// Keys holding a list; `--add`/`--prepend`, `--append` and `--remove` work on these.
const LIST_KEYS: &[&str] = &[
    "channels",
    "default_channels",
    "pkgs_dirs",
    "envs_dirs",
    "pinned_packages",
    "create_default_packages",
];
/// Keys holding a mapping; `--set KEY.NAME VALUE` and `--remove-key KEY.NAME` reach inside.
const MAP_KEYS: &[&str] = &[
    "custom_channels",
    "custom_multichannels",
    "proxy_servers",
    "channel_tokens",
    "conda_build",
];
/// Keys holding one value.
const SCALAR_KEYS: &[&str] = &[
    "channel_alias",
    "channel_priority",
    "offline",
    "always_copy",
    "safety_checks",
    "extra_safety_checks",
    "ssl_verify",
    "remote_max_retries",
    "remote_backoff_factor",
    "remote_connect_timeout_secs",
    "remote_read_timeout_secs",
];

/// One change to a configuration file.
#[derive(Debug, Clone)]
pub enum Edit {
    /// `--set KEY VALUE`: the value is read as YAML (`true`, `3`, `[a, b]`, text).
    Set(String, String),
    /// `--add`/`--prepend KEY VALUE`: first in the list (moved there if it was in it).
    Prepend(String, String),
    /// `--append KEY VALUE`: last in the list (moved there if it was in it).
    Append(String, String),
    /// `--remove KEY VALUE`: out of the list.
    Remove(String, String),
    /// `--remove-key KEY`.
    RemoveKey(String),
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a YAML mapping: {message}")]
    #[diagnostic(help("fix the file by hand, or move it away to start a new one"))]
    NotAMapping { path: PathBuf, message: String },
    #[error("unknown configuration key {0:?}")]
    #[diagnostic(help("{}", known_keys()))]
    UnknownKey(String),
    #[error("{key:?} is not a list key: use --set for it")]
    #[diagnostic(help("list keys: {}", LIST_KEYS.join(", ")))]
    NotAList { key: String },
    #[error("{key:?} holds a list: use --add, --append or --remove for it")]
    IsAList { key: String },
    #[error("{value:?} is not in {key:?}")]
    NotInList { key: String, value: String },
    #[error("{key:?} is not set in {path}")]
    KeyNotSet { key: String, path: PathBuf },
    #[error("the change would make the file invalid")]
    #[diagnostic(help("the file was not changed"))]
    Invalid(#[source] ConfigError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn known_keys() -> String {
    format!(
        "krait's keys: {}, {}, and {} (as KEY.NAME)",
        LIST_KEYS.join(", "),
        SCALAR_KEYS.join(", "),
        MAP_KEYS.join(", ")
    )
}

/// Applies `edits` in order to the file at `path` (made when absent) and writes it.
pub fn edit(path: &Path, edits: &[Edit]) -> Result<(), ConfigFileError> {
    let mut document = read(path)?;
    for edit in edits {
        apply(&mut document, edit, path)?;
    }
    let text = if document.is_empty() {
        String::new()
    } else {
        serde_yaml::to_string(&document).expect("a YAML mapping serialises")
    };
    check_text(path, &text).map_err(ConfigFileError::Invalid)?;
    let write = |source| ConfigFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write)?;
    }
    crate::fs::write_atomic(path, text.as_bytes()).map_err(write)
}

/// The file as a mapping: empty when the file is absent or blank.
pub fn read(path: &Path) -> Result<Mapping, ConfigFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Mapping::new()),
        Err(source) => {
            return Err(ConfigFileError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Mapping::new());
    }
    serde_yaml::from_str(&text).map_err(|e| ConfigFileError::NotAMapping {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn apply(document: &mut Mapping, edit: &Edit, path: &Path) -> Result<(), ConfigFileError> {
    match edit {
        Edit::Set(key, value) => {
            let value: Value =
                serde_yaml::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
            match key.split_once('.') {
                Some((map, name)) if MAP_KEYS.contains(&map) => {
                    let entry = document
                        .entry(map.into())
                        .or_insert_with(|| Value::Mapping(Mapping::new()));
                    if !entry.is_mapping() {
                        *entry = Value::Mapping(Mapping::new());
                    }
                    if let Value::Mapping(inner) = entry {
                        inner.insert(name.into(), value);
                    }
                }
                _ if LIST_KEYS.contains(&key.as_str()) && !value.is_sequence() => {
                    return Err(ConfigFileError::IsAList { key: key.clone() })
                }
                _ if SCALAR_KEYS.contains(&key.as_str()) || LIST_KEYS.contains(&key.as_str()) => {
                    document.insert(key.as_str().into(), value);
                }
                _ => return Err(ConfigFileError::UnknownKey(key.clone())),
            }
        }
        Edit::Prepend(key, value) | Edit::Append(key, value) | Edit::Remove(key, value) => {
            if !LIST_KEYS.contains(&key.as_str()) {
                return Err(if SCALAR_KEYS.contains(&key.as_str()) {
                    ConfigFileError::NotAList { key: key.clone() }
                } else {
                    ConfigFileError::UnknownKey(key.clone())
                });
            }
            let entry = document
                .entry(key.as_str().into())
                .or_insert_with(|| Value::Sequence(Vec::new()));
            if !entry.is_sequence() {
                *entry = Value::Sequence(Vec::new());
            }
            let Value::Sequence(items) = entry else {
                unreachable!("made a sequence just above")
            };
            let item = Value::String(value.clone());
            let was_there = items.contains(&item);
            items.retain(|existing| existing != &item);
            match edit {
                Edit::Prepend(..) => items.insert(0, item),
                Edit::Append(..) => items.push(item),
                _ if !was_there => {
                    return Err(ConfigFileError::NotInList {
                        key: key.clone(),
                        value: value.clone(),
                    })
                }
                _ => {}
            }
        }
        Edit::RemoveKey(key) => {
            let removed = match key.split_once('.') {
                Some((map, name)) if MAP_KEYS.contains(&map) => document
                    .get_mut(map)
                    .and_then(Value::as_mapping_mut)
                    .and_then(|inner| inner.remove(name)),
                _ => document.remove(key.as_str()),
            };
            if removed.is_none() {
                return Err(ConfigFileError::KeyNotSet {
                    key: key.clone(),
                    path: path.to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

/// `conda config --get` lines for the file's keys (all of them, or `key`): lists as the
/// `--add` commands that rebuild them (lowest priority first), other values as `--set`.
pub fn get_lines(document: &Mapping, key: Option<&str>) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, value) in document {
        let Some(name) = name.as_str() else { continue };
        if key.is_some_and(|wanted| wanted != name) {
            continue;
        }
        match value {
            Value::Sequence(items) => {
                let count = items.len();
                for (index, item) in items.iter().enumerate().rev() {
                    let note = match index {
                        0 if count > 1 => "   # highest priority",
                        _ if index + 1 == count && count > 1 => "   # lowest priority",
                        _ => "",
                    };
                    lines.push(format!("--add {name} {}{note}", quoted(item)));
                }
            }
            Value::Mapping(inner) => {
                for (inner_name, inner_value) in inner {
                    let inner_name = inner_name.as_str().unwrap_or_default();
                    lines.push(format!("--set {name}.{inner_name} {}", quoted(inner_value)));
                }
            }
            other => lines.push(format!("--set {name} {}", quoted(other))),
        }
    }
    lines
}

/// A value as conda prints it: text in single quotes, other scalars bare.
fn quoted(value: &Value) -> String {
    match value {
        Value::String(text) => format!("'{text}'"),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_move_to_their_end_and_maps_take_dotted_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".condarc");
        let set = |k: &str, v: &str| Edit::Set(k.into(), v.into());
        edit(
            &path,
            &[
                Edit::Prepend("channels".into(), "b".into()),
                Edit::Prepend("channels".into(), "a".into()),
                Edit::Append("channels".into(), "c".into()),
                Edit::Append("channels".into(), "a".into()),
                set("channel_priority", "strict"),
                set("offline", "true"),
                set("proxy_servers.http", "http://proxy.invalid:3128"),
            ],
        )
        .unwrap();
        let document = read(&path).unwrap();
        assert_eq!(
            get_lines(&document, None),
            [
                "--add channels 'a'   # lowest priority",
                "--add channels 'c'",
                "--add channels 'b'   # highest priority",
                "--set channel_priority 'strict'",
                "--set offline true",
                "--set proxy_servers.http 'http://proxy.invalid:3128'",
            ]
        );
        edit(
            &path,
            &[
                Edit::Remove("channels".into(), "c".into()),
                Edit::RemoveKey("proxy_servers.http".into()),
            ],
        )
        .unwrap();
        let document = read(&path).unwrap();
        assert_eq!(
            document["channels"],
            serde_yaml::from_str::<Value>("[b, a]").unwrap()
        );
        assert!(document["proxy_servers"].as_mapping().unwrap().is_empty());
    }

    #[test]
    fn bad_edits_leave_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".condarc");
        std::fs::write(&path, "channels: [a]\n").unwrap();
        let cases = [
            Edit::Set("channel_priority".into(), "sometimes".into()),
            Edit::Set("no_such_key".into(), "1".into()),
            Edit::Prepend("offline".into(), "x".into()),
            Edit::Set("channels".into(), "a".into()),
            Edit::Remove("channels".into(), "z".into()),
            Edit::RemoveKey("channel_alias".into()),
        ];
        for case in cases {
            assert!(
                edit(&path, std::slice::from_ref(&case)).is_err(),
                "{case:?}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "channels: [a]\n");
        }
    }
}
