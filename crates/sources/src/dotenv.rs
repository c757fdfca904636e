//! `.env` as the Python original read it: python-dotenv 1.x (`load_dotenv()`), rule for rule,
//! plus the one quoting rule every writer of `.env` uses ([`quote`]), so what we write reads
//! back identically — here and in the original.
//!
//! The rules (python-dotenv's `parser.py` and `variables.py`, checked against python-dotenv
//! 1.2.2 by `tests/dotenv_reference.rs`):
//! - `NAME=value`, optionally `export NAME=value`; spaces around `=` are allowed; blank lines
//!   and lines starting with `#` are skipped. A line `NAME` without `=` names a variable with no
//!   value: it is not set, and `${NAME}` reads as empty.
//! - Unquoted values end at the line end; ` #…` (a `#` after a space) starts a comment; trailing
//!   spaces are dropped. No escapes: `\` is a backslash.
//! - `'single'` and `"double"` quoted values may span lines. In double quotes `\\ \' \" \a \b
//!   \f \n \r \t \v` are escapes; in single quotes only `\\` and `\'`. Anything else, `\$`
//!   included, stays as written.
//! - `${NAME}` and `${NAME:-default}` are replaced in every value (quoted or not): the process
//!   environment first, then the variables above it in the file, then the default, else empty.
//!   `$NAME` is **not** a reference: `Pr1ce$ecret2024` is read as written.
//! - Line ends are `\n`, `\r\n` or `\r` (Python reads text files with universal newlines).
//!
//! Where we differ on purpose: a UTF-8 byte-order mark (Windows Notepad) is skipped (Python
//! keeps it as part of the first name); a line python-dotenv cannot parse is an error naming
//! the line (python-dotenv skips it with a warning, losing the setting silently); a file that is
//! not UTF-8 is an error naming the line of the first bad byte.

use std::fmt;

/// One `NAME=value` line as written (before `${…}` references are replaced).
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// `None` for a line `NAME` without `=`.
    pub value: Option<String>,
    /// 1-based line of the name.
    pub line: usize,
    /// 1-based line where the entry ends (a quoted value may span lines).
    pub end_line: usize,
}

// Values may be secrets: never shown by `Debug`.
impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("value", &self.value.as_ref().map(|_| "<hidden>"))
            .field("line", &self.line)
            .field("end_line", &self.end_line)
            .finish()
    }
}

/// A line that cannot be read. The message never contains the value (it may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// The bytes of a `.env` file as text: a UTF-8 BOM is dropped, `\r\n` and `\r` become `\n`.
/// Not UTF-8 → the line of the first bad byte.
pub fn decode(bytes: &[u8]) -> Result<String, LineError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let upto = &bytes[..e.valid_up_to()];
        LineError {
            line: line_of_bytes(upto),
            message: "the file is not UTF-8 text (saved as Windows-1251?): save it as UTF-8".into(),
        }
    })?;
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn line_of_bytes(upto: &[u8]) -> usize {
    // `\r\n` counts once; a lone `\r` is a line end too (as Python reads it).
    let mut line = 1;
    let mut prev_cr = false;
    for &b in upto {
        match b {
            b'\n' if prev_cr => {}
            b'\n' | b'\r' => line += 1,
            _ => {}
        }
        prev_cr = b == b'\r';
    }
    line
}

/// Python's `str.isspace()` (what `\s` matches in python-dotenv's regexes).
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Whitespace except line ends (`[^\S\r\n]`).
fn is_blank(c: char) -> bool {
    is_space(c) && c != '\n' && c != '\r'
}

struct Reader {
    s: Vec<char>,
    pos: usize,
    line: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }
    fn advance_to(&mut self, to: usize) {
        self.line += self.s[self.pos..to].iter().filter(|c| **c == '\n').count();
        self.pos = to;
    }
    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        let mut to = self.pos;
        while to < self.s.len() && f(self.s[to]) {
            to += 1;
        }
        self.advance_to(to);
    }
    fn rest_of_line(&mut self) {
        let mut to = self.pos;
        while to < self.s.len() && self.s[to] != '\n' {
            to += 1;
        }
        if to < self.s.len() {
            to += 1;
        }
        self.advance_to(to);
    }
    /// python-dotenv's quoted-value regex (`'((?:\\'|[^'])*)'`, likewise `"`): the greedy path
    /// takes `\q` as a pair; it ends at the first bare quote, or — when there is none — backs
    /// up to the quote of the last `\q` pair. Returns the content and the index after the
    /// closing quote.
    fn quoted(&self, q: char) -> Option<(String, usize)> {
        let start = self.pos + 1;
        let mut i = start;
        let mut last_pair = None;
        while i < self.s.len() {
            let c = self.s[i];
            if c == '\\' && self.s.get(i + 1) == Some(&q) {
                last_pair = Some(i);
                i += 2;
            } else if c != q {
                i += 1;
            } else {
                return Some((self.s[start..i].iter().collect(), i + 1));
            }
        }
        last_pair.map(|j| (self.s[start..=j].iter().collect(), j + 2))
    }
}

/// Escapes of a quoted value (python-dotenv decodes `\\[\\'"abfnrtv]` in double quotes and
/// `\\[\\']` in single quotes, left to right).
fn unescape(s: &str, double: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match it.peek().copied() {
            Some('\\') => Some('\\'),
            Some('\'') => Some('\''),
            Some('"') if double => Some('"'),
            Some('a') if double => Some('\u{7}'),
            Some('b') if double => Some('\u{8}'),
            Some('f') if double => Some('\u{c}'),
            Some('n') if double => Some('\n'),
            Some('r') if double => Some('\r'),
            Some('t') if double => Some('\t'),
            Some('v') if double => Some('\u{b}'),
            _ => None,
        };
        match decoded {
            Some(d) => {
                out.push(d);
                it.next();
            }
            None => out.push('\\'),
        }
    }
    out
}

/// An unquoted value: up to the line end, without ` #comment` and trailing spaces.
fn unquoted(part: &[char]) -> String {
    // `re.sub(r"\s+#.*", "", part)`: cut at the first run of spaces followed by `#`.
    let mut end = part.len();
    let mut i = 0;
    while i < part.len() {
        if is_space(part[i]) {
            let mut j = i;
            while j < part.len() && is_space(part[j]) {
                j += 1;
            }
            if part.get(j) == Some(&'#') {
                end = i;
                break;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    let v: String = part[..end].iter().collect();
    v.trim_end_matches(is_space).to_string()
}

enum Step {
    Done,
    Blank,
    Binding(Option<String>, Option<String>, usize, usize),
}

fn binding(r: &mut Reader) -> Result<Step, LineError> {
    r.skip_while(is_space);
    if r.pos >= r.s.len() {
        return Ok(Step::Done);
    }
    let line = r.line;
    let err = |message: &str| LineError {
        line,
        message: message.to_string(),
    };
    // `export` followed by spaces.
    if r.s[r.pos..].starts_with(&['e', 'x', 'p', 'o', 'r', 't']) {
        let mut j = r.pos + 6;
        if j < r.s.len() && is_blank(r.s[j]) {
            while j < r.s.len() && is_blank(r.s[j]) {
                j += 1;
            }
            r.advance_to(j);
        }
    }
    let key = match r.peek() {
        Some('#') => None,
        Some('\'') => {
            let mut j = r.pos + 1;
            while j < r.s.len() && r.s[j] != '\'' {
                j += 1;
            }
            if j >= r.s.len() || j == r.pos + 1 {
                return Err(err("the quoted name is not closed: write NAME=value"));
            }
            let k: String = r.s[r.pos + 1..j].iter().collect();
            r.advance_to(j + 1);
            Some(k)
        }
        _ => {
            let mut j = r.pos;
            while j < r.s.len() && !matches!(r.s[j], '=' | '#') && !is_space(r.s[j]) {
                j += 1;
            }
            if j == r.pos {
                return Err(err("no variable name before `=`: write NAME=value"));
            }
            let k: String = r.s[r.pos..j].iter().collect();
            r.advance_to(j);
            Some(k)
        }
    };
    r.skip_while(is_blank);
    let value = if r.peek() == Some('=') {
        let to = r.pos + 1;
        r.advance_to(to);
        r.skip_while(is_blank);
        match r.peek() {
            Some(q @ ('\'' | '"')) => {
                let Some((content, after)) = r.quoted(q) else {
                    return Err(err(&format!(
                        "the value's opening quote {q} is never closed: close it (a quote inside the value is written \\{q})"
                    )));
                };
                r.advance_to(after);
                Some(unescape(&content, q == '"'))
            }
            None | Some('\n') => Some(String::new()),
            Some(_) => {
                let mut j = r.pos;
                while j < r.s.len() && r.s[j] != '\n' {
                    j += 1;
                }
                let v = unquoted(&r.s[r.pos..j]);
                r.advance_to(j);
                Some(v)
            }
        }
    } else {
        None
    };
    // An optional comment (`#…`, spaces before it allowed), then the line end.
    let mut j = r.pos;
    while j < r.s.len() && is_blank(r.s[j]) {
        j += 1;
    }
    if r.s.get(j) == Some(&'#') {
        while j < r.s.len() && r.s[j] != '\n' {
            j += 1;
        }
        r.advance_to(j);
    }
    r.skip_while(is_blank);
    let end_line = r.line;
    match r.peek() {
        None => {}
        Some('\n') => {
            let to = r.pos + 1;
            r.advance_to(to);
        }
        Some(_) => {
            return Err(err(match (&key, &value) {
                (Some(_), None) => "expected `=` after the name: write NAME=value",
                _ => {
                    "text after the closing quote: put the whole value inside the quotes, or start a comment with ` #`"
                }
            }));
        }
    }
    Ok(match key {
        None => Step::Blank,
        Some(k) => Step::Binding(Some(k), value, line, end_line),
    })
}

/// Every `NAME=value` of `text` (already [`decode`]d) in file order, and the lines that cannot
/// be read (python-dotenv skips those; the caller decides). After a bad line reading goes on
/// where python-dotenv goes on, so the entries are the ones it would read.
pub fn parse(text: &str) -> (Vec<Entry>, Vec<LineError>) {
    let mut r = Reader {
        s: text.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    loop {
        match binding(&mut r) {
            Ok(Step::Done) => break,
            Ok(Step::Blank | Step::Binding(None, ..)) => {}
            Ok(Step::Binding(Some(key), value, line, end_line)) => entries.push(Entry {
                key,
                value,
                line,
                end_line,
            }),
            Err(e) => {
                errors.push(e);
                r.rest_of_line();
            }
        }
    }
    (entries, errors)
}

/// Replaces `${NAME}` / `${NAME:-default}` in each value as `load_dotenv()` does: `environ`
/// first (the process environment wins, as it does for the variables themselves), then the
/// file's variables read so far (a name without `=` reads as empty), then the default.
/// Returns `(name, value, line)`; names without `=` are left out (they set nothing).
pub fn resolve(
    entries: &[Entry],
    environ: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String, usize)> {
    let mut seen: std::collections::HashMap<&str, Option<String>> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    for e in entries {
        let value = e.value.as_ref().map(|v| {
            interpolate(v, |name, default| match environ(name) {
                Some(v) => v,
                None => match seen.get(name) {
                    Some(v) => v.clone().unwrap_or_default(),
                    None => default.unwrap_or("").to_string(),
                },
            })
        });
        seen.insert(&e.key, value.clone());
        if let Some(v) = value {
            out.push((e.key.clone(), v, e.line));
        }
    }
    out
}

/// python-dotenv's `\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}`, replaced left to right.
fn interpolate(v: &str, lookup: impl Fn(&str, Option<&str>) -> String) -> String {
    let s: Vec<char> = v.chars().collect();
    let mut out = String::with_capacity(v.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == '$' && s.get(i + 1) == Some(&'{') {
            let mut j = i + 2;
            while j < s.len() && s[j] != '}' && s[j] != ':' {
                j += 1;
            }
            let name: String = s[i + 2..j.min(s.len())].iter().collect();
            if s.get(j) == Some(&'}') {
                out.push_str(&lookup(&name, None));
                i = j + 1;
                continue;
            }
            if s.get(j) == Some(&':') && s.get(j + 1) == Some(&'-') {
                let mut k = j + 2;
                while k < s.len() && s[k] != '}' {
                    k += 1;
                }
                if k < s.len() {
                    let default: String = s[j + 2..k].iter().collect();
                    out.push_str(&lookup(&name, Some(&default)));
                    i = k + 1;
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Reads a whole `.env`: decoded, parsed and resolved against `environ`. The first bad line
/// is the error (with its line number).
pub fn read(
    bytes: &[u8],
    environ: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String, usize)>, LineError> {
    let text = decode(bytes)?;
    let (entries, errors) = parse(&text);
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    Ok(resolve(&entries, environ))
}

/// `value` written so that python-dotenv (and [`read`]) gives it back exactly: bare when it is
/// plain (letters, digits, `-_./:@+,`), else in double quotes with `\` `"` and line ends
/// escaped. python-dotenv has no escape for `${`: it is written `${:-$}{` (an empty name is
/// never set, so the default `$` is used); a trailing `\` is written `${:-\}` (a `\"` before
/// the closing quote would read as an escaped quote).
pub fn quote(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@+,".contains(c));
    if plain {
        return value.to_string();
    }
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len() + 8);
    out.push('"');
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' if i + 1 == chars.len() => out.push_str("${:-\\}"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '$' if chars.get(i + 1) == Some(&'{') => out.push_str("${:-$}"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_map(text: &str) -> Vec<(String, String)> {
        read(text.as_bytes(), |_| None)
            .expect("read")
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dollar_without_braces_is_literal_and_braces_are_references() {
        assert_eq!(
            read_map(
                "A=1\nWEBHOOK_SECRET=Pr1ce$ecret2024\nB='${A}x'\nC=\"${A}\"\nD=${A}\nE=$A\nF=${NOPE:-def}\nK\nL=${K:-dd}\n"
            ),
            pairs(&[
                ("A", "1"),
                ("WEBHOOK_SECRET", "Pr1ce$ecret2024"),
                ("B", "1x"),
                ("C", "1"),
                ("D", "1"),
                ("E", "$A"),
                ("F", "def"),
                ("L", ""),
            ])
        );
        let got = read(b"A=${HOME_X}/a\n", |n| {
            (n == "HOME_X").then(|| "/srv".to_string())
        })
        .unwrap();
        assert_eq!(got[0].1, "/srv/a");
    }

    #[test]
    fn quotes_escapes_comments_and_export() {
        assert_eq!(
            read_map(
                "A= #abc\nB=x #c\nC='a\\'b' # c\nD=\"a\\nb\\tc\\\\d\\$e\"\nexport E=1\nF=a#b\n  G = 2  \nH='x\\n'\nI=\"multi\nline\"\n"
            ),
            pairs(&[
                ("A", "#abc"),
                ("B", "x"),
                ("C", "a'b"),
                ("D", "a\nb\tc\\d\\$e"),
                ("E", "1"),
                ("F", "a#b"),
                ("G", "2"),
                ("H", "x\\n"),
                ("I", "multi\nline"),
            ])
        );
    }

    #[test]
    fn bom_and_line_ends() {
        assert_eq!(
            read_map("\u{feff}API_ID=1\r\nAPI_HASH=\"ab\r\ncd\"\rX=2"),
            pairs(&[("API_ID", "1"), ("API_HASH", "ab\ncd"), ("X", "2")])
        );
    }

    #[test]
    fn bad_lines_are_named_and_values_never_shown() {
        let e = read(b"A=1\n\nSECRET=\"hunter2-and-more\nB=2\n", |_| None).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = read(b"A=1\nB=\"x\" y\n", |_| None).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("after the closing quote"), "{e}");
        let e = read(b"A=1\nFOO bar\n", |_| None).unwrap_err();
        assert_eq!((e.line, e.message.contains("`=`")), (2, true), "{e}");
        let e = read(b"=1\n", |_| None).unwrap_err();
        assert_eq!(e.line, 1);
        let e = read(b"A=1\nB=\xcf\xf0\xe8\xe2\xe5\xf2\n", |_| None).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("UTF-8"), "{e}");
        // After a bad line, reading goes on where python-dotenv goes on.
        let (entries, errors) = parse("A=\"open\nB=2\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(entries[0].key, "B");
        assert_eq!(entries[0].line, 2);
    }

    #[test]
    fn a_quote_before_the_end_is_found_as_python_dotenv_finds_it() {
        // python-dotenv 1.2.2: {'A': 'C:\\"\nB='} is not produced: the text after the quote
        // that closes it (`x"`) makes line 1 unreadable, and nothing else is read.
        let (entries, errors) = parse("A=\"C:\\\\\"\nB=\"x\"\n");
        assert!(entries.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        // With no bare quote after it, the last escaped quote closes the value.
        assert_eq!(read_map("A=\"x\\\""), pairs(&[("A", "x\\")]));
    }

    #[test]
    fn quote_reads_back() {
        for v in [
            "",
            "plain",
            "Pr1ce$ecret2024",
            "${X}",
            "$${X}",
            "a'b\"c",
            "C:\\",
            "C:\\\\",
            "\\\"",
            "  lead and trail  ",
            "# not a comment",
            "x #y",
            "Привет, мир",
            "line1\nline2\r\n",
            "${:-$}",
            "\\${X}",
            "}{$",
        ] {
            let line = format!("K={}\nAFTER='x'\n", quote(v));
            assert_eq!(
                read_map(&line),
                pairs(&[("K", v), ("AFTER", "x")]),
                "{v:?} written as {line:?}"
            );
        }
        assert_eq!(quote("Pr1ce$ecret2024"), "\"Pr1ce$ecret2024\"");
        assert_eq!(quote("abc-1.2:x@y"), "abc-1.2:x@y");
    }
}
