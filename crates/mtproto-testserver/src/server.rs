//! The TCP side: accepting connections on loopback, the Full transport, decrypting client
//! packets and writing encrypted answers; and [`TestServer`], the handle tests hold.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use grammers_crypto::DequeBuffer;
use grammers_mtproto::transport::{self, Full, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::api::{self, Answer, DropConnection};
use crate::chaos::{Chaos, ChaosReport, Imposed};
use crate::crypto::{self, AuthKey};
use crate::fixture::{ChatSpec, FaultRule, Fixture, FixtureError};
use crate::wire::{self, Message};
use crate::world::{LedgerEntry, LedgerError, MessageState, World};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// A running test server. Dropping it stops the server.
pub struct TestServer {
    addr: SocketAddr,
    world: Arc<Mutex<World>>,
    /// Bumped to close every open connection.
    kill: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
        self.kill.send_modify(|v| *v += 1);
    }
}

impl TestServer {
    /// Starts a server on `127.0.0.1:0`.
    pub async fn start(fixture: Fixture) -> Result<Self, ServerError> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), fixture).await
    }

    pub async fn bind(addr: SocketAddr, fixture: Fixture) -> Result<Self, ServerError> {
        let world = Arc::new(Mutex::new(World::new(fixture)?));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr,
                error: source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr,
            error: source,
        })?;
        let (kill, _) = watch::channel(0u64);
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&world), kill.clone()));
        info!(%addr, "MTProto test server listening");
        Ok(TestServer {
            addr,
            world,
            kill,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock is a bug in the server; keep serving the data anyway.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The authorization key bound to `user` (pre-seed it in the client's session for DC 2).
    pub fn auth_key(&self, user: i64) -> Option<[u8; 256]> {
        self.world().key_for_user(user)
    }

    /// The access hash of a chat by its bot-API id (`-100…`), as a client that met the chat
    /// has it cached (a Telethon session's `entities` table, say).
    pub fn access_hash(&self, chat: i64) -> Option<i64> {
        self.world().chats.get(&chat).map(|c| c.access_hash)
    }

    /// A fresh key bound to nobody: a client starts with it and logs in.
    pub fn new_auth_key(&self) -> [u8; 256] {
        self.world().new_key()
    }

    /// The user a key is bound to now (after a login, say).
    pub fn user_of_key(&self, key: &[u8; 256]) -> Option<i64> {
        self.world().user_of_key(&AuthKey::from_bytes(*key).id())
    }

    /// Unbinds every key of `user`: its next request gets AUTH_KEY_UNREGISTERED.
    pub fn revoke(&self, user: i64) {
        self.world().revoke(user);
    }

    /// Every accepted message, in order.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.world().ledger.clone()
    }

    /// How many messages were accepted (without copying the ledger).
    pub fn ledger_len(&self) -> usize {
        self.world().ledger.len()
    }

    /// Message `id` of `chat` (bot-API id) as the chat shows it now: text after edits,
    /// deleted (by whom), pinned, album. `None`: never sent.
    pub fn message(&self, chat: i64, id: i32) -> Option<MessageState> {
        self.world().posts.get(&(chat, id)).cloned()
    }

    /// Every message sent into `chat`, deleted ones included, in id order.
    pub fn messages(&self, chat: i64) -> Vec<MessageState> {
        self.world()
            .posts
            .range((chat, i32::MIN)..=(chat, i32::MAX))
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// The ids of `user`'s live (not deleted) messages in `chat`: "exactly one live post of
    /// ours per chat" is `live_posts(chat, us).len() == 1` (an album counts once per item).
    pub fn live_posts(&self, chat: i64, user: i64) -> Vec<i32> {
        self.messages(chat)
            .into_iter()
            .filter(|m| m.is_live() && m.account == user)
            .map(|m| m.id)
            .collect()
    }

    /// An admin of `chat` deletes messages `ids` there (as channels.deleteMessages from the
    /// admin's own client would): how many were live. `Err` when `admin` is not an admin of
    /// the chat (MESSAGE_DELETE_FORBIDDEN for someone else's message) or there is no chat.
    pub fn delete_as_admin(&self, chat: i64, admin: i64, ids: &[i32]) -> Result<i32, String> {
        let mut w = self.world();
        let is_admin = w
            .chats
            .get(&chat)
            .ok_or_else(|| format!("no chat {chat}"))?
            .spec
            .admins
            .contains(&admin);
        if !is_admin {
            return Err(format!("user {admin} is not an admin of chat {chat}"));
        }
        w.delete_messages(admin, chat, ids)
    }

    /// Sets the edit window of non-admins in groups, in seconds (0: every edit is
    /// MESSAGE_EDIT_TIME_EXPIRED).
    pub fn set_edit_window(&self, seconds: u32) {
        self.world().edit_window = seconds;
    }

    /// Sends refused as RANDOM_ID_DUPLICATE.
    pub fn duplicates(&self) -> u64 {
        self.world().duplicates
    }

    /// Files uploaded so far: distinct file ids of upload.saveFilePart / saveBigFilePart
    /// (a client that re-uses a stored photo or document uploads nothing).
    pub fn uploaded_files(&self) -> usize {
        self.world().uploads.len()
    }

    /// Makes every stored photo's and document's file_reference stale, as Telegram's do
    /// after a while: a send naming one with its old reference is refused with
    /// FILE_REFERENCE_EXPIRED (the media itself stays; its new reference is in the messages
    /// and uploads answered from now on).
    pub fn expire_file_references(&self) {
        for m in self.world().media.values_mut() {
            m.file_reference.push(0x5a);
        }
    }

    /// Sets the reach of message `id` in `chat` (bot-API id) that messages.getMessagesViews
    /// and messages.getMessagesReactions answer from now on (issue 17).
    pub fn set_reach(&self, chat: i64, id: i32, figures: crate::reach::PostFigures) {
        self.world().reach.insert((chat, id), figures);
    }

    /// How many times a TL method (`messages.sendMessage`, `contacts.resolveUsername`, …) was
    /// called, counting refused calls.
    pub fn calls(&self, method: &str) -> u64 {
        self.world().calls.get(method).copied().unwrap_or(0)
    }

    /// How many sends into `chat` (bot-API id) were refused with SLOWMODE_WAIT_X.
    pub fn slowmode_waits(&self, chat: i64) -> u64 {
        self.world().slowmode_waits.get(&chat).copied().unwrap_or(0)
    }

    /// Opens or closes topic `topic` of forum `chat`; false when there is no such topic.
    pub fn set_topic_closed(&self, chat: i64, topic: i32, closed: bool) -> bool {
        self.world().set_topic_closed(chat, topic, closed)
    }

    /// Upgrades basic group `group` to supergroup `to` (new `-100…` id; without members of its
    /// own it takes the group's), as messages.migrateChat does: from now on the group is
    /// deactivated with `migrated_to`, and a send to it answers PEER_ID_INVALID.
    pub fn migrate_group(&self, group: i64, to: ChatSpec) -> Result<(), FixtureError> {
        self.world().migrate(group, to)
    }

    pub fn add_fault(&self, rule: FaultRule) {
        self.world().add_fault(rule);
    }

    pub fn clear_faults(&self) {
        self.world().clear_faults();
    }

    pub fn set_latency(&self, latency: Duration) {
        self.world().latency = latency;
    }

    /// The code every `auth.sendCode` "sends".
    pub fn login_code(&self) -> String {
        self.world().login_code.clone()
    }

    /// Appends accepted messages to `path` as JSON lines from now on (those so far first).
    pub fn write_ledger_to(&self, path: &Path) -> Result<(), LedgerError> {
        self.world().set_ledger_file(path)
    }

    /// Replaces the chaos plan (`None`: no chaos from now on; told waits are kept).
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.world().chaos.set_plan(chaos);
    }

    /// What chaos did so far, and every send that came inside a wait the server had told.
    pub fn chaos_report(&self) -> ChaosReport {
        self.world().chaos.report.clone()
    }

    /// Sets the epoch violations are stamped with (a soak bumps it at each client restart,
    /// to tell a wait ignored by the process that heard it from one lost with a kill).
    pub fn set_epoch(&self, epoch: u64) {
        self.world().chaos.epoch = epoch;
    }

    /// Closes every open connection now, as a network failure would.
    pub fn drop_connections(&self) {
        self.kill.send_modify(|v| *v += 1);
    }
}

async fn accept_loop(listener: TcpListener, world: Arc<Mutex<World>>, kill: watch::Sender<u64>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                debug!(%peer, "connection");
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&world), kill.subscribe()));
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One server message for the connection's writer.
struct Outgoing {
    key: Arc<AuthKey>,
    session_id: i64,
    body: Vec<u8>,
    /// The wait this answer tells; recorded once it is written.
    imposes: Option<Imposed>,
}

struct Session {
    key: Arc<AuthKey>,
    session_id: i64,
}

async fn serve(stream: TcpStream, world: Arc<Mutex<World>>, mut kill: watch::Receiver<u64>) {
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    let mut write_task = tokio::spawn(write_loop(writer, rx, Arc::clone(&world)));
    let mut transport = Full::new();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut session: Option<Session> = None;
    kill.borrow_and_update();

    'conn: loop {
        tokio::select! {
            n = reader.read(&mut chunk) => {
                let n = match n {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
            }
            _ = kill.changed() => break 'conn,
            _ = &mut write_task => break 'conn,
        }
        loop {
            let off = match transport.unpack(&mut buf[..]) {
                Ok(off) => off,
                Err(transport::Error::MissingBytes) => break,
                Err(e) => {
                    warn!(error = %e, "bad transport frame; closing");
                    break 'conn;
                }
            };
            let packet = buf[off.data_range.clone()].to_vec();
            buf.drain(..off.next_offset);
            match on_packet(&world, &mut session, &packet, &tx) {
                Ok(()) => {}
                Err(reason) => {
                    debug!(reason, "closing connection");
                    break 'conn;
                }
            }
        }
    }
    write_task.abort();
}

/// Handles one decrypted client packet; `Err` closes the connection.
fn on_packet(
    world: &Arc<Mutex<World>>,
    session: &mut Option<Session>,
    packet: &[u8],
    tx: &mpsc::UnboundedSender<Outgoing>,
) -> Result<(), &'static str> {
    let key_id: [u8; 8] = packet
        .get(0..8)
        .and_then(|s| s.try_into().ok())
        .ok_or("short packet")?;
    if key_id == [0; 8] {
        // A plain message: the client wants a key exchange, which needs Telegram's RSA key.
        // Closing (rather than answering -404) keeps a mis-seeded client failing visibly.
        warn!("client started a key exchange; pre-seed its session with a key from the server");
        return Err("key exchange not supported");
    }
    let key = {
        let w = world.lock().unwrap_or_else(|e| e.into_inner());
        w.keys.get(&key_id).map(|k| k.key.clone())
    };
    let Some(key) = key else {
        warn!(key_id = %crate::world::to_hex(&key_id), "unknown auth key");
        return Err("unknown auth key");
    };
    let plain = crypto::decrypt_from_client(&key, packet).map_err(|_| "undecryptable packet")?;
    let pt = wire::parse_plaintext(&plain).map_err(|_| "malformed plaintext")?;
    // Echo the client's session id: grammers panics on a mismatch.
    let session = session.get_or_insert(Session {
        key: Arc::new(key),
        session_id: pt.session_id,
    });
    let mut messages = Vec::new();
    wire::flatten(pt.message, &mut messages).map_err(|_| "malformed message")?;
    for m in messages {
        let handled = {
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            api::handle(&mut w, key_id, m.msg_id, &m.body)
        };
        if handled.drop == DropConnection::Before {
            return Err("fault plan: drop");
        }
        let out = match handled.answer {
            Answer::Result(bytes) => Some(wire::rpc_result(m.msg_id, &bytes)),
            Answer::Error(code, name) => Some(wire::rpc_error(m.msg_id, code, &name)),
            Answer::Raw(bytes) => Some(bytes),
            Answer::Nothing => None,
        };
        if handled.drop == DropConnection::After {
            return Err("fault plan: drop after carrying out");
        }
        if let Some(body) = out {
            let msg = Outgoing {
                key: Arc::clone(&session.key),
                session_id: session.session_id,
                body,
                imposes: handled.imposes,
            };
            if handled.delay.is_zero() {
                let _ = tx.send(msg);
            } else {
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(handled.delay).await;
                    let _ = tx.send(msg);
                });
            }
        }
    }
    Ok(())
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    world: Arc<Mutex<World>>,
) {
    let mut transport = Full::new();
    let mut last_msg_id: i64 = 0;
    let mut seq: i32 = 0;
    while let Some(Outgoing {
        key,
        session_id,
        body,
        imposes,
    }) = rx.recv().await
    {
        let now = jiff::Timestamp::now();
        let mut msg_id =
            (now.as_second() << 32) | (i64::from(now.subsec_nanosecond()) << 2 & 0xffff_fffc) | 1;
        if msg_id <= last_msg_id {
            msg_id = last_msg_id + 4;
        }
        last_msg_id = msg_id;
        // Every answer is content-related: odd seqno.
        seq += 1;
        let seq_no = seq * 2 - 1;
        // Salt 0, as the client started with; never new_session_created (see the crate docs).
        let plain = wire::server_plaintext(
            0,
            session_id,
            &Message {
                msg_id,
                seq_no,
                body,
            },
        );
        let packet = crypto::encrypt_for_client(&key, plain);
        let mut framed = DequeBuffer::with_capacity(packet.len() + 12, 8);
        framed.extend(packet);
        transport.pack(&mut framed);
        if writer.write_all(framed.as_ref()).await.is_err() {
            break;
        }
        if let Some(wait) = imposes {
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            w.chaos.told(wait);
        }
    }
    let _ = writer.shutdown().await;
}
