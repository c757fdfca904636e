//! Session files: mode 0600, sealed with a passphrase, and every way a file can be unreadable
//! reported with the fix.

use std::net::SocketAddrV4;

use crate::common::store;
use smb_telegram::grammers::{Identity, SessionError, StoredSession};

fn sample() -> StoredSession {
    StoredSession {
        identity: Some(Identity {
            user_id: 1001,
            bot: false,
            first_name: "Seller".into(),
            username: Some("seller".into()),
        }),
        ..StoredSession::for_server(
            SocketAddrV4::new([127, 0, 0, 1].into(), 4430),
            2,
            [7u8; 256],
        )
    }
}

fn assert_same(a: &StoredSession, b: &StoredSession) {
    assert_eq!(a.home_dc, b.home_dc);
    assert_eq!(a.dc_options, b.dc_options);
    assert_eq!(a.identity, b.identity);
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn plain_round_trip_is_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(&dir.path().join("sessions"), None);
    assert!(store.load("acc1").expect("no file is fine").is_none());
    store.save("acc1", &sample()).expect("saved");
    let back = store.load("acc1").expect("loads").expect("exists");
    assert_same(&back, &sample());
    #[cfg(unix)]
    assert_eq!(mode(&store.path("acc1").expect("path")), 0o600);
    assert_eq!(store.accounts().expect("lists"), ["acc1"]);
    assert!(store.delete("acc1").expect("deleted"));
    assert!(!store.delete("acc1").expect("nothing to delete"));
}

#[test]
fn sealed_round_trip_hides_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), Some("correct horse battery staple"));
    store.save("acc1", &sample()).expect("saved");
    let path = store.path("acc1").expect("path");
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let raw = std::fs::read(&path).expect("read");
    // Neither the key (hex, as serde writes it) nor the name is visible on disk.
    assert!(!raw.windows(8).any(|w| w == b"07070707"));
    assert!(!raw.windows(6).any(|w| w == b"seller"));
    let back = store.load("acc1").expect("opens").expect("exists");
    assert_same(&back, &sample());
}

#[test]
fn wrong_passphrase_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    store(dir.path(), Some("right"))
        .save("acc1", &sample())
        .expect("saved");
    let e = store(dir.path(), Some("wrong"))
        .load("acc1")
        .expect_err("refused");
    assert!(matches!(e, SessionError::WrongPassphrase { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("SESSION_PASSPHRASE"), "{text}");
    assert!(
        text.contains("sendmessagebot accounts login acc1"),
        "{text}"
    );
    assert!(!text.contains("wrong") || !text.contains("right"));

    let e = store(dir.path(), None)
        .load("acc1")
        .expect_err("needs the passphrase");
    assert!(
        matches!(e, SessionError::PassphraseRequired { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("SESSION_PASSPHRASE"));
}

#[test]
fn damaged_and_truncated_files_say_how_to_fix_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sealed = store(dir.path(), Some("pw"));
    sealed.save("acc1", &sample()).expect("saved");
    let path = sealed.path("acc1").expect("path");
    let good = std::fs::read(&path).expect("read");

    let check = |bytes: &[u8], s: &smb_telegram::grammers::SessionStore| {
        std::fs::write(&path, bytes).expect("write");
        let e = s.load("acc1").expect_err("damaged");
        assert!(matches!(e, SessionError::Corrupted { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("run `sendmessagebot accounts login acc1`"),
            "{e}"
        );
    };
    // A flipped byte in the ciphertext: the tag catches it.
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x55;
    check(&flipped, &sealed);
    // Truncated: in the ciphertext, and inside the header.
    check(&good[..good.len() - 10], &sealed);
    check(&good[..30], &sealed);
    check(b"", &sealed);
    // Plain files: truncated JSON, and something that is not ours (a Telethon SQLite file).
    let plain = store(dir.path(), None);
    plain.save("acc1", &sample()).expect("saved");
    let good = std::fs::read(&path).expect("read");
    check(&good[..good.len() / 2], &plain);
    check(b"SQLite format 3\0\x10\x00", &plain);
}

#[test]
fn names_cannot_escape_the_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None);
    for bad in ["../x", "a/b", "", ".hidden", "a b"] {
        assert!(
            matches!(store.path(bad), Err(SessionError::BadName(_))),
            "{bad}"
        );
    }
}

#[test]
fn debug_output_has_no_key() {
    let text = format!("{:?}", sample());
    assert!(text.contains("+key"), "{text}");
    assert!(!text.contains("7, 7, 7"), "{text}");
    let store = store(std::path::Path::new("/tmp/x"), Some("hunter2"));
    assert!(!format!("{store:?}").contains("hunter2"));
}

#[test]
fn a_renamed_file_still_answers_to_its_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path(), None)
        .with_file_name("acc1", "session")
        .expect("valid names");
    store.save("acc1", &sample()).expect("saved");
    assert!(dir.path().join("session.session").exists());
    assert_eq!(store.accounts().expect("lists"), ["acc1"]);
    std::fs::write(store.path("acc1").expect("path"), b"junk").expect("write");
    let e = store.load("acc1").expect_err("damaged");
    assert!(
        e.to_string()
            .contains("run `sendmessagebot accounts login acc1`"),
        "{e}"
    );
    assert!(matches!(
        store.clone().with_file_name("acc1", "../x"),
        Err(SessionError::BadName(_))
    ));
}

/// QA3 finding F28: a passphrase set after the login leaves the file plain until it is
/// sealed; sealing keeps the session and writes it 0600.
#[test]
fn f28_a_plain_session_is_sealed_in_place_without_losing_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = store(dir.path(), None);
    plain.save("acc1", &sample()).expect("saved");
    assert_eq!(plain.is_sealed("acc1").expect("reads"), Some(false));
    assert_eq!(plain.is_sealed("acc2").expect("no file"), None);
    assert!(matches!(
        plain.seal("acc1"),
        Err(SessionError::PassphraseRequired { .. })
    ));
    let sealed = store(dir.path(), Some("later passphrase"));
    assert!(sealed.seal("acc1").expect("sealed now"));
    assert_eq!(sealed.is_sealed("acc1").expect("reads"), Some(true));
    assert!(!sealed.seal("acc1").expect("already sealed"));
    assert_same(
        &sealed.load("acc1").expect("loads").expect("exists"),
        &sample(),
    );
    assert!(matches!(
        plain.load("acc1"),
        Err(SessionError::PassphraseRequired { .. })
    ));
    #[cfg(unix)]
    assert_eq!(mode(&sealed.path("acc1").expect("path")), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(sealed.seal("acc2").is_err(), "no session to seal");
}
