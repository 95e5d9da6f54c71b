//! Python values as selectors see them: `str()`/`repr()`, truthiness, equality and ordering
//! with Python's rules (numbers compare across int/float/bool; no ordering between types).

/// A Python value as the selector language sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    Tuple(Vec<PyValue>),
    Dict(Vec<(PyValue, PyValue)>),
    /// The restricted `os` module: `os.environ`, `os.getenv`, `os.sep`, `os.pathsep`.
    OsModule,
    /// A builtin (`int`, `len`, ...) or a bound method waiting for its call.
    Builtin(&'static str),
    Method(Box<PyValue>, String),
}

impl PyValue {
    pub fn truthy(&self) -> bool {
        match self {
            PyValue::None => false,
            PyValue::Bool(b) => *b,
            PyValue::Int(i) => *i != 0,
            PyValue::Float(f) => *f != 0.0,
            PyValue::Str(s) => !s.is_empty(),
            PyValue::List(v) | PyValue::Tuple(v) => !v.is_empty(),
            PyValue::Dict(v) => !v.is_empty(),
            _ => true,
        }
    }

    pub(super) fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Str(_) => "str",
            PyValue::List(_) => "list",
            PyValue::Tuple(_) => "tuple",
            PyValue::Dict(_) => "dict",
            PyValue::OsModule => "module",
            PyValue::Builtin(_) | PyValue::Method(..) => "builtin_function_or_method",
        }
    }

    /// Python's `str()`.
    pub fn to_py_str(&self) -> String {
        match self {
            PyValue::None => "None".into(),
            PyValue::Bool(true) => "True".into(),
            PyValue::Bool(false) => "False".into(),
            PyValue::Int(i) => i.to_string(),
            PyValue::Float(f) if f.fract() == 0.0 && f.is_finite() => format!("{f:.1}"),
            PyValue::Float(f) => f.to_string(),
            PyValue::Str(s) => s.clone(),
            PyValue::List(items) => format!("[{}]", repr_items(items)),
            PyValue::Tuple(items) if items.len() == 1 => format!("({},)", repr_items(items)),
            PyValue::Tuple(items) => format!("({})", repr_items(items)),
            PyValue::Dict(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.repr(), v.repr()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PyValue::OsModule => "<module 'os'>".into(),
            PyValue::Builtin(name) => format!("<built-in function {name}>"),
            PyValue::Method(_, name) => format!("<built-in method {name}>"),
        }
    }

    pub(super) fn repr(&self) -> String {
        match self {
            PyValue::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            other => other.to_py_str(),
        }
    }

    pub(super) fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Bool(b) => Some(f64::from(u8::from(*b))),
            PyValue::Int(i) => Some(*i as f64),
            PyValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub(super) fn as_i64(&self) -> Option<i64> {
        match self {
            PyValue::Bool(b) => Some(i64::from(*b)),
            PyValue::Int(i) => Some(*i),
            _ => None,
        }
    }
}

fn repr_items(items: &[PyValue]) -> String {
    items
        .iter()
        .map(PyValue::repr)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn py_eq(a: &PyValue, b: &PyValue) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => match (a, b) {
            (PyValue::List(x), PyValue::List(y)) | (PyValue::Tuple(x), PyValue::Tuple(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
            }
            _ => a == b,
        },
    }
}

pub(super) fn py_order(
    a: &PyValue,
    b: &PyValue,
) -> std::result::Result<std::cmp::Ordering, String> {
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        return x
            .partial_cmp(&y)
            .ok_or_else(|| "cannot compare NaN".to_string());
    }
    match (a, b) {
        (PyValue::Str(x), PyValue::Str(y)) => Ok(x.cmp(y)),
        (PyValue::List(x), PyValue::List(y)) | (PyValue::Tuple(x), PyValue::Tuple(y)) => {
            for (p, q) in x.iter().zip(y) {
                if !py_eq(p, q) {
                    return py_order(p, q);
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        _ => Err(format!(
            "'<' not supported between instances of '{}' and '{}'",
            a.type_name(),
            b.type_name()
        )),
    }
}

pub(super) fn contains(container: &PyValue, item: &PyValue) -> std::result::Result<bool, String> {
    match container {
        PyValue::Str(s) => match item {
            PyValue::Str(sub) => Ok(s.contains(sub.as_str())),
            other => Err(format!(
                "'in <string>' requires string as left operand, not {}",
                other.type_name()
            )),
        },
        PyValue::List(items) | PyValue::Tuple(items) => Ok(items.iter().any(|i| py_eq(i, item))),
        PyValue::Dict(entries) => Ok(entries.iter().any(|(k, _)| py_eq(k, item))),
        other => Err(format!(
            "argument of type '{}' is not iterable",
            other.type_name()
        )),
    }
}
