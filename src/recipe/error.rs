//! Errors raised while rendering a recipe; each names the file and, where known, the line and column.

use std::fmt;
use std::path::PathBuf;

/// A position in a recipe file (1-based line and column), printed as `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Self {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Everything that can go wrong between a recipe folder and its rendered metadata.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
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
    /// Translate the line of an error in `file` (from filtered text back to the file).
    pub fn map_line(mut self, file: &std::path::Path, map: impl Fn(usize) -> usize) -> Self {
        match &mut self {
            RecipeError::Yaml { location, .. }
            | RecipeError::Selector { location, .. }
            | RecipeError::UndefinedVariable { location, .. }
            | RecipeError::Jinja { location, .. }
            | RecipeError::Invalid { location, .. }
                if location.file == file && location.line > 0 =>
            {
                location.line = map(location.line);
            }
            _ => {}
        }
        self
    }
}

pub type Result<T, E = RecipeError> = std::result::Result<T, E>;
