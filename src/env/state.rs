//! An environment's own variables, kept in `conda-meta/state` as conda keeps them
//! (`{"env_vars": {"NAME": "value"}}`): set by environment.yml's `variables:` and by
//! `env config vars set`, applied on activation and by `run`, listed by `env export`.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The value conda's `env config vars unset` leaves in the file: the variable is no longer
/// the environment's own, and activation does not touch it.
const UNSET: &str = "***unset***";

/// Errors reading or writing `conda-meta/state`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not conda's state file: {message}")]
    #[diagnostic(help(
        "it must be a JSON object whose `env_vars` maps names to strings; fix or delete it"
    ))]
    Malformed { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid variable {0:?}: expected NAME=VALUE")]
    #[diagnostic(help("e.g. `krait env config vars set IMGPIPE_DB=/data/db`"))]
    InvalidAssignment(String),
}

/// The prefix's `conda-meta/state`; keys other than `env_vars` are kept as they are.
pub struct PrefixState {
    path: PathBuf,
    root: Map<String, Value>,
}

impl PrefixState {
    /// Reads the state of `prefix`; a missing file is an empty state.
    pub fn read(prefix: &Path) -> Result<PrefixState, StateError> {
        let path = prefix.join("conda-meta").join("state");
        let root = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let malformed = |message: String| StateError::Malformed {
                    path: path.clone(),
                    message,
                };
                match serde_json::from_str::<Value>(&text).map_err(|e| malformed(e.to_string()))? {
                    Value::Object(root) => root,
                    _ => return Err(malformed("not a JSON object".into())),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let state = PrefixState { path, root };
        state.all_vars()?;
        Ok(state)
    }

    /// Every entry of `env_vars`, unset ones included, in file order.
    fn all_vars(&self) -> Result<Vec<(String, String)>, StateError> {
        let Some(vars) = self.root.get("env_vars") else {
            return Ok(Vec::new());
        };
        let malformed = |message: String| StateError::Malformed {
            path: self.path.clone(),
            message,
        };
        let vars = vars
            .as_object()
            .ok_or_else(|| malformed("`env_vars` is not an object".into()))?;
        vars.iter()
            .map(|(name, value)| match value {
                Value::String(value) => Ok((name.clone(), value.clone())),
                _ => Err(malformed(format!("`env_vars.{name}` is not a string"))),
            })
            .collect()
    }

    /// Every variable the file names, in the order they were set; `None` for unset ones.
    pub fn entries(&self) -> Vec<(String, Option<String>)> {
        self.all_vars()
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| (name, Some(value).filter(|v| v != UNSET)))
            .collect()
    }

    /// The environment's variables, in the order they were set (unset ones left out).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.entries()
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect()
    }

    fn vars_mut(&mut self) -> &mut Map<String, Value> {
        let entry = self
            .root
            .entry("env_vars")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        entry.as_object_mut().expect("just made an object")
    }

    /// Sets variables (a later value replaces an earlier one, in place), as conda does.
    pub fn set(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        let map = self.vars_mut();
        for (name, value) in vars {
            map.insert(name, Value::String(value));
        }
    }

    /// Marks variables unset, as conda does; names the environment does not have are ignored.
    pub fn unset(&mut self, names: &[String]) {
        let map = self.vars_mut();
        for name in names {
            if let Some(value) = map.get_mut(name) {
                *value = Value::String(UNSET.into());
            }
        }
    }

    /// Writes the file atomically, in conda's layout (`json.dumps` without indentation).
    pub fn write(&self) -> Result<(), StateError> {
        let text = python_json(&Value::Object(self.root.clone()));
        crate::fs::write_atomic(&self.path, text.as_bytes()).map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// JSON as Python's `json.dumps(..., ensure_ascii=False)` writes it: `", "` and `": "`.
fn python_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_json(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_json).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Splits `NAME=VALUE` as conda does (at the first `=`, both sides trimmed).
pub fn parse_assignment(text: &str) -> Result<(String, String), StateError> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(StateError::InvalidAssignment(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_unset_and_keep_other_keys_as_conda_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conda-meta")).unwrap();
        let file = dir.path().join("conda-meta/state");
        std::fs::write(&file, r#"{"other": [1, 2], "env_vars": {"A": "1"}}"#).unwrap();
        let mut state = PrefixState::read(dir.path()).unwrap();
        state.set([("B".into(), "x y".into()), ("A".into(), "2".into())]);
        state.unset(&["B".into(), "NOT_THERE".into()]);
        state.write().unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            r#"{"other": [1, 2], "env_vars": {"A": "2", "B": "***unset***"}}"#
        );
        let state = PrefixState::read(dir.path()).unwrap();
        assert_eq!(state.env_vars(), [("A".to_string(), "2".to_string())]);
        std::fs::write(&file, r#"{"env_vars": {"A": 1}}"#).unwrap();
        let err = PrefixState::read(dir.path()).err().unwrap().to_string();
        assert!(err.contains("env_vars.A"), "{err}");
    }

    #[test]
    fn assignments_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_assignment(" DB = a=b ").unwrap(),
            ("DB".to_string(), "a=b".to_string())
        );
        assert!(parse_assignment("NOVALUE").is_err());
        assert!(parse_assignment("=x").is_err());
    }
}
