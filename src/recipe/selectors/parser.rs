//! A recursive-descent parser for selector expressions, following Python's grammar levels
//! (`or` < `and` < `not` < comparisons < `+ -` < `* / // %` < unary < postfix < atoms).

use super::lexer::{tokenize, Token};
use super::value::PyValue;

/// Parse a whole expression; trailing tokens are a syntax error.
pub(super) fn parse(src: &str) -> std::result::Result<Expr, String> {
    let tokens = tokenize(src)?;
    let mut parser = ExprParser { tokens, pos: 0 };
    let ast = parser.expression()?;
    if parser.pos != parser.tokens.len() {
        return Err(format!(
            "invalid syntax near {:?}",
            parser.tokens[parser.pos]
        ));
    }
    Ok(ast)
}

#[derive(Debug, Clone)]
pub(super) enum Expr {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The parse tree in a compact prefix form, to check precedence and associativity.
    fn shape(expr: &Expr) -> String {
        match expr {
            Expr::Const(v) => v.to_py_str(),
            Expr::Name(n) => n.clone(),
            Expr::List(items) => format!(
                "[{}]",
                items.iter().map(shape).collect::<Vec<_>>().join(" ")
            ),
            Expr::Tuple(items) => format!(
                "({})",
                items.iter().map(shape).collect::<Vec<_>>().join(" ")
            ),
            Expr::Dict(entries) => format!("{{{}}}", entries.len()),
            Expr::Not(e) => format!("(not {})", shape(e)),
            Expr::Neg(e) => format!("(- {})", shape(e)),
            Expr::And(a, b) => format!("(and {} {})", shape(a), shape(b)),
            Expr::Or(a, b) => format!("(or {} {})", shape(a), shape(b)),
            Expr::Compare(first, rest) => format!(
                "(cmp {}{})",
                shape(first),
                rest.iter()
                    .map(|(op, e)| format!(" {op} {}", shape(e)))
                    .collect::<String>()
            ),
            Expr::Binary(op, a, b) => format!("({op} {} {})", shape(a), shape(b)),
            Expr::Attr(e, name) => format!("{}.{name}", shape(e)),
            Expr::Call(e, args) => format!(
                "{}({})",
                shape(e),
                args.iter().map(shape).collect::<Vec<_>>().join(" ")
            ),
            Expr::Index(e, i) => format!("{}[{}]", shape(e), shape(i)),
            Expr::Slice(e, a, b) => format!(
                "{}[{}:{}]",
                shape(e),
                a.as_deref().map(shape).unwrap_or_default(),
                b.as_deref().map(shape).unwrap_or_default()
            ),
        }
    }

    fn p(src: &str) -> String {
        shape(&parse(src).unwrap())
    }

    #[test]
    fn precedence_follows_python() {
        assert_eq!(p("a or b and not c"), "(or a (and b (not c)))");
        assert_eq!(p("1 + 2 * 3 - 4"), "(- (+ 1 (* 2 3)) 4)");
        assert_eq!(p("-x // 2 % 3"), "(% (// (- x) 2) 3)");
        assert_eq!(p("37 < py <= 312"), "(cmp 37 < py <= 312)");
        assert_eq!(p("a not in b is not c"), "(cmp a not in b is not c)");
        assert_eq!(p("os.environ.get('X', 'y')[1:]"), "os.environ.get(X y)[1:]");
    }

    #[test]
    fn literals_and_tuples() {
        assert_eq!(p("'a' 'b'"), "ab", "adjacent strings concatenate");
        assert_eq!(p("(1,)"), "(1)");
        assert_eq!(p("()"), "()");
        assert_eq!(p("1, 2"), "(1 2)");
        assert_eq!(p("[1, [True, None]]"), "[1 [True None]]");
        assert_eq!(p("{'a': 1, 'b': 2}"), "{2}");
        assert_eq!(p("s[:2]"), "s[:2]");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(parse("a b").unwrap_err(), "invalid syntax near Name(\"b\")");
        assert_eq!(parse("(a").unwrap_err(), "expected `)`");
        assert_eq!(
            parse("lambda").unwrap_err(),
            "invalid syntax: unexpected `lambda`"
        );
        assert_eq!(
            parse("x.").unwrap_err(),
            "expected an attribute name after `.`"
        );
        assert_eq!(parse("x[]").unwrap_err(), "invalid syntax: unexpected `]`");
        assert_eq!(parse("").unwrap_err(), "unexpected end of selector");
    }
}
