//! Ports: the traits through which the engine reaches the outside world (DESIGN.md "Shape").
//!
//! One trait per outside system; adapters live in other crates (`smb-store`, `smb-telegram`,
//! `smb-notify`) and `main` picks one of each by configuration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use smb_domain::{
    AccountStop, DeliveryStatus, ErrorClass, OperatorState, PauseKind, SendError, TargetRef,
};

/// How a message text is written; lives in `smb_domain::format` with the one formatter.
pub use smb_domain::TextFormat;

/// What a gateway is asked to send: one delivery's content, with the journal's random_id.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    pub account: &'a str,
    pub target: &'a TargetRef,
    pub text: &'a str,
    pub format: TextFormat,
    /// A photo or document to attach (the text is then its caption).
    pub media: Option<&'a std::path::Path>,
    pub link_preview: bool,
    /// The id written to the journal before sending; Telegram drops a second message with the
    /// same id, which is what makes a re-send after a crash safe.
    pub random_id: i64,
    /// The A/B variant label the text is (issue 17), for the sandbox's ledger; Telegram is
    /// not told.
    pub variant: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentMessage {
    /// Telegram's message id; `None` when Telegram reported RANDOM_ID_DUPLICATE (already sent).
    pub message_id: Option<i64>,
}

/// The fewest items of an album (messages.sendMultiMedia); one item is a plain send.
pub const ALBUM_MIN_ITEMS: usize = 2;
/// The most items of an album (Telegram: MULTI_MEDIA_TOO_LONG above 10).
pub const ALBUM_MAX_ITEMS: usize = 10;
/// How many of our newest messages in a chat [`FollowUps::find_own_post`] looks through.
pub const FIND_OWN_LIMIT: i32 = 20;
/// How long a non-admin may edit a post in a group (Telegram's `edit_time_limit` in
/// help.getConfig: 172800 s; MESSAGE_EDIT_TIME_EXPIRED after). Admins of the chat, and
/// channels' posts, have no limit.
pub const EDIT_WINDOW: Duration = Duration::from_secs(48 * 3600);

/// What a gateway is asked to edit: one of our posts, in place (messages.editMessage).
#[derive(Debug, Clone)]
pub struct EditRequest<'a> {
    pub account: &'a str,
    /// The chat the post is in (its topic does not matter: ids are per chat).
    pub target: &'a TargetRef,
    /// Telegram's id of the post ([`SentMessage::message_id`]).
    pub message_id: i64,
    /// The new text, formatted like a send (`smb_domain::format_text`): at most 4096 UTF-16
    /// units, or 1024 when `caption` (MESSAGE_TOO_LONG / MEDIA_CAPTION_TOO_LONG).
    pub text: &'a str,
    pub format: TextFormat,
    /// The post carries a photo or document: the text is its caption (the media stays).
    pub caption: bool,
    pub link_preview: bool,
}

/// What became of an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edited {
    /// Telegram changed the post.
    Changed,
    /// The post already read so (Telegram's MESSAGE_NOT_MODIFIED): an edit repeated after a
    /// crash, done before. Not an error.
    Unchanged,
}

/// Whether a pin or unpin changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinChange {
    Changed,
    /// Already so (Telegram's CHAT_NOT_MODIFIED): a repeat after a crash. Not an error.
    Unchanged,
}

/// One item of an album: a file and the random_id the journal gave this item.
#[derive(Debug, Clone, Copy)]
pub struct AlbumItem<'a> {
    /// A photo (`.jpg`, `.jpeg`, `.png`, `.webp`) or a document (anything else). Telegram
    /// takes photos together or documents together, not a mix (MEDIA_INVALID).
    pub media: &'a std::path::Path,
    /// Telegram drops an item whose random_id it has seen (the whole album then answers
    /// RANDOM_ID_DUPLICATE): what makes a re-send after a crash safe.
    pub random_id: i64,
}

/// Whether Telegram is sent `path` as a photo (`.jpg`, `.jpeg`, `.png`, `.webp`, any case)
/// rather than as a document (anything else: PDFs, spreadsheets, videos as files). An album
/// is all photos or all documents: messages.sendMultiMedia refuses a mix with MEDIA_INVALID
/// (Bot API sendMediaGroup: "documents … can be only grouped in an album with messages of
/// the same type").
pub fn is_photo(path: &std::path::Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "jpg" | "jpeg" | "png" | "webp"
        )
    })
}

/// The random_id of album item `index` of a delivery whose journalled random_id is `first`:
/// item 0 is `first` itself, item `i` a fixed mix of `first` and `i` (SplitMix64's
/// finaliser; never 0). The journal's pending write of the delivery (its `random_id`, kept
/// for the delivery's whole life) therefore fixes every item's id before the album is sent:
/// a re-send after a crash offers Telegram the same ids and it drops the whole album as a
/// duplicate (RANDOM_ID_DUPLICATE).
pub fn album_item_random_id(first: i64, index: usize) -> i64 {
    if index == 0 {
        return first;
    }
    let mut z = (first as u64) ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    match z as i64 {
        0 => 1,
        v => v,
    }
}

/// Media Telegram stored for one account (issue 15's uploads table, migration 0015): what
/// messages.uploadMedia (or the first messages.sendMedia) gave back for a file, so later sends
/// name it (`inputPhoto` / `inputDocument`) instead of uploading the file again. Keyed by the
/// account, the SHA-256 of the file's bytes (an edited file is a new upload) and the kind (the
/// same bytes sent as a photo and as a document are two uploads).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredUpload {
    /// `true`: an `inputDocument`; `false`: an `inputPhoto`.
    pub document: bool,
    /// Telegram's photo or document id.
    pub id: i64,
    /// Telegram's access_hash of it, valid for this account only.
    pub access_hash: i64,
    /// Telegram's file_reference (opaque bytes; Telegram answers FILE_REFERENCE_EXPIRED once
    /// it has gone stale).
    pub file_reference: Vec<u8>,
}

/// The access hash and file reference are the account's: never printed.
impl std::fmt::Debug for StoredUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredUpload")
            .field("document", &self.document)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The uploads table (issue 15, migration 0015): media already uploaded per (account, file
/// content), so a later send and a restart re-use it. A re-use Telegram refuses
/// (FILE_REFERENCE_EXPIRED, MEDIA_EMPTY, MEDIA_INVALID) forgets the row and the file is
/// uploaded once more. Implemented by both stores; the grammers gateway reads and writes it.
#[async_trait]
pub trait Uploads: Send + Sync {
    /// What `account` uploaded of the file whose SHA-256 (64 lowercase hex digits) is
    /// `sha256`, as a document (`document`) or as a photo, if anything.
    async fn stored_upload(
        &self,
        account: &str,
        sha256: &str,
        document: bool,
    ) -> Result<Option<StoredUpload>, StoreError>;
    /// Remembers (or replaces) what `account`'s upload of `sha256` became (as a photo or a
    /// document: `upload.document`).
    async fn remember_upload(
        &self,
        account: &str,
        sha256: &str,
        upload: &StoredUpload,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Forgets `account`'s upload of `sha256` as a document or a photo (Telegram refused its
    /// re-use).
    async fn forget_upload(
        &self,
        account: &str,
        sha256: &str,
        document: bool,
    ) -> Result<(), StoreError>;
}

/// An album: 2–10 items ([`ALBUM_MIN_ITEMS`]..=[`ALBUM_MAX_ITEMS`]) sent as one grouped post
/// (messages.sendMultiMedia), the caption on the first item.
#[derive(Debug, Clone)]
pub struct AlbumRequest<'a> {
    pub account: &'a str,
    pub target: &'a TargetRef,
    /// The caption: at most 1024 UTF-16 units after formatting (MEDIA_CAPTION_TOO_LONG);
    /// may be empty.
    pub caption: &'a str,
    pub format: TextFormat,
    pub items: &'a [AlbumItem<'a>],
}

/// What Telegram made of an album.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentAlbum {
    /// The posts' ids, in the items' order; `None` when Telegram reported
    /// RANDOM_ID_DUPLICATE (already sent).
    pub message_ids: Option<Vec<i64>>,
    /// Telegram's `grouped_id` that binds the items into one album, when it said.
    pub grouped_id: Option<i64>,
}

/// What [`FollowUps::alive`] found about one of our posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostState {
    /// The post exists; `edited` once it was edited, `pinned` while pinned.
    Live { edited: bool, pinned: bool },
    /// Deleted (by the chat's admins, or by us) or never there: Telegram answers
    /// `messageEmpty`.
    Gone,
}

/// Telegram, as the engine sees it: sending, and looking at chats. The follow-ups to our own
/// posts (issue 15) are the separate port [`FollowUps`], implemented by the real adapters
/// only, so a test double of the send path does not have to answer them.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// Sends one message. `RANDOM_ID_DUPLICATE` must come back as `Ok` with `message_id: None`.
    async fn send(&self, request: SendRequest<'_>) -> Result<SentMessage, SendError>;

    /// Forgets what is cached about `target` for `account` and resolves it again
    /// (after PEER_ID_INVALID / CHANNEL_INVALID).
    async fn refresh_peer(&self, account: &str, target: &TargetRef) -> Result<(), SendError>;

    /// Looks at `target` as `account` sees it, without posting (`targets check`): membership,
    /// rights, slow mode, forum and topic, title, migration. A chat the account cannot reach
    /// is `Ok` with `member: false` and the refusal a send would get; `Err` only when
    /// Telegram could not be asked (flood wait, network, a dead session). Gateways that
    /// cannot look answer `INSPECT_NOT_SUPPORTED`.
    async fn inspect(&self, account: &str, target: &TargetRef) -> Result<ChatInfo, SendError> {
        let _ = (account, target);
        Err(SendError::rpc("INSPECT_NOT_SUPPORTED", None))
    }

    /// The supergroup (bot-API id `-100…`) that `account`'s posts into the basic group
    /// `target` now go to, when the gateway learned that the group was upgraded (Telegram
    /// answers the old id with PEER_ID_INVALID; the gateway follows `migrated_to`). Asked by
    /// the driver after a successful send into a basic group; no Telegram call. `None`: not
    /// upgraded, or a gateway that does not follow upgrades.
    async fn migrated_to(&self, account: &str, target: &TargetRef) -> Option<i64> {
        let _ = (account, target);
        None
    }
}

/// The follow-ups to our own posts (issue 15): edit, delete, pin/unpin, albums and the
/// survival check. Implemented by the sandbox and grammers gateways; the driver carries them
/// out on the same account loop, pacing and error handling as sends. No default bodies: a
/// gateway that offers follow-ups cannot silently skip one.
#[async_trait]
pub trait FollowUps: Send + Sync {
    /// Edits one of our posts in place (messages.editMessage). MESSAGE_NOT_MODIFIED comes
    /// back as `Ok(Edited::Unchanged)`. Errors: MESSAGE_EDIT_TIME_EXPIRED (the window,
    /// [`EDIT_WINDOW`], passed: post anew), MESSAGE_ID_INVALID (the post is gone),
    /// MESSAGE_AUTHOR_REQUIRED (not ours), the send's content and chat errors.
    async fn edit(&self, request: EditRequest<'_>) -> Result<Edited, SendError>;

    /// Deletes our posts `message_ids` in `target`'s chat for everyone (messages.deleteMessages
    /// with `revoke` for a basic group, channels.deleteMessages otherwise): one call, at most
    /// 100 ids (Telegram's limit per call). Answers how many Telegram deleted now; ids already
    /// gone count 0 and are not an error, so a delete repeated after a crash is harmless.
    /// Errors: MESSAGE_DELETE_FORBIDDEN, the chat errors.
    async fn delete(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<u32, SendError>;

    /// Pins our post `message_id` (messages.updatePinnedMessage), silently when `silent` (no
    /// notification to the members). CHAT_NOT_MODIFIED (already pinned) comes back as
    /// `Ok(PinChange::Unchanged)`. Errors: CHAT_ADMIN_REQUIRED (no pin right here),
    /// PIN_RESTRICTED, MESSAGE_ID_INVALID (the post is gone).
    async fn pin(
        &self,
        account: &str,
        target: &TargetRef,
        message_id: i64,
        silent: bool,
    ) -> Result<PinChange, SendError>;

    /// Unpins our post `message_id` (messages.updatePinnedMessage with `unpin`); not pinned
    /// (CHAT_NOT_MODIFIED) is `Ok(PinChange::Unchanged)`. Errors as [`FollowUps::pin`].
    async fn unpin(
        &self,
        account: &str,
        target: &TargetRef,
        message_id: i64,
    ) -> Result<PinChange, SendError>;

    /// Sends an album (messages.sendMultiMedia): 2–10 items, each with its own random_id,
    /// the caption on the first. RANDOM_ID_DUPLICATE comes back as `Ok` with
    /// `message_ids: None`. Errors: MULTI_MEDIA_TOO_LONG, MEDIA_INVALID,
    /// MEDIA_CAPTION_TOO_LONG, the send's chat errors.
    async fn send_album(&self, request: AlbumRequest<'_>) -> Result<SentAlbum, SendError>;

    /// Our newest live post in `target`'s chat that reads `text` (formatted with `format` as
    /// a send formats it) with an id above `after`: the id of a post whose re-send after a
    /// crash answered RANDOM_ID_DUPLICATE, which carries no id. One call (messages.search for
    /// our own messages, newest first, at most [`FIND_OWN_LIMIT`]). `Ok(None)`: not found.
    async fn find_own_post(
        &self,
        account: &str,
        target: &TargetRef,
        text: &str,
        format: TextFormat,
        after: Option<i64>,
    ) -> Result<Option<i64>, SendError>;

    /// Which of our posts `message_ids` in `target`'s chat still exist: ONE batched call per
    /// chat (messages.getMessages for a basic group, channels.getMessages otherwise; at most
    /// 100 ids). The answer has one entry per id, in the order asked.
    async fn alive(
        &self,
        account: &str,
        target: &TargetRef,
        message_ids: &[i64],
    ) -> Result<Vec<(i64, PostState)>, SendError>;
}

/// What a follow-up does to one of our posts (issue 15). The journal's words: `edit`,
/// `pin`, `unpin`, `delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FollowUpAction {
    /// Not an action: the record of our post of this cycle (its id), written with its
    /// follow-ups before the delivery's outcome, so a restart that lost that outcome (the
    /// re-send then answers RANDOM_ID_DUPLICATE, without an id) still knows the post.
    /// Written done; never carried out.
    Post,
    /// Our previous post edited to this cycle's text (`post_mode = "edit"`); done by the
    /// delivery itself, journalled here for `stats`.
    Edit,
    /// The new post pinned silently (`pin = true`).
    Pin,
    /// Our previous post unpinned (`pin = true`, when the previous post is not deleted).
    Unpin,
    /// Our previous post deleted (`post_mode = "replace"`, or `"edit"` whose edit window
    /// passed).
    Delete,
}

impl FollowUpAction {
    /// The journal's word.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpAction::Post => "post",
            FollowUpAction::Edit => "edit",
            FollowUpAction::Pin => "pin",
            FollowUpAction::Unpin => "unpin",
            FollowUpAction::Delete => "delete",
        }
    }
}

impl std::str::FromStr for FollowUpAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "post" => FollowUpAction::Post,
            "edit" => FollowUpAction::Edit,
            "pin" => FollowUpAction::Pin,
            "unpin" => FollowUpAction::Unpin,
            "delete" => FollowUpAction::Delete,
            other => return Err(format!("unknown follow-up action `{other}`")),
        })
    }
}

/// One follow-up to our own post, as the journal keeps it (table `follow_ups`, migration
/// 0010): written `pending` (durably) before its Telegram call, its result after; a pending
/// one is carried out after a restart. Identity: (broadcaster, cycle, target, action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    pub broadcaster: String,
    /// The cycle whose post caused it.
    pub cycle: u64,
    /// The target's key (`@name`, `-100…`, `@name/7`).
    pub target: String,
    /// The account that carries it out: the one that posted `message_id` (only the author,
    /// or an admin, may edit, delete or unpin it).
    pub account: String,
    pub action: FollowUpAction,
    /// Telegram's id of the post it acts on (an album's first item: the one with the caption).
    pub message_id: i64,
    /// An album's other items (issue 15), in order, when the post is an album: a
    /// [`FollowUpAction::Post`] record keeps them, a [`FollowUpAction::Delete`] deletes them
    /// with `message_id` (replace deletes the whole previous album). Empty otherwise.
    pub album: Vec<i64>,
}

/// What became of a follow-up. The journal's words: `done`, `gone`, `refused`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUpResult {
    /// Telegram did it (or it was already so: a repeat after a crash).
    Done,
    /// The post was gone already (MESSAGE_ID_INVALID, or a delete that removed nothing):
    /// nothing to do; counted.
    Gone,
    /// Telegram refused it (MESSAGE_DELETE_FORBIDDEN, CHAT_ADMIN_REQUIRED, PIN_RESTRICTED,
    /// MESSAGE_EDIT_TIME_EXPIRED, …): the documented fallback was taken (docs/posts.md).
    Refused { code: String },
}

impl FollowUpResult {
    /// The journal's word.
    pub fn as_str(&self) -> &'static str {
        match self {
            FollowUpResult::Done => "done",
            FollowUpResult::Gone => "gone",
            FollowUpResult::Refused { .. } => "refused",
        }
    }
}

/// Our post in one chat as the journal knows it (see [`Store::previous_post`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurPost {
    pub cycle: u64,
    /// The account that posted it.
    pub account: String,
    /// An album's first item.
    pub message_id: i64,
    /// An album's other items, when the journal knows them ([`FollowUp::album`]).
    pub album: Vec<i64>,
}

/// One survival check of our previous post in a chat, before posting there (issue 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostCheck {
    pub broadcaster: String,
    /// The target's key.
    pub target: String,
    pub message_id: i64,
    /// Gone (removed by the chat's admins: we never delete our newest post).
    pub removed: bool,
    /// `removed_posts_flag` of the broadcaster: removals in a row that flag the chat (0: never).
    pub flag_after: u32,
    pub at: Timestamp,
}

/// What [`Store::record_post_check`] made of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostCheckResult {
    /// Our posts removed in a row in this chat (any broadcaster), this check included.
    pub removed_in_row: u32,
    /// This check flagged the chat ("our posts are being removed"); it was not flagged before.
    pub newly_flagged: bool,
}

/// A chat's survival record (issue 15), as `stats` and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSurvival {
    /// The target's key.
    pub target: String,
    /// Our posts removed in a row (a live post at a check starts it again).
    pub removed_in_row: u32,
    /// Our posts removed in all.
    pub removed_total: u64,
    /// "Our posts are being removed": `removed_in_row` reached `removed_posts_flag`.
    pub flagged: bool,
    /// When the last removal was found.
    pub last_removed_at: Option<Timestamp>,
    /// When the chat was last checked.
    pub checked_at: Timestamp,
}

/// A forum topic, as Telegram reports it (messages.getForumTopicsByID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicState {
    Open,
    /// Only admins may post (a send gets TOPIC_CLOSED).
    Closed,
    /// Deleted or never there (TOPIC_ID_INVALID / TOPIC_DELETED).
    Missing,
    /// The chat is not a forum: a "topic" there is only a reply to that message.
    NotForum,
}

impl TopicState {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicState::Open => "open",
            TopicState::Closed => "closed",
            TopicState::Missing => "missing",
            TopicState::NotForum => "not_a_forum",
        }
    }
}

/// What [`Gateway::inspect`] found about one (account, target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatInfo {
    /// The chat's title, when the account can see the chat.
    pub title: Option<String>,
    /// The account is in the chat (not left, not kicked).
    pub member: bool,
    /// A text post would be accepted now: member, not banned, the chat's default rights allow
    /// it, a channel's admin, the target's topic open.
    pub can_write: bool,
    /// Photos and documents would be accepted too (default and personal `send_media` rights).
    pub can_send_media: bool,
    /// Slow mode: one post per member per this many seconds (`slowmode_seconds`; admins are
    /// exempt). `None`: off.
    pub slow_mode_seconds: Option<u32>,
    /// The chat is a forum: a target without a topic posts into General.
    pub forum: bool,
    /// The state of the target's topic; `None` for a target without one.
    pub topic: Option<TopicState>,
    /// A basic group upgraded to a supergroup: its bot-API id (`-100…`).
    pub migrated_to: Option<i64>,
    /// The Telegram error a send would get now (`CHANNEL_PRIVATE`, `USER_BANNED_IN_CHANNEL`,
    /// `TOPIC_CLOSED`, `CHAT_SEND_MEDIA_FORBIDDEN` when only media is refused, …); `None`
    /// when nothing is refused.
    pub refusal: Option<String>,
}

impl ChatInfo {
    /// An account that cannot reach the chat, with the error a send would get.
    pub fn unreachable(code: &str) -> Self {
        ChatInfo {
            refusal: Some(code.to_owned()),
            ..ChatInfo::default()
        }
    }

    /// The refusal in words (`SendError::refusal_reason`), or the raw code when it has none.
    pub fn problem(&self) -> Option<String> {
        let code = self.refusal.as_deref()?;
        let e = SendError::from_telegram(code);
        Some(e.refusal_reason().unwrap_or_else(|| code.to_owned()))
    }
}

/// The identity of one delivery: (broadcaster, cycle, target).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub broadcaster: String,
    pub cycle: u64,
    pub target: TargetRef,
}

/// A delivery as written `pending` before it is sent.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub key: DeliveryKey,
    pub account: String,
    pub random_id: i64,
    /// The cycle's text, shared with the planner (not copied per delivery); for an A/B
    /// slot, the text of the variant this chat got.
    pub message: Arc<str>,
    /// The A/B variant label this chat got in this cycle (issue 17); `None` for a plain
    /// message.
    pub variant: Option<Arc<str>>,
    pub attempt: u32,
    pub at: Timestamp,
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        message_id: Option<i64>,
    },
    Failed {
        class: ErrorClass,
        code: String,
        detail: String,
    },
    Deferred {
        until: Timestamp,
        class: ErrorClass,
        code: String,
    },
}

impl Outcome {
    /// The status this outcome leaves the delivery in.
    pub fn status(&self) -> DeliveryStatus {
        match self {
            Outcome::Sent { .. } => DeliveryStatus::Sent,
            Outcome::Failed { .. } => DeliveryStatus::Failed,
            Outcome::Deferred { .. } => DeliveryStatus::Deferred,
        }
    }
}

/// A delivery row as the store returns it when a broadcaster resumes.
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub target: String,
    pub status: DeliveryStatus,
    pub random_id: i64,
    /// Network/server errors met so far (`max_retries` counts them); see
    /// [`Store::record_outcome`].
    pub attempts: u32,
    pub retry_at: Option<Timestamp>,
}

/// The last cycle of a broadcaster, for resuming after a restart.
#[derive(Debug, Clone)]
pub struct StoredCycle {
    pub cycle: u64,
    pub message: String,
    pub started_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// Deliveries of this cycle (empty when completed: not needed then).
    pub deliveries: Vec<StoredDelivery>,
}

/// One of our deliveries as the journal remembers it (see [`Store::recent_deliveries`]): what
/// a restart needs for per-chat rules and slow mode (when we last posted where, from which
/// account) and to keep an unfinished delivery on the account that attempted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPost {
    pub broadcaster: String,
    pub cycle: u64,
    /// Target key (`@name`, `@name/7`, `-100…`).
    pub target: String,
    pub account: String,
    /// `Sent`, `Pending` or `Deferred` (the store returns no other).
    pub status: DeliveryStatus,
    /// When the row was last written (for `sent`: when the send was confirmed).
    pub at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct StoredAccount {
    pub paused_until: Option<Timestamp>,
    /// Why the account is stopped (Telegram refused it, or its session could not be opened).
    pub stopped_reason: Option<AccountStop>,
    pub last_send_at: Option<Timestamp>,
}

/// A wait Telegram told one account in one chat (`SLOWMODE_WAIT_X`), as the journal's
/// `pauses` keeps it (see [`Store::chat_pauses`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChatPause {
    /// The account told to wait.
    pub account: String,
    /// The target's key (`@name`, `-100…`, `@name/123`) it was told about.
    pub target: String,
    /// When the wait ends (the latest, when several were told).
    pub until: Timestamp,
}

/// A target that refused one account while other accounts keep posting there, as the
/// store keeps it (see [`Store::record_refusal`]): that account skips the target until
/// `until`, when it is looked at again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefusal {
    /// The refused account.
    pub account: String,
    /// The target's key (`@name`, `-100…`, `@name/123`).
    pub target: String,
    /// Telegram's error name (`CHAT_WRITE_FORBIDDEN`, `USER_BANNED_IN_CHANNEL`, …), or
    /// `PRE_FLIGHT_CHECK` when the daemon's check found it.
    pub code: String,
    /// Why, in English words (`SendError::refusal_reason`, or the check's reason); the
    /// edges say it in their reader's language from `code` ([`smb_domain::account_refusal_words`]).
    pub reason: String,
    /// When the account looks at the target again (the re-check).
    pub until: Timestamp,
    /// When the refusal was found.
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetStatus {
    Active,
    Disabled {
        reason: String,
        since: Timestamp,
        recheck_at: Option<Timestamp>,
    },
}

/// The error a store keeps as the cause of a [`StoreError`] (sqlx's, an I/O error …); shared,
/// so one failed batch can fail each of its writes with the same cause.
pub type StoreCause = Arc<dyn std::error::Error + Send + Sync>;

/// Why a store call failed. The database's own error is kept as the [`source`] (never only
/// its text), so callers can walk the chain and `{:#}` prints it after the message.
///
/// [`source`]: std::error::Error::source
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database failed (I/O, a full disk, a lock, a lost connection, a vanished file):
    /// the same write may succeed later. `context` says what was being done, when known.
    #[error("database error{}", .context.as_deref().map(|c| format!(": {c}")).unwrap_or_default())]
    Database {
        context: Option<String>,
        #[source]
        source: Option<StoreCause>,
    },
    /// The database refused this write for its data (a constraint, a type, a size): writing
    /// it again cannot succeed, unlike a write that failed for lack of space or an I/O error.
    #[error("database error: rejected write")]
    Rejected {
        #[source]
        source: StoreCause,
    },
    /// A stored value does not read as its type (a row written by another program, or a
    /// damaged file): `column` names where.
    #[error("database error: {column} cannot be read")]
    Decode {
        column: String,
        #[source]
        source: StoreCause,
    },
    #[error("database migration failed")]
    Migration(#[source] StoreCause),
    #[error("the store is closed (the daemon is shutting down)")]
    Closed,
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    /// A database failure with its cause and no further context.
    pub fn database(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Database {
            context: None,
            source: Some(Arc::new(source)),
        }
    }

    /// A database failure while doing `context` (`cannot open the database …`), with its cause.
    pub fn database_in(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Database {
            context: Some(context.into()),
            source: Some(Arc::new(source)),
        }
    }

    /// A database failure described in words only (no error value caused it).
    pub fn database_says(context: impl Into<String>) -> Self {
        StoreError::Database {
            context: Some(context.into()),
            source: None,
        }
    }

    /// The database refused this write for its data; retrying it cannot help.
    pub fn is_rejected_write(&self) -> bool {
        matches!(self, StoreError::Rejected { .. })
    }

    /// The message followed by each cause, `: `-separated, as `{:#}` of anyhow prints it: for
    /// the places that keep an error as text (the journal-down reason, an API error's log).
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

/// Durable state: the delivery journal and everything that must survive a restart.
#[async_trait]
pub trait Store: Send + Sync {
    async fn last_cycle(&self, broadcaster: &str) -> Result<Option<StoredCycle>, StoreError>;
    async fn accounts(&self) -> Result<HashMap<String, StoredAccount>, StoreError>;
    async fn target_statuses(&self) -> Result<HashMap<String, TargetStatus>, StoreError>;

    async fn start_cycle(
        &self,
        broadcaster: &str,
        cycle: u64,
        message: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Durably writes the delivery as `pending` (insert, or update of a deferred one).
    async fn write_pending(&self, delivery: &PendingDelivery) -> Result<(), StoreError>;
    /// Records what became of a delivery. A deferral by a network or server error
    /// ([`ErrorClass::Transient`]) adds one to the row's `attempts`, so the row holds the
    /// retries used so far and the next one's time (`retry_at`, doubling): a restarted daemon
    /// continues the `max_retries` count and the back-off from there (qa5 F7).
    async fn record_outcome(
        &self,
        key: &DeliveryKey,
        outcome: &Outcome,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn complete_cycle(
        &self,
        broadcaster: &str,
        cycle: u64,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn set_target_status(
        &self,
        target: &str,
        status: &TargetStatus,
    ) -> Result<(), StoreError>;
    /// Records a pause Telegram imposed (flood wait on an account, slow mode on a chat).
    async fn record_pause(
        &self,
        account: &str,
        target: Option<&str>,
        kind: PauseKind,
        seconds: Duration,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    async fn set_account_stopped(
        &self,
        account: &str,
        reason: Option<&AccountStop>,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Waits until everything accepted so far is durable.
    async fn flush(&self) -> Result<(), StoreError>;

    /// Cheap, called about every second by the driver: `Err` when the journal can no longer
    /// be trusted to keep what is written (its file was deleted or replaced).
    ///
    /// The one method with a default (`Ok`): a backend without a file that can vanish under it
    /// (a database server) has nothing to watch. Every write, and every read that gives back
    /// what a write kept, has no default, so a new backend cannot forget one.
    async fn watch(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// A small real, durable write: after a failure, the driver resumes sending only once this
    /// succeeds.
    async fn probe(&self) -> Result<(), StoreError>;

    /// Remembers an operator's pause / stop / start of a broadcaster so it survives a
    /// restart.
    async fn set_broadcaster_state(
        &self,
        broadcaster: &str,
        state: OperatorState,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Sent deliveries written since `since`, and every `pending` or `deferred` one (any
    /// age), for [`crate::planner::Planner::restore_journal`]. A store that keeps no journal
    /// returns nothing.
    async fn recent_deliveries(&self, since: Timestamp) -> Result<Vec<JournalPost>, StoreError>;

    /// Remembers why a target is held back by its chat's rules or slow mode, and until when,
    /// for `stats` and the dashboard. Informational: a store may ignore it.
    async fn record_chat_hold(
        &self,
        target: &str,
        reason: &str,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The chat pauses recorded by [`Store::record_pause`] (those with a target) that end
    /// after `after`: per (account, target) the latest `until`. A restart restores them into
    /// the planner, so a slow-mode wait Telegram told survives the process (issue 19).
    async fn chat_pauses(&self, after: Timestamp) -> Result<Vec<StoredChatPause>, StoreError>;

    /// Remembers that `refusal.target` refused `refusal.account` (one row per pair, the latest
    /// kept), so a restart holds the account out as before and `stats`, `targets list`, the
    /// API and the dashboard show it.
    async fn record_refusal(&self, refusal: &StoredRefusal) -> Result<(), StoreError>;

    /// Forgets the refusal of `account` in `target` (a check found it may write again).
    async fn clear_refusal(&self, account: &str, target: &str) -> Result<(), StoreError>;

    /// The refusals recorded by [`Store::record_refusal`] whose re-check comes after
    /// `after`, by account then target.
    async fn refusals(&self, after: Timestamp) -> Result<Vec<StoredRefusal>, StoreError>;

    /// The states set by [`Store::set_broadcaster_state`].
    async fn broadcaster_states(&self) -> Result<HashMap<String, OperatorState>, StoreError>;

    /// When the journal last recorded a `sent` delivery into `target` (its key; any
    /// broadcaster), per account: "last posted" of the pre-flight check, whose rows are per
    /// (account, target) (QA F9: one account's row showed another's post). One read per
    /// target; accounts that never posted there are absent.
    async fn last_sent_by_account(
        &self,
        target: &str,
    ) -> Result<HashMap<String, Timestamp>, StoreError>;

    /// Remembers that the basic group `old` (target key `-N`) was upgraded to the supergroup
    /// `new` (`-100…`), as `account` found when posting. `Ok(true)` the first time (the
    /// operator is told once), `Ok(false)` when it was known.
    async fn record_migration(
        &self,
        old: &str,
        new: &str,
        account: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Our latest post of `broadcaster` in `target` (its key) from a cycle before
    /// `before_cycle`: the newest `sent` delivery there with a known message id, or a
    /// [`FollowUpAction::Post`] record (issue 15's "previous post"), whichever has the later
    /// cycle. `None` when there is none.
    async fn previous_post(
        &self,
        broadcaster: &str,
        target: &str,
        before_cycle: u64,
    ) -> Result<Option<OurPost>, StoreError>;

    /// Durably writes follow-ups as `pending`, in one transaction, before any of them is
    /// carried out; one already written (same identity) is left as it is.
    async fn write_follow_ups(&self, rows: &[FollowUp], at: Timestamp) -> Result<(), StoreError>;

    /// Records what became of a follow-up written by [`Store::write_follow_ups`].
    async fn record_follow_up(
        &self,
        row: &FollowUp,
        result: &FollowUpResult,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Every follow-up still `pending`, in the order they must be carried out (oldest
    /// cycle first; within a cycle edit, pin, unpin, delete).
    async fn pending_follow_ups(&self) -> Result<Vec<FollowUp>, StoreError>;

    /// Records one survival check of our previous post in a chat (issue 15): `removed`
    /// (Telegram answered `messageEmpty`: the chat's admins deleted it) counts once per post
    /// (a check repeated after a crash counts nothing new), a live post starts the chat's count
    /// again and lifts its flag. The chat is flagged once `removed_in_row` reaches
    /// `check.flag_after` (0: never). Answers the chat's count and whether this check flagged it.
    async fn record_post_check(&self, check: &PostCheck) -> Result<PostCheckResult, StoreError>;

    /// Every chat with a survival check, by target key: `stats`, the dashboard.
    async fn chat_survival(&self) -> Result<Vec<ChatSurvival>, StoreError>;
}

/// Wall-clock time for the engine. The driver sleeps with tokio, so tests on a paused tokio
/// clock use [`TokioClock`] to make `now()` follow it.
///
/// The driver does not pace on it directly: its pacing runs on tokio's monotonic clock and
/// follows this one only for schedules and journal times, treating a jump of more than a
/// couple of seconds as a clock step (see `driver.rs`).
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at a given wall time and advances with tokio's (possibly paused) clock.
/// [`TokioClock::step`] sets it forward or back, as NTP or an operator sets a wall clock.
pub struct TokioClock {
    base_wall: Timestamp,
    base: tokio::time::Instant,
    offset: std::sync::Mutex<jiff::SignedDuration>,
}

impl TokioClock {
    pub fn starting_at(base_wall: Timestamp) -> Self {
        TokioClock {
            base_wall,
            base: tokio::time::Instant::now(),
            offset: std::sync::Mutex::new(jiff::SignedDuration::ZERO),
        }
    }

    /// Steps the wall time by `by` (negative: back); tokio's clock is not touched.
    pub fn step(&self, by: jiff::SignedDuration) {
        let mut offset = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        *offset = offset.saturating_add(by);
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().duration_since(self.base);
        let offset = *self.offset.lock().unwrap_or_else(|p| p.into_inner());
        jiff::SignedDuration::try_from(elapsed)
            .ok()
            .and_then(|e| e.checked_add(offset))
            .and_then(|d| self.base_wall.checked_add(d).ok())
            .unwrap_or(self.base_wall)
    }
}

/// Something that happened in the engine, for logs, notifications, metrics and live views.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Started {
        broadcasters: usize,
        accounts: usize,
    },
    Stopped,
    CycleStarted {
        broadcaster: String,
        cycle: u64,
        targets: usize,
    },
    CycleCompleted {
        broadcaster: String,
        cycle: u64,
        sent: u64,
        failed: u64,
    },
    Delivered {
        broadcaster: String,
        account: String,
        target: String,
        random_id: i64,
        outcome: Outcome,
        latency: Duration,
    },
    AccountPaused {
        account: String,
        until: Timestamp,
        seconds: u64,
        code: String,
    },
    ChatPaused {
        account: String,
        target: String,
        until: Timestamp,
        seconds: u64,
    },
    AccountStopped {
        account: String,
        reason: AccountStop,
    },
    /// A chat's rules (`skipped`: left out of this cycle) or slow mode (waits in the cycle)
    /// held a delivery back until `until`.
    ChatHeld {
        broadcaster: String,
        account: String,
        target: String,
        reason: smb_domain::HoldReason,
        until: Timestamp,
        skipped: bool,
    },
    TargetDisabled {
        target: String,
        reason: String,
    },
    /// A disabled target is on again: a pre-flight check found it writable, its re-check
    /// came, or the operator enabled it.
    TargetEnabled {
        target: String,
    },
    /// `target` refused `account` (a send or a pre-flight check: CHAT_WRITE_FORBIDDEN,
    /// USER_BANNED_IN_CHANNEL, …) while another account posting there can still write: only
    /// that account's broadcasters skip it until `until`; the target stays on for the others.
    AccountRefusedHere {
        account: String,
        target: String,
        /// Why, in English words.
        reason: String,
        /// Telegram's error name, or `PRE_FLIGHT_CHECK` (the words in other languages come
        /// from it: [`smb_domain::account_refusal_words`]).
        code: String,
        until: Timestamp,
    },
    BadContent {
        broadcaster: String,
        code: String,
    },
    StoreFailed {
        detail: String,
    },
    /// A journal write failed or its file was deleted or replaced: no account sends until a
    /// probe write succeeds ([`EngineEvent::JournalUp`]).
    JournalDown {
        detail: String,
    },
    /// The journal takes writes again; sending resumed.
    JournalUp {
        down_for: Duration,
    },
    /// A basic group we post to was upgraded to a supergroup: posts into `target` (`-N`) go
    /// to `new_id` (`-100…`) from now on. Emitted once per group (the store remembers it).
    ChatMigrated {
        account: String,
        target: String,
        new_id: i64,
    },
    /// The wall clock jumped against the monotonic one by `seconds` (negative: set back).
    /// Pacing kept its remaining waits; schedules follow the new wall time.
    ClockStepped {
        seconds: i64,
    },
    /// The survival check (issue 15) found `removed_in_row` of our posts in `target` removed
    /// by the chat's admins, reaching the broadcaster's `removed_posts_flag`: the chat is
    /// flagged "our posts are being removed" (`disabled`: and the target was disabled, as
    /// `disable_when_removed = true` asks). Once per flagging.
    PostsRemoved {
        broadcaster: String,
        target: String,
        removed_in_row: u32,
        disabled: bool,
    },
    /// `auto_winner` (issue 17): the A/B test of message set `set` found `winner` better than
    /// `loser` (Welch's t-test, two-sided `p_value`); `loser`'s items are inactive from the
    /// set's new `version` on.
    VariantRetired {
        set: String,
        winner: String,
        loser: String,
        p_value: f64,
        version: i64,
    },
}

impl EngineEvent {
    /// Severity for notifications: 0 debug, 1 info, 2 warning, 3 error.
    pub fn level(&self) -> u8 {
        match self {
            EngineEvent::Delivered { .. } | EngineEvent::CycleStarted { .. } => 0,
            EngineEvent::Started { .. }
            | EngineEvent::Stopped
            | EngineEvent::CycleCompleted { .. }
            | EngineEvent::TargetEnabled { .. }
            | EngineEvent::ChatPaused { .. }
            | EngineEvent::ChatHeld { .. } => 1,
            EngineEvent::AccountPaused { .. }
            | EngineEvent::TargetDisabled { .. }
            | EngineEvent::AccountRefusedHere { .. }
            | EngineEvent::BadContent { .. }
            | EngineEvent::JournalUp { .. }
            | EngineEvent::ChatMigrated { .. }
            | EngineEvent::VariantRetired { .. }
            | EngineEvent::PostsRemoved { .. }
            | EngineEvent::ClockStepped { .. } => 2,
            EngineEvent::AccountStopped { .. }
            | EngineEvent::StoreFailed { .. }
            | EngineEvent::JournalDown { .. } => 3,
        }
    }
}

/// Where engine events go. Must not block: implementations queue and return.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &EngineEvent);
}

/// Writes events as structured log lines.
pub struct LogSink;

impl EventSink for LogSink {
    fn emit(&self, event: &EngineEvent) {
        match event {
            EngineEvent::Delivered {
                broadcaster,
                account,
                target,
                random_id,
                outcome,
                latency,
            } => {
                tracing::info!(
                    broadcaster = %broadcaster, account = %account, target = %target,
                    random_id, outcome = outcome.status().as_str(), latency_ms = latency.as_millis() as u64,
                    detail = ?outcome, "delivery"
                );
            }
            EngineEvent::ClockStepped { seconds } => tracing::warn!(
                seconds,
                "the wall clock was set {} by {} s; waits between sends keep their remaining \
                 time (monotonic clock), schedules follow the new wall time",
                if *seconds < 0 { "back" } else { "forward" },
                seconds.unsigned_abs()
            ),
            e if e.level() >= 3 => tracing::error!(event = ?e, "engine"),
            e if e.level() == 2 => tracing::warn!(event = ?e, "engine"),
            e if e.level() == 1 => tracing::info!(event = ?e, "engine"),
            e => tracing::debug!(event = ?e, "engine"),
        }
    }
}

/// Fans one event out to several sinks.
pub struct FanoutSink(pub Vec<std::sync::Arc<dyn EventSink>>);

impl EventSink for FanoutSink {
    fn emit(&self, event: &EngineEvent) {
        for s in &self.0 {
            s.emit(event);
        }
    }
}
