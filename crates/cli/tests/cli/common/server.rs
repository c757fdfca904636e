//! One end-to-end test's world against the MTProto test server (telegram_e2e,
//! targets_check_e2e): the server on its own runtime, serving on 127.0.0.1 while the test
//! thread waits on the binary, and a working directory with the configuration, sessions and
//! database.

use std::net::SocketAddrV4;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use smb_mtproto_testserver::{DC_ID, Fixture, TestServer};
use smb_telegram::grammers::{KdfParams, SecretString, SessionStore, StoredSession};

use super::{API_HASH, text};

/// `[settings]` for fast runs: 20 ms between chats, no jitter, no schedule or quiet hours.
pub const FAST: &str = r#"
[settings]
delay_between_chats = "20ms"
cycle_delay = "1h"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
"#;

/// [`FAST`] without the daemon's pre-flight check, for tests of how the send path meets refusals.
pub const FAST_NO_PREFLIGHT: &str = r#"
[settings]
# The send path meets the refusals itself: no pre-flight check.
preflight_every = "0s"
delay_between_chats = "20ms"
cycle_delay = "1h"
retry_delay = "300ms"
jitter = "0%"
enable_scheduling = false
enable_quiet_hours = false
"#;

pub struct ServerWorld {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    /// SESSION_PASSPHRASE of the sessions; `None`: plain session files.
    pub passphrase: Option<&'static str>,
    // Declared last: dropped after the server, whose drop needs no runtime but whose tasks do.
    pub rt: tokio::runtime::Runtime,
}

impl ServerWorld {
    pub fn start(fixture: Fixture) -> ServerWorld {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt
            .block_on(TestServer::start(fixture))
            .expect("test server");
        ServerWorld {
            server,
            dir: tempfile::tempdir().expect("tempdir"),
            passphrase: None,
            rt,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self, toml: &str) {
        std::fs::write(self.path().join("sendmessagebot.toml"), toml).expect("write config");
    }

    pub fn addr(&self) -> SocketAddrV4 {
        match self.server.addr() {
            std::net::SocketAddr::V4(a) => a,
            std::net::SocketAddr::V6(_) => panic!("the test server listens on 127.0.0.1"),
        }
    }

    pub fn sessions(&self) -> SessionStore {
        SessionStore::new(
            self.path().join("sessions"),
            self.passphrase.map(SecretString::from),
        )
        .with_kdf(KdfParams::insecure_for_tests())
    }

    /// What a key exchange leaves: a session at the server with a key bound to nobody yet.
    pub fn seed_fresh(&self, account: &str) -> [u8; 256] {
        let key = self.server.new_auth_key();
        self.sessions()
            .save(account, &StoredSession::for_server(self.addr(), DC_ID, key))
            .expect("seed session");
        key
    }

    /// What a completed login of fixture user `user` leaves.
    pub fn seed_logged_in(&self, account: &str, user: i64) {
        let key = self.server.auth_key(user).expect("fixture user has a key");
        let session = StoredSession {
            identity: Some(super::identity(user, account)),
            ..StoredSession::for_server(self.addr(), DC_ID, key)
        };
        self.sessions()
            .save(account, &session)
            .expect("seed session");
    }

    /// The binary in the world's directory with the API id and hash and the passphrase.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = super::command(self.path(), args);
        c.env("API_ID", "12345").env("API_HASH", API_HASH);
        match self.passphrase {
            Some(p) => c.env("SESSION_PASSPHRASE", p),
            None => c.env_remove("SESSION_PASSPHRASE"),
        };
        c
    }

    /// Runs the binary with `args` to completion; panics with what it printed when it did
    /// not finish within a minute.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_within(self.command(args), None, Duration::from_secs(60))
    }

    /// Runs `cmd` to completion with `stdin` as its input; panics with what it printed when
    /// it did not finish within `limit`.
    pub fn run_within(&self, cmd: Command, stdin: Option<&str>, limit: Duration) -> Output {
        super::run_with(cmd, stdin, limit).unwrap_or_else(|out| {
            panic!("sendmessagebot did not finish in {limit:?}\n{}", text(&out))
        })
    }
}
