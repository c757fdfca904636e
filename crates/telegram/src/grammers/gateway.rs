//! [`GrammersGateway`]: the engine's `Gateway` on real Telegram, one grammers client per account.
//!
//! A send is `messages.sendMessage` / `messages.sendMedia` built here, so the `random_id`
//! Telegram receives is the one the journal wrote; RANDOM_ID_DUPLICATE therefore means "already
//! sent" and comes back as `Ok` without a message id.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use grammers_tl_types as tl;
use smb_domain::{Chat, Entity, EntityKind, FormatError, SendError, TargetRef};
use smb_engine::{
    AlbumRequest, ChatInfo, EditRequest, Edited, FollowUps, Gateway, PinChange, PostState,
    SendRequest, SentAlbum, SentMessage, TextFormat, Uploads,
};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use super::client::{AccountClient, ApiSettings, ProxyUrl};
use super::peers::{CachedChat, PeerCache, PeerCacheStore, channel_chat_id};
use super::session::{SessionError, SessionStore};

mod inspect;
mod posts;
mod reach;
mod uploads;

/// Dialog pages scanned at most (100 dialogs each).
const MAX_DIALOG_PAGES: usize = 50;

/// One account the gateway sends from.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub name: String,
    pub proxy: Option<ProxyUrl>,
}

impl AccountConfig {
    pub fn new(name: &str) -> Self {
        AccountConfig {
            name: name.to_owned(),
            proxy: None,
        }
    }
}

/// Why an account cannot send; the gateway starts without it (see
/// [`GrammersGateway::unavailable`]).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("account `{0}` has no session: run `sendmessagebot accounts login {0}`")]
    NotLoggedIn(String),
}

impl GatewayError {
    /// The account's stop this error causes (its text is what stats and notifications show).
    pub fn stop(&self, account: &str) -> smb_domain::AccountStop {
        use smb_domain::SessionProblem;
        let problem = match self {
            GatewayError::NotLoggedIn(_) => SessionProblem::Missing,
            GatewayError::Session(SessionError::WrongPassphrase { .. }) => {
                SessionProblem::WrongPassphrase
            }
            GatewayError::Session(SessionError::PassphraseRequired { .. }) => {
                SessionProblem::PassphraseRequired
            }
            GatewayError::Session(_) => SessionProblem::Damaged,
        };
        smb_domain::AccountStop::Session {
            problem,
            account: account.to_owned(),
        }
    }

    /// A short reason for the account's stopped state (stats, notifications).
    pub fn reason(&self, account: &str) -> String {
        self.stop(account).to_string()
    }
}

/// The send error for an account the gateway could not open: AUTH_KEY_UNREGISTERED is
/// what Telegram answers a session it does not know, and it stops just that account.
const NO_SESSION: &str = "AUTH_KEY_UNREGISTERED";

struct Account {
    client: AccountClient,
    // tokio's Mutex: held across the dialogs scan and resolveUsername calls so two sends to
    // an unknown chat do not both scan.
    peers: Mutex<PeerState>,
    /// Media uploaded by this account, by the SHA-256 of the file's bytes, re-used by
    /// reference afterwards (also kept in the store's uploads table: [`uploads`]).
    media: Mutex<HashMap<String, tl::enums::InputMedia>>,
}

struct PeerState {
    cache: PeerCache,
    /// Scanned in this process already: a miss after that is a real miss.
    scanned: bool,
}

/// The gateway on grammers; construct with [`GrammersGateway::connect`].
pub struct GrammersGateway {
    accounts: HashMap<String, Arc<Account>>,
    /// Accounts whose session could not be opened, with why.
    unavailable: Vec<(String, GatewayError)>,
    peer_store: Arc<dyn PeerCacheStore>,
    /// The store's uploads table (issue 15), when given ([`GrammersGateway::with_uploads`]):
    /// uploads survive a restart.
    uploads: Option<Arc<dyn Uploads>>,
}

impl std::fmt::Debug for GrammersGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.accounts.keys().collect();
        names.sort();
        let broken: Vec<_> = self.unavailable.iter().map(|(a, _)| a).collect();
        f.debug_struct("GrammersGateway")
            .field("accounts", &names)
            .field("unavailable", &broken)
            .finish()
    }
}

fn rpc(name: &str) -> SendError {
    SendError::rpc(name, None)
}

impl GrammersGateway {
    /// Opens every account's session file and loads its peer cache. An account whose
    /// session is missing, unfinished or unreadable does not stop the others: it is listed by
    /// [`GrammersGateway::unavailable`] and its sends fail as AUTH_KEY_UNREGISTERED (an
    /// account-dead error: the engine stops that account only). Connections are made on the
    /// first send. Call it inside a tokio runtime: each account's pool is a spawned task.
    pub fn connect(
        api: &ApiSettings,
        store: &SessionStore,
        accounts: &[AccountConfig],
        peer_store: Arc<dyn PeerCacheStore>,
    ) -> Self {
        let mut map = HashMap::new();
        let mut unavailable = Vec::new();
        for a in accounts {
            let stored = match store.load(&a.name) {
                Ok(Some(s)) if s.identity.is_some() => s,
                Ok(_) => {
                    warn!(account = %a.name, "no session; run `sendmessagebot accounts login {}`", a.name);
                    unavailable.push((a.name.clone(), GatewayError::NotLoggedIn(a.name.clone())));
                    continue;
                }
                Err(e) => {
                    warn!(account = %a.name, error = %e, "session not usable");
                    unavailable.push((a.name.clone(), GatewayError::Session(e)));
                    continue;
                }
            };
            let client = AccountClient::with_session(api, store, &a.name, stored, a.proxy.as_ref());
            let cache = match peer_store.load(&a.name) {
                Ok(c) => c,
                Err(e) => {
                    warn!(account = %a.name, error = %e, "peer cache unreadable; it will be rebuilt");
                    PeerCache::default()
                }
            };
            map.insert(
                a.name.clone(),
                Arc::new(Account {
                    client,
                    peers: Mutex::new(PeerState {
                        cache,
                        scanned: false,
                    }),
                    media: Mutex::new(HashMap::new()),
                }),
            );
        }
        GrammersGateway {
            accounts: map,
            unavailable,
            peer_store,
            uploads: None,
        }
    }

    /// Keeps what each account uploaded in `uploads` (the store's uploads table, issue 15):
    /// a restart names those files instead of uploading them again.
    pub fn with_uploads(mut self, uploads: Arc<dyn Uploads>) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// Accounts that could not be opened, with why (each error names the fix).
    pub fn unavailable(&self) -> &[(String, GatewayError)] {
        &self.unavailable
    }

    /// Writes every account's session file (call at shutdown).
    pub fn save_sessions(&self) -> Result<(), SessionError> {
        for a in self.accounts.values() {
            a.client.save()?;
        }
        Ok(())
    }

    fn account(&self, name: &str) -> Result<&Arc<Account>, SendError> {
        if let Some(a) = self.accounts.get(name) {
            return Ok(a);
        }
        if self.unavailable.iter().any(|(a, _)| a == name) {
            return Err(rpc(NO_SESSION));
        }
        warn!(account = %name, "send for an account the gateway was not given");
        Err(rpc("ACCOUNT_NOT_CONFIGURED"))
    }

    fn persist(&self, account: &str, cache: &PeerCache) {
        if let Err(e) = self.peer_store.save(account, cache) {
            warn!(account, error = %e, "cannot save the peer cache");
        }
    }

    /// Reads the account's dialogs into its peer cache.
    async fn scan_dialogs(
        &self,
        account: &str,
        a: &Account,
        state: &mut PeerState,
    ) -> Result<(), SendError> {
        let mut offset_date = 0;
        let mut offset_id = 0;
        let mut offset_peer = tl::enums::InputPeer::Empty;
        let mut found = 0usize;
        for _ in 0..MAX_DIALOG_PAGES {
            let limit = 100;
            let page = a
                .client
                .invoke(&tl::functions::messages::GetDialogs {
                    exclude_pinned: false,
                    folder_id: None,
                    offset_date,
                    offset_id,
                    offset_peer: offset_peer.clone(),
                    limit,
                    hash: 0,
                })
                .await?;
            let (dialogs, messages, chats, complete) = match page {
                tl::enums::messages::Dialogs::Dialogs(d) => (d.dialogs, d.messages, d.chats, true),
                tl::enums::messages::Dialogs::Slice(d) => {
                    let complete = d.dialogs.len() < limit as usize;
                    (d.dialogs, d.messages, d.chats, complete)
                }
                tl::enums::messages::Dialogs::NotModified(_) => break,
            };
            for chat in &chats {
                if let Some(c) = CachedChat::from_tl(chat) {
                    state.cache.insert(c);
                    found += 1;
                }
            }
            let last = dialogs.iter().rev().find_map(|d| match d {
                tl::enums::Dialog::Dialog(d) => Some((d.peer.clone(), d.top_message)),
                _ => None,
            });
            let Some((peer, top)) = last else { break };
            if complete {
                break;
            }
            offset_id = top;
            offset_date = messages
                .iter()
                .find_map(|m| match m {
                    tl::enums::Message::Message(m) if m.id == top && m.peer_id == peer => {
                        Some(m.date)
                    }
                    tl::enums::Message::Service(m) if m.id == top && m.peer_id == peer => {
                        Some(m.date)
                    }
                    _ => None,
                })
                .unwrap_or(0);
            offset_peer = match &peer {
                tl::enums::Peer::Chat(c) => tl::types::InputPeerChat { chat_id: c.chat_id }.into(),
                tl::enums::Peer::Channel(c) => state
                    .cache
                    .chats
                    .get(&channel_chat_id(c.channel_id))
                    .map_or(tl::enums::InputPeer::Empty, CachedChat::input_peer),
                tl::enums::Peer::User(_) => tl::enums::InputPeer::Empty,
            };
        }
        state.scanned = true;
        state.cache.dialogs_scanned_at = Some(jiff::Timestamp::now().to_string());
        info!(account, chats = found, "dialogs scanned");
        self.persist(account, &state.cache);
        Ok(())
    }

    /// The InputPeer for a target, from the cache, the dialogs or (for @names) one
    /// resolveUsername call.
    async fn peer(
        &self,
        account: &str,
        a: &Account,
        target: &TargetRef,
    ) -> Result<tl::enums::InputPeer, SendError> {
        match &target.chat {
            Chat::Id(id) if target.is_basic_group() => {
                let state = a.peers.lock().await;
                if let Some(c) = state
                    .cache
                    .migrated
                    .get(id)
                    .and_then(|new| state.cache.chats.get(new))
                {
                    return Ok(c.input_peer());
                }
                Ok(tl::types::InputPeerChat { chat_id: -id }.into())
            }
            Chat::Id(id) => {
                let mut state = a.peers.lock().await;
                if let Some(c) = state.cache.chats.get(id) {
                    return Ok(c.input_peer());
                }
                if !state.scanned {
                    self.scan_dialogs(account, a, &mut state).await?;
                }
                match state.cache.chats.get(id) {
                    Some(c) => Ok(c.input_peer()),
                    None => {
                        warn!(account, target = %target, "chat not among the account's dialogs");
                        Err(rpc("PEER_ID_INVALID"))
                    }
                }
            }
            Chat::Username(name) => {
                let mut state = a.peers.lock().await;
                if let Some(c) = state
                    .cache
                    .usernames
                    .get(&**name)
                    .and_then(|id| state.cache.chats.get(id))
                {
                    return Ok(c.input_peer());
                }
                let resolved = a
                    .client
                    .invoke(&tl::functions::contacts::ResolveUsername {
                        username: name.to_string(),
                        referer: None,
                    })
                    .await?;
                let tl::enums::contacts::ResolvedPeer::Peer(r) = resolved;
                let chat = match &r.peer {
                    tl::enums::Peer::User(_) => {
                        warn!(account, target = %target, "this username is a user, not a chat");
                        return Err(rpc("CHAT_ID_INVALID"));
                    }
                    tl::enums::Peer::Chat(p) => r.chats.iter().find(|c| c.id() == p.chat_id),
                    tl::enums::Peer::Channel(p) => r.chats.iter().find(|c| c.id() == p.channel_id),
                };
                let Some(chat) = chat.and_then(CachedChat::from_tl) else {
                    warn!(account, target = %target, "the account is not a member of this chat");
                    return Err(rpc("USER_NOT_PARTICIPANT"));
                };
                let peer = chat.input_peer();
                state.cache.usernames.insert(name.to_string(), chat.id);
                state.cache.insert(chat);
                self.persist(account, &state.cache);
                Ok(peer)
            }
        }
    }

    async fn forget(&self, account: &str, a: &Account, target: &TargetRef) {
        let mut state = a.peers.lock().await;
        match &target.chat {
            Chat::Id(id) => state.cache.evict(*id),
            Chat::Username(name) => {
                if let Some(id) = state.cache.usernames.remove(&**name) {
                    state.cache.evict(id);
                }
            }
        }
        self.persist(account, &state.cache);
    }
}

/// The reference to media Telegram stored (a sent message's, or messages.uploadMedia's
/// answer) as a send or an album item takes it: no upload again.
fn reference_to(media: &tl::enums::MessageMedia) -> Option<tl::enums::InputMedia> {
    match media {
        tl::enums::MessageMedia::Photo(tl::types::MessageMediaPhoto {
            photo: Some(tl::enums::Photo::Photo(p)),
            ..
        }) => Some(tl::enums::InputMedia::Photo(tl::types::InputMediaPhoto {
            spoiler: false,
            live_photo: false,
            id: tl::types::InputPhoto {
                id: p.id,
                access_hash: p.access_hash,
                file_reference: p.file_reference.clone(),
            }
            .into(),
            ttl_seconds: None,
            video: None,
        })),
        tl::enums::MessageMedia::Document(tl::types::MessageMediaDocument {
            document: Some(tl::enums::Document::Document(d)),
            ..
        }) => Some(tl::enums::InputMedia::Document(
            tl::types::InputMediaDocument {
                spoiler: false,
                id: tl::types::InputDocument {
                    id: d.id,
                    access_hash: d.access_hash,
                    file_reference: d.file_reference.clone(),
                }
                .into(),
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
                query: None,
            },
        )),
        _ => None,
    }
}

fn message_media(m: &tl::enums::Message) -> Option<&tl::enums::MessageMedia> {
    match m {
        tl::enums::Message::Message(m) => m.media.as_ref(),
        _ => None,
    }
}

fn mime_for(ext: Option<&str>) -> &'static str {
    match ext {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("gif") => "image/gif",
        Some("mp4") => "video/mp4",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The text Telegram gets and its entities, per the message set's format: the one formatter
/// (`smb_domain::format_text`) that validation and the sandbox use, its entities turned into
/// MTProto's. `Err` is markup that cannot be sent.
pub fn format_text(
    text: &str,
    format: TextFormat,
) -> Result<(String, Option<Vec<tl::enums::MessageEntity>>), FormatError> {
    let f = smb_domain::format_text(text, format)?;
    let entities: Vec<tl::enums::MessageEntity> = f.entities.iter().map(tl_entity).collect();
    Ok((f.text, (!entities.is_empty()).then_some(entities)))
}

/// One of our entities as MTProto's; offsets and lengths are UTF-16 units on both sides
/// (Telegram's limit of 4096 units keeps them far inside i32).
fn tl_entity(e: &Entity) -> tl::enums::MessageEntity {
    let offset = i32::try_from(e.offset).unwrap_or(i32::MAX);
    let length = i32::try_from(e.length).unwrap_or(i32::MAX);
    use tl::enums::MessageEntity as M;
    use tl::types as t;
    match &e.kind {
        EntityKind::Bold => M::Bold(t::MessageEntityBold { offset, length }),
        EntityKind::Italic => M::Italic(t::MessageEntityItalic { offset, length }),
        EntityKind::Underline => M::Underline(t::MessageEntityUnderline { offset, length }),
        EntityKind::Strike => M::Strike(t::MessageEntityStrike { offset, length }),
        EntityKind::Spoiler => M::Spoiler(t::MessageEntitySpoiler { offset, length }),
        EntityKind::Code => M::Code(t::MessageEntityCode { offset, length }),
        EntityKind::Pre { language } => M::Pre(t::MessageEntityPre {
            offset,
            length,
            language: language.clone().unwrap_or_default(),
        }),
        EntityKind::TextUrl { url } => M::TextUrl(t::MessageEntityTextUrl {
            offset,
            length,
            url: url.clone(),
        }),
        // For sending, Telegram wants the input form of a mention (messageEntityMentionName
        // is what it sends back). We know the id only, not an access hash.
        EntityKind::MentionName { user_id } => {
            M::InputMessageEntityMentionName(t::InputMessageEntityMentionName {
                offset,
                length,
                user_id: t::InputUser {
                    user_id: *user_id,
                    access_hash: 0,
                }
                .into(),
            })
        }
        EntityKind::CustomEmoji { document_id } => M::CustomEmoji(t::MessageEntityCustomEmoji {
            offset,
            length,
            document_id: *document_id,
        }),
        EntityKind::Blockquote { collapsed } => M::Blockquote(t::MessageEntityBlockquote {
            collapsed: *collapsed,
            offset,
            length,
        }),
    }
}

/// Where a send goes inside its chat: a forum topic is addressed by replying to the topic's
/// first message with `top_msg_id` set to it (messages.sendMessage/sendMedia `reply_to`).
fn topic_reply(target: &TargetRef) -> Option<tl::enums::InputReplyTo> {
    let topic = target.topic?;
    Some(
        tl::types::InputReplyToMessage {
            reply_to_msg_id: topic,
            top_msg_id: Some(topic),
            reply_to_peer_id: None,
            quote_text: None,
            quote_entities: None,
            quote_offset: None,
            monoforum_peer_id: None,
            todo_item_id: None,
            poll_option: None,
        }
        .into(),
    )
}

/// Telegram's id for the message a send created.
fn sent_id(updates: &tl::enums::Updates, random_id: i64) -> Option<i64> {
    match updates {
        tl::enums::Updates::UpdateShortSentMessage(u) => Some(i64::from(u.id)),
        tl::enums::Updates::Updates(tl::types::Updates { updates, .. })
        | tl::enums::Updates::Combined(tl::types::UpdatesCombined { updates, .. }) => {
            updates.iter().find_map(|u| match u {
                tl::enums::Update::MessageId(m) if m.random_id == random_id => {
                    Some(i64::from(m.id))
                }
                _ => None,
            })
        }
        _ => None,
    }
}

#[async_trait]
impl Gateway for GrammersGateway {
    /// A send that failed because the account's MTProto proxy refused its secret is
    /// PROXY_SECRET_REFUSED (the account stops) rather than a network error retried for
    /// minutes; the proxy's own words ("… check PROXY_SECRET") are logged with it.
    async fn send(&self, req: SendRequest<'_>) -> Result<SentMessage, SendError> {
        let (account, target) = (req.account, req.target);
        match self.send_once(req).await {
            Err(SendError::Transient(detail)) => {
                match self
                    .account(account)
                    .ok()
                    .and_then(|a| a.client.secret_refused())
                {
                    Some(cause) => {
                        warn!(account, target = %target, "{cause}; the account stops ({}) until the proxy settings are fixed and the daemon restarted", smb_domain::PROXY_SECRET_REFUSED);
                        Err(rpc(smb_domain::PROXY_SECRET_REFUSED))
                    }
                    None => Err(SendError::Transient(detail)),
                }
            }
            other => other,
        }
    }

    async fn refresh_peer(&self, account: &str, target: &TargetRef) -> Result<(), SendError> {
        self.refresh_peer_once(account, target).await
    }

    async fn inspect(&self, account: &str, target: &TargetRef) -> Result<ChatInfo, SendError> {
        self.inspect_target(account, target).await
    }

    /// From the peer cache (`PeerCache.migrated`, kept with the session): the supergroup
    /// `follow_migration` found for this basic group.
    async fn migrated_to(&self, account: &str, target: &TargetRef) -> Option<i64> {
        let Chat::Id(old) = target.chat else {
            return None;
        };
        if !target.is_basic_group() {
            return None;
        }
        let a = self.account(account).ok()?;
        let state = a.peers.lock().await;
        state.cache.migrated.get(&old).copied()
    }
}

/// The follow-ups as raw TL calls (`gateway/posts.rs`).
#[async_trait]
impl FollowUps for GrammersGateway {
    async fn edit(&self, request: EditRequest<'_>) -> Result<Edited, SendError> {
        self.edit_post(request).await
    }

    async fn delete(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<u32, SendError> {
        self.delete_posts(account, target, message_ids).await
    }

    async fn pin(
        &self,
        account: &str,
        target: &TargetRef,
        message_id: i64,
        silent: bool,
    ) -> Result<PinChange, SendError> {
        self.set_pinned(account, target, message_id, true, silent)
            .await
    }

    async fn unpin(
        &self,
        account: &str,
        target: &TargetRef,
        message_id: i64,
    ) -> Result<PinChange, SendError> {
        self.set_pinned(account, target, message_id, false, true)
            .await
    }

    async fn send_album(&self, request: AlbumRequest<'_>) -> Result<SentAlbum, SendError> {
        self.album(request).await
    }

    async fn alive(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<Vec<(i64, PostState)>, SendError> {
        self.survival(account, target, message_ids).await
    }

    async fn find_own_post(
        &self,
        account: &str,
        target: &TargetRef,
        text: &str,
        format: smb_domain::TextFormat,
        after: Option<i64>,
    ) -> Result<Option<i64>, SendError> {
        self.find_own(account, target, text, format, after).await
    }
}

impl GrammersGateway {
    async fn send_once(&self, req: SendRequest<'_>) -> Result<SentMessage, SendError> {
        let (text, entities) = format_text(req.text, req.format).map_err(|e| {
            warn!(account = req.account, target = %req.target, error = %e, "the text cannot be sent");
            rpc(smb_domain::FORMAT_INVALID)
        })?;
        let a = self.account(req.account)?;
        a.client.before_call()?;
        let peer = self.peer(req.account, a, req.target).await?;
        let basic_group = matches!(peer, tl::enums::InputPeer::Chat(_));
        let mut result = self
            .deliver(a, &req, peer, text.clone(), entities.clone())
            .await?;
        if basic_group
            && matches!(&result, Err(e) if e.is("PEER_ID_INVALID"))
            && let Some(new_peer) = self.follow_migration(req.account, a, req.target).await
        {
            // Nothing was posted under the old id: the same random_id goes to the new chat.
            result = self.deliver(a, &req, new_peer, text, entities).await?;
        }
        match result {
            Ok(updates) => {
                let id = sent_id(&updates, req.random_id);
                debug!(account = req.account, target = %req.target, random_id = req.random_id, message_id = ?id, "sent");
                Ok(SentMessage { message_id: id })
            }
            Err(e) if e.is("RANDOM_ID_DUPLICATE") => {
                info!(account = req.account, target = %req.target, random_id = req.random_id, "already sent (RANDOM_ID_DUPLICATE)");
                Ok(SentMessage { message_id: None })
            }
            Err(e) => {
                if e.is("PEER_ID_INVALID") || e.is("CHANNEL_INVALID") {
                    self.forget(req.account, a, req.target).await;
                }
                Err(e.into())
            }
        }
    }

    async fn refresh_peer_once(&self, account: &str, target: &TargetRef) -> Result<(), SendError> {
        let a = self.account(account)?;
        self.forget(account, a, target).await;
        if let Chat::Id(_) = target.chat
            && !target.is_basic_group()
        {
            let mut state = a.peers.lock().await;
            self.scan_dialogs(account, a, &mut state).await?;
        }
        self.peer(account, a, target).await.map(|_| ())
    }

    /// One messages.sendMessage / sendMedia of `req` to `peer`: Telegram's answer, or (outer
    /// `Err`) a media file that cannot be read or uploaded, before anything is sent.
    async fn deliver(
        &self,
        a: &Account,
        req: &SendRequest<'_>,
        peer: tl::enums::InputPeer,
        text: String,
        entities: Option<Vec<tl::enums::MessageEntity>>,
    ) -> Result<Result<tl::enums::Updates, super::client::CallError>, SendError> {
        let reply_to = topic_reply(req.target);
        Ok(match req.media {
            None => {
                a.client
                    .invoke_send(&tl::functions::messages::SendMessage {
                        no_webpage: !req.link_preview,
                        silent: false,
                        background: false,
                        clear_draft: false,
                        noforwards: false,
                        update_stickersets_order: false,
                        invert_media: false,
                        allow_paid_floodskip: false,
                        peer,
                        reply_to,
                        message: text,
                        random_id: req.random_id,
                        reply_markup: None,
                        entities,
                        schedule_date: None,
                        schedule_repeat_period: None,
                        send_as: None,
                        quick_reply_shortcut: None,
                        effect: None,
                        allow_paid_stars: None,
                        suggested_post: None,
                        rich_message: None,
                    })
                    .await
            }
            Some(path) => {
                let media = self.media_for(req.account, a, path).await?;
                let send = |media: tl::enums::InputMedia| tl::functions::messages::SendMedia {
                    silent: false,
                    background: false,
                    clear_draft: false,
                    noforwards: false,
                    update_stickersets_order: false,
                    invert_media: false,
                    allow_paid_floodskip: false,
                    peer: peer.clone(),
                    reply_to: reply_to.clone(),
                    media,
                    message: text.clone(),
                    random_id: req.random_id,
                    reply_markup: None,
                    entities: entities.clone(),
                    schedule_date: None,
                    schedule_repeat_period: None,
                    send_as: None,
                    quick_reply_shortcut: None,
                    effect: None,
                    allow_paid_stars: None,
                    suggested_post: None,
                };
                let mut uploaded = !media.reused;
                let mut r = a.client.invoke_send(&send(media.input.clone())).await;
                if media.reused && matches!(&r, Err(e) if uploads::refused_reuse(e)) {
                    // Telegram refused the stored reference (nothing was posted): forget it,
                    // upload the file once more and send with the same random_id.
                    info!(account = req.account, path = %path.display(), "Telegram refused the stored upload; uploading the file again");
                    self.forget_upload(req.account, a, &media.sha256, media.document)
                        .await;
                    let fresh = self.media_for(req.account, a, path).await?;
                    uploaded = !fresh.reused;
                    r = a.client.invoke_send(&send(fresh.input)).await;
                }
                if let Ok(u) = &r
                    && uploaded
                {
                    self.remember_sent_media(req.account, a, &media.sha256, u)
                        .await;
                }
                r
            }
        })
    }

    /// After PEER_ID_INVALID from a basic group: if Telegram says it was upgraded
    /// (messages.getFullChat → `migrated_to`), remember the new supergroup and return it.
    async fn follow_migration(
        &self,
        account: &str,
        a: &Account,
        target: &TargetRef,
    ) -> Option<tl::enums::InputPeer> {
        let Chat::Id(old) = target.chat else {
            return None;
        };
        let full = a
            .client
            .invoke(&tl::functions::messages::GetFullChat { chat_id: -old })
            .await
            .ok()?;
        let tl::enums::messages::ChatFull::Full(full) = full;
        let new = full.chats.iter().find_map(|c| match c {
            tl::enums::Chat::Chat(c) if c.id == -old => c.migrated_to.as_ref(),
            _ => None,
        })?;
        let tl::enums::InputChannel::Channel(new) = new else {
            return None;
        };
        let new_id = channel_chat_id(new.channel_id);
        let chat = full
            .chats
            .iter()
            .filter_map(CachedChat::from_tl)
            .find(|c| c.id == new_id)
            .unwrap_or(CachedChat {
                id: new_id,
                access_hash: new.access_hash,
                kind: super::peers::ChatKind::Supergroup,
                title: String::new(),
                username: None,
            });
        warn!(
            account,
            target = %target,
            new_id,
            "this basic group was upgraded to a supergroup: posting under its new id {new_id}; \
             replace {old} with {new_id} in the configuration"
        );
        let peer = chat.input_peer();
        let mut state = a.peers.lock().await;
        state.cache.migrated.insert(old, new_id);
        state.cache.insert(chat);
        self.persist(account, &state.cache);
        Some(peer)
    }
}
