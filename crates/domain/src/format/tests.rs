//! Table tests with real users' texts, and property tests of the entity invariants.

use proptest::prelude::*;

use super::*;

fn md(s: &str) -> FormattedText {
    format_text(s, TextFormat::Markdown).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn html(s: &str) -> FormattedText {
    format_text(s, TextFormat::Html).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn e(kind: EntityKind, offset: usize, length: usize) -> Entity {
    Entity {
        kind,
        offset,
        length,
    }
}

fn url(u: &str) -> EntityKind {
    EntityKind::TextUrl { url: u.into() }
}

use EntityKind::{Bold, Code, Italic, Spoiler, Strike, Underline};

#[test]
fn issue_price_list_keeps_every_line_break() {
    let f = md("**Прайс**\niPhone 16 — 71 000 ₽\nAirPods — 15 500 ₽");
    assert_eq!(f.text, "Прайс\niPhone 16 — 71 000 ₽\nAirPods — 15 500 ₽");
    assert_eq!(f.entities, [e(Bold, 0, 5)]);
}

#[test]
fn issue_double_underscore_in_a_url_is_sent_as_written() {
    let s = "Прайс: https://example.com/files/price__list_v2.pdf";
    let f = md(s);
    assert_eq!(f.text, s);
    assert_eq!(f.entities, []);
    // Even a pair of `__` inside a link is no markup; markup around the link still is.
    let f = md("__https://example.com/a__b__c.pdf__ и https://x.ru/__y__");
    assert_eq!(
        f.text,
        "https://example.com/a__b__c.pdf и https://x.ru/__y__"
    );
    assert_eq!(f.entities, [e(Italic, 0, 31)]);
    // In the middle of a word `__` is part of the word (file names, article numbers).
    let f = md("Файл price__list__v2.pdf, артикул AB__12");
    assert_eq!(f.text, "Файл price__list__v2.pdf, артикул AB__12");
    assert_eq!(f.entities, []);
}

#[test]
fn issue_mention_needs_a_numeric_id() {
    let err = format_text(
        "Пишите [менеджеру](tg://user?id=@price_manager)",
        TextFormat::Markdown,
    )
    .unwrap_err();
    assert!(err.message.contains("numeric user id"), "{err}");
    assert!(err.message.contains("https://t.me/price_manager"), "{err}");
    assert_eq!(err.line, 0);
    let f = md("Пишите [менеджеру](tg://user?id=123456789)");
    assert_eq!(f.text, "Пишите менеджеру");
    assert_eq!(
        f.entities,
        [e(EntityKind::MentionName { user_id: 123456789 }, 7, 9)]
    );
    let err = format_text("a\nb\n[x](tg://user?id=)", TextFormat::Markdown).unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.to_string().ends_with("(line 3 of the text)"), "{err}");
}

#[test]
fn markdown_delimiters_as_telethon_reads_them() {
    let f = md("**Опт** __сегодня__ ~~вчера~~ `B2B` [сайт](https://x.ru)");
    assert_eq!(f.text, "Опт сегодня вчера B2B сайт");
    assert_eq!(
        f.entities,
        [
            e(Bold, 0, 3),
            e(Italic, 4, 7),
            e(Strike, 12, 5),
            e(Code, 18, 3),
            e(url("https://x.ru"), 22, 4),
        ]
    );
    // Unmatched delimiters are text.
    for s in [
        "2**3 = 8",
        "a ~~ b",
        "`x",
        "[a](",
        "[](https://x.ru)",
        "****",
    ] {
        assert_eq!(md(s).text, s, "{s}");
        assert_eq!(md(s).entities, [], "{s}");
    }
    // Backslash shows the character itself; elsewhere it is text.
    let f = md(r"\*\*не жирный\*\* C:\temp \[1\]");
    assert_eq!(f.text, r"**не жирный** C:\temp [1]");
    assert_eq!(f.entities, []);
    // Nothing inside code is markup.
    let f = md("`**x** [a](b)`");
    assert_eq!(f.text, "**x** [a](b)");
    assert_eq!(f.entities, [e(Code, 0, 12)]);
}

#[test]
fn markdown_nests_bold_in_links_and_links_in_bold() {
    let f = md("[**Купить**](https://shop.ru/buy)");
    assert_eq!(f.text, "Купить");
    assert_eq!(
        f.entities,
        [e(url("https://shop.ru/buy"), 0, 6), e(Bold, 0, 6)]
    );
    let f = md("**Жми [сюда](https://x.ru) и __здесь__**");
    assert_eq!(f.text, "Жми сюда и здесь");
    assert_eq!(
        f.entities,
        [
            e(Bold, 0, 16),
            e(url("https://x.ru"), 4, 4),
            e(Italic, 11, 5)
        ]
    );
    // Overlapping markup is cut to what nests: the inner `__` has no partner inside the bold.
    let f = md("**a __b** c__");
    assert_eq!(f.text, "a __b c__");
    assert_eq!(f.entities, [e(Bold, 0, 5)]);
    // Parentheses inside a URL.
    let f = md("[вики](https://ru.wikipedia.org/wiki/Рубль_(валюта)).");
    assert_eq!(f.text, "вики.");
    assert_eq!(
        f.entities,
        [e(url("https://ru.wikipedia.org/wiki/Рубль_(валюта)"), 0, 4)]
    );
}

#[test]
fn fenced_blocks_with_and_without_language() {
    let f = md("Код:\n```python\nprint(1)\n```\nГотово");
    assert_eq!(f.text, "Код:\nprint(1)\nГотово");
    assert_eq!(
        f.entities,
        [e(
            EntityKind::Pre {
                language: Some("python".into())
            },
            5,
            8
        )]
    );
    let f = md("```\n**не жирный**\n  отступ\n```");
    assert_eq!(f.text, "**не жирный**\n  отступ");
    assert_eq!(f.entities, [e(EntityKind::Pre { language: None }, 0, 22)]);
    let f = md("```a b```");
    assert_eq!(f.text, "a b");
    // An unclosed fence is text.
    assert_eq!(md("```\ncode").text, "```\ncode");
}

#[test]
fn surrogate_pairs_count_twice_and_crlf_is_one_line_break() {
    let f = md("🔥 **Скидка** 🔥\r\n**iPhone** 👍🏻");
    assert_eq!(f.text, "🔥 Скидка 🔥\niPhone 👍🏻");
    assert_eq!(f.entities, [e(Bold, 3, 6), e(Bold, 13, 6)]);
    let f = md("\r\n  **Прайс**\r\nстрока\r\n\r\n");
    assert_eq!(f.text, "Прайс\nстрока");
    assert_eq!(f.entities, [e(Bold, 0, 5)]);
    assert_eq!(
        format_text("a\r\nb\rc", TextFormat::Plain).unwrap().text,
        "a\nb\nc"
    );
}

#[test]
fn multi_line_russian_price_list() {
    let src = "**Прайс на 30.11** 🍏\n\niPhone 16 128GB — 71 000 ₽\n__AirPods Pro 2__ — 15 500 ₽\n\n~~80 000 ₽~~ → **69 990 ₽**\nЗаказ: [менеджер](tg://user?id=777000)";
    let f = md(src);
    assert_eq!(
        f.text,
        "Прайс на 30.11 🍏\n\niPhone 16 128GB — 71 000 ₽\nAirPods Pro 2 — 15 500 ₽\n\n80 000 ₽ → 69 990 ₽\nЗаказ: менеджер"
    );
    let kinds: Vec<(&EntityKind, &str)> = f
        .entities
        .iter()
        .map(|x| (&x.kind, slice16(&f.text, x.offset, x.length)))
        .collect();
    assert_eq!(
        kinds,
        [
            (&Bold, "Прайс на 30.11"),
            (&Italic, "AirPods Pro 2"),
            (&Strike, "80 000 ₽"),
            (&Bold, "69 990 ₽"),
            (&EntityKind::MentionName { user_id: 777000 }, "менеджер"),
        ]
    );
}

/// The text an entity covers.
fn slice16(text: &str, offset: usize, length: usize) -> &str {
    let mut units = 0;
    let (mut from, mut to) = (text.len(), text.len());
    for (i, c) in text.char_indices() {
        if units == offset {
            from = i;
        }
        if units == offset + length {
            to = i;
            break;
        }
        units += c.len_utf16();
    }
    &text[from..to]
}

#[test]
fn html_subset_of_telegram() {
    let f =
        html("<b>Прайс</b>\niPhone — 71 000 ₽ &lt;16&gt; &amp; &quot;x&quot; &#8381; &#x1F525;");
    assert_eq!(f.text, "Прайс\niPhone — 71 000 ₽ <16> & \"x\" ₽ 🔥");
    assert_eq!(f.entities, [e(Bold, 0, 5)]);
    let f = html(
        "<strong>a</strong><em>b</em><u>c</u><ins>d</ins><s>e</s><strike>f</strike><del>g</del><i>h</i>",
    );
    let kinds: Vec<EntityKind> = f.entities.into_iter().map(|x| x.kind).collect();
    assert_eq!(
        kinds,
        [
            Bold, Italic, Underline, Underline, Strike, Strike, Strike, Italic
        ]
    );
    let f = html("<b>жирный <i>оба</i></b> <a href='https://x.ru/?a=1&amp;b=2'><b>ссылка</b></a>");
    assert_eq!(f.text, "жирный оба ссылка");
    assert_eq!(
        f.entities,
        [
            e(Bold, 0, 10),
            e(Italic, 7, 3),
            e(url("https://x.ru/?a=1&b=2"), 11, 6),
            e(Bold, 11, 6)
        ]
    );
    let f = html(
        "<span class=\"tg-spoiler\">a</span><tg-spoiler>b</tg-spoiler><tg-emoji emoji-id=\"5368324170671202286\">👍</tg-emoji>",
    );
    assert_eq!(
        f.entities,
        [
            e(Spoiler, 0, 1),
            e(Spoiler, 1, 1),
            e(
                EntityKind::CustomEmoji {
                    document_id: 5368324170671202286
                },
                2,
                2
            )
        ]
    );
    let f = html("<pre><code class=\"language-rust\">let x = 1;</code></pre><code>y</code>");
    assert_eq!(
        f.entities,
        [
            e(
                EntityKind::Pre {
                    language: Some("rust".into())
                },
                0,
                10
            ),
            e(Code, 10, 1)
        ]
    );
    // Telegram shows no formatting inside code.
    assert_eq!(html("<code><b>x</b></code>").entities, [e(Code, 0, 1)]);
    let f = html("<blockquote>цитата</blockquote><blockquote expandable>длинная</blockquote>");
    assert_eq!(
        f.entities,
        [
            e(EntityKind::Blockquote { collapsed: false }, 0, 6),
            e(EntityKind::Blockquote { collapsed: true }, 6, 7)
        ]
    );
    let f = html("<a href=\"tg://user?id=42\">Иван</a>");
    assert_eq!(
        f.entities,
        [e(EntityKind::MentionName { user_id: 42 }, 0, 4)]
    );
    // A `<` or `&` that starts no tag or entity is text.
    assert_eq!(
        html("5 < 6 & 7 > 3 &nbsp; AT&T").text,
        "5 < 6 & 7 > 3 &nbsp; AT&T"
    );
    assert_eq!(html("<b>a\r\nb</b>").text, "a\nb");
}

#[test]
fn html_errors_name_the_tag_and_the_fix() {
    let err = |s: &str| format_text(s, TextFormat::Html).unwrap_err().to_string();
    let br = err("<b>Прайс<br>iPhone — 71 000 ₽</b>");
    assert!(br.contains("<br>") && br.contains("line break"), "{br}");
    assert!(err("<div>x</div>").contains("<div>"));
    let foo = err("a\n<foo>x</foo>");
    assert!(
        foo.contains("<foo>") && foo.contains("&lt;foo&gt;"),
        "{foo}"
    );
    assert!(foo.contains("line 2"), "{foo}");
    assert!(err("<b>bold").contains("<b> is never closed"));
    assert!(err("<b><i>x</b></i>").contains("</b> closes <i>"));
    assert!(err("</b>").contains("closes nothing"));
    assert!(err("<b x").contains("not closed with `>`"));
    assert!(err("<a>x</a>").contains("href"));
    assert!(err("<span>x</span>").contains("tg-spoiler"));
    assert!(err("<tg-emoji emoji-id=\"x\">x</tg-emoji>").contains("emoji-id"));
    assert!(err("<!-- note -->x").contains("comments"));
    let m = err("<a href=\"tg://user?id=@price_manager\">менеджеру</a>");
    assert!(m.contains("numeric user id"), "{m}");
}

#[test]
fn plain_has_no_entities() {
    let f = format_text("  **x** <b>y</b>  ", TextFormat::Plain).unwrap();
    assert_eq!(f.text, "**x** <b>y</b>");
    assert_eq!(f.entities, []);
}

#[test]
fn limits_count_utf16_units_of_the_formatted_text() {
    let ok = |s: &str, f, caption| prepare(s, f, caption);
    assert!(ok(&"я".repeat(4096), TextFormat::Plain, false).is_ok());
    assert!(matches!(
        ok(&"я".repeat(4097), TextFormat::Plain, false),
        Err(ContentError::TooLong {
            len: 4097,
            max: 4096,
            caption: false
        })
    ));
    assert!(matches!(
        ok(&"😀".repeat(2049), TextFormat::Plain, false),
        Err(ContentError::TooLong { len: 4098, .. })
    ));
    let markup = format!("<b>{}</b>", "я".repeat(4096));
    assert!(ok(&markup, TextFormat::Html, false).is_ok());
    let markdown = format!("**{}**", "я".repeat(1024));
    assert!(ok(&markdown, TextFormat::Markdown, true).is_ok());
    let err = ok(&format!("{markdown}!"), TextFormat::Markdown, true).unwrap_err();
    assert!(
        err.to_string().contains("1025") && err.to_string().contains("caption"),
        "{err}"
    );
    assert!(matches!(
        ok("** **", TextFormat::Markdown, false),
        Err(ContentError::Empty)
    ));
    assert!(matches!(
        ok("<b> </b>\n", TextFormat::Html, false),
        Err(ContentError::Empty)
    ));
}

#[test]
fn entities_serialize_with_telegram_names() {
    let f = md("**Прайс** [x](https://x.ru)");
    assert_eq!(
        serde_json::to_string(&f.entities).unwrap(),
        r#"[{"type":"bold","offset":0,"length":5},{"type":"text_url","url":"https://x.ru","offset":6,"length":1}]"#
    );
    assert_eq!(TextFormat::parse("html"), Some(TextFormat::Html));
    assert_eq!(TextFormat::parse("rtf"), None);
    assert_eq!(TextFormat::Markdown.as_str(), "markdown");
}

// ---- properties ---------------------------------------------------------------------------

/// Checks every invariant Telegram relies on; returns why one fails.
fn invariants(f: &FormattedText) -> Result<(), String> {
    let len = utf16_len(&f.text);
    let mut boundaries = vec![0usize];
    for c in f.text.chars() {
        boundaries.push(boundaries.last().copied().unwrap_or(0) + c.len_utf16());
    }
    if f.text.contains('\r') || f.text.trim() != f.text {
        return Err(format!("untrimmed or CR in {:?}", f.text));
    }
    for x in &f.entities {
        if x.length == 0 {
            return Err(format!("empty entity {x:?}"));
        }
        if x.end() > len {
            return Err(format!("{x:?} past the text's {len} units"));
        }
        if boundaries.binary_search(&x.offset).is_err()
            || boundaries.binary_search(&x.end()).is_err()
        {
            return Err(format!("{x:?} splits a surrogate pair"));
        }
    }
    for w in f.entities.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.offset, std::cmp::Reverse(a.length)) > (b.offset, std::cmp::Reverse(b.length)) {
            return Err(format!("not sorted: {a:?} before {b:?}"));
        }
    }
    for (i, a) in f.entities.iter().enumerate() {
        for b in &f.entities[i + 1..] {
            let disjoint = a.end() <= b.offset || b.end() <= a.offset;
            let nested = (a.offset <= b.offset && b.end() <= a.end())
                || (b.offset <= a.offset && a.end() <= b.end());
            if !disjoint && !nested {
                return Err(format!("{a:?} and {b:?} overlap without nesting"));
            }
        }
    }
    Ok(())
}

/// Text made mostly of markup characters, so the parsers' corners are hit often.
fn markup_soup() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "*",
        "**",
        "_",
        "__",
        "~~",
        "`",
        "```",
        "```py\n",
        "[",
        "]",
        "(",
        ")",
        "](",
        "\\",
        "\n",
        "\r\n",
        "\r",
        " ",
        "a",
        "я",
        "😀",
        "₽",
        "<",
        ">",
        "</",
        "/",
        "&",
        ";",
        "&#",
        "x1F525",
        "&lt;",
        "b",
        "i",
        "a href=\"",
        "\"",
        "'",
        "=",
        "https://",
        "x.ru/",
        "tg://user?id=",
        "1",
        "@",
        "<b>",
        "</b>",
        "<i>",
        "</i>",
        "<pre>",
        "<code class=\"language-",
        "</code>",
        "</pre>",
        "<a href=\"https://x.ru\">",
        "</a>",
        "<tg-spoiler>",
        "<blockquote>",
        "<tg-emoji emoji-id=\"1\">",
        "\u{200d}",
        "\u{a0}",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_dialect_holds_the_invariants_on_markup_soup(s in markup_soup()) {
        for format in [TextFormat::Plain, TextFormat::Markdown, TextFormat::Html] {
            if let Ok(f) = format_text(&s, format) {
                prop_assert!(invariants(&f).is_ok(), "{format:?} {s:?}: {:?}", invariants(&f));
            }
        }
    }

    #[test]
    fn every_dialect_holds_the_invariants_on_any_text(s in any::<String>()) {
        for format in [TextFormat::Plain, TextFormat::Markdown, TextFormat::Html] {
            if let Ok(f) = format_text(&s, format) {
                prop_assert!(invariants(&f).is_ok(), "{format:?} {s:?}: {:?}", invariants(&f));
            }
        }
    }

    #[test]
    fn text_without_markup_is_sent_as_written(s in "[a-zA-Zа-яА-Я0-9 ₽😀👍🏻.,:!—\n-]{0,60}") {
        let want = s.trim();
        prop_assert_eq!(md(&s).text, want);
        prop_assert_eq!(md(&s).entities, vec![]);
        prop_assert_eq!(html(&s).text, want);
    }

    /// Well-formed markup written by a user gives exactly the entities meant, in both dialects.
    #[test]
    fn written_markup_gives_the_meant_entities(
        parts in prop::collection::vec(
            (0usize..5, "[a-zA-Zа-яА-Я0-9₽😀]{1,8}", "[a-zа-я0-9]{1,5}", prop::sample::select(vec![" ", "\n", " — ", "\n\n"])),
            1..8,
        )
    ) {
        let mut markdown = String::new();
        let mut markup = String::new();
        let mut text = String::new();
        let mut want = Vec::new();
        for (i, (kind, word, inner, sep)) in parts.iter().enumerate() {
            if i > 0 {
                markdown.push_str(sep);
                markup.push_str(sep);
                text.push_str(sep);
            }
            let at = utf16_len(&text);
            let (md_open, md_close, h_open, h_close, k) = match kind {
                0 => ("", "", "", "", None),
                1 => ("**", "**", "<b>", "</b>", Some(Bold)),
                2 => ("__", "__", "<i>", "</i>", Some(Italic)),
                3 => ("~~", "~~", "<s>", "</s>", Some(Strike)),
                _ => ("[", "](https://x.ru/a__b)", "<a href=\"https://x.ru/a__b\">", "</a>", Some(url("https://x.ru/a__b"))),
            };
            // Every formatted word carries a nested one after a space: bold, or italic in bold.
            if let Some(k) = k {
                let (im, ih, ihc, ik) = if *kind == 1 {
                    ("__", "<i>", "</i>", Italic)
                } else {
                    ("**", "<b>", "</b>", Bold)
                };
                markdown.push_str(&format!("{md_open}{word} {im}{inner}{im}{md_close}"));
                markup.push_str(&format!("{h_open}{word} {ih}{inner}{ihc}{h_close}"));
                let inner_at = at + utf16_len(word) + 1;
                text.push_str(&format!("{word} {inner}"));
                want.push(e(k, at, utf16_len(&text) - at));
                want.push(e(ik, inner_at, utf16_len(inner)));
            } else {
                markdown.push_str(word);
                markup.push_str(word);
                text.push_str(word);
            }
        }
        let f = md(&markdown);
        prop_assert_eq!(&f.text, &text, "{}", markdown);
        prop_assert!(invariants(&f).is_ok());
        prop_assert_eq!(&f.entities, &want, "{}", markdown);
        let h = html(&markup);
        prop_assert_eq!(&h.text, &text);
        prop_assert_eq!(h.entities, want, "{}", markup);
    }
}

/// Sheet cells hold up to 50,000 characters: the worst inputs for each parser finish (the
/// times are printed for docs, not asserted) and keep the invariants.
#[test]
fn large_adversarial_inputs_hold_the_invariants() {
    let inputs = [
        "[".repeat(50_000),
        "[a](".repeat(12_500),
        "[a](".repeat(12_500) + ")",
        "[a](b(".repeat(10_000) + ")",
        " __a__b".repeat(7_000),
        "**".repeat(25_000) + "x",
        "`".repeat(50_001),
        "```\n".repeat(12_500),
        "https://x.ru/__".repeat(3_000),
        "<b>".repeat(16_000),
        "<b>x</b>".repeat(6_000),
        "&#".repeat(25_000),
    ];
    for s in &inputs {
        for format in [TextFormat::Markdown, TextFormat::Html] {
            let started = std::time::Instant::now();
            let r = format_text(s, format);
            eprintln!(
                "{format:?} {:?}…×{}: {:?}",
                s.chars().take(8).collect::<String>(),
                s.len(),
                started.elapsed()
            );
            if let Ok(f) = r {
                assert_eq!(invariants(&f), Ok(()));
            }
        }
    }
}
