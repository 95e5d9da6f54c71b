//! `conda-meta/pinned`: one MatchSpec per line that every solve in the prefix must honour.

use rattler_conda_types::{MatchSpec, ParseStrictness};
use std::path::Path;

/// A pinned file line that is not a valid MatchSpec.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{path}:{line}: invalid pinned spec {spec:?}: {reason}")]
#[diagnostic(help(
    "each line of conda-meta/pinned and each item of pinned_packages is one MatchSpec, e.g. `python 3.11.*`"
))]
pub struct PinnedError {
    pub path: String,
    pub line: usize,
    pub spec: String,
    pub reason: String,
}

/// Reads the prefix's pinned specs (none when the file is absent).
pub fn read(prefix: &Path) -> Result<Vec<MatchSpec>, PinnedError> {
    let path = prefix.join("conda-meta").join("pinned");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    parse(&path.display().to_string(), text.lines())
}

/// The `pinned_packages` of `.condarc`, which hold in every environment.
pub fn from_config(specs: &[String]) -> Result<Vec<MatchSpec>, PinnedError> {
    parse(".condarc pinned_packages", specs.iter().map(String::as_str))
}

/// One MatchSpec per item; `#` starts a comment, blank items are skipped.
fn parse<'a>(
    origin: &str,
    items: impl Iterator<Item = &'a str>,
) -> Result<Vec<MatchSpec>, PinnedError> {
    let mut specs = Vec::new();
    for (index, raw) in items.enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let spec =
            MatchSpec::from_str(line, ParseStrictness::Lenient).map_err(|e| PinnedError {
                path: origin.to_string(),
                line: index + 1,
                spec: line.to_string(),
                reason: e.to_string(),
            })?;
        specs.push(spec);
    }
    Ok(specs)
}
