//! Every setting `run` reads, with a value it refuses and one it accepts: the table both the
//! parser's own test (`src/config/agreement.rs`, which proves the table is complete against
//! the code) and the binary's (`tests/check_agrees.rs`, `check` against `run`) go through.
//! Plain data, shared by `#[path]`.

#![allow(dead_code)]

/// A variable of `.env` / the environment.
pub struct EnvCase {
    pub name: &'static str,
    /// A value `run` refuses (with `with` set too); `None`: every value is accepted (free text
    /// such as a hash or a path), said in `free`.
    pub bad: Option<&'static str>,
    pub good: &'static str,
    /// Other variables the case needs (a channel id only matters with ENABLE_REPORTS=true).
    pub with: &'static [(&'static str, &'static str)],
    pub free: &'static str,
}

const fn env(name: &'static str, bad: &'static str, good: &'static str) -> EnvCase {
    EnvCase {
        name,
        bad: Some(bad),
        good,
        with: &[],
        free: "",
    }
}

const fn env_with(
    name: &'static str,
    bad: &'static str,
    good: &'static str,
    with: &'static [(&'static str, &'static str)],
) -> EnvCase {
    EnvCase {
        name,
        bad: Some(bad),
        good,
        with,
        free: "",
    }
}

const fn free(name: &'static str, good: &'static str, why: &'static str) -> EnvCase {
    EnvCase {
        name,
        bad: None,
        good,
        with: &[],
        free: why,
    }
}

const REPORTS_ON: &[(&str, &str)] = &[
    ("ENABLE_REPORTS", "true"),
    (
        "REPORTS_BOT_TOKEN",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    ),
    ("REPORTS_CHANNEL_ID", "-1001234567890"),
];
const ADMIN_ON: &[(&str, &str)] = &[
    ("ENABLE_TELEGRAM_NOTIFICATIONS", "true"),
    (
        "REPORTS_BOT_TOKEN",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    ),
    ("ADMIN_TELEGRAM_ID", "42"),
];
const WEBHOOK_ON: &[(&str, &str)] = &[
    ("ENABLE_WEBHOOK_NOTIFICATIONS", "true"),
    ("WEBHOOK_URL", "http://127.0.0.1:9/hook"),
];
const SOCKS_ON: &[(&str, &str)] = &[
    ("PROXY_ENABLED", "true"),
    ("PROXY_ADDR", "127.0.0.1"),
    ("PROXY_PORT", "1080"),
];
const MTPROXY_ON: &[(&str, &str)] = &[
    ("PROXY_ENABLED", "true"),
    ("PROXY_PROTOCOL", "mtproto"),
    ("PROXY_ADDR", "127.0.0.1"),
    ("PROXY_PORT", "443"),
    ("PROXY_SECRET", "dd0123456789abcdef0123456789abcdef"),
];

/// Every variable in `sections::ENV_SECTIONS`.
pub const ENV_CASES: &[EnvCase] = &[
    // schedule (config.rs)
    env("DELAY_BETWEEN_CHATS", "fast", "20s"),
    env("CYCLE_DELAY", "often", "30m"),
    env("MAX_RETRIES", "-1", "5"),
    env("RETRY_DELAY", "soon", "90"),
    env("ENABLE_SCHEDULING", "maybe", "false"),
    env("START_TIME_HOUR", "25", "8"),
    env("ENABLE_QUIET_HOURS", "maybe", "no"),
    env("QUIET_HOUR_START", "24", "1"),
    env("QUIET_HOUR_END", "late", "6"),
    env("REPORTS_TIMEZONE", "Mars/Olympus_Mons", "Europe/Berlin"),
    env("TEST_MODE", "maybe", "false"),
    env("DISABLE_AFTER_FAILURES", "three", "5"),
    env(
        "DATABASE_URL",
        "mysql://localhost/smb",
        "sqlite://data/other.db",
    ),
    // web
    env("WEB_BIND", "notanaddr", "127.0.0.1:0"),
    env("WEB_TOKEN", "short", "0123456789abcdef0123"),
    env("WEB_HEADER_TIMEOUT", "never", "10"),
    env("WEB_BODY_TIMEOUT", "x", "30"),
    env("WEB_IDLE_TIMEOUT", "x", "60"),
    env("WEB_MAX_CONNECTIONS", "0", "512"),
    free(
        "LANG",
        "ru_RU.UTF-8",
        "a locale: `ru…` gives Russian labels, anything else English",
    ),
    // metrics
    env("METRICS_BIND", "bad", "127.0.0.1:0"),
    // logging
    env("RUST_LOG", "info,sqlx=loud", "info,sqlx=warn"),
    env("LOG_LEVEL", "loud", "WARNING"),
    free("LOG_FILE", "logs/other.log", "a path (empty: no file)"),
    env("LOG_MAX_SIZE", "big", "1048576"),
    env("LOG_BACKUP_COUNT", "many", "3"),
    env("LOG_CONSOLE", "maybe", "true"),
    env("LOG_FORMAT", "xml", "json"),
    // notifications
    env("TELEGRAM_BOT_API_URL", "ftp://bots", "http://127.0.0.1:9"),
    env(
        "REPORTS_BOT_TOKEN",
        "not-a-token",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    ),
    env("NOTIFY_HTTP_TIMEOUT", "0", "20"),
    env("ENABLE_REPORTS", "maybe", "false"),
    env_with("REPORTS_CHANNEL_ID", "my channel", "@shop_news", REPORTS_ON),
    env("REPORT_INTERVAL_HOURS", "0", "6"),
    env("ENABLE_WEBHOOK_NOTIFICATIONS", "maybe", "false"),
    env_with(
        "WEBHOOK_URL",
        "ftp://hooks",
        "https://example.invalid/hook",
        WEBHOOK_ON,
    ),
    free("WEBHOOK_SECRET", "Pr1ce$ecret2024", "an HMAC key: any text"),
    env("NOTIFICATION_LEVEL", "LOUD", "warning"),
    env("NOTIFY_FLOOD_WAIT_THRESHOLD", "-5", "600"),
    env("NOTIFY_COLLAPSE_HOURS", "x", "2"),
    env("NOTIFY_QUEUE_SIZE", "0", "100"),
    env("NOTIFY_MAX_ATTEMPTS", "0", "3"),
    env("NOTIFY_RETRY_DELAY", "x", "5"),
    env("ENABLE_TELEGRAM_NOTIFICATIONS", "maybe", "false"),
    env_with("ADMIN_TELEGRAM_ID", "the admin", "42", ADMIN_ON),
    // sources
    env("GOOGLE_UPDATE_INTERVAL", "5", "600"),
    env("SOURCE_MAX_BYTES", "huge", "5MB"),
    env("SOURCE_MAX_ROWS", "0", "10000"),
    free(
        "GOOGLE_CREDENTIALS_FILE",
        "google-key.json",
        "a path; read when a private sheet is fetched",
    ),
    free(
        "GOOGLE_TOKEN_URI",
        "http://127.0.0.1:9/token",
        "a URL (test doubles)",
    ),
    free(
        "GOOGLE_SHEETS_API_URL",
        "http://127.0.0.1:9/v4",
        "a URL (test doubles)",
    ),
    free(
        "GOOGLE_EXPORT_URL",
        "http://127.0.0.1:9/e",
        "a URL (test doubles)",
    ),
    env(
        "BUY_SELL_PRICE_B2B_SHEET_URL",
        "https://exa mple.com/x.csv",
        "prices/b2b.txt",
    ),
    env(
        "BUY_SELL_PRICE_B2C_SHEET_URL",
        "https://exa mple.com/x.csv",
        "prices/b2c.txt",
    ),
    env(
        "BUY_SELL_PRICE_AAA_SHEET_URL",
        "https://exa mple.com/x.csv",
        "prices/aaa.txt",
    ),
    env(
        "BUY_SELL_PRICE_GUS_SHEET_URL",
        "https://exa mple.com/x.csv",
        "prices/gus.txt",
    ),
    // telegram
    env("API_ID", "abc", "12345"),
    free(
        "API_HASH",
        "0123456789abcdef0123456789abcdef",
        "a secret: any text",
    ),
    free("PHONE", "+79990000000", "asked again at login"),
    free("SESSION_NAME", "acc1", "a file name"),
    free("SESSIONS_DIR", "sessions", "a directory"),
    free(
        "SESSION_PASSPHRASE",
        "long passphrase",
        "a secret: any text",
    ),
    env("PROXY_ENABLED", "maybe", "false"),
    env_with("PROXY_PROTOCOL", "http", "socks5", SOCKS_ON),
    env_with("PROXY_ADDR", "", "10.0.0.1", SOCKS_ON),
    env_with("PROXY_PORT", "port", "1081", SOCKS_ON),
    env_with(
        "PROXY_SECRET",
        "zz",
        "ddfedcba9876543210fedcba9876543210",
        MTPROXY_ON,
    ),
    env("SMB_MTPROXY_TIMEOUT_MS", "0", "5000"),
    // cluster (several servers on PostgreSQL)
    env("LEASE_TTL", "500ms", "10s"),
    env("SERVER_ID", "web 1", "web-1"),
    // check only
    free(
        "SMB_CHECK_MIN_FREE_MB",
        "1",
        "read by `check` alone (its disk-space threshold)",
    ),
];

/// A configuration with every table whose keys the cases change; it loads as it is.
pub const BASE_TOML: &str = r#"[settings]

[database]

[sandbox]

[accounts.acc1]

[targets]
prod = ["-1001234567890", "@shop_chat"]
test = ["@test_chat"]

[messages.b2b]
texts = ["hello"]

[messages.b2c]
texts = ["hi"]

[messages.aaa]
texts = ["a"]

[messages.gus]
texts = ["g"]

[messages.listed]

[[messages.listed.items]]
text = "an item"

[broadcasters.b2b]
account = "acc1"
targets = "prod"
test_targets = "test"
messages = "b2b"

[[sandbox.faults]]
error = "FLOOD_WAIT_5"
chat = "@no_such_chat"
"#;

/// A key of the configuration file, with a value `run` refuses and one it accepts.
pub struct TomlCase {
    /// The table the line goes in (`settings`, `messages.listed.items`, …), as the parser's
    /// structs name it.
    pub table: &'static str,
    pub key: &'static str,
    pub bad: &'static str,
    pub good: &'static str,
}

/// The header in [`BASE_TOML`] of each table kind.
pub fn header_of(table: &str) -> &'static str {
    match table {
        "settings" => "[settings]",
        "database" => "[database]",
        "sandbox" => "[sandbox]",
        "sandbox.faults" => "[[sandbox.faults]]",
        "accounts" => "[accounts.acc1]",
        "targets" => "[targets]",
        "messages" => "[messages.b2b]",
        "messages.items" => "[[messages.listed.items]]",
        "broadcasters" => "[broadcasters.b2b]",
        other => panic!("no table {other} in BASE_TOML"),
    }
}

/// [`BASE_TOML`] with `key = value` in `table` (replacing the key's line when it has one, and
/// the `[[table.key]]` tables when it has those).
pub fn toml_with(table: &str, key: &str, value: &str) -> String {
    let header = header_of(table);
    let array = format!("[[{table}.{key}]]");
    let mut out = String::new();
    let mut inside = false;
    let mut dropped = false;
    let mut done = false;
    for line in BASE_TOML.lines() {
        if line.starts_with('[') {
            dropped = line == array;
        }
        if dropped {
            continue;
        }
        if line.starts_with('[') {
            if inside && !done {
                out.push_str(&format!("{key} = {value}\n"));
                done = true;
            }
            inside = line == header;
        } else if inside && line.split('=').next().map(str::trim) == Some(key) {
            if !done {
                out.push_str(&format!("{key} = {value}\n"));
                done = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if inside && !done {
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

const fn t(
    table: &'static str,
    key: &'static str,
    bad: &'static str,
    good: &'static str,
) -> TomlCase {
    TomlCase {
        table,
        key,
        bad,
        good,
    }
}

/// Every key of every table of the configuration file.
pub const TOML_CASES: &[TomlCase] = &[
    t("settings", "test_mode", "\"maybe\"", "false"),
    t("settings", "delay_between_chats", "\"fast\"", "\"20s\""),
    t("settings", "cycle_delay", "-3", "1800"),
    t("settings", "max_retries", "-1", "4"),
    t("settings", "disable_after_failures", "-1", "5"),
    t("settings", "backup_after", "\"later\"", "\"15m\""),
    t("settings", "preflight_every", "\"often\"", "\"12h\""),
    t("settings", "reach_after", "\"72h,24h\"", "\"12h,48h\""),
    t("settings", "auto_winner", "\"maybe\"", "true"),
    t("settings", "min_sample", "1", "20"),
    t("settings", "retry_delay", "\"soon\"", "\"2m\""),
    t("settings", "jitter", "\"lots\"", "\"10%\""),
    t("settings", "enable_scheduling", "\"maybe\"", "true"),
    t("settings", "start_time_hour", "25", "7"),
    t("settings", "enable_quiet_hours", "\"maybe\"", "true"),
    t("settings", "quiet_hour_start", "24", "1"),
    t("settings", "quiet_hour_end", "99", "6"),
    t(
        "settings",
        "timezone",
        "\"Mars/Olympus_Mons\"",
        "\"Asia/Tokyo\"",
    ),
    t(
        "database",
        "url",
        "\"mysql://localhost/smb\"",
        "\"sqlite://data/x.db\"",
    ),
    t(
        "sandbox",
        "database_url",
        "\"mysql://x\"",
        "\"sqlite://data/sandbox/x.db\"",
    ),
    t("sandbox", "ledger", "5", "\"data/sandbox/other.jsonl\""),
    t("sandbox", "latency_ms", "-1", "5"),
    t("sandbox", "seed", "\"x\"", "42"),
    t("sandbox", "faults", "\"x\"", "[]"),
    t("sandbox.faults", "account", "5", "\"acc1\""),
    t(
        "sandbox.faults",
        "chat",
        "\"not a chat!\"",
        "\"@shop_chat\"",
    ),
    t("sandbox.faults", "error", "5", "\"CHAT_WRITE_FORBIDDEN\""),
    t("sandbox.faults", "after", "-1", "2"),
    t("sandbox.faults", "times", "-1", "1"),
    t("sandbox.faults", "probability", "\"x\"", "0.5"),
    t("accounts", "kind", "\"robot\"", "\"bot\""),
    t("accounts", "phone", "5", "\"+79990000000\""),
    t("accounts", "session", "5", "\"acc1\""),
    t(
        "accounts",
        "proxy",
        "\"gopher://x\"",
        "\"socks5://127.0.0.1:1080\"",
    ),
    t("accounts", "delay_between_chats", "\"x\"", "30"),
    t("targets", "prod", "[\"not a chat!\"]", "[\"@other_chat\"]"),
    // A chat with rules (issue 14): an hour window past 24 is refused.
    t(
        "targets",
        "prod",
        "[{ chat = \"@other_chat\", hours = \"9-25\" }]",
        "[{ chat = \"@other_chat\", topic = 7, min_gap = \"24h\", days = \"mon-sat\", hours = \"9-21\", max_per_day = 1 }]",
    ),
    t("messages", "texts", "[\" \"]", "[\"hello\", \"again\"]"),
    t("messages", "items", "5", "[]"),
    t("messages", "format", "\"rtf\"", "\"html\""),
    t("messages", "media", "5", "\"photo.jpg\""),
    t("messages", "link_preview", "\"maybe\"", "true"),
    t("messages", "source", "\"\"", "\"prices/b2b.txt\""),
    t("messages.items", "text", "\"\"", "\"other\""),
    t("messages.items", "active", "\"maybe\"", "true"),
    t("messages.items", "priority", "11", "9"),
    t("broadcasters", "account", "\"nobody\"", "\"acc1\""),
    t("broadcasters", "targets", "\"nolist\"", "\"test\""),
    t("broadcasters", "test_targets", "\"nolist\"", "\"prod\""),
    t("broadcasters", "messages", "\"noset\"", "\"b2c\""),
    t("broadcasters", "rotation", "\"shuffle\"", "\"random\""),
    t("broadcasters", "enabled", "\"maybe\"", "true"),
    t("broadcasters", "delay_between_chats", "\"fast\"", "5"),
    t("broadcasters", "cycle_delay", "\"x\"", "\"1h\""),
    t("broadcasters", "max_retries", "-1", "2"),
    t("broadcasters", "retry_delay", "\"x\"", "10"),
    t("broadcasters", "post_mode", "\"sometimes\"", "\"replace\""),
    t("broadcasters", "pin", "\"maybe\"", "true"),
    t("broadcasters", "on_update", "\"later\"", "\"edit\""),
    t("broadcasters", "removed_posts_flag", "-1", "2"),
    t("broadcasters", "disable_when_removed", "\"maybe\"", "true"),
    t("broadcasters", "jitter", "\"lots\"", "\"0.1\""),
    t("broadcasters", "enable_scheduling", "\"maybe\"", "false"),
    t("broadcasters", "start_time_hour", "24", "9"),
    t("broadcasters", "enable_quiet_hours", "\"maybe\"", "false"),
    t("broadcasters", "quiet_hour_start", "30", "2"),
    t("broadcasters", "quiet_hour_end", "30", "5"),
    t("broadcasters", "timezone", "\"Nowhere\"", "\"UTC\""),
    t("broadcasters", "disable_after_failures", "\"three\"", "0"),
    t(
        "broadcasters",
        "send_text_without_media",
        "\"maybe\"",
        "true",
    ),
    t(
        "broadcasters",
        "backup_accounts",
        "[\"nobody\"]",
        // The broadcaster's own account (acc1, the only one here) is no backup: refused.
        "[]",
    ),
];
