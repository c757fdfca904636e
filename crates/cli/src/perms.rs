//! File modes of what holds a secret: the sessions directory (0700), its session and
//! peer-cache files (0600), and a `.env` holding secrets (0600). `check` reports a loose one as a ✗ with the `chmod` that fixes
//! it; `accounts list` and `run` print the same words as a warning (SECURITY.md).

use std::path::Path;

/// One loose mode: what it exposes and the command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loose {
    pub message: String,
    /// A secret is exposed or can be replaced (a ✗ in `check`); otherwise only file names
    /// are visible (a `!`).
    pub severe: bool,
}

/// The loose modes under the sessions directory `dir` (none when it does not exist yet, or
/// off Unix). A directory others can write to, or a file others can read, is loose.
pub fn sessions_dir(dir: &Path) -> Vec<Loose> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mut out = Vec::new();
        let Ok(meta) = std::fs::metadata(dir) else {
            return out;
        };
        let mode = meta.permissions().mode() & 0o777;
        let shown = dir.display();
        // Others able to write could swap a session file; able to list, they learn the names
        // (the files are still 0600): both fixed by 0700.
        if mode & 0o077 != 0 {
            let writable = mode & 0o022 != 0;
            out.push(Loose {
                message: format!(
                    "{shown} is {mode:04o}: other users can {} it; run `chmod 700 {shown}`",
                    if writable { "change files in" } else { "list" }
                ),
                severe: writable,
            });
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".session") || n.ends_with(".peers.json"))
            })
            .collect();
        files.sort();
        for f in files {
            let Ok(m) = std::fs::metadata(&f) else {
                continue;
            };
            let mode = m.permissions().mode() & 0o777;
            if m.is_file() && mode & 0o077 != 0 {
                out.push(Loose {
                    message: format!(
                        "{} is {mode:04o}: other users can read the session; run `chmod 600 {}`",
                        f.display(),
                        f.display()
                    ),
                    severe: true,
                });
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Vec::new()
    }
}

/// The `.env` at `path` when other users may read it (any group/other bit) and it holds a
/// secret: a non-empty `API_HASH`, a token, secret, password or passphrase (`WEB_TOKEN`,
/// `REPORTS_BOT_TOKEN`, `WEBHOOK_SECRET`, `SESSION_PASSPHRASE`, …) or a URL with a password
/// (`DATABASE_URL=postgres://u:pw@…`). SECURITY.md: ✗ in `check`, with the `chmod`. The
/// message names the variables, never their values. `None` when the file is absent, does
/// not parse (`check` reports that itself), holds no secret, or off Unix.
pub fn env_file(path: &Path) -> Option<Loose> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        let entries = smb_sources::dotenv::read(&bytes, |_| None).ok()?;
        let mut names: Vec<String> = entries
            .into_iter()
            .filter(|(k, v, _)| {
                let v = v.trim();
                !v.is_empty()
                    && (["HASH", "TOKEN", "SECRET", "PASSWORD", "PASSPHRASE"]
                        .iter()
                        .any(|w| k.contains(w))
                        || smb_domain::redact::redact(v) != v)
            })
            .map(|(k, _, _)| k)
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            return None;
        }
        let shown = path.display();
        Some(Loose {
            message: format!(
                "{shown} is {mode:04o} and holds {}: other users can read them; run `chmod 600 {shown}`",
                names.join(", ")
            ),
            severe: true,
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// [`sessions_dir`] of the configured store (SESSIONS_DIR).
pub fn of_settings(s: &crate::config::Settings) -> Vec<Loose> {
    match crate::telegram::session_store(s) {
        Ok(store) => sessions_dir(store.dir()),
        Err(_) => Vec::new(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn sessions_dir_0777_and_session_file_0644_are_loose_with_their_chmod() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("sessions");
        std::fs::create_dir(&dir).expect("dir");
        let file = dir.join("acc1.session");
        std::fs::write(&file, b"SMBSESS\0").expect("file");
        std::fs::write(dir.join("notes.txt"), b"x").expect("other file");
        chmod(&dir, 0o700);
        chmod(&file, 0o600);
        assert_eq!(sessions_dir(&dir), []);
        chmod(&dir, 0o777);
        chmod(&file, 0o644);
        let got: Vec<(String, bool)> = sessions_dir(&dir)
            .into_iter()
            .map(|l| (l.message, l.severe))
            .collect();
        let d = dir.display();
        let f = file.display();
        assert_eq!(
            got,
            [
                (
                    format!("{d} is 0777: other users can change files in it; run `chmod 700 {d}`"),
                    true
                ),
                (
                    format!("{f} is 0644: other users can read the session; run `chmod 600 {f}`"),
                    true
                ),
            ]
        );
        chmod(&dir, 0o755);
        chmod(&file, 0o600);
        let got: Vec<bool> = sessions_dir(&dir).into_iter().map(|l| l.severe).collect();
        assert_eq!(
            got,
            [false],
            "a listable directory of 0600 files is a warning"
        );
        assert_eq!(sessions_dir(&tmp.path().join("absent")), []);
    }

    #[test]
    fn an_env_file_others_can_read_is_loose_only_when_it_holds_a_secret() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let env = tmp.path().join(".env");
        // As `cp .env.example .env` leaves it: empty secrets, nothing to expose.
        std::fs::write(&env, "API_ID=\nAPI_HASH=\nDELAY_BETWEEN_CHATS=15\n").expect("write");
        chmod(&env, 0o644);
        assert_eq!(env_file(&env), None);
        std::fs::write(
            &env,
            "API_HASH=0123456789abcdef0123456789abcdef\nWEB_TOKEN=s3cret-web\n\
             DATABASE_URL=postgres://bot:pw9@db/x\nLOG_LEVEL=INFO\n",
        )
        .expect("write");
        let e = env.display();
        let loose = env_file(&env).expect("loose");
        assert_eq!(
            loose.message,
            format!(
                "{e} is 0644 and holds API_HASH, DATABASE_URL, WEB_TOKEN: other users can read them; run `chmod 600 {e}`"
            )
        );
        assert!(loose.severe);
        assert!(!loose.message.contains("s3cret") && !loose.message.contains("pw9"));
        chmod(&env, 0o640);
        assert!(env_file(&env).is_some(), "the group can read it too");
        chmod(&env, 0o600);
        assert_eq!(env_file(&env), None);
        // A database URL without a password is no secret.
        std::fs::write(&env, "DATABASE_URL=sqlite://data/x.db\n").expect("write");
        chmod(&env, 0o644);
        assert_eq!(env_file(&env), None);
        assert_eq!(env_file(&tmp.path().join("absent")), None);
    }
}
