//! Reads the Python original's `config/*.py` as data, never executing it: top-level lists of
//! ints and strings (`NAME = [...]`, `NAME: List[int] = [...]`, `NAME += [...]`,
//! `NAME.extend([...])`, `NAME.append(x)`, `A + B`), with comments, trailing commas, every
//! string quoting, escapes and implicit concatenation. Anything else is reported with its line.

use std::collections::BTreeMap;

/// A value in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Int(i64),
    Str(String),
}

/// One list with the line each item started on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PyList {
    pub items: Vec<(Item, usize)>,
    /// The line of the first assignment.
    pub line: usize,
    /// Items left out because they were not literals (each reported as an issue).
    pub skipped: usize,
}

/// Something the reader does not understand: it was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub line: usize,
    pub message: String,
}

/// What a module defines, in order of first assignment.
#[derive(Debug, Clone, Default)]
pub struct PyModule {
    pub lists: Vec<(String, PyList)>,
    /// The text after a `# Обновлено:` (or `# Updated:`) comment, the original's stamp.
    pub updated: Option<String>,
    pub issues: Vec<Issue>,
}

impl PyModule {
    pub fn get(&self, name: &str) -> Option<&PyList> {
        self.lists.iter().find(|(n, _)| n == name).map(|(_, l)| l)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Int(i64),
    Str(String),
    /// A literal we recognise but do not take (f-strings, bytes, floats, …), with why.
    Unsupported(String),
    Op(&'static str),
    Newline,
}

const OPS: &[&str] = &[
    "+=", "-=", "==", "**", "(", ")", "[", "]", "{", "}", ",", "=", ".", "+", "-", ":", ";", "*",
    "/", "%", "<", ">", "|", "&", "@", "~", "!",
];

struct Lexer<'a> {
    src: &'a [char],
    pos: usize,
    line: usize,
    depth: usize,
    toks: Vec<(Tok, usize)>,
    updated: Option<String>,
    issues: Vec<Issue>,
}

/// Parses a module's text.
pub fn parse_module(text: &str) -> PyModule {
    let chars: Vec<char> = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .chars()
        .collect();
    let mut lx = Lexer {
        src: &chars,
        pos: 0,
        line: 1,
        depth: 0,
        toks: Vec::new(),
        updated: None,
        issues: Vec::new(),
    };
    lx.run();
    let mut p = Parser {
        toks: lx.toks,
        pos: 0,
        module: PyModule::default(),
        defined: BTreeMap::new(),
        skipped: 0,
    };
    p.module.issues = lx.issues;
    p.module.updated = lx.updated;
    p.run();
    p.module
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.src.get(self.pos + k).copied()
    }

    fn push(&mut self, t: Tok, line: usize) {
        self.toks.push((t, line));
    }

    fn run(&mut self) {
        while let Some(c) = self.peek(0) {
            let line = self.line;
            match c {
                '\n' => {
                    self.pos += 1;
                    self.line += 1;
                    if self.depth == 0
                        && !matches!(self.toks.last(), Some((Tok::Newline, _)) | None)
                    {
                        self.push(Tok::Newline, line);
                    }
                }
                ' ' | '\t' | '\r' | '\u{c}' => self.pos += 1,
                '\\' if self.peek(1) == Some('\n')
                    || (self.peek(1) == Some('\r') && self.peek(2) == Some('\n')) =>
                {
                    self.pos += if self.peek(1) == Some('\n') { 2 } else { 3 };
                    self.line += 1;
                }
                '#' => {
                    let start = self.pos + 1;
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                    let comment: String = self.src[start..self.pos].iter().collect();
                    let t = comment.trim();
                    for tag in ["Обновлено:", "обновлено:", "Updated:", "updated:"]
                    {
                        if let Some(rest) = t.strip_prefix(tag)
                            && self.updated.is_none()
                        {
                            self.updated = Some(rest.trim().to_string());
                        }
                    }
                }
                '\'' | '"' => self.string(String::new(), line),
                c if c.is_ascii_digit() => self.number(line),
                c if c.is_alphabetic() || c == '_' => {
                    let start = self.pos;
                    while self
                        .peek(0)
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    {
                        self.pos += 1;
                    }
                    let word: String = self.src[start..self.pos].iter().collect();
                    let is_prefix = word.len() <= 2 && word.chars().all(|c| "rRuUbBfF".contains(c));
                    if is_prefix && matches!(self.peek(0), Some('\'' | '"')) {
                        self.string(word, line);
                    } else {
                        self.push(Tok::Name(word), line);
                    }
                }
                _ => {
                    let Some(op) = OPS.iter().find(|op| {
                        op.chars()
                            .enumerate()
                            .all(|(i, oc)| self.peek(i) == Some(oc))
                    }) else {
                        self.issues.push(Issue {
                            line,
                            message: format!("unexpected character `{c}`"),
                        });
                        self.pos += 1;
                        continue;
                    };
                    self.pos += op.chars().count();
                    match *op {
                        "(" | "[" | "{" => self.depth += 1,
                        ")" | "]" | "}" => self.depth = self.depth.saturating_sub(1),
                        _ => {}
                    }
                    self.push(Tok::Op(op), line);
                }
            }
        }
        self.push(Tok::Newline, self.line);
    }

    fn number(&mut self, line: usize) {
        let start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.pos += 1;
        }
        let raw: String = self.src[start..self.pos]
            .iter()
            .filter(|c| **c != '_')
            .collect();
        match raw.parse::<i64>() {
            Ok(n) => self.push(Tok::Int(n), line),
            Err(_) => self.push(
                Tok::Unsupported(format!(
                    "the number `{raw}` (only whole decimal numbers are read)"
                )),
                line,
            ),
        }
    }

    fn string(&mut self, prefix: String, line: usize) {
        let p = prefix.to_ascii_lowercase();
        let raw = p.contains('r');
        let q = self.peek(0).unwrap_or('"');
        let triple = self.peek(1) == Some(q) && self.peek(2) == Some(q);
        self.pos += if triple { 3 } else { 1 };
        let mut out = String::new();
        let mut bad: Option<String> = None;
        loop {
            let Some(c) = self.peek(0) else {
                self.issues.push(Issue {
                    line,
                    message: "a string is never closed".into(),
                });
                return;
            };
            if c == q && (!triple || (self.peek(1) == Some(q) && self.peek(2) == Some(q))) {
                self.pos += if triple { 3 } else { 1 };
                break;
            }
            if c == '\n' {
                if !triple {
                    self.issues.push(Issue {
                        line,
                        message: "a string is not closed on its line".into(),
                    });
                    return;
                }
                self.line += 1;
            }
            if c == '\\' {
                let Some(n) = self.peek(1) else {
                    self.pos += 1;
                    continue;
                };
                if raw {
                    out.push('\\');
                    out.push(n);
                    self.pos += 2;
                    if n == '\n' {
                        self.line += 1;
                    }
                    continue;
                }
                self.pos += 2;
                match n {
                    '\n' => self.line += 1,
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' | '\'' | '"' => out.push(n),
                    'x' | 'u' | 'U' => {
                        let len = match n {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..len).filter_map(|i| self.peek(i)).collect();
                        match u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .filter(|_| hex.len() == len)
                        {
                            Some(ch) => {
                                out.push(ch);
                                self.pos += len;
                            }
                            None => bad = Some(format!("the escape `\\{n}{hex}`")),
                        }
                    }
                    'N' => bad = Some("a `\\N{…}` escape".into()),
                    other => {
                        // Python keeps unknown escapes as they are.
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(c);
            self.pos += 1;
        }
        if p.contains('f') {
            bad = Some("an f-string (its value is computed when Python runs)".into());
        } else if p.contains('b') {
            bad = Some("a bytes literal".into());
        }
        match bad {
            Some(why) => self.push(Tok::Unsupported(why), line),
            None => self.push(Tok::Str(out), line),
        }
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    module: PyModule,
    defined: BTreeMap<String, usize>,
    /// Items skipped in the statement being read.
    skipped: usize,
}

impl Parser {
    fn tok(&self, k: usize) -> &Tok {
        self.toks
            .get(self.pos + k)
            .map_or(&Tok::Newline, |(t, _)| t)
    }

    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .map(|(_, l)| *l)
            .or_else(|| self.toks.last().map(|(_, l)| *l))
            .unwrap_or(1)
    }

    fn skip_statement(&mut self) {
        while self.pos < self.toks.len() && *self.tok(0) != Tok::Newline {
            self.pos += 1;
        }
        self.pos += 1;
    }

    fn issue(&mut self, line: usize, message: impl Into<String>) {
        self.module.issues.push(Issue {
            line,
            message: message.into(),
        });
    }

    fn run(&mut self) {
        while self.pos < self.toks.len() {
            let line = self.line();
            match self.tok(0).clone() {
                Tok::Newline => self.pos += 1,
                Tok::Op(";") => self.pos += 1,
                Tok::Name(w) if w == "import" || w == "from" => self.skip_statement(),
                Tok::Str(_) if matches!(self.tok(1), Tok::Newline) => self.pos += 2, // docstring
                Tok::Name(name) => self.statement(name, line),
                _ => {
                    self.issue(line, "a statement that is not a list assignment (skipped)");
                    self.skip_statement();
                }
            }
        }
    }

    fn statement(&mut self, name: String, line: usize) {
        self.pos += 1;
        self.skipped = 0;
        let mode = match self.tok(0).clone() {
            Tok::Op("=") => {
                self.pos += 1;
                Mode::Assign
            }
            Tok::Op("+=") => {
                self.pos += 1;
                Mode::Extend
            }
            Tok::Op(":") => {
                // An annotation: `NAME: List[int] = [...]`.
                while !matches!(self.tok(0), Tok::Op("=") | Tok::Newline) {
                    self.pos += 1;
                }
                if *self.tok(0) != Tok::Op("=") {
                    self.pos += 1;
                    return;
                }
                self.pos += 1;
                Mode::Assign
            }
            Tok::Op(".") => {
                let method = match self.tok(1) {
                    Tok::Name(m) if *self.tok(2) == Tok::Op("(") => m.clone(),
                    _ => {
                        self.issue(
                            line,
                            format!("`{name}.…` is not `.extend(...)` or `.append(...)` (skipped)"),
                        );
                        self.skip_statement();
                        return;
                    }
                };
                self.pos += 3;
                let mode = match method.as_str() {
                    "extend" => Mode::Extend,
                    "append" => Mode::Append,
                    other => {
                        self.issue(line, format!("`{name}.{other}(...)` changes a list in a way this import does not follow (skipped)"));
                        self.skip_statement();
                        return;
                    }
                };
                let value = if mode == Mode::Append {
                    self.item_list_of_one()
                } else {
                    self.expr()
                };
                if *self.tok(0) != Tok::Op(")") {
                    self.issue(
                        line,
                        format!("`{name}.{method}(` is not closed as expected (skipped)"),
                    );
                    self.skip_statement();
                    return;
                }
                self.pos += 1;
                self.finish(name, mode, value, line);
                return;
            }
            _ => {
                self.issue(
                    line,
                    format!("`{name} …` is not a list assignment (skipped)"),
                );
                self.skip_statement();
                return;
            }
        };
        let value = self.expr();
        self.finish(name, mode, value, line);
    }

    fn finish(&mut self, name: String, mode: Mode, value: Option<Vec<(Item, usize)>>, line: usize) {
        if !matches!(self.tok(0), Tok::Newline | Tok::Op(";")) {
            self.issue(
                line,
                format!("`{name}`: the value is more than a list of numbers and strings (skipped)"),
            );
            self.skip_statement();
            return;
        }
        let Some(items) = value else {
            // expr() already explained why.
            return;
        };
        match (mode, self.defined.get(&name).copied()) {
            (Mode::Assign, Some(i)) => {
                self.module.lists[i].1.items = items;
                self.module.lists[i].1.skipped = self.skipped;
            }
            (Mode::Assign, None) => {
                self.defined.insert(name.clone(), self.module.lists.len());
                let skipped = self.skipped;
                self.module.lists.push((
                    name,
                    PyList {
                        items,
                        line,
                        skipped,
                    },
                ));
            }
            (_, Some(i)) => {
                self.module.lists[i].1.items.extend(items);
                self.module.lists[i].1.skipped += self.skipped;
            }
            (_, None) => self.issue(
                line,
                format!("`{name}` is extended before it is defined (skipped)"),
            ),
        }
    }

    fn item_list_of_one(&mut self) -> Option<Vec<(Item, usize)>> {
        let line = self.line();
        self.item().map(|it| vec![(it, line)])
    }

    /// `[...]`, `(...)`, a defined name, or a `+` of those. `None` after reporting an issue.
    fn expr(&mut self) -> Option<Vec<(Item, usize)>> {
        let mut out = self.term()?;
        while *self.tok(0) == Tok::Op("+") {
            self.pos += 1;
            out.extend(self.term()?);
        }
        Some(out)
    }

    fn term(&mut self) -> Option<Vec<(Item, usize)>> {
        let line = self.line();
        match self.tok(0).clone() {
            Tok::Op(open @ ("[" | "(")) => {
                let close = if open == "[" { "]" } else { ")" };
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if *self.tok(0) == Tok::Op(close) {
                        self.pos += 1;
                        return Some(items);
                    }
                    if self.pos >= self.toks.len() || *self.tok(0) == Tok::Newline {
                        self.issue(
                            line,
                            format!("a list opened here is never closed with `{close}`"),
                        );
                        return None;
                    }
                    let item_line = self.line();
                    let read = self.item();
                    if read.is_none() {
                        self.skipped += 1;
                        self.skip_item(close);
                    }
                    match self.tok(0) {
                        Tok::Op(",") => {
                            self.pos += 1;
                            items.extend(read.map(|it| (it, item_line)));
                        }
                        Tok::Op(c) if *c == close => {
                            items.extend(read.map(|it| (it, item_line)));
                        }
                        Tok::Newline => {} // reported as unclosed above
                        _ => {
                            // The literal read so far is only the start of the item
                            // (`"Цена: " + PRICE`, `"{}".format(x)`): importing it would
                            // broadcast a shortened text, so the whole item is dropped.
                            if read.is_some() {
                                self.skipped += 1;
                                self.issue(
                                    self.line(),
                                    "the item goes on with an expression this import does not read \
                                     (`+` with a name or an f-string, `%`, `.format(…)`, a call): \
                                     the whole item is skipped, never imported shortened; \
                                     write it as one string literal",
                                );
                            } else {
                                self.issue(
                                    self.line(),
                                    "expected `,` between list items (the whole item is skipped)",
                                );
                            }
                            self.skip_item(close);
                            if *self.tok(0) == Tok::Op(",") {
                                self.pos += 1;
                            }
                        }
                    }
                }
            }
            Tok::Name(n) => {
                self.pos += 1;
                match self.defined.get(&n) {
                    Some(&i) => Some(self.module.lists[i].1.items.clone()),
                    None => {
                        self.issue(line, format!("`{n}` is not a list defined above (skipped)"));
                        self.skip_statement_rest();
                        None
                    }
                }
            }
            _ => {
                self.issue(
                    line,
                    "the value is not a list of numbers and strings (skipped)",
                );
                self.skip_statement_rest();
                None
            }
        }
    }

    fn skip_statement_rest(&mut self) {
        while self.pos < self.toks.len() && *self.tok(0) != Tok::Newline {
            self.pos += 1;
        }
    }

    /// Skips to the next `,` or the closing bracket at this nesting level.
    fn skip_item(&mut self, close: &str) {
        let mut depth = 0usize;
        while self.pos < self.toks.len() {
            match self.tok(0) {
                Tok::Op("(" | "[" | "{") => depth += 1,
                Tok::Op(c @ (")" | "]" | "}")) => {
                    if depth == 0 {
                        if *c == close {
                            return;
                        }
                    } else {
                        depth -= 1;
                    }
                }
                Tok::Op(",") if depth == 0 => return,
                Tok::Newline => return,
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// One literal: an int (with sign), or adjacent strings (implicit concatenation, also
    /// inside parentheses). Reports and returns `None` for anything else.
    fn item(&mut self) -> Option<Item> {
        let line = self.line();
        match self.tok(0).clone() {
            Tok::Op(sign @ ("-" | "+")) => {
                if let Tok::Int(n) = self.tok(1).clone() {
                    self.pos += 2;
                    return Some(Item::Int(if sign == "-" { -n } else { n }));
                }
            }
            Tok::Int(n) => {
                self.pos += 1;
                return Some(Item::Int(n));
            }
            Tok::Str(_) => {
                let first = self.strings();
                return self.plus_literals(first);
            }
            Tok::Op("(") if matches!(self.tok(1), Tok::Str(_)) => {
                if let Ok(first) = self.parenthesized_strings() {
                    return self.plus_literals(first);
                }
            }
            Tok::Unsupported(why) => {
                self.issue(line, format!("{why} is not read (skipped)"));
                self.pos += 1;
                return None;
            }
            _ => {}
        }
        self.issue(
            line,
            "a list item that is not a number or a string literal (skipped)",
        );
        None
    }

    /// `("a" "b")`: the strings inside one pair of parentheses (`Ok(None)`: one of them was
    /// reported as unreadable). `Err` (position kept) when the parentheses hold more than
    /// strings.
    fn parenthesized_strings(&mut self) -> Result<Option<Item>, NotStrings> {
        let start = self.pos;
        let issues = self.module.issues.len();
        self.pos += 1;
        let s = self.strings();
        if *self.tok(0) == Tok::Op(")") {
            self.pos += 1;
            return Ok(s);
        }
        self.pos = start;
        self.module.issues.truncate(issues);
        Err(NotStrings)
    }

    /// `"a" + "b" + ("c" "d")`: a `+` of string literals is read as the one string Python
    /// computes (QA finding F7). The first `+` followed by anything else (a name, a call, an
    /// f-string) is left where it is, so the list reader drops the whole item as before.
    fn plus_literals(&mut self, first: Option<Item>) -> Option<Item> {
        let mut out = match first? {
            Item::Str(s) => s,
            other => return Some(other),
        };
        while *self.tok(0) == Tok::Op("+") {
            let next = match (self.tok(1), self.tok(2)) {
                (Tok::Str(_), _) => {
                    self.pos += 1;
                    self.strings()
                }
                (Tok::Op("("), Tok::Str(_)) => {
                    let plus = self.pos;
                    self.pos += 1;
                    match self.parenthesized_strings() {
                        Ok(s) => s,
                        Err(NotStrings) => {
                            self.pos = plus;
                            break;
                        }
                    }
                }
                _ => break,
            };
            match next? {
                Item::Str(s) => out.push_str(&s),
                Item::Int(_) => return None,
            }
        }
        Some(Item::Str(out))
    }

    fn strings(&mut self) -> Option<Item> {
        let mut s = String::new();
        let mut bad = false;
        loop {
            match self.tok(0).clone() {
                Tok::Str(part) => s.push_str(&part),
                Tok::Unsupported(why) => {
                    let line = self.line();
                    self.issue(
                        line,
                        format!("{why} is not read (the whole message is skipped)"),
                    );
                    bad = true;
                }
                _ => break,
            }
            self.pos += 1;
        }
        if bad { None } else { Some(Item::Str(s)) }
    }
}

/// Parentheses that hold more than string literals (see `parenthesized_strings`).
struct NotStrings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Assign,
    Extend,
    Append,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(m: &PyModule, name: &str) -> Vec<String> {
        m.get(name)
            .unwrap()
            .items
            .iter()
            .map(|(i, _)| match i {
                Item::Str(s) => s.clone(),
                Item::Int(n) => n.to_string(),
            })
            .collect()
    }

    #[test]
    fn targets_with_comments_trailing_commas_extend_and_annotations() {
        let m = parse_module(
            "\"\"\"Targets.\"\"\"\nfrom typing import List\n\nTARGETS: List[int] = [\n    -1001234567890,  # чат 1\n    -100_987, # чат 2\n    '@price_chat',\n]\nTEST_TARGETS = [-1001111111111,]\nNEW_TARGETS = []\nTARGETS.extend([\n    -1002,\n])\nTARGETS += [-1003]\nTARGETS.append(-1004)\nALL_TARGETS = TARGETS + TEST_TARGETS\n",
        );
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        assert_eq!(
            strs(&m, "TARGETS"),
            [
                "-1001234567890",
                "-100987",
                "@price_chat",
                "-1002",
                "-1003",
                "-1004"
            ]
        );
        assert_eq!(strs(&m, "TEST_TARGETS"), ["-1001111111111"]);
        assert_eq!(strs(&m, "NEW_TARGETS"), Vec::<String>::new());
        assert_eq!(strs(&m, "ALL_TARGETS").len(), 7);
        assert_eq!(m.get("TARGETS").unwrap().items[1].1, 6);
    }

    #[test]
    fn strings_in_every_quoting_with_escapes_and_concatenation() {
        let src = concat!(
            "# Обновлено: 2025-01-15 12:30:00\n",
            "MESSAGES_B2B = [\n",
            "    \"Двойные \\\"кавычки\\\"\\nи перевод\",\n",
            "    'Одинарные \\'кавычки\\' \\u20bd \\x41',\n",
            "    \"\"\"Тройные\n",
            "строки\"\"\",\n",
            "    '''ещё ''' \"и склейка \"\n",
            "    'через строки',\n",
            "    (\"в скобках \"\n",
            "     \"тоже\"),\n",
            "    r'сырая \\n строка',\n",
            "    \"продолжение \\\n",
            "строки\",\n",
            "]\n",
        );
        let m = parse_module(src);
        assert!(m.issues.is_empty(), "{:?}", m.issues);
        assert_eq!(m.updated.as_deref(), Some("2025-01-15 12:30:00"));
        assert_eq!(
            strs(&m, "MESSAGES_B2B"),
            [
                "Двойные \"кавычки\"\nи перевод",
                "Одинарные 'кавычки' ₽ A",
                "Тройные\nстроки",
                "ещё и склейка через строки",
                "в скобках тоже",
                "сырая \\n строка",
                "продолжение строки",
            ]
        );
    }

    #[test]
    fn unsupported_constructs_are_reported_with_their_line() {
        let src = "X = [\n  'ok',\n  f'{price} руб',\n  some_call(),\n  1.5,\n]\nprint('hi')\nY = load()\nfor x in X: pass\n";
        let m = parse_module(src);
        assert_eq!(strs(&m, "X"), ["ok"]);
        let lines: Vec<usize> = m.issues.iter().map(|i| i.line).collect();
        assert!(
            lines.contains(&3) && lines.contains(&4) && lines.contains(&5),
            "{:?}",
            m.issues
        );
        assert!(
            lines.contains(&7) && lines.contains(&8) && lines.contains(&9),
            "{:?}",
            m.issues
        );
        assert!(
            m.issues.iter().any(|i| i.message.contains("f-string")),
            "{:?}",
            m.issues
        );
    }

    #[test]
    fn an_unclosed_list_is_reported() {
        let m = parse_module("X = [1, 2\n");
        assert!(m.get("X").is_none());
        assert_eq!(m.issues.len(), 1, "{:?}", m.issues);
        assert_eq!(m.issues[0].line, 1);
    }

    /// QA finding F8: `["GUS " + f"{x}"]` imported `GUS`. An item that goes on past its
    /// literal is dropped whole and reported; its neighbours stay.
    #[test]
    fn an_item_continued_by_an_expression_is_skipped_whole() {
        let m = parse_module(
            "M = [\"GUS \" + f\"{x}\", \"a\", 'Цена: ' + PRICE + ' ₽', '{}'.format(1), \"b\" % 2, 'c']\n",
        );
        assert_eq!(strs(&m, "M"), ["a", "c"]);
        assert_eq!(m.get("M").unwrap().skipped, 4);
        assert_eq!(m.issues.len(), 4, "{:?}", m.issues);
        assert!(
            m.issues
                .iter()
                .all(|i| i.line == 1 && i.message.contains("the whole item is skipped")),
            "{:?}",
            m.issues
        );
    }

    /// QA finding F7: a `+` of string literals has a value known without running Python; it
    /// is read. A `+` that reaches a name, a call or an f-string still drops the whole item.
    #[test]
    fn literal_plus_literal_is_read_and_anything_else_still_skipped() {
        let m = parse_module(concat!(
            "MESSAGES_GUS = [\"Гусь: \" + \"новинки\", \"Гусь простой\"]\n",
            "M = ['a' + 'b' + (\"c\" 'd'), 'e' 'f' + 'g', ('h') + 'i',\n",
            "     'x' + 'y' + NAME, 'p' + f'{q}', 'r' + 's'.upper(), 't' + ('u' + V), 'ok']\n",
        ));
        assert_eq!(strs(&m, "MESSAGES_GUS"), ["Гусь: новинки", "Гусь простой"]);
        assert_eq!(m.get("MESSAGES_GUS").unwrap().skipped, 0);
        assert_eq!(strs(&m, "M"), ["abcd", "efg", "hi", "ok"]);
        assert_eq!(m.get("M").unwrap().skipped, 4, "{:?}", m.issues);
        assert_eq!(m.issues.len(), 4, "{:?}", m.issues);
        assert!(
            m.issues
                .iter()
                .all(|i| i.line == 3 && i.message.contains("the whole item is skipped")),
            "{:?}",
            m.issues
        );
    }
}
