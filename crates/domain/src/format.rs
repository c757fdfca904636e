//! Message formatting: the one function that turns a message as our users write it
//! (`(text, TextFormat)`) into what Telegram receives — plain text plus formatting entities.
//!
//! Validation (inline texts, files, sheets, CSV, the API, test sends), the sandbox and the
//! grammers gateway all call [`format_text`], so what is checked is exactly what is sent.
//! Entity offsets and lengths are UTF-16 code units, as Telegram counts them.
//!
//! Dialects (docs/formatting.md has the user's version):
//! - `plain`: no entities.
//! - `markdown`: Telethon's default parse mode as the original's users write it: `**bold**`,
//!   `__italic__`, `~~strike~~`, `` `code` ``, ```` ``` ```` fenced blocks (optional language),
//!   `[text](url)`, `[name](tg://user?id=123)` mentions. Every line break is kept. A delimiter
//!   without its partner is literal text, never an error. Beyond Telethon: nothing inside a bare
//!   `http(s)://` link is markup, `__` in the middle of a word is literal, markup inside link
//!   text is applied, and `\*` `\_` `\~` `` \` `` `\[` `\]` show the character itself.
//! - `html`: Telegram's HTML subset (Bot API "HTML style"); anything else is an error that
//!   names the tag and the fix.
//!
//! In every dialect `\r\n` and a lone `\r` become `\n`, and whitespace around the whole text is
//! trimmed, as Telegram itself does (so our offsets stay Telegram's).

use serde::{Deserialize, Serialize};

use crate::message::{MAX_CAPTION_CHARS, MAX_TEXT_CHARS};

/// How a message set's texts are written (`format = "…"` in `[messages.NAME]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextFormat {
    /// Sent as written, no entities.
    #[default]
    Plain,
    /// Telethon's Markdown dialect (`**bold**`, `__italic__`, `[text](url)`, …); see the module docs.
    Markdown,
    /// Telegram's HTML subset (Bot API "HTML style"); see the module docs.
    Html,
}

impl TextFormat {
    /// Reads the configuration's spelling: `plain`, `markdown`, `html`.
    pub fn parse(s: &str) -> Option<TextFormat> {
        match s {
            "plain" => Some(TextFormat::Plain),
            "markdown" => Some(TextFormat::Markdown),
            "html" => Some(TextFormat::Html),
            _ => None,
        }
    }

    /// The configuration's spelling; the inverse of [`TextFormat::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            TextFormat::Plain => "plain",
            TextFormat::Markdown => "markdown",
            TextFormat::Html => "html",
        }
    }
}

/// What an entity does; the names are Telegram's constructors, snake-cased
/// (`messageEntityTextUrl` → `text_url`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntityKind {
    /// `messageEntityBold`.
    Bold,
    /// `messageEntityItalic`.
    Italic,
    /// `messageEntityUnderline`.
    Underline,
    /// `messageEntityStrike`.
    Strike,
    /// `messageEntitySpoiler`.
    Spoiler,
    /// `messageEntityCode`: inline monospace.
    Code,
    /// `messageEntityPre`: a code block, with the language of its syntax highlighting if given.
    Pre {
        /// Language name as written after the opening fence or in `class="language-…"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
    },
    /// `messageEntityTextUrl`: a link whose text differs from its address.
    TextUrl {
        /// The link target as written in the markup.
        url: String,
    },
    /// A mention of a user by numeric id (`tg://user?id=123`).
    MentionName {
        /// Telegram user id of the person mentioned.
        user_id: i64,
    },
    /// `messageEntityCustomEmoji`: the text is the fallback emoji shown where custom ones are not.
    CustomEmoji {
        /// Telegram's document id of the custom emoji.
        document_id: i64,
    },
    /// `messageEntityBlockquote`.
    Blockquote {
        /// Shown folded until tapped (Telegram's expandable quote).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        collapsed: bool,
    },
}

/// One formatting entity. `offset` and `length` are UTF-16 code units into
/// [`FormattedText::text`]; `length` is never 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entity {
    /// What the entity does (flattened into the entity's JSON as `type` and its fields).
    #[serde(flatten)]
    pub kind: EntityKind,
    /// Start, in UTF-16 code units from the start of the text.
    pub offset: usize,
    /// Length in UTF-16 code units; never 0.
    pub length: usize,
}

impl Entity {
    /// One past the last UTF-16 unit covered.
    pub fn end(&self) -> usize {
        self.offset + self.length
    }
}

/// What Telegram receives: the text as shown and its entities, sorted by offset, an enclosing
/// entity before the ones inside it. Entities are either disjoint or nested.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FormattedText {
    /// The text as shown, markup removed and trimmed as Telegram trims it.
    pub text: String,
    /// The entities, sorted by offset, enclosing before enclosed.
    pub entities: Vec<Entity>,
}

/// Markup that cannot be sent. The message says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", if *.line > 0 { format!(" (line {} of the text)", .line) } else { String::new() })]
pub struct FormatError {
    /// 1-based line of the (line-break-normalised) input; 0 when the text has one line.
    pub line: usize,
    /// What is wrong and how to fix it, for the operator.
    pub message: String,
}

/// Why a text cannot be sent as a message or caption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The markup cannot be parsed.
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(
        "the text is {len} characters after formatting; Telegram allows {max} for {}: shorten it or split it in two",
        if *.caption { "a caption (the set has `media`)" } else { "a message" }
    )]
    /// Longer than Telegram allows ([`MAX_TEXT_CHARS`] for a message, [`MAX_CAPTION_CHARS`] for a caption).
    TooLong {
        /// Length after formatting, in UTF-16 code units.
        len: usize,
        /// The limit that applies, in UTF-16 code units.
        max: usize,
        /// Whether the text is a media caption (the set has `media`).
        caption: bool,
    },
    /// Nothing is left after formatting and trimming; Telegram refuses empty messages.
    #[error("the text is empty after formatting: give it text or mark it inactive")]
    Empty,
}

/// Length in UTF-16 code units, as Telegram counts a message's length and entity offsets.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Telegram's limit for the text: 4096 UTF-16 units for a message, 1024 for a media caption.
pub fn max_len(caption: bool) -> usize {
    if caption {
        MAX_CAPTION_CHARS
    } else {
        MAX_TEXT_CHARS
    }
}

/// Checks a formatted text against Telegram's limits ([`max_len`], counted in UTF-16 on the
/// formatted text) and that something is left to show.
pub fn check_length(formatted: &FormattedText, caption: bool) -> Result<(), ContentError> {
    let len = utf16_len(&formatted.text);
    let max = max_len(caption);
    if len > max {
        return Err(ContentError::TooLong { len, max, caption });
    }
    if formatted.text.trim().is_empty() {
        return Err(ContentError::Empty);
    }
    Ok(())
}

/// [`format_text`] then [`check_length`]: everything Telegram would refuse about a text.
pub fn prepare(
    text: &str,
    format: TextFormat,
    caption: bool,
) -> Result<FormattedText, ContentError> {
    let f = format_text(text, format)?;
    check_length(&f, caption)?;
    Ok(f)
}

/// Turns a message as written into what Telegram receives. Never panics; the only errors are
/// markup Telegram cannot represent (an unsupported HTML tag, a mention without a numeric id…).
pub fn format_text(text: &str, format: TextFormat) -> Result<FormattedText, FormatError> {
    let normalized = normalize_line_breaks(text);
    let mut out = Out::default();
    match format {
        TextFormat::Plain => out.push_str(&normalized),
        TextFormat::Markdown => {
            let chars: Vec<char> = normalized.chars().collect();
            Markdown::new(&chars, &mut out).run()?;
        }
        TextFormat::Html => Html::new(&normalized, &mut out).run()?,
    }
    Ok(out.finish())
}

fn normalize_line_breaks(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The output being built: text, its UTF-16 length so far, entities in creation order.
#[derive(Default)]
struct Out {
    text: String,
    len16: usize,
    entities: Vec<Entity>,
}

impl Out {
    fn push(&mut self, c: char) {
        self.text.push(c);
        self.len16 += c.len_utf16();
    }

    fn push_str(&mut self, s: &str) {
        self.text.push_str(s);
        self.len16 += utf16_len(s);
    }

    /// Adds an entity over `start..self.len16` unless it would be empty.
    fn entity(&mut self, kind: EntityKind, start: usize) {
        if self.len16 > start {
            self.entities.push(Entity {
                kind,
                offset: start,
                length: self.len16 - start,
            });
        }
    }

    /// Trims whitespace around the text (Telegram does) and orders the entities.
    fn finish(self) -> FormattedText {
        let Out { text, entities, .. } = self;
        let trimmed_start = text.trim_start();
        let lead = utf16_len(&text[..text.len() - trimmed_start.len()]);
        let trimmed = trimmed_start.trim_end();
        let kept = utf16_len(trimmed);
        let mut entities: Vec<(usize, Entity)> = entities
            .into_iter()
            .enumerate()
            .filter_map(|(i, mut e)| {
                let start = e.offset.saturating_sub(lead).min(kept);
                let end = e.end().saturating_sub(lead).min(kept);
                (end > start).then(|| {
                    e.offset = start;
                    e.length = end - start;
                    (i, e)
                })
            })
            .collect();
        // Outer entities are closed after their inner ones, so they were created later: at
        // an equal span, the later one encloses.
        entities.sort_by(|(ia, a), (ib, b)| {
            a.offset
                .cmp(&b.offset)
                .then(b.length.cmp(&a.length))
                .then(ib.cmp(ia))
        });
        FormattedText {
            text: trimmed.to_owned(),
            entities: entities.into_iter().map(|(_, e)| e).collect(),
        }
    }
}

/// The user id of a `tg://user?id=N` link; `None` when `url` is not such a link.
fn mention_id(url: &str, line: usize) -> Option<Result<i64, FormatError>> {
    let lower = url.get(..13).map(str::to_ascii_lowercase);
    if lower.as_deref() != Some("tg://user?id=") {
        return None;
    }
    let id = &url[13..];
    Some(match id.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => {
            let instead = match id.strip_prefix('@') {
                Some(name) if !name.is_empty() => {
                    format!(", or link the username instead: https://t.me/{name}")
                }
                _ => String::new(),
            };
            Err(FormatError {
                line,
                message: format!(
                    "the mention link `{url}` needs a numeric user id (tg://user?id=123456789), and `{id}` is not one: write the user's numeric id{instead}"
                ),
            })
        }
    })
}

// ---- Markdown -----------------------------------------------------------------------------

/// Characters a backslash makes literal.
const ESCAPABLE: &[char] = &['*', '_', '~', '`', '[', ']'];

struct Markdown<'a> {
    s: &'a [char],
    out: &'a mut Out,
    /// For each index, the first `](` at or after it (index of the `]`), escapes skipped.
    next_link_close: Vec<usize>,
    /// For each index, the first `(`, `)` or line break at or after it.
    next_paren_or_nl: Vec<usize>,
    /// For each `(`, its matching `)` on the same line (`usize::MAX`: none).
    matching: Vec<usize>,
    /// For each index, its 1-based line.
    line_at: Vec<usize>,
    many_lines: bool,
}

impl<'a> Markdown<'a> {
    fn new(s: &'a [char], out: &'a mut Out) -> Self {
        let n = s.len();
        let mut next_link_close = vec![n; n + 1];
        for i in (0..n).rev() {
            let escaped = i > 0 && s[i - 1] == '\\';
            next_link_close[i] = if s[i] == ']' && s.get(i + 1) == Some(&'(') && !escaped {
                i
            } else {
                next_link_close[i + 1]
            };
        }
        let mut next_paren_or_nl = vec![n; n + 1];
        for i in (0..n).rev() {
            next_paren_or_nl[i] = if matches!(s[i], '(' | ')' | '\n') {
                i
            } else {
                next_paren_or_nl[i + 1]
            };
        }
        let mut matching = vec![usize::MAX; n];
        let mut open = Vec::new();
        for (i, &c) in s.iter().enumerate() {
            match c {
                '(' => open.push(i),
                ')' => {
                    if let Some(o) = open.pop() {
                        matching[o] = i;
                    }
                }
                '\n' => open.clear(),
                _ => {}
            }
        }
        let mut line_at = Vec::with_capacity(n);
        let mut line = 1;
        for &c in s {
            line_at.push(line);
            if c == '\n' {
                line += 1;
            }
        }
        Markdown {
            s,
            out,
            next_link_close,
            next_paren_or_nl,
            matching,
            line_at,
            many_lines: line > 1,
        }
    }

    fn run(mut self) -> Result<(), FormatError> {
        self.inline(0, self.s.len())
    }

    fn line(&self, i: usize) -> usize {
        if self.many_lines {
            self.line_at.get(i).copied().unwrap_or(0)
        } else {
            0
        }
    }

    fn at(&self, i: usize, end: usize, pat: &str) -> bool {
        pat.chars()
            .enumerate()
            .all(|(k, p)| i + k < end && self.s[i + k] == p)
    }

    fn escape_at(&self, i: usize, end: usize) -> bool {
        self.s[i] == '\\' && i + 1 < end && ESCAPABLE.contains(&self.s[i + 1])
    }

    /// `__` between two letters or digits is part of a word (`price__list`), not markup.
    fn intraword(&self, i: usize, end: usize) -> bool {
        i > 0 && self.s[i - 1].is_alphanumeric() && i + 2 < end && self.s[i + 2].is_alphanumeric()
    }

    /// End of a bare link starting at `i` (`http://`, `https://`), or `None`. Nothing inside
    /// it is markup; markup characters and punctuation at its very end are not part of it.
    fn bare_url(&self, i: usize, end: usize) -> Option<usize> {
        if i > 0 && (self.s[i - 1].is_alphanumeric() || self.s[i - 1] == '/') {
            return None;
        }
        let scheme = ["http://", "https://"]
            .into_iter()
            .find(|p| {
                p.chars().enumerate().all(|(k, pc)| {
                    self.s
                        .get(i + k)
                        .is_some_and(|c| c.to_ascii_lowercase() == pc)
                })
            })?
            .len();
        if i + scheme > end {
            return None;
        }
        let mut e = i + scheme;
        while e < end && !self.s[e].is_whitespace() {
            e += 1;
        }
        while e > i + scheme && ".,;:!?)]}\"'*_~`>".contains(self.s[e - 1]) {
            e -= 1;
        }
        Some(e)
    }

    /// A ```` ``` ```` block at `i`: (content start, content end, language, index after).
    fn fence(&self, i: usize, end: usize) -> Option<(usize, usize, Option<String>, usize)> {
        if !self.at(i, end, "```") {
            return None;
        }
        let close = (i + 4..end.saturating_sub(2)).find(|&j| self.at(j, end, "```"))?;
        let mut start = i + 3;
        let mut stop = close;
        let mut language = None;
        if let Some(nl) = (start..stop).find(|&j| self.s[j] == '\n') {
            let first: String = self.s[start..nl].iter().collect();
            if first.is_empty() {
                start = nl + 1;
            } else if first
                .chars()
                .all(|c| c.is_alphanumeric() || "_+-#.".contains(c))
            {
                language = Some(first);
                start = nl + 1;
            }
        }
        if stop > start && self.s[stop - 1] == '\n' {
            stop -= 1;
        }
        Some((start, stop.max(start), language, close + 3))
    }

    /// A `` `code` `` span at `i`: index of the closing backtick.
    fn code_span(&self, i: usize, end: usize) -> Option<usize> {
        if self.s[i] != '`' {
            return None;
        }
        (i + 2..end).find(|&j| self.s[j] == '`')
    }

    /// `[text](url)` at `i`: (text end, url, index after).
    fn link(&self, i: usize, end: usize) -> Option<(usize, String, usize)> {
        if self.s[i] != '[' {
            return None;
        }
        let close = *self.next_link_close.get(i + 1)?;
        if close + 1 >= end || close == i + 1 {
            return None;
        }
        // The URL ends at the first `)` outside balanced parentheses (`…/Рубль_(валюта)`), on
        // the same line; groups are jumped over, so a text full of `(` stays linear.
        let mut j = close + 2;
        loop {
            let k = self.next_paren_or_nl.get(j).copied().unwrap_or(end);
            if k >= end {
                return None;
            }
            match self.s[k] {
                ')' => break j = k,
                '(' => match self.matching.get(k) {
                    Some(&m) if m < end => j = m + 1,
                    _ => return None,
                },
                _ => return None,
            }
        }
        let url: String = self.s[close + 2..j]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned();
        if url.is_empty() {
            return None;
        }
        Some((close, url, j + 1))
    }

    /// The closing `delim` for one opened at `open`, skipping escapes, code, links and bare
    /// links (their insides are never markup).
    fn find_close(&self, open: usize, end: usize, delim: &str) -> Option<usize> {
        let min = open + delim.len() + 1;
        let mut j = open + delim.len();
        while j < end {
            if j >= min && self.at(j, end, delim) && !(delim == "__" && self.intraword(j, end)) {
                return Some(j);
            }
            if self.escape_at(j, end) {
                j += 2;
            } else if let Some(e) = self.bare_url(j, end) {
                j = e.max(j + 1);
            } else if let Some((_, _, _, after)) = self.fence(j, end) {
                j = after;
            } else if self.at(j, end, "```") {
                j += 3;
            } else if let Some(c) = self.code_span(j, end) {
                j = c + 1;
            } else if let Some((_, _, after)) = self.link(j, end) {
                j = after;
            } else {
                j += 1;
            }
        }
        None
    }

    fn inline(&mut self, start: usize, end: usize) -> Result<(), FormatError> {
        let mut i = start;
        while i < end {
            let c = self.s[i];
            if self.escape_at(i, end) {
                self.out.push(self.s[i + 1]);
                i += 2;
                continue;
            }
            if let Some(e) = self.bare_url(i, end) {
                for k in i..e {
                    self.out.push(self.s[k]);
                }
                i = e.max(i + 1);
                continue;
            }
            if c == '`' {
                if let Some((from, to, language, after)) = self.fence(i, end) {
                    let at = self.out.len16;
                    for k in from..to {
                        self.out.push(self.s[k]);
                    }
                    self.out.entity(EntityKind::Pre { language }, at);
                    i = after;
                    continue;
                }
                if self.at(i, end, "```") {
                    // An unclosed fence is text, all three backticks of it.
                    self.out.push_str("```");
                    i += 3;
                    continue;
                }
                if let Some(close) = self.code_span(i, end) {
                    let at = self.out.len16;
                    for k in i + 1..close {
                        self.out.push(self.s[k]);
                    }
                    self.out.entity(EntityKind::Code, at);
                    i = close + 1;
                    continue;
                }
            }
            let delim = [
                ("**", EntityKind::Bold),
                ("__", EntityKind::Italic),
                ("~~", EntityKind::Strike),
            ]
            .into_iter()
            .find(|(d, _)| self.at(i, end, d));
            if let Some((d, kind)) = delim {
                if !(d == "__" && self.intraword(i, end))
                    && let Some(close) = self.find_close(i, end, d)
                {
                    let at = self.out.len16;
                    self.inline(i + 2, close)?;
                    self.out.entity(kind, at);
                    i = close + 2;
                } else {
                    self.out.push_str(d);
                    i += 2;
                }
                continue;
            }
            if let Some((text_end, url, after)) = self.link(i, end) {
                let kind = match mention_id(&url, self.line(i)) {
                    Some(id) => EntityKind::MentionName { user_id: id? },
                    None => EntityKind::TextUrl { url },
                };
                let at = self.out.len16;
                self.inline(i + 1, text_end)?;
                self.out.entity(kind, at);
                i = after;
                continue;
            }
            self.out.push(c);
            i += 1;
        }
        Ok(())
    }
}

// ---- HTML ---------------------------------------------------------------------------------

const HTML_TAGS: &str = "b, strong, i, em, u, ins, s, strike, del, tg-spoiler, span class=\"tg-spoiler\", a href, code, pre, blockquote, tg-emoji";

struct Open {
    name: String,
    kind: Option<EntityKind>,
    start: usize,
    /// Inside code or pre: nested tags add no entity (Telegram shows none there).
    verbatim: bool,
}

struct Html<'a> {
    src: &'a str,
    out: &'a mut Out,
    stack: Vec<Open>,
    many_lines: bool,
}

impl<'a> Html<'a> {
    fn new(src: &'a str, out: &'a mut Out) -> Self {
        Html {
            src,
            out,
            stack: Vec::new(),
            many_lines: src.contains('\n'),
        }
    }

    fn err(&self, at: usize, message: impl Into<String>) -> FormatError {
        let line = if self.many_lines {
            self.src[..at.min(self.src.len())].matches('\n').count() + 1
        } else {
            0
        };
        FormatError {
            line,
            message: format!("HTML: {}", message.into()),
        }
    }

    fn run(mut self) -> Result<(), FormatError> {
        let src = self.src;
        let mut pos = 0;
        while let Some(rel) = src[pos..].find(['<', '&']) {
            let at = pos + rel;
            self.out.push_str(&src[pos..at]);
            if src[at..].starts_with('&') {
                let (decoded, used) = decode_entity(&src[at..]);
                self.out.push_str(&decoded);
                pos = at + used;
                continue;
            }
            pos = self.tag(at)?;
        }
        self.out.push_str(&src[pos..]);
        if let Some(open) = self.stack.last() {
            return Err(self.err(
                src.len(),
                format!("<{0}> is never closed: add </{0}>", open.name),
            ));
        }
        Ok(())
    }

    /// Handles the `<` at `at`; returns where the text goes on.
    fn tag(&mut self, at: usize) -> Result<usize, FormatError> {
        let src = self.src;
        let rest = &src[at + 1..];
        if rest.starts_with("!--") {
            return Err(self.err(
                at,
                "HTML comments (<!-- … -->) are not supported by Telegram: remove the comment",
            ));
        }
        let closing = rest.starts_with('/');
        let body_start = at + 1 + usize::from(closing);
        let starts_name = src[body_start..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
        if !starts_name {
            // "5 < 6" or "<3": a `<` that starts no tag is text.
            self.out.push('<');
            return Ok(at + 1);
        }
        let Some(end) = find_tag_end(&src[body_start..]).map(|e| body_start + e) else {
            let snippet: String = src[at..].chars().take(20).collect();
            return Err(self.err(
                at,
                format!(
                    "`{snippet}` is not closed with `>`: close the tag, or write &lt; to show a <"
                ),
            ));
        };
        let inner = &src[body_start..end];
        let name_len = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(inner.len());
        let name = inner[..name_len].to_ascii_lowercase();
        let attrs_src = inner[name_len..].trim();
        let self_closing = attrs_src.ends_with('/');
        let attrs = parse_attrs(attrs_src.trim_end_matches('/'));
        let after = end + 1;
        if matches!(name.as_str(), "br" | "p" | "div") {
            return Err(self.err(
                at,
                format!(
                    "Telegram does not support <{name}>: write a line break (a new line) in the text instead"
                ),
            ));
        }
        if closing {
            return self.close(at, &name).map(|()| after);
        }
        let verbatim_parent = self.stack.last().is_some_and(|o| o.verbatim);
        let kind = match name.as_str() {
            "b" | "strong" => Some(EntityKind::Bold),
            "i" | "em" => Some(EntityKind::Italic),
            "u" | "ins" => Some(EntityKind::Underline),
            "s" | "strike" | "del" => Some(EntityKind::Strike),
            "tg-spoiler" => Some(EntityKind::Spoiler),
            "span" => {
                if attr(&attrs, "class") != Some("tg-spoiler") {
                    return Err(self.err(
                        at,
                        "Telegram supports <span> only as <span class=\"tg-spoiler\">: use that, or remove the <span>",
                    ));
                }
                Some(EntityKind::Spoiler)
            }
            "a" => {
                let Some(href) = attr(&attrs, "href")
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                else {
                    return Err(self.err(at, "<a> needs an href=\"…\" with the link"));
                };
                match mention_id(href, 0) {
                    Some(Ok(user_id)) => Some(EntityKind::MentionName { user_id }),
                    Some(Err(e)) => return Err(self.err(at, e.message)),
                    None => Some(EntityKind::TextUrl {
                        url: href.to_owned(),
                    }),
                }
            }
            "tg-emoji" => {
                let id = attr(&attrs, "emoji-id").unwrap_or("");
                match id.trim().parse::<i64>() {
                    Ok(document_id) => Some(EntityKind::CustomEmoji { document_id }),
                    Err(_) => {
                        return Err(self.err(
                            at,
                            format!(
                                "<tg-emoji> needs emoji-id=\"…\" with the custom emoji's numeric id; `{id}` is not one"
                            ),
                        ));
                    }
                }
            }
            "blockquote" => Some(EntityKind::Blockquote {
                collapsed: attrs.iter().any(|(k, _)| k == "expandable"),
            }),
            "pre" => Some(EntityKind::Pre { language: None }),
            "code" => {
                // <pre><code class="language-x"> names the block's language.
                let language = attr(&attrs, "class")
                    .and_then(|c| c.strip_prefix("language-"))
                    .filter(|l| !l.is_empty());
                match self.stack.last_mut() {
                    Some(Open {
                        kind: Some(EntityKind::Pre { language: lang }),
                        start,
                        ..
                    }) if *start == self.out.len16 => {
                        if let Some(l) = language {
                            *lang = Some(l.to_owned());
                        }
                        None
                    }
                    _ => Some(EntityKind::Code),
                }
            }
            _ => {
                return Err(self.err(
                    at,
                    format!(
                        "<{name}> is not a tag Telegram supports ({HTML_TAGS}): remove it, or write &lt;{name}&gt; to show it as text"
                    ),
                ));
            }
        };
        let verbatim = verbatim_parent || matches!(name.as_str(), "code" | "pre");
        let open = Open {
            name,
            kind: if verbatim_parent { None } else { kind },
            start: self.out.len16,
            verbatim,
        };
        if self_closing {
            return Ok(after);
        }
        self.stack.push(open);
        Ok(after)
    }

    fn close(&mut self, at: usize, name: &str) -> Result<(), FormatError> {
        match self.stack.last() {
            Some(top) if top.name == name => {}
            Some(top) => {
                return Err(self.err(
                    at,
                    format!(
                        "</{name}> closes <{}>: close the tags in the reverse order they were opened",
                        top.name
                    ),
                ));
            }
            None => return Err(self.err(at, format!("</{name}> closes nothing: remove it"))),
        }
        if let Some(open) = self.stack.pop()
            && let Some(kind) = open.kind
        {
            self.out.entity(kind, open.start);
        }
        Ok(())
    }
}

/// The `>` ending a tag whose body starts at `s`, outside quoted attribute values.
fn find_tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '>') => return Some(i),
            (None, '<') => return None,
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    None
}

/// `name="value" name='value' name=value name`, names lower-cased, values entity-decoded.
fn parse_attrs(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let name_len = rest
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        rest = rest[name_len..].trim_start();
        let mut value = String::new();
        if let Some(v) = rest.strip_prefix('=') {
            let v = v.trim_start();
            let (raw, tail) = match v.chars().next() {
                Some(q @ ('"' | '\'')) => match v[1..].find(q) {
                    Some(e) => (&v[1..1 + e], &v[2 + e..]),
                    None => (&v[1..], ""),
                },
                _ => {
                    let e = v.find(char::is_whitespace).unwrap_or(v.len());
                    (&v[..e], &v[e..])
                }
            };
            value = decode_all(raw);
            rest = tail.trim_start();
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

fn attr<'v>(attrs: &'v [(String, String)], name: &str) -> Option<&'v str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn decode_all(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some(rel) = s[pos..].find('&') {
        out.push_str(&s[pos..pos + rel]);
        let (d, used) = decode_entity(&s[pos + rel..]);
        out.push_str(&d);
        pos += rel + used;
    }
    out.push_str(&s[pos..]);
    out
}

/// Decodes the HTML entity at the start of `s` (which starts with `&`): Telegram's named
/// ones (`&lt;` `&gt;` `&amp;` `&quot;`) and numeric ones. Anything else is a literal `&`.
fn decode_entity(s: &str) -> (String, usize) {
    let window = s.char_indices().nth(12).map_or(s.len(), |(i, _)| i);
    let Some(semi) = s[..window].find(';') else {
        return ("&".into(), 1);
    };
    let name = &s[1..semi];
    let ch = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        _ => name
            .strip_prefix("#x")
            .or_else(|| name.strip_prefix("#X"))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
            .filter(|&n| n != 0)
            .and_then(char::from_u32),
    };
    match ch {
        Some(c) => (c.to_string(), semi + 1),
        None => ("&".into(), 1),
    }
}

#[cfg(test)]
mod tests;
