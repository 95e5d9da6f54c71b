//! Evaluating a parsed selector: names from the namespace (unknown ones are False, as
//! conda-build's NameError retry makes them), short-circuit `and`/`or`, chained comparisons.

use super::objects::{attribute, call, slice, subscript};
use super::parser::Expr;
use super::value::{contains, py_eq, py_order, PyValue};
use std::collections::HashMap;

/// The names in scope of a selector.
pub(super) type Names = HashMap<String, PyValue>;

pub(super) type EvalResult = std::result::Result<PyValue, String>;

/// Evaluate `expr` with `names` in scope.
pub(super) fn eval(expr: &Expr, names: &Names) -> EvalResult {
    Ok(match expr {
        Expr::Const(v) => v.clone(),
        Expr::Name(name) => match names.get(name) {
            Some(v) => v.clone(),
            None => match name.as_str() {
                "os" => PyValue::OsModule,
                "int" | "float" | "len" | "str" | "list" | "dict" | "tuple" | "bool" => {
                    PyValue::Builtin(builtin_name(name))
                }
                // conda-build replaces an unknown name with False and evaluates again.
                _ => PyValue::Bool(false),
            },
        },
        Expr::List(items) => PyValue::List(eval_all(items, names)?),
        Expr::Tuple(items) => PyValue::Tuple(eval_all(items, names)?),
        Expr::Dict(entries) => PyValue::Dict(
            entries
                .iter()
                .map(|(k, v)| Ok((eval(k, names)?, eval(v, names)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        Expr::Not(inner) => PyValue::Bool(!eval(inner, names)?.truthy()),
        Expr::Neg(inner) => match eval(inner, names)? {
            PyValue::Int(i) => PyValue::Int(-i),
            PyValue::Bool(b) => PyValue::Int(-i64::from(b)),
            PyValue::Float(f) => PyValue::Float(-f),
            other => {
                return Err(format!(
                    "bad operand type for unary -: '{}'",
                    other.type_name()
                ))
            }
        },
        Expr::And(a, b) => {
            let left = eval(a, names)?;
            if left.truthy() {
                eval(b, names)?
            } else {
                left
            }
        }
        Expr::Or(a, b) => {
            let left = eval(a, names)?;
            if left.truthy() {
                left
            } else {
                eval(b, names)?
            }
        }
        Expr::Compare(first, rest) => {
            let mut left = eval(first, names)?;
            for (op, right_expr) in rest {
                let right = eval(right_expr, names)?;
                if !compare(op, &left, &right)? {
                    return Ok(PyValue::Bool(false));
                }
                left = right;
            }
            PyValue::Bool(true)
        }
        Expr::Binary(op, a, b) => binary(op, eval(a, names)?, eval(b, names)?)?,
        Expr::Attr(target, name) => attribute(eval(target, names)?, name, names)?,
        Expr::Call(target, args) => call(eval(target, names)?, eval_all(args, names)?)?,
        Expr::Index(target, index) => subscript(eval(target, names)?, eval(index, names)?)?,
        Expr::Slice(target, start, end) => {
            let target = eval(target, names)?;
            let bound = |e: &Option<Box<Expr>>| -> std::result::Result<Option<i64>, String> {
                e.as_ref()
                    .map(|e| {
                        eval(e, names)?
                            .as_i64()
                            .ok_or_else(|| "slice indices must be integers".to_string())
                    })
                    .transpose()
            };
            slice(target, bound(start)?, bound(end)?)?
        }
    })
}

fn builtin_name(name: &str) -> &'static str {
    match name {
        "int" => "int",
        "float" => "float",
        "len" => "len",
        "str" => "str",
        "list" => "list",
        "dict" => "dict",
        "tuple" => "tuple",
        _ => "bool",
    }
}

fn eval_all(items: &[Expr], names: &Names) -> std::result::Result<Vec<PyValue>, String> {
    items.iter().map(|e| eval(e, names)).collect()
}

fn compare(op: &str, a: &PyValue, b: &PyValue) -> std::result::Result<bool, String> {
    use std::cmp::Ordering::*;
    Ok(match op {
        "==" => py_eq(a, b),
        "!=" => !py_eq(a, b),
        "<" => py_order(a, b)? == Less,
        ">" => py_order(a, b)? == Greater,
        "<=" => py_order(a, b)? != Greater,
        ">=" => py_order(a, b)? != Less,
        "in" => contains(b, a)?,
        "not in" => !contains(b, a)?,
        "is" => a == b,
        _ => a != b,
    })
}

fn binary(op: &str, a: PyValue, b: PyValue) -> EvalResult {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Ok(match op {
            "+" => PyValue::Int(x + y),
            "-" => PyValue::Int(x - y),
            "*" => PyValue::Int(x * y),
            "/" if y != 0 => PyValue::Float(x as f64 / y as f64),
            "//" if y != 0 => PyValue::Int(x.div_euclid(y)),
            "%" if y != 0 => PyValue::Int(x.rem_euclid(y)),
            _ => return Err("division by zero".into()),
        });
    }
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        return Ok(PyValue::Float(match op {
            "+" => x + y,
            "-" => x - y,
            "*" => x * y,
            "/" => x / y,
            "//" => (x / y).floor(),
            _ => x % y,
        }));
    }
    match (op, a, b) {
        ("+", PyValue::Str(x), PyValue::Str(y)) => Ok(PyValue::Str(x + &y)),
        ("+", PyValue::List(mut x), PyValue::List(y)) => {
            x.extend(y);
            Ok(PyValue::List(x))
        }
        (op, a, b) => Err(format!(
            "unsupported operand type(s) for {op}: '{}' and '{}'",
            a.type_name(),
            b.type_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{errors, values};

    #[test]
    fn and_or_return_an_operand_and_short_circuit() {
        values(&[
            ("0 or 'x'", "x"),
            ("'' and missing", ""),
            ("linux and py", "312"),
        ]);
        // The right side would fail (int < str) if it were evaluated.
        values(&[
            ("linux or py < 'a'", "True"),
            ("not linux and py < 'a'", "False"),
        ]);
    }

    #[test]
    fn names_unknown_are_false_and_builtins_resolve() {
        values(&[
            ("no_such_name", "False"),
            ("os", "<module 'os'>"),
            ("len", "<built-in function len>"),
            ("os.environ['A']", "1"),
            ("os.getenv('NOPE', 'fallback')", "fallback"),
        ]);
    }

    #[test]
    fn arithmetic_is_pythons() {
        values(&[
            ("7 // 2", "3"),
            // Floor division rounds down; modulo takes the divisor's sign.
            ("-7 // 2", "-4"),
            ("-7 % 3", "2"),
            ("7 / 2", "3.5"),
            ("4 / 2", "2.0"),
            ("True + 1", "2"),
            ("1.5 * 2", "3.0"),
            ("'a' + 'b'", "ab"),
            ("[1] + [2]", "[1, 2]"),
            ("-True", "-1"),
        ]);
        errors(&[
            ("1 / 0", "division by zero"),
            (
                "'a' - 1",
                "unsupported operand type(s) for -: 'str' and 'int'",
            ),
            ("-'a'", "bad operand type for unary -: 'str'"),
        ]);
    }

    #[test]
    fn comparisons_chain_and_compare_across_number_types() {
        values(&[
            ("1 == 1.0 == True", "True"),
            ("1 < 2 > 3", "False"),
            ("(1, 2) < (1, 3)", "True"),
            ("[1, 2] < [1, 2, 0]", "True"),
            ("'abc' < 'abd'", "True"),
            ("None is None", "True"),
            ("1 is not None", "True"),
            ("'A' in environ", "True"),
            ("2 not in [1, 2]", "False"),
        ]);
        errors(&[
            (
                "py < 'a'",
                "'<' not supported between instances of 'int' and 'str'",
            ),
            (
                "1 in 'abc'",
                "'in <string>' requires string as left operand, not int",
            ),
            ("1 in 2", "argument of type 'int' is not iterable"),
        ]);
    }

    #[test]
    fn containers_and_indexing() {
        values(&[
            ("[1, 'a', None]", "[1, 'a', None]"),
            ("(1,)", "(1,)"),
            ("{'k': 'v'}", "{'k': 'v'}"),
            ("version[-1]", "3"),
            ("version[2:]", "2.3"),
            ("version[:-2]", "1.2"),
            ("[1, 2, 3][1:99]", "[2, 3]"),
            ("version[3:1]", ""),
        ]);
        errors(&[
            ("version[9]", "string index out of range"),
            ("[1][1]", "list index out of range"),
            ("{'a': 1}['b']", "KeyError: 'b'"),
            ("py[0]", "'int' object is not subscriptable"),
            ("version['a':]", "slice indices must be integers"),
        ]);
    }
}
