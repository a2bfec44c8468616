//! A small filter language over [`Metadata`], with a hand-written lexer and recursive-descent parser.
//!
//! ```text
//! filter     := or
//! or         := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" unary | "(" or ")" | comparison
//! comparison := field operator value
//! operator   := "=" | "!=" | "<" | "<=" | ">" | ">="
//! value      := string | number | "true" | "false"
//! field      := [a-z_][a-z0-9_.]*          (not a keyword: and, or, not, true, false)
//! string     := '"' (character | escape)* '"'    escapes: \" \\ \n \t \r \u{hex}
//! number     := -?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?   (finite)
//! ```
//! `not` binds tighter than `and`, which binds tighter than `or`. Whitespace separates tokens.
//!
//! # Meaning
//! - `field = value` holds when the field exists with a value of the same type that is equal (numbers by
//!   `==`, strings byte for byte).
//! - `field != value` is exactly `not (field = value)`: it holds when the field is missing or of another type.
//! - `<`, `<=`, `>`, `>=` compare numbers with numbers and strings with strings (byte order); any other pairing,
//!   and a missing field, does not hold. A range over `true`/`false` is a parse error.
//!
//! # Limits
//! The text is at most [`FILTER_BYTES_MAX`] bytes, and `(` and `not` nest at most [`FILTER_DEPTH_MAX`] deep.
//! Every error carries the byte position where it was found.

use std::cmp::Ordering;
use std::fmt;

use crate::float_parse;
use crate::metadata::{Metadata, Value};

/// Most bytes of filter text.
pub const FILTER_BYTES_MAX: usize = 4096;
/// Deepest nesting of `(` and `not`.
pub const FILTER_DEPTH_MAX: usize = 32;

/// Why a filter could not be parsed. Positions are byte offsets into the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// A token other than the one the grammar needs.
    #[error("at byte {position}: expected {expected}, found {found}")]
    Unexpected {
        /// Where the token starts.
        position: usize,
        /// What the grammar allows there.
        expected: &'static str,
        /// The token found (or "end of input").
        found: String,
    },
    /// A character that starts no token.
    #[error("at byte {position}: unexpected character {character:?}")]
    UnexpectedCharacter {
        /// Where it is.
        position: usize,
        /// The character.
        character: char,
    },
    /// A string literal without its closing quote.
    #[error("at byte {position}: the string starting here is not closed")]
    UnterminatedString {
        /// Where the string starts.
        position: usize,
    },
    /// A backslash escape that is not one of `\" \\ \n \t \r \u{hex}`.
    #[error("at byte {position}: invalid escape in a string (use \\\" \\\\ \\n \\t \\r \\u{{hex}})")]
    InvalidEscape {
        /// Where the backslash is.
        position: usize,
    },
    /// A malformed or infinite number.
    #[error("at byte {position}: invalid number")]
    InvalidNumber {
        /// Where the number starts.
        position: usize,
    },
    /// The text is longer than [`FILTER_BYTES_MAX`].
    #[error("the filter is {length_bytes} bytes long; the limit is {limit_bytes}")]
    TooLong {
        /// The text's length.
        length_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// `(` and `not` nest deeper than [`FILTER_DEPTH_MAX`].
    #[error("at byte {position}: nested deeper than {limit}")]
    TooDeep {
        /// Where the nesting goes past the limit.
        position: usize,
        /// The limit.
        limit: usize,
    },
}

impl FilterError {
    /// The byte position of the error, when it has one.
    pub fn position(&self) -> Option<usize> {
        match self {
            Self::Unexpected { position, .. }
            | Self::UnexpectedCharacter { position, .. }
            | Self::UnterminatedString { position }
            | Self::InvalidEscape { position }
            | Self::InvalidNumber { position }
            | Self::TooDeep { position, .. } => Some(*position),
            Self::TooLong { .. } => None,
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
        }
    }
}

/// A parsed filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expression {
    /// `field operator value`.
    Compare {
        /// The metadata key.
        field: String,
        /// The operator.
        comparison: Comparison,
        /// The literal.
        value: Value,
    },
    /// All of the parts hold (two or more).
    And(Vec<Expression>),
    /// Any of the parts holds (two or more).
    Or(Vec<Expression>),
    /// The part does not hold.
    Not(Box<Expression>),
}

impl Expression {
    fn matches(&self, metadata: &Metadata) -> bool {
        match self {
            Self::Compare { field, comparison, value } => compare(metadata.get(field), *comparison, value),
            Self::And(parts) => parts.iter().all(|part| part.matches(metadata)),
            Self::Or(parts) => parts.iter().any(|part| part.matches(metadata)),
            Self::Not(part) => !part.matches(metadata),
        }
    }
}

fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::String(left), Value::String(right)) => left == right,
        (Value::Number(left), Value::Number(right)) => left == right,
        (Value::Bool(left), Value::Bool(right)) => left == right,
        _ => false,
    }
}

fn compare(stored: Option<&Value>, comparison: Comparison, literal: &Value) -> bool {
    let ordering = |stored: Option<&Value>| match (stored?, literal) {
        (Value::Number(left), Value::Number(right)) => left.partial_cmp(right),
        (Value::String(left), Value::String(right)) => Some(left.as_bytes().cmp(right.as_bytes())),
        _ => None,
    };
    match comparison {
        Comparison::Equal => stored.is_some_and(|stored| equal(stored, literal)),
        Comparison::NotEqual => !stored.is_some_and(|stored| equal(stored, literal)),
        Comparison::Less => ordering(stored) == Some(Ordering::Less),
        Comparison::LessOrEqual => matches!(ordering(stored), Some(Ordering::Less | Ordering::Equal)),
        Comparison::Greater => ordering(stored) == Some(Ordering::Greater),
        Comparison::GreaterOrEqual => matches!(ordering(stored), Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// Canonical form: `(and (= a 1) (not (< b "x")))`.
impl fmt::Display for Expression {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |formatter: &mut fmt::Formatter<'_>, name: &str, parts: &[Expression]| {
            write!(formatter, "({name}")?;
            for part in parts {
                write!(formatter, " {part}")?;
            }
            write!(formatter, ")")
        };
        match self {
            Self::Compare { field, comparison, value } => {
                write!(formatter, "({} {field} ", comparison.symbol())?;
                match value {
                    Value::String(text) => write!(formatter, "{text:?}")?,
                    Value::Number(number) => write!(formatter, "{number}")?,
                    Value::Bool(flag) => write!(formatter, "{flag}")?,
                }
                write!(formatter, ")")
            }
            Self::And(parts) => list(formatter, "and", parts),
            Self::Or(parts) => list(formatter, "or", parts),
            Self::Not(part) => write!(formatter, "(not {part})"),
        }
    }
}

/// A parsed filter, ready to test metadata.
///
/// ```
/// use vecdb::{Filter, Metadata, Value};
///
/// let filter = Filter::parse(r#"genre = "jazz" and (year >= 1950 or not live = true)"#)?;
/// let mut metadata = Metadata::new();
/// metadata.insert("genre".into(), Value::from("jazz"));
/// metadata.insert("year".into(), Value::from(1959.0));
/// assert!(filter.matches(&metadata));
/// # Ok::<(), vecdb::FilterError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    expression: Expression,
}

impl Filter {
    /// Parses filter text.
    ///
    /// # Errors
    /// A [`FilterError`] with the byte position of the problem.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        if text.len() > FILTER_BYTES_MAX {
            return Err(FilterError::TooLong { length_bytes: text.len(), limit_bytes: FILTER_BYTES_MAX });
        }
        let tokens = lex(text)?;
        let mut parser = Parser { tokens: &tokens, index: 0, depth: 0 };
        let expression = parser.or()?;
        let token = parser.peek();
        if token.kind != TokenKind::End {
            return Err(unexpected(token, "'and', 'or' or the end of the filter"));
        }
        Ok(Self { expression })
    }

    /// Whether `metadata` satisfies the filter.
    pub fn matches(&self, metadata: &Metadata) -> bool {
        self.expression.matches(metadata)
    }

    /// The parsed expression.
    pub fn expression(&self) -> &Expression {
        &self.expression
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expression.fmt(formatter)
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    LeftParenthesis,
    RightParenthesis,
    Operator(Comparison),
    And,
    Or,
    Not,
    True,
    False,
    Field(String),
    String(String),
    /// The value, and the text it was written as (error messages show the text: printing the `f64` would keep
    /// Rust's float printing in the browser module).
    Number(f64, String),
    End,
}

#[derive(Clone, Debug, PartialEq)]
struct Token {
    kind: TokenKind,
    position: usize,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LeftParenthesis => write!(formatter, "'('"),
            Self::RightParenthesis => write!(formatter, "')'"),
            Self::Operator(comparison) => write!(formatter, "'{}'", comparison.symbol()),
            Self::And => write!(formatter, "'and'"),
            Self::Or => write!(formatter, "'or'"),
            Self::Not => write!(formatter, "'not'"),
            Self::True => write!(formatter, "'true'"),
            Self::False => write!(formatter, "'false'"),
            Self::Field(name) => write!(formatter, "field {name}"),
            Self::String(text) => write!(formatter, "string {text:?}"),
            Self::Number(_, text) => write!(formatter, "number {text}"),
            Self::End => write!(formatter, "end of input"),
        }
    }
}

fn unexpected(token: &Token, expected: &'static str) -> FilterError {
    FilterError::Unexpected { position: token.position, expected, found: token.kind.to_string() }
}

fn is_field_start(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte == b'_'
}

fn is_field_continue(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'.'
}

/// Splits `text` into tokens, ending with [`TokenKind::End`].
fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut position = 0;
    let byte_at = |index: usize| bytes.get(index).copied();
    while let Some(byte) = byte_at(position) {
        let start = position;
        let kind = match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {
                position += 1;
                continue;
            }
            b'(' => {
                position += 1;
                TokenKind::LeftParenthesis
            }
            b')' => {
                position += 1;
                TokenKind::RightParenthesis
            }
            b'=' => {
                position += 1;
                TokenKind::Operator(Comparison::Equal)
            }
            b'!' if byte_at(position + 1) == Some(b'=') => {
                position += 2;
                TokenKind::Operator(Comparison::NotEqual)
            }
            b'<' | b'>' => {
                let or_equal = byte_at(position + 1) == Some(b'=');
                position += if or_equal { 2 } else { 1 };
                TokenKind::Operator(match (byte, or_equal) {
                    (b'<', false) => Comparison::Less,
                    (b'<', true) => Comparison::LessOrEqual,
                    (_, false) => Comparison::Greater,
                    (_, true) => Comparison::GreaterOrEqual,
                })
            }
            b'"' => {
                let (value, end) = lex_string(text, position)?;
                position = end;
                TokenKind::String(value)
            }
            b'-' | b'0'..=b'9' => {
                let (value, end) = lex_number(bytes, position)?;
                let written = text.get(start..end).unwrap_or_default().to_owned();
                position = end;
                TokenKind::Number(value, written)
            }
            byte if is_field_start(byte) => {
                while byte_at(position).is_some_and(is_field_continue) {
                    position += 1;
                }
                match text.get(start..position).unwrap_or_default() {
                    "and" => TokenKind::And,
                    "or" => TokenKind::Or,
                    "not" => TokenKind::Not,
                    "true" => TokenKind::True,
                    "false" => TokenKind::False,
                    name => TokenKind::Field(name.to_owned()),
                }
            }
            _ => {
                let character = text.get(position..).and_then(|rest| rest.chars().next()).unwrap_or('\u{FFFD}');
                return Err(FilterError::UnexpectedCharacter { position, character });
            }
        };
        tokens.push(Token { kind, position: start });
    }
    tokens.push(Token { kind: TokenKind::End, position: bytes.len() });
    Ok(tokens)
}

/// Lexes a string literal starting at the quote at `start`; returns its value and the offset after it.
fn lex_string(text: &str, start: usize) -> Result<(String, usize), FilterError> {
    let mut value = String::new();
    let rest = text.get(start + 1..).unwrap_or_default();
    let mut characters = rest.char_indices().map(|(offset, character)| (start + 1 + offset, character)).peekable();
    while let Some((position, character)) = characters.next() {
        match character {
            '"' => return Ok((value, position + 1)),
            '\\' => {
                let escaped = match characters.next() {
                    Some((_, '"')) => '"',
                    Some((_, '\\')) => '\\',
                    Some((_, 'n')) => '\n',
                    Some((_, 't')) => '\t',
                    Some((_, 'r')) => '\r',
                    Some((_, 'u')) => {
                        if characters.next().map(|(_, c)| c) != Some('{') {
                            return Err(FilterError::InvalidEscape { position });
                        }
                        let mut code = 0_u32;
                        let mut digits = 0;
                        loop {
                            match characters.next() {
                                Some((_, '}')) if digits > 0 => break,
                                Some((_, digit)) if digits < 6 && digit.is_ascii_hexdigit() => {
                                    code = code * 16 + digit.to_digit(16).unwrap_or(0);
                                    digits += 1;
                                }
                                _ => return Err(FilterError::InvalidEscape { position }),
                            }
                        }
                        char::from_u32(code).ok_or(FilterError::InvalidEscape { position })?
                    }
                    Some(_) => return Err(FilterError::InvalidEscape { position }),
                    None => return Err(FilterError::UnterminatedString { position: start }),
                };
                value.push(escaped);
            }
            other => value.push(other),
        }
    }
    Err(FilterError::UnterminatedString { position: start })
}

/// Lexes a number starting at `start`; returns it and the offset after it.
fn lex_number(bytes: &[u8], start: usize) -> Result<(f64, usize), FilterError> {
    let invalid = FilterError::InvalidNumber { position: start };
    let byte_at = |index: usize| bytes.get(index).copied();
    let digits_from = |mut index: usize| {
        let first = index;
        while byte_at(index).is_some_and(|byte| byte.is_ascii_digit()) {
            index += 1;
        }
        (index > first).then_some(index)
    };
    let mut position = start;
    if byte_at(position) == Some(b'-') {
        position += 1;
    }
    position = digits_from(position).ok_or_else(|| invalid.clone())?;
    if byte_at(position) == Some(b'.') {
        position = digits_from(position + 1).ok_or_else(|| invalid.clone())?;
    }
    if matches!(byte_at(position), Some(b'e' | b'E')) {
        position += 1;
        if matches!(byte_at(position), Some(b'+' | b'-')) {
            position += 1;
        }
        position = digits_from(position).ok_or_else(|| invalid.clone())?;
    }
    // "12abc" or "1.2.3" is one malformed number, not a number followed by a field.
    if byte_at(position).is_some_and(|byte| is_field_continue(byte) || byte.is_ascii_uppercase()) {
        return Err(invalid);
    }
    let text = bytes.get(start..position).and_then(|digits| std::str::from_utf8(digits).ok()).unwrap_or_default();
    // `str::parse::<f64>`, without its tables in the browser module (see float_parse).
    match float_parse::parse_f64(text) {
        Some(value) if value.is_finite() => Ok((value, position)),
        _ => Err(invalid),
    }
}

struct Parser<'a> {
    tokens: &'a [Token],
    index: usize,
    depth: usize,
}

const END_TOKEN: Token = Token { kind: TokenKind::End, position: 0 };

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The token list always ends with End; past it, stay on End.
        self.tokens.get(self.index).or(self.tokens.last()).unwrap_or(&END_TOKEN)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.index < self.tokens.len() {
            self.index += 1;
        }
        token
    }

    fn enter(&mut self, position: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > FILTER_DEPTH_MAX {
            return Err(FilterError::TooDeep { position, limit: FILTER_DEPTH_MAX });
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expression, FilterError> {
        let mut parts = vec![self.and()?];
        while self.peek().kind == TokenKind::Or {
            self.next();
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.swap_remove(0) } else { Expression::Or(parts) })
    }

    fn and(&mut self) -> Result<Expression, FilterError> {
        let mut parts = vec![self.unary()?];
        while self.peek().kind == TokenKind::And {
            self.next();
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 { parts.swap_remove(0) } else { Expression::And(parts) })
    }

    fn unary(&mut self) -> Result<Expression, FilterError> {
        let token = self.next();
        match token.kind {
            TokenKind::Not => {
                self.enter(token.position)?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Expression::Not(Box::new(inner)))
            }
            TokenKind::LeftParenthesis => {
                self.enter(token.position)?;
                let inner = self.or()?;
                let close = self.next();
                if close.kind != TokenKind::RightParenthesis {
                    return Err(unexpected(&close, "')'"));
                }
                self.depth -= 1;
                Ok(inner)
            }
            TokenKind::Field(field) => self.comparison(field),
            _ => Err(unexpected(&token, "a field name, 'not' or '('")),
        }
    }

    fn comparison(&mut self, field: String) -> Result<Expression, FilterError> {
        let operator = self.next();
        let TokenKind::Operator(comparison) = operator.kind else {
            return Err(unexpected(&operator, "a comparison operator (=, !=, <, <=, >, >=)"));
        };
        let literal = self.next();
        let value = match literal.kind {
            TokenKind::String(text) => Value::String(text),
            TokenKind::Number(number, _) => Value::Number(number),
            TokenKind::True | TokenKind::False if !matches!(comparison, Comparison::Equal | Comparison::NotEqual) => {
                return Err(unexpected(&literal, "a number or a string (ranges do not apply to true or false)"));
            }
            TokenKind::True => Value::Bool(true),
            TokenKind::False => Value::Bool(false),
            _ => return Err(unexpected(&literal, "a value (a string, a number, true or false)")),
        };
        Ok(Expression::Compare { field, comparison, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input` and compares the canonical form (or `error: <message>`) with `expected`.
    fn check(input: &str, expected: &str) {
        let actual = match Filter::parse(input) {
            Ok(filter) => filter.to_string(),
            Err(error) => format!("error: {error}"),
        };
        assert_eq!(actual, expected, "input: {input:?}");
    }

    #[test]
    fn parses_the_grammar() {
        let cases = [
            (r#"genre = "jazz""#, r#"(= genre "jazz")"#),
            ("year>=1950", "(>= year 1950)"),
            ("a != 1 and b < -2.5e3", "(and (!= a 1) (< b -2500))"),
            ("a = 1 or b = 2 and c = 3", "(or (= a 1) (and (= b 2) (= c 3)))"),
            ("(a = 1 or b = 2) and c = 3", "(and (or (= a 1) (= b 2)) (= c 3))"),
            ("not a = true and b <= 0.5", "(and (not (= a true)) (<= b 0.5))"),
            ("not not x.y_z9 > 1", "(not (not (> x.y_z9 1)))"),
            ("a = 1 and b = 2 and c = 3", "(and (= a 1) (= b 2) (= c 3))"),
            ("_ = false", "(= _ false)"),
            (r#"s = "q\"b\\s\n\t\r\u{e9}""#, r#"(= s "q\"b\\s\n\t\ré")"#),
            (r#"s = "ünï""#, r#"(= s "ünï")"#),
            ("  ( ( a = 0 ) )  ", "(= a 0)"),
            ("n > 1E+2", "(> n 100)"),
            (r#"d >= "2020-01-01""#, r#"(>= d "2020-01-01")"#),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn reports_errors_with_positions_and_what_was_expected() {
        let cases = [
            ("", "error: at byte 0: expected a field name, 'not' or '(', found end of input"),
            ("a", "error: at byte 1: expected a comparison operator (=, !=, <, <=, >, >=), found end of input"),
            ("a =", "error: at byte 3: expected a value (a string, a number, true or false), found end of input"),
            ("a = b", "error: at byte 4: expected a value (a string, a number, true or false), found field b"),
            ("a = 1 b = 2", "error: at byte 6: expected 'and', 'or' or the end of the filter, found field b"),
            ("(a = 1", "error: at byte 6: expected ')', found end of input"),
            ("a = 1)", "error: at byte 5: expected 'and', 'or' or the end of the filter, found ')'"),
            (
                "a < true",
                "error: at byte 4: expected a number or a string (ranges do not apply to true or false), found 'true'",
            ),
            ("and = 1", "error: at byte 0: expected a field name, 'not' or '(', found 'and'"),
            // A number shows as it was written.
            ("a = 1 2.50e1", "error: at byte 6: expected 'and', 'or' or the end of the filter, found number 2.50e1"),
            ("-0.5 = a", "error: at byte 0: expected a field name, 'not' or '(', found number -0.5"),
            ("A = 1", "error: at byte 0: unexpected character 'A'"),
            ("a = 1 & b = 2", "error: at byte 6: unexpected character '&'"),
            ("é = 1", "error: at byte 0: unexpected character 'é'"),
            ("a ! 1", "error: at byte 2: unexpected character '!'"),
            (r#"a = "open"#, "error: at byte 4: the string starting here is not closed"),
            (r#"a = "bad \q""#, r#"error: at byte 9: invalid escape in a string (use \" \\ \n \t \r \u{hex})"#),
            (r#"a = "\u{110000}""#, r#"error: at byte 5: invalid escape in a string (use \" \\ \n \t \r \u{hex})"#),
            (r#"a = "\u{}""#, r#"error: at byte 5: invalid escape in a string (use \" \\ \n \t \r \u{hex})"#),
            ("a = 1.", "error: at byte 4: invalid number"),
            ("a = -", "error: at byte 4: invalid number"),
            ("a = 12abc", "error: at byte 4: invalid number"),
            ("a = 1e999", "error: at byte 4: invalid number"),
            ("a = 1.2.3", "error: at byte 4: invalid number"),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
        assert_eq!(Filter::parse("a = 1)").unwrap_err().position(), Some(5));
    }

    #[test]
    fn limits_are_accepted_at_the_limit_and_rejected_past_it() {
        let nested = |depth: usize| format!("{}a = 1{}", "(".repeat(depth), ")".repeat(depth));
        assert!(Filter::parse(&nested(FILTER_DEPTH_MAX)).is_ok());
        assert!(matches!(
            Filter::parse(&nested(FILTER_DEPTH_MAX + 1)),
            Err(FilterError::TooDeep { position: 32, limit: 32 })
        ));
        let negated = |depth: usize| format!("{}a = 1", "not ".repeat(depth));
        assert!(Filter::parse(&negated(FILTER_DEPTH_MAX)).is_ok());
        assert!(matches!(Filter::parse(&negated(FILTER_DEPTH_MAX + 1)), Err(FilterError::TooDeep { .. })));

        // Exactly FILTER_BYTES_MAX bytes: a long chain of comparisons padded with spaces.
        let mut text = "a = 1".to_owned();
        while text.len() + " or a = 1".len() <= FILTER_BYTES_MAX {
            text.push_str(" or a = 1");
        }
        text.push_str(&" ".repeat(FILTER_BYTES_MAX - text.len()));
        assert_eq!(text.len(), FILTER_BYTES_MAX);
        assert!(Filter::parse(&text).is_ok());
        text.push(' ');
        assert!(matches!(Filter::parse(&text), Err(FilterError::TooLong { length_bytes: 4097, limit_bytes: 4096 })));
    }

    fn metadata(entries: &[(&str, Value)]) -> Metadata {
        entries.iter().map(|(key, value)| ((*key).to_owned(), value.clone())).collect()
    }

    #[test]
    fn evaluates_comparisons_by_type() {
        let item =
            metadata(&[("genre", Value::from("jazz")), ("year", Value::from(1959.0)), ("live", Value::from(false))]);
        let cases = [
            (r#"genre = "jazz""#, true),
            (r#"genre != "jazz""#, false),
            (r#"genre = "Jazz""#, false),
            ("year = 1959", true),
            ("year > 1950 and year < 1960", true),
            ("year >= 1959 and year <= 1959", true),
            ("year > 1959", false),
            ("live = false", true),
            ("live != true", true),
            (r#"genre > "blues""#, true),
            (r#"genre < "blues""#, false),
            // Another type or a missing field: equality fails, inequality holds, ranges fail.
            (r#"year = "1959""#, false),
            (r#"year != "1959""#, true),
            (r#"year < "z""#, false),
            ("missing = 1", false),
            ("missing != 1", true),
            ("missing < 1", false),
            ("not missing >= 1", true),
            (r#"(genre = "rock" or year < 1960) and not live = true"#, true),
        ];
        for (input, expected) in cases {
            assert_eq!(Filter::parse(input).unwrap().matches(&item), expected, "{input}");
        }
    }
}
