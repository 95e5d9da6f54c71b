//! The recipe functions of conda-build's `jinja_context`: `compiler`, `stdlib`, `cdt`, the pins
//! and the file loaders.

use super::objects::RegexMatch;
use super::setup_py::run_setup_py;
use super::{EXACT_PIN_MARKER, PIN_COMPATIBLE_MARKER};
use crate::recipe::context::native_compiler;
use crate::recipe::pins::{apply_pin_expressions, ensure_valid_spec};
use crate::recipe::variants::Variant;
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The recipe functions registered by [`add_functions`].
pub(super) const FUNCTIONS: [&str; 10] = [
    "compiler",
    "stdlib",
    "cdt",
    "pin_subpackage",
    "pin_compatible",
    "load_file_regex",
    "load_file_data",
    "load_str_data",
    "load_setup_py_data",
    "load_setuptools",
];

/// What the recipe functions know of the render: folders, platform, variant, sibling outputs.
pub(super) struct FunctionState {
    pub(super) recipe_dir: PathBuf,
    pub(super) source_dir: Option<PathBuf>,
    pub(super) target_platform: rattler_conda_types::Subdir,
    pub(super) variant: Variant,
    pub(super) subpackages: HashMap<String, String>,
    pub(super) strict: bool,
    /// `PATH` of the render environment, to find Python for `load_setup_py_data`.
    pub(super) path_env: Option<String>,
}

impl FunctionState {
    fn variant_str(&self, key: &str) -> Option<String> {
        match self.variant.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(items) => items.first()?.as_str().map(String::from),
            _ => None,
        }
    }

    /// conda-build's `_target`: `<pkg>_<target_platform> [<version>.*]`.
    fn target_package(&self, language: &str, component: &str) -> String {
        let default = if component == "compiler" {
            native_compiler(language, self.target_platform)
        } else {
            language.to_string()
        };
        let key = format!("{language}_{component}");
        let package = self.variant_str(&key).unwrap_or(default);
        let target = self
            .variant_str("target_platform")
            .unwrap_or_else(|| self.target_platform.as_str().to_string());
        let name = format!("{package}_{target}");
        match self.variant_str(&format!("{key}_version")) {
            Some(version) if !version.is_empty() => ensure_valid_spec(&format!("{name} {version}")),
            _ => name,
        }
    }

    /// `_find_file`: recipe dir when asked, else the source (work) dir, else the recipe dir.
    fn find_file(&self, file: &str, from_recipe_dir: bool) -> Option<PathBuf> {
        let path = Path::new(file);
        let candidates: Vec<PathBuf> = if path.is_absolute() {
            vec![path.to_path_buf()]
        } else if from_recipe_dir {
            vec![self.recipe_dir.join(path)]
        } else {
            self.source_dir
                .iter()
                .map(|d| d.join(path))
                .chain(std::iter::once(self.recipe_dir.join(path)))
                .collect()
        };
        candidates.into_iter().find(|p| p.is_file())
    }

    fn missing_file(&self, function: &str, file: &str) -> std::result::Result<Value, Error> {
        if self.strict {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "{function}: file `{file}` not found in the source directory or the recipe \
                     directory {}",
                    self.recipe_dir.display()
                ),
            ))
        } else {
            // UndefinedNeverFail: later lookups and calls on the result keep rendering.
            Ok(Value::UNDEFINED)
        }
    }
}

/// Parse JSON, TOML or YAML text into a Jinja value (`load_file_data`, `load_str_data`).
fn parse_data(text: &str, format: &str) -> std::result::Result<Value, Error> {
    let bad = |e: String| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot parse {format}: {e}"),
        )
    };
    let json: serde_json::Value = match format {
        "json" => serde_json::from_str(text).map_err(|e| bad(e.to_string()))?,
        "toml" => toml::from_str(text).map_err(|e| bad(e.to_string()))?,
        "yaml" | "yml" => serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))?,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("unknown data format `{other}`: use json, toml or yaml"),
            ))
        }
    };
    Ok(Value::from_serialize(json))
}

/// A positional argument that may also be passed by keyword, as Python allows.
fn required_arg(
    positional: Option<String>,
    kwargs: &Kwargs,
    key: &str,
) -> std::result::Result<String, Error> {
    match positional {
        Some(v) => Ok(v),
        None => kwargs.get::<String>(key).map_err(|_| {
            Error::new(
                ErrorKind::MissingArgument,
                format!("missing argument `{key}`"),
            )
        }),
    }
}

fn kwarg_flag(kwargs: &Kwargs, key: &str) -> bool {
    kwargs
        .get::<Option<bool>>(key)
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// A pin argument: absent gives `default`, `None` gives no pin.
fn pin_arg(positional: Option<Value>, kwargs: &Kwargs, key: &str, default: &str) -> Option<String> {
    let value = match positional {
        Some(v) => v,
        None if kwargs.has(key) => kwargs.get::<Value>(key).unwrap_or_default(),
        None => return Some(default.to_string()),
    };
    if value.is_none() || value.is_undefined() {
        None
    } else {
        Some(value.to_string())
    }
}

/// Register [`FUNCTIONS`] on `env`.
pub(super) fn add_functions(env: &mut Environment<'_>, state: &Arc<FunctionState>) {
    let s = state.clone();
    env.add_function("compiler", move |language: String| {
        s.target_package(&language, "compiler")
    });
    let s = state.clone();
    env.add_function("stdlib", move |language: String| {
        s.target_package(&language, "stdlib")
    });
    let s = state.clone();
    env.add_function("cdt", move |package: String| {
        let arch = s
            .target_platform
            .arch()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let (mut cdt_name, mut cdt_arch) = match arch.as_str() {
            "ppc64le" | "aarch64" | "ppc64" | "s390x" => ("cos7".to_string(), arch.clone()),
            "x86_64" => ("cos6".to_string(), "x86_64".to_string()),
            _ => ("cos6".to_string(), "i686".to_string()),
        };
        if let Some(name) = s.variant_str("cdt_name") {
            cdt_name = name;
        }
        if let Some(a) = s.variant_str("cdt_arch") {
            cdt_arch = a;
        }
        match package.split_once(' ') {
            Some((name, rest)) => format!("{name}-{cdt_name}-{cdt_arch} {rest}"),
            None => format!("{package}-{cdt_name}-{cdt_arch}"),
        }
    });
    let s = state.clone();
    env.add_function(
        "pin_subpackage",
        move |name: String, min_pin: Option<Value>, max_pin: Option<Value>, kwargs: Kwargs| {
            let min = pin_arg(min_pin, &kwargs, "min_pin", "x.x.x.x.x.x");
            let max = pin_arg(max_pin, &kwargs, "max_pin", "x");
            let exact = kwarg_flag(&kwargs, "exact");
            let Some(version) = s.subpackages.get(&name) else {
                return if s.strict {
                    Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "pin_subpackage('{name}'): this recipe has no output named `{name}`; \
                             use pin_compatible() for packages built by other recipes"
                        ),
                    ))
                } else {
                    Ok(name)
                };
            };
            if exact {
                return Ok(format!("{name} {version} {EXACT_PIN_MARKER}{name}"));
            }
            let range = apply_pin_expressions(version, min.as_deref(), max.as_deref())
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
            Ok(format!("{name} {range}").trim_end().to_string())
        },
    );
    env.add_function(
        "pin_compatible",
        |name: String, min_pin: Option<Value>, max_pin: Option<Value>, kwargs: Kwargs| {
            let field = |v: Option<String>| v.unwrap_or_else(|| "None".into());
            let lower = kwargs.get::<Option<String>>("lower_bound").ok().flatten();
            let upper = kwargs.get::<Option<String>>("upper_bound").ok().flatten();
            format!(
                "{name} {PIN_COMPATIBLE_MARKER} min_pin={} max_pin={} lower_bound={} upper_bound={} exact={}",
                field(pin_arg(min_pin, &kwargs, "min_pin", "x.x.x.x.x.x")),
                field(pin_arg(max_pin, &kwargs, "max_pin", "x")),
                field(lower),
                field(upper),
                kwarg_flag(&kwargs, "exact"),
            )
        },
    );
    let s = state.clone();
    env.add_function(
        "load_file_regex",
        move |load_file: Option<String>, regex_pattern: Option<String>, kwargs: Kwargs| {
            let load_file = required_arg(load_file, &kwargs, "load_file")?;
            let regex_pattern = required_arg(regex_pattern, &kwargs, "regex_pattern")?;
            let from_recipe_dir = kwarg_flag(&kwargs, "from_recipe_dir");
            let Some(path) = s.find_file(&load_file, from_recipe_dir) else {
                return s.missing_file("load_file_regex", &load_file);
            };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let regex = regex::Regex::new(&regex_pattern).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("bad regex `{regex_pattern}`: {e}"),
                )
            })?;
            Ok(match regex.captures(&text) {
                None => Value::from(()),
                Some(caps) => {
                    let whole = caps.get(0).expect("group 0");
                    Value::from_object(RegexMatch {
                        groups: caps
                            .iter()
                            .map(|g| g.map(|m| m.as_str().to_string()))
                            .collect(),
                        span: (whole.start(), whole.end()),
                    })
                }
            })
        },
    );
    let s = state.clone();
    env.add_function(
        "load_file_data",
        move |filename: Option<String>, fmt: Option<String>, kwargs: Kwargs| {
            let filename = required_arg(filename, &kwargs, "load_file")?;
            let fmt = fmt.or_else(|| kwargs.get::<Option<String>>("fmt").ok().flatten());
            let from_recipe_dir = kwarg_flag(&kwargs, "from_recipe_dir");
            let Some(path) = s.find_file(&filename, from_recipe_dir) else {
                return if s.strict {
                    s.missing_file("load_file_data", &filename)
                } else {
                    Ok(Value::from(BTreeMap::<String, Value>::new()))
                };
            };
            let format = fmt.unwrap_or_else(|| {
                path.extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("json")
                    .to_string()
            });
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            parse_data(&text, &format)
        },
    );
    env.add_function("load_str_data", |text: String, fmt: String| {
        parse_data(&text, &fmt)
    });
    let s = state.clone();
    env.add_function("load_setup_py_data", move |kwargs: Kwargs| {
        if !s.strict {
            return Ok(Value::from(BTreeMap::<String, Value>::new()));
        }
        let setup_file = kwargs
            .get::<Option<String>>("setup_file")
            .ok()
            .flatten()
            .unwrap_or_else(|| "setup.py".into());
        let from_recipe_dir = kwarg_flag(&kwargs, "from_recipe_dir");
        let Some(path) = s.find_file(&setup_file, from_recipe_dir) else {
            return s.missing_file("load_setup_py_data", &setup_file);
        };
        run_setup_py(&path, s.path_env.as_deref()).map(Value::from_serialize)
    });
    env.add_function(
        "load_setuptools",
        |_kwargs: Kwargs| -> std::result::Result<Value, Error> {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                "load_setuptools() is the old name of load_setup_py_data(): use that",
            ))
        },
    );
}
