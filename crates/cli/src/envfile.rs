//! Edits `.env` in place: sets or removes `NAME=value` lines, keeping every other line,
//! comment and order as they were (the menu's report settings are kept there, under the
//! original's names). Written to a temporary file and renamed, so a crash never leaves half a file.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use smb_sources::dotenv;

/// The value as `.env` needs it, read back identically by our reader and the original's
/// python-dotenv (`smb_sources::dotenv::quote`).
fn quoted(value: &str) -> String {
    dotenv::quote(value)
}

/// Sets each `(name, Some(value))` and removes each `(name, None)`; new names go at the end.
/// The file is read as `run` reads it (python-dotenv's rules), so a value spanning lines is
/// replaced whole; a file `run` could not read is left alone (the error names the line).
pub fn update(path: &Path, changes: &[(&str, Option<String>)]) -> anyhow::Result<()> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let unreadable = |e: dotenv::LineError| {
        anyhow::anyhow!(
            "{}:{}: {}; nothing was changed",
            path.display(),
            e.line,
            e.message
        )
    };
    let old = dotenv::decode(&bytes).map_err(unreadable)?;
    let (entries, errors) = dotenv::parse(&old);
    if let Some(e) = errors.into_iter().next() {
        return Err(unreadable(e));
    }
    // Line (1-based) → the change whose entry starts there, and every line such an entry covers.
    let mut starts = std::collections::HashMap::new();
    let mut covered = std::collections::HashSet::new();
    for e in &entries {
        if let Some(i) = changes.iter().position(|(n, _)| *n == e.key) {
            starts.insert(e.line, i);
            covered.extend(e.line..=e.end_line);
        }
    }
    let mut done = vec![false; changes.len()];
    let mut out = String::with_capacity(old.len() + 64);
    for (n, line) in old.lines().enumerate() {
        let n = n + 1;
        if let Some(&i) = starts.get(&n) {
            if let (false, Some(v)) = (done[i], &changes[i].1) {
                out.push_str(&format!("{}={}\n", changes[i].0, quoted(v)));
            }
            done[i] = true;
        } else if !covered.contains(&n) {
            out.push_str(line);
            out.push('\n');
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

/// Writes `contents` as a new `path` (replacing one), mode 0600 from its first byte: `.env`
/// holds API_HASH and tokens (SECURITY.md).
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir, path)?;
    tmp.1.write_all(contents.as_bytes())?;
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
        let env = smb_sources::dotenv::read(&std::fs::read(&p).expect("read"), |_| None)
            .expect("entries");
        assert!(env.contains(&("NOTE".into(), "two words".into(), 5)));
    }

    #[test]
    fn a_value_on_several_lines_is_replaced_whole_and_a_bad_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(".env");
        std::fs::write(
            &p,
            "\u{feff}A=1\nREPORTS_CHANNEL_ID=\"first\nB=inside\" # c\nC=3\n",
        )
        .expect("write");
        update(&p, &[("REPORTS_CHANNEL_ID", Some("@new".into()))]).expect("update");
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "A=1\nREPORTS_CHANNEL_ID=@new\nC=3\n"
        );
        std::fs::write(&p, "A=1\nB=\"open\n").expect("write");
        let err = update(&p, &[("A", Some("2".into()))])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(".env:2:") && err.contains("nothing was changed"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "A=1\nB=\"open\n"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// What `report settings` writes reads back as written, next to awkward neighbours.
        #[test]
        fn every_written_value_reads_back(
            value in "[a-zA-Z0-9 $'\"#\\{}:=\\-_\n\tПрайс₽]{0,24}",
            before in "[a-zA-Z0-9 $'\"#\\{}:=\\-_\n\tПрайс₽]{0,24}",
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let p = dir.path().join(".env");
            update(&p, &[("BEFORE", Some(before.clone())), ("REPORTS_CHANNEL_ID", Some("x".into()))])
                .expect("first write");
            update(&p, &[("REPORTS_CHANNEL_ID", Some(value.clone())), ("AFTER", Some("z".into()))])
                .expect("second write");
            let got: Vec<(String, String)> =
                smb_sources::dotenv::read(&std::fs::read(&p).expect("read"), |_| None)
                    .expect("reads back")
                    .into_iter()
                    .map(|(k, v, _)| (k, v))
                    .collect();
            proptest::prop_assert_eq!(
                got,
                vec![
                    ("BEFORE".to_string(), before),
                    ("REPORTS_CHANNEL_ID".to_string(), value),
                    ("AFTER".to_string(), "z".to_string()),
                ]
            );
        }
    }
}
