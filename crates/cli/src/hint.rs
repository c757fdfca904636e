//! The commands that hints tell the user to type, in the mode of the command that printed them.
//!
//! A hint shown by a `--sandbox` command names `--sandbox` too: typed as printed, it acts on
//! the same data directory (QA finding: a sandbox `db restore` hint without the flag restored
//! a sandbox backup into the real journal). The mode is set once per process, from the
//! command line (or the menu's choice); [`command`] renders one hint, [`in_mode`] fixes the
//! hints inside a text that other crates wrote (store errors, lock errors).

use std::sync::atomic::{AtomicBool, Ordering};

static SANDBOX: AtomicBool = AtomicBool::new(false);

/// Subcommands without a `--sandbox` flag: their hints are the same in both modes.
const WITHOUT_SANDBOX: &[&str] = &[
    "accounts",
    "init",
    "migrate",
    "service",
    "completions",
    "manpage",
    "sheets",
    "notify",
    "report settings",
];

/// Records the mode of this process's command (`--sandbox` on the command line, or the menu's).
pub fn set_sandbox(sandbox: bool) {
    SANDBOX.store(sandbox, Ordering::Relaxed);
}

/// Whether this process's command runs in the sandbox.
pub fn sandbox() -> bool {
    SANDBOX.load(Ordering::Relaxed)
}

/// `--sandbox` given anywhere on a command line (the flag takes no value).
pub fn sandbox_in_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter().skip(1).any(|a| a == "--sandbox")
}

/// The command to type, quoted: `` `sendmessagebot ARGS --sandbox` `` in sandbox mode,
/// `` `sendmessagebot ARGS` `` otherwise.
pub fn command(args: &str) -> String {
    in_mode(&format!("`sendmessagebot {args}`"))
}

/// `text` with `--sandbox` added to every quoted `` `sendmessagebot …` `` command that takes it,
/// when this process runs in the sandbox; unchanged otherwise.
pub fn in_mode(text: &str) -> String {
    with_flag(text, sandbox())
}

fn with_flag(text: &str, sandbox: bool) -> String {
    const START: &str = "`sendmessagebot ";
    if !sandbox {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(at) = rest.find(START) {
        let body_from = at + START.len();
        let Some(len) = rest[body_from..].find('`') else {
            break;
        };
        let body = &rest[body_from..body_from + len];
        out.push_str(&rest[..body_from]);
        out.push_str(body);
        let takes_flag = !body.split_whitespace().any(|w| w == "--sandbox")
            && !WITHOUT_SANDBOX.iter().any(|c| body.starts_with(c));
        if takes_flag {
            out.push_str(" --sandbox");
        }
        out.push('`');
        rest = &rest[body_from + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::with_flag;

    #[test]
    fn sandbox_hints_name_the_flag_once() {
        let text = "stop it (`sendmessagebot stop`), then `sendmessagebot db restore FILE`; \
                    `sendmessagebot stop --sandbox` as is; `sendmessagebot accounts login a`";
        assert_eq!(
            with_flag(text, true),
            "stop it (`sendmessagebot stop --sandbox`), then `sendmessagebot db restore FILE --sandbox`; \
             `sendmessagebot stop --sandbox` as is; `sendmessagebot accounts login a`"
        );
        assert_eq!(with_flag(text, false), text);
        assert_eq!(with_flag("a `sendmessagebot", true), "a `sendmessagebot");
    }
}
