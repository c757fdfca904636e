//! The peer cache: what an account needs to address a chat (its access hash), filled from the
//! account's dialogs and from `contacts.resolveUsername`, and persisted so a restart needs no
//! rescan. Telegram rate-limits username resolution hard, so a resolved name is kept forever
//! (until PEER_ID_INVALID / CHANNEL_INVALID says it went stale).

use std::collections::BTreeMap;
use std::path::PathBuf;

use grammers_tl_types as tl;
use serde::{Deserialize, Serialize};

const CHANNEL_ID_BASE: i64 = 1_000_000_000_000;

/// The Bot-API id (`-100…`) of channel `channel_id`.
pub(crate) fn channel_chat_id(channel_id: i64) -> i64 {
    -(CHANNEL_ID_BASE + channel_id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    Group,
    Supergroup,
    Channel,
}

/// One chat the account can post into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedChat {
    /// Bot-API id: `-100…` or `-N`.
    pub id: i64,
    /// 0 for basic groups (they need none).
    pub access_hash: i64,
    pub kind: ChatKind,
    pub title: String,
    #[serde(default)]
    pub username: Option<String>,
}

impl CachedChat {
    /// The chat from a `Chat` constructor, unless the account cannot post there (left,
    /// deactivated, forbidden, or a `min` constructor without a usable access hash).
    pub fn from_tl(chat: &tl::enums::Chat) -> Option<Self> {
        match chat {
            tl::enums::Chat::Chat(c) if !c.left && !c.deactivated && c.migrated_to.is_none() => {
                Some(CachedChat {
                    id: -c.id,
                    access_hash: 0,
                    kind: ChatKind::Group,
                    title: c.title.clone(),
                    username: None,
                })
            }
            tl::enums::Chat::Channel(c) if !c.left && !c.min => Some(CachedChat {
                id: channel_chat_id(c.id),
                access_hash: c.access_hash?,
                kind: if c.broadcast {
                    ChatKind::Channel
                } else {
                    ChatKind::Supergroup
                },
                title: c.title.clone(),
                username: c.username.as_ref().map(|u| u.to_ascii_lowercase()),
            }),
            _ => None,
        }
    }

    /// A chat from a marked id as Telethon and the bot API write it (`-100…` channels and
    /// supergroups, `-N` basic groups) with its access hash. Users, and channels without a
    /// hash (Telethon's `min` entities), give `None`: the dialogs scan finds those.
    /// Telethon does not record whether a `-100…` chat is a broadcast channel; both are
    /// addressed the same way, so it is kept as a supergroup until the dialogs say otherwise.
    pub fn from_marked(id: i64, access_hash: i64, username: Option<&str>) -> Option<Self> {
        let username = username
            .map(|u| u.trim_start_matches('@').to_ascii_lowercase())
            .filter(|u| !u.is_empty());
        let title = username.clone().unwrap_or_default();
        if id < -CHANNEL_ID_BASE {
            (access_hash != 0).then_some(CachedChat {
                id,
                access_hash,
                kind: ChatKind::Supergroup,
                title,
                username,
            })
        } else if id < 0 && id != -CHANNEL_ID_BASE {
            Some(CachedChat {
                id,
                access_hash: 0,
                kind: ChatKind::Group,
                title,
                username: None,
            })
        } else {
            None
        }
    }

    pub fn input_peer(&self) -> tl::enums::InputPeer {
        match self.kind {
            ChatKind::Group => tl::types::InputPeerChat { chat_id: -self.id }.into(),
            _ => tl::types::InputPeerChannel {
                channel_id: -self.id - CHANNEL_ID_BASE,
                access_hash: self.access_hash,
            }
            .into(),
        }
    }
}

/// One account's cache; a plain serde struct so any store can keep it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCache {
    /// By bot-API id.
    #[serde(default)]
    pub chats: BTreeMap<i64, CachedChat>,
    /// Lower-case username (no `@`) → bot-API id.
    #[serde(default)]
    pub usernames: BTreeMap<String, i64>,
    /// When the dialogs were last scanned (RFC 3339).
    #[serde(default)]
    pub dialogs_scanned_at: Option<String>,
    /// Basic groups upgraded to supergroups: old `-N` id → new `-100…` id (from the group's
    /// `migrated_to`), so sends to the old id go to the new chat without asking again.
    #[serde(default)]
    pub migrated: BTreeMap<i64, i64>,
}

impl PeerCache {
    pub fn insert(&mut self, chat: CachedChat) {
        if let Some(u) = &chat.username {
            self.usernames.insert(u.clone(), chat.id);
        }
        self.chats.insert(chat.id, chat);
    }

    /// Forgets a chat and every username pointing at it.
    pub fn evict(&mut self, id: i64) {
        self.chats.remove(&id);
        self.usernames.retain(|_, v| *v != id);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PeerCacheError {
    /// The reason is in the message and is not a `source` too: `{:#}` would print it twice.
    #[error("peer cache {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("peer cache {path} does not parse ({detail}); it will be rebuilt from the dialogs")]
    Parse { path: PathBuf, detail: String },
}

/// Where peer caches live; the store can implement this to keep them in the database.
pub trait PeerCacheStore: Send + Sync {
    fn load(&self, account: &str) -> Result<PeerCache, PeerCacheError>;
    fn save(&self, account: &str, cache: &PeerCache) -> Result<(), PeerCacheError>;
}

/// `DIR/NAME.peers.json` next to the session file. Access hashes are not secrets (they only
/// work with the account's own auth key), so the file is plain JSON, but it lists the chats
/// the account writes to: written 0600 in a 0700 directory, like the session.
#[derive(Debug, Clone)]
pub struct JsonPeerCacheStore {
    dir: PathBuf,
}

impl JsonPeerCacheStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JsonPeerCacheStore { dir: dir.into() }
    }

    pub fn path(&self, account: &str) -> PathBuf {
        self.dir.join(format!("{account}.peers.json"))
    }
}

impl PeerCacheStore for JsonPeerCacheStore {
    fn load(&self, account: &str) -> Result<PeerCache, PeerCacheError> {
        let path = self.path(account);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PeerCacheError::Parse {
                path,
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PeerCache::default()),
            Err(source) => Err(PeerCacheError::Io {
                path,
                error: source,
            }),
        }
    }

    fn save(&self, account: &str, cache: &PeerCache) -> Result<(), PeerCacheError> {
        let path = self.path(account);
        let io = |source| PeerCacheError::Io {
            path: path.clone(),
            error: source,
        };
        // It sits in the sessions directory: created 0700 like it, the file 0600 (it names
        // every chat the account writes to).
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(&self.dir).map_err(io)?;
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(cache).map_err(|e| io(std::io::Error::other(e)))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(io)?;
        std::io::Write::write_all(&mut f, &json).map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// A store that keeps nothing (tests, or a store that does not persist peers).
#[derive(Debug, Clone, Default)]
pub struct NoPeerCacheStore;

impl PeerCacheStore for NoPeerCacheStore {
    fn load(&self, _account: &str) -> Result<PeerCache, PeerCacheError> {
        Ok(PeerCache::default())
    }

    fn save(&self, _account: &str, _cache: &PeerCache) -> Result<(), PeerCacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message and every `source()` below it, as `{:#}` of anyhow prints them.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut next = e.source();
        while let Some(s) = next {
            out.push_str(&format!(": {s}"));
            next = s.source();
        }
        out
    }

    #[test]
    fn peer_cache_and_session_file_errors_printed_their_reason_twice() {
        let dir = tempfile::tempdir().unwrap();
        // Directories where the files should be: reading them fails with "Is a directory".
        std::fs::create_dir(dir.path().join("acc1.peers.json")).unwrap();
        std::fs::create_dir(dir.path().join("acc1.session")).unwrap();
        let peers = JsonPeerCacheStore::new(dir.path())
            .load("acc1")
            .unwrap_err();
        let full = chain(&peers);
        assert!(full.starts_with("peer cache "), "{full}");
        assert_eq!(full.matches("Is a directory").count(), 1, "{full}");

        let store = super::super::session::SessionStore::new(dir.path(), None);
        let session = store.load("acc1").unwrap_err();
        let full = chain(&session);
        assert!(full.starts_with("session file "), "{full}");
        assert_eq!(full.matches("Is a directory").count(), 1, "{full}");
    }

    #[test]
    fn telethon_marked_ids_map_to_bot_api_chats() {
        let c = CachedChat::from_marked(-1_001_234_567_890, 77, Some("Market")).unwrap();
        assert_eq!(
            (c.id, c.access_hash, c.kind),
            (-1_001_234_567_890, 77, ChatKind::Supergroup)
        );
        assert_eq!(c.username.as_deref(), Some("market"));
        match c.input_peer() {
            tl::enums::InputPeer::Channel(p) => {
                assert_eq!((p.channel_id, p.access_hash), (1_234_567_890, 77));
            }
            other => panic!("{other:?}"),
        }
        let g = CachedChat::from_marked(-4001, 0, None).unwrap();
        assert_eq!(g.kind, ChatKind::Group);
        assert!(matches!(g.input_peer(), tl::enums::InputPeer::Chat(p) if p.chat_id == 4001));
        assert_eq!(CachedChat::from_marked(12345, 99, Some("user")), None);
        assert_eq!(CachedChat::from_marked(-1_001_234_567_890, 0, None), None);
    }
}
