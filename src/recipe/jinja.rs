//! Jinja rendering of `meta.yaml` with minijinja and conda-build's context
//! (`environ.get_dict`, `jinja_context.context_processor`): variables, `environ`/`os`, Python
//! string methods (minijinja-contrib's pycompat) and the recipe functions.

use super::context::{native_compiler, selector_names, Host};
use super::error::{Location, RecipeError, Result};
use super::pins::{apply_pin_expressions, ensure_valid_spec};
use super::selectors::{select_lines, Namespace, PyValue};
use super::variants::Variant;
use minijinja::value::{Kwargs, Object, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

struct Shared {
    recipe_dir: PathBuf,
    source_dir: Option<PathBuf>,
    target_platform: rattler_conda_types::Subdir,
    variant: Variant,
    subpackages: HashMap<String, String>,
    strict: bool,
    /// `PATH` of the render environment, to find Python for `load_setup_py_data`.
    path_env: Option<String>,
}

impl Shared {
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

/// The result of `load_file_regex`: a Python `re.Match` with `.group(n)`, `.groups()` and `[n]`.
#[derive(Debug)]
struct RegexMatch {
    groups: Vec<Option<String>>,
    span: (usize, usize),
}

impl RegexMatch {
    fn group(&self, index: &Value) -> std::result::Result<Value, Error> {
        let i = usize::try_from(index.clone())
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "group index must be an int"))?;
        match self.groups.get(i) {
            Some(g) => Ok(g.clone().map(Value::from).unwrap_or(Value::from(()))),
            None => Err(Error::new(ErrorKind::InvalidOperation, "no such group")),
        }
    }
}

impl Object for RegexMatch {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.group(key).ok()
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        match method {
            "group" => match args {
                [] => self.group(&Value::from(0)),
                [one] => self.group(one),
                many => Ok(Value::from(
                    many.iter()
                        .map(|a| self.group(a))
                        .collect::<std::result::Result<Vec<_>, _>>()?,
                )),
            },
            "groups" => Ok(Value::from(
                self.groups[1..]
                    .iter()
                    .map(|g| g.clone().map(Value::from).unwrap_or(Value::from(())))
                    .collect::<Vec<_>>(),
            )),
            "start" => Ok(Value::from(self.span.0)),
            "end" => Ok(Value::from(self.span.1)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<re.Match object; span=({}, {}), match='{}'>",
            self.span.0,
            self.span.1,
            self.groups[0].as_deref().unwrap_or("")
        )
    }
}

/// The restricted `os` module: `os.environ`, `os.getenv()`, `os.sep`, `os.pathsep`.
#[derive(Debug)]
struct OsModule {
    environ: Value,
}

impl Object for OsModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "environ" => Some(self.environ.clone()),
            "sep" => Some(Value::from(std::path::MAIN_SEPARATOR.to_string())),
            "pathsep" => Some(Value::from(if cfg!(windows) { ";" } else { ":" })),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        if method != "getenv" {
            return Err(Error::from(ErrorKind::UnknownMethod));
        }
        let key = args.first().cloned().unwrap_or_default();
        Ok(self
            .environ
            .get_item(&key)
            .ok()
            .filter(|v| !v.is_undefined())
            .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(()))))
    }
}

/// The `time` module: `time.time()`, `time.strftime(fmt)`.
#[derive(Debug)]
struct TimeModule;

impl Object for TimeModule {
    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        let now = chrono::Local::now();
        match method {
            "time" => Ok(Value::from(now.timestamp_micros() as f64 / 1e6)),
            "strftime" => Ok(Value::from(strftime(&now, args)?)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn strftime(
    moment: &chrono::DateTime<chrono::Local>,
    args: &[Value],
) -> std::result::Result<String, Error> {
    let format = args.first().and_then(|f| f.as_str()).ok_or_else(|| {
        Error::new(
            ErrorKind::MissingArgument,
            "strftime() needs a format string",
        )
    })?;
    let items: Vec<_> = chrono::format::StrftimeItems::new(format).collect();
    if items.contains(&chrono::format::Item::Error) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("bad strftime format `{format}`"),
        ));
    }
    Ok(moment.format_with_items(items.into_iter()).to_string())
}

/// The `datetime` module: `datetime.datetime.now()`, `datetime.date.today()` and the
/// resulting objects' `.year`/`.month`/`.day`/`.strftime()`.
#[derive(Debug)]
enum Datetime {
    Module,
    Class {
        date_only: bool,
    },
    Moment {
        at: chrono::DateTime<chrono::Local>,
        date_only: bool,
    },
}

impl Object for Datetime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::{Datelike, Timelike};
        match (self.as_ref(), key.as_str()?) {
            (Datetime::Module, "datetime") => {
                Some(Value::from_object(Datetime::Class { date_only: false }))
            }
            (Datetime::Module, "date") => {
                Some(Value::from_object(Datetime::Class { date_only: true }))
            }
            (Datetime::Moment { at, .. }, field) => match field {
                "year" => Some(Value::from(at.year())),
                "month" => Some(Value::from(at.month())),
                "day" => Some(Value::from(at.day())),
                "hour" => Some(Value::from(at.hour())),
                "minute" => Some(Value::from(at.minute())),
                "second" => Some(Value::from(at.second())),
                _ => None,
            },
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> std::result::Result<Value, Error> {
        match (self.as_ref(), method) {
            (Datetime::Class { date_only }, "now" | "today" | "utcnow") => {
                Ok(Value::from_object(Datetime::Moment {
                    at: chrono::Local::now(),
                    date_only: *date_only,
                }))
            }
            (Datetime::Moment { at, .. }, "strftime") => Ok(Value::from(strftime(at, args)?)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_ref() {
            Datetime::Moment {
                at,
                date_only: true,
            } => write!(f, "{}", at.format("%Y-%m-%d")),
            Datetime::Moment {
                at,
                date_only: false,
            } => write!(f, "{}", at.format("%Y-%m-%d %H:%M:%S%.6f")),
            Datetime::Module => write!(f, "<module 'datetime'>"),
            Datetime::Class { .. } => write!(f, "<class 'datetime'>"),
        }
    }
}

fn py_to_value(value: &PyValue) -> Value {
    match value {
        PyValue::None => Value::from(()),
        PyValue::Bool(b) => Value::from(*b),
        PyValue::Int(i) => Value::from(*i),
        PyValue::Float(f) => Value::from(*f),
        PyValue::Str(s) => Value::from(s.as_str()),
        PyValue::List(items) | PyValue::Tuple(items) => {
            Value::from(items.iter().map(py_to_value).collect::<Vec<_>>())
        }
        PyValue::Dict(entries) => Value::from(
            entries
                .iter()
                .map(|(k, v)| (k.to_py_str(), py_to_value(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
        other => Value::from(other.to_py_str()),
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

fn add_functions(env: &mut Environment<'_>, shared: &Arc<Shared>) {
    let s = shared.clone();
    env.add_function("compiler", move |language: String| {
        s.target_package(&language, "compiler")
    });
    let s = shared.clone();
    env.add_function("stdlib", move |language: String| {
        s.target_package(&language, "stdlib")
    });
    let s = shared.clone();
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
    let s = shared.clone();
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
    let s = shared.clone();
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
    let s = shared.clone();
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
    let s = shared.clone();
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

/// Runs setup.py with `setup()` captured, like conda-build's `load_setup_py_data.py`; a stub
/// `setuptools` stands in when the interpreter has none.
const SETUP_PY_SHIM: &str = r#"
import json, os, sys, types
path = os.path.abspath(sys.argv[1])
captured = {}
def setup(**kwargs):
    captured.update(kwargs)
def find_packages(*args, **kwargs):
    return []
try:
    import setuptools
    setuptools.setup = setup
except ImportError:
    sys.modules["setuptools"] = types.ModuleType("setuptools")
    sys.modules["setuptools"].setup = setup
    sys.modules["setuptools"].find_packages = find_packages
try:
    import distutils.core
    distutils.core.setup = setup
except ImportError:
    pass
os.chdir(os.path.dirname(path))
sys.path.insert(0, os.getcwd())
sys.argv = [path]
exec(compile(open(path).read(), path, "exec"), {"__file__": path, "__name__": "__main__"})
def clean(v):
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [clean(x) for x in v]
    return str(v)
print(json.dumps(clean(captured)))
"#;

fn find_python(path_env: Option<&str>) -> Option<PathBuf> {
    let dirs = std::env::split_paths(path_env?).collect::<Vec<_>>();
    ["python3", "python", "python.exe"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

fn run_setup_py(
    path: &Path,
    path_env: Option<&str>,
) -> std::result::Result<serde_json::Value, Error> {
    let python = find_python(path_env).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            "load_setup_py_data() runs setup.py with Python, but no python3/python is on PATH",
        )
    })?;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(SETUP_PY_SHIM)
        .arg(path)
        .output()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot run {}: {e}", python.display()),
            )
        })?;
    if !out.status.success() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "load_setup_py_data(): {} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("load_setup_py_data(): bad output: {e}"),
        )
    })
}

/// Build variables conda-build exposes while rendering (`environ.get_dict`).
fn build_vars(input: &JinjaInput<'_>) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let win = input.host.target_platform.is_windows();
    let variant = |k: &str| match input.variant.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let prefix = input.host_prefix.to_string();
    let sep = if win { "\\" } else { "/" };
    vars.insert("CONDA_BUILD".into(), "1".into());
    vars.insert("CONDA_BUILD_STATE".into(), "RENDER".into());
    vars.insert("PREFIX".into(), prefix.clone());
    vars.insert("BUILD_PREFIX".into(), input.build_prefix.to_string());
    vars.insert("RECIPE_DIR".into(), input.recipe_dir.display().to_string());
    if let Some(src) = input.source_dir {
        vars.insert("SRC_DIR".into(), src.display().to_string());
    }
    let platform = input.host.target_platform;
    vars.insert("SUBDIR".into(), platform.as_str().into());
    vars.insert(
        "ARCH".into(),
        match platform.arch().map(|a| a.to_string()).as_deref() {
            Some("x86_64") => "64".into(),
            Some("x86") => "32".into(),
            Some(other) => other.into(),
            None => String::new(),
        },
    );
    vars.insert(
        "SHLIB_EXT".into(),
        if win {
            ".dll"
        } else if platform.is_osx() {
            ".dylib"
        } else {
            ".so"
        }
        .into(),
    );
    if let Some(python) = variant("python") {
        let py_ver: String = python
            .split_whitespace()
            .next()
            .unwrap_or("")
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let stdlib = if win {
            format!("{prefix}{sep}Lib")
        } else {
            format!("{prefix}/lib/python{py_ver}")
        };
        vars.insert("PY_VER".into(), py_ver.clone());
        vars.insert("CONDA_PY".into(), py_ver.replace('.', ""));
        vars.insert(
            "PY3K".into(),
            if py_ver.starts_with('3') { "1" } else { "0" }.into(),
        );
        vars.insert("SP_DIR".into(), format!("{stdlib}{sep}site-packages"));
        vars.insert("STDLIB_DIR".into(), stdlib);
        vars.insert(
            "PYTHON".into(),
            if win {
                format!("{prefix}\\python.exe")
            } else {
                format!("{prefix}/bin/python")
            },
        );
    }
    if let Some(numpy) = variant("numpy") {
        let npy: Vec<&str> = numpy.split('.').take(2).collect();
        vars.insert("NPY_VER".into(), npy.join("."));
        vars.insert("CONDA_NPY".into(), npy.join(""));
    }
    for (key, var, conda) in [
        ("perl", "PERL_VER", "CONDA_PERL"),
        ("lua", "LUA_VER", "CONDA_LUA"),
        ("r_base", "R_VER", "CONDA_R"),
    ] {
        if let Some(v) = variant(key) {
            vars.insert(var.into(), v.clone());
            vars.insert(conda.into(), v);
        }
    }
    vars.extend(input.git_vars.clone());
    let pkg = &input.package;
    if let Some(name) = &pkg.name {
        vars.insert("PKG_NAME".into(), name.clone());
    }
    if let Some(version) = &pkg.version {
        vars.insert("PKG_VERSION".into(), version.clone());
    }
    if let Some(number) = &pkg.build_number {
        vars.insert("PKG_BUILDNUM".into(), number.clone());
    }
    if pkg.name.is_some() {
        vars.insert("PKG_HASH".into(), PKG_HASH_PLACEHOLDER.into());
    }
    vars
}

/// The full Jinja context: selector names, build variables, variant keys (as strings), `environ`.
fn context(input: &JinjaInput<'_>) -> BTreeMap<String, Value> {
    let mut ctx: BTreeMap<String, Value> = selector_names(input.host, input.variant)
        .iter()
        .map(|(k, v)| (k.clone(), py_to_value(v)))
        .collect();
    let vars = build_vars(input);
    for (k, v) in &vars {
        ctx.insert(k.clone(), Value::from(v.as_str()));
    }
    for (k, v) in input.variant {
        ctx.insert(k.clone(), Value::from_serialize(v));
    }
    let mut environ: BTreeMap<String, String> = input.host.env.clone();
    environ.extend(vars);
    let environ = Value::from(environ);
    ctx.insert("environ".into(), environ.clone());
    ctx.insert("os".into(), Value::from_object(OsModule { environ }));
    ctx.insert("time".into(), Value::from_object(TimeModule));
    ctx.insert("datetime".into(), Value::from_object(Datetime::Module));
    ctx
}

/// The recipe functions registered by [`add_functions`].
const FUNCTIONS: [&str; 10] = [
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

/// Print values as Jinja2 does (Python's `str()`): `True`, `None`, `['a', 'b']`.
fn python_formatter(
    out: &mut minijinja::Output<'_>,
    state: &minijinja::State<'_, '_>,
    value: &Value,
) -> std::result::Result<(), Error> {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::Bool | ValueKind::None | ValueKind::Seq | ValueKind::Map => {
            fmt::Write::write_str(out, &python_repr(value, true)).map_err(Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

fn python_repr(value: &Value, top_level: bool) -> String {
    use minijinja::value::ValueKind;
    let items = || value.try_iter().into_iter().flatten();
    match value.kind() {
        ValueKind::Bool if value.is_true() => "True".into(),
        ValueKind::Bool => "False".into(),
        ValueKind::None | ValueKind::Undefined => "None".into(),
        ValueKind::String if !top_level => {
            format!(
                "'{}'",
                value
                    .as_str()
                    .unwrap_or_default()
                    .replace('\\', "\\\\")
                    .replace('\'', "\\'")
            )
        }
        ValueKind::Seq => format!(
            "[{}]",
            items()
                .map(|v| python_repr(&v, false))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ValueKind::Map => format!(
            "{{{}}}",
            items()
                .map(|k| {
                    let v = value.get_item(&k).unwrap_or_default();
                    format!("{}: {}", python_repr(&k, false), python_repr(&v, false))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => value.to_string(),
    }
}

/// Python methods on values: minijinja-contrib's pycompat plus `str.rsplit`, which recipes
/// use for versions (`version.rsplit('.', 1)[0]`).
fn python_methods(
    state: &minijinja::State<'_, '_>,
    value: &Value,
    method: &str,
    args: &[Value],
) -> std::result::Result<Value, Error> {
    // Lenient passes behave like conda-build's UndefinedNeverFail: `undefined.group(1)` is
    // undefined too, so a loader result that is not there yet does not stop the pass.
    if value.is_undefined() && state.env().undefined_behavior() != UndefinedBehavior::Strict {
        return Ok(Value::UNDEFINED);
    }
    if let ("rsplit", Some(s)) = (method, value.as_str()) {
        let sep = args.first().and_then(|a| a.as_str().map(String::from));
        let maxsplit = args
            .get(1)
            .and_then(|a| i64::try_from(a.clone()).ok())
            .unwrap_or(-1);
        let mut parts: Vec<String> = match (&sep, maxsplit) {
            (Some(sep), n) if n >= 0 => s
                .rsplitn(n as usize + 1, sep.as_str())
                .map(String::from)
                .collect(),
            (Some(sep), _) => s.rsplit(sep.as_str()).map(String::from).collect(),
            (None, _) => s.split_whitespace().rev().map(String::from).collect(),
        };
        parts.reverse();
        return Ok(Value::from(parts));
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

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
    let shared = Arc::new(Shared {
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
    add_functions(&mut env, &shared);
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
