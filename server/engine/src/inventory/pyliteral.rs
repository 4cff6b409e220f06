//! Python literals, read the way `ast.literal_eval` reads them, for INI inventory values.
//!
//! Owns `literal_eval`: Ansible passes every INI value through Python's `ast.literal_eval` and
//! keeps the original text when that fails, so `port=22` is the integer 22, `on=True` a
//! boolean, `"a b"` the string `a b`, `[1, 2]` a list and `10-5` or `56L` stay strings.
//! Must not: evaluate anything beyond literals (no names, calls or arithmetic).

use serde_json::{Map, Number, Value};

/// The value of `text` as a Python literal, or `None` when Python would refuse it (the caller
/// then keeps the text as a string). Sets and tuples become lists, `...` the string `"..."`,
/// bytes are read as text; `#` starts a comment, as in Python source.
pub fn literal_eval(text: &str) -> Option<Value> {
    let mut p = Parser {
        chars: text.trim_start_matches([' ', '\t']).chars().collect(),
        pos: 0,
    };
    let value = p.expr()?;
    p.skip_blank();
    (p.pos == p.chars.len()).then_some(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    /// Whitespace, line breaks and comments between tokens.
    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c == '#' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
            } else if c.is_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_blank();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.skip_blank();
        match self.peek()? {
            '-' | '+' => {
                let negative = self.peek() == Some('-');
                self.pos += 1;
                self.skip_blank();
                let n = self.number()?;
                Some(if negative { negate(n)? } else { n })
            }
            '[' => {
                self.pos += 1;
                self.sequence(']').map(|(items, _)| Value::Array(items))
            }
            '(' => {
                self.pos += 1;
                // `(x)` is just `x` in Python; only a comma makes a tuple.
                let (mut items, comma) = self.sequence(')')?;
                Some(if items.len() == 1 && !comma {
                    items.remove(0)
                } else {
                    Value::Array(items)
                })
            }
            '{' => {
                self.pos += 1;
                self.brace()
            }
            '.' if self.peek_at(1) == Some('.') && self.peek_at(2) == Some('.') => {
                self.pos += 3;
                Some(Value::String("...".into()))
            }
            c if c.is_ascii_digit() || c == '.' => self.number(),
            '\'' | '"' => self.strings(),
            c if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    _ if matches!(self.peek(), Some('\'' | '"')) && is_string_prefix(&word) => {
                        self.pos = start;
                        self.strings()
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Items up to `close`, comma separated, trailing comma allowed; and whether there was a
    /// comma (which tells a tuple `(x,)` from a parenthesised value `(x)`).
    fn sequence(&mut self, close: char) -> Option<(Vec<Value>, bool)> {
        let mut items = Vec::new();
        let mut saw_comma = false;
        loop {
            if self.eat(close) {
                break;
            }
            items.push(self.expr()?);
            if self.eat(',') {
                saw_comma = true;
                continue;
            }
            if !self.eat(close) {
                return None;
            }
            break;
        }
        Some((items, saw_comma))
    }

    /// `{}` (dict), `{k: v, ...}` (dict) or `{a, b}` (set, as a list).
    fn brace(&mut self) -> Option<Value> {
        if self.eat('}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.expr()?;
        if self.eat(':') {
            let mut map = Map::new();
            let value = self.expr()?;
            map.insert(key_string(&first), value);
            while self.eat(',') {
                if self.eat('}') {
                    return Some(Value::Object(map));
                }
                let k = self.expr()?;
                if !self.eat(':') {
                    return None;
                }
                let v = self.expr()?;
                map.insert(key_string(&k), v);
            }
            return self.eat('}').then_some(Value::Object(map));
        }
        let mut items = vec![first];
        while self.eat(',') {
            if self.eat('}') {
                return Some(Value::Array(items));
            }
            let item = self.expr()?;
            if !items.contains(&item) {
                items.push(item);
            }
        }
        self.eat('}').then_some(Value::Array(items))
    }

    /// Python 3 number literals: `1_000`, `0x1f`, `0o17`, `0b11`, `1.5`, `.5`, `1e3`, `1.`;
    /// `010` and `56L` are syntax errors (so the text stays a string).
    fn number(&mut self) -> Option<Value> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let word = c.is_ascii_alphanumeric() || c == '_' || c == '.';
            // The sign of an exponent (`1e-3`) belongs to the number; in `0x1e-3` it does not.
            let taken = &self.chars[start..self.pos];
            let exponent_sign = matches!(c, '+' | '-')
                && matches!(taken.last(), Some('e' | 'E'))
                && !taken.iter().any(|c| matches!(c, 'x' | 'X'));
            if !word && !exponent_sign {
                break;
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        parse_number(&text)
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.skip_inline_blank();
            let start = self.pos;
            let mut raw = false;
            while let Some(c) = self.peek().filter(|c| c.is_ascii_alphabetic()) {
                match c.to_ascii_lowercase() {
                    'r' => raw = true,
                    'b' | 'u' => {}
                    _ => return None,
                }
                self.pos += 1;
            }
            let Some(quote @ ('\'' | '"')) = self.peek() else {
                self.pos = start;
                break;
            };
            let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
            self.pos += if triple { 3 } else { 1 };
            loop {
                let c = self.peek()?;
                if c == quote
                    && (!triple
                        || (self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote)))
                {
                    self.pos += if triple { 3 } else { 1 };
                    break;
                }
                if c == '\n' && !triple {
                    return None;
                }
                self.pos += 1;
                if c == '\\' {
                    let next = self.peek()?;
                    self.pos += 1;
                    if raw {
                        out.push('\\');
                        out.push(next);
                    } else {
                        self.escape(next, &mut out)?;
                    }
                } else {
                    out.push(c);
                }
            }
            any = true;
        }
        any.then_some(Value::String(out))
    }

    /// Adjacent string literals may be separated by spaces but a comment ends the value.
    fn skip_inline_blank(&mut self) {
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.pos += 1;
        }
    }

    fn escape(&mut self, c: char, out: &mut String) -> Option<()> {
        let mut hex = |n: usize| -> Option<char> {
            let digits: String = self.chars.get(self.pos..self.pos + n)?.iter().collect();
            self.pos += n;
            char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
        };
        match c {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(c),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'x' => out.push(hex(2)?),
            'u' => out.push(hex(4)?),
            'U' => out.push(hex(8)?),
            '0'..='7' => {
                let mut value = c.to_digit(8)?;
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(value)?);
            }
            // Python keeps unknown escapes as written.
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        Some(())
    }
}

fn is_string_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "r" | "u" | "b" | "br" | "rb"
    )
}

fn negate(n: Value) -> Option<Value> {
    let n = n.as_number()?.clone();
    if let Some(i) = n.as_i64() {
        return Some(Value::Number(Number::from(i.checked_neg()?)));
    }
    if let Some(u) = n.as_u64() {
        return i64::try_from(u)
            .ok()
            .and_then(i64::checked_neg)
            .map(|i| Value::Number(i.into()));
    }
    Number::from_f64(-n.as_f64()?).map(Value::Number)
}

fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` (no sign) as a Python 3 int or float literal.
fn parse_number(text: &str) -> Option<Value> {
    // Underscores only between digits.
    let valid_underscores = !text.starts_with('_')
        && !text.ends_with('_')
        && !text.contains("__")
        && !text.contains("_.")
        && !text.contains("._");
    if !valid_underscores {
        return None;
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find(|(prefix, _)| lower.starts_with(prefix));
    if let Some((prefix, radix)) = radix {
        let digits = &lower[prefix.len()..];
        return int_value(u128::from_str_radix(digits, radix).ok()?);
    }
    let is_float = lower.contains(['.', 'e']);
    if !is_float {
        if !lower.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Python 3 refuses leading zeros on non-zero decimals (`010`).
        if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|b| b != b'0') {
            return None;
        }
        return int_value(lower.parse().ok()?);
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let mantissa_ok = !mantissa.is_empty()
        && mantissa != "."
        && mantissa.matches('.').count() <= 1
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if !mantissa_ok || !exponent_ok {
        return None;
    }
    Number::from_f64(lower.parse().ok()?).map(Value::Number)
}

fn int_value(n: u128) -> Option<Value> {
    u64::try_from(n).ok().map(|n| Value::Number(n.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals() {
        let cases: &[(&str, Value)] = &[
            ("22", json!(22)),
            ("-3", json!(-3)),
            ("+3", json!(3)),
            ("1_000", json!(1000)),
            ("0", json!(0)),
            ("00", json!(0)),
            ("0x1F", json!(31)),
            ("0o17", json!(15)),
            ("0b11", json!(3)),
            ("1.5", json!(1.5)),
            ("1.", json!(1.0)),
            (".5", json!(0.5)),
            ("1e3", json!(1000.0)),
            ("2.5E-1", json!(0.25)),
            ("-1.5", json!(-1.5)),
            ("True", json!(true)),
            ("False", json!(false)),
            ("None", json!(null)),
            ("'a b'", json!("a b")),
            ("\"it's\"", json!("it's")),
            ("'a' \"b\"", json!("ab")),
            ("r'a\\nb'", json!("a\\nb")),
            ("'a\\nb\\x41\\u00e9\\101\\q'", json!("a\nbA\u{e9}A\\q")),
            ("b'bytes'", json!("bytes")),
            ("'''tri'ple'''", json!("tri'ple")),
            ("[1, 'two', [3]]", json!([1, "two", [3]])),
            ("[1, 2,]", json!([1, 2])),
            ("[]", json!([])),
            ("(1, 2)", json!([1, 2])),
            ("(1,)", json!([1])),
            ("(1)", json!(1)),
            ("()", json!([])),
            (
                "{'a': 1, 'b': [True, None]}",
                json!({"a": 1, "b": [true, null]}),
            ),
            ("{1: 'x', True: 'y'}", json!({"1": "x", "true": "y"})),
            ("{}", json!({})),
            ("{1, 2, 1}", json!([1, 2])),
            ("...", json!("...")),
            ("8080 # a comment", json!(8080)),
            ("  True", json!(true)),
            ("'x' # c", json!("x")),
        ];
        for (text, want) in cases {
            assert_eq!(literal_eval(text).as_ref(), Some(want), "literal {text:?}");
        }
    }

    #[test]
    fn non_literals_are_refused() {
        for text in [
            "",
            "abc",
            "10-5",
            "56L",
            "010",
            "1__0",
            "_1",
            "1_",
            "0x",
            "1e",
            "1.2.3",
            "inf",
            "'open",
            "[1, 2",
            "{'a' 1}",
            "f'x'",
            "x'y'",
            "a b",
            "1 2",
            "--1",
            "-'a'",
            "True False",
            "1j",
            "set()",
            "{'a': 1,, }",
            "1_.5",
        ] {
            assert_eq!(literal_eval(text), None, "{text:?} should stay a string");
        }
    }
}
