//! Logging an account in, as a library API the CLI drives: request a code, sign in with it,
//! answer the 2FA password if Telegram asks; or sign a bot in by token. On success the session
//! file records who logged in. Errors say what the user should do next; nothing secret (code,
//! password, token, api_hash) is logged or put in an error.

use std::fmt;

use grammers_client::SignInError;
use grammers_client::client::{LoginToken, PasswordToken};
use grammers_client::peer::User;
use grammers_mtsender::InvocationError;
use secrecy::{ExposeSecret, SecretString};
use tracing::info;

use super::client::{AccountClient, ApiSettings, ProxyUrl};
use super::session::{Identity, SessionError, SessionStore, StoredSession};

/// Who an account turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub account: String,
    pub user_id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub bot: bool,
    pub dc: i32,
}

/// A code was sent; pass this back to [`Login::sign_in`].
pub struct CodeRequest(LoginToken);

impl fmt::Debug for CodeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeRequest(..)")
    }
}

/// Telegram wants the account's 2FA password; pass this to [`Login::check_password`].
pub struct PasswordRequest(PasswordToken);

impl PasswordRequest {
    pub fn hint(&self) -> Option<&str> {
        self.0.hint()
    }
}

impl fmt::Debug for PasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRequest")
            .field("hint", &self.hint())
            .finish()
    }
}

/// What signing in with a code led to.
#[derive(Debug)]
pub enum SignIn {
    Done(AccountInfo),
    PasswordNeeded(PasswordRequest),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the login code is wrong or has expired: request a new code and try again")]
    InvalidCode,
    #[error(
        "this phone number has no Telegram account: sign up with an official Telegram app first, then log in here"
    )]
    SignUpRequired,
    #[error("the 2FA password is wrong{}: try again", .retry.hint().map(|h| format!(" (hint: {h})")).unwrap_or_default())]
    InvalidPassword { retry: PasswordRequest },
    #[error("the phone number is not valid: use the international form, e.g. +15551234567")]
    PhoneInvalid,
    #[error("Telegram has banned this phone number")]
    PhoneBanned,
    #[error("the bot token was refused by Telegram: check it with @BotFather")]
    BotTokenInvalid,
    #[error("API_ID / API_HASH were refused by Telegram: check them at https://my.telegram.org")]
    ApiIdInvalid,
    #[error("Telegram asks to wait {0} s before trying to log in again")]
    FloodWait(u32),
    #[error("Telegram refused the login: {0}")]
    Telegram(String),
    #[error("cannot reach Telegram: {0}")]
    Network(String),
    #[error(transparent)]
    Session(#[from] SessionError),
}

fn from_invocation(client: &AccountClient, e: InvocationError) -> LoginError {
    match e {
        InvocationError::Rpc(r) => match r.name.as_str() {
            "PHONE_NUMBER_INVALID" => LoginError::PhoneInvalid,
            "PHONE_NUMBER_BANNED" => LoginError::PhoneBanned,
            "API_ID_INVALID" | "API_ID_PUBLISHED_FLOOD" => LoginError::ApiIdInvalid,
            "ACCESS_TOKEN_INVALID" | "ACCESS_TOKEN_EXPIRED" => LoginError::BotTokenInvalid,
            n if n.starts_with("PHONE_CODE_") => LoginError::InvalidCode,
            n if n.contains("FLOOD_WAIT") => LoginError::FloodWait(r.value.unwrap_or(0)),
            n => LoginError::Telegram(n.to_owned()),
        },
        // Display of non-RPC errors carries no request content, but a proxy URL may be in it.
        other => LoginError::Network(
            client
                .proxy_fault()
                .unwrap_or_else(|| client.scrub(other.to_string())),
        ),
    }
}

fn from_sign_in(client: &AccountClient, e: SignInError) -> LoginError {
    match e {
        SignInError::SignUpRequired => LoginError::SignUpRequired,
        SignInError::InvalidCode => LoginError::InvalidCode,
        SignInError::InvalidPassword(t) => LoginError::InvalidPassword {
            retry: PasswordRequest(t),
        },
        SignInError::PasswordRequired(_) => LoginError::Telegram("SESSION_PASSWORD_NEEDED".into()),
        SignInError::Other(e) => from_invocation(client, e),
    }
}

/// One login in progress for one account.
pub struct Login {
    client: AccountClient,
    api_hash: SecretString,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("account", &self.client.name())
            .finish()
    }
}

impl Login {
    /// Starts from the account's session file if it has one (a damaged file is an error:
    /// use [`Login::start_fresh`] to replace it), else from a new session.
    pub fn start(
        api: &ApiSettings,
        store: &SessionStore,
        account: &str,
        proxy: Option<&ProxyUrl>,
    ) -> Result<Self, LoginError> {
        let client = AccountClient::open(api, store, account, proxy)?;
        Ok(Login {
            client,
            api_hash: api.api_hash.clone(),
        })
    }

    /// Starts from a new session, ignoring (and on success replacing) any existing file.
    pub fn start_fresh(
        api: &ApiSettings,
        store: &SessionStore,
        account: &str,
        proxy: Option<&ProxyUrl>,
    ) -> Result<Self, LoginError> {
        Self::with_session(api, store, account, StoredSession::default(), proxy)
    }

    /// Starts from a given session (for a server of our own, see [`StoredSession::for_server`]).
    pub fn with_session(
        api: &ApiSettings,
        store: &SessionStore,
        account: &str,
        session: StoredSession,
        proxy: Option<&ProxyUrl>,
    ) -> Result<Self, LoginError> {
        store.path(account)?;
        let client = AccountClient::with_session(api, store, account, session, proxy);
        Ok(Login {
            client,
            api_hash: api.api_hash.clone(),
        })
    }

    /// True when the session is already logged in (then there is nothing to do).
    pub async fn is_authorized(&self) -> Result<bool, LoginError> {
        self.timed(self.client.client.is_authorized())
            .await?
            .map_err(|e| from_invocation(&self.client, e))
    }

    /// Asks Telegram to send a login code to `phone` (in the Telegram app, or by SMS).
    pub async fn request_code(&self, phone: &str) -> Result<CodeRequest, LoginError> {
        let token = self
            .timed(
                self.client
                    .client
                    .request_login_code(phone, self.api_hash.expose_secret()),
            )
            .await?
            .map_err(|e| from_invocation(&self.client, e))?;
        info!(account = self.client.name(), "login code requested");
        Ok(CodeRequest(token))
    }

    /// Signs in with the code the user received.
    pub async fn sign_in(&self, request: &CodeRequest, code: &str) -> Result<SignIn, LoginError> {
        match self
            .timed(self.client.client.sign_in(&request.0, code.trim()))
            .await?
        {
            Ok(user) => Ok(SignIn::Done(self.complete(&user)?)),
            Err(SignInError::PasswordRequired(t)) => Ok(SignIn::PasswordNeeded(PasswordRequest(t))),
            Err(e) => Err(from_sign_in(&self.client, e)),
        }
    }

    /// Answers Telegram's 2FA password request (SRP: the password itself is never sent).
    pub async fn check_password(
        &self,
        request: PasswordRequest,
        password: &SecretString,
    ) -> Result<AccountInfo, LoginError> {
        let user = self
            .timed(
                self.client
                    .client
                    .check_password(request.0, password.expose_secret().as_bytes()),
            )
            .await?
            .map_err(|e| from_sign_in(&self.client, e))?;
        self.complete(&user)
    }

    /// Signs a bot account in with its token from @BotFather.
    pub async fn bot_sign_in(&self, token: &SecretString) -> Result<AccountInfo, LoginError> {
        let user = self
            .timed(
                self.client
                    .client
                    .bot_sign_in(token.expose_secret(), self.api_hash.expose_secret()),
            )
            .await?
            .map_err(|e| from_invocation(&self.client, e))?;
        self.complete(&user)
    }

    async fn timed<T>(&self, call: impl Future<Output = T>) -> Result<T, LoginError> {
        self.client
            .before_call()
            .map_err(|e| LoginError::Network(e.to_string()))?;
        let limit = self.client.timeout();
        tokio::time::timeout(limit, call).await.map_err(|_| {
            LoginError::Network(
                self.client
                    .proxy_fault()
                    .unwrap_or_else(|| format!("no answer within {limit:?}")),
            )
        })
    }

    fn complete(&self, user: &User) -> Result<AccountInfo, LoginError> {
        let identity = Identity {
            user_id: user.id().bare_id().unwrap_or_default(),
            bot: user.is_bot(),
            first_name: user.first_name().unwrap_or_default().to_owned(),
            username: user.username().map(str::to_owned),
        };
        self.client
            .session
            .set_identity(Some(identity.clone()))
            .map_err(|e| match e {
                super::session::LiveSessionError::Store(s) => LoginError::Session(s),
                other => LoginError::Network(other.to_string()),
            })?;
        info!(
            account = self.client.name(),
            user_id = identity.user_id,
            bot = identity.bot,
            "logged in"
        );
        Ok(AccountInfo {
            account: self.client.name().to_owned(),
            user_id: identity.user_id,
            first_name: identity.first_name,
            username: identity.username,
            bot: identity.bot,
            dc: self.client.session.home_dc(),
        })
    }
}
