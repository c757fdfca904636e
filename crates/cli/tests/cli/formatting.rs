//! Issue 11 part 1 through the binary: what `check` and `messages update` accept is what the
//! sandbox sends, formatted by the one formatter — line breaks kept, entities in the ledger,
//! a `__` inside a link sent as written, a mention without a numeric id refused before it
//! can reach a send, an HTML caption measured after formatting.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{command, run_with, text};
use smb_domain::{Entity, EntityKind};

const CONFIG: &str = r#"
[settings]
delay_between_chats = "10ms"
cycle_delay = "10ms"
enable_scheduling = false
enable_quiet_hours = false

[accounts.acc1]
[accounts.acc2]

[targets]
prod = ["@shop_one", "-1001000000002"]

[messages.price]
format = "markdown"
texts = ["**Прайс**\r\niPhone 16 — 71 000 ₽\r\nAirPods — 15 500 ₽\n\nЗаказ: [менеджер](tg://user?id=777000)"]

[messages.files]
format = "markdown"
source = "files.txt"

[messages.caption]
format = "html"
media = "price.png"
texts = ["CAPTION"]

[broadcasters.price]
account = "acc1"
targets = "prod"
messages = "price"
[broadcasters.files]
account = "acc2"
targets = "prod"
messages = "files"
[broadcasters.caption]
account = "acc2"
targets = "prod"
messages = "caption"
"#;

/// Over 1024 characters as written, 1007 as shown: a valid caption.
fn caption() -> String {
    "<b>iPhone 16</b> — 71 000 ₽\n".repeat(48)
}

fn run(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = run_with(command(dir, args), None, Duration::from_secs(120))
        .unwrap_or_else(|out| panic!("{args:?} did not finish: {}", text(&out)));
    (out.status.success(), text(&out))
}

fn bold(offset: usize, length: usize) -> Entity {
    Entity {
        kind: EntityKind::Bold,
        offset,
        length,
    }
}

#[test]
fn what_is_checked_is_what_the_sandbox_sends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("sendmessagebot.toml"),
        CONFIG.replace("CAPTION", &caption().replace('\n', "\\n")),
    )
    .expect("config");
    std::fs::write(d.join("price.png"), b"\x89PNG\r\n\x1a\nnot really a png").expect("photo");

    // A mention without a numeric id is refused at update time, naming the line; the old
    // version (none yet) is kept.
    std::fs::write(
        d.join("files.txt"),
        "Прайс: https://example.com/files/price__list_v2.pdf\n---\nПишите [менеджеру](tg://user?id=@price_manager)\n",
    )
    .expect("source");
    let (ok, out) = run(d, &["messages", "update", "--sandbox"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("line 3") && out.contains("numeric user id"),
        "{out}"
    );
    // The `__` inside a link is no reason to refuse the file.
    std::fs::write(
        d.join("files.txt"),
        "Прайс: https://example.com/files/price__list_v2.pdf\n---\n__Опт__ по запросу\n",
    )
    .expect("source");
    let (ok, out) = run(d, &["messages", "update", "--sandbox"]);
    assert!(ok, "{out}");

    let (ok, out) = run(d, &["check", "--sandbox"]);
    assert!(
        ok,
        "the inline caption of 1344 characters (1007 shown) passes: {out}"
    );
    let (ok, out) = run(
        d,
        &["run", "--sandbox", "--once", "--no-web", "--no-metrics"],
    );
    assert!(ok, "{out}");

    let ledger =
        smb_telegram::sim::read_ledger(&d.join("data/sandbox/ledger.jsonl")).expect("ledger");
    let price: Vec<_> = ledger
        .iter()
        .filter(|e| e.text.starts_with("Прайс\n"))
        .collect();
    assert_eq!(price.len(), 2, "{ledger:#?}");
    for e in &price {
        assert_eq!(
            e.text,
            "Прайс\niPhone 16 — 71 000 ₽\nAirPods — 15 500 ₽\n\nЗаказ: менеджер"
        );
        assert_eq!(
            e.entities,
            [
                bold(0, 5),
                Entity {
                    kind: EntityKind::MentionName { user_id: 777000 },
                    offset: 54,
                    length: 8
                }
            ]
        );
    }
    let url: Vec<_> = ledger
        .iter()
        .filter(|e| e.text == "Прайс: https://example.com/files/price__list_v2.pdf")
        .collect();
    assert_eq!(url.len(), 2, "sent as written: {ledger:#?}");
    assert!(url.iter().all(|e| e.entities.is_empty()));
    let captions: Vec<_> = ledger
        .iter()
        .filter(|e| e.text.starts_with("iPhone 16 — 71 000 ₽\n"))
        .collect();
    assert_eq!(captions.len(), 2, "{ledger:#?}");
    for e in &captions {
        assert_eq!(e.text.chars().count(), 1007);
        assert_eq!(e.entities.len(), 48);
        assert_eq!(e.entities[1], bold(21, 9));
    }
    // The raw line as written: the entities in Telegram's words.
    let raw = std::fs::read_to_string(d.join("data/sandbox/ledger.jsonl")).expect("ledger");
    assert!(
        raw.contains(r#""entities":[{"type":"bold","offset":0,"length":5},{"type":"mention_name","user_id":777000,"offset":54,"length":8}]"#),
        "{raw}"
    );
}

#[test]
fn inline_markup_is_checked_like_a_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let bad = |format: &str, text: &str| {
        CONFIG
            .replace(
                "format = \"markdown\"\ntexts = [\"**Прайс**",
                &format!("format = \"{format}\"\ntexts = [\"{text}\", \"**Прайс**"),
            )
            .replace("CAPTION", "x")
    };
    std::fs::write(d.join("files.txt"), "x\n").expect("source");
    std::fs::write(d.join("price.png"), b"png").expect("photo");
    for (format, text, says) in [
        ("html", "<b>Прайс<br>iPhone — 71 000 ₽</b>", "<br>"),
        (
            "markdown",
            "[менеджеру](tg://user?id=@price_manager)",
            "numeric user id",
        ),
    ] {
        std::fs::write(d.join("sendmessagebot.toml"), bad(format, text)).expect("config");
        let (ok, out) = run(d, &["check", "--sandbox"]);
        assert!(!ok, "{out}");
        assert!(
            out.contains("sendmessagebot.toml:16")
                && out.contains("message 1 of set `price`")
                && out.contains(says),
            "{out}"
        );
    }
}
