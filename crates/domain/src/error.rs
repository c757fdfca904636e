//! Send errors and their classes: DESIGN.md's error table as code.

use std::time::Duration;

crate::status::words! {
    /// What the engine does about an error; one variant per row of README's error table.
    /// Written in the journal's `error_class` column by these words.
    pub enum ErrorClass("error class") {
        /// Pause the account (FLOOD_WAIT_X, FLOOD_PREMIUM_WAIT_X).
        AccountPause = "account_pause",
        /// Reschedule that chat only (SLOWMODE_WAIT_X).
        ChatPause = "chat_pause",
        /// Disable the target with the reason: the families of per-chat refusals
        /// (`CHAT_SEND_*_FORBIDDEN`, `TOPIC_*`, restrictions, paid messages, CHANNEL_PRIVATE, …).
        TargetDead = "target_dead",
        /// Re-resolve the peer once, then disable (PEER_ID_INVALID, CHANNEL_INVALID).
        StalePeer = "stale_peer",
        /// Fail this message (MESSAGE_TOO_LONG, ENTITY_BOUNDS_INVALID).
        BadContent = "bad_content",
        /// Stop every broadcaster of the account (AUTH_KEY_UNREGISTERED, PEER_FLOOD, …).
        AccountDead = "account_dead",
        /// Retry with backoff (network, 5xx, timeouts).
        Transient = "transient",
        /// An error name we do not know (Telegram adds new ones with each layer): this delivery
        /// fails; after `disable_after_failures` of them in a row in one chat, the planner
        /// disables that chat with the raw error as the reason.
        Other = "other",
    }
}

/// The families of per-chat refusals (see [`SendError::class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A kind of media is forbidden; text may be allowed.
    Media,
    /// Text, polls, stickers, inline results … are forbidden (`CHAT_SEND_*_FORBIDDEN`).
    Content,
    /// `TOPIC_*`, and a topic's first message that is gone.
    Topic,
    /// Paid messages (`ALLOW_PAYMENT_REQUIRED[_X]`, `PAYMENT_REQUIRED`, …).
    Payment,
    /// The account may not write here.
    Restricted,
    /// The chat cannot be found for this account.
    Gone,
    /// Our earlier post is gone: deleted (by us or the chat's admins) or never there
    /// (MESSAGE_ID_INVALID; for messages.editMessage, messages.updatePinnedMessage,
    /// channels.deleteMessages).
    PostGone,
    /// The edit window of our post passed (MESSAGE_EDIT_TIME_EXPIRED: messages.editMessage;
    /// Telegram's `edit_time_limit`, 172800 s = 48 h for non-admins in groups).
    EditExpired,
    /// The edit or pin changes nothing (MESSAGE_NOT_MODIFIED: messages.editMessage;
    /// CHAT_NOT_MODIFIED: messages.updatePinnedMessage): it was already done.
    NotModified,
    /// Telegram will not delete or edit this message for the account (MESSAGE_DELETE_FORBIDDEN:
    /// messages.deleteMessages / channels.deleteMessages; MESSAGE_AUTHOR_REQUIRED:
    /// messages.editMessage of a message that is not ours).
    PostLocked,
    /// The account may not pin in this chat (PIN_RESTRICTED: messages.updatePinnedMessage).
    PinForbidden,
    /// An album Telegram refuses (messages.sendMultiMedia: MULTI_MEDIA_TOO_LONG for more than
    /// 10 items, MEDIA_INVALID for an item it cannot take or a mix of documents and photos).
    Album,
}

/// Whom a refusal concerns: one message (retrying that message can never succeed; the chat
/// stays usable) or the whole chat (the target is disabled with the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalScope {
    /// Permanent for this one message (class `BadContent`).
    Message,
    /// Permanent for the chat (class `TargetDead`, or `StalePeer` after re-resolving).
    Chat,
}

const MEDIA_KINDS: &[&str] = &[
    "MEDIA",
    "PHOTOS",
    "VIDEOS",
    "DOCS",
    "AUDIOS",
    "GIFS",
    "STICKERS",
    "VOICES",
    "ROUNDVIDEOS",
];

fn refusal(name: &str) -> Option<Refusal> {
    if let Some(kind) = name
        .strip_prefix("CHAT_SEND_")
        .and_then(|r| r.strip_suffix("_FORBIDDEN"))
    {
        return Some(if MEDIA_KINDS.contains(&kind) {
            Refusal::Media
        } else {
            Refusal::Content
        });
    }
    if name.starts_with("TOPIC_") {
        return Some(Refusal::Topic);
    }
    Some(match name {
        "MESSAGE_ID_INVALID" => Refusal::PostGone,
        "MESSAGE_EDIT_TIME_EXPIRED" => Refusal::EditExpired,
        "MESSAGE_NOT_MODIFIED" | "CHAT_NOT_MODIFIED" => Refusal::NotModified,
        "MESSAGE_DELETE_FORBIDDEN" | "MESSAGE_AUTHOR_REQUIRED" => Refusal::PostLocked,
        "PIN_RESTRICTED" => Refusal::PinForbidden,
        "MULTI_MEDIA_TOO_LONG" | "MEDIA_INVALID" | "GROUPED_MEDIA_INVALID" => Refusal::Album,
        "REPLY_MESSAGE_ID_INVALID" | "REPLY_TO_INVALID" | "MSG_ID_INVALID" => Refusal::Topic,
        "ALLOW_PAYMENT_REQUIRED"
        | "PAYMENT_REQUIRED"
        | "STARS_PAYMENT_REQUIRED"
        | "BALANCE_TOO_LOW" => Refusal::Payment,
        "CHAT_WRITE_FORBIDDEN"
        | "CHAT_ADMIN_REQUIRED"
        | "CHAT_RESTRICTED"
        | "CHAT_GUEST_SEND_FORBIDDEN"
        | "CHAT_FORWARDS_RESTRICTED"
        | "USER_BANNED_IN_CHANNEL"
        | "USER_NOT_PARTICIPANT"
        | "CHANNEL_PUBLIC_GROUP_NA"
        | "VOICE_MESSAGES_FORBIDDEN"
        | "PRIVACY_PREMIUM_REQUIRED"
        | "CHANNEL_MONOFORUM_UNSUPPORTED"
        | "SEND_AS_PEER_INVALID" => Refusal::Restricted,
        "CHANNEL_PRIVATE"
        | "CHAT_FORBIDDEN"
        | "CHAT_ID_INVALID"
        | "CHAT_TYPE_INVALID"
        | "USERNAME_NOT_OCCUPIED"
        | "USERNAME_INVALID"
        | "INPUT_USER_DEACTIVATED"
        // Classed `StalePeer` (re-resolved once first); when it disables the target, this is why.
        | "PEER_ID_INVALID"
        | "CHANNEL_INVALID" => Refusal::Gone,
        _ => return None,
    })
}

/// Our own code for a text whose markup cannot be sent (a gateway formats it at send time);
/// a bad-content error like Telegram's ENTITY_BOUNDS_INVALID.
pub const FORMAT_INVALID: &str = "MESSAGE_FORMAT_INVALID";
/// Our own code for a send that panicked (a bug in formatting or a gateway): that delivery
/// fails as bad content instead of the account's loop dying.
pub const SEND_PANICKED: &str = "SEND_PANICKED";
/// Our own code for an account whose MTProto proxy refused its secret (it took the TCP
/// connection, then did not answer the handshake or answered one made with another key):
/// every send of the account would fail the same way until PROXY_SECRET is fixed, so the
/// account stops instead of retrying for minutes (issue 19). Cleared at the next start.
pub const PROXY_SECRET_REFUSED: &str = "PROXY_SECRET_REFUSED";

/// An error from sending one message, as a gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A Telegram RPC error: `name` without the number (`FLOOD_WAIT`), `value` the number.
    #[error("Telegram error {code}{}", value.map(|v| format!(" ({v})")).unwrap_or_default(), code = .name)]
    Rpc {
        /// Telegram's error name, upper-case, without its number (`FLOOD_WAIT`).
        name: String,
        /// The number the name carried (`FLOOD_WAIT_30` → 30 seconds), if any.
        value: Option<u32>,
    },
    /// Network, timeout, dropped connection, Telegram 5xx.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The connection was lost after the send went out, and the second try (same
    /// `random_id`) was refused with this error. The first try may be in the chat, so the fate
    /// is unknown: class [`ErrorClass::Transient`] (only this account retries, with the same
    /// `random_id`). A wait or stop the refusal tells still binds the account: the planner
    /// obeys it before that retry (a soak found the retry sent inside a told FLOOD_WAIT).
    #[error(
        "{0}, answered to a second try after the connection was lost (the first may be in the chat)"
    )]
    Unconfirmed(Box<SendError>),
}

impl SendError {
    /// A [`SendError::Rpc`] from Telegram's error name (without its number) and the number.
    pub fn rpc(name: &str, value: Option<u32>) -> Self {
        SendError::Rpc {
            name: name.to_owned(),
            value,
        }
    }

    /// Parses a raw Telegram error string such as `FLOOD_WAIT_300` or `CHANNEL_PRIVATE`.
    pub fn from_telegram(raw: &str) -> Self {
        let raw = raw.trim();
        if let Some((head, tail)) = raw.rsplit_once('_')
            && let Ok(v) = tail.parse::<u32>()
        {
            return SendError::rpc(head, Some(v));
        }
        SendError::rpc(raw, None)
    }

    /// The Telegram error name (`FLOOD_WAIT`), or `NETWORK` for transient failures.
    pub fn code(&self) -> &str {
        match self {
            SendError::Rpc { name, .. } => name,
            SendError::Transient(_) | SendError::Unconfirmed(_) => "NETWORK",
        }
    }

    /// The class of this error: the exact names of DESIGN.md's table first, then the
    /// families of per-chat refusals (`CHAT_SEND_*_FORBIDDEN`, `TOPIC_*`, the restriction and
    /// paid-message errors), then `Other` for names we do not know (the planner disables a
    /// chat after `disable_after_failures` of those in a row). Error names are the ones
    /// core.telegram.org lists for messages.sendMessage / messages.sendMedia (layer 230, the one
    /// grammers-tl-types 0.11 speaks).
    pub fn class(&self) -> ErrorClass {
        let SendError::Rpc { name, .. } = self else {
            return ErrorClass::Transient;
        };
        let name = name.as_str();
        match name {
            "FLOOD_WAIT" | "FLOOD_PREMIUM_WAIT" | "FLOOD_TEST_PHONE_WAIT" => {
                return ErrorClass::AccountPause;
            }
            "SLOWMODE_WAIT" => return ErrorClass::ChatPause,
            "PEER_ID_INVALID" | "CHANNEL_INVALID" => return ErrorClass::StalePeer,
            "MESSAGE_TOO_LONG"
            | "ENTITY_BOUNDS_INVALID"
            | "MESSAGE_EMPTY"
            | "ENTITY_MENTION_USER_INVALID"
            | "MEDIA_CAPTION_TOO_LONG"
            | "ENTITIES_TOO_LONG"
            | "MEDIA_EMPTY"
            | "MEDIA_INVALID"
            | "PHOTO_INVALID_DIMENSIONS"
            | "PHOTO_EXT_INVALID"
            | "PHOTO_SAVE_FILE_INVALID"
            | "FILE_PARTS_INVALID"
            // Issue 15's follow-ups to one of our posts (edit, delete, pin, albums): permanent
            // for that message, the chat stays usable. Telegram's lists for
            // messages.editMessage, messages.deleteMessages, channels.deleteMessages,
            // messages.updatePinnedMessage and messages.sendMultiMedia (layer 230).
            | "MESSAGE_ID_INVALID"
            | "MESSAGE_EDIT_TIME_EXPIRED"
            | "MESSAGE_NOT_MODIFIED"
            | "CHAT_NOT_MODIFIED"
            | "MESSAGE_DELETE_FORBIDDEN"
            | "MESSAGE_AUTHOR_REQUIRED"
            | "MESSAGE_IDS_EMPTY"
            | "MULTI_MEDIA_TOO_LONG"
            | "GROUPED_MEDIA_INVALID"
            | FORMAT_INVALID
            | SEND_PANICKED => return ErrorClass::BadContent,
            // USER_RESTRICTED ("you were reported for spam and can't do this") and the other
            // session errors concern the account in every chat, not one chat.
            "AUTH_KEY_UNREGISTERED"
            | "SESSION_REVOKED"
            | "USER_DEACTIVATED"
            | "USER_DEACTIVATED_BAN"
            | "PEER_FLOOD"
            | "AUTH_KEY_INVALID"
            | "SESSION_EXPIRED"
            | "AUTH_KEY_PERM_EMPTY"
            | "AUTH_KEY_DUPLICATED"
            | "USER_RESTRICTED"
            | "FROZEN_METHOD_INVALID"
            | PROXY_SECRET_REFUSED => return ErrorClass::AccountDead,
            "RPC_CALL_FAIL"
            | "RPC_MCGET_FAIL"
            | "TIMEOUT"
            | "INTERNAL"
            | "WORKER_BUSY_TOO_LONG_RETRY"
            | "MSG_WAIT_FAILED"
            | "MSG_WAIT_TIMEOUT"
            | "NETWORK" => return ErrorClass::Transient,
            _ => {}
        }
        if refusal(name).is_some() {
            return ErrorClass::TargetDead;
        }
        if name.starts_with("ENTITY_") || name.ends_with("_TOO_LONG") {
            return ErrorClass::BadContent;
        }
        ErrorClass::Other
    }

    /// True for the refusals of a chat that forbids media (or one kind of it) but may allow
    /// text: `CHAT_SEND_MEDIA_FORBIDDEN`, `…_PHOTOS_…`, `…_VIDEOS_…`, `…_DOCS_…`, `…_AUDIOS_…`,
    /// `…_GIFS_…`, `…_STICKERS_…`, `…_VOICES_…`, `…_ROUNDVIDEOS_…`.
    pub fn forbids_media(&self) -> bool {
        matches!(refusal(self.code()), Some(Refusal::Media))
    }

    /// Whom this error concerns, for the follow-ups of issue 15 (edit, delete, pin, albums)
    /// as for sends: [`RefusalScope::Message`] for errors that are permanent for one message
    /// only (class `BadContent`: the edit window passed, the post is gone, an album Telegram
    /// refuses …), [`RefusalScope::Chat`] for per-chat refusals (`TargetDead`, and
    /// `StalePeer` once re-resolving did not help). `None` for waits, account-level and
    /// transient errors and unknown names.
    pub fn scope(&self) -> Option<RefusalScope> {
        match self.class() {
            ErrorClass::BadContent => Some(RefusalScope::Message),
            ErrorClass::TargetDead | ErrorClass::StalePeer => Some(RefusalScope::Chat),
            _ => None,
        }
    }

    /// True when the message an edit, pin or delete was about no longer exists
    /// (MESSAGE_ID_INVALID): an admin removed it, or it was deleted already.
    pub fn is_post_gone(&self) -> bool {
        matches!(refusal(self.code()), Some(Refusal::PostGone))
    }

    /// True when the edit or pin was already in place (MESSAGE_NOT_MODIFIED,
    /// CHAT_NOT_MODIFIED): a repeat after a crash, done before.
    pub fn is_not_modified(&self) -> bool {
        matches!(refusal(self.code()), Some(Refusal::NotModified))
    }

    /// Why a chat refuses us, in words, for the target's disabled reason (and why a
    /// follow-up to one of our posts was refused, for stats): the raw error first, then what
    /// it means and what to do. `None` for errors that are not a refusal.
    pub fn refusal_reason(&self) -> Option<String> {
        let code = self.code();
        let what = match refusal(code)? {
            Refusal::Media => {
                "this chat forbids media; text is allowed — set `send_text_without_media = true` on the broadcaster to send the text alone"
            }
            Refusal::Content => {
                "this chat forbids this kind of message (its permissions for members)"
            }
            Refusal::Topic => {
                "the forum topic is closed, deleted or does not exist: reopen it or name another topic"
            }
            Refusal::Payment => {
                "this chat charges Telegram Stars per message; SendMessageBot does not pay for messages"
            }
            Refusal::Restricted => {
                "the account may not post here (restricted, banned, not a member or no rights)"
            }
            Refusal::Gone => {
                "the chat does not exist for this account (wrong name or id, or private)"
            }
            Refusal::PostGone => {
                "our earlier post is gone (deleted by the chat's admins, or already deleted)"
            }
            Refusal::EditExpired => {
                "the post can no longer be edited (Telegram allows 48 hours to non-admins in groups); it is posted anew instead"
            }
            Refusal::NotModified => "nothing to change: the post already is as asked",
            Refusal::PostLocked => {
                "Telegram does not let the account change or delete this message (not ours, or a service message)"
            }
            Refusal::PinForbidden => {
                "the account may not pin messages in this chat: give it the pin right or set `pin = false`"
            }
            Refusal::Album => {
                "Telegram refused the album: it takes 2–10 photos, or 2–10 documents, each readable"
            }
        };
        Some(match self {
            SendError::Rpc { value: Some(v), .. } => format!("{code} ({v}): {what}"),
            _ => format!("{code}: {what}"),
        })
    }

    /// [`SendError::refusal_reason`] in `lang` (the error's name stays as Telegram wrote it).
    pub fn refusal_words(&self, lang: crate::Lang) -> Option<String> {
        if lang == crate::Lang::En {
            return self.refusal_reason();
        }
        let code = self.code();
        let what = match refusal(code)? {
            Refusal::Media => {
                "чат не принимает медиа; текст разрешён — поставьте `send_text_without_media = true` у рассыльщика, чтобы слать только текст"
            }
            Refusal::Content => "чат не принимает такой вид сообщений (права участников)",
            Refusal::Topic => {
                "тема форума закрыта, удалена или не существует: откройте её или укажите другую"
            }
            Refusal::Payment => {
                "чат берёт Telegram Stars за каждое сообщение; SendMessageBot за сообщения не платит"
            }
            Refusal::Restricted => {
                "аккаунту нельзя писать здесь (ограничен, забанен, не участник или нет прав)"
            }
            Refusal::Gone => "чата для этого аккаунта нет (неверное имя или id, либо он закрытый)",
            Refusal::PostGone => "нашего прежнего поста нет (удалён админами чата или уже нами)",
            Refusal::EditExpired => {
                "пост уже нельзя изменить (Telegram даёт 48 часов не-админам в группах); он публикуется заново"
            }
            Refusal::NotModified => "менять нечего: пост уже такой, как нужно",
            Refusal::PostLocked => {
                "Telegram не даёт аккаунту изменить или удалить это сообщение (не наше или служебное)"
            }
            Refusal::PinForbidden => {
                "аккаунту нельзя закреплять сообщения в этом чате: дайте право закрепления или поставьте `pin = false`"
            }
            Refusal::Album => {
                "Telegram не принял альбом: в нём 2–10 фото или 2–10 документов, каждый читаемый"
            }
        };
        Some(match self {
            SendError::Rpc { value: Some(v), .. } => format!("{code} ({v}): {what}"),
            _ => format!("{code}: {what}"),
        })
    }

    /// The wait Telegram asked for, for account and chat pauses.
    pub fn retry_after(&self) -> Option<Duration> {
        match (self.class(), self) {
            (ErrorClass::AccountPause | ErrorClass::ChatPause, SendError::Rpc { value, .. }) => {
                Some(Duration::from_secs(u64::from(value.unwrap_or(0))))
            }
            _ => None,
        }
    }

    /// True when retrying the same delivery can never succeed.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self.class(),
            ErrorClass::AccountPause
                | ErrorClass::ChatPause
                | ErrorClass::Transient
                | ErrorClass::StalePeer
        )
    }
}

/// Why a target refused one account (see `StoredRefusal` in the engine), in `lang`: English
/// is the stored reason as it is; Russian never embeds it — Telegram's refusal in Russian
/// (`code` is its name; the name stays as Telegram wrote it), or, for a refusal the
/// pre-flight check found (`code` `PRE_FLIGHT_CHECK`), the check's verdict in Russian.
pub fn account_refusal_words(code: &str, reason: &str, lang: crate::Lang) -> String {
    if lang == crate::Lang::En {
        return reason.to_owned();
    }
    if code == "PRE_FLIGHT_CHECK" {
        return "предварительная проверка: аккаунту нельзя писать в этот чат (не участник, \
                ограничен или нет прав; подробности — `sendmessagebot targets check`)"
            .to_owned();
    }
    SendError::from_telegram(code)
        .refusal_words(lang)
        .unwrap_or_else(|| format!("{code}: Telegram отказал этому аккаунту в этом чате"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_design_table_is_classified() {
        let cases = [
            ("FLOOD_WAIT_300", ErrorClass::AccountPause),
            ("FLOOD_PREMIUM_WAIT_5", ErrorClass::AccountPause),
            ("SLOWMODE_WAIT_60", ErrorClass::ChatPause),
            ("CHAT_WRITE_FORBIDDEN", ErrorClass::TargetDead),
            ("CHANNEL_PRIVATE", ErrorClass::TargetDead),
            ("CHAT_ADMIN_REQUIRED", ErrorClass::TargetDead),
            ("USER_BANNED_IN_CHANNEL", ErrorClass::TargetDead),
            ("CHAT_RESTRICTED", ErrorClass::TargetDead),
            ("PEER_ID_INVALID", ErrorClass::StalePeer),
            ("CHANNEL_INVALID", ErrorClass::StalePeer),
            ("MESSAGE_TOO_LONG", ErrorClass::BadContent),
            ("ENTITY_BOUNDS_INVALID", ErrorClass::BadContent),
            ("MESSAGE_FORMAT_INVALID", ErrorClass::BadContent),
            ("SEND_PANICKED", ErrorClass::BadContent),
            ("PROXY_SECRET_REFUSED", ErrorClass::AccountDead),
            ("AUTH_KEY_UNREGISTERED", ErrorClass::AccountDead),
            ("SESSION_REVOKED", ErrorClass::AccountDead),
            ("USER_DEACTIVATED", ErrorClass::AccountDead),
            ("USER_DEACTIVATED_BAN", ErrorClass::AccountDead),
            ("PEER_FLOOD", ErrorClass::AccountDead),
            ("RPC_CALL_FAIL", ErrorClass::Transient),
            ("SOMETHING_NEW", ErrorClass::Other),
        ];
        for (raw, class) in cases {
            assert_eq!(SendError::from_telegram(raw).class(), class, "{raw}");
        }
        assert_eq!(
            SendError::Transient("reset".into()).class(),
            ErrorClass::Transient
        );
    }

    #[test]
    fn waits_carry_their_seconds() {
        assert_eq!(
            SendError::from_telegram("FLOOD_WAIT_300").retry_after(),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            SendError::from_telegram("SLOWMODE_WAIT_7").retry_after(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            SendError::from_telegram("CHANNEL_PRIVATE").retry_after(),
            None
        );
        assert!(SendError::from_telegram("CHANNEL_PRIVATE").is_permanent());
        assert!(!SendError::from_telegram("FLOOD_WAIT_3").is_permanent());
        assert_eq!(
            SendError::from_telegram("FLOOD_WAIT_3").code(),
            "FLOOD_WAIT"
        );
    }

    #[test]
    fn refusals_are_classified_by_family() {
        use ErrorClass::*;
        let cases = [
            // CHAT_SEND_*_FORBIDDEN: media kinds and other kinds.
            ("CHAT_SEND_MEDIA_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_PHOTOS_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_VIDEOS_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_DOCS_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_AUDIOS_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_GIFS_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_STICKERS_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_VOICES_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_ROUNDVIDEOS_FORBIDDEN", TargetDead, true),
            ("CHAT_SEND_PLAIN_FORBIDDEN", TargetDead, false),
            ("CHAT_SEND_POLL_FORBIDDEN", TargetDead, false),
            ("CHAT_SEND_INLINE_FORBIDDEN", TargetDead, false),
            ("CHAT_SEND_GAME_FORBIDDEN", TargetDead, false),
            ("CHAT_SEND_SOMETHING_NEW_FORBIDDEN", TargetDead, false),
            // TOPIC_*.
            ("TOPIC_CLOSED", TargetDead, false),
            ("TOPIC_DELETED", TargetDead, false),
            ("TOPIC_ID_INVALID", TargetDead, false),
            ("TOPIC_SOMETHING_NEW", TargetDead, false),
            ("REPLY_MESSAGE_ID_INVALID", TargetDead, false),
            // Restrictions.
            ("CHAT_RESTRICTED", TargetDead, false),
            ("CHAT_GUEST_SEND_FORBIDDEN", TargetDead, false),
            ("CHAT_FORWARDS_RESTRICTED", TargetDead, false),
            ("CHAT_WRITE_FORBIDDEN", TargetDead, false),
            ("CHAT_ADMIN_REQUIRED", TargetDead, false),
            ("USER_BANNED_IN_CHANNEL", TargetDead, false),
            ("USER_NOT_PARTICIPANT", TargetDead, false),
            ("CHANNEL_PUBLIC_GROUP_NA", TargetDead, false),
            ("VOICE_MESSAGES_FORBIDDEN", TargetDead, false),
            ("CHAT_FORBIDDEN", TargetDead, false),
            ("CHANNEL_PRIVATE", TargetDead, false),
            ("USERNAME_NOT_OCCUPIED", TargetDead, false),
            // Paid messages.
            ("ALLOW_PAYMENT_REQUIRED", TargetDead, false),
            ("ALLOW_PAYMENT_REQUIRED_250", TargetDead, false),
            ("PAYMENT_REQUIRED", TargetDead, false),
            // Account-level, content, transient, pauses: unchanged.
            ("USER_RESTRICTED", AccountDead, false),
            ("AUTH_KEY_DUPLICATED", AccountDead, false),
            ("ENTITY_TEXTURL_INVALID", BadContent, false),
            ("MEDIA_CAPTION_TOO_LONG", BadContent, false),
            ("MSG_WAIT_TIMEOUT", Transient, false),
            ("FLOOD_WAIT_10", AccountPause, false),
            ("SLOWMODE_WAIT_10", ChatPause, false),
            // Unknown names: counted by the planner.
            ("SOMETHING_NEW", Other, false),
            ("CHAT_SOMETHING", Other, false),
            ("MEDIA_FORBIDDEN_SOMEWHERE", Other, false),
        ];
        assert!(cases.len() >= 30);
        for (raw, class, media) in cases {
            let e = SendError::from_telegram(raw);
            assert_eq!(e.class(), class, "{raw}");
            assert_eq!(e.forbids_media(), media, "{raw}");
            assert_eq!(e.refusal_reason().is_some(), class == TargetDead, "{raw}");
        }
    }

    #[test]
    fn f12_peer_id_invalid_has_a_reason_in_words_and_stays_a_stale_peer() {
        let e = SendError::from_telegram("PEER_ID_INVALID");
        assert_eq!(e.class(), ErrorClass::StalePeer);
        assert_eq!(
            e.refusal_reason().as_deref(),
            Some(
                "PEER_ID_INVALID: the chat does not exist for this account (wrong name or id, or private)"
            )
        );
    }

    #[test]
    fn refusal_reasons_say_what_happened_and_what_to_do() {
        let r = SendError::from_telegram("CHAT_SEND_MEDIA_FORBIDDEN")
            .refusal_reason()
            .unwrap();
        assert_eq!(
            r,
            "CHAT_SEND_MEDIA_FORBIDDEN: this chat forbids media; text is allowed — set `send_text_without_media = true` on the broadcaster to send the text alone"
        );
        let r = SendError::from_telegram("TOPIC_CLOSED")
            .refusal_reason()
            .unwrap();
        assert!(
            r.starts_with("TOPIC_CLOSED: the forum topic is closed"),
            "{r}"
        );
        let r = SendError::from_telegram("ALLOW_PAYMENT_REQUIRED_250")
            .refusal_reason()
            .unwrap();
        assert!(
            r.starts_with("ALLOW_PAYMENT_REQUIRED (250): this chat charges"),
            "{r}"
        );
        assert_eq!(
            SendError::from_telegram("SOMETHING_NEW").refusal_reason(),
            None
        );
        assert_eq!(SendError::Transient("x".into()).refusal_reason(), None);
    }

    #[test]
    fn follow_up_errors_of_issue_15_are_scoped_and_explained() {
        use ErrorClass::*;
        // (name, class, scope, start of the reason)
        let cases = [
            (
                "MESSAGE_ID_INVALID",
                BadContent,
                RefusalScope::Message,
                "MESSAGE_ID_INVALID: our earlier post is gone",
            ),
            (
                "MESSAGE_EDIT_TIME_EXPIRED",
                BadContent,
                RefusalScope::Message,
                "MESSAGE_EDIT_TIME_EXPIRED: the post can no longer be edited",
            ),
            (
                "MESSAGE_NOT_MODIFIED",
                BadContent,
                RefusalScope::Message,
                "MESSAGE_NOT_MODIFIED: nothing to change",
            ),
            (
                "CHAT_NOT_MODIFIED",
                BadContent,
                RefusalScope::Message,
                "CHAT_NOT_MODIFIED: nothing to change",
            ),
            (
                "MESSAGE_DELETE_FORBIDDEN",
                BadContent,
                RefusalScope::Message,
                "MESSAGE_DELETE_FORBIDDEN: Telegram does not let the account",
            ),
            (
                "MESSAGE_AUTHOR_REQUIRED",
                BadContent,
                RefusalScope::Message,
                "MESSAGE_AUTHOR_REQUIRED: Telegram does not let the account",
            ),
            (
                "MULTI_MEDIA_TOO_LONG",
                BadContent,
                RefusalScope::Message,
                "MULTI_MEDIA_TOO_LONG: Telegram refused the album",
            ),
            (
                "MEDIA_INVALID",
                BadContent,
                RefusalScope::Message,
                "MEDIA_INVALID: Telegram refused the album",
            ),
            (
                "PIN_RESTRICTED",
                TargetDead,
                RefusalScope::Chat,
                "PIN_RESTRICTED: the account may not pin",
            ),
            (
                "CHAT_ADMIN_REQUIRED",
                TargetDead,
                RefusalScope::Chat,
                "CHAT_ADMIN_REQUIRED: the account may not post here",
            ),
        ];
        for (raw, class, scope, reason) in cases {
            let e = SendError::from_telegram(raw);
            assert_eq!(e.class(), class, "{raw}");
            assert_eq!(e.scope(), Some(scope), "{raw}");
            assert!(e.is_permanent(), "{raw}");
            let r = e.refusal_reason().unwrap();
            assert!(r.starts_with(reason), "{raw}: {r}");
        }
        assert!(SendError::from_telegram("MESSAGE_ID_INVALID").is_post_gone());
        assert!(!SendError::from_telegram("MSG_ID_INVALID").is_post_gone());
        assert!(SendError::from_telegram("MESSAGE_NOT_MODIFIED").is_not_modified());
        assert!(SendError::from_telegram("CHAT_NOT_MODIFIED").is_not_modified());
        assert!(!SendError::from_telegram("MESSAGE_ID_INVALID").is_not_modified());
        assert_eq!(SendError::from_telegram("FLOOD_WAIT_5").scope(), None);
        assert_eq!(
            SendError::from_telegram("PEER_ID_INVALID").scope(),
            Some(RefusalScope::Chat)
        );
    }
}
