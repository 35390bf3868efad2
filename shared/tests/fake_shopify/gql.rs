//! Just enough GraphQL reading for the fake: find a field by name outside string literals, and read
//! its arguments (literals or `$variables`). No validation of selections: the fake answers every
//! field the real client's queries ask for, whatever the selection.

use serde_json::{Map, Value};

/// Where `name` appears as a field name (not inside a string literal, not part of a longer
/// identifier), followed, after optional whitespace, by `(` or `{` (or the end for a bare field).
/// Answers the index of that `(`/`{` (or the end of the text) and the character found there.
pub fn find_field(q: &str, name: &str) -> Option<(usize, char)> {
    let b = q.as_bytes();
    let n = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_string(b, i),
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            _ => {
                let boundary_before = i == 0 || !is_ident(b[i - 1]);
                if boundary_before
                    && b[i..].starts_with(n)
                    && b.get(i + n.len()).is_none_or(|c| !is_ident(*c))
                {
                    let mut j = i + n.len();
                    while j < b.len() && (b[j] as char).is_ascii_whitespace() {
                        j += 1;
                    }
                    match b.get(j) {
                        Some(b'(') => return Some((j, '(')),
                        Some(b'{') => return Some((j, '{')),
                        None => return Some((j, ' ')),
                        _ => {}
                    }
                    i += n.len();
                    continue;
                }
                i += 1;
            }
        }
    }
    None
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The index just after the string literal starting at `i` (a `"` or `"""`).
fn skip_string(b: &[u8], i: usize) -> usize {
    if b[i..].starts_with(b"\"\"\"") {
        let mut j = i + 3;
        while j < b.len() {
            if b[j..].starts_with(b"\\\"\"\"") {
                j += 4;
            } else if b[j..].starts_with(b"\"\"\"") {
                return j + 3;
            } else {
                j += 1;
            }
        }
        return b.len();
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// The arguments of the field whose `(` is at `open`, with `$variables` replaced by their values
/// (a missing variable is `null`).
pub fn arguments(q: &str, open: usize, vars: &Value) -> Result<Map<String, Value>, String> {
    let mut p = Parser {
        s: q,
        b: q.as_bytes(),
        i: open + 1,
        vars,
    };
    let mut args = Map::new();
    loop {
        p.ws();
        match p.peek() {
            None => return Err("unterminated argument list".into()),
            Some(b')') => return Ok(args),
            _ => {}
        }
        let name = p.ident().ok_or_else(|| p.err("an argument name"))?;
        p.ws();
        if p.peek() != Some(b':') {
            return Err(p.err("':'"));
        }
        p.i += 1;
        let v = p.value()?;
        args.insert(name, v);
    }
}

/// The arguments of `name` in `q`, or none when it has no `(`.
pub fn field_arguments(
    q: &str,
    name: &str,
    vars: &Value,
) -> Result<Option<Map<String, Value>>, String> {
    match find_field(q, name) {
        Some((at, '(')) => arguments(q, at, vars).map(Some),
        Some(_) => Ok(Some(Map::new())),
        None => Ok(None),
    }
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    vars: &'a Value,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn err(&self, want: &str) -> String {
        format!("expected {want} at offset {}", self.i)
    }

    /// Whitespace, commas (insignificant in GraphQL) and comments.
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || c == b',' {
                self.i += 1;
            } else if c == b'#' {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.i += 1;
                }
            } else {
                break;
            }
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_ident) {
            self.i += 1;
        }
        (self.i > start).then(|| self.s[start..self.i].to_owned())
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        match self.peek() {
            Some(b'$') => {
                self.i += 1;
                let name = self.ident().ok_or_else(|| self.err("a variable name"))?;
                Ok(self.vars.get(&name).cloned().unwrap_or(Value::Null))
            }
            Some(b'"') => self.string().map(Value::String),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(items));
                        }
                        None => return Err(self.err("']'")),
                        _ => items.push(self.value()?),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut obj = Map::new();
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(obj));
                        }
                        None => return Err(self.err("'}'")),
                        _ => {
                            let k = self.ident().ok_or_else(|| self.err("a field name"))?;
                            self.ws();
                            if self.peek() != Some(b':') {
                                return Err(self.err("':'"));
                            }
                            self.i += 1;
                            let v = self.value()?;
                            obj.insert(k, v);
                        }
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                self.i += 1;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')
                }) {
                    self.i += 1;
                }
                serde_json::from_str(&self.s[start..self.i]).map_err(|_| self.err("a number"))
            }
            Some(_) => {
                let word = self.ident().ok_or_else(|| self.err("a value"))?;
                Ok(match word.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => Value::String(word), // an enum value, e.g. UPDATED_AT
                })
            }
            None => Err(self.err("a value")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.b[self.i..].starts_with(b"\"\"\"") {
            let start = self.i + 3;
            let end = skip_string(self.b, self.i);
            if end < start + 3 || !self.b[..end].ends_with(b"\"\"\"") {
                return Err("unterminated block string".into());
            }
            self.i = end;
            return Ok(self.s[start..end - 3].replace("\\\"\"\"", "\"\"\""));
        }
        let mut out = String::new();
        let mut chars = self.s[self.i + 1..].char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '"' => {
                    self.i += 1 + k + 1;
                    return Ok(out);
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('b') => out.push('\u{8}'),
                    Some('f') => out.push('\u{c}'),
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .map_err(|_| "bad \\u escape".to_owned())?;
                        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    Some(other) => out.push(other),
                    None => break,
                },
                _ => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
}
