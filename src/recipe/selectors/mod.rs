//! Line selectors (`# [expr]`, the `#` optional) and the restricted Python expression language
//! conda-build evaluates them with (`metadata.py: select_lines`, `eval_selector`,
//! `get_selectors`). Unknown names are False, as conda-build's NameError retry makes them.

use super::error::{Location, RecipeError, Result};
use regex::Regex;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

mod eval;
mod lexer;
mod objects;
mod parser;
#[cfg(test)]
mod testing;
mod value;

pub use value::PyValue;

/// The names a selector can see, typed as conda-build types them.
#[derive(Debug, Clone, Default)]
pub struct Namespace {
    pub names: HashMap<String, PyValue>,
    /// Cache of evaluated selectors (conda-build keeps one per `select_lines` call too).
    cache: Arc<Mutex<HashMap<String, bool>>>,
}

impl Namespace {
    pub fn new(names: HashMap<String, PyValue>) -> Self {
        Self {
            names,
            cache: Arc::default(),
        }
    }

    /// Evaluate one selector expression; an unknown name is False.
    pub fn eval(&self, expr: &str) -> std::result::Result<PyValue, String> {
        eval::eval(&parser::parse(expr)?, &self.names)
    }

    fn eval_cached(&self, expr: &str) -> std::result::Result<bool, String> {
        if let Some(hit) = self.cache.lock().expect("selector cache").get(expr) {
            return Ok(*hit);
        }
        let value = self.eval(expr)?.truthy();
        self.cache
            .lock()
            .expect("selector cache")
            .insert(expr.to_string(), value);
        Ok(value)
    }
}

/// One line split into its content and its selector, if any (`_split_line_selector`).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitLine {
    pub content: String,
    pub selector: Option<String>,
}

/// With a comment: `text  # ... [expr] trailing` where trailing has no parentheses.
static SELECTOR_WITH_COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+?)\s*(#.*)\[([^\[\]]+)\][^()]*$").expect("regex"));
/// Without a comment the line must end with `[expr]`.
static SELECTOR_BARE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+?)\s*\[([^\[\]]+)\]$").expect("regex"));

/// Split a line like conda-build's `sel_pat`: comment-only lines become empty, the `#` before a
/// selector is optional, a trailing quote is kept so the YAML stays valid.
pub fn split_line(raw: &str) -> SplitLine {
    let line = raw.trim_end();
    if line.trim_start().starts_with('#') || line.is_empty() {
        return SplitLine {
            content: String::new(),
            selector: None,
        };
    }
    if !(line.contains('[') && line.contains(']')) {
        return SplitLine {
            content: line.to_string(),
            selector: None,
        };
    }
    let trailing_quote = match line.chars().last() {
        Some(q @ ('\'' | '"')) => q.to_string(),
        _ => String::new(),
    };
    // Python tries the shortest prefix first, the comment form before the bare one.
    let with_comment = SELECTOR_WITH_COMMENT
        .captures(line)
        .map(|c| (c[1].to_string(), c[3].to_string()));
    let bare = SELECTOR_BARE
        .captures(line)
        .map(|c| (c[1].to_string(), c[2].to_string()));
    let chosen = match (with_comment, bare) {
        (Some(a), Some(b)) => Some(if b.0.len() < a.0.len() { b } else { a }),
        (a, b) => a.or(b),
    };
    match chosen {
        Some((content, selector)) => SplitLine {
            content: format!("{content}{trailing_quote}").trim_end().to_string(),
            selector: Some(selector),
        },
        None => SplitLine {
            content: line.to_string(),
            selector: None,
        },
    }
}

/// Text after selector filtering, with the original (1-based) line of every kept line.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub text: String,
    pub lines: Vec<usize>,
}

impl Selected {
    /// The original line of a 1-based line of the filtered text.
    pub fn original_line(&self, line: usize) -> usize {
        match line.checked_sub(1).and_then(|i| self.lines.get(i)) {
            Some(original) => *original,
            None => self.lines.last().map(|l| l + 1).unwrap_or(line),
        }
    }
}

static SPLIT_CACHE: LazyLock<Mutex<HashMap<String, Arc<Vec<SplitLine>>>>> =
    LazyLock::new(Mutex::default);

/// `split_line` for every line, cached per text like conda-build's `_split_line_selector`:
/// every variant filters the same recipe text.
fn split_lines(text: &str) -> Arc<Vec<SplitLine>> {
    let mut cache = SPLIT_CACHE.lock().expect("split cache");
    if let Some(hit) = cache.get(text) {
        return hit.clone();
    }
    let split = Arc::new(text.lines().map(split_line).collect::<Vec<_>>());
    cache.insert(text.to_string(), split.clone());
    split
}

/// Apply selectors to `text` as conda-build's `select_lines`: lines whose selector is false are
/// dropped, the others lose their selector, comment-only lines become empty.
pub fn select_lines(text: &str, namespace: &Namespace, file: &Path) -> Result<Selected> {
    let mut out = String::with_capacity(text.len());
    let mut lines = Vec::new();
    for (index, (raw, split)) in text.lines().zip(split_lines(text).iter()).enumerate() {
        let keep = match &split.selector {
            None => true,
            Some(selector) => {
                namespace
                    .eval_cached(selector)
                    .map_err(|message| RecipeError::Selector {
                        location: Location::new(file, index + 1, raw.find('[').unwrap_or(0) + 1),
                        selector: selector.clone(),
                        message,
                    })?
            }
        };
        if keep {
            out.push_str(&split.content);
            out.push('\n');
            lines.push(index + 1);
        }
    }
    Ok(Selected { text: out, lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespace {
        let mut names = HashMap::new();
        names.insert("linux".into(), PyValue::Bool(true));
        names.insert("win".into(), PyValue::Bool(false));
        names.insert("py".into(), PyValue::Int(312));
        names.insert("target_platform".into(), PyValue::Str("linux-64".into()));
        names.insert("build_platform".into(), PyValue::Str("linux-64".into()));
        names.insert(
            "environ".into(),
            PyValue::Dict(vec![(
                PyValue::Str("CF_CUDA_ENABLED".into()),
                PyValue::Str("True".into()),
            )]),
        );
        Namespace::new(names)
    }

    fn t(expr: &str) -> bool {
        ns().eval(expr).unwrap().truthy()
    }

    #[test]
    fn python_semantics() {
        assert!(t("linux"));
        assert!(t("not win"));
        assert!(t("py>=38 and py<313"));
        assert!(t("37 < py <= 312"));
        assert!(!t("py2k"), "unknown names are False");
        assert!(t("build_platform == target_platform"));
        assert!(t("target_platform.startswith(('linux', 'osx'))"));
        assert!(t("os.environ.get('CF_CUDA_ENABLED', 'False') == 'True'"));
        assert!(!t("os.environ.get('MISSING', 'False') == 'True'"));
        assert!(t("target_platform.split('-')[1] == '64'"));
        assert!(t("target_platform in ('linux-64', 'linux-aarch64')"));
        assert!(t("int('3') + 1 == 4"));
        assert!(t("target_platform[:5] == 'linux'"));
        assert!(t("'z' not in target_platform"));
        assert!(ns().eval("py < 'a'").is_err(), "int < str is a TypeError");
        assert!(ns().eval("__import__('os')").is_err());
    }

    #[test]
    fn selector_line_syntax() {
        assert_eq!(
            split_line("  - gcc  # [linux]"),
            SplitLine {
                content: "  - gcc".into(),
                selector: Some("linux".into())
            }
        );
        assert_eq!(
            split_line("  - cp .DS_Store $PREFIX  [unix]")
                .selector
                .as_deref(),
            Some("unix")
        );
        assert_eq!(
            split_line("  - foo  # [win] comment").selector.as_deref(),
            Some("win")
        );
        assert_eq!(split_line("# just a comment {{ x }}").content, "");
        assert_eq!(split_line("summary: see [docs](http://x)").selector, None);
        let quoted = split_line("  - 'foo'  # [osx]");
        assert_eq!(quoted.content, "  - 'foo'");
        let trailing = split_line("  - \"foo # [osx]\"");
        assert_eq!(trailing.content, "  - \"foo\"");
    }

    #[test]
    fn select_drops_lines_and_maps_numbers() {
        let text = "a: 1  # [linux]\nb: 2  # [win]\nc: 3\n";
        let out = select_lines(text, &ns(), Path::new("meta.yaml")).unwrap();
        assert_eq!(out.text, "a: 1\nc: 3\n");
        assert_eq!(out.original_line(2), 3);
        let err = select_lines("a: 1  # [py <]\n", &ns(), Path::new("meta.yaml")).unwrap_err();
        assert!(err.to_string().starts_with("meta.yaml:1:"), "{err}");
    }
}
