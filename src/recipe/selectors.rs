//! Line selectors (`# [expr]`, the `#` optional) and the restricted Python expression language
//! conda-build evaluates them with (`metadata.py: select_lines`, `eval_selector`,
//! `get_selectors`). Unknown names are False, as conda-build's NameError retry makes them.

use super::error::{Location, RecipeError, Result};
use regex::Regex;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

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

    fn type_name(&self) -> &'static str {
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

    fn repr(&self) -> String {
        match self {
            PyValue::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            other => other.to_py_str(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Bool(b) => Some(f64::from(u8::from(*b))),
            PyValue::Int(i) => Some(*i as f64),
            PyValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
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
        let tokens = tokenize(expr)?;
        let mut parser = ExprParser { tokens, pos: 0 };
        let ast = parser.expression()?;
        if parser.pos != parser.tokens.len() {
            return Err(format!(
                "invalid syntax near {:?}",
                parser.tokens[parser.pos]
            ));
        }
        eval(&ast, self)
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

// ---------------------------------------------------------------------------------------------
// Tokenizer and parser for the expression subset conda-build's evalidate allow-list accepts.

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Op(&'static str),
}

const OPERATORS: [&str; 22] = [
    "==", "!=", "<=", ">=", "//", "**", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":", "+",
    "-", "*", "/", "%",
];

fn tokenize(src: &str) -> std::result::Result<Vec<Token>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Name(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            tokens.push(if text.contains('.') {
                Token::Float(text.parse().map_err(|_| format!("bad number {text}"))?)
            } else {
                Token::Int(text.parse().map_err(|_| format!("bad number {text}"))?)
            });
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some(q) if *q == c => break,
                    Some('\\') => {
                        i += 1;
                        match chars.get(i) {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(other) => s.push(*other),
                            None => return Err("unterminated string".into()),
                        }
                    }
                    Some(other) => s.push(*other),
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::Str(s));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPERATORS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| format!("unexpected character `{c}`"))?;
            i += op.len();
            tokens.push(Token::Op(op));
        }
    }
    Ok(tokens)
}

#[derive(Debug, Clone)]
enum Expr {
    Const(PyValue),
    Name(String),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Vec<(String, Expr)>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Attr(Box<Expr>, String),
    Call(Box<Expr>, Vec<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>),
}

struct ExprParser {
    tokens: Vec<Token>,
    pos: usize,
}

impl ExprParser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Token::Op(o)) if *o == op)
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Token::Name(n)) if n == name)
    }

    fn expect_op(&mut self, op: &str) -> std::result::Result<(), String> {
        if self.is_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected `{op}`"))
        }
    }

    /// A top-level expression; a bare comma makes a tuple as in Python.
    fn expression(&mut self) -> std::result::Result<Expr, String> {
        let first = self.or_test()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_op(",") {
            self.pos += 1;
            if self.peek().is_none() || self.is_op(")") {
                break;
            }
            items.push(self.or_test()?);
        }
        Ok(Expr::Tuple(items))
    }

    fn or_test(&mut self) -> std::result::Result<Expr, String> {
        let mut left = self.and_test()?;
        while self.is_name("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and_test()?));
        }
        Ok(left)
    }

    fn and_test(&mut self) -> std::result::Result<Expr, String> {
        let mut left = self.not_test()?;
        while self.is_name("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.not_test()?));
        }
        Ok(left)
    }

    fn not_test(&mut self) -> std::result::Result<Expr, String> {
        if self.is_name("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not_test()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> std::result::Result<Expr, String> {
        let left = self.arith()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Some(Token::Op(op @ ("==" | "!=" | "<" | ">" | "<=" | ">="))) => op.to_string(),
                Some(Token::Name(n)) if n == "in" => "in".into(),
                Some(Token::Name(n)) if n == "is" => {
                    if matches!(self.tokens.get(self.pos + 1), Some(Token::Name(n)) if n == "not") {
                        self.pos += 1;
                        "is not".into()
                    } else {
                        "is".into()
                    }
                }
                Some(Token::Name(n))
                    if n == "not"
                        && matches!(self.tokens.get(self.pos + 1), Some(Token::Name(m)) if m == "in") =>
                {
                    self.pos += 1;
                    "not in".into()
                }
                _ => break,
            };
            self.pos += 1;
            rest.push((op, self.arith()?));
        }
        Ok(if rest.is_empty() {
            left
        } else {
            Expr::Compare(Box::new(left), rest)
        })
    }

    fn arith(&mut self) -> std::result::Result<Expr, String> {
        let mut left = self.term()?;
        while let Some(Token::Op(op @ ("+" | "-"))) = self.peek() {
            let op = *op;
            self.pos += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> std::result::Result<Expr, String> {
        let mut left = self.factor()?;
        while let Some(Token::Op(op @ ("*" | "/" | "//" | "%"))) = self.peek() {
            let op = *op;
            self.pos += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> std::result::Result<Expr, String> {
        if self.is_op("-") {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.factor()?)));
        }
        if self.is_op("+") {
            self.pos += 1;
            return self.factor();
        }
        self.postfix()
    }

    fn postfix(&mut self) -> std::result::Result<Expr, String> {
        let mut expr = self.atom()?;
        loop {
            if self.is_op(".") {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Token::Name(name)) => {
                        self.pos += 1;
                        expr = Expr::Attr(Box::new(expr), name);
                    }
                    _ => return Err("expected an attribute name after `.`".into()),
                }
            } else if self.is_op("(") {
                self.pos += 1;
                let args = self.items(")")?;
                expr = Expr::Call(Box::new(expr), args);
            } else if self.is_op("[") {
                self.pos += 1;
                let start = if self.is_op(":") {
                    None
                } else {
                    Some(Box::new(self.or_test()?))
                };
                if self.is_op(":") {
                    self.pos += 1;
                    let end = if self.is_op("]") {
                        None
                    } else {
                        Some(Box::new(self.or_test()?))
                    };
                    self.expect_op("]")?;
                    expr = Expr::Slice(Box::new(expr), start, end);
                } else {
                    self.expect_op("]")?;
                    let index = start.ok_or("empty subscript")?;
                    expr = Expr::Index(Box::new(expr), index);
                }
            } else {
                return Ok(expr);
            }
        }
    }

    /// Comma-separated expressions up to `close` (consumed).
    fn items(&mut self, close: &str) -> std::result::Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        while !self.is_op(close) {
            items.push(self.or_test()?);
            if self.is_op(",") {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.expect_op(close)?;
        Ok(items)
    }

    fn atom(&mut self) -> std::result::Result<Expr, String> {
        let token = self.peek().cloned().ok_or("unexpected end of selector")?;
        self.pos += 1;
        Ok(match token {
            Token::Int(i) => Expr::Const(PyValue::Int(i)),
            Token::Float(f) => Expr::Const(PyValue::Float(f)),
            Token::Str(mut s) => {
                // Adjacent string literals concatenate.
                while let Some(Token::Str(next)) = self.peek() {
                    s.push_str(next);
                    self.pos += 1;
                }
                Expr::Const(PyValue::Str(s))
            }
            Token::Name(name) => match name.as_str() {
                "True" => Expr::Const(PyValue::Bool(true)),
                "False" => Expr::Const(PyValue::Bool(false)),
                "None" => Expr::Const(PyValue::None),
                "and" | "or" | "not" | "in" | "is" | "lambda" | "import" => {
                    return Err(format!("invalid syntax: unexpected `{name}`"))
                }
                _ => Expr::Name(name),
            },
            Token::Op("(") => {
                if self.is_op(")") {
                    self.pos += 1;
                    return Ok(Expr::Tuple(Vec::new()));
                }
                let inner = self.expression()?;
                self.expect_op(")")?;
                inner
            }
            Token::Op("[") => Expr::List(self.items("]")?),
            Token::Op("{") => {
                let mut entries = Vec::new();
                while !self.is_op("}") {
                    let key = self.or_test()?;
                    self.expect_op(":")?;
                    entries.push((key, self.or_test()?));
                    if self.is_op(",") {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                self.expect_op("}")?;
                Expr::Dict(entries)
            }
            Token::Op(op) => return Err(format!("invalid syntax: unexpected `{op}`")),
        })
    }
}

type EvalResult = std::result::Result<PyValue, String>;

fn eval(expr: &Expr, ns: &Namespace) -> EvalResult {
    Ok(match expr {
        Expr::Const(v) => v.clone(),
        Expr::Name(name) => match ns.names.get(name) {
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
        Expr::List(items) => PyValue::List(eval_all(items, ns)?),
        Expr::Tuple(items) => PyValue::Tuple(eval_all(items, ns)?),
        Expr::Dict(entries) => PyValue::Dict(
            entries
                .iter()
                .map(|(k, v)| Ok((eval(k, ns)?, eval(v, ns)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        Expr::Not(inner) => PyValue::Bool(!eval(inner, ns)?.truthy()),
        Expr::Neg(inner) => match eval(inner, ns)? {
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
            let left = eval(a, ns)?;
            if left.truthy() {
                eval(b, ns)?
            } else {
                left
            }
        }
        Expr::Or(a, b) => {
            let left = eval(a, ns)?;
            if left.truthy() {
                left
            } else {
                eval(b, ns)?
            }
        }
        Expr::Compare(first, rest) => {
            let mut left = eval(first, ns)?;
            for (op, right_expr) in rest {
                let right = eval(right_expr, ns)?;
                if !compare(op, &left, &right)? {
                    return Ok(PyValue::Bool(false));
                }
                left = right;
            }
            PyValue::Bool(true)
        }
        Expr::Binary(op, a, b) => binary(op, eval(a, ns)?, eval(b, ns)?)?,
        Expr::Attr(target, name) => attribute(eval(target, ns)?, name, ns)?,
        Expr::Call(target, args) => call(eval(target, ns)?, eval_all(args, ns)?)?,
        Expr::Index(target, index) => subscript(eval(target, ns)?, eval(index, ns)?)?,
        Expr::Slice(target, start, end) => {
            let target = eval(target, ns)?;
            let bound = |e: &Option<Box<Expr>>| -> std::result::Result<Option<i64>, String> {
                e.as_ref()
                    .map(|e| {
                        eval(e, ns)?
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

fn eval_all(items: &[Expr], ns: &Namespace) -> std::result::Result<Vec<PyValue>, String> {
    items.iter().map(|e| eval(e, ns)).collect()
}

fn py_eq(a: &PyValue, b: &PyValue) -> bool {
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

fn py_order(a: &PyValue, b: &PyValue) -> std::result::Result<std::cmp::Ordering, String> {
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

fn contains(container: &PyValue, item: &PyValue) -> std::result::Result<bool, String> {
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

fn environ_dict(ns: &Namespace) -> PyValue {
    ns.names
        .get("environ")
        .cloned()
        .unwrap_or(PyValue::Dict(Vec::new()))
}

fn attribute(target: PyValue, name: &str, ns: &Namespace) -> EvalResult {
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
        (PyValue::OsModule, "environ") => Ok(environ_dict(ns)),
        (PyValue::OsModule, "getenv") => {
            Ok(PyValue::Method(Box::new(environ_dict(ns)), "get".into()))
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

fn call(target: PyValue, args: Vec<PyValue>) -> EvalResult {
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

fn subscript(target: PyValue, index: PyValue) -> EvalResult {
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

fn slice(target: PyValue, start: Option<i64>, end: Option<i64>) -> EvalResult {
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
