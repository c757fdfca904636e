//! Checks a fetched message set before it may become a version: what Telegram would refuse
//! (text over 4096 UTF-16 units after formatting, caption over 1024, markup that cannot be
//! sent) is reported with the row it is in, so nothing fails at send time. The rules are
//! `smb_domain::format`'s — the same formatter the gateways send with.

use smb_domain::{ContentError, TextFormat, prepare};

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
        check_text(&r.message.text, rules).map_err(|message| SourceError::Row {
            origin: origin.to_string(),
            location: format!("{unit} {}", r.row),
            message,
        })?;
    }
    if !allow_empty && !rows.iter().any(|r| r.message.active) {
        return Err(SourceError::NoActive {
            origin: origin.to_string(),
            total: rows.len(),
        });
    }
    Ok(())
}

/// Formats one text as it will be sent and checks Telegram's limits; the error says what to
/// fix.
pub fn check_text(text: &str, rules: ContentRules) -> Result<(), String> {
    prepare(text, rules.format, rules.media)
        .map(|_| ())
        .map_err(|e| match e {
            ContentError::Format(f) => format!("{}: {f}", rules.format.as_str()),
            other => other.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use smb_domain::{MAX_CAPTION_CHARS, MAX_TEXT_CHARS, Message};

    fn row(n: usize, text: &str) -> SheetRow {
        SheetRow {
            row: n,
            message: Message::new(text),
            created: None,
            updated: None,
        }
    }

    fn rules(format: TextFormat) -> ContentRules {
        ContentRules {
            format,
            media: false,
        }
    }

    #[test]
    fn html_markup_must_be_telegrams_and_balanced() {
        let html = rules(TextFormat::Html);
        assert!(
            check_text(
                "<b>iPhone</b> &lt;16&gt; &amp; <a href=\"x\">ссылка</a> 5 < 6",
                html
            )
            .is_ok()
        );
        for (bad, says) in [
            ("<b>bold", "never closed"),
            ("<b><i>x</b></i>", "closes <i>"),
            ("<div>x</div>", "<div>"),
            ("<b x", "not closed"),
            ("</b>", "closes nothing"),
            ("<b>Прайс<br>iPhone</b>", "<br>"),
        ] {
            let err = check_text(bad, html).unwrap_err();
            assert!(
                err.contains(says) && err.starts_with("html: "),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn markdown_without_a_partner_is_text_not_an_error() {
        // The old rules refused these ("`__` is opened but never closed"); Telegram would show
        // them as written, and the formatter sends them so.
        let md = rules(TextFormat::Markdown);
        for ok in [
            "Каталог: https://example.com/files/price__list_v2.pdf",
            "**open",
            "```\ncode",
            "`code",
            "[a](http://x",
        ] {
            assert_eq!(check_text(ok, md), Ok(()), "{ok}");
        }
        let err = check_text("[менеджеру](tg://user?id=@price_manager)", md).unwrap_err();
        assert!(err.contains("numeric user id"), "{err}");
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
