//! Errors raised while rendering a recipe; each names the file and, where known, the line and
//! column. Errors at a known place carry the file's text too ([`RecipeError::with_snippet`]),
//! so miette shows the offending line under the message.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a recipe file (1-based line and column), printed as `file:line:column`.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The file's text once attached ([`RecipeError::with_snippet`]); not part of equality.
    snippet: Option<Arc<NamedSource<String>>>,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Self {
            file: file.into(),
            line,
            column,
            snippet: None,
        }
    }
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        (&self.file, self.line, self.column) == (&other.file, other.line, other.column)
    }
}

impl Eq for Location {}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Everything that can go wrong between a recipe folder and its rendered metadata.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("no meta.yaml in {}: pass a recipe folder that contains meta.yaml, or the meta.yaml file itself", .0.display())]
    NoMetaYaml(PathBuf),

    #[error("{location}: YAML syntax error: {message}")]
    Yaml { location: Location, message: String },

    #[error("{location}: invalid selector `[{selector}]`: {message}")]
    Selector {
        location: Location,
        selector: String,
        message: String,
    },

    #[error("{location}: undefined Jinja variable `{name}`: define it with {{% set {name} = ... %}} or as a key in conda_build_config.yaml")]
    UndefinedVariable { location: Location, name: String },

    #[error("{location}: Jinja error: {message}")]
    Jinja { location: Location, message: String },

    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },

    #[error("{}: missing `package/name`: add `package:` with `name:` (and `version:`) to the recipe", file.display())]
    MissingName { file: PathBuf },

    #[error("{}: variant configuration error: {message}", file.display())]
    Variant { file: PathBuf, message: String },

    #[error("{}: {message}", file.display())]
    Outputs { file: PathBuf, message: String },

    #[error("{}: source: {message}", file.display())]
    Source { file: PathBuf, message: String },
}

impl RecipeError {
    /// The place of an error that has one.
    fn location(&self) -> Option<&Location> {
        match self {
            RecipeError::Yaml { location, .. }
            | RecipeError::Selector { location, .. }
            | RecipeError::UndefinedVariable { location, .. }
            | RecipeError::Jinja { location, .. }
            | RecipeError::Invalid { location, .. } => Some(location),
            _ => None,
        }
    }

    fn location_mut(&mut self) -> Option<&mut Location> {
        match self {
            RecipeError::Yaml { location, .. }
            | RecipeError::Selector { location, .. }
            | RecipeError::UndefinedVariable { location, .. }
            | RecipeError::Jinja { location, .. }
            | RecipeError::Invalid { location, .. } => Some(location),
            _ => None,
        }
    }

    /// Translate the line of an error in `file` (from filtered text back to the file).
    pub fn map_line(mut self, file: &Path, map: impl Fn(usize) -> usize) -> Self {
        if let Some(location) = self.location_mut() {
            if location.file == file && location.line > 0 {
                location.line = map(location.line);
            }
        }
        self
    }

    /// Attach the text of the file the error points into (read from disk), for miette to show
    /// the offending line; errors without a place, or whose file cannot be read, stay as
    /// they are.
    pub fn with_snippet(mut self) -> Self {
        if let Some(location) = self.location_mut() {
            if location.snippet.is_none() && location.line > 0 {
                if let Ok(text) = std::fs::read_to_string(&location.file) {
                    let name = location.file.display().to_string();
                    location.snippet = Some(Arc::new(NamedSource::new(name, text)));
                }
            }
        }
        self
    }
}

/// The byte range a location points at in `text`: from its column to the end of the word there
/// (at least one character), or through `until` when given and found on the line.
fn span_at(text: &str, location: &Location, until: Option<char>) -> Option<std::ops::Range<usize>> {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(location.line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let line = text.get(line_start..)?.lines().next()?;
    let column = line
        .char_indices()
        .nth(location.column.saturating_sub(1))
        .map_or(line.len(), |(i, _)| i);
    let rest = &line[column..];
    let word = match until.and_then(|c| rest.find(c)) {
        Some(end) => end + 1,
        None => rest.find(char::is_whitespace).unwrap_or(rest.len()).max(1),
    };
    let start = line_start + column;
    Some(start..(start + word).min(line_start + line.len()).max(start))
}

impl Diagnostic for RecipeError {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        let snippet = self.location()?.snippet.as_deref()?;
        Some(snippet as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let location = self.location()?;
        let text = location.snippet.as_deref()?.inner();
        // A selector is marked whole, `[` to `]`.
        let until = matches!(self, RecipeError::Selector { .. }).then_some(']');
        let span = span_at(text, location, until)?;
        Some(Box::new(std::iter::once(LabeledSpan::at(span, "here"))))
    }
}

pub type Result<T, E = RecipeError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_points_at_the_located_word() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("meta.yaml");
        std::fs::write(&file, "package:\n  version: 1.0-beta  # here\n").unwrap();
        let error = RecipeError::Invalid {
            location: Location::new(&file, 2, 12),
            message: "invalid version".into(),
        };
        assert!(
            error.source_code().is_none(),
            "no text before it is attached"
        );
        let error = error.with_snippet();
        let labels: Vec<LabeledSpan> = error.labels().unwrap().collect();
        let text = std::fs::read_to_string(&file).unwrap();
        let span = labels[0].inner();
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "1.0-beta");

        let report = format!("{:?}", miette::Report::new(error));
        assert!(report.contains("version: 1.0-beta"), "{report}");
        assert!(
            report.contains("meta.yaml:2:12: invalid version"),
            "{report}"
        );
    }

    #[test]
    fn spans_stay_inside_the_line() {
        let location = |line, column| Location::new("f", line, column);
        assert_eq!(span_at("a: b\nc:\n", &location(2, 3), None), Some(7..7));
        assert_eq!(span_at("a: b\n", &location(1, 1), None), Some(0..2));
        assert_eq!(span_at("a: b\n", &location(3, 1), None), None);
        assert_eq!(span_at("a: b", &location(1, 4), None), Some(3..4));
        assert_eq!(
            span_at("a  # [x and y] z", &location(1, 6), Some(']')),
            Some(5..14)
        );
    }
}
