//! What a selector can call or look into: the builtins (`int`, `len`, ...), the restricted `os`
//! module, `str`/`dict`/`list` methods, subscripts and slices.

use super::eval::EvalResult;
use super::eval::Names;
use super::value::{py_eq, PyValue};

fn environ_dict(names: &Names) -> PyValue {
    names
        .get("environ")
        .cloned()
        .unwrap_or(PyValue::Dict(Vec::new()))
}

pub(super) fn attribute(target: PyValue, name: &str, names: &Names) -> EvalResult {
    const STR_METHODS: [&str; 13] = [
        "startswith",
        "endswith",
        "split",
        "rsplit",
        "strip",
        "lstrip",
        "rstrip",
        "lower",
        "upper",
        "join",
        "replace",
        "index",
        "count",
    ];
    match (&target, name) {
        (PyValue::OsModule, "environ") => Ok(environ_dict(names)),
        (PyValue::OsModule, "getenv") => {
            Ok(PyValue::Method(Box::new(environ_dict(names)), "get".into()))
        }
        (PyValue::OsModule, "sep") => Ok(PyValue::Str(std::path::MAIN_SEPARATOR.to_string())),
        (PyValue::OsModule, "pathsep") => {
            Ok(PyValue::Str(if cfg!(windows) { ";" } else { ":" }.into()))
        }
        (PyValue::Str(_), m) if STR_METHODS.contains(&m) => {
            Ok(PyValue::Method(Box::new(target), name.into()))
        }
        (PyValue::Dict(_), "get" | "items" | "keys" | "values") => {
            Ok(PyValue::Method(Box::new(target), name.into()))
        }
        (PyValue::List(_) | PyValue::Tuple(_), "index" | "count") => {
            Ok(PyValue::Method(Box::new(target), name.into()))
        }
        _ => Err(format!(
            "'{}' object has no attribute '{name}' (or it is not allowed in selectors)",
            target.type_name()
        )),
    }
}

fn str_arg(args: &[PyValue], index: usize) -> Option<&str> {
    match args.get(index) {
        Some(PyValue::Str(s)) => Some(s),
        _ => None,
    }
}

fn split_str(s: &str, sep: Option<&str>, maxsplit: i64, from_right: bool) -> Vec<PyValue> {
    let limit = if maxsplit < 0 {
        usize::MAX
    } else {
        maxsplit as usize + 1
    };
    let parts: Vec<String> = match (sep, from_right) {
        (Some(sep), false) => s.splitn(limit, sep).map(String::from).collect(),
        (Some(sep), true) => {
            let mut v: Vec<String> = s.rsplitn(limit, sep).map(String::from).collect();
            v.reverse();
            v
        }
        (None, _) => s.split_whitespace().map(String::from).collect(),
    };
    parts.into_iter().map(PyValue::Str).collect()
}

pub(super) fn call(target: PyValue, args: Vec<PyValue>) -> EvalResult {
    match target {
        PyValue::Builtin(name) => call_builtin(name, args),
        PyValue::Method(receiver, name) => call_method(*receiver, &name, args),
        other => Err(format!("'{}' object is not callable", other.type_name())),
    }
}

fn call_builtin(name: &str, args: Vec<PyValue>) -> EvalResult {
    let first = args.first().cloned();
    Ok(match (name, first) {
        ("int", Some(PyValue::Str(s))) => PyValue::Int(
            s.trim()
                .parse()
                .map_err(|_| format!("invalid literal for int() with base 10: '{s}'"))?,
        ),
        ("int", Some(PyValue::Float(f))) => PyValue::Int(f.trunc() as i64),
        ("int", Some(v)) => PyValue::Int(v.as_i64().ok_or("int() argument must be a number")?),
        ("float", Some(PyValue::Str(s))) => PyValue::Float(
            s.trim()
                .parse()
                .map_err(|_| format!("could not convert string to float: '{s}'"))?,
        ),
        ("float", Some(v)) => {
            PyValue::Float(v.as_f64().ok_or("float() argument must be a number")?)
        }
        ("len", Some(PyValue::Str(s))) => PyValue::Int(s.chars().count() as i64),
        ("len", Some(PyValue::List(v) | PyValue::Tuple(v))) => PyValue::Int(v.len() as i64),
        ("len", Some(PyValue::Dict(v))) => PyValue::Int(v.len() as i64),
        ("str", Some(v)) => PyValue::Str(v.to_py_str()),
        ("str", None) => PyValue::Str(String::new()),
        ("bool", v) => PyValue::Bool(v.is_some_and(|v| v.truthy())),
        ("list" | "tuple", v) => {
            let items = match v {
                None => Vec::new(),
                Some(PyValue::List(v) | PyValue::Tuple(v)) => v,
                Some(PyValue::Str(s)) => s.chars().map(|c| PyValue::Str(c.to_string())).collect(),
                Some(PyValue::Dict(e)) => e.into_iter().map(|(k, _)| k).collect(),
                Some(other) => {
                    return Err(format!("'{}' object is not iterable", other.type_name()))
                }
            };
            if name == "list" {
                PyValue::List(items)
            } else {
                PyValue::Tuple(items)
            }
        }
        ("dict", None) => PyValue::Dict(Vec::new()),
        ("dict", Some(d @ PyValue::Dict(_))) => d,
        (name, _) => return Err(format!("bad arguments for {name}()")),
    })
}

fn call_method(receiver: PyValue, name: &str, args: Vec<PyValue>) -> EvalResult {
    match receiver {
        PyValue::Str(s) => {
            let arg0 = str_arg(&args, 0);
            Ok(match name {
                "startswith" | "endswith" => {
                    let candidates: Vec<String> = match args.first() {
                        Some(PyValue::Str(p)) => vec![p.clone()],
                        Some(PyValue::Tuple(items)) => {
                            items.iter().map(PyValue::to_py_str).collect()
                        }
                        _ => return Err(format!("{name} first arg must be str or a tuple of str")),
                    };
                    PyValue::Bool(candidates.iter().any(|p| {
                        if name == "startswith" {
                            s.starts_with(p.as_str())
                        } else {
                            s.ends_with(p.as_str())
                        }
                    }))
                }
                "split" | "rsplit" => {
                    let maxsplit = args.get(1).and_then(PyValue::as_i64).unwrap_or(-1);
                    PyValue::List(split_str(&s, arg0, maxsplit, name == "rsplit"))
                }
                "strip" | "lstrip" | "rstrip" => {
                    let chars: Vec<char> = match arg0 {
                        Some(set) => set.chars().collect(),
                        None => Vec::new(),
                    };
                    let pred = |c: char| {
                        if chars.is_empty() {
                            c.is_whitespace()
                        } else {
                            chars.contains(&c)
                        }
                    };
                    PyValue::Str(
                        match name {
                            "strip" => s.trim_matches(pred),
                            "lstrip" => s.trim_start_matches(pred),
                            _ => s.trim_end_matches(pred),
                        }
                        .to_string(),
                    )
                }
                "lower" => PyValue::Str(s.to_lowercase()),
                "upper" => PyValue::Str(s.to_uppercase()),
                "replace" => match (arg0, str_arg(&args, 1)) {
                    (Some(a), Some(b)) => PyValue::Str(s.replace(a, b)),
                    _ => return Err("replace() takes two strings".into()),
                },
                "join" => match args.first() {
                    Some(PyValue::List(items) | PyValue::Tuple(items)) => PyValue::Str(
                        items
                            .iter()
                            .map(PyValue::to_py_str)
                            .collect::<Vec<_>>()
                            .join(&s),
                    ),
                    _ => return Err("join() takes a list".into()),
                },
                "index" => match arg0.and_then(|sub| s.find(sub)) {
                    Some(pos) => PyValue::Int(s[..pos].chars().count() as i64),
                    None => return Err("substring not found".into()),
                },
                _ => PyValue::Int(arg0.map(|sub| s.matches(sub).count()).unwrap_or(0) as i64),
            })
        }
        PyValue::Dict(entries) => Ok(match name {
            "get" => {
                let key = args.first().ok_or("get expected at least 1 argument")?;
                entries
                    .iter()
                    .find(|(k, _)| py_eq(k, key))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| args.get(1).cloned().unwrap_or(PyValue::None))
            }
            "keys" => PyValue::List(entries.into_iter().map(|(k, _)| k).collect()),
            "values" => PyValue::List(entries.into_iter().map(|(_, v)| v).collect()),
            _ => PyValue::List(
                entries
                    .into_iter()
                    .map(|(k, v)| PyValue::Tuple(vec![k, v]))
                    .collect(),
            ),
        }),
        PyValue::List(items) | PyValue::Tuple(items) => {
            let needle = args.first().ok_or("expected one argument")?;
            if name == "index" {
                items
                    .iter()
                    .position(|i| py_eq(i, needle))
                    .map(|p| PyValue::Int(p as i64))
                    .ok_or_else(|| "x not in list".to_string())
            } else {
                Ok(PyValue::Int(
                    items.iter().filter(|i| py_eq(i, needle)).count() as i64,
                ))
            }
        }
        other => Err(format!("'{}' has no method {name}", other.type_name())),
    }
}

fn py_index(len: usize, index: i64) -> Option<usize> {
    let resolved = if index < 0 { len as i64 + index } else { index };
    (0..len as i64)
        .contains(&resolved)
        .then_some(resolved as usize)
}

pub(super) fn subscript(target: PyValue, index: PyValue) -> EvalResult {
    match (&target, &index) {
        (PyValue::Dict(entries), key) => entries
            .iter()
            .find(|(k, _)| py_eq(k, key))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("KeyError: {}", key.repr())),
        (PyValue::Str(s), i) => {
            let chars: Vec<char> = s.chars().collect();
            let i = i.as_i64().ok_or("string indices must be integers")?;
            py_index(chars.len(), i)
                .map(|p| PyValue::Str(chars[p].to_string()))
                .ok_or_else(|| "string index out of range".into())
        }
        (PyValue::List(items) | PyValue::Tuple(items), i) => {
            let i = i.as_i64().ok_or("list indices must be integers")?;
            py_index(items.len(), i)
                .map(|p| items[p].clone())
                .ok_or_else(|| "list index out of range".into())
        }
        _ => Err(format!(
            "'{}' object is not subscriptable",
            target.type_name()
        )),
    }
}

pub(super) fn slice(target: PyValue, start: Option<i64>, end: Option<i64>) -> EvalResult {
    let clamp = |len: usize, v: Option<i64>, default: usize| -> usize {
        match v {
            None => default,
            Some(v) if v < 0 => (len as i64 + v).max(0) as usize,
            Some(v) => (v as usize).min(len),
        }
    };
    match target {
        PyValue::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            let (a, b) = (
                clamp(chars.len(), start, 0),
                clamp(chars.len(), end, chars.len()),
            );
            Ok(PyValue::Str(if a < b {
                chars[a..b].iter().collect()
            } else {
                String::new()
            }))
        }
        PyValue::List(items) | PyValue::Tuple(items) => {
            let (a, b) = (
                clamp(items.len(), start, 0),
                clamp(items.len(), end, items.len()),
            );
            Ok(PyValue::List(if a < b {
                items[a..b].to_vec()
            } else {
                Vec::new()
            }))
        }
        other => Err(format!(
            "'{}' object is not subscriptable",
            other.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{errors, values};

    #[test]
    fn builtins() {
        values(&[
            ("int(' 42 ') + int(2.9) + int(True)", "45"),
            ("float('1.5')", "1.5"),
            ("float(2)", "2.0"),
            ("len(v) + len([1, 2]) + len({'a': 1})", "8"),
            ("str(None) + str(1.0) + str()", "None1.0"),
            ("bool('') or bool()", "False"),
            ("list('ab')", "['a', 'b']"),
            ("tuple([1])", "(1,)"),
            ("list({'k': 1})", "['k']"),
            ("dict()", "{}"),
        ]);
        errors(&[
            ("int('x')", "invalid literal for int() with base 10: 'x'"),
            ("list(1)", "'int' object is not iterable"),
            ("len(1)", "bad arguments for len()"),
            ("v()", "'str' object is not callable"),
        ]);
    }

    #[test]
    fn string_methods() {
        values(&[
            ("v.split('.')", "['1', '2', '3']"),
            ("v.split('.', 1)", "['1', '2.3']"),
            ("v.rsplit('.', 1)", "['1.2', '3']"),
            ("' a  b '.split()", "['a', 'b']"),
            (
                "'xxaxx'.strip('x') + ' a '.lstrip() + '|' + ' a '.rstrip()",
                "aa | a",
            ),
            ("'Ab'.lower() + 'Ab'.upper()", "abAB"),
            ("'-'.join(['a', 1])", "a-1"),
            ("v.replace('.', '')", "123"),
            ("v.index('2') + v.count('.')", "4"),
            ("v.startswith(('0', '1')) and v.endswith('3')", "True"),
        ]);
        errors(&[
            ("v.index('9')", "substring not found"),
            (
                "v.startswith(1)",
                "startswith first arg must be str or a tuple of str",
            ),
            (
                "v.format()",
                "'str' object has no attribute 'format' (or it is not allowed in selectors)",
            ),
        ]);
    }

    #[test]
    fn dict_list_and_os_methods() {
        values(&[
            ("environ.get('A')", "1"),
            ("environ.get('B')", "None"),
            ("environ.keys() + environ.values()", "['A', '1']"),
            ("environ.items()", "[('A', '1')]"),
            ("[1, 2, 2].count(2) + [1, 2].index(2)", "3"),
        ]);
        values(&[
            ("os.environ.get('A')", "1"),
            ("os.getenv('A')", "1"),
            ("os.sep", std::path::MAIN_SEPARATOR_STR),
        ]);
        errors(&[
            ("[1].index(5)", "x not in list"),
            (
                "os.system",
                "'module' object has no attribute 'system' (or it is not allowed in selectors)",
            ),
        ]);
    }
}
