//! Where a value is: the line of a `Spanned` value in the file, and the key of a value serde
//! refused while reading the file, so every error says `file:line: key: what to do`.

use toml::Spanned;

use super::ConfigError;

/// The 1-based line of byte `offset` in `src`.
pub(super) fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// The file being parsed: its name (for messages) and text (for lines).
pub(super) struct Ctx<'a> {
    pub(super) path: &'a str,
    pub(super) src: &'a str,
}

impl Ctx<'_> {
    /// An error at the line of `spanned`, naming `key`.
    pub(super) fn at<T>(
        &self,
        spanned: &Spanned<T>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        self.at_offset(spanned.span().start, key, message)
    }

    pub(super) fn at_offset(
        &self,
        offset: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::At {
            path: self.path.into(),
            line: line_of(self.src, offset),
            key: key.into(),
            message: message.into(),
        }
    }

    /// An error about `key` as a whole (a table, or a value without a line).
    pub(super) fn key(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            path: self.path.into(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// What `toml` refused while reading the file (syntax, a wrong type, an unknown key), at its
    /// line, naming the key when the refused value is written `key = value`: "invalid type:
    /// boolean `true`, expected a duration: …" says which setting.
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = in_users_words(e.message().trim());
        let Some(span) = e.span() else {
            return ConfigError::Toml {
                path: self.path.into(),
                message,
            };
        };
        match key_at(self.src, span.start).or_else(|| item_at(self.src, span.start)) {
            Some(key) => self.at_offset(span.start, key, message),
            None => ConfigError::Toml {
                path: format!("{}:{}", self.path, line_of(self.src, span.start)),
                message,
            },
        }
    }
}

/// serde's type names in the operator's words, with the fix: `expected u32` is "a whole
/// number", and a quoted number is to be written without quotes; `expected a string` (jitter,
/// …) is to be written in quotes.
fn in_users_words(message: &str) -> String {
    let whole = ["u8", "u16", "u32", "u64", "usize", "i32", "i64"];
    for t in whole {
        let tail = format!("expected {t}");
        if let Some(head) = message.strip_suffix(&tail) {
            let fix = if head.starts_with("invalid type: string") {
                "; write the number without quotes"
            } else {
                ""
            };
            return format!("{head}expected a whole number{fix}");
        }
    }
    if let Some(head) = message.strip_suffix("expected f64") {
        return format!("{head}expected a number");
    }
    if message.ends_with("expected a boolean") {
        return format!("{message}: write true or false, without quotes");
    }
    if message.ends_with("expected a sequence") {
        return format!(
            "{}expected a list: write the values in [ ], such as test = [\"@my_test_group\"]",
            message.strip_suffix("expected a sequence").unwrap_or(message)
        );
    }
    if message.ends_with("expected a string") && !message.starts_with("invalid type: string") {
        return format!(
            "{message}: write the value in quotes (such as jitter = \"10%\" or format = \"html\")"
        );
    }
    message.to_owned()
}

/// The dotted key (`settings.delay_between_chats`, `messages.b2b.format`) of the value starting
/// at `offset`, when its line reads `key = value` under a `[table]` or `[[table]]` header.
/// `None` for anything else (a key itself, a header, a line inside a multi-line array).
pub(super) fn key_at(src: &str, offset: usize) -> Option<String> {
    let offset = offset.min(src.len());
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = src[..offset][line_start..].split_once('=')?;
    let key = key.trim();
    let plain = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
    };
    if !plain(key) {
        return None;
    }
    let key = key.replace('"', "");
    let table = src[..line_start]
        .lines()
        .rev()
        .map(str::trim_start)
        .find(|l| l.starts_with('['))
        .and_then(|h| {
            let h = h.trim_start_matches('[');
            h.find(']').map(|end| h[..end].trim().replace('"', ""))
        });
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key,
    })
}

/// The item (`targets.prod[3]`, 1-based as `check` counts them) of a multi-line array that
/// the value at `offset` sits in, for errors inside such arrays (QA F10: a number among a
/// list's chats said only the line). Reads the file up to `offset` with TOML's lexical rules
/// — comments, basic and literal strings, multi-line ones, nested arrays and inline tables —
/// so a `,` or `[` inside a text is not counted. `None` outside a `key = [` array.
pub(super) fn item_at(src: &str, offset: usize) -> Option<String> {
    let src = src.get(..offset.min(src.len()))?;
    let mut table = String::new();
    // The `key` of the open top-level `key = [`, the open brackets, and the item count.
    let mut key: Option<String> = None;
    let mut depth = 0usize;
    let mut item = 1usize;
    let mut line_start = 0usize;
    let mut i = 0usize;
    let b = src.as_bytes();
    while i < b.len() {
        let rest = &src[i..];
        let c = b[i];
        if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
            let quote = &rest[..3];
            let escapes = quote == "\"\"\"";
            let mut j = 3;
            loop {
                let Some(found) = rest[j..].find(quote) else {
                    return None; // the offset is inside the string: a key's value, not an item
                };
                let at = j + found;
                let escaped = escapes && rest[j..at].ends_with('\\') && !rest[j..at].ends_with("\\\\");
                j = at + 3;
                if !escaped {
                    break;
                }
            }
            // A closing run of up to five quotes belongs to the string.
            while rest[j..].starts_with(&quote[..1]) && j < rest.len() {
                j += 1;
            }
            i += j;
            continue;
        }
        match c {
            b'"' | b'\'' => {
                let mut j = 1;
                while j < rest.len() && b[i + j] != c && b[i + j] != b'\n' {
                    if c == b'"' && b[i + j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                i += j + 1;
                continue;
            }
            b'#' => {
                i += rest.find('\n').unwrap_or(rest.len());
                continue;
            }
            b'\n' => line_start = i + 1,
            b'[' | b'{' if depth > 0 => depth += 1,
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    key = None;
                }
            }
            b',' if depth == 1 => item += 1,
            b'[' if src[line_start..i].trim().is_empty() => {
                // A `[table]` or `[[table]]` header.
                let h = rest.trim_start_matches('[');
                let end = h.find(']')?;
                table = h[..end].trim().replace('"', "");
                i += rest.find('\n').unwrap_or(rest.len());
                continue;
            }
            b'[' => {
                let before = src[line_start..i].trim_end();
                let name = before.strip_suffix('=')?.trim().replace('"', "");
                key = Some(name);
                depth = 1;
                item = 1;
            }
            b'{' => depth = 1,
            _ => {}
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    let key = key.filter(|_| depth >= 1)?;
    Some(match table.as_str() {
        "" => format!("{key}[{item}]"),
        t => format!("{t}.{key}[{item}]"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QA finding 18: `max_retries = "3"` said "expected u32".
    #[test]
    fn f18_type_errors_are_in_the_users_words() {
        assert_eq!(
            in_users_words("invalid type: string \"3\", expected u32"),
            "invalid type: string \"3\", expected a whole number; write the number without quotes"
        );
        assert_eq!(
            in_users_words("invalid type: floating point `0.1`, expected a string"),
            "invalid type: floating point `0.1`, expected a string: write the value in quotes (such as jitter = \"10%\" or format = \"html\")"
        );
        assert_eq!(in_users_words("unknown field `x`"), "unknown field `x`");
        assert_eq!(
            in_users_words("invalid type: string \"yes\", expected a boolean"),
            "invalid type: string \"yes\", expected a boolean: write true or false, without quotes"
        );
        assert_eq!(
            in_users_words("invalid type: string \"@t\", expected a sequence"),
            "invalid type: string \"@t\", expected a list: write the values in [ ], such as test = [\"@my_test_group\"]"
        );
    }

    #[test]
    fn the_key_of_a_value_with_its_table() {
        let src =
            "top = 1\n[settings]\ndelay_between_chats = true\n[[messages.m.items]]\ntext = 5\n";
        let at = |needle: &str| src.find(needle).map(|i| key_at(src, i));
        assert_eq!(at("1"), Some(Some("top".into())));
        assert_eq!(
            at("true"),
            Some(Some("settings.delay_between_chats".into()))
        );
        assert_eq!(at("5"), Some(Some("messages.m.items.text".into())));
        // A key itself, or a header, has no `key =` before it.
        assert_eq!(at("delay_between_chats"), Some(None));
        assert_eq!(at("[settings]"), Some(None));
    }

    /// Every offset of broken and multi-byte input gives an answer, never a panic.
    #[test]
    fn item_at_never_panics_on_any_offset() {
        for src in [
            "a = [\"unterminated\n  'x\n[t\n b = [ { c = \"\"\"ы\\\"\"\"\" ,]\n",
            "[[m.items]]\ntexts = [ '''Прайс''''' , \"\\\\\", # ё\n ]\n\"\"\"",
            "x = [\n  [1, 2],\n  { a = [3] },\n  ₽,\n",
        ] {
            for i in 0..=src.len() + 1 {
                let _ = item_at(src, i);
            }
        }
    }

    /// QA F10: a wrong value inside a multi-line list named only its line.
    #[test]
    fn the_item_of_a_multi_line_array_with_its_table_and_key() {
        let src = concat!(
            "[targets]\n",
            "prod = [\n",
            "    \"@a, [b]\",  # a comma, and [brackets] in a comment\n",
            "    { chat = \"@c\", days = \"mon,tue\" },\n",
            "    12345,\n",
            "]\n",
            "[messages.b2b]\n",
            "texts = [\n",
            "    \"\"\"Прайс, опт:\n",
            "iPhone — 71 000 ₽, [в наличии]\"\"\",\n",
            "    'C:\\path, literal',\n",
            "    42,\n",
            "]\n",
            "after = 1\n",
        );
        let at = |needle: &str| src.find(needle).and_then(|i| item_at(src, i));
        assert_eq!(at("12345").as_deref(), Some("targets.prod[3]"));
        assert_eq!(at("42").as_deref(), Some("messages.b2b.texts[3]"));
        // Outside an array, or inside a string value: not an item.
        assert_eq!(at("after"), None);
        assert_eq!(at("iPhone"), None);
    }
}
