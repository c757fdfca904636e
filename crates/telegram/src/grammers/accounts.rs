//! Account listing, checking and logout: what `accounts list`, `accounts check` and
//! `accounts logout` show, each problem with the command that fixes it.

use grammers_tl_types as tl;

use super::client::{AccountClient, ApiSettings, CallError, ProxyUrl};
use super::login::AccountInfo;
use super::session::{Identity, SessionError, SessionStore};

/// One account as its session file describes it (no network).
#[derive(Debug)]
pub struct AccountSummary {
    pub name: String,
    /// Who is logged in (`None`: a session without a completed login), or why the file
    /// cannot be read.
    pub session: Result<SessionSummary, SessionError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub identity: Option<Identity>,
    pub home_dc: i32,
}

/// Every account that has a session file under the store's directory.
pub fn list_accounts(store: &SessionStore) -> Result<Vec<AccountSummary>, SessionError> {
    Ok(store
        .accounts()?
        .into_iter()
        .map(|name| {
            let session = store.load(&name).and_then(|s| {
                s.map(|s| SessionSummary {
                    identity: s.identity.clone(),
                    home_dc: s.home_dc,
                })
                .ok_or_else(|| SessionError::Io {
                    path: store.dir().join(format!("{name}.session")),
                    error: std::io::ErrorKind::NotFound.into(),
                })
            });
            AccountSummary { name, session }
        })
        .collect())
}

/// What `accounts check` found for one account.
#[derive(Debug)]
pub enum AccountHealth {
    /// The session works: Telegram answered as this user.
    Ok(AccountInfo),
    /// No session file.
    NoSession,
    /// A session without a completed login.
    NotLoggedIn,
    /// The file cannot be read (damaged, wrong passphrase, …).
    Damaged(SessionError),
    /// Telegram no longer accepts the session (AUTH_KEY_UNREGISTERED, SESSION_REVOKED, …) or
    /// the account is deactivated or banned.
    Dead { code: String },
    /// Telegram asks to wait before the next request.
    FloodWait(u32),
    /// Telegram could not be reached (network, proxy).
    Unreachable(String),
}

impl AccountHealth {
    pub fn is_ok(&self) -> bool {
        matches!(self, AccountHealth::Ok(_))
    }

    /// One line telling the user what to do.
    pub fn advice(&self, account: &str) -> String {
        match self {
            AccountHealth::Ok(_) => "ok".to_owned(),
            AccountHealth::NoSession | AccountHealth::NotLoggedIn => {
                format!("not logged in: run `sendmessagebot accounts login {account}`")
            }
            AccountHealth::Damaged(e) => e.to_string(),
            AccountHealth::Dead { code } if code.starts_with("USER_DEACTIVATED") => format!(
                "Telegram reports the account as deactivated or banned ({code}); it cannot post"
            ),
            AccountHealth::Dead { code } => format!(
                "Telegram no longer accepts this session ({code}): run `sendmessagebot accounts login {account}`"
            ),
            AccountHealth::FloodWait(s) => {
                format!("Telegram asks to wait {s} s; check again later")
            }
            AccountHealth::Unreachable(e) => {
                format!("cannot reach Telegram ({e}): check the network and the account's proxy")
            }
        }
    }
}

/// Opens the account's session and asks Telegram who it is.
pub async fn check_account(
    api: &ApiSettings,
    store: &SessionStore,
    account: &str,
    proxy: Option<&ProxyUrl>,
) -> AccountHealth {
    let stored = match store.load(account) {
        Ok(Some(s)) => s,
        Ok(None) => return AccountHealth::NoSession,
        Err(e) => return AccountHealth::Damaged(e),
    };
    if stored.identity.is_none() {
        return AccountHealth::NotLoggedIn;
    }
    let client = AccountClient::with_session(api, store, account, stored, proxy);
    let me = client
        .invoke(&tl::functions::users::GetUsers {
            id: vec![tl::enums::InputUser::UserSelf],
        })
        .await;
    match me {
        Ok(users) => match users.into_iter().next() {
            Some(tl::enums::User::User(u)) => AccountHealth::Ok(AccountInfo {
                account: account.to_owned(),
                user_id: u.id,
                first_name: u.first_name.unwrap_or_default(),
                username: u.username,
                bot: u.bot,
                dc: client.session.home_dc(),
            }),
            _ => AccountHealth::Dead {
                code: "USER_EMPTY".to_owned(),
            },
        },
        Err(CallError::Rpc {
            code: 401, name, ..
        }) => AccountHealth::Dead { code: name },
        Err(CallError::Rpc { name, value, .. }) if name.contains("FLOOD_WAIT") => {
            AccountHealth::FloodWait(value.unwrap_or(0))
        }
        Err(CallError::Rpc { name, .. }) if name.starts_with("USER_DEACTIVATED") => {
            AccountHealth::Dead { code: name }
        }
        Err(CallError::Rpc { name, .. }) => AccountHealth::Unreachable(name),
        Err(e) => AccountHealth::Unreachable(e.to_string()),
    }
}

/// Logs the account out on Telegram (best effort) and deletes its session file. Returns
/// whether there was a session.
pub async fn logout(
    api: &ApiSettings,
    store: &SessionStore,
    account: &str,
    proxy: Option<&ProxyUrl>,
) -> Result<bool, SessionError> {
    let stored = match store.load(account) {
        Ok(Some(s)) => Some(s),
        Ok(None) => None,
        // A damaged file cannot be used to log out; deleting it is still what the user asked.
        Err(SessionError::Corrupted { .. } | SessionError::WrongPassphrase { .. }) => None,
        Err(e) => return Err(e),
    };
    if let Some(stored) = stored.filter(|s| s.identity.is_some()) {
        let client = AccountClient::with_session(api, store, account, stored, proxy);
        if let Err(e) = client.invoke(&tl::functions::auth::LogOut {}).await {
            tracing::warn!(account, error = %e, "logout on Telegram failed; deleting the session anyway");
        }
        drop(client);
    }
    store.delete(account)
}
