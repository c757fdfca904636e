//! Target references: the ways an operator may name a chat, parsed once and kept canonical.

use std::fmt;

/// One chat to post into, as the operator named it.
///
/// Numeric ids keep Telegram's "bot API" form: `-100…` for channels and supergroups, `-N` for
/// basic groups. Usernames are stored without `@`, lower-cased (Telegram usernames are
/// case-insensitive), so `@Shop`, `shop` and `https://t.me/Shop` are one target.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetRef {
    Id(i64),
    Username(Box<str>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetParseError {
    #[error("empty target")]
    Empty,
    #[error(
        "`{0}` is a positive number: that is a user, not a chat; chats are `-100…` (channel/supergroup) or `-N` (basic group)"
    )]
    PositiveId(String),
    #[error("`{0}` is not a valid chat id (expected `-1001234567890` or `-123456`)")]
    BadId(String),
    #[error(
        "`{0}` is an invite link; SendMessageBot posts only to chats the account already joined: join it in Telegram, then use its `-100…` id or @username"
    )]
    InviteLink(String),
    #[error(
        "`{0}` is not a valid username: 5–32 characters, letters, digits and `_`, starting with a letter"
    )]
    BadUsername(String),
    #[error(
        "`{0}` is not a target: use `-1001234567890`, `-123456`, `@name`, `name`, `https://t.me/name` or `t.me/name`"
    )]
    Unrecognised(String),
}

impl TargetRef {
    /// Parses every form DESIGN.md lists; anything else is refused with the reason.
    pub fn parse(input: &str) -> Result<Self, TargetParseError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(TargetParseError::Empty);
        }
        if s.starts_with('-') || s.starts_with('+') || s.bytes().all(|b| b.is_ascii_digit()) {
            if s.starts_with('+') || !s.starts_with('-') {
                return if s
                    .trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                {
                    Err(TargetParseError::PositiveId(s.to_owned()))
                } else {
                    Err(TargetParseError::BadId(s.to_owned()))
                };
            }
            return match s.parse::<i64>() {
                Ok(id) if id < 0 => Ok(TargetRef::Id(id)),
                _ => Err(TargetParseError::BadId(s.to_owned())),
            };
        }
        if let Some(name) = s.strip_prefix('@') {
            return Self::username(name, s);
        }
        let lower = s.to_ascii_lowercase();
        let without_scheme = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .unwrap_or(&lower);
        let rest = without_scheme
            .strip_prefix("www.")
            .unwrap_or(without_scheme);
        for host in ["t.me/", "telegram.me/", "telegram.dog/"] {
            if let Some(path) = rest.strip_prefix(host) {
                // Keep the original case for the error message, the lower-case for the value.
                let path = path.trim_end_matches('/');
                if path.starts_with('+') || path.starts_with("joinchat") {
                    return Err(TargetParseError::InviteLink(s.to_owned()));
                }
                let name = path.split(['/', '?', '#']).next().unwrap_or_default();
                return Self::username(name, s);
            }
        }
        if s.contains(['/', ':', ' ', '.']) {
            return Err(TargetParseError::Unrecognised(s.to_owned()));
        }
        Self::username(s, s)
    }

    fn username(name: &str, original: &str) -> Result<Self, TargetParseError> {
        let ok_len = (5..=32).contains(&name.len());
        let ok_first = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok_len && ok_first && ok_chars {
            Ok(TargetRef::Username(
                name.to_ascii_lowercase().into_boxed_str(),
            ))
        } else {
            Err(TargetParseError::BadUsername(original.to_owned()))
        }
    }

    /// The canonical text form, used as the key in the store: `-100…` or `@name`.
    pub fn key(&self) -> String {
        self.to_string()
    }

    pub fn is_basic_group(&self) -> bool {
        matches!(self, TargetRef::Id(id) if *id > -1_000_000_000_000)
    }
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetRef::Id(id) => write!(f, "{id}"),
            TargetRef::Username(name) => write!(f, "@{name}"),
        }
    }
}

impl fmt::Debug for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetRef({self})")
    }
}

impl std::str::FromStr for TargetRef {
    type Err = TargetParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(
            TargetRef::parse("-1001234567890"),
            Ok(TargetRef::Id(-1001234567890))
        );
        assert_eq!(TargetRef::parse("-123456"), Ok(TargetRef::Id(-123456)));
        let shop = TargetRef::Username("shop_chat".into());
        for form in [
            "@shop_chat",
            "shop_chat",
            "https://t.me/shop_chat",
            "http://t.me/Shop_Chat/",
            "t.me/shop_chat",
            "telegram.me/shop_chat",
            "  @SHOP_CHAT ",
        ] {
            assert_eq!(TargetRef::parse(form), Ok(shop.clone()), "{form}");
        }
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        assert!(matches!(TargetRef::parse(""), Err(TargetParseError::Empty)));
        assert!(matches!(
            TargetRef::parse("12345"),
            Err(TargetParseError::PositiveId(_))
        ));
        assert!(matches!(
            TargetRef::parse("-12a"),
            Err(TargetParseError::BadId(_))
        ));
        assert!(matches!(
            TargetRef::parse("-0"),
            Err(TargetParseError::BadId(_))
        ));
        assert!(matches!(
            TargetRef::parse("https://t.me/+AbCdEf"),
            Err(TargetParseError::InviteLink(_))
        ));
        assert!(matches!(
            TargetRef::parse("t.me/joinchat/AAAA"),
            Err(TargetParseError::InviteLink(_))
        ));
        assert!(matches!(
            TargetRef::parse("@abc"),
            Err(TargetParseError::BadUsername(_))
        ));
        assert!(matches!(
            TargetRef::parse("@1abcdef"),
            Err(TargetParseError::BadUsername(_))
        ));
        assert!(matches!(
            TargetRef::parse("https://example.com/x"),
            Err(TargetParseError::Unrecognised(_))
        ));
    }

    #[test]
    fn key_is_canonical() {
        assert_eq!(
            TargetRef::parse("t.me/Market_1").unwrap().key(),
            "@market_1"
        );
        assert_eq!(TargetRef::parse("-100777").unwrap().key(), "-100777");
        assert!(TargetRef::parse("-123456").unwrap().is_basic_group());
        assert!(!TargetRef::parse("-1001234567890").unwrap().is_basic_group());
    }
}
