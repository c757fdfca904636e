//! Checks a fetched message set before it may become a version: what Telegram would refuse
//! (text over 4096 characters after formatting, caption over 1024, markup that does not
//! parse) is reported with the row it is in, so nothing fails at send time.

use smb_domain::{MAX_CAPTION_CHARS, MAX_TEXT_CHARS};
use smb_engine::TextFormat;

use crate::{SheetRow, SourceError};

/// How the set's messages will be sent (from its `[messages.NAME]` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContentRules {
    pub format: TextFormat,
    /// A photo or document is attached: the text is its caption.
    pub media: bool,
}

/// Checks every active row, then that at least one is active (unless `allow_empty`).
/// `unit` names a row in messages: "row" for sheets, "line" for text files.
pub fn check_rows(
    origin: &str,
    unit: &str,
    rows: &[SheetRow],
    rules: ContentRules,
    allow_empty: bool,
) -> Result<(), SourceError> {
    for r in rows.iter().filter(|r| r.message.active) {
        let err = |message: String| SourceError::Row {
            origin: origin.to_string(),
            location: format!("{unit} {}", r.row),
            message,
        };
        let visible = visible_text(&r.message.text, rules.format).map_err(err)?;
        let len = visible.encode_utf16().count();
        let (max, what) = if rules.media {
            (MAX_CAPTION_CHARS, "a caption (the set has `media`)")
        } else {
            (MAX_TEXT_CHARS, "a message")
        };
        if len > max {
            return Err(err(format!(
                "the text is {len} characters after formatting; Telegram allows {max} for {what}: shorten it or split it in two"
            )));
        }
        if visible.trim().is_empty() {
            return Err(err(
                "the text is empty after formatting: give it text or mark it inactive".into(),
            ));
        }
    }
    if !allow_empty && !rows.iter().any(|r| r.message.active) {
        return Err(SourceError::NoActive {
            origin: origin.to_string(),
            total: rows.len(),
        });
    }
    Ok(())
}

/// The text Telegram would show: markup removed, entities decoded. Errors say what does not
/// parse and how to fix it.
pub fn visible_text(text: &str, format: TextFormat) -> Result<String, String> {
    match format {
        TextFormat::Plain => Ok(text.to_string()),
        TextFormat::Html => html_visible(text),
        TextFormat::Markdown => markdown_visible(text),
    }
}

const HTML_TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
];

fn html_visible(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut open: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if tail.starts_with('&') {
            let (decoded, used) = decode_entity(tail);
            out.push_str(&decoded);
            rest = &tail[used..];
            continue;
        }
        let after = &tail[1..];
        let starts_tag = after.starts_with('/')
            || after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic());
        if !starts_tag {
            // "<5" or "< " is text to an HTML parser; Telegram wants "&lt;", but accepts it.
            out.push('<');
            rest = after;
            continue;
        }
        let Some(end) = after.find('>') else {
            return Err(format!(
                "HTML: `{}` is not closed with `>`: close the tag or write `&lt;`",
                snippet(tail)
            ));
        };
        let inner = &after[..end];
        rest = &after[end + 1..];
        let closing = inner.starts_with('/');
        let body = inner.trim_start_matches('/').trim_end_matches('/').trim();
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_lowercase();
        if name == "br" {
            return Err("HTML: Telegram does not support <br>: write a line break instead".into());
        }
        if !HTML_TAGS.contains(&name.as_str()) {
            return Err(format!(
                "HTML: <{name}> is not a tag Telegram supports (b, i, u, s, a, code, pre, blockquote, tg-spoiler…): remove it or write `&lt;`"
            ));
        }
        if closing {
            match open.pop() {
                Some(top) if top == name => {}
                Some(top) => {
                    return Err(format!(
                        "HTML: </{name}> closes <{top}>: close the tags in the order they were opened"
                    ));
                }
                None => return Err(format!("HTML: </{name}> closes nothing: remove it")),
            }
        } else if name == "a" && !body.contains("href") {
            return Err("HTML: <a> needs an href=\"…\"".into());
        } else {
            open.push(name);
        }
    }
    out.push_str(rest);
    if let Some(top) = open.pop() {
        return Err(format!("HTML: <{top}> is never closed: add </{top}>"));
    }
    Ok(out)
}

fn decode_entity(s: &str) -> (String, usize) {
    let Some(semi) = s[..s.len().min(12)].find(';') else {
        return ("&".into(), 1);
    };
    let name = &s[1..semi];
    let ch = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => name
            .strip_prefix("#x")
            .or_else(|| name.strip_prefix("#X"))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32),
    };
    match ch {
        Some(c) => (c.to_string(), semi + 1),
        None => ("&".into(), 1),
    }
}

fn snippet(s: &str) -> String {
    s.chars().take(20).collect()
}

fn markdown_visible(text: &str) -> Result<String, String> {
    // Code blocks first: nothing inside them is markup.
    let fences = text.matches("```").count();
    if fences % 2 == 1 {
        return Err(
            "Markdown: a ``` code block is opened but never closed: add a closing ```".into(),
        );
    }
    let mut out = String::with_capacity(text.len());
    let mut counts = [0usize; 3]; // **, __, ~~
    let mut in_code_block = false;
    let mut in_code = false;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '`' && next == Some('`') && chars.get(i + 2) == Some(&'`') {
            in_code_block = !in_code_block;
            i += 3;
            if in_code_block {
                // The language name after ``` is not shown.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            continue;
        }
        if in_code_block {
            out.push(c);
            i += 1;
            continue;
        }
        if c == '`' {
            in_code = !in_code;
            i += 1;
            continue;
        }
        if in_code {
            out.push(c);
            i += 1;
            continue;
        }
        if c == '\\' && next.is_some_and(|n| n.is_ascii_punctuation()) {
            out.extend(next);
            i += 2;
            continue;
        }
        let pair = |m: char| c == m && next == Some(m);
        if pair('*') || pair('_') || pair('~') {
            counts[match c {
                '*' => 0,
                '_' => 1,
                _ => 2,
            }] += 1;
            i += 2;
            continue;
        }
        if c == '[' {
            // [text](url): only the text is shown.
            if let Some(close) = chars[i + 1..]
                .iter()
                .position(|&x| x == ']')
                .map(|p| p + i + 1)
                && chars.get(close + 1) == Some(&'(')
            {
                let Some(end) = chars[close + 2..]
                    .iter()
                    .position(|&x| x == ')')
                    .map(|p| p + close + 2)
                else {
                    return Err("Markdown: a link `[text](url` is missing its closing `)`".into());
                };
                out.extend(&chars[i + 1..close]);
                i = end + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    if in_code {
        return Err(
            "Markdown: a ` code span is opened but never closed: add the closing ` or write \\`"
                .into(),
        );
    }
    for (n, m) in counts.iter().zip(["**", "__", "~~"]) {
        if n % 2 == 1 {
            return Err(format!(
                "Markdown: `{m}` is opened but never closed: close it, or write \\{} to show it",
                &m[..1]
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smb_domain::Message;

    fn row(n: usize, text: &str) -> SheetRow {
        SheetRow {
            row: n,
            message: Message::new(text),
            created: None,
            updated: None,
        }
    }

    #[test]
    fn html_is_measured_without_tags_and_must_be_balanced() {
        assert_eq!(
            html_visible("<b>iPhone</b> &lt;16&gt; &amp; <a href=\"x\">ссылка</a> 5 < 6").unwrap(),
            "iPhone <16> & ссылка 5 < 6"
        );
        assert_eq!(html_visible("&#1071;&#x42; AT&T").unwrap(), "ЯB AT&T");
        assert!(
            html_visible("<b>bold")
                .unwrap_err()
                .contains("never closed")
        );
        assert!(
            html_visible("<b><i>x</b></i>")
                .unwrap_err()
                .contains("closes <i>")
        );
        assert!(html_visible("<div>x</div>").unwrap_err().contains("<div>"));
        assert!(html_visible("<b x").unwrap_err().contains("not closed"));
        assert!(html_visible("</b>").is_err());
    }

    #[test]
    fn markdown_is_measured_without_markers_and_must_close() {
        assert_eq!(
            markdown_visible("**Опт** __сегодня__ `код` [сайт](https://x.ru) a_b 2*3").unwrap(),
            "Опт сегодня код сайт a_b 2*3"
        );
        assert_eq!(
            markdown_visible("```rust\nlet x = **1**;\n```").unwrap(),
            "\nlet x = **1**;\n"
        );
        assert_eq!(
            markdown_visible(r"\*\*not bold\*\*").unwrap(),
            "**not bold**"
        );
        assert!(markdown_visible("**open").is_err());
        assert!(markdown_visible("```\ncode").is_err());
        assert!(markdown_visible("`code").is_err());
        assert!(markdown_visible("[a](http://x").is_err());
    }

    #[test]
    fn limits_are_checked_after_formatting_and_name_the_row() {
        let html = ContentRules {
            format: TextFormat::Html,
            media: false,
        };
        let long_markup = format!("<b>{}</b>", "я".repeat(MAX_TEXT_CHARS));
        assert!(check_rows("s", "row", &[row(2, &long_markup)], html, false).is_ok());
        let err = check_rows(
            "s",
            "row",
            &[row(3, &"я".repeat(MAX_TEXT_CHARS + 1))],
            html,
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("s: row 3"), "{err}");
        let media = ContentRules {
            format: TextFormat::Plain,
            media: true,
        };
        let err = check_rows(
            "s",
            "row",
            &[row(4, &"x".repeat(MAX_CAPTION_CHARS + 1))],
            media,
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("row 4") && err.to_string().contains("caption"),
            "{err}"
        );
        let err = check_rows("s", "row", &[row(5, "<b>x")], html, false).unwrap_err();
        assert!(err.to_string().contains("row 5"), "{err}");
        let mut inactive = row(6, "<b>broken draft");
        inactive.message.active = false;
        assert!(matches!(
            check_rows("s", "row", std::slice::from_ref(&inactive), html, false),
            Err(SourceError::NoActive { total: 1, .. })
        ));
        assert!(check_rows("s", "row", &[inactive], html, true).is_ok());
    }
}
