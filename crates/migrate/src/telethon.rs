//! Telethon's SQLite session files (`sessions/*.session`), read without modifying them: the
//! login (data centre, address, 256-byte auth key) and the entity cache (id, access hash,
//! username). The Telegram crate turns a [`TelethonSession`] into our own session file.

use std::fmt;
use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};

/// One Telethon login, as plain data.
#[derive(Clone, PartialEq, Eq)]
pub struct TelethonSession {
    pub dc_id: i32,
    /// The data centre's address as Telethon stored it (an IPv4 or IPv6 literal).
    pub addr: String,
    pub port: u16,
    /// The permanent authorization key: whoever has it is logged in as the account.
    pub auth_key: [u8; 256],
    /// Telethon's entity cache: (marked peer id, access hash, username). Channel and
    /// supergroup ids are marked `-100…`, basic groups `-…`, users positive.
    pub peers: Vec<(i64, i64, Option<String>)>,
}

impl fmt::Debug for TelethonSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelethonSession")
            .field("dc_id", &self.dc_id)
            .field("addr", &self.addr)
            .field("port", &self.port)
            .field("auth_key", &"<redacted: 256 bytes>")
            .field("peers", &self.peers.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelethonError {
    #[error("{path}: not a Telethon session file ({detail})")]
    NotASession { path: String, detail: String },
    #[error(
        "{path}: the session is not logged in (no auth key): log in again with `sendmessagebot accounts login`"
    )]
    NotLoggedIn { path: String },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

/// Reads `path` read-only (SQLite's `immutable`: no lock, no journal, the file is never
/// written).
pub async fn read_session(path: &Path) -> Result<TelethonSession, TelethonError> {
    let shown = path.display().to_string();
    let not = |detail: String| TelethonError::NotASession {
        path: shown.clone(),
        detail,
    };
    if !path.is_file() {
        return Err(not("no such file".into()));
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .map_err(|e| not(e.to_string()))?;
    let result = read(&mut conn, &shown).await;
    let _ = conn.close().await;
    result
}

async fn read(conn: &mut SqliteConnection, path: &str) -> Result<TelethonSession, TelethonError> {
    let not = |detail: String| TelethonError::NotASession {
        path: path.to_string(),
        detail,
    };
    let invalid = |detail: String| TelethonError::Invalid {
        path: path.to_string(),
        detail,
    };
    let row = sqlx::query("SELECT dc_id, server_address, port, auth_key FROM sessions")
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| not(e.to_string()))?;
    let Some(row) = row else {
        return Err(TelethonError::NotLoggedIn {
            path: path.to_string(),
        });
    };
    let dc_id: i64 = row
        .try_get("dc_id")
        .map_err(|e| invalid(format!("dc_id: {e}")))?;
    let addr: Option<String> = row
        .try_get("server_address")
        .map_err(|e| invalid(format!("server_address: {e}")))?;
    let port: Option<i64> = row
        .try_get("port")
        .map_err(|e| invalid(format!("port: {e}")))?;
    let key: Option<Vec<u8>> = row
        .try_get("auth_key")
        .map_err(|e| invalid(format!("auth_key: {e}")))?;
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| TelethonError::NotLoggedIn {
            path: path.to_string(),
        })?;
    let auth_key: [u8; 256] = key
        .as_slice()
        .try_into()
        .map_err(|_| invalid(format!("the auth key is {} bytes, not 256", key.len())))?;
    let addr = addr
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("no server address".into()))?;
    let port = port
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| invalid("no valid port".into()))?;
    let dc_id = i32::try_from(dc_id)
        .map_err(|_| invalid(format!("data centre {dc_id} is out of range")))?;
    // Older files may lack the entities table; the login is still worth importing.
    let peers = match sqlx::query("SELECT id, hash, username FROM entities ORDER BY id")
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => rows
            .iter()
            .filter_map(|r| {
                let id: i64 = r.try_get("id").ok()?;
                let hash: i64 = r.try_get("hash").ok()?;
                let username: Option<String> = r.try_get("username").ok()?;
                Some((id, hash, username.filter(|u| !u.is_empty())))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Ok(TelethonSession {
        dc_id,
        addr,
        port,
        auth_key,
        peers,
    })
}
