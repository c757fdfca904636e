//! Target references: the ways an operator may name a chat (and a forum topic in it), parsed
//! once into what they mean and kept canonical.
//!
//! The grammar follows Telegram's deep links (<https://core.telegram.org/api/links>): `t.me`,
//! `telegram.me`, `telegram.dog` and `<name>.t.me`, with or without `http(s)://` and `www.`,
//! trailing slash, query string and `#fragment` (always ignored); `tg://resolve` and
//! `tg://privatepost`; plus `@name`, bare names and bot-API chat ids. Links that do not name a
//! chat we could post into — invite links (we never join), phone numbers, bots, proxies,
//! sticker sets and the other service paths — are refused with the reason.

use std::fmt;

/// Telegram's largest basic-group id (TDLib `ChatId::MAX_CHAT_ID`): basic groups are
/// `-1 … -999_999_999_999` in the bot-API form.
const MAX_BASIC_GROUP_ID: i64 = 999_999_999_999;
/// Channels and supergroups are `-1_000_000_000_000 - id` in the bot-API form (TDLib
/// `DialogId`'s `ZERO_CHANNEL_ID`).
const CHANNEL_ID_BASE: i64 = 1_000_000_000_000;
/// Telegram's largest channel id (TDLib `ChannelId::MAX_CHANNEL_ID` = 10^12 − 2^31).
const MAX_CHANNEL_ID: i64 = 1_000_000_000_000 - (1 << 31);

/// The chat part of a target.
///
/// Numeric ids keep Telegram's "bot API" form: `-100…` for channels and supergroups, `-N` for
/// basic groups. Usernames are stored without `@`, lower-cased (Telegram usernames are
/// case-insensitive), so `@Shop`, `shop` and `https://t.me/Shop` are one chat.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chat {
    /// A numeric chat id in the bot-API form (`-100…` or `-N`).
    Id(i64),
    /// A public username, without `@`, lower-cased.
    Username(Box<str>),
}

/// One place to post into, as the operator named it: a chat and, for forum supergroups, the
/// topic (the id of the topic's first message, what `t.me/name/TOPIC` links carry).
///
/// Topic 1 is a forum's "General" topic: Telegram files messages sent without a topic there,
/// so `t.me/name/1` is the chat itself (`topic: None`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetRef {
    /// The chat.
    pub chat: Chat,
    /// The forum topic (id of its first message, 2 … 2^31 − 1); `None` for the chat itself or its General topic.
    pub topic: Option<i32>,
}

/// Why a target as the operator wrote it is not a chat to post into; each says what to write instead. `String` fields are the input as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetParseError {
    /// Nothing was given.
    #[error("empty target")]
    Empty,
    #[error(
        "`{0}` is a positive number: that is a user, not a chat; chats are `-100…` (channel/supergroup) or `-N` (basic group)"
    )]
    /// A positive id: that is a user.
    PositiveId(String),
    /// Starts like an id but is not a number.
    #[error("`{0}` is not a valid chat id (expected `-1001234567890` or `-123456`)")]
    BadId(String),
    #[error(
        "`{0}` is outside Telegram's chat ids: basic groups are -1 … -999999999999, channels and supergroups -1000000000001 … -1997852516352"
    )]
    /// A negative id outside both basic-group and channel ranges.
    IdOutOfRange(String),
    #[error(
        "`{0}` is an invite link; SendMessageBot never joins chats: join it in Telegram with the account first, then give the chat's @name or its `-100…` id instead"
    )]
    /// A `t.me/+…` or `joinchat` link: the bot never joins chats.
    InviteLink(String),
    /// A `t.me/+PHONE` link: that is a user.
    #[error("`{0}` is a phone-number link: that is a user, not a chat")]
    PhoneLink(String),
    #[error(
        "`{0}` is a bot link (`?{1}`): bots are users, not chats; give the chat's @name or `-100…` id"
    )]
    /// A link with a bot start parameter (the second field names it).
    BotLink(String, &'static str),
    /// A `t.me` link to a Telegram feature (the second field names it), not a chat.
    #[error("`{0}` is not a chat: it is a Telegram {1} link")]
    NotAChat(String, &'static str),
    #[error(
        "`{0}` is not a valid username ({1}): Telegram usernames are 4–32 characters of a–z, 0–9 and `_`, start with a letter, do not end with `_` and have no `__`"
    )]
    /// Not a valid username (the second field says which rule it breaks).
    BadUsername(String, &'static str),
    /// The topic part (second field) is not a topic number.
    #[error("`{0}`: `{1}` is not a topic number; a topic is 1 … 2147483647 (`t.me/name/TOPIC`)")]
    BadTopic(String, String),
    /// A topic on a basic group, which has none.
    #[error("`{0}`: basic groups have no topics; only forum supergroups (`-100…`) do")]
    TopicInBasicGroup(String),
    #[error(
        "`{0}` is not a target: use `-1001234567890`, `-123456`, `@name`, `name`, `t.me/name`, `t.me/name/TOPIC`, `t.me/c/1234567890/45` or `t.me/s/name`"
    )]
    /// None of the accepted forms.
    Unrecognised(String),
    /// An id starting with a dash that is not ASCII `-` (the second field names it, e.g.
    /// `U+2212`), as word processors and web pages turn it.
    #[error(
        "`{0}` starts with `{1}` ({2}), not the ASCII minus `-`: type the minus again on the keyboard (`-1001234567890`)"
    )]
    NotAsciiMinus(String, char, String),
    /// `+` and digits: a phone number, i.e. a user.
    #[error(
        "`{0}` is a phone number: that is a user, not a chat; give the chat's @name, its `-100…` id or its t.me link"
    )]
    PhoneNumber(String),
    /// A Telegram Web K address with a numeric chat, whose ids lack the `-100` of channels.
    #[error(
        "`{0}`: Telegram Web K shows chat ids without the `-100` of channels and supergroups; give the chat's @name, its t.me link, or its address in Telegram Web A (web.telegram.org/a/#-100…)"
    )]
    WebKId(String),
}

/// Dashes that look like `-` and come from pasting (word processors, web pages).
const LOOKALIKE_MINUS: &[(char, &str)] = &[
    ('\u{2212}', "U+2212 MINUS SIGN"),
    ('\u{2010}', "U+2010 HYPHEN"),
    ('\u{2011}', "U+2011 NON-BREAKING HYPHEN"),
    ('\u{2012}', "U+2012 FIGURE DASH"),
    ('\u{2013}', "U+2013 EN DASH"),
    ('\u{2014}', "U+2014 EM DASH"),
    ('\u{FE63}', "U+FE63 SMALL HYPHEN-MINUS"),
    ('\u{FF0D}', "U+FF0D FULLWIDTH HYPHEN-MINUS"),
];

/// First path segments of `t.me` links that are Telegram features, not chats, with what they
/// are (core.telegram.org/api/links and its list of reserved `<name>.t.me` subdomains).
const SERVICE_PATHS: &[(&str, &str)] = &[
    ("proxy", "MTProto proxy"),
    ("socks", "SOCKS5 proxy"),
    ("addstickers", "sticker set"),
    ("addemoji", "custom emoji set"),
    ("addstyle", "style"),
    ("addtheme", "theme"),
    ("addlist", "chat folder"),
    ("bg", "chat background"),
    ("setlanguage", "language pack"),
    ("share", "share"),
    ("msg", "share"),
    ("msg_url", "share"),
    ("login", "login code"),
    ("auth", "login"),
    ("confirmphone", "phone confirmation"),
    ("invoice", "invoice"),
    ("iv", "Instant View"),
    ("boost", "boost"),
    ("contact", "contact"),
    ("giftcode", "gift code"),
    ("nft", "collectible gift"),
    ("auction", "auction"),
    ("call", "group call"),
    ("web", "web app"),
    ("stars", "Telegram Stars"),
    ("stars_topup", "Telegram Stars"),
    ("premium_offer", "Premium offer"),
    ("premium_multigift", "Premium gift"),
    ("m", "business chat"),
    ("a", "Telegram Web A"),
    ("k", "Telegram Web K"),
    ("z", "Telegram Web Z"),
];

/// Query parameters of `t.me/name?…` that make it a bot link (the bot is a user, not a chat).
const BOT_PARAMS: &[&str] = &[
    "start",
    "startgroup",
    "startchannel",
    "startapp",
    "game",
    "attach",
    "admin",
];

impl TargetRef {
    /// A chat by bot-API id, no topic.
    pub fn id(id: i64) -> Self {
        TargetRef {
            chat: Chat::Id(id),
            topic: None,
        }
    }

    /// The same chat, in topic `topic` (`None`, or 1 = General: the chat itself).
    pub fn in_topic(mut self, topic: Option<i32>) -> Self {
        self.topic = topic.filter(|t| *t > 1);
        self
    }

    /// The chat without its topic.
    pub fn chat_only(&self) -> TargetRef {
        TargetRef {
            chat: self.chat.clone(),
            topic: None,
        }
    }

    /// Parses every form the module doc lists; anything else is refused with the reason,
    /// naming the input.
    pub fn parse(input: &str) -> Result<Self, TargetParseError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(TargetParseError::Empty);
        }
        let lower = s.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("tg:") {
            return parse_tg(&crate::redact::redact(s), rest.trim_start_matches('/'));
        }
        let without_scheme = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        let rest = without_scheme.unwrap_or(&lower);
        let rest = rest.strip_prefix("www.").unwrap_or(rest);
        let (host, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        // The text errors quote: a pasted proxy link's `secret=` is not echoed back.
        let shown = crate::redact::redact(s);
        if matches!(host, "t.me" | "telegram.me" | "telegram.dog") {
            // Keep the operator's case only for messages; values are lower-cased anyway.
            return parse_link_path(&shown, path);
        }
        if let Some(sub) = host.strip_suffix(".t.me") {
            // `name.t.me/…` is `t.me/name/…` (core.telegram.org/api/links).
            return parse_link_path(&shown, &format!("/{sub}{path}"));
        }
        if host == "web.telegram.org" {
            return parse_web_address(s, path);
        }
        if let Some(first) = s.chars().next()
            && let Some((_, name)) = LOOKALIKE_MINUS.iter().find(|(c, _)| *c == first)
            && s[first.len_utf8()..].starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(TargetParseError::NotAsciiMinus(
                s.to_owned(),
                first,
                (*name).to_owned(),
            ));
        }
        if without_scheme.is_some() || host.contains('.') || s.contains([':', ' ']) {
            return Err(TargetParseError::Unrecognised(s.to_owned()));
        }
        // `@name`, `name`, a chat id, each optionally `/TOPIC` (the canonical key form).
        let (head, topic) = match s.split_once('/') {
            Some((h, t)) => (h, Some(topic_number(s, t)?)),
            None => (s, None),
        };
        let chat = if let Some(name) = head.strip_prefix('@') {
            username(name, s)?
        } else if head.starts_with(['-', '+']) || head.bytes().all(|b| b.is_ascii_digit()) {
            chat_id(head, s)?
        } else {
            username(head, s)?
        };
        with_topic(chat, topic, s)
    }

    /// The canonical text form, used as the key in the store: `-100…` or `@name`, with
    /// `/TOPIC` for a forum topic. [`TargetRef::parse`] reads it back unchanged.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// Whether the chat is a basic group (id in `-1 … -999_999_999_999`); those have no topics.
    pub fn is_basic_group(&self) -> bool {
        matches!(self.chat, Chat::Id(id) if id > -CHANNEL_ID_BASE)
    }
}

/// `t.me` paths: `/name[/TOPIC[/MSG]]`, `/c/ID[/MSG | /TOPIC/MSG]`, `/s/name`, invite links
/// and service paths. `path` starts at the first `/`, `?` or `#` after the host.
fn parse_link_path(original: &str, path: &str) -> Result<TargetRef, TargetParseError> {
    let path = path.split('#').next().unwrap_or_default();
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let segs: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let params = query_params(query);
    let Some(first) = segs.first().copied() else {
        return Err(TargetParseError::Unrecognised(original.to_owned()));
    };
    if let Some(hash) = first.strip_prefix('+') {
        return Err(
            if !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_digit()) {
                TargetParseError::PhoneLink(original.to_owned())
            } else {
                TargetParseError::InviteLink(original.to_owned())
            },
        );
    }
    if first == "joinchat" {
        return Err(TargetParseError::InviteLink(original.to_owned()));
    }
    if first.starts_with('$') {
        return Err(TargetParseError::NotAChat(original.to_owned(), "invoice"));
    }
    if let Some((_, what)) = SERVICE_PATHS.iter().find(|(p, _)| *p == first) {
        return Err(TargetParseError::NotAChat(original.to_owned(), what));
    }
    let query_topic = match params.iter().find(|(k, _)| *k == "thread" || *k == "topic") {
        Some((_, v)) => Some(topic_number(original, v)?),
        None => None,
    };
    match first {
        "c" => {
            let Some(id) = segs.get(1) else {
                return Err(TargetParseError::Unrecognised(original.to_owned()));
            };
            let chat = private_channel(id, original)?;
            for m in segs.iter().skip(2) {
                topic_number(original, m)?;
            }
            let topic = match segs.len() {
                // `c/ID` and `c/ID/MSG` (a message link): the chat.
                2 | 3 => query_topic,
                // `c/ID/TOPIC/MSG`: a message in a topic.
                4 => Some(topic_number(original, segs[2])?),
                _ => return Err(TargetParseError::Unrecognised(original.to_owned())),
            };
            with_topic(chat, topic, original)
        }
        "s" => {
            // `s/name[/MSG]`: the channel's web preview, i.e. the channel.
            let Some(name) = segs.get(1) else {
                return Err(TargetParseError::Unrecognised(original.to_owned()));
            };
            if segs.len() > 3 {
                return Err(TargetParseError::Unrecognised(original.to_owned()));
            }
            for m in segs.iter().skip(2) {
                topic_number(original, m)?;
            }
            with_topic(username(name, original)?, None, original)
        }
        name => {
            if let Some(p) = BOT_PARAMS
                .iter()
                .find(|p| params.iter().any(|(k, _)| k == *p))
            {
                return Err(TargetParseError::BotLink(original.to_owned(), p));
            }
            if params.iter().any(|(k, _)| *k == "boost") {
                return Err(TargetParseError::NotAChat(original.to_owned(), "boost"));
            }
            let chat = username(name, original)?;
            for m in segs.iter().skip(1) {
                topic_number(original, m)?;
            }
            let topic = match (segs.len(), query_topic) {
                (1, q) => q,
                // `name/MSG?thread=T`: message MSG in topic T (as `c/ID/MSG?thread=T`).
                (2, Some(t)) => Some(t),
                // `name/TOPIC` and `name/TOPIC/MSG` (a message in the topic).
                (2 | 3, _) => Some(topic_number(original, segs[1])?),
                _ => return Err(TargetParseError::Unrecognised(original.to_owned())),
            };
            with_topic(chat, topic, original)
        }
    }
}

/// A Telegram Web address bar (`web.telegram.org/k/#@name`, `web.telegram.org/a/#-100…`):
/// the chat is the `#fragment`. Web A's numeric fragments are bot-API ids; Web K's lack the
/// `-100` of channels, so only those that can only be bot-API ids (`-100…` in the channel
/// range) are taken, the others refused with the form to paste. `original` is as written
/// (not lower-cased), `path` lower-cased from the first `/`.
fn parse_web_address(original: &str, path: &str) -> Result<TargetRef, TargetParseError> {
    let unrecognised = || TargetParseError::Unrecognised(original.to_owned());
    let (client, fragment) = path.split_once('#').ok_or_else(unrecognised)?;
    let client = client.trim_matches('/');
    if !matches!(client, "a" | "k" | "z" | "") {
        return Err(unrecognised());
    }
    let fragment = fragment.trim();
    if fragment.is_empty() {
        return Err(unrecognised());
    }
    let chat = if let Some(name) = fragment.strip_prefix('@') {
        username(name, original)?
    } else if fragment.starts_with(['-', '+']) || fragment.bytes().all(|b| b.is_ascii_digit()) {
        let chat = chat_id(fragment, original)?;
        let channel = matches!(chat, Chat::Id(id) if id <= -CHANNEL_ID_BASE);
        if client == "k" && !channel {
            return Err(TargetParseError::WebKId(original.to_owned()));
        }
        chat
    } else {
        username(fragment, original)?
    };
    Ok(TargetRef { chat, topic: None })
}

/// `tg:` links: `resolve?domain=name[&post=…][&thread=T]`, `privatepost?channel=ID[&thread=T]`;
/// `join` is an invite, everything else is not a chat. `rest` is lower-cased, after `tg:` and
/// its slashes.
fn parse_tg(original: &str, rest: &str) -> Result<TargetRef, TargetParseError> {
    let rest = rest.split('#').next().unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let params = query_params(query);
    let get = |k: &str| params.iter().find(|(p, _)| *p == k).map(|(_, v)| *v);
    let topic = match get("thread").or_else(|| get("topic")) {
        Some(t) => Some(topic_number(original, t)?),
        None => None,
    };
    match path.trim_end_matches('/') {
        "resolve" => {
            if get("phone").is_some() {
                return Err(TargetParseError::PhoneLink(original.to_owned()));
            }
            let Some(name) = get("domain") else {
                return Err(TargetParseError::Unrecognised(original.to_owned()));
            };
            if let Some(p) = BOT_PARAMS.iter().find(|p| get(p).is_some()) {
                return Err(TargetParseError::BotLink(original.to_owned(), p));
            }
            with_topic(username(name, original)?, topic, original)
        }
        "privatepost" => {
            let Some(id) = get("channel") else {
                return Err(TargetParseError::Unrecognised(original.to_owned()));
            };
            with_topic(private_channel(id, original)?, topic, original)
        }
        "join" => Err(TargetParseError::InviteLink(original.to_owned())),
        "proxy" => Err(TargetParseError::NotAChat(
            original.to_owned(),
            "MTProto proxy",
        )),
        "socks" => Err(TargetParseError::NotAChat(
            original.to_owned(),
            "SOCKS5 proxy",
        )),
        "addstickers" => Err(TargetParseError::NotAChat(
            original.to_owned(),
            "sticker set",
        )),
        "" => Err(TargetParseError::Unrecognised(original.to_owned())),
        _ => Err(TargetParseError::NotAChat(original.to_owned(), "tg:")),
    }
}

fn query_params(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

fn with_topic(
    chat: Chat,
    topic: Option<i32>,
    original: &str,
) -> Result<TargetRef, TargetParseError> {
    let t = TargetRef { chat, topic: None }.in_topic(topic);
    if t.topic.is_some() && t.is_basic_group() {
        return Err(TargetParseError::TopicInBasicGroup(original.to_owned()));
    }
    Ok(t)
}

/// A topic or message number: 1 … i32::MAX (MTProto message ids are `int`).
fn topic_number(original: &str, s: &str) -> Result<i32, TargetParseError> {
    let bad = || TargetParseError::BadTopic(original.to_owned(), s.to_owned());
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match s.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad()),
    }
}

/// The `ID` of `t.me/c/ID/…` / `tg://privatepost?channel=ID`: an MTProto channel id, which is
/// the chat `-100ID` (`-1_000_000_000_000 - ID`).
fn private_channel(id: &str, original: &str) -> Result<Chat, TargetParseError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetParseError::BadId(original.to_owned()));
    }
    match id.parse::<i64>() {
        Ok(n) if (1..=MAX_CHANNEL_ID).contains(&n) => Ok(Chat::Id(-CHANNEL_ID_BASE - n)),
        _ => Err(TargetParseError::IdOutOfRange(original.to_owned())),
    }
}

/// A bot-API chat id: `-N` (basic group) or `-100…` (channel, supergroup), within Telegram's
/// ranges (TDLib `DialogId`); positive numbers are users.
fn chat_id(s: &str, original: &str) -> Result<Chat, TargetParseError> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetParseError::BadId(original.to_owned()));
    }
    if !negative {
        // `+79161234567`: how phone numbers are written (E.164, 7 digits and more); a bare
        // positive number is a user id.
        return Err(if s.starts_with('+') && digits.len() >= 7 {
            TargetParseError::PhoneNumber(original.to_owned())
        } else {
            TargetParseError::PositiveId(original.to_owned())
        });
    }
    let Ok(magnitude) = digits.parse::<i64>() else {
        return Err(TargetParseError::IdOutOfRange(original.to_owned()));
    };
    if magnitude == 0 {
        return Err(TargetParseError::BadId(original.to_owned()));
    }
    let basic = (1..=MAX_BASIC_GROUP_ID).contains(&magnitude);
    let channel = magnitude
        .checked_sub(CHANNEL_ID_BASE)
        .is_some_and(|c| (1..=MAX_CHANNEL_ID).contains(&c));
    if basic || channel {
        Ok(Chat::Id(-magnitude))
    } else {
        Err(TargetParseError::IdOutOfRange(original.to_owned()))
    }
}

/// Telegram's username rule as TDLib's `is_valid_username` states it (td/utils misc.cpp):
/// at most 32 characters of `a–z`, `A–Z`, `0–9`, `_`, a letter first, no `_` last, no `__`.
/// The minimum is 4: anyone may set 5 or more, and 4-character names are sold as collectibles
/// on Fragment and are valid chat usernames; shorter ones are only ever bots.
fn username(name: &str, original: &str) -> Result<Chat, TargetParseError> {
    let bad = |why| Err(TargetParseError::BadUsername(original.to_owned(), why));
    if name.chars().any(|c| c.is_alphabetic() && !c.is_ascii()) {
        return bad(
            "only Latin letters a–z, digits and `_`: Cyrillic and other alphabets are not allowed",
        );
    }
    if name.len() < 4 {
        return bad("shorter than 4 characters");
    }
    if name.len() > 32 {
        return bad("longer than 32 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("does not start with a letter");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return bad("only a–z, 0–9 and `_` are allowed");
    }
    if name.ends_with('_') {
        return bad("ends with `_`");
    }
    if name.contains("__") {
        return bad("has `__`");
    }
    Ok(Chat::Username(name.to_ascii_lowercase().into_boxed_str()))
}

impl fmt::Display for Chat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chat::Id(id) => write!(f, "{id}"),
            Chat::Username(name) => write!(f, "@{name}"),
        }
    }
}

impl fmt::Debug for Chat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Chat({self})")
    }
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.topic {
            Some(t) => write!(f, "{}/{t}", self.chat),
            None => write!(f, "{}", self.chat),
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
mod tests;
