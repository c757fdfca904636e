//! Fetching a source's rows: text files, the Google Sheets API v4 (`values.get`) with a
//! service account, and CSV over HTTP (a sheet's export, a published sheet, any CSV URL).
//!
//! Rate limits (429) and server errors are retried with backoff, honouring `Retry-After`; a
//! rejected access token (401) is replaced once. Nothing here decides whether the rows become
//! a version: that is [`crate::update`]'s job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gcp_auth::{CustomServiceAccount, TokenProvider};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::rows::{SheetRow, is_header, looks_like_status_or_priority, read_grid, rows_from_text};
use crate::{SheetRef, Source, SourceError};

/// Read-only access to spreadsheets: all the service account needs.
pub const SHEETS_SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets.readonly";
pub const DEFAULT_SHEETS_API: &str = "https://sheets.googleapis.com";
pub const DEFAULT_EXPORT_BASE: &str = "https://docs.google.com";

/// How sources are reached. Each crate owns its settings; these come from `.env`.
#[derive(Debug, Clone)]
pub struct SourcesSettings {
    /// GOOGLE_CREDENTIALS_FILE: the service account's JSON key. Without it, sheets are read
    /// through their CSV export (shared "anyone with the link").
    pub credentials_file: Option<PathBuf>,
    /// GOOGLE_TOKEN_URI: replaces the key's `token_uri` (tests, proxies).
    pub token_uri: Option<String>,
    /// GOOGLE_SHEETS_API_URL: the Sheets API base.
    pub sheets_api: String,
    /// GOOGLE_EXPORT_URL: where `/spreadsheets/d/ID/export?format=csv` is fetched.
    pub export_base: String,
    /// Upper bound on one HTTP request; `None` leaves it unbounded (tests on a paused clock).
    pub timeout: Option<Duration>,
    /// Attempts per fetch when Google answers 429 / 5xx or the network fails.
    pub max_attempts: u32,
    /// First retry wait (doubled each time), when the answer carries no `Retry-After`.
    pub backoff: Duration,
    /// No single wait is longer than this, whatever `Retry-After` says.
    pub max_backoff: Duration,
    /// Relative file sources are read from here (the configuration file's directory).
    pub base_dir: PathBuf,
    /// SOURCE_MAX_BYTES: the most one source may send (a file, a CSV, a Sheets API answer);
    /// reading stops there and the fetch is refused (the current version is kept).
    pub max_bytes: u64,
    /// SOURCE_MAX_ROWS: the most messages (non-empty rows) one source may hold.
    pub max_rows: usize,
}

/// SOURCE_MAX_BYTES default: 5 MB, some 10,000 long messages.
pub const DEFAULT_MAX_BYTES: u64 = 5_000_000;
/// SOURCE_MAX_ROWS default.
pub const DEFAULT_MAX_ROWS: usize = 10_000;

impl Default for SourcesSettings {
    fn default() -> Self {
        SourcesSettings {
            credentials_file: None,
            token_uri: None,
            sheets_api: DEFAULT_SHEETS_API.into(),
            export_base: DEFAULT_EXPORT_BASE.into(),
            timeout: Some(Duration::from_secs(30)),
            max_attempts: 5,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
            base_dir: PathBuf::from("."),
            max_bytes: DEFAULT_MAX_BYTES,
            max_rows: DEFAULT_MAX_ROWS,
        }
    }
}

/// "5 MB", "700 kB", "512 bytes".
fn show_bytes(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(100_000) {
        format!("{} MB", n as f64 / 1e6)
    } else if n >= 1_000 && n.is_multiple_of(100) {
        format!("{} kB", n as f64 / 1e3)
    } else {
        format!("{n} bytes")
    }
}

impl SourcesSettings {
    /// Reads the seed's GOOGLE_CREDENTIALS_FILE (and the test/proxy overrides) and the limits
    /// SOURCE_MAX_BYTES (bytes; `5MB`, `500kB` also read) and SOURCE_MAX_ROWS from the merged
    /// `.env` + environment. A relative key path is taken from `base_dir`. Errors name the
    /// variable.
    pub fn from_env(env: &HashMap<String, String>, base_dir: &Path) -> Result<Self, String> {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let d = SourcesSettings::default();
        let max_bytes = match get("SOURCE_MAX_BYTES") {
            None => d.max_bytes,
            Some(v) => parse_bytes(&v).filter(|n| *n >= 1_000).ok_or_else(|| {
                format!(
                    "SOURCE_MAX_BYTES={v}: expected a size of at least 1000 bytes, e.g. 5000000, 5MB or 500kB"
                )
            })?,
        };
        let max_rows = match get("SOURCE_MAX_ROWS") {
            None => d.max_rows,
            Some(v) => v.replace('_', "").parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(
                || format!("SOURCE_MAX_ROWS={v}: expected a whole number of rows, at least 1 (10000 by default)"),
            )?,
        };
        Ok(SourcesSettings {
            max_bytes,
            max_rows,
            credentials_file: get("GOOGLE_CREDENTIALS_FILE").map(|p| base_dir.join(p)),
            token_uri: get("GOOGLE_TOKEN_URI"),
            sheets_api: get("GOOGLE_SHEETS_API_URL").unwrap_or(d.sheets_api),
            export_base: get("GOOGLE_EXPORT_URL").unwrap_or(d.export_base),
            base_dir: base_dir.to_path_buf(),
            ..d
        })
    }
}

/// `5000000`, `5MB`, `5 mb`, `500kB`, `5MiB` → bytes.
fn parse_bytes(v: &str) -> Option<u64> {
    let t = v.trim().replace('_', "");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = n * mult;
    (bytes.is_finite() && (0.0..1e15).contains(&bytes)).then_some(bytes as u64)
}

/// Rows read from one source.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// How the source is named in messages ("Google Sheet 1Abc… (tab gid=0)").
    pub origin: String,
    /// "row" for sheets and CSV, "line" for text files.
    pub unit: &'static str,
    pub rows: Vec<SheetRow>,
    /// What the operator should know about how the rows were read (the no-status rule, the
    /// column separator of a CSV); `messages update` and `sheets test` print them.
    pub notes: Vec<String>,
}

struct GoogleAuth {
    provider: Arc<CustomServiceAccount>,
    client_email: String,
}

/// Fetches sources; one per process, shared by the CLI commands and the daemon's refresh.
pub struct Fetcher {
    settings: SourcesSettings,
    http: reqwest::Client,
    auth: Mutex<Option<Arc<GoogleAuth>>>,
    on_wait: Option<WaitHook>,
}

/// A wait before the next attempt of a fetch (a 429, a 5xx, the network), as told to the hook
/// of [`Fetcher::on_wait`] before the wait begins: a long `Retry-After` is minutes of nothing
/// otherwise (issue 19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryWait {
    /// What failed, naming the source (never a URL's query): "CSV https://host/p.csv: still
    /// rate limited (429) …".
    pub reason: String,
    /// How long until the next attempt (the server's `Retry-After` or the backoff, at most
    /// SourcesSettings::max_backoff).
    pub wait: Duration,
    /// Whether `wait` is what the server asked for (`Retry-After`).
    pub asked_by_server: bool,
    /// The attempt that failed (1-based), and the most there will be.
    pub attempt: u32,
    pub max_attempts: u32,
}

type WaitHook = Arc<dyn Fn(&RetryWait) + Send + Sync>;

#[derive(Deserialize)]
struct ValueRange {
    #[serde(default)]
    range: String,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct SheetsMeta {
    #[serde(default)]
    sheets: Vec<SheetEntry>,
}
#[derive(Deserialize)]
struct SheetEntry {
    properties: SheetProps,
}
#[derive(Deserialize)]
struct SheetProps {
    #[serde(rename = "sheetId")]
    sheet_id: u64,
    title: String,
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
}

/// reqwest is built without a TLS provider of its own (keeps aws-lc out); install ring's.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

enum Attempt {
    Done(Response),
    Retry {
        wait: Option<Duration>,
        last: SourceError,
    },
    Fail(SourceError),
}

impl Fetcher {
    pub fn new(settings: SourcesSettings) -> Result<Self, SourceError> {
        install_crypto_provider();
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("sendmessagebot/", env!("CARGO_PKG_VERSION")));
        if let Some(t) = settings.timeout {
            b = b.timeout(t).connect_timeout(t.min(Duration::from_secs(10)));
        }
        let http = b.build().map_err(|e| SourceError::Network {
            origin: "HTTP client".into(),
            detail: error_chain(&e.without_url()),
        })?;
        Ok(Fetcher {
            settings,
            http,
            auth: Mutex::new(None),
            on_wait: None,
        })
    }

    /// Calls `hook` before each wait between two attempts (`messages update` shows it).
    #[must_use]
    pub fn on_wait(mut self, hook: impl Fn(&RetryWait) + Send + Sync + 'static) -> Self {
        self.on_wait = Some(Arc::new(hook));
        self
    }

    pub fn settings(&self) -> &SourcesSettings {
        &self.settings
    }

    /// Whether sheets go through the API (a key is configured) rather than the CSV export.
    pub fn uses_service_account(&self) -> bool {
        self.settings.credentials_file.is_some()
    }

    /// The service account's e-mail (to share sheets with), reading the key if needed.
    pub async fn client_email(&self) -> Result<Option<String>, SourceError> {
        if self.settings.credentials_file.is_none() {
            return Ok(None);
        }
        Ok(Some(self.google_auth().await?.client_email.clone()))
    }

    /// Reads the rows of `source`. Nothing larger than SOURCE_MAX_BYTES is read (HTTP bodies
    /// are read in chunks and dropped at the limit), nothing with more than SOURCE_MAX_ROWS
    /// messages is returned.
    pub async fn fetch(&self, source: &Source) -> Result<Fetched, SourceError> {
        let origin = source.describe();
        let (unit, rows, notes) = match source {
            Source::File(p) => {
                let path = if p.is_absolute() {
                    p.clone()
                } else {
                    self.settings.base_dir.join(p)
                };
                let bytes = self.read_file(&origin, &path).await?;
                if is_csv_path(&path) {
                    let (grid, sep) = read_csv(&origin, &bytes)?;
                    let (rows, mut notes) = read_grid(&origin, 1, &grid)?;
                    notes.extend(sep.notes());
                    ("row", rows, notes)
                } else {
                    let text = utf8(&origin, &bytes, "save it as UTF-8")?;
                    ("line", rows_from_text(text), Vec::new())
                }
            }
            Source::GoogleSheet(sheet) if self.uses_service_account() => {
                let (first_row, grid) = self.sheet_values(&origin, sheet).await?;
                let (rows, notes) = read_grid(&origin, first_row, &grid)?;
                ("row", rows, notes)
            }
            Source::GoogleSheet(sheet) => {
                let url = sheet.export_url(&self.settings.export_base);
                let (grid, sep) = self.csv_grid(&origin, &url, true).await?;
                let (rows, mut notes) = read_grid(&origin, 1, &grid)?;
                notes.extend(sep.notes());
                ("row", rows, notes)
            }
            Source::Csv(url) => {
                let google = url.contains("docs.google.com/");
                let (grid, sep) = self.csv_grid(&origin, url, google).await?;
                let (rows, mut notes) = read_grid(&origin, 1, &grid)?;
                notes.extend(sep.notes());
                ("row", rows, notes)
            }
        };
        if rows.len() > self.settings.max_rows {
            return Err(SourceError::TooLarge {
                origin,
                limit: format!("{} messages ({} read)", self.settings.max_rows, rows.len()),
                hint: "split the messages over several sets, or raise SOURCE_MAX_ROWS in .env"
                    .into(),
            });
        }
        Ok(Fetched {
            origin,
            unit,
            rows,
            notes,
        })
    }

    fn too_large(&self, origin: &str) -> SourceError {
        SourceError::TooLarge {
            origin: origin.to_string(),
            limit: show_bytes(self.settings.max_bytes),
            hint: "check that the source is the right one (a price list is far smaller), or raise SOURCE_MAX_BYTES in .env".into(),
        }
    }

    /// A file, read up to SOURCE_MAX_BYTES (+1 byte, to know it is larger).
    async fn read_file(&self, origin: &str, path: &Path) -> Result<Vec<u8>, SourceError> {
        use tokio::io::AsyncReadExt as _;
        let file_err = |e: std::io::Error| SourceError::File {
            origin: origin.to_string(),
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let f = tokio::fs::File::open(path).await.map_err(file_err)?;
        let mut bytes = Vec::new();
        f.take(self.settings.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(file_err)?;
        if bytes.len() as u64 > self.settings.max_bytes {
            return Err(self.too_large(origin));
        }
        Ok(bytes)
    }

    /// The body of `resp`, chunk by chunk, refused as soon as it passes SOURCE_MAX_BYTES (a
    /// `Content-Length` above it is refused before reading anything).
    async fn body(&self, origin: &str, mut resp: Response) -> Result<Vec<u8>, SourceError> {
        let limit = self.settings.max_bytes;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(self.too_large(origin));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| network_err(origin, e))? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(self.too_large(origin));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    async fn google_auth(&self) -> Result<Arc<GoogleAuth>, SourceError> {
        let mut slot = self.auth.lock().await;
        if let Some(a) = slot.as_ref() {
            return Ok(a.clone());
        }
        let Some(path) = &self.settings.credentials_file else {
            return Err(SourceError::Credentials {
                path: "(not set)".into(),
                detail: "GOOGLE_CREDENTIALS_FILE is not set".into(),
            });
        };
        let shown = path.display().to_string();
        let cred = |detail: String| SourceError::Credentials {
            path: shown.clone(),
            detail,
        };
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| cred(format!("cannot read: {e}")))?;
        let mut json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| cred(format!("not a JSON key file: {e}")))?;
        let key: KeyFile = serde_json::from_value(json.clone())
            .map_err(|e| cred(format!("not a key file: {e}")))?;
        if key.kind.as_deref() != Some("service_account") {
            return Err(cred(format!(
                "its \"type\" is {:?}, not \"service_account\": an OAuth client or user credential does not work here",
                key.kind.unwrap_or_default()
            )));
        }
        let client_email = key
            .client_email
            .ok_or_else(|| cred("it has no \"client_email\"".into()))?;
        if let (Some(uri), Some(obj)) = (&self.settings.token_uri, json.as_object_mut()) {
            obj.insert("token_uri".into(), serde_json::Value::String(uri.clone()));
        }
        let provider = CustomServiceAccount::from_json(&json.to_string()).map_err(|e| {
            cred(format!(
                "its private key is not usable: {}",
                error_chain(&e)
            ))
        })?;
        let auth = Arc::new(GoogleAuth {
            provider: Arc::new(provider),
            client_email,
        });
        *slot = Some(auth.clone());
        Ok(auth)
    }

    /// Forgets the cached token (and key), so the next request gets a fresh token.
    async fn drop_auth(&self) {
        *self.auth.lock().await = None;
    }

    async fn bearer(&self, origin: &str) -> Result<(String, String), SourceError> {
        let auth = self.google_auth().await?;
        let token = auth
            .provider
            .token(&[SHEETS_SCOPE])
            .await
            .map_err(|e| SourceError::Token {
                origin: origin.to_string(),
                client_email: auth.client_email.clone(),
                detail: error_chain(&e),
            })?;
        Ok((token.as_str().to_string(), auth.client_email.clone()))
    }

    async fn sheet_values(
        &self,
        origin: &str,
        sheet: &SheetRef,
    ) -> Result<(usize, Vec<Vec<String>>), SourceError> {
        let base = self.settings.sheets_api.trim_end_matches('/');
        let range = match sheet.gid {
            None => "A:E".to_string(),
            Some(gid) => {
                let url = format!(
                    "{base}/v4/spreadsheets/{}?fields=sheets.properties(sheetId%2Ctitle)",
                    sheet.id
                );
                let resp = self.google_get(origin, &url).await?;
                let meta: SheetsMeta = read_json(origin, &self.body(origin, resp).await?)?;
                let Some(tab) = meta
                    .sheets
                    .into_iter()
                    .find(|s| s.properties.sheet_id == gid)
                else {
                    return Err(SourceError::Row {
                        origin: origin.to_string(),
                        location: format!("tab gid={gid}"),
                        message: "the spreadsheet has no tab with this gid: copy the URL again with the right tab open".into(),
                    });
                };
                format!("'{}'!A:E", tab.properties.title.replace('\'', "''"))
            }
        };
        let url = format!(
            "{base}/v4/spreadsheets/{}/values/{}?majorDimension=ROWS&valueRenderOption=FORMATTED_VALUE",
            sheet.id,
            encode_segment(&range)
        );
        let resp = self.google_get(origin, &url).await?;
        let values: ValueRange = read_json(origin, &self.body(origin, resp).await?)?;
        let first_row = first_row_of(&values.range);
        let grid = values
            .values
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        Ok((first_row, grid))
    }

    /// GET with the bearer token; 401 gets one fresh token, 429/5xx/network get backoff.
    async fn google_get(&self, origin: &str, url: &str) -> Result<Response, SourceError> {
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (token, client_email) = self.bearer(origin).await?;
            let res = self.http.get(url).bearer_auth(&token).send().await;
            let step = match res {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !refreshed => {
                    // The token expired early or was revoked: get a new one, once.
                    refreshed = true;
                    attempt -= 1;
                    self.drop_auth().await;
                    continue;
                }
                Ok(resp) if resp.status() == StatusCode::FORBIDDEN => {
                    let body = short_text(resp).await;
                    if body.contains("SERVICE_DISABLED") || body.contains("has not been used") {
                        return Err(SourceError::ApiDisabled {
                            origin: origin.into(),
                            detail: google_message(&body),
                        });
                    }
                    return Err(SourceError::PermissionDenied {
                        origin: origin.into(),
                        client_email,
                    });
                }
                Ok(resp) => self.classify(origin, resp, false).await,
                Err(e) => network(origin, e),
            };
            match step {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { wait, last } => self.wait_or_give_up(attempt, wait, last).await?,
            }
        }
    }

    async fn csv_grid(
        &self,
        origin: &str,
        url: &str,
        google: bool,
    ) -> Result<(Vec<Vec<String>>, CsvRead), SourceError> {
        let mut attempt = 0u32;
        let resp = loop {
            attempt += 1;
            let step = match self.http.get(url).send().await {
                Ok(resp) => self.classify(origin, resp, google).await,
                Err(e) => network(origin, e),
            };
            match step {
                Attempt::Done(resp) => break resp,
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { wait, last } => self.wait_or_give_up(attempt, wait, last).await?,
            }
        };
        let html = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if html {
            return Err(if google {
                SourceError::NotPublic {
                    origin: origin.into(),
                    detail: "Google answered with a sign-in page".into(),
                }
            } else {
                SourceError::Malformed {
                    origin: origin.into(),
                    detail: "the URL gives an HTML page, not CSV".into(),
                }
            });
        }
        let bytes = self.body(origin, resp).await?;
        // The label is not trusted (QA finding F20: a server labelling a sign-in page
        // text/csv): the body itself is looked at too.
        if google && is_html_page(&bytes) {
            return Err(SourceError::NotPublic {
                origin: origin.into(),
                detail: "Google answered with a sign-in page".into(),
            });
        }
        read_csv(origin, &bytes)
    }

    async fn classify(&self, origin: &str, resp: Response, google_csv: bool) -> Attempt {
        let status = resp.status();
        if status.is_success() {
            return Attempt::Done(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = short_text(resp).await;
        let origin = origin.to_string();
        match status.as_u16() {
            429 => Attempt::Retry {
                wait: retry_after,
                last: SourceError::RateLimited {
                    origin,
                    attempts: 0,
                    retry_after,
                },
            },
            s if s >= 500 => Attempt::Retry {
                wait: retry_after,
                last: SourceError::Http {
                    origin,
                    status: s,
                    detail: google_message(&body),
                },
            },
            401 | 403 if google_csv => Attempt::Fail(SourceError::NotPublic {
                origin,
                detail: format!("HTTP {}", status.as_u16()),
            }),
            404 => Attempt::Fail(SourceError::NotFound { origin }),
            s => Attempt::Fail(SourceError::Http {
                origin,
                status: s,
                detail: google_message(&body),
            }),
        }
    }

    async fn wait_or_give_up(
        &self,
        attempt: u32,
        wait: Option<Duration>,
        last: SourceError,
    ) -> Result<(), SourceError> {
        let s = &self.settings;
        if attempt >= s.max_attempts.max(1) {
            return Err(match last {
                SourceError::RateLimited {
                    origin,
                    retry_after,
                    ..
                } => SourceError::RateLimited {
                    origin,
                    attempts: attempt,
                    retry_after,
                },
                other => other,
            });
        }
        let backoff = s.backoff.saturating_mul(1u32 << (attempt - 1).min(16));
        let asked_by_server = wait.is_some();
        let wait = wait.unwrap_or(backoff).min(s.max_backoff);
        tracing::warn!(error = %last, attempt, wait_ms = wait.as_millis() as u64, "source fetch will be retried");
        if let Some(hook) = &self.on_wait {
            let reason = match &last {
                SourceError::RateLimited { origin, .. } => {
                    format!("{origin}: rate limited (HTTP 429)")
                }
                other => other.to_string(),
            };
            hook(&RetryWait {
                reason,
                wait,
                asked_by_server,
                attempt,
                max_attempts: s.max_attempts.max(1),
            });
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

fn network(origin: &str, e: reqwest::Error) -> Attempt {
    let err = network_err(origin, e);
    Attempt::Retry {
        wait: None,
        last: err,
    }
}

fn network_err(origin: &str, e: reqwest::Error) -> SourceError {
    // A CSV URL's query may carry a key: never show the URL.
    SourceError::Network {
        origin: origin.to_string(),
        detail: error_chain(&e.without_url()),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(origin: &str, bytes: &[u8]) -> Result<T, SourceError> {
    serde_json::from_slice(bytes).map_err(|e| SourceError::Malformed {
        origin: origin.to_string(),
        detail: e.to_string(),
    })
}

/// The start of an error answer's body (at most 64 KiB are read: only its message is shown).
async fn short_text(mut resp: Response) -> String {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= 64 * 1024 {
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Google's JSON error message, or the first line of the body.
fn google_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            body.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect()
        })
}

/// "Sheet1!A3:E10" → 3 (the row the values start at); 1 when the range says nothing.
fn first_row_of(range: &str) -> usize {
    let cells = range.rsplit_once('!').map_or(range, |(_, c)| c);
    let start = cells.split(':').next().unwrap_or("");
    start
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or(1)
        .max(1)
}

/// Percent-encodes one URL path segment (an A1 range with quotes, spaces, Cyrillic).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'!' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file source is read as CSV when its name ends in `.csv` or `.tsv` (any case).
fn is_csv_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("tsv"))
}

/// `bytes` as UTF-8 text, or an error naming the line of the first byte that is not.
fn utf8<'a>(origin: &str, bytes: &'a [u8], fix: &str) -> Result<&'a str, SourceError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        SourceError::Row {
            origin: origin.to_string(),
            location: format!("line {line}"),
            message: format!("the text is not UTF-8 (a Windows-1251 export?): {fix}"),
        }
    })
}

/// How a CSV was read: its separator, and whether its text was converted from Windows-1251.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvRead {
    /// `,`, `;` or tab.
    pub sep: u8,
    /// The bytes were not UTF-8 and were read as Windows-1251 (Excel's "CSV" in a Russian
    /// locale).
    pub from_cp1251: bool,
}

impl CsvRead {
    /// What the operator is told about how the CSV was read (nothing for a UTF-8 CSV with
    /// commas).
    pub fn notes(self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.from_cp1251 {
            notes.push(
                "the file is not UTF-8: read as Windows-1251 (Excel's \"CSV\" in a Russian locale); \
                 check the Cyrillic in `messages list`, or export as \"CSV UTF-8\" to be sure"
                    .into(),
            );
        }
        match self.sep {
            b';' => notes.push("columns separated by `;` (a comma-decimal locale's CSV)".into()),
            b'\t' => notes.push("columns separated by tabs".into()),
            b',' => {}
            other => notes.push(format!(
                "columns separated by `{}` (the file's `sep=` line)",
                char::from(other)
            )),
        }
        notes
    }
}

/// The separators a CSV may use: what spreadsheets write in dot-decimal locales (`,`),
/// comma-decimal locales such as Russian (`;`), and "tab-separated values".
const SEPARATORS: [u8; 3] = [b',', b';', b'\t'];

/// How many rows are looked at to tell the separator.
const SNIFF_ROWS: usize = 200;

fn csv_records(
    origin: &str,
    text: &str,
    sep: u8,
    limit: usize,
) -> Result<Vec<Vec<String>>, SourceError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sep)
        .from_reader(text.as_bytes());
    let mut grid = Vec::new();
    for (i, rec) in reader.records().take(limit).enumerate() {
        let rec = rec.map_err(|e| SourceError::Row {
            origin: origin.to_string(),
            location: format!("row {}", i + 1),
            message: format!("not valid CSV: {e}"),
        })?;
        grid.push(rec.iter().map(str::to_string).collect());
    }
    Ok(grid)
}

/// Tells the separator of `text` from its first rows: the one that makes the first row a
/// header (`Сообщение;Статус;Приоритет`); else the one whose column B reads as a status or
/// column C as a priority most often; else, for a plain list of texts, the one that leaves
/// every row a single cell. Anything else is refused as ambiguous.
fn sniff_separator(origin: &str, text: &str) -> Result<u8, SourceError> {
    let mut samples = Vec::new();
    for sep in SEPARATORS {
        // A separator the text cannot be read with is not the one.
        let Ok(grid) = csv_records(origin, text, sep, SNIFF_ROWS) else {
            continue;
        };
        let rows: Vec<Vec<String>> = grid
            .into_iter()
            .filter(|r| r.iter().any(|c| !c.trim().is_empty()))
            .collect();
        samples.push((sep, rows));
    }
    let headed: Vec<u8> = samples
        .iter()
        .filter(|(_, rows)| rows.first().is_some_and(|r| r.len() > 1 && is_header(r)))
        .map(|(sep, _)| *sep)
        .collect();
    if let [sep] = headed.as_slice() {
        return Ok(*sep);
    }
    let scores: Vec<(u8, usize)> = samples
        .iter()
        .map(|(sep, rows)| {
            (
                *sep,
                rows.iter().map(|r| looks_like_status_or_priority(r)).sum(),
            )
        })
        .collect();
    let best = scores.iter().map(|(_, s)| *s).max().unwrap_or(0);
    if best > 0 {
        let winners: Vec<u8> = scores
            .iter()
            .filter(|(_, s)| *s == best)
            .map(|(sep, _)| *sep)
            .collect();
        if let [sep] = winners.as_slice() {
            return Ok(*sep);
        }
    }
    if let Some((sep, _)) = samples.iter().find(|(_, rows)| {
        rows.iter()
            .all(|r| r.len() <= 1 || r[1..].iter().all(|c| c.trim().is_empty()))
    }) {
        return Ok(*sep);
    }
    Err(SourceError::Malformed {
        origin: origin.to_string(),
        detail: "cannot tell whether columns are separated by `,`, `;` or tabs (no header row, \
                 and no column B reads as a status): add the header row `Сообщение, Статус, \
                 Приоритет` at the top of the sheet, or export again as CSV"
            .into(),
    })
}

/// CSV as spreadsheets export it: optional BOM, CRLF, quoted multi-line cells, rows of any
/// width; columns separated by `,`, `;` or tabs (told from the first rows). Returns the grid
/// and how it was read. Bytes that are not UTF-8 are read as Windows-1251, the code page of
/// Excel's plain "CSV" in a Russian locale (every byte is a character there, so this never
/// fails; [`CsvRead::notes`] says it was done).
pub fn read_csv(origin: &str, bytes: &[u8]) -> Result<(Vec<Vec<String>>, CsvRead), SourceError> {
    if is_html_page(bytes) {
        let detail = if origin.starts_with("file ") {
            "the file is an HTML page (a saved web page or sign-in page), not CSV: download the \
             sheet as CSV (File → Download → CSV) or set `source` to the sheet's link"
        } else {
            "the URL gives an HTML page, not CSV: publish the sheet as CSV (File → Share → \
             Publish to web, CSV) or set `source` to the sheet's share link"
        };
        return Err(SourceError::Malformed {
            origin: origin.to_string(),
            detail: detail.into(),
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let converted;
    let (text, from_cp1251) = match std::str::from_utf8(bytes) {
        Ok(t) => (t, false),
        Err(_) => {
            converted = encoding_rs::WINDOWS_1251
                .decode_without_bom_handling(bytes)
                .0;
            (converted.as_ref(), true)
        }
    };
    // Excel's `sep=;` first line names the separator and is not a row (Excel hides it too,
    // so row numbers in errors are the spreadsheet's); otherwise the separator is told.
    let (sep, text, skipped) = match sep_line(text) {
        Some((sep, rest)) => (sep, rest, 1),
        None => (sniff_separator(origin, text)?, text, 0),
    };
    if let Some(line) = unclosed_quote(text, sep) {
        return Err(SourceError::Row {
            origin: origin.to_string(),
            location: format!("line {}", line + skipped),
            message: "a cell opened with `\"` here is never closed, so everything after it would \
                      become one message: close the quote (write `\"\"` for a quote inside a \
                      quoted cell) or remove it"
                .into(),
        });
    }
    Ok((
        csv_records(origin, text, sep, usize::MAX)?,
        CsvRead { sep, from_cp1251 },
    ))
}

/// Whether `bytes` are an HTML document rather than CSV, whatever the label or file name says:
/// after a BOM and whitespace it starts with `<!doctype html` or `<html`, or its first 64 KiB
/// hold both a `<head` and a `<body` tag. Message texts use Telegram's HTML subset, which
/// has neither, so a real CSV of messages is never taken for a page.
pub fn is_html_page(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let head = &bytes[start..bytes.len().min(start + 64 * 1024)];
    let lower = head.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    lower.starts_with(b"<!doctype html")
        || lower.starts_with(b"<html")
        || (has(b"<head") && has(b"<body"))
}

/// Excel's separator hint: a first line `sep=X` (any case, optionally in double quotes, as
/// some "CSV for Excel" exporters write it) where `X` is one ASCII character other than a
/// quote. The separator and the text after that line; `None` when the first line is not one.
fn sep_line(text: &str) -> Option<(u8, &str)> {
    let (first, rest) = match text.find('\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    let first = first.strip_suffix('\r').unwrap_or(first);
    let first = first
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(first);
    let value = first
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("sep="))
        .and_then(|_| first.get(4..))?;
    match value.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\r' | b'\n') => Some((*b, rest)),
        _ => None,
    }
}

/// The line where a quoted cell opens that never closes (RFC 4180: a cell is quoted when it
/// starts with `"`; `""` inside it is a quote). The csv crate reads such a cell to the end of
/// the file without an error.
fn unclosed_quote(text: &str, sep: u8) -> Option<usize> {
    let sep = char::from(sep);
    let (mut line, mut at_start, mut open) = (1, true, None);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if open.is_some() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    open = None;
                    at_start = false;
                }
            } else if c == '\n' {
                line += 1;
            }
            continue;
        }
        match c {
            '"' if at_start => {
                open = Some(line);
                at_start = false;
            }
            '\n' => {
                line += 1;
                at_start = true;
            }
            c if c == sep => at_start = true,
            '\r' => {}
            _ => at_start = false,
        }
    }
    open
}

/// [`read_csv`]'s grid alone.
pub fn parse_csv(origin: &str, bytes: &[u8]) -> Result<Vec<Vec<String>>, SourceError> {
    read_csv(origin, bytes).map(|(grid, _)| grid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QA finding 19: Excel's plain "CSV" in a Russian locale (Windows-1251, `;`) is read,
    /// with a note; a UTF-8 file is never re-read as Windows-1251.
    #[test]
    fn f19_a_windows_1251_csv_is_converted_with_a_note() {
        // Not UTF-8 (clippy proves it at compile time, so no assertion is needed here).
        let bytes: &[u8] = include_bytes!("../tests/data/prices_cp1251.csv");
        let (grid, how) = read_csv("prices_cp1251.csv", bytes).unwrap();
        assert_eq!(
            how,
            CsvRead {
                sep: b';',
                from_cp1251: true
            }
        );
        assert_eq!(grid[0][..2], ["Текст сообщения", "Статус"]);
        assert!(
            grid[1][0].contains("iPhone 16 — 71 000,50 руб."),
            "{:?}",
            grid[1]
        );
        assert_eq!(grid[1][1], "активно");
        let notes = how.notes();
        assert!(notes[0].contains("read as Windows-1251"), "{notes:?}");
        let (_, how) = read_csv("u.csv", "Текст;Статус\nПрайс;да\n".as_bytes()).unwrap();
        assert!(!how.from_cp1251);
    }

    /// QA finding F20: pages are told from CSV by their body; message texts with Telegram
    /// HTML tags are CSV.
    #[test]
    fn f20_html_pages_are_told_from_csv_by_their_body() {
        for page in [
            "<!DOCTYPE html><html><body>x</body></html>",
            "\u{feff}\r\n  <html lang=\"ru\">",
            "<meta charset=utf-8>\n<HEAD><title>t</title></HEAD>\n<BODY>sign in</BODY>",
        ] {
            assert!(is_html_page(page.as_bytes()), "{page}");
            let err = read_csv("CSV http://h/p.csv", page.as_bytes()).unwrap_err();
            assert!(
                err.to_string()
                    .contains("the URL gives an HTML page, not CSV"),
                "{err}"
            );
        }
        for csv in [
            "Текст;Статус\n<b>Цена</b> 100 ₽;да\n",
            "text,status\n\"<a href=\"\"https://x\"\">html</a> page\",yes\n",
            "",
        ] {
            assert!(!is_html_page(csv.as_bytes()), "{csv}");
        }
    }

    /// QA3 finding F31: Excel's `sep=;` first line sets the separator and is not a row, in a
    /// Windows-1251 file as Excel writes it in a Russian locale.
    #[test]
    fn f31_an_excel_sep_line_sets_the_separator_and_is_skipped() {
        let text = "sep=;\r\nСообщение;Статус;Приоритет\r\nПрайс А 71 000,50 руб.;да;8\r\nПрайс Б;нет;5\r\n";
        let (bytes, _, lossy) = encoding_rs::WINDOWS_1251.encode(text);
        assert!(!lossy);
        let (grid, how) = read_csv("sep.csv", &bytes).unwrap();
        assert_eq!(
            how,
            CsvRead {
                sep: b';',
                from_cp1251: true
            }
        );
        assert_eq!(
            grid,
            [
                ["Сообщение", "Статус", "Приоритет"],
                ["Прайс А 71 000,50 руб.", "да", "8"],
                ["Прайс Б", "нет", "5"],
            ]
        );
        // Quoted, upper case, another separator; an unclosed quote is named by its file line.
        let (grid, how) = read_csv("p.csv", b"\"SEP=|\"\nText|Status\na,b|yes\n").unwrap();
        assert_eq!(grid, [["Text", "Status"], ["a,b", "yes"]]);
        assert!(
            how.notes().iter().any(|n| n.contains("`|`")),
            "{:?}",
            how.notes()
        );
        let err = read_csv("p.csv", "sep=;\nСообщение;Статус\n\"Прайс;да\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        // A first cell that only starts like it is a row.
        assert_eq!(sep_line("sep=;;\nx"), None);
        assert_eq!(sep_line("separator;x\n"), None);
    }

    #[test]
    fn an_unclosed_quote_is_refused_with_its_line() {
        let text = "Сообщение;Статус\n\"Незакрытая кавычка;да\nДругое;да\n";
        let err = read_csv("p.csv", text.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("never closed"),
            "{err}"
        );
        // Closed quotes, quotes inside quoted cells and a quote inside a plain cell are fine.
        let ok = "Сообщение;Статус\n\"Прайс; \"\"iPhone\"\"\nвторая строка\";да\nдюйм 6\";да\n";
        let (grid, _) = read_csv("p.csv", ok.as_bytes()).unwrap();
        assert_eq!(grid[1][0], "Прайс; \"iPhone\"\nвторая строка");
        assert_eq!(grid[2][0], "дюйм 6\"");
    }

    #[test]
    fn ranges_and_segments() {
        assert_eq!(first_row_of("'Прайс 1'!A3:E10"), 3);
        assert_eq!(first_row_of("Sheet1!A1:E4"), 1);
        assert_eq!(first_row_of(""), 1);
        assert_eq!(
            encode_segment("'Прайс'!A:E"),
            "%27%D0%9F%D1%80%D0%B0%D0%B9%D1%81%27!A:E"
        );
    }

    #[test]
    fn limits_from_env() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let d = SourcesSettings::from_env(&env(&[]), Path::new(".")).unwrap();
        assert_eq!((d.max_bytes, d.max_rows), (5_000_000, 10_000));
        let s = SourcesSettings::from_env(
            &env(&[("SOURCE_MAX_BYTES", "2MB"), ("SOURCE_MAX_ROWS", "20_000")]),
            Path::new("."),
        )
        .unwrap();
        assert_eq!((s.max_bytes, s.max_rows), (2_000_000, 20_000));
        assert_eq!(parse_bytes("500kB"), Some(500_000));
        assert_eq!(parse_bytes("1MiB"), Some(1_048_576));
        for (k, v) in [
            ("SOURCE_MAX_BYTES", "lots"),
            ("SOURCE_MAX_BYTES", "10"),
            ("SOURCE_MAX_ROWS", "0"),
            ("SOURCE_MAX_ROWS", "1e4"),
        ] {
            let err = SourcesSettings::from_env(&env(&[(k, v)]), Path::new(".")).unwrap_err();
            assert!(err.starts_with(&format!("{k}={v}:")), "{err}");
        }
        assert_eq!(show_bytes(5_000_000), "5 MB");
        assert_eq!(show_bytes(1_500), "1.5 kB");
    }

    #[test]
    fn csv_with_bom_crlf_multiline_cells_and_ragged_rows() {
        let data = "\u{feff}Сообщение,Статус,Приоритет\r\n\"Прайс,\r\nдве строки \"\"кавычки\"\"\",да,7,,\r\nb,нет\r\n";
        let g = parse_csv("x", data.as_bytes()).unwrap();
        assert_eq!(g[0][0], "Сообщение");
        assert_eq!(
            g[1],
            ["Прайс,\r\nдве строки \"кавычки\"", "да", "7", "", ""]
        );
        assert_eq!(g[2], ["b", "нет"]);
    }
}
