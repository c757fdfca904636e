//! Session files: one per account under the sessions directory, holding grammers' session
//! data (DC addresses with their auth keys, known peers, update state) and who logged in.
//!
//! Files are created with mode 0600 and replaced atomically. With a passphrase
//! (`SESSION_PASSPHRASE`) the content is sealed with XChaCha20-Poly1305 under an Argon2id key;
//! a key-check value in the header tells a wrong passphrase apart from a damaged file.
//!
//! Layout: `SMBSESS\0` ‖ version (1) ‖ mode (0 plain, 1 sealed) ‖ then for plain the JSON,
//! for sealed: m_cost, t_cost, p_cost (u32 LE each) ‖ salt (16) ‖ check (8) ‖ nonce (24) ‖
//! ciphertext with tag. The whole header is the AEAD's associated data.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::{SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use grammers_session::types::{
    ChannelState, DcOption, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::{BoxFuture, Session, SessionData};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"SMBSESS\0";
const VERSION: u8 = 1;
const MODE_PLAIN: u8 = 0;
const MODE_SEALED: u8 = 1;
const SEALED_HEADER: usize = 8 + 1 + 1 + 12 + 16 + 8 + 24;
const TAG_LEN: usize = 16;

/// Errors reading or writing session files. Every message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "account name `{0}` is not usable as a session file name: use letters, digits, `_`, `-` or `.` (at most 64)"
    )]
    BadName(String),
    /// The reason is in the message and is not a `source` too: `{:#}` would print it twice.
    #[error("session file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the session file of account `{account}` ({path}) is damaged or truncated ({detail}); run `sendmessagebot accounts login {account}` to log in again"
    )]
    Corrupted {
        account: String,
        path: PathBuf,
        detail: String,
    },
    #[error(
        "cannot open the session of account `{account}`: SESSION_PASSPHRASE is wrong; set the passphrase the session was saved with, or run `sendmessagebot accounts login {account}` to start a new session"
    )]
    WrongPassphrase { account: String },
    #[error(
        "the session of account `{account}` is encrypted: set SESSION_PASSPHRASE (or run `sendmessagebot accounts login {account}` to start a new session)"
    )]
    PassphraseRequired { account: String },
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

/// Argon2id cost parameters, stored in each sealed file so they can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// OWASP's Argon2id minimum (19 MiB, 2 passes, 1 lane), argon2's own default.
    fn default() -> Self {
        KdfParams {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl KdfParams {
    /// Cheap parameters for tests only: never for real sessions.
    pub fn insecure_for_tests() -> Self {
        KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }
}

/// Who is logged in with a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: i64,
    pub bot: bool,
    pub first_name: String,
    pub username: Option<String>,
}

/// Everything a session file holds.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSession {
    pub home_dc: i32,
    pub dc_options: Vec<DcOption>,
    #[serde(default)]
    pub peers: Vec<PeerInfo>,
    #[serde(default)]
    pub updates_state: UpdatesState,
    /// Set once a login completed.
    #[serde(default)]
    pub identity: Option<Identity>,
}

impl fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dcs: Vec<String> = self
            .dc_options
            .iter()
            .map(|d| {
                format!(
                    "{}@{}{}",
                    d.id,
                    d.ipv4,
                    if d.auth_key.is_some() { "+key" } else { "" }
                )
            })
            .collect();
        f.debug_struct("StoredSession")
            .field("home_dc", &self.home_dc)
            .field("dc_options", &dcs)
            .field("peers", &self.peers.len())
            .field("identity", &self.identity)
            .finish()
    }
}

impl Default for StoredSession {
    /// A new session for real Telegram: the statically known DCs, no keys.
    fn default() -> Self {
        Self::from_data(&SessionData::default(), None)
    }
}

impl StoredSession {
    /// A session for a server of our own (the MTProto test server): every DC points at `addr`
    /// and `dc_id` is home with `auth_key`, so no key exchange happens.
    pub fn for_server(addr: SocketAddrV4, dc_id: i32, auth_key: [u8; 256]) -> Self {
        let dc_options = (1..=5)
            .map(|id| DcOption {
                id,
                ipv4: addr,
                ipv6: SocketAddrV6::new(addr.ip().to_ipv6_mapped(), addr.port(), 0, 0),
                auth_key: (id == dc_id).then_some(auth_key),
            })
            .collect();
        StoredSession {
            home_dc: dc_id,
            dc_options,
            peers: Vec::new(),
            updates_state: UpdatesState::default(),
            identity: None,
        }
    }

    /// A login made by another client (a Telethon session from the Python original): the
    /// statically known DCs, with `dc_id` reached at `addr` as home holding `auth_key`, and
    /// `identity` as logged in. `accounts check` asks Telegram who it really is.
    pub fn imported(
        dc_id: i32,
        addr: SocketAddrV4,
        auth_key: [u8; 256],
        identity: Identity,
    ) -> Self {
        let mut s = StoredSession {
            home_dc: dc_id,
            identity: Some(identity),
            ..Self::default()
        };
        match s.dc_options.iter_mut().find(|d| d.id == dc_id) {
            Some(d) => {
                d.ipv4 = addr;
                d.auth_key = Some(auth_key);
            }
            None => {
                s.dc_options.push(DcOption {
                    id: dc_id,
                    ipv4: addr,
                    ipv6: SocketAddrV6::new(addr.ip().to_ipv6_mapped(), addr.port(), 0, 0),
                    auth_key: Some(auth_key),
                });
                s.dc_options.sort_by_key(|d| d.id);
            }
        }
        s
    }

    fn from_data(data: &SessionData, identity: Option<Identity>) -> Self {
        let mut dc_options: Vec<DcOption> = data.dc_options.values().cloned().collect();
        dc_options.sort_by_key(|d| d.id);
        StoredSession {
            home_dc: data.home_dc,
            dc_options,
            peers: data.peer_infos.values().cloned().collect(),
            updates_state: data.updates_state.clone(),
            identity,
        }
    }

    fn to_data(&self) -> SessionData {
        SessionData {
            home_dc: self.home_dc,
            dc_options: self.dc_options.iter().map(|d| (d.id, d.clone())).collect(),
            peer_infos: self.peers.iter().map(|p| (p.id(), p.clone())).collect(),
            updates_state: self.updates_state.clone(),
        }
    }

    /// True when the home DC has an authorization key (a login may still be needed).
    pub fn has_home_key(&self) -> bool {
        self.dc_options
            .iter()
            .any(|d| d.id == self.home_dc && d.auth_key.is_some())
    }
}

/// The directory of session files, and the passphrase that seals them.
#[derive(Clone)]
pub struct SessionStore {
    dir: PathBuf,
    passphrase: Option<SecretString>,
    kdf: KdfParams,
    /// Accounts whose file is not named after them: account → file name (without
    /// `.session`), e.g. the seed's SESSION_NAME for a single account.
    file_names: std::collections::BTreeMap<String, String>,
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("dir", &self.dir)
            .field("encrypted", &self.passphrase.is_some())
            .finish()
    }
}

fn check_name(account: &str) -> Result<(), SessionError> {
    let ok = !account.is_empty()
        && account.len() <= 64
        && !account.starts_with('.')
        && account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(SessionError::BadName(account.to_owned()))
    }
}

impl SessionStore {
    /// Sessions under `dir`; sealed when a non-empty `passphrase` is given.
    pub fn new(dir: impl Into<PathBuf>, passphrase: Option<SecretString>) -> Self {
        let passphrase = passphrase.filter(|p| !p.expose_secret().is_empty());
        SessionStore {
            dir: dir.into(),
            passphrase,
            kdf: KdfParams::default(),
            file_names: std::collections::BTreeMap::new(),
        }
    }

    /// Keeps `account`'s session in `DIR/FILE.session` instead of `DIR/ACCOUNT.session`.
    /// Errors and listings still name the account.
    pub fn with_file_name(mut self, account: &str, file: &str) -> Result<Self, SessionError> {
        check_name(account)?;
        check_name(file)?;
        if file != account {
            self.file_names.insert(account.to_owned(), file.to_owned());
        }
        Ok(self)
    }

    pub fn with_kdf(mut self, kdf: KdfParams) -> Self {
        self.kdf = kdf;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_encrypted(&self) -> bool {
        self.passphrase.is_some()
    }

    /// `DIR/NAME.session` (or the file name given by [`SessionStore::with_file_name`]).
    pub fn path(&self, account: &str) -> Result<PathBuf, SessionError> {
        check_name(account)?;
        let file = self.file_names.get(account).map_or(account, String::as_str);
        Ok(self.dir.join(format!("{file}.session")))
    }

    /// Account names that have a session file, sorted (a renamed file under its account's
    /// name).
    pub fn accounts(&self) -> Result<Vec<String>, SessionError> {
        let io = |source| SessionError::Io {
            path: self.dir.clone(),
            error: source,
        };
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            if let Some(file) = name.to_str().and_then(|n| n.strip_suffix(".session"))
                && check_name(file).is_ok()
            {
                let account = self
                    .file_names
                    .iter()
                    .find(|(_, f)| f.as_str() == file)
                    .map_or(file, |(a, _)| a.as_str());
                names.push(account.to_owned());
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Reads a session; `Ok(None)` when the account has none yet.
    pub fn load(&self, account: &str) -> Result<Option<StoredSession>, SessionError> {
        let path = self.path(account)?;
        let bytes = match fs::read(&path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SessionError::Io {
                    path,
                    error: source,
                });
            }
        };
        let corrupted = |detail: &str| SessionError::Corrupted {
            account: account.to_owned(),
            path: path.clone(),
            detail: detail.to_owned(),
        };
        if bytes.starts_with(b"SQLite format 3") {
            return Err(corrupted(
                "a Telethon session from the Python version, which cannot be reused",
            ));
        }
        if bytes.len() < 10 || &bytes[..8] != MAGIC {
            return Err(corrupted("not a SendMessageBot session file"));
        }
        if bytes[8] != VERSION {
            return Err(corrupted(&format!("unknown format version {}", bytes[8])));
        }
        let json: Zeroizing<Vec<u8>> = match bytes[9] {
            MODE_PLAIN => Zeroizing::new(bytes[10..].to_vec()),
            MODE_SEALED => self.open_sealed(account, &bytes, &corrupted)?,
            m => return Err(corrupted(&format!("unknown mode {m}"))),
        };
        serde_json::from_slice(&json).map(Some).map_err(|e| {
            corrupted(&format!(
                "content does not parse: {:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    /// Whether `account`'s session file is sealed (encrypted with a passphrase): `Ok(None)`
    /// when it has no file. Reads the header only; a file that is not a session of this
    /// program is an error as in [`SessionStore::load`].
    pub fn is_sealed(&self, account: &str) -> Result<Option<bool>, SessionError> {
        let path = self.path(account)?;
        let bytes = match fs::read(&path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(SessionError::Io { path, error }),
        };
        if bytes.len() < 10 || &bytes[..8] != MAGIC {
            return Err(SessionError::Corrupted {
                account: account.to_owned(),
                path,
                detail: "not a SendMessageBot session file".to_owned(),
            });
        }
        Ok(Some(bytes[9] == MODE_SEALED))
    }

    /// Seals `account`'s plain session file with the store's passphrase (SECURITY.md: a
    /// passphrase set after the login leaves the file plain until it is written again).
    /// `Ok(true)` when it was sealed now, `Ok(false)` when it already was. The session is
    /// read first and written through [`SessionStore::save`] (a 0600 temporary file renamed
    /// over it), so a failure leaves the old file as it was. Errors: no passphrase set
    /// ([`SessionError::PassphraseRequired`]), no session ([`SessionError::Io`], not found),
    /// or what `load` and `save` give.
    pub fn seal(&self, account: &str) -> Result<bool, SessionError> {
        if self.passphrase.is_none() {
            return Err(SessionError::PassphraseRequired {
                account: account.to_owned(),
            });
        }
        match self.is_sealed(account)? {
            Some(true) => return Ok(false),
            Some(false) => {}
            None => {
                return Err(SessionError::Io {
                    path: self.path(account)?,
                    error: std::io::ErrorKind::NotFound.into(),
                });
            }
        }
        let session = self.load(account)?.ok_or_else(|| SessionError::Io {
            path: self.dir.join(account),
            error: std::io::ErrorKind::NotFound.into(),
        })?;
        self.save(account, &session)?;
        Ok(true)
    }

    fn open_sealed(
        &self,
        account: &str,
        bytes: &[u8],
        corrupted: &dyn Fn(&str) -> SessionError,
    ) -> Result<Zeroizing<Vec<u8>>, SessionError> {
        let Some(passphrase) = &self.passphrase else {
            return Err(SessionError::PassphraseRequired {
                account: account.to_owned(),
            });
        };
        if bytes.len() < SEALED_HEADER + TAG_LEN {
            return Err(corrupted("shorter than its header"));
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let kdf = KdfParams {
            m_cost_kib: u32_at(10),
            t_cost: u32_at(14),
            p_cost: u32_at(18),
        };
        let salt = &bytes[22..38];
        let check = &bytes[38..46];
        let nonce: [u8; 24] = bytes[46..70]
            .try_into()
            .map_err(|_| corrupted("bad nonce"))?;
        let key = derive_key(passphrase, salt, kdf)?;
        if key_check(&key) != check {
            return Err(SessionError::WrongPassphrase {
                account: account.to_owned(),
            });
        }
        let cipher = XChaCha20Poly1305::new(&Key::from(*key));
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &bytes[SEALED_HEADER..],
                    aad: &bytes[..SEALED_HEADER],
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| corrupted("authentication tag does not match"))
    }

    /// Writes a session atomically with mode 0600 (sealed when a passphrase is set).
    pub fn save(&self, account: &str, session: &StoredSession) -> Result<(), SessionError> {
        let path = self.path(account)?;
        let json = Zeroizing::new(serde_json::to_vec(session).map_err(|e| SessionError::Io {
            path: path.clone(),
            error: std::io::Error::other(e),
        })?);
        let mut out = Zeroizing::new(Vec::with_capacity(json.len() + SEALED_HEADER + TAG_LEN));
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        match &self.passphrase {
            None => {
                out.push(MODE_PLAIN);
                out.extend_from_slice(&json);
            }
            Some(passphrase) => {
                out.push(MODE_SEALED);
                for v in [self.kdf.m_cost_kib, self.kdf.t_cost, self.kdf.p_cost] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                let salt: [u8; 16] = rand::random();
                let nonce: [u8; 24] = rand::random();
                let key = derive_key(passphrase, &salt, self.kdf)?;
                out.extend_from_slice(&salt);
                out.extend_from_slice(&key_check(&key));
                out.extend_from_slice(&nonce);
                let cipher = XChaCha20Poly1305::new(&Key::from(*key));
                let sealed = cipher
                    .encrypt(
                        &XNonce::from(nonce),
                        Payload {
                            msg: &json,
                            aad: &out[..SEALED_HEADER],
                        },
                    )
                    .map_err(|_| SessionError::Kdf("encryption failed".to_owned()))?;
                out.extend_from_slice(&sealed);
            }
        }
        write_private(&self.dir, &path, &out)
    }

    /// Removes an account's session file; `false` when there was none.
    pub fn delete(&self, account: &str) -> Result<bool, SessionError> {
        let path = self.path(account)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(SessionError::Io {
                path,
                error: source,
            }),
        }
    }
}

fn derive_key(
    passphrase: &SecretString,
    salt: &[u8],
    kdf: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, SessionError> {
    let params = argon2::Params::new(kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, Some(32))
        .map_err(|e| SessionError::Kdf(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.expose_secret().as_bytes(), salt, &mut key[..])
        .map_err(|e| SessionError::Kdf(e.to_string()))?;
    Ok(key)
}

fn key_check(key: &[u8; 32]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(b"sendmessagebot session key check");
    h.update(key);
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// Writes `bytes` to a temporary file created 0600, syncs it and renames it over `path`.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), SessionError> {
    let io = |source| SessionError::Io {
        path: path.to_owned(),
        error: source,
    };
    if !dir.as_os_str().is_empty() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io)?;
    }
    let tmp = path.with_extension("session.tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)
}

#[derive(Debug, thiserror::Error)]
pub enum LiveSessionError {
    #[error("session lock poisoned")]
    Poisoned,
    #[error(transparent)]
    Store(#[from] SessionError),
}

/// grammers' view of one account's session: kept in memory, written through to the session
/// file whenever an auth key or the home DC changes (those must never be lost), and on
/// [`LiveSession::save`] for the rest.
pub struct LiveSession {
    account: String,
    store: SessionStore,
    // std's Mutex: grammers calls the sync getters on every request; never held across await.
    data: Mutex<SessionData>,
    identity: Mutex<Option<Identity>>,
    /// How many times a DC option changed (see [`LiveSession::dc_changes`]).
    dc_changes: AtomicU64,
}

impl LiveSession {
    pub fn new(account: &str, store: SessionStore, stored: StoredSession) -> Self {
        LiveSession {
            account: account.to_owned(),
            data: Mutex::new(stored.to_data()),
            identity: Mutex::new(stored.identity.clone()),
            store,
            dc_changes: AtomicU64::new(0),
        }
    }

    /// Goes up whenever grammers stores a different DC option: unchanged, the DC addresses
    /// are the ones last seen.
    pub(crate) fn dc_changes(&self) -> u64 {
        self.dc_changes.load(Ordering::SeqCst)
    }

    fn data(&self) -> Result<MutexGuard<'_, SessionData>, LiveSessionError> {
        self.data.lock().map_err(|_| LiveSessionError::Poisoned)
    }

    pub fn snapshot(&self) -> Result<StoredSession, LiveSessionError> {
        let identity = self
            .identity
            .lock()
            .map_err(|_| LiveSessionError::Poisoned)?
            .clone();
        Ok(StoredSession::from_data(&*self.data()?, identity))
    }

    pub fn identity(&self) -> Option<Identity> {
        self.identity.lock().ok().and_then(|i| i.clone())
    }

    pub fn set_identity(&self, identity: Option<Identity>) -> Result<(), LiveSessionError> {
        *self
            .identity
            .lock()
            .map_err(|_| LiveSessionError::Poisoned)? = identity;
        self.save()
    }

    pub fn home_dc(&self) -> i32 {
        self.data().map_or(0, |d| d.home_dc)
    }

    pub fn save(&self) -> Result<(), LiveSessionError> {
        let snap = self.snapshot()?;
        self.store.save(&self.account, &snap)?;
        Ok(())
    }
}

impl Session for LiveSession {
    type Error = LiveSessionError;

    fn home_dc_id(&self) -> Result<i32, Self::Error> {
        Ok(self.data()?.home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), Self::Error>> {
        Box::pin(async move {
            self.data()?.home_dc = dc_id;
            self.save()
        })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, Self::Error> {
        Ok(self.data()?.dc_options.get(&dc_id).cloned())
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), Self::Error>> {
        let dc_option = dc_option.clone();
        Box::pin(async move {
            let changed = {
                let mut data = self.data()?;
                let changed = data.dc_options.get(&dc_option.id) != Some(&dc_option);
                data.dc_options.insert(dc_option.id, dc_option);
                if changed {
                    // After the insert: whoever sees the new count sees the new option.
                    self.dc_changes.fetch_add(1, Ordering::SeqCst);
                }
                changed
            };
            if changed { self.save() } else { Ok(()) }
        })
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, Self::Error>> {
        Box::pin(async move { Ok(self.data()?.peer_infos.get(&peer).cloned()) })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), Self::Error>> {
        Box::pin(async move {
            self.data()?
                .peer_infos
                .entry(peer.id())
                .or_insert_with(|| peer.clone())
                .extend_info(&peer);
            Ok(())
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, Self::Error>> {
        Box::pin(async move { Ok(self.data()?.updates_state.clone()) })
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<(), Self::Error>> {
        Box::pin(async move {
            let mut data = self.data()?;
            let s = &mut data.updates_state;
            match update {
                UpdateState::All(all) => *s = all,
                UpdateState::Primary { pts, date, seq } => {
                    s.pts = pts;
                    s.date = date;
                    s.seq = seq;
                }
                UpdateState::Secondary { qts } => s.qts = qts,
                UpdateState::Channel { id, pts } => {
                    s.channels.retain(|c| c.id != id);
                    s.channels.push(ChannelState { id, pts });
                }
            }
            Ok(())
        })
    }
}
