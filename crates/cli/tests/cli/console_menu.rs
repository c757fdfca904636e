//! The menu (`sendmessagebot` with no command) driven through a pseudo-terminal against the
//! sandbox, reading the screen: items 11 (test broadcasters), 9 (update messages from a
//! file), 6 (switch target lists), 3 (stats), 13 (accounts: list), 1 (start) and 4 (stop);
//! the Russian labels; and no terminal → help, exit 2, no hang.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use crate::console_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use console_support::{BIN, DaemonGuard, Project};
use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};

const ENTER: &str = "\r";
const ESC: &str = "\x1b";

/// The binary with no arguments on a 160×50 terminal, in the sandbox mode.
fn menu(p: &Project, lang: &str) -> PtySession {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("stty cols 160 rows 50 && exec {BIN}"));
    let env = p.cmd(&[]);
    for (k, v) in env.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.current_dir(p.path())
        .env("SMB_SANDBOX", "1")
        .env("LANG", lang)
        .env("TERM", "xterm");
    spawn_with_options(
        sh,
        Options::new()
            .timeout_ms(Some(30_000))
            .strip_ansi_escape_codes(true),
    )
    .expect("spawn the menu")
}

/// rexpect reads the terminal byte by byte as Latin-1: a needle with Cyrillic or a dash must
/// be spelled the same way.
fn raw(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

/// Types `keys` and flushes (rexpect buffers what it sends).
fn keys(s: &mut PtySession, keys: &str) {
    s.send(keys).expect("type");
    s.flush().expect("flush the keys");
}

fn pick(s: &mut PtySession, number: &str) {
    s.exp_string("Choose an item").expect("the menu");
    keys(s, number);
    keys(s, ENTER);
}

#[test]
fn menu_items_work_end_to_end_in_the_sandbox() {
    let p = Project::new();
    let _guard = DaemonGuard(&p);
    // Message set b2b from a file (item 9).
    std::fs::write(
        p.file("b2b.txt"),
        "Прайс из файла, первый\n---\nПрайс из файла, второй\n",
    )
    .expect("b2b.txt");
    let toml = std::fs::read_to_string(p.file("sendmessagebot.toml")).expect("config");
    std::fs::write(
        p.file("sendmessagebot.toml"),
        toml.replacen(
            "[messages.b2b]\n",
            "[messages.b2b]\nsource = \"b2b.txt\"\n",
            1,
        ),
    )
    .expect("config");

    let mut s = menu(&p, "en_US.UTF-8");
    s.exp_string(&raw("SendMessageBot — sandbox"))
        .expect("header");
    s.exp_string("not running").expect("no daemon yet");

    // 11: one message per broadcaster to its test list, a result per chat.
    pick(&mut s, "11");
    s.exp_string(&raw("→ @my_test_group: sent"))
        .expect("a sent line per chat");
    s.exp_string("test send: 4 sent, 0 not sent")
        .expect("the summary");

    // 9: update one set from its file source.
    pick(&mut s, "9");
    s.exp_string("Which message set?").expect("set prompt");
    keys(&mut s, ENTER);
    s.exp_string("b2b: version 1 stored")
        .expect("the new version");

    // 6: switch every broadcaster to its test list.
    pick(&mut s, "6");
    s.exp_string("Which broadcaster?")
        .expect("broadcaster prompt");
    keys(&mut s, ENTER);
    s.exp_string("Which list?").expect("list prompt");
    keys(&mut s, ENTER);
    s.exp_string("b2b          test")
        .expect("b2b on its test list");
    s.exp_string("saved; `run` applies it at start")
        .expect("persisted");

    // 3: stats shows what item 11 sent and the switched lists.
    pick(&mut s, "3");
    s.exp_string("BROADCASTER").expect("the stats table");
    s.exp_string("target lists: aaa test (test)")
        .expect("the switch in stats");

    // 13: accounts → list (logging in needs Telegram; the list needs nothing).
    pick(&mut s, "13");
    s.exp_string("Accounts:").expect("accounts submenu");
    keys(&mut s, ENTER);
    s.exp_string("acc1").expect("the first account");
    s.exp_string("acc2").expect("the second account");

    // 1: start in the background; the header then shows it; 4: stop it.
    pick(&mut s, "1");
    s.exp_string("started in the background: pid")
        .expect("started");
    s.exp_string("daemon: running, pid")
        .expect("the header sees it");
    let pid = p.lock_pid();
    assert!(!pid.is_empty());
    pick(&mut s, "4");
    s.exp_string(&format!("stopped (pid {pid})"))
        .expect("stopped");
    s.exp_string("daemon: not running")
        .expect("the header sees it stopped");

    s.exp_string("Choose an item").expect("the menu again");
    keys(&mut s, ESC);
    s.exp_eof().expect("the menu ends");

    // What the menu did is in the store: the switch and the version.
    let (code, out) = p.run(&["broadcasters", "list", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .filter(|l| l.trim_end().ends_with("test"))
            .count()
            == 4,
        "{out}"
    );
    let (code, out) = p.run(&["messages", "list", "b2b", "--sandbox"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Прайс из файла, первый"), "{out}");
}

#[test]
fn the_menu_speaks_russian_when_lang_is_ru() {
    let p = Project::new();
    let mut s = menu(&p, "ru_RU.UTF-8");
    s.exp_string(&raw("Выберите пункт"))
        .expect("Russian prompt");
    s.exp_string(&raw("Просмотр статистики"))
        .expect("Russian item 3");
    keys(&mut s, "0");
    keys(&mut s, ENTER);
    s.exp_eof().expect("the menu ends");
}

#[test]
fn without_a_terminal_it_prints_help_and_exits_2_at_once() {
    let p = Project::new();
    let started = Instant::now();
    let out = p.cmd(&[]).stdin(Stdio::null()).output().expect("run");
    assert!(started.elapsed() < Duration::from_secs(10), "no hang");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("Usage: sendmessagebot") && stdout.contains("Commands:"),
        "{stdout}"
    );
    assert!(stderr.contains("no terminal for the menu"), "{stderr}");
    // A terminal on stdin but output to a pipe (cron with a tty, `| less`) is no menu either.
    let out = p.cmd(&[]).stdin(Stdio::inherit()).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}
