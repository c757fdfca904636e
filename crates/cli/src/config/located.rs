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
        let message = e.message().trim().to_owned();
        let Some(span) = e.span() else {
            return ConfigError::Toml {
                path: self.path.into(),
                message,
            };
        };
        match key_at(self.src, span.start) {
            Some(key) => self.at_offset(span.start, key, message),
            None => ConfigError::Toml {
                path: format!("{}:{}", self.path, line_of(self.src, span.start)),
                message,
            },
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
