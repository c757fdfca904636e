//! The names a user gives: accounts, broadcasters, target lists. An account's name is a file
//! name under SESSIONS_DIR and a broadcaster's is a key of the journal and of `test:NAME` (the
//! label of its test sends), so a path, an empty name, a huge one or a `test:` prefix is
//! refused; so are a configuration with no broadcaster and a target list with no target.

use super::ConfigError;
use super::located::Ctx;
use super::schema::FileConfig;

/// The longest name accepted (characters).
pub const MAX_NAME_CHARS: usize = 64;

/// The first characters of `name`, for a message (a 1 MB name is not printed whole).
fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(40).collect();
    if name.chars().count() > 40 {
        s.push('…');
    }
    format!("{s:?}")
}

/// Why `name` cannot name an account or a broadcaster, if it cannot.
fn bad_name(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        return Some("is empty; give it a name such as acc1");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Some("is longer than 64 characters; use a short name");
    }
    if name.contains(['/', '\\']) || name.contains("..") || name.starts_with('.') {
        return Some("has a path in it (/, \\, .. or a leading dot); use letters, digits, - and _");
    }
    if name.chars().any(char::is_control) {
        return Some("has a control character; use letters, digits, - and _");
    }
    if name.to_ascii_lowercase().starts_with("test:") {
        return Some(
            "starts with `test:`, the label of another broadcaster's test sends; rename it",
        );
    }
    None
}

/// Every account and broadcaster name, at least one broadcaster, no empty target list.
pub(super) fn check(ctx: &Ctx, file: &FileConfig) -> Result<(), ConfigError> {
    for (table, names) in [
        ("accounts", file.accounts.keys().collect::<Vec<_>>()),
        ("broadcasters", file.broadcasters.keys().collect()),
    ] {
        for n in names {
            if let Some(why) = bad_name(n) {
                return Err(ctx.key(format!("[{table}.{}]", shown(n)), format!("the name {why}")));
            }
        }
    }
    if file.broadcasters.is_empty() {
        return Err(ctx.key(
            "broadcasters",
            "no [broadcasters.NAME] table: nothing would be sent; add one (`sendmessagebot init` writes an example)",
        ));
    }
    for (list, entries) in &file.targets {
        if entries.is_empty() {
            return Err(ctx.key(
                format!("targets.{list}"),
                "the list is empty; add a chat (@name, -100…, a t.me link) or remove the list",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_broadcaster_names_with_paths_empty_huge_or_test_prefix_are_refused() {
        for n in [
            "../../x", "a/b", "a\\b", "", " ", ".hidden", "test:b2b", "TEST:x", "a\nb",
        ] {
            assert!(bad_name(n).is_some(), "{n:?}");
        }
        assert!(bad_name(&"x".repeat(1_000_000)).is_some());
        for n in ["acc1", "b2b", "shop-news_2", "продавец"] {
            assert_eq!(bad_name(n), None, "{n:?}");
        }
        assert_eq!(shown(&"y".repeat(100)).chars().count(), 43);
    }
}
