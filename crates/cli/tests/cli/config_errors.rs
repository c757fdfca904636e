//! Malformed configurations: each gives its own message naming the file, line or variable
//! and what to do, with exit code 1 and no panic. The cases go through the parser `run` and
//! `check` share (`sendmessagebot::config::parse`, a library call each); a few go through the
//! binary's `check` too, for the exit code and what the user sees.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use sendmessagebot::config::{EnvVars, Overrides, parse};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_sendmessagebot");

pub(crate) const GOOD: &str = r#"[settings]
delay_between_chats = 15

[accounts.acc1]

[targets]
prod = ["-1001234567890", "@shop_chat"]
test = ["@test_chat"]

[messages.b2b]
texts = ["hello"]

[broadcasters.b2b]
account = "acc1"
targets = "prod"
test_targets = "test"
messages = "b2b"
"#;

struct Case {
    name: &'static str,
    toml: String,
    env: Vec<(&'static str, &'static str)>,
    expect: Vec<&'static str>,
}

fn case(name: &'static str, toml: impl Into<String>, expect: &[&'static str]) -> Case {
    Case {
        name,
        toml: toml.into(),
        env: vec![],
        expect: expect.to_vec(),
    }
}

/// The parser on `toml` with only `env` set: exit code 1 and the error as `check` would print
/// it, or 0.
fn parsed(toml: &str, env: &[(&str, &str)]) -> (i32, String) {
    match parse(
        "sendmessagebot.toml",
        toml,
        &EnvVars::from_pairs(env),
        &Overrides::default(),
    ) {
        Ok(_) => (0, "accepted".to_owned()),
        Err(e) => (1, e.to_string()),
    }
}

/// The binary's `check` in a directory holding `toml`.
fn check(toml: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), toml).unwrap();
    let mut cmd = Command::new(BIN);
    // Not the host's default /metrics port: `check` probes it.
    cmd.arg("check")
        .current_dir(dir.path())
        .env("METRICS_BIND", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_good_config_passes() {
    let (code, out) = check(GOOD, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("✓ broadcaster b2b"), "{out}");
}

fn malformed_cases() -> Vec<Case> {
    let long = "x".repeat(4097);
    vec![
        case(
            "unknown section",
            format!("{GOOD}\n[settingz]\na = 1\n"),
            &["sendmessagebot.toml:", "unknown field `settingz`"],
        ),
        case(
            "misspelled broadcaster key",
            GOOD.replace("account = \"acc1\"", "acount = \"acc1\""),
            &["sendmessagebot.toml:14", "unknown field `acount`"],
        ),
        case(
            "unknown global key",
            GOOD.replace("delay_between_chats = 15", "delay_between_chat = 15"),
            &[
                "sendmessagebot.toml:2",
                "unknown field `delay_between_chat`",
            ],
        ),
        case(
            "positive id as target",
            GOOD.replace("\"@shop_chat\"", "\"12345\""),
            &[
                "sendmessagebot.toml:7",
                "targets.prod[2]",
                "positive number",
                "-100",
            ],
        ),
        case(
            "invite link",
            GOOD.replace("\"@shop_chat\"", "\"https://t.me/+AbCd\""),
            &["sendmessagebot.toml:7", "invite link", "join it"],
        ),
        case(
            "duplicate target",
            GOOD.replace("\"@shop_chat\"", "\"t.me/Shop_Chat\", \"@shop_chat\""),
            &["listed twice"],
        ),
        case(
            "unknown account",
            GOOD.replace("account = \"acc1\"", "account = \"acc9\""),
            &[
                "sendmessagebot.toml:14",
                "broadcasters.b2b.account",
                "unknown account `acc9`",
                "[accounts.acc9]",
            ],
        ),
        case(
            "unknown target list",
            GOOD.replace("targets = \"prod\"", "targets = \"prd\""),
            &[
                "sendmessagebot.toml:15",
                "unknown target list `prd`",
                "known: prod, test",
            ],
        ),
        case(
            "unknown message set",
            GOOD.replace("messages = \"b2b\"", "messages = \"b2x\""),
            &["sendmessagebot.toml:17", "unknown message set `b2x`"],
        ),
        case(
            "message too long",
            GOOD.replace(
                "texts = [\"hello\"]",
                &format!("texts = [\"hello\", \"{long}\"]"),
            ),
            &[
                "sendmessagebot.toml:11",
                "message 2 of set `b2b` is 4097 characters",
                "4096",
            ],
        ),
        case(
            "bad duration",
            GOOD.replace("delay_between_chats = 15", "delay_between_chats = \"15x\""),
            &["sendmessagebot.toml:2", "`15x` is not a duration"],
        ),
        case(
            "hour out of range",
            GOOD.replace("delay_between_chats = 15", "start_time_hour = 25"),
            &["sendmessagebot.toml:2", "start_time_hour", "0 to 23"],
        ),
        case(
            "jitter out of range",
            GOOD.replace("delay_between_chats = 15", "jitter = \"90%\""),
            &["sendmessagebot.toml:2", "jitter", "0% to 50%"],
        ),
        case(
            "unknown time zone",
            GOOD.replace("delay_between_chats = 15", "timezone = \"Mars/Olympus\""),
            &["sendmessagebot.toml:2", "unknown time zone `Mars/Olympus`"],
        ),
        case(
            "wrong type",
            GOOD.replace("delay_between_chats = 15", "max_retries = \"three\""),
            &["sendmessagebot.toml:2", "invalid type"],
        ),
        case(
            "syntax error",
            GOOD.replace("messages = \"b2b\"", "messages = \"b2b"),
            &["sendmessagebot.toml:17"],
        ),
        case(
            "empty message set",
            GOOD.replace("texts = [\"hello\"]", "texts = []"),
            &["messages.b2b", "no messages"],
        ),
        case(
            "schedule with no open hour",
            GOOD.replace(
                "delay_between_chats = 15",
                "start_time_hour = 12\nquiet_hour_start = 10\nquiet_hour_end = 2",
            ),
            &["leave no hour to send in"],
        ),
        case(
            "bad format",
            GOOD.replace(
                "texts = [\"hello\"]",
                "texts = [\"hello\"]\nformat = \"rtf\"",
            ),
            &["messages.b2b.format", "`rtf` is not a format"],
        ),
        Case {
            name: "bad env number",
            toml: GOOD.into(),
            env: vec![("DELAY_BETWEEN_CHATS", "abc")],
            expect: vec!["environment: DELAY_BETWEEN_CHATS=abc", "not a duration"],
        },
        Case {
            name: "bad env bool",
            toml: GOOD.into(),
            env: vec![("ENABLE_QUIET_HOURS", "maybe")],
            expect: vec!["ENABLE_QUIET_HOURS=maybe", "true or false"],
        },
        Case {
            name: "bad env hour",
            toml: GOOD.into(),
            env: vec![("QUIET_HOUR_END", "31")],
            expect: vec!["QUIET_HOUR_END=31", "0 to 23"],
        },
        Case {
            name: "test mode without a test list",
            toml: GOOD.replace("test_targets = \"test\"\n", ""),
            env: vec![("TEST_MODE", "true")],
            expect: vec!["broadcasters.b2b.test_targets", "TEST_MODE is on"],
        },
        case(
            "a duration of another type",
            GOOD.replace("delay_between_chats = 15", "delay_between_chats = true"),
            &[
                "sendmessagebot.toml:2: settings.delay_between_chats: invalid type: boolean `true`",
                "expected a duration: seconds (15) or text such as \"15s\"",
            ],
        ),
        case(
            "a flag of another type in a broadcaster",
            GOOD.replace(
                "messages = \"b2b\"\n",
                "messages = \"b2b\"\nenabled = \"maybe\"\n",
            ),
            &[
                "sendmessagebot.toml:18: broadcasters.b2b.enabled: invalid type: string \"maybe\", expected a boolean",
            ],
        ),
        case(
            "unknown account kind",
            GOOD.replace("[accounts.acc1]", "[accounts.acc1]\nkind = \"robot\""),
            &[
                "sendmessagebot.toml:5: accounts.acc1.kind: `robot` is not an account kind; use \"user\" or \"bot\"",
            ],
        ),
        case(
            "bad format lists the formats",
            GOOD.replace(
                "texts = [\"hello\"]",
                "texts = [\"hello\"]\nformat = \"md\"",
            ),
            &[
                "sendmessagebot.toml:12: messages.b2b.format: `md` is not a format; use \"plain\", \"markdown\" or \"html\"",
            ],
        ),
        case(
            "a variant label on a lone item",
            GOOD.replace(
                "texts = [\"hello\"]",
                "texts = [\"hello\"]\n[[messages.b2b.items]]\ntext = \"A one\"\nvariant = \"A\"",
            ),
            &[
                "sendmessagebot.toml:13",
                "message 2 of set `b2b` has `variant = \"A\"` but no other variant next to it",
            ],
        ),
        case(
            "variants of one slot with two priorities",
            GOOD.replace(
                "texts = [\"hello\"]",
                "texts = [\"hello\"]\n[[messages.b2b.items]]\ntext = \"A one\"\nvariant = \"A\"\n\
                 [[messages.b2b.items]]\ntext = \"B one\"\nvariant = \"B\"\npriority = 7",
            ),
            &[
                "sendmessagebot.toml:16",
                "message 3 of set `b2b` (`variant = \"B\"`) has priority 7, but message 2 of its slot has 5",
            ],
        ),
    ]
}

#[test]
fn every_malformed_input_gets_its_own_message() {
    let cases = malformed_cases();
    assert!(cases.len() >= 10);
    let mut failures = Vec::new();
    for c in &cases {
        let (code, out) = parsed(&c.toml, &c.env);
        if code != 1 || out.contains("panicked") || !c.expect.iter().all(|e| out.contains(e)) {
            failures.push(format!(
                "{}: exit {code}, expected {:?}, got:\n{out}",
                c.name, c.expect
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_binary_exits_1_with_the_message_for_a_file_and_a_variable() {
    let cases = malformed_cases();
    let through_binary: Vec<&Case> = cases
        .iter()
        .filter(|c| ["unknown account", "bad env number"].contains(&c.name))
        .collect();
    assert_eq!(through_binary.len(), 2);
    for c in through_binary {
        let (code, out) = check(&c.toml, &c.env);
        assert_eq!(code, 1, "{}: {out}", c.name);
        assert!(!out.contains("panicked"), "{}: {out}", c.name);
        for e in &c.expect {
            assert!(
                out.contains("✗ ") && out.contains(e),
                "{}: {e}\n{out}",
                c.name
            );
        }
    }
}

#[test]
fn a_missing_file_says_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("sendmessagebot.toml: cannot read") && text.contains("sendmessagebot init"),
        "{text}"
    );
}

#[test]
fn init_writes_a_config_that_checks_and_a_dry_run_that_plans() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .env("LOG_LEVEL", "warn")
            .env("METRICS_BIND", "127.0.0.1:0")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    assert_eq!(run(&["init"]).0, Some(0));
    assert!(dir.path().join(".env.example").exists());
    let (code, out) = run(&["init"]);
    assert_eq!(code, Some(1), "refuses to overwrite: {out}");
    assert!(out.contains("--force"));
    let (code, out) = run(&["check"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&["run", "--sandbox", "--dry-run", "--ignore-quiet-hours"]);
    assert_eq!(code, Some(0), "{out}");
    // Four broadcasters × five chats, nothing sent or journalled.
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("acc1") || l.contains("acc2"))
            .count(),
        20,
        "{out}"
    );
    assert!(!dir.path().join("data/sandbox/ledger.jsonl").exists());
}

/// The binary with `args` in `dir` (holding the configuration already), `env` set: exit code
/// and everything it printed.
fn binary_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("METRICS_BIND", "127.0.0.1:0")
        .env("WEB_BIND", "127.0.0.1:0")
        .env_remove("LOG_FILE")
        .env_remove("SMB_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Issue 19 findings that were refused already but had no test of their own.
#[test]
fn a_config_with_no_broadcasters_is_refused() {
    let toml = GOOD.split("[broadcasters.b2b]").next().unwrap();
    let (code, out) = parsed(toml, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("broadcasters: no [broadcasters.NAME] table")
            && out.contains("nothing would be sent"),
        "{out}"
    );
}

#[test]
fn a_typo_in_a_chat_rule_is_named_at_its_key_not_as_an_untagged_enum() {
    let (code, out) = parsed(
        &GOOD.replace(
            "test = [\"@test_chat\"]",
            "test = [\n  \"@test_chat\",\n  { chat = \"@wholesale_spb\", mingap = \"24h\" },\n]",
        ),
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown field `mingap`"), "{out}");
    assert!(out.contains("min_gap"), "the valid keys are listed: {out}");
    assert!(!out.contains("untagged"), "{out}");
}

#[test]
fn an_empty_target_list_is_refused() {
    let (code, out) = parsed(&GOOD.replace("test = [\"@test_chat\"]", "test = []"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("targets.test: the list is empty") && out.contains("add a chat"),
        "{out}"
    );
}

#[test]
fn sandbox_faults_with_an_unknown_error_or_a_probability_of_2_are_refused() {
    let fault = |body: &str| format!("{GOOD}\n[[sandbox.faults]]\nchat = \"@shop_chat\"\n{body}\n");
    let (code, out) = parsed(&fault("error = \"BOGUS_THING\"\ntimes = 1"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sandbox.faults[1].error")
            && out.contains("`BOGUS_THING` is not a Telegram error the sandbox knows")
            && out.contains("FLOOD_WAIT_300"),
        "{out}"
    );
    let (code, out) = parsed(&fault("error = \"FLOOD_WAIT_5\"\nprobability = 2.0"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sandbox.faults[1].probability")
            && out.contains("2 is not a probability")
            && out.contains("0.0 to 1.0"),
        "{out}"
    );
    let (code, out) = parsed(&fault("error = \"FLOOD_WAIT_5\"\nprobability = 0.5"), &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn chat_id_i64_min_and_usernames_ending_in_underscore_are_refused() {
    let (code, out) = parsed(
        &GOOD.replace("\"@shop_chat\"", "\"-9223372036854775808\""),
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:7: targets.prod[2]")
            && out.contains("outside Telegram's chat ids"),
        "{out}"
    );
    let (code, out) = parsed(&GOOD.replace("\"@shop_chat\"", "\"@shop_chat_\""), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:7: targets.prod[2]") && out.contains("ends with `_`"),
        "{out}"
    );
}

#[test]
fn log_max_size_minus_one_is_refused_naming_the_variable() {
    let (code, out) = check(GOOD, &[("LOG_MAX_SIZE", "-1")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✗ ") && out.contains("LOG_MAX_SIZE=\"-1\" is not valid"),
        "{out}"
    );
}

#[test]
fn log_file_at_root_a_directory_or_under_a_file_is_refused_naming_log_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), GOOD).unwrap();
    std::fs::write(dir.path().join("plain.txt"), "x").unwrap();
    let sub = dir.path().join("logs");
    std::fs::create_dir(&sub).unwrap();
    let sub = sub.display().to_string();
    for (value, why) in [
        ("/", "it is a directory"),
        (sub.as_str(), "it is a directory"),
        ("plain.txt/bot.log", "plain.txt is not a directory"),
    ] {
        let (code, out) = binary_in(dir.path(), &["check"], &[("LOG_FILE", value)]);
        assert_eq!(code, 1, "{value}: {out}");
        assert!(
            out.contains(&format!("✗ cannot log to {value} (LOG_FILE): {why}"))
                && out.contains("set LOG_FILE to a writable path"),
            "{value}: {out}"
        );
        let (code, out) = binary_in(
            dir.path(),
            &["run", "--sandbox", "--once", "--no-metrics", "--no-web"],
            &[("LOG_FILE", value)],
        );
        assert_ne!(code, 0, "{value}: {out}");
        assert!(
            out.contains(&format!("cannot log to {value} (LOG_FILE)"))
                && out.contains("set LOG_FILE to a writable path")
                && !out.contains("panicked"),
            "{value}: {out}"
        );
    }
}

#[test]
fn a_missing_media_file_fails_check_and_the_sandbox_naming_file_set_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = GOOD.replace(
        "texts = [\"hello\"]",
        "texts = [\"hello\"]\nmedia = \"pics/price.png\"",
    );
    std::fs::write(dir.path().join("sendmessagebot.toml"), &toml).unwrap();
    let want = "sendmessagebot.toml:12: messages.b2b.media: `pics/price.png`";
    let (code, out) = binary_in(dir.path(), &["check", "--sandbox"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("✗ {want}"))
            && out.contains("no such file")
            && out.contains("put the file there or correct the path"),
        "{out}"
    );
    let (code, out) = binary_in(
        dir.path(),
        &["run", "--sandbox", "--once", "--no-metrics", "--no-web"],
        &[],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(want) && out.contains("no such file"), "{out}");
    assert!(!dir.path().join("data/sandbox/ledger.jsonl").exists());

    // A directory is not a file either; the file itself passes.
    std::fs::create_dir_all(dir.path().join("pics/price.png")).unwrap();
    let (code, out) = binary_in(dir.path(), &["check", "--sandbox"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(want) && out.contains("it is a directory"),
        "{out}"
    );
    std::fs::remove_dir(dir.path().join("pics/price.png")).unwrap();
    std::fs::write(dir.path().join("pics/price.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    let (code, out) = binary_in(dir.path(), &["check", "--sandbox"], &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn invalid_utf8_in_the_config_gives_the_line_and_column_of_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = GOOD.as_bytes().to_vec();
    // Line 11 is `texts = ["hello"]`; a CP1251 "é" (0xE9) after `texts = ["h` (column 12).
    let at = GOOD.find("hello").unwrap() + 1;
    bytes.insert(at, 0xE9);
    std::fs::write(dir.path().join("sendmessagebot.toml"), &bytes).unwrap();
    let (code, out) = binary_in(dir.path(), &["check"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✗ sendmessagebot.toml:11:12: byte 0xE9 is not UTF-8 text")
            && out.contains("save the file as UTF-8")
            && !out.contains("sendmessagebot init"),
        "{out}"
    );
}

#[test]
fn a_bad_proxy_secret_gives_its_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let toml = GOOD.replace(
        "[accounts.acc1]",
        "[accounts.acc1]\nproxy = \"tg://proxy?server=127.0.0.1&port=1&secret=zz12\"",
    );
    std::fs::write(dir.path().join("sendmessagebot.toml"), toml).unwrap();
    let (code, out) = binary_in(dir.path(), &["check"], &[]);
    assert_eq!(code, 1, "{out}");
    let reason = "the proxy secret is 3 bytes long";
    assert!(
        out.contains("accounts.acc1.proxy: MTProto proxy: "),
        "{out}"
    );
    assert_eq!(out.matches(reason).count(), 1, "{out}");
    assert!(!out.contains("zz12"), "{out}");
}

#[test]
fn dotenv_errors_give_the_line_and_never_the_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sendmessagebot.toml"), GOOD).unwrap();
    for (env, line) in [
        (
            "API_ID=1\n\nAPI_HASH=\"s3cretHashValue\nLOG_LEVEL=INFO\n",
            3,
        ),
        ("API_ID=1\nWEB_TOKEN s3cretHashValue\n", 2),
    ] {
        std::fs::write(dir.path().join(".env"), env).unwrap();
        let (code, out) = binary_in(dir.path(), &["check"], &[]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("✗ .env:{line}: ")), "{out}");
        assert!(!out.contains("s3cretHashValue"), "{out}");
        assert!(!out.contains("entry"), "{out}");
    }
}

/// QA findings (issue 14): chat rules and backup accounts that cannot mean what was written are
/// refused at their line, with the fix.
#[test]
fn qa_chat_rules_and_backup_accounts_that_mean_nothing_are_refused_at_their_line() {
    let rule = |entry: &str| {
        GOOD.replace(
            "test = [\"@test_chat\"]",
            &format!("test = [\n  \"@test_chat\",\n  {entry},\n]"),
        )
    };
    for (entry, want) in [
        (
            r#"{ chat = "@wholesale_spb", min_gap = 0 }"#,
            "min_gap: a gap of 0 holds nothing",
        ),
        (
            r#"{ chat = "@wholesale_spb", min_gap = "0s" }"#,
            "min_gap: a gap of 0 holds nothing",
        ),
        (
            // QA F9: the rules keep 8 days of posts, so a 30-day gap would quietly end after 8.
            r#"{ chat = "@wholesale_spb", min_gap = "720h" }"#,
            "min_gap: 30.0 days is longer than 7 days, the longest gap the chat rules keep track of; for a weekly post use days = \"mon\" with max_per_day = 1",
        ),
        (
            r#"{ chat = "@wholesale_spb", days = "mon,mon" }"#,
            "days: `mon,mon` names mon twice; name each day once",
        ),
        (
            r#"{ chat = "@wholesale_spb", days = "mon-fri,wed" }"#,
            "names wed twice",
        ),
        (
            r#"{ chat = "@wholesale_spb", hours = "9-9" }"#,
            "hours: `9-9` is an empty window",
        ),
    ] {
        let (code, out) = parsed(&rule(entry), &[]);
        assert_eq!(code, 1, "{entry}: {out}");
        assert!(out.contains(want), "{entry}: {out}");
        assert!(
            out.contains("sendmessagebot.toml:10: targets.test[2]"),
            "{entry}: the line: {out}"
        );
    }
    // Still accepted: a whole day, a wrapping range.
    let (code, out) = parsed(
        &rule(r#"{ chat = "@wholesale_spb", days = "fri-mon", hours = "0-24", min_gap = "1s" }"#),
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = parsed(
        &rule(r#"{ chat = "@wholesale_spb", min_gap = "168h" }"#),
        &[],
    );
    assert_eq!(code, 0, "{out}");

    let backups = |list: &str| {
        GOOD.replace("[accounts.acc1]", "[accounts.acc1]\n[accounts.acc3]")
            .replace(
                "messages = \"b2b\"\n",
                &format!("messages = \"b2b\"\nbackup_accounts = {list}\n"),
            )
    };
    let (code, out) = parsed(&backups(r#"["acc3", "acc1"]"#), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("`acc1` is this broadcaster's own account")
            && out.contains("remove `acc1` from backup_accounts"),
        "{out}"
    );
    assert!(
        out.contains("sendmessagebot.toml:") && out.contains("backup_accounts"),
        "{out}"
    );
    let (code, out) = parsed(&backups(r#"["acc3", "acc3"]"#), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("`acc3` is listed twice; list each backup account once"),
        "{out}"
    );
    let (code, out) = parsed(&backups(r#"["acc3"]"#), &[]);
    assert_eq!(code, 0, "{out}");
}

/// QA (e14): every entry of one chat carries the same rules — a plain entry next to a ruled
/// one of the same chat (another topic, another list) no longer inherits the rules silently;
/// the later entry in the file is refused at its line with the fix. A wrong type of `topic` or
/// `max_per_day` names the entry's key path like every other rule error.
#[test]
fn qa_entries_of_one_chat_carry_the_same_rules_and_rule_types_name_their_key() {
    let list = |entries: &[&str]| {
        GOOD.replace(
            "test = [\"@test_chat\"]",
            &format!(
                "test = [\n  \"@test_chat\",\n  {},\n]",
                entries.join(",\n  ")
            ),
        )
    };
    let ruled = r#"{ chat = "@forum_chat", topic = 7, max_per_day = 1 }"#;

    // A plain topic after the ruled one (line 11).
    let (code, out) = parsed(&list(&[ruled, r#""t.me/forum_chat/9""#]), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:11: targets.test[3]")
            && out.contains("@forum_chat has other rules in targets.test[2]")
            && out.contains(r#"{ chat = "@forum_chat", topic = 9, max_per_day = 1 }"#),
        "{out}"
    );
    // The ruled one after a plain one (line 11 again): the fix names the plain entry.
    let (code, out) = parsed(&list(&[r#""t.me/forum_chat/9""#, ruled]), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:11: targets.test[3]")
            && out.contains("@forum_chat has other rules in targets.test[2]")
            && out.contains("remove the rules here or write them in targets.test[2] too"),
        "{out}"
    );
    // Across lists: the plain entry in `prod` (line 7) and the ruled one in `test` (line 10).
    let across = list(&[ruled]).replace(
        "prod = [\"-1001234567890\", \"@shop_chat\"]",
        "prod = [\"-1001234567890\", \"@forum_chat\"]",
    );
    let (code, out) = parsed(&across, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:10: targets.test[2]")
            && out.contains("@forum_chat has other rules in targets.prod[2]"),
        "{out}"
    );
    // Two topics with the same rules, and plain entries of a chat without rules: accepted.
    let (code, out) = parsed(
        &list(&[
            ruled,
            r#"{ chat = "t.me/forum_chat/9", max_per_day = 1 }"#,
            r#""t.me/other_forum/1""#,
            r#""t.me/other_forum/2""#,
        ]),
        &[],
    );
    assert_eq!(code, 0, "{out}");

    for (entry, want) in [
        (
            r#"{ chat = "@forum_chat", max_per_day = "2" }"#,
            r#"targets.test[2]: max_per_day: "2" is text; write a whole number without quotes, e.g. max_per_day = 2"#,
        ),
        (
            r#"{ chat = "@forum_chat", max_per_day = 1.5 }"#,
            "targets.test[2]: max_per_day: `1.5` is not a whole number; write e.g. max_per_day = 2",
        ),
        (
            r#"{ chat = "@forum_chat", topic = "7" }"#,
            r#"targets.test[2]: topic: "7" is text; write a whole number without quotes, e.g. topic = 7"#,
        ),
    ] {
        let (code, out) = parsed(&list(&[entry]), &[]);
        assert_eq!(code, 1, "{entry}: {out}");
        assert!(
            out.contains(&format!("sendmessagebot.toml:10: {want}")),
            "{entry}: {out}"
        );
    }
}

/// QA F10: a value of the wrong type inside a multi-line list (how `init` writes `[targets]`
/// and texts) names its list and item, not only the line.
#[test]
fn qa_a_wrong_value_inside_a_multi_line_list_names_the_list_and_the_item() {
    let toml = GOOD.replace(
        "prod = [\"-1001234567890\", \"@shop_chat\"]",
        "prod = [\n    \"-1001234567890\",  # the wholesale group, [main]\n    \"@shop_chat\",\n    12345,\n]",
    );
    let (code, out) = parsed(&toml, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:10: targets.prod[3]: invalid type: integer `12345`"),
        "{out}"
    );
    let toml = GOOD.replace(
        "texts = [\"hello\"]",
        "texts = [\n    \"\"\"Прайс, опт:\niPhone 16 — 71 000 ₽\"\"\",\n    42,\n]",
    );
    let (code, out) = parsed(&toml, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sendmessagebot.toml:14: messages.b2b.texts[2]: invalid type: integer `42`"),
        "{out}"
    );
}
