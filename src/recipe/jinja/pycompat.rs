//! Jinja2's Python behaviour on minijinja values: printing with `str()`, Python string methods,
//! and selector values turned into template values.

use crate::recipe::selectors::PyValue;
use minijinja::value::Value;
use minijinja::{Error, UndefinedBehavior};
use std::collections::BTreeMap;
use std::fmt;

/// A selector value as a template value (tuples become lists, dict keys strings).
pub(super) fn py_to_value(value: &PyValue) -> Value {
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

/// Print values as Jinja2 does (Python's `str()`): `True`, `None`, `['a', 'b']`.
pub(super) fn python_formatter(
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
pub(super) fn python_methods(
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
