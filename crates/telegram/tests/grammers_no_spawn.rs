//! Opening accounts runs no process: grammers' default connection parameters detect the OS
//! with `lsb_release -a` and `getconf LONG_BIT` on every call (once per account, ~24 launches
//! each); ours are computed once per process without a launch (issue 18: 100 accounts took a
//! second to start).
//!
//! Its own test binary with one test: `PATH` is pointed at fake `lsb_release`, `getconf` and
//! `uname` that leave a mark when run, so a launch by name is seen.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]
// `std::env::set_var` is unsafe in edition 2024; this binary has one test and sets `PATH`
// before any other thread reads the environment.
#![allow(unsafe_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use grammers_mtsender::ConnectionParams;
use smb_telegram::grammers::{
    AccountClient, ApiSettings, SecretString, SessionStore, StoredSession, connection_params,
    system_version,
};

fn fake_tools(dir: &Path, mark: &Path) {
    for tool in ["lsb_release", "getconf", "uname", "sw_vers", "sysctl"] {
        let path = dir.join(tool);
        let script = format!("#!/bin/sh\necho {tool} >> '{}'\n", mark.display());
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn opening_a_hundred_accounts_launches_no_process() {
    let bin = tempfile::tempdir().unwrap();
    let mark = bin.path().join("launched");
    fake_tools(bin.path(), &mark);
    // Before any other thread exists (the runtime is built below): nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var("PATH", bin.path()) };

    // The fakes are seen: grammers' default parameters run them.
    drop(ConnectionParams::default());
    let launched = std::fs::read_to_string(&mark).unwrap_or_default();
    assert!(
        launched.contains("lsb_release") || launched.contains("getconf"),
        "grammers' OS detection should have run a fake tool, ran: {launched:?}"
    );
    std::fs::remove_file(&mark).unwrap();

    let sessions = tempfile::tempdir().unwrap();
    let store = SessionStore::new(sessions.path(), None);
    let api = ApiSettings::new(
        12345,
        SecretString::from("0123456789abcdef0123456789abcdef"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clients: Vec<AccountClient> = (0..100)
            .map(|i| {
                AccountClient::with_session(
                    &api,
                    &store,
                    &format!("acc{i}"),
                    StoredSession::default(),
                    None,
                )
            })
            .collect();
        assert_eq!(clients.len(), 100);
    });
    assert!(
        !mark.exists(),
        "opening accounts ran {:?}",
        std::fs::read_to_string(&mark).unwrap_or_default()
    );

    // What every account reports instead.
    let params = connection_params(&api, None);
    assert_eq!(params.system_version, system_version());
    assert!(
        params.system_version.starts_with("Linux"),
        "{}",
        params.system_version
    );
    assert_eq!(params.device_model, "SendMessageBot");
    assert_eq!(params.app_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(params.lang_code, "en");
}
