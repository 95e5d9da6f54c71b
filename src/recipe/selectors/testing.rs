//! Helpers of the evaluator's unit tests: a namespace and table checks.

use super::eval::{eval, EvalResult, Names};
use super::parser::parse;
use super::value::PyValue;

/// The names the tests see.
fn names() -> Names {
    let mut names = Names::new();
    names.insert("py".into(), PyValue::Int(312));
    names.insert("linux".into(), PyValue::Bool(true));
    names.insert("version".into(), PyValue::Str("1.2.3".into()));
    names.insert("v".into(), PyValue::Str("1.2.3".into()));
    names.insert(
        "environ".into(),
        PyValue::Dict(vec![(PyValue::Str("A".into()), PyValue::Str("1".into()))]),
    );
    names
}

fn ev(src: &str) -> EvalResult {
    eval(&parse(src)?, &names())
}

/// Each expression evaluates to a value whose `str()` is the expected text.
pub(super) fn values(cases: &[(&str, &str)]) {
    for (expr, want) in cases {
        let value = ev(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(value.to_py_str(), *want, "{expr}");
    }
}

/// Each expression fails with the expected message.
pub(super) fn errors(cases: &[(&str, &str)]) {
    for (expr, want) in cases {
        assert_eq!(ev(expr).unwrap_err(), *want, "{expr}");
    }
}
