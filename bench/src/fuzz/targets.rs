//! The fuzz targets: one per input surface (issue 19). Each parses the bytes the way the
//! program does, panics (a finding) when a parser's own promise breaks — a round trip that
//! changes the value, an entity outside its text — and otherwise describes the answer.

use std::sync::OnceLock;

use smb_domain::{TargetRef, TextFormat, format_text, utf16_len};
use smb_telegram::mtproxy::{MtproxySecret, MtproxySettings};

use super::Target;

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn answer<T, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.to_string(),
    }
}

fn seeds(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Targets: `-100…`, `@name`, `t.me/…` links, forum topics. A parsed target's key parses back
/// to the same target.
fn target(data: &[u8]) -> String {
    let t = text(data);
    let r = TargetRef::parse(&t);
    if let Ok(parsed) = &r {
        let key = parsed.key();
        let again = TargetRef::parse(&key)
            .unwrap_or_else(|e| panic!("the key {key:?} of {t:?} does not parse: {e}"));
        assert_eq!(again.key(), key, "the key of {t:?} changes on a round trip");
    }
    answer(&r)
}

/// Markdown and HTML into text + entities: every entity inside the text, never empty.
fn formatter(data: &[u8]) -> String {
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let format =
        [TextFormat::Plain, TextFormat::Markdown, TextFormat::Html][usize::from(*mode % 3)];
    let t = text(rest);
    let r = format_text(&t, format);
    if let Ok(f) = &r {
        let len = utf16_len(&f.text);
        for e in &f.entities {
            assert!(e.length > 0, "an empty entity {e:?} from {t:?}");
            assert!(
                e.end() <= len,
                "entity {e:?} beyond the text ({len} units) from {t:?}"
            );
        }
    }
    answer(&r)
}

/// `mtproxy://`, `tg://proxy`, `t.me/proxy` links and bare secrets: what parses writes back
/// to a link that parses to the same settings.
fn mtproxy(data: &[u8]) -> String {
    let t = text(data);
    let link = MtproxySettings::parse_link(&t);
    if let Ok(s) = &link {
        let back = s.to_link();
        let again = MtproxySettings::parse_link(&back)
            .unwrap_or_else(|e| panic!("{back:?} (from {t:?}) does not parse: {e}"));
        assert!(again == *s, "the link {t:?} changes on a round trip");
    }
    let secret = MtproxySecret::parse(&t);
    if let Ok(s) = &secret {
        let hex = s.to_hex();
        let again = MtproxySecret::parse(&hex)
            .unwrap_or_else(|e| panic!("the hex of secret {t:?} does not parse: {e}"));
        assert!(
            again.to_hex() == hex,
            "secret {t:?} changes on a round trip"
        );
    }
    format!("{} / {}", answer(&link), answer(&secret))
}

/// `.env` files: decoded, parsed, and every value written by `quote` reads back the same.
fn dotenv(data: &[u8]) -> String {
    use smb_sources::dotenv;
    let text = match dotenv::decode(data) {
        Ok(t) => t,
        Err(e) => return e.message,
    };
    let (entries, errors) = dotenv::parse(&text);
    // What a program sees is the resolved value (`${NAME}` interpolated): `quote` must write
    // it so that it reads back as itself.
    for (_, v, _) in dotenv::resolve(&entries, |_| None) {
        let line = format!("K={}\n", dotenv::quote(&v));
        let (back, errs) = dotenv::parse(&line);
        assert!(
            errs.is_empty(),
            "quote({v:?}) = {line:?} does not parse: {errs:?}"
        );
        let back = dotenv::resolve(&back, |_| None);
        assert_eq!(back.len(), 1, "quote({v:?}) = {line:?}");
        assert_eq!(back[0].1, v, "quote({v:?}) = {line:?}");
    }
    format!(
        "{} entries, {}",
        entries.len(),
        errors.first().map_or("", |e| e.message.as_str())
    )
}

/// `sendmessagebot.toml`: the whole configuration, as `run` and `check` read it.
fn config(data: &[u8]) -> String {
    let t = text(data);
    let env = sendmessagebot::config::EnvVars::from_pairs(&[
        ("API_ID", "12345"),
        ("API_HASH", "0123456789abcdef0123456789abcdef"),
    ]);
    let r = sendmessagebot::config::parse(
        "fuzz.toml",
        &t,
        &env,
        &sendmessagebot::config::Overrides::default(),
    );
    answer(&r)
}

/// CSV exports of a sheet and text files into message rows (the sources' readers).
fn sheet_rows(data: &[u8]) -> String {
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    match mode % 2 {
        0 => match smb_sources::fetch::read_csv("fuzz.csv", rest) {
            Ok((grid, _)) => answer(&smb_sources::rows::read_grid("fuzz.csv", 1, &grid)),
            Err(e) => e.to_string(),
        },
        _ => format!(
            "{} rows",
            smb_sources::rows::rows_from_text(&text(rest)).len()
        ),
    }
}

/// The legacy `config.py` / message modules: the Python literal subset the migration reads.
fn python(data: &[u8]) -> String {
    let m = smb_migrate::parse_module(&text(data));
    format!(
        "{} lists, {}",
        m.lists.len(),
        m.issues
            .first()
            .map(|i| format!("{i:?}"))
            .unwrap_or_default()
    )
}

/// A valid Telethon session (SQLite), made once; the mutations corrupt its bytes.
fn telethon_seed() -> Vec<u8> {
    static SEED: OnceLock<Vec<u8>> = OnceLock::new();
    SEED.get_or_init(|| {
        runtime().block_on(async {
            use sqlx::Connection as _;
            let dir = tempfile::tempdir().expect("a temporary directory");
            let path = dir.path().join("seed.session");
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Delete);
            let mut c = sqlx::SqliteConnection::connect_with(&opts)
                .await
                .expect("sqlite");
            for sql in [
                "create table version (version integer primary key)",
                "insert into version values (7)",
                "create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer)",
                "create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer)",
                "insert into sessions values (2, '149.154.167.51', 443, zeroblob(256), null)",
                "insert into entities values (1001000000001, 42, 'shop_one', null, 'Shop', 0)",
                "insert into entities values (777, -5, null, 79990000000, 'Ann', 0)",
            ] {
                sqlx::query(sql).execute(&mut c).await.expect("seed sql");
            }
            c.close().await.expect("close");
            std::fs::read(&path).expect("read the seed")
        })
    })
    .clone()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// Telethon `.session` files (SQLite) as `migrate` reads them.
fn telethon(data: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("acc.session");
    std::fs::write(&path, data).expect("write the input");
    let r = runtime().block_on(smb_migrate::read_session(&path));
    match r {
        Ok(s) => {
            // Only the shape: the values are the input's.
            format!("ok dc {}", s.dc_id)
        }
        Err(e) => e.to_string().replace(&dir.path().display().to_string(), ""),
    }
}

/// The API's JSON bodies, as the handlers' extractors read them.
fn api_json(data: &[u8]) -> String {
    use smb_web::api::{targets, test_send};
    let a = serde_json::from_slice::<targets::AddTargetBody>(data);
    if let Ok(Some(target)) = a.as_ref().map(|b| b.target.as_str()) {
        let _ = TargetRef::parse(target);
    }
    let d = serde_json::from_slice::<Option<targets::DisableBody>>(data);
    let t = serde_json::from_slice::<test_send::TestSendRequest>(data);
    format!("{} / {} / {}", answer(&a), answer(&d), answer(&t))
}

pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "target",
            run: target,
            seeds: seeds(&[
                "-1001234567890",
                "-123456",
                "@shop_one",
                "shop_one",
                "https://t.me/shop_one",
                "t.me/shop_one/42",
                "https://t.me/c/1234567890/17",
                "tg://resolve?domain=shop_one",
                "https://t.me/+AbCdEf123",
                "https://telegram.me/s/shop_one",
            ]),
            dict: &["-100", "@", "t.me/", "https://", "c/", "/", "+", "joinchat/", "tg://resolve?domain=", "&post=", "?thread=", "_", "telegram.me", "s/", " ", "9223372036854775807", "-9223372036854775808"],
        },
        Target {
            name: "formatter",
            run: formatter,
            seeds: vec![
                b"\x01**bold** __it__ `code` [link](https://t.me/x) ~~s~~ ||sp||".to_vec(),
                b"\x02<b>bold</b> <i>it</i> <a href=\"https://t.me/x\">l</a> <pre><code class=\"language-rust\">x</code></pre> &amp; <tg-spoiler>s</tg-spoiler> <blockquote expandable>q</blockquote> <tg-emoji emoji-id=\"5368324170671202286\">\xf0\x9f\x91\x8d</tg-emoji>".to_vec(),
                b"\x00plain text \xf0\x9f\x98\x80".to_vec(),
                b"\x01```rust\nfn main() {}\n```\n> quote".to_vec(),
            ],
            dict: &["**", "__", "`", "```", "[", "](", ")", "~~", "||", "<b>", "</b>", "<i>", "<a href=\"", "\">", "</a>", "<pre>", "<code class=\"language-", "&lt;", "&#", "&#x", ";", "<blockquote>", "<tg-emoji emoji-id=\"", "\\", "\n", "tg://user?id=", "<u>", "<s>", "<span class=\"tg-spoiler\">", "</span>"],
        },
        Target {
            name: "mtproxy",
            run: mtproxy,
            seeds: seeds(&[
                "mtproxy://proxy.example.org:443?secret=0123456789abcdef0123456789abcdef",
                "tg://proxy?server=1.2.3.4&port=443&secret=dd0123456789abcdef0123456789abcdef",
                "https://t.me/proxy?server=p.example&port=8443&secret=ee0123456789abcdef0123456789abcdef6578616d706c652e636f6d",
                "t.me/proxy?server=[2001:db8::1]&port=443&secret=7gEjRWeJq83vASNFZ4mrze9leGFtcGxlLmNvbQ",
                "ee0123456789abcdef0123456789abcdef676f6f676c652e636f6d",
            ]),
            dict: &["mtproxy://", "tg://proxy?", "https://t.me/proxy?", "server=", "&port=", "&secret=", "ee", "dd", "00", "ff", ":", "[", "]", "%", "65535", "65536", "=", "+", "/", "_"],
        },
        Target {
            name: "dotenv",
            run: dotenv,
            seeds: seeds(&[
                "API_ID=12345\nAPI_HASH=\"0123456789abcdef\"\n# comment\nexport NAME='single' # tail\nMULTI=\"a\nb\"\nEMPTY=\nBARE\n",
                "\u{feff}KEY=value\r\nOTHER=\"esc \\\" quote\"\r\n",
                "A=${B}\nB=x\n",
            ]),
            dict: &["=", "\"", "'", "\\", "#", "export ", "\n", "\r\n", "${", "}", " ", "\t", "\u{feff}"],
        },
        Target {
            name: "config",
            run: config,
            seeds: vec![
                include_bytes!("../../../crates/cli/src/example.toml").to_vec(),
                b"[settings]\ndelay_between_chats = \"150ms\"\n[accounts.acc1]\n[targets]\nprod = [\"@shop_one\"]\n[messages.m]\ntexts = [\"hi\"]\n[broadcasters.b]\naccount = \"acc1\"\ntargets = \"prod\"\nmessages = \"m\"\n".to_vec(),
            ],
            dict: &["[settings]", "[accounts.", "[targets]", "[messages.", "[broadcasters.", "]", " = ", "\"", "\"\"\"", "'", "[", "{", "}", ",", "\n", "1h", "ms", "true", "1e400", "-1", "9999999999", "account", "targets", "messages", "texts", "delay_between_chats", "cycle_delay", "quiet_hours", "start_hour", "format", "source", "jitter", "media", "test_targets", "\"markdown\"", "\"html\"", "[sandbox]", "faults", "probability", "[database]", "url"],
        },
        Target {
            name: "sheet_rows",
            run: sheet_rows,
            seeds: vec![
                b"\x00text,status,priority\n\"hello, world\",active,5\nsecond,paused,1\n\"multi\nline\",1,10\n".to_vec(),
                b"\x00a;b;c\n\"x\";\"y\";\"3\"\n".to_vec(),
                b"\x01first message\n---\nsecond\n---\n".to_vec(),
                b"\x00#REF!,active,5\nLoading...,,\n".to_vec(),
            ],
            dict: &[",", ";", "\t", "\"", "\n", "\r\n", "---", "active", "paused", "#REF!", "#N/A", "Loading...", "1", "10", "-1", "TRUE", "да", "нет"],
        },
        Target {
            name: "python_literals",
            run: python,
            seeds: seeds(&[
                "# Обновлено: 2024-01-01\nTARGETS = [\n    -1001234567890,  # shop\n    '@shop_one',\n    \"https://t.me/x\",\n]\nMESSAGES = [\"\"\"multi\nline\"\"\", 'a' 'b', r'raw\\n', u'\\u0444']\n",
                "X = (1, 2, 3)\nY = []\nZ = [None, True, False, 0x1F, 1_000, -5]\n",
            ]),
            dict: &["[", "]", "(", ")", ",", "'", "\"", "\"\"\"", "'''", "r'", "b'", "f'", "u'", "\\", "\\x", "\\u", "\\N{", "#", "=", "\n", "-", "0x", "1_0", "None", "True", "+", "*", "{", "}"],
        },
        Target {
            name: "telethon_session",
            run: telethon,
            seeds: vec![telethon_seed(), b"SQLite format 3\0".to_vec(), Vec::new()],
            dict: &["SQLite format 3\0", "\0\0\0\0", "\x7f\x7f\x7f\x7f", "sessions", "entities", "version"],
        },
        Target {
            name: "api_json",
            run: api_json,
            seeds: seeds(&[
                "{\"target\": \"@shop_one\"}",
                "{\"reason\": \"spam\"}",
                "null",
                "{\"broadcaster\": \"b2b\", \"message\": 2}",
                "{\"broadcaster\": \"b2b\", \"message\": 18446744073709551616}",
            ]),
            dict: &["{", "}", "[", "]", "\"", ":", ",", "null", "true", "1e999", "-0", "\\u0000", "\\ud800", "\"target\"", "\"reason\"", "\"broadcaster\"", "\"message\""],
        },
    ]
}
