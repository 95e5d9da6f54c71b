//! Jinja rendering of `meta.yaml` with minijinja and conda-build's context
//! (`environ.get_dict`, `jinja_context.context_processor`): variables, `environ`/`os`, Python
//! string methods (minijinja-contrib's pycompat) and the recipe functions.

mod functions;
mod objects;
mod pycompat;
mod setup_py;
mod variables;

use super::context::Host;
use super::error::{Location, RecipeError, Result};
use super::selectors::{select_lines, Namespace};
use super::variants::Variant;
use functions::{add_functions, FunctionState, FUNCTIONS};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};
use pycompat::{python_formatter, python_methods};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use variables::context;

/// Marks the build string of a sibling output in an exact `pin_subpackage`; replaced once the
/// sibling's build string is known.
pub const EXACT_PIN_MARKER: &str = "__krait_build_string_of__";
/// Marks a `pin_compatible()` left pending until the build resolves the host environment.
pub const PIN_COMPATIBLE_MARKER: &str = "__krait_pin_compatible__";
/// conda-build's `PKG_HASH` placeholder while rendering.
pub const PKG_HASH_PLACEHOLDER: &str = "1234567";

/// What the package section rendered to so far (unknown in the first pass).
#[derive(Debug, Clone, Default)]
pub struct PackageVars {
    pub name: Option<String>,
    pub version: Option<String>,
    pub build_number: Option<String>,
}

/// Inputs of one Jinja pass.
pub struct JinjaInput<'a> {
    pub meta_path: &'a Path,
    pub recipe_dir: &'a Path,
    pub source_dir: Option<&'a Path>,
    pub host: &'a Host<'a>,
    pub variant: &'a Variant,
    pub namespace: Arc<Namespace>,
    pub package: PackageVars,
    /// Output name -> version, for `pin_subpackage`.
    pub subpackages: &'a HashMap<String, String>,
    pub host_prefix: &'a str,
    pub build_prefix: &'a str,
    /// `GIT_*` of the first source when it is a git checkout ([`super::git`]).
    pub git_vars: &'a BTreeMap<String, String>,
    /// Strict: undefined variables and unresolvable functions are errors (the final pass).
    pub strict: bool,
}

/// Names Jinja itself provides (not reported as undefined recipe variables).
const JINJA_BUILTINS: [&str; 8] = [
    "range",
    "dict",
    "namespace",
    "loop",
    "self",
    "true",
    "false",
    "none",
];

/// Render one recipe text (already selector-filtered) with Jinja.
pub fn render(text: &str, input: &JinjaInput<'_>) -> Result<String> {
    let state = Arc::new(FunctionState {
        recipe_dir: input.recipe_dir.to_path_buf(),
        source_dir: input.source_dir.map(Path::to_path_buf),
        target_platform: input.host.target_platform,
        variant: input.variant.clone(),
        subpackages: input.subpackages.clone(),
        strict: input.strict,
        path_env: input.host.env.get("PATH").cloned(),
    });
    let mut env = Environment::new();
    // minijinja JSON-escapes `.yaml` templates by default; Jinja2 does not escape at all.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_formatter(python_formatter);
    env.set_unknown_method_callback(python_methods);
    env.set_undefined_behavior(if input.strict {
        UndefinedBehavior::Strict
    } else {
        UndefinedBehavior::Chainable
    });
    let recipe_dir = input.recipe_dir.to_path_buf();
    let namespace = input.namespace.clone();
    env.set_loader(move |name| {
        let path = recipe_dir.join(name);
        let Ok(raw) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        // Imported templates get the same selector filtering as meta.yaml.
        select_lines(&raw, &namespace, &path)
            .map(|selected| Some(selected.text))
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
    });
    add_functions(&mut env, &state);
    let ctx = context(input);
    let name = input
        .meta_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "meta.yaml".into());
    let template = env
        .template_from_named_str(&name, text)
        .map_err(|e| jinja_error(&e, input, text, None))?;
    template.render(&ctx).map_err(|e| {
        let undefined = (e.kind() == ErrorKind::UndefinedError).then(|| {
            let known: HashSet<&str> = ctx.keys().map(String::as_str).collect();
            let mut names: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|n| {
                    !known.contains(n.as_str())
                        && !FUNCTIONS.contains(&n.as_str())
                        && !JINJA_BUILTINS.contains(&n.as_str())
                })
                .collect();
            names.sort();
            names
        });
        jinja_error(&e, input, text, undefined)
    })
}

fn jinja_error(
    error: &Error,
    input: &JinjaInput<'_>,
    text: &str,
    undefined: Option<Vec<String>>,
) -> RecipeError {
    let main_name = input
        .meta_path
        .file_name()
        .map(|n| n.to_string_lossy().to_string());
    let in_main = error.name().is_none() || error.name() == main_name.as_deref();
    let file = if in_main {
        input.meta_path.to_path_buf()
    } else {
        input.recipe_dir.join(error.name().unwrap_or_default())
    };
    let line = error.line().unwrap_or(0);
    let column = match (in_main, error.range()) {
        (true, Some(range)) if range.start <= text.len() => {
            range.start - text[..range.start].rfind('\n').map(|p| p + 1).unwrap_or(0) + 1
        }
        _ => 1,
    };
    let location = Location::new(file, line, column);
    if let Some(names) = undefined {
        let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let name = names
            .iter()
            .find(|n| line_text.contains(n.as_str()))
            .or(names.first())
            .cloned();
        if let Some(name) = name {
            return RecipeError::UndefinedVariable { location, name };
        }
    }
    let mut message = error.detail().unwrap_or("").to_string();
    if message.is_empty() {
        message = error.kind().to_string();
    }
    RecipeError::Jinja { location, message }
}

#[cfg(test)]
mod tests;
