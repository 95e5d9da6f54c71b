//! The tokenizer of the expression subset conda-build's evalidate allow-list accepts.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
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

/// Split a selector into tokens; string literals understand the `\n` and `\t` escapes.
pub(super) fn tokenize(src: &str) -> std::result::Result<Vec<Token>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_strings_and_two_character_operators() {
        assert_eq!(
            tokenize("py >= 3_12 and x.y('a\\tb') != 1.5").unwrap(),
            vec![
                Token::Name("py".into()),
                Token::Op(">="),
                Token::Int(312),
                Token::Name("and".into()),
                Token::Name("x".into()),
                Token::Op("."),
                Token::Name("y".into()),
                Token::Op("("),
                Token::Str("a\tb".into()),
                Token::Op(")"),
                Token::Op("!="),
                Token::Float(1.5),
            ]
        );
        assert_eq!(
            tokenize("a//b**c").unwrap()[1..4],
            [Token::Op("//"), Token::Name("b".into()), Token::Op("**")]
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(tokenize("'open").unwrap_err(), "unterminated string");
        assert_eq!(tokenize("a ; b").unwrap_err(), "unexpected character `;`");
        assert_eq!(tokenize("1.2.3").unwrap_err(), "bad number 1.2.3");
    }
}
