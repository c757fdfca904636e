//! Edits `.env` in place: sets or removes `NAME=value` lines, keeping every other line,
//! comment and order as they were (the menu's report settings are kept there, under the
//! original's names). Written to a temporary file and renamed, so a crash never leaves half a file.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// The value as `.env` needs it: bare when plain, else double-quoted with `\` and `"` escaped.
fn quoted(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+,".contains(c));
    if plain && !value.is_empty() {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let t = t.strip_prefix("export ").unwrap_or(t);
    if t.starts_with('#') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    Some(k.trim())
}

/// Sets each `(name, Some(value))` and removes each `(name, None)`; new names go at the end.
pub fn update(path: &Path, changes: &[(&str, Option<String>)]) -> anyhow::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut done = vec![false; changes.len()];
    let mut out = String::with_capacity(old.len() + 64);
    for line in old.lines() {
        match key_of(line).and_then(|k| changes.iter().position(|(n, _)| *n == k)) {
            Some(i) => {
                if let (false, Some(v)) = (done[i], &changes[i].1) {
                    out.push_str(&format!("{}={}\n", changes[i].0, quoted(v)));
                }
                done[i] = true;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (name, value)) in changes.iter().enumerate() {
        if let (false, Some(v)) = (done[i], value) {
            out.push_str(&format!("{name}={}\n", quoted(v)));
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir, path)?;
    tmp.1.write_all(out.as_bytes())?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn tempfile_in(dir: &Path, path: &Path) -> anyhow::Result<(std::path::PathBuf, std::fs::File)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".env");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // .env holds tokens: never world-readable, not even for a moment.
        opts.mode(0o600);
    }
    let f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    Ok((tmp, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_replaces_removes_and_keeps_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(".env");
        std::fs::write(
            &p,
            "# reports\nENABLE_REPORTS=false\nAPI_ID=1\nexport REPORTS_CHANNEL_ID=@old\n",
        )
        .expect("write");
        update(
            &p,
            &[
                ("ENABLE_REPORTS", Some("true".into())),
                ("REPORTS_CHANNEL_ID", None),
                ("REPORT_INTERVAL_HOURS", Some("6".into())),
                ("NOTE", Some("two words".into())),
            ],
        )
        .expect("update");
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "# reports\nENABLE_REPORTS=true\nAPI_ID=1\nREPORT_INTERVAL_HOURS=6\nNOTE=\"two words\"\n"
        );
        let env = dotenvy::from_path_iter(&p)
            .expect("parse")
            .collect::<Result<Vec<_>, _>>()
            .expect("entries");
        assert!(env.contains(&("NOTE".into(), "two words".into())));
    }
}
