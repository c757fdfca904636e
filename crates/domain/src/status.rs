//! The words of the journal as types: a delivery's status, a broadcaster's run state, what an
//! operator set a broadcaster to, the kind of a pause Telegram imposed, and why an account is
//! stopped.
//!
//! Inside the program these travel as enums; they become text only at the edges (SQL columns,
//! JSON, templates, log lines) through one `as_str`/`Display` and one `FromStr` each, and the
//! text is the one the journal has always held (`sent`, `flood_wait`, `stopped: PEER_FLOOD`), so
//! an existing database and every script reading `stats --json` keep working.

use std::fmt;
use std::str::FromStr;

/// A word that is not one of an enum's words, as read from a database column or a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {what} (one of: {expected})")]
pub struct UnknownWord {
    /// What was being read (`delivery status`, `pause kind`, …).
    pub what: &'static str,
    /// The text found.
    pub value: String,
    /// The words that are accepted, comma-separated.
    pub expected: String,
}

/// Declares a fieldless enum whose variants are written as fixed words: `as_str`, `Display`,
/// `FromStr`, `ALL` and serde as those words.
macro_rules! words {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored in the journal and shown in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with the stored text (for checks of what a journal or a JSON answer holds).
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::status::UnknownWord;

            fn from_str(s: &str) -> Result<Self, $crate::status::UnknownWord> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err($crate::status::UnknownWord {
                        what: $what,
                        value: s.to_owned(),
                        expected: [$($word),+].join(", "),
                    }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use words;

words! {
    /// Where a delivery stands in the journal (`deliveries.status`).
    pub enum DeliveryStatus("delivery status") {
        /// Written before the send; may have reached Telegram (re-sent with the same random_id).
        Pending = "pending",
        /// Telegram accepted it (or dropped it as a duplicate of an accepted one).
        Sent = "sent",
        /// It will not be sent (a refusal, bad content, too many attempts).
        Failed = "failed",
        /// It waits for a retry (`retry_at`): a transient error, a pause, a stopped account.
        Deferred = "deferred",
    }
}

words! {
    /// The kind of a pause Telegram imposed (`pauses.kind`).
    pub enum PauseKind("pause kind") {
        /// FLOOD_WAIT_X on an account: the whole account waits.
        FloodWait = "flood_wait",
        /// SLOWMODE_WAIT_X in a chat: only that chat waits.
        SlowMode = "slowmode",
    }
}

words! {
    /// What an operator set a broadcaster to (`pause`, `stop`, `start`/`resume`), stored so it
    /// survives a restart (`broadcaster_state.state`).
    pub enum OperatorState("broadcaster state") {
        /// Sending (the default; `start` and `resume` set it back).
        Running = "running",
        /// Paused: the cycle keeps its place and continues on `resume`.
        Paused = "paused",
        /// Stopped by the operator: nothing is sent until `start`.
        Stopped = "stopped",
    }
}

words! {
    /// Whether a target takes sends (`target_status.status`).
    pub enum TargetState("target status") {
        /// Takes sends.
        Active = "active",
        /// Disabled with a reason (a refusal, repeated unknown errors, the operator).
        Disabled = "disabled",
    }
}

/// What about an account's session made it unusable at start-up; each is fixed by
/// `sendmessagebot accounts login NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionProblem {
    /// No session file, or an unfinished login.
    Missing,
    /// The session is encrypted and SESSION_PASSPHRASE is wrong.
    WrongPassphrase,
    /// The session is encrypted and SESSION_PASSPHRASE is not set.
    PassphraseRequired,
    /// The session file is damaged or truncated.
    Damaged,
}

impl SessionProblem {
    /// Every variant.
    pub const ALL: &'static [SessionProblem] = &[
        SessionProblem::Missing,
        SessionProblem::WrongPassphrase,
        SessionProblem::PassphraseRequired,
        SessionProblem::Damaged,
    ];

    /// The start of the stored reason, before the fix (which names the account).
    fn head(self) -> &'static str {
        match self {
            SessionProblem::Missing => "no session: run ",
            SessionProblem::WrongPassphrase => {
                "session not readable: SESSION_PASSPHRASE is wrong (or run "
            }
            SessionProblem::PassphraseRequired => {
                "session not readable: set SESSION_PASSPHRASE (or run "
            }
            SessionProblem::Damaged => "session damaged: run ",
        }
    }

    /// What follows the command in the stored reason.
    fn tail(self) -> &'static str {
        match self {
            SessionProblem::Missing | SessionProblem::Damaged => "",
            SessionProblem::WrongPassphrase | SessionProblem::PassphraseRequired => ")",
        }
    }
}

/// The command that logs an account in again, as the stored reasons quote it.
const LOGIN: &str = "`sendmessagebot accounts login ";

/// Telegram error names that mean "this session is no longer accepted": a new login fixes
/// them. The other account-dead errors (PEER_FLOOD, USER_DEACTIVATED_BAN, …) it does not.
const SESSION_ERRORS: &[&str] = &[
    "AUTH_KEY_UNREGISTERED",
    "AUTH_KEY_INVALID",
    "AUTH_KEY_PERM_EMPTY",
    "SESSION_REVOKED",
    "SESSION_EXPIRED",
];

/// Why an account is stopped (`accounts.stopped_reason`): its broadcasters send nothing until
/// it is fixed. Not the operator's stop of a broadcaster ([`OperatorState::Stopped`]).
///
/// Stored as text: a Telegram error name as is (`PEER_FLOOD`), a session problem as the
/// sentence naming the fix (`no session: run \`sendmessagebot accounts login acc3\``).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountStop {
    /// Telegram refused the account with an account-dead error (the error name:
    /// `AUTH_KEY_UNREGISTERED`, `SESSION_REVOKED`, `PEER_FLOOD`, `USER_DEACTIVATED_BAN` …).
    Telegram(String),
    /// Its session could not be used when the daemon started.
    Session {
        /// What is wrong with it.
        problem: SessionProblem,
        /// The account, as named in the fix.
        account: String,
    },
}

impl AccountStop {
    /// True when `sendmessagebot accounts login` fixes this stop: a session problem, or a
    /// Telegram error saying the session is no longer accepted (not PEER_FLOOD or a ban).
    pub fn fixed_by_login(&self) -> bool {
        match self {
            AccountStop::Session { .. } => true,
            AccountStop::Telegram(code) => SESSION_ERRORS.contains(&code.as_str()),
        }
    }

    /// True for a stop found when the daemon started (its session could not be opened), which
    /// the next start clears by itself once the session opens.
    pub fn is_session_problem(&self) -> bool {
        matches!(self, AccountStop::Session { .. })
    }
}

impl fmt::Display for AccountStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountStop::Telegram(code) => f.write_str(code),
            AccountStop::Session { problem, account } => {
                write!(f, "{}{LOGIN}{account}`{}", problem.head(), problem.tail())
            }
        }
    }
}

impl FromStr for AccountStop {
    type Err = UnknownWord;

    /// Reads a stored reason: one of the session sentences, else a Telegram error name.
    fn from_str(s: &str) -> Result<Self, UnknownWord> {
        for &problem in SessionProblem::ALL {
            if let Some(account) = s
                .strip_prefix(problem.head())
                .and_then(|r| r.strip_prefix(LOGIN))
                .and_then(|r| r.strip_suffix(problem.tail()))
                .and_then(|r| r.strip_suffix('`'))
                .filter(|a| !a.is_empty() && !a.contains('`'))
            {
                return Ok(AccountStop::Session {
                    problem,
                    account: account.to_owned(),
                });
            }
        }
        if s.is_empty() {
            return Err(UnknownWord {
                what: "account stop reason",
                value: String::new(),
                expected: "a Telegram error name or a session problem".into(),
            });
        }
        Ok(AccountStop::Telegram(s.to_owned()))
    }
}

impl serde::Serialize for AccountStop {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A broadcaster's run state as the planner holds it: what `stats`, the dashboard and the
/// control socket show.
///
/// The operator's stop ([`RunState::StoppedByOperator`], shown `stopped`) and a stop of its
/// account by Telegram or a missing session ([`RunState::AccountStopped`], shown
/// `stopped: REASON`) are different states: `start` undoes the first, only a fix of the
/// account undoes the second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Sending.
    Running,
    /// Paused by the operator.
    Paused,
    /// Stopped by the operator (`broadcasters stop`).
    StoppedByOperator,
    /// Its account is stopped (revoked, banned, PEER_FLOOD, no session).
    AccountStopped(AccountStop),
    /// `--once` and its cycle is complete.
    Done,
}

impl From<OperatorState> for RunState {
    /// The run state an operator's command leaves a broadcaster in.
    fn from(state: OperatorState) -> Self {
        match state {
            OperatorState::Running => RunState::Running,
            OperatorState::Paused => RunState::Paused,
            OperatorState::Stopped => RunState::StoppedByOperator,
        }
    }
}

/// The prefix of an account-stopped run state's text.
const ACCOUNT_STOPPED: &str = "stopped: ";

impl RunState {
    /// The first word of the shown state (`running`, `paused`, `stopped`, `done`): what a
    /// template picks its colour by.
    pub fn word(&self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::StoppedByOperator | RunState::AccountStopped(_) => "stopped",
            RunState::Done => "done",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunState::AccountStopped(reason) => write!(f, "{ACCOUNT_STOPPED}{reason}"),
            other => f.write_str(other.word()),
        }
    }
}

impl FromStr for RunState {
    type Err = UnknownWord;

    fn from_str(s: &str) -> Result<Self, UnknownWord> {
        Ok(match s {
            "running" => RunState::Running,
            "paused" => RunState::Paused,
            "stopped" => RunState::StoppedByOperator,
            "done" => RunState::Done,
            _ => match s.strip_prefix(ACCOUNT_STOPPED) {
                Some(reason) => RunState::AccountStopped(reason.parse()?),
                None => {
                    return Err(UnknownWord {
                        what: "broadcaster state",
                        value: s.to_owned(),
                        expected: "running, paused, stopped, stopped: REASON, done".into(),
                    });
                }
            },
        })
    }
}

/// Compares with the shown text (`stopped`, `stopped: PEER_FLOOD`).
impl PartialEq<&str> for RunState {
    fn eq(&self, other: &&str) -> bool {
        match self {
            RunState::AccountStopped(reason) => {
                other.strip_prefix(ACCOUNT_STOPPED).is_some_and(|rest| {
                    let shown = reason.to_string();
                    shown == rest
                })
            }
            state => state.word() == *other,
        }
    }
}

impl serde::Serialize for RunState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T])
    where
        T: Copy + fmt::Display + FromStr<Err = UnknownWord> + PartialEq + fmt::Debug,
    {
        for &v in all {
            let text = v.to_string();
            assert_eq!(text.parse::<T>(), Ok(v), "{text}");
        }
    }

    #[test]
    fn every_word_reads_back_as_itself() {
        round_trip(DeliveryStatus::ALL);
        round_trip(PauseKind::ALL);
        round_trip(OperatorState::ALL);
        round_trip(TargetState::ALL);
        round_trip(crate::ErrorClass::ALL);
    }

    #[test]
    fn the_words_are_the_journals() {
        let words = |all: &[&'static str]| all.to_vec();
        assert_eq!(
            DeliveryStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            words(&["pending", "sent", "failed", "deferred"])
        );
        assert_eq!(
            PauseKind::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            words(&["flood_wait", "slowmode"])
        );
        assert_eq!(
            OperatorState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            words(&["running", "paused", "stopped"])
        );
        assert_eq!(
            TargetState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            words(&["active", "disabled"])
        );
    }

    #[test]
    fn an_unknown_word_is_refused_with_the_words_that_exist() {
        let e = "delivered".parse::<DeliveryStatus>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`delivered` is not a delivery status (one of: pending, sent, failed, deferred)"
        );
        assert!("Sent".parse::<DeliveryStatus>().is_err(), "case matters");
        assert!("".parse::<PauseKind>().is_err());
        assert!("halted".parse::<OperatorState>().is_err());
    }

    #[test]
    fn serde_writes_and_reads_the_words() {
        assert_eq!(
            serde_json::to_string(&PauseKind::FloodWait).unwrap(),
            "\"flood_wait\""
        );
        assert_eq!(
            serde_json::from_str::<DeliveryStatus>("\"deferred\"").unwrap(),
            DeliveryStatus::Deferred
        );
        assert!(serde_json::from_str::<DeliveryStatus>("\"later\"").is_err());
    }

    fn stops() -> Vec<AccountStop> {
        let mut all: Vec<AccountStop> = [
            "AUTH_KEY_UNREGISTERED",
            "SESSION_REVOKED",
            "PEER_FLOOD",
            "USER_DEACTIVATED_BAN",
        ]
        .into_iter()
        .map(|c| AccountStop::Telegram(c.into()))
        .collect();
        for &problem in SessionProblem::ALL {
            for account in ["acc3", "main account", "a-b_c"] {
                all.push(AccountStop::Session {
                    problem,
                    account: account.into(),
                });
            }
        }
        all
    }

    #[test]
    fn account_stops_read_back_as_themselves() {
        for stop in stops() {
            let text = stop.to_string();
            assert_eq!(text.parse::<AccountStop>(), Ok(stop.clone()), "{text}");
            let run = RunState::AccountStopped(stop.clone());
            assert_eq!(run.to_string(), format!("stopped: {text}"));
            assert_eq!(run.to_string().parse::<RunState>(), Ok(run));
        }
        assert!("".parse::<AccountStop>().is_err());
    }

    #[test]
    fn session_stops_keep_the_sentences_stored_so_far() {
        let s = |problem| AccountStop::Session {
            problem,
            account: "acc3".into(),
        };
        assert_eq!(
            s(SessionProblem::Missing).to_string(),
            "no session: run `sendmessagebot accounts login acc3`"
        );
        assert_eq!(
            s(SessionProblem::WrongPassphrase).to_string(),
            "session not readable: SESSION_PASSPHRASE is wrong (or run `sendmessagebot accounts login acc3`)"
        );
        assert_eq!(
            s(SessionProblem::PassphraseRequired).to_string(),
            "session not readable: set SESSION_PASSPHRASE (or run `sendmessagebot accounts login acc3`)"
        );
        assert_eq!(
            s(SessionProblem::Damaged).to_string(),
            "session damaged: run `sendmessagebot accounts login acc3`"
        );
    }

    #[test]
    fn login_fixes_session_stops_but_not_bans() {
        for stop in stops() {
            let want = match &stop {
                AccountStop::Session { .. } => true,
                AccountStop::Telegram(c) => c.starts_with("AUTH_KEY") || c.starts_with("SESSION"),
            };
            assert_eq!(stop.fixed_by_login(), want, "{stop}");
        }
        assert!(!AccountStop::Telegram("PEER_FLOOD".into()).fixed_by_login());
        // A text that only looks like a session sentence is a Telegram name, not a session
        // problem (and login does not claim to fix it).
        let odd: AccountStop = "session damaged: call support".parse().unwrap();
        assert_eq!(
            odd,
            AccountStop::Telegram("session damaged: call support".into())
        );
        assert!(!odd.fixed_by_login());
    }

    #[test]
    fn run_states_read_back_and_keep_operator_and_account_stops_apart() {
        let all = [
            RunState::Running,
            RunState::Paused,
            RunState::StoppedByOperator,
            RunState::AccountStopped(AccountStop::Telegram("PEER_FLOOD".into())),
            RunState::Done,
        ];
        for s in &all {
            assert_eq!(s.to_string().parse::<RunState>().as_ref(), Ok(s));
        }
        assert_eq!(RunState::StoppedByOperator.to_string(), "stopped");
        assert_eq!(all[3].to_string(), "stopped: PEER_FLOOD");
        assert_eq!(all[3].word(), "stopped");
        assert_ne!(
            "stopped".parse::<RunState>(),
            "stopped: PEER_FLOOD".parse::<RunState>()
        );
        assert!("halted".parse::<RunState>().is_err());
        assert!("stopped: ".parse::<RunState>().is_err());
    }
}
