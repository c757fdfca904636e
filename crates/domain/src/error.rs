//! Send errors and their classes: DESIGN.md's error table as code.

use std::time::Duration;

/// What the engine does about an error; one variant per row of DESIGN.md's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Pause the account (FLOOD_WAIT_X, FLOOD_PREMIUM_WAIT_X).
    AccountPause,
    /// Reschedule that chat only (SLOWMODE_WAIT_X).
    ChatPause,
    /// Disable the target with the reason (CHAT_WRITE_FORBIDDEN, CHANNEL_PRIVATE, …).
    TargetDead,
    /// Re-resolve the peer once, then disable (PEER_ID_INVALID, CHANNEL_INVALID).
    StalePeer,
    /// Fail this message (MESSAGE_TOO_LONG, ENTITY_BOUNDS_INVALID).
    BadContent,
    /// Stop every broadcaster of the account (AUTH_KEY_UNREGISTERED, PEER_FLOOD, …).
    AccountDead,
    /// Retry with backoff (network, 5xx, timeouts).
    Transient,
    /// Any other error Telegram gives for a request: this delivery fails, nothing else changes.
    Other,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::AccountPause => "account_pause",
            ErrorClass::ChatPause => "chat_pause",
            ErrorClass::TargetDead => "target_dead",
            ErrorClass::StalePeer => "stale_peer",
            ErrorClass::BadContent => "bad_content",
            ErrorClass::AccountDead => "account_dead",
            ErrorClass::Transient => "transient",
            ErrorClass::Other => "other",
        }
    }
}

/// Our own code for a text whose markup cannot be sent (a gateway formats it at send time);
/// a bad-content error like Telegram's ENTITY_BOUNDS_INVALID.
pub const FORMAT_INVALID: &str = "MESSAGE_FORMAT_INVALID";
/// Our own code for a send that panicked (a bug in formatting or a gateway): that delivery
/// fails as bad content instead of the account's loop dying.
pub const SEND_PANICKED: &str = "SEND_PANICKED";

/// An error from sending one message, as a gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A Telegram RPC error: `name` without the number (`FLOOD_WAIT`), `value` the number.
    #[error("Telegram error {code}{}", value.map(|v| format!(" ({v})")).unwrap_or_default(), code = .name)]
    Rpc { name: String, value: Option<u32> },
    /// Network, timeout, dropped connection, Telegram 5xx.
    #[error("transient failure: {0}")]
    Transient(String),
}

impl SendError {
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
            SendError::Transient(_) => "NETWORK",
        }
    }

    pub fn class(&self) -> ErrorClass {
        let SendError::Rpc { name, .. } = self else {
            return ErrorClass::Transient;
        };
        match name.as_str() {
            "FLOOD_WAIT" | "FLOOD_PREMIUM_WAIT" | "FLOOD_TEST_PHONE_WAIT" => {
                ErrorClass::AccountPause
            }
            "SLOWMODE_WAIT" => ErrorClass::ChatPause,
            "CHAT_WRITE_FORBIDDEN"
            | "CHANNEL_PRIVATE"
            | "CHAT_ADMIN_REQUIRED"
            | "USER_BANNED_IN_CHANNEL"
            | "CHAT_RESTRICTED"
            | "CHAT_SEND_PLAIN_FORBIDDEN"
            | "CHAT_GUEST_SEND_FORBIDDEN"
            | "CHANNEL_PUBLIC_GROUP_NA"
            | "USER_NOT_PARTICIPANT"
            | "USERNAME_NOT_OCCUPIED"
            | "USERNAME_INVALID"
            | "CHAT_ID_INVALID" => ErrorClass::TargetDead,
            "PEER_ID_INVALID" | "CHANNEL_INVALID" => ErrorClass::StalePeer,
            "MESSAGE_TOO_LONG"
            | "ENTITY_BOUNDS_INVALID"
            | "MESSAGE_EMPTY"
            | "ENTITY_MENTION_USER_INVALID"
            | "MEDIA_CAPTION_TOO_LONG"
            | "ENTITIES_TOO_LONG"
            | FORMAT_INVALID
            | SEND_PANICKED => ErrorClass::BadContent,
            "AUTH_KEY_UNREGISTERED"
            | "SESSION_REVOKED"
            | "USER_DEACTIVATED"
            | "USER_DEACTIVATED_BAN"
            | "PEER_FLOOD"
            | "AUTH_KEY_INVALID"
            | "SESSION_EXPIRED"
            | "AUTH_KEY_PERM_EMPTY"
            | "USER_RESTRICTED" => ErrorClass::AccountDead,
            "RPC_CALL_FAIL"
            | "RPC_MCGET_FAIL"
            | "TIMEOUT"
            | "INTERNAL"
            | "WORKER_BUSY_TOO_LONG_RETRY"
            | "MSG_WAIT_FAILED"
            | "NETWORK" => ErrorClass::Transient,
            _ => ErrorClass::Other,
        }
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
}
