use super::*;

fn user(name: &str) -> TargetRef {
    TargetRef {
        chat: Chat::Username(name.into()),
        topic: None,
    }
}

/// Every accepted form, with the target it means.
#[test]
fn accepts_every_form_telegram_issues() {
    let shop = user("shop_chat");
    let shop_123 = user("shop_chat").in_topic(Some(123));
    let private = TargetRef::id(-1_001_234_567_890);
    let cases: &[(&str, TargetRef)] = &[
        // Chat ids.
        ("-1001234567890", private.clone()),
        ("-123456", TargetRef::id(-123_456)),
        ("-1", TargetRef::id(-1)),
        ("-999999999999", TargetRef::id(-999_999_999_999)),
        ("-1000000000001", TargetRef::id(-1_000_000_000_001)),
        ("-1997852516352", TargetRef::id(-1_997_852_516_352)),
        ("-1001234567890/45", private.clone().in_topic(Some(45))),
        // Names.
        ("@shop_chat", shop.clone()),
        ("shop_chat", shop.clone()),
        ("  @SHOP_CHAT ", shop.clone()),
        ("@Shop_Chat/123", shop_123.clone()),
        ("shop_chat/123", shop_123.clone()),
        ("@club", user("club")),
        ("@a1b2", user("a1b2")),
        (
            "@abcdefghijklmnopqrstuvwxyz_12345",
            user("abcdefghijklmnopqrstuvwxyz_12345"),
        ),
        // Hosts, schemes, www, trailing slash, query, fragment.
        ("https://t.me/shop_chat", shop.clone()),
        ("http://t.me/Shop_Chat/", shop.clone()),
        ("t.me/shop_chat", shop.clone()),
        ("T.ME/SHOP_CHAT", shop.clone()),
        ("telegram.me/shop_chat", shop.clone()),
        ("https://telegram.dog/shop_chat", shop.clone()),
        ("https://www.t.me/shop_chat", shop.clone()),
        ("www.telegram.me/shop_chat/", shop.clone()),
        ("HTTPS://Telegram.Dog/Shop_Chat", shop.clone()),
        ("https://t.me/shop_chat?utm_source=site", shop.clone()),
        ("https://t.me/shop_chat#prices", shop.clone()),
        ("https://t.me/shop_chat/?x=1#y", shop.clone()),
        ("t.me//shop_chat//", shop.clone()),
        ("https://shop_chat.t.me", shop.clone()),
        ("shop_chat.t.me/123", shop_123.clone()),
        // Topics and messages.
        ("t.me/shop_chat/123", shop_123.clone()),
        ("https://telegram.me/shop_chat/123/", shop_123.clone()),
        ("https://t.me/shop_chat/123/456", shop_123.clone()),
        ("https://t.me/shop_chat/123?single", shop_123.clone()),
        ("https://t.me/shop_chat?thread=123", shop_123.clone()),
        // A message in topic 123 (the link form before topic paths; qa8: message 456 was
        // taken for the topic).
        ("https://t.me/shop_chat/456?thread=123", shop_123.clone()),
        ("https://t.me/shop_chat/1", shop.clone()),
        ("https://t.me/shop_chat/1/77", shop.clone()),
        // Private chats.
        ("t.me/c/1234567890", private.clone()),
        ("t.me/c/1234567890/45", private.clone()),
        ("https://t.me/c/1234567890/45/", private.clone()),
        (
            "https://t.me/c/1234567890/45?thread=7",
            private.clone().in_topic(Some(7)),
        ),
        (
            "https://t.me/c/1234567890/7/45",
            private.clone().in_topic(Some(7)),
        ),
        ("t.me/c/997852516352/2", TargetRef::id(-1_997_852_516_352)),
        // Channel previews.
        ("https://t.me/s/shop_chat", shop.clone()),
        ("t.me/s/Shop_Chat/99", shop.clone()),
        // tg: links.
        ("tg://resolve?domain=shop_chat", shop.clone()),
        ("tg://resolve?domain=Shop_Chat&post=5", shop.clone()),
        (
            "tg://resolve?domain=shop_chat&post=5&thread=123",
            shop_123.clone(),
        ),
        ("tg:resolve?domain=shop_chat", shop.clone()),
        (
            "tg://privatepost?channel=1234567890&post=45",
            private.clone(),
        ),
        (
            "tg://privatepost?channel=1234567890&post=45&thread=9",
            private.clone().in_topic(Some(9)),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(TargetRef::parse(input).as_ref(), Ok(want), "{input}");
    }
    assert!(cases.len() >= 50, "{} forms", cases.len());
}

/// Every refused form, with the kind of reason it gets.
#[test]
fn refuses_what_is_not_a_chat_with_its_reason() {
    use TargetParseError as E;
    type Kind = fn(&E) -> bool;
    let cases: &[(&str, Kind)] = &[
        ("", |e| matches!(e, E::Empty)),
        ("   ", |e| matches!(e, E::Empty)),
        // Ids.
        ("12345", |e| matches!(e, E::PositiveId(_))),
        ("+12345", |e| matches!(e, E::PositiveId(_))),
        ("-12a", |e| matches!(e, E::BadId(_))),
        ("-0", |e| matches!(e, E::BadId(_))),
        ("-", |e| matches!(e, E::BadId(_))),
        ("--100", |e| matches!(e, E::BadId(_))),
        ("-9223372036854775808", |e| matches!(e, E::IdOutOfRange(_))),
        ("-99999999999999999999", |e| matches!(e, E::IdOutOfRange(_))),
        ("-1000000000000", |e| matches!(e, E::IdOutOfRange(_))),
        ("-1997852516353", |e| matches!(e, E::IdOutOfRange(_))),
        ("-2000000000000", |e| matches!(e, E::IdOutOfRange(_))),
        ("t.me/c/0/5", |e| matches!(e, E::IdOutOfRange(_))),
        ("t.me/c/997852516353", |e| matches!(e, E::IdOutOfRange(_))),
        ("t.me/c/abc/5", |e| matches!(e, E::BadId(_))),
        ("-123456/5", |e| matches!(e, E::TopicInBasicGroup(_))),
        // Invites, phones, bots.
        ("https://t.me/+AbCdEf", |e| matches!(e, E::InviteLink(_))),
        ("t.me/joinchat/AAAA", |e| matches!(e, E::InviteLink(_))),
        ("https://telegram.me/joinchat/AbC-dEf_1", |e| {
            matches!(e, E::InviteLink(_))
        }),
        ("tg://join?invite=AbCdEf", |e| matches!(e, E::InviteLink(_))),
        ("https://t.me/+79001234567", |e| {
            matches!(e, E::PhoneLink(_))
        }),
        ("tg://resolve?phone=79001234567", |e| {
            matches!(e, E::PhoneLink(_))
        }),
        ("https://t.me/shop_bot?start=abc", |e| {
            matches!(e, E::BotLink(_, "start"))
        }),
        ("t.me/shop_bot?startgroup", |e| {
            matches!(e, E::BotLink(_, "startgroup"))
        }),
        ("tg://resolve?domain=shop_bot&start=x", |e| {
            matches!(e, E::BotLink(_, "start"))
        }),
        // Service paths.
        ("t.me/proxy?server=1.2.3.4&port=443&secret=dd00", |e| {
            matches!(e, E::NotAChat(_, "MTProto proxy"))
        }),
        ("https://t.me/socks?server=h&port=1080", |e| {
            matches!(e, E::NotAChat(_, "SOCKS5 proxy"))
        }),
        ("t.me/addstickers/Animals", |e| {
            matches!(e, E::NotAChat(_, "sticker set"))
        }),
        ("t.me/addemoji/Set", |e| matches!(e, E::NotAChat(..))),
        ("t.me/share/url?url=x", |e| matches!(e, E::NotAChat(..))),
        ("t.me/login/12345", |e| matches!(e, E::NotAChat(..))),
        ("t.me/setlanguage/ru", |e| matches!(e, E::NotAChat(..))),
        ("t.me/addtheme/dark", |e| matches!(e, E::NotAChat(..))),
        ("t.me/bg/abc", |e| matches!(e, E::NotAChat(..))),
        ("t.me/invoice/abc", |e| matches!(e, E::NotAChat(..))),
        ("t.me/$abcdef", |e| matches!(e, E::NotAChat(_, "invoice"))),
        ("t.me/iv?url=x&rhash=y", |e| matches!(e, E::NotAChat(..))),
        ("t.me/boost/shop_chat", |e| {
            matches!(e, E::NotAChat(_, "boost"))
        }),
        ("t.me/shop_chat?boost", |e| {
            matches!(e, E::NotAChat(_, "boost"))
        }),
        ("t.me/contact/abc", |e| matches!(e, E::NotAChat(..))),
        ("t.me/addlist/abc", |e| matches!(e, E::NotAChat(..))),
        ("t.me/m/abc", |e| matches!(e, E::NotAChat(..))),
        ("t.me/a/", |e| matches!(e, E::NotAChat(..))),
        ("t.me/k/", |e| matches!(e, E::NotAChat(..))),
        ("proxy.t.me", |e| matches!(e, E::NotAChat(..))),
        ("tg://proxy?server=x", |e| matches!(e, E::NotAChat(..))),
        ("tg://settings", |e| matches!(e, E::NotAChat(..))),
        // Usernames.
        ("@abc", |e| matches!(e, E::BadUsername(..))),
        ("@1abcdef", |e| matches!(e, E::BadUsername(..))),
        ("@_abcdef", |e| matches!(e, E::BadUsername(..))),
        ("@shop_", |e| matches!(e, E::BadUsername(..))),
        ("@shop__chat", |e| matches!(e, E::BadUsername(..))),
        ("@shop-chat", |e| matches!(e, E::BadUsername(..))),
        ("@магазин", |e| matches!(e, E::BadUsername(..))),
        ("@abcdefghijklmnopqrstuvwxyz_123456", |e| {
            matches!(e, E::BadUsername(..))
        }),
        ("t.me/ab", |e| matches!(e, E::BadUsername(..))),
        // Topics.
        ("t.me/shop_chat/abc", |e| matches!(e, E::BadTopic(..))),
        ("t.me/shop_chat/0", |e| matches!(e, E::BadTopic(..))),
        ("t.me/shop_chat/2147483648", |e| {
            matches!(e, E::BadTopic(..))
        }),
        ("t.me/shop_chat/-5", |e| matches!(e, E::BadTopic(..))),
        ("@shop_chat/x", |e| matches!(e, E::BadTopic(..))),
        ("t.me/shop_chat?thread=x", |e| matches!(e, E::BadTopic(..))),
        // Not targets at all.
        ("https://example.com/x", |e| matches!(e, E::Unrecognised(_))),
        ("example.com", |e| matches!(e, E::Unrecognised(_))),
        ("t.me", |e| matches!(e, E::Unrecognised(_))),
        ("https://t.me/", |e| matches!(e, E::Unrecognised(_))),
        ("t.me/c/", |e| matches!(e, E::Unrecognised(_))),
        ("t.me/s", |e| matches!(e, E::Unrecognised(_))),
        ("t.me/shop_chat/1/2/3", |e| matches!(e, E::Unrecognised(_))),
        ("shop chat", |e| matches!(e, E::Unrecognised(_))),
        ("tg://", |e| matches!(e, E::Unrecognised(_))),
        ("tg://resolve", |e| matches!(e, E::Unrecognised(_))),
    ];
    for (input, kind) in cases {
        match TargetRef::parse(input) {
            Err(e) => {
                assert!(kind(&e), "{input}: unexpected error {e:?}");
                if !matches!(e, E::Empty) {
                    // Quoted back, with a proxy link's secret masked (issue 19).
                    let shown = crate::redact::redact(input.trim());
                    assert!(e.to_string().contains(&shown), "{input}: {e}");
                }
            }
            Ok(t) => panic!("{input} was accepted as {t}"),
        }
    }
    assert!(cases.len() >= 50, "{} forms", cases.len());
}

#[test]
fn reasons_say_what_to_do() {
    let e = TargetRef::parse("https://t.me/+AbCdEf")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("never joins chats") && e.contains("@name"),
        "{e}"
    );
    let e = TargetRef::parse("t.me/proxy?server=1.2.3.4")
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a chat") && e.contains("proxy"), "{e}");
    let e = TargetRef::parse("@shop__chat").unwrap_err().to_string();
    assert!(e.contains("has `__`"), "{e}");
}

#[test]
fn key_is_canonical_and_reads_back() {
    assert_eq!(
        TargetRef::parse("t.me/Market_1").unwrap().key(),
        "@market_1"
    );
    assert_eq!(
        TargetRef::parse("-1001000000777").unwrap().key(),
        "-1001000000777"
    );
    assert_eq!(
        TargetRef::parse("t.me/c/1234567890/45").unwrap().key(),
        "-1001234567890"
    );
    assert_eq!(
        TargetRef::parse("https://telegram.me/shop_chat/123/")
            .unwrap()
            .key(),
        "@shop_chat/123"
    );
    for k in ["@shop_chat/123", "-1001234567890/7", "-123456", "@club"] {
        assert_eq!(TargetRef::parse(k).unwrap().key(), k);
    }
    assert!(TargetRef::parse("-123456").unwrap().is_basic_group());
    assert!(!TargetRef::parse("-1001234567890").unwrap().is_basic_group());
    assert!(!TargetRef::parse("@shop_chat").unwrap().is_basic_group());
    // A topic is a separate target from its chat.
    assert_ne!(
        TargetRef::parse("@shop_chat/123").unwrap(),
        TargetRef::parse("@shop_chat").unwrap()
    );
    assert_eq!(
        TargetRef::parse("@shop_chat/123").unwrap().chat_only(),
        TargetRef::parse("@shop_chat").unwrap()
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Parsing never panics, whatever the input.
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = TargetRef::parse(&s);
        }

        /// Link-shaped inputs, built from the grammar's pieces, never panic either, and
        /// whatever is accepted has a key that parses back to itself.
        #[test]
        fn accepted_targets_round_trip(
            scheme in prop::sample::select(vec!["", "http://", "https://", "HTTPS://www.", "tg://", "tg:"]),
            host in prop::sample::select(vec!["t.me/", "telegram.me/", "telegram.dog/", "", "@", "resolve?domain=", "privatepost?channel=", "x.t.me/"]),
            segs in prop::collection::vec("[a-zA-Z0-9_+$-]{0,12}", 0..5),
            query in "(\\?[a-z]{0,8}(=[a-z0-9]{0,5})?(&[a-z]{1,6}=[0-9]{1,4})?)?",
            frag in "(#[a-z]{0,4})?",
        ) {
            let input = format!("{scheme}{host}{}{query}{frag}", segs.join("/"));
            if let Ok(t) = TargetRef::parse(&input) {
                prop_assert_eq!(TargetRef::parse(&t.key()), Ok(t.clone()), "{}", input);
                prop_assert!(t.topic.is_none_or(|n| n > 1));
            }
        }
    }
}

/// QA finding F17: common pastes get a message that says what is wrong with them, and the
/// Telegram Web address bar is understood.
#[test]
fn f17_pastes_get_reasons_that_name_the_problem() {
    use TargetParseError as E;
    let e = TargetRef::parse("\u{2212}1001234567890").unwrap_err();
    assert!(matches!(e, E::NotAsciiMinus(_, '\u{2212}', _)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("U+2212") && msg.contains("not the ASCII minus `-`"),
        "{msg}"
    );
    assert!(matches!(
        TargetRef::parse("\u{2013}1001234567890").unwrap_err(),
        E::NotAsciiMinus(_, '\u{2013}', _)
    ));
    let msg = TargetRef::parse("@имя_чата").unwrap_err().to_string();
    assert!(
        msg.contains("only Latin letters a–z, digits and `_`"),
        "{msg}"
    );
    let msg = TargetRef::parse("t.me/Магазин").unwrap_err().to_string();
    assert!(msg.contains("only Latin letters"), "{msg}");
    let e = TargetRef::parse("+79161234567").unwrap_err();
    assert!(matches!(e, E::PhoneNumber(_)), "{e:?}");
    assert!(e.to_string().contains("is a phone number"), "{e}");
    // Telegram Web's address bar.
    for (input, key) in [
        ("https://web.telegram.org/k/#@somechat", "@somechat"),
        ("https://web.telegram.org/a/#@SomeChat", "@somechat"),
        ("web.telegram.org/a/#-1001234567890", "-1001234567890"),
        ("https://web.telegram.org/a/#-123456", "-123456"),
        (
            "https://web.telegram.org/k/#-1001234567890",
            "-1001234567890",
        ),
    ] {
        assert_eq!(
            TargetRef::parse(input).map(|t| t.key()),
            Ok(key.to_owned()),
            "{input}"
        );
    }
    // Web K's ids of channels lack `-100`: refused with the forms to paste.
    let e = TargetRef::parse("https://web.telegram.org/k/#-1234567890").unwrap_err();
    assert!(matches!(e, E::WebKId(_)), "{e:?}");
    assert!(e.to_string().contains("web.telegram.org/a/#-100"), "{e}");
    assert!(matches!(
        TargetRef::parse("https://web.telegram.org/a/#12345").unwrap_err(),
        E::PositiveId(_)
    ));
    assert!(matches!(
        TargetRef::parse("https://web.telegram.org/k/").unwrap_err(),
        E::Unrecognised(_)
    ));
}
