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

use crate::rows::{SheetRow, rows_from_grid, rows_from_text};
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
}

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
        }
    }
}

impl SourcesSettings {
    /// Reads the seed's GOOGLE_CREDENTIALS_FILE (and the test/proxy overrides) from the merged
    /// `.env` + environment. A relative key path is taken from `base_dir`.
    pub fn from_env(env: &HashMap<String, String>, base_dir: &Path) -> Self {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let d = SourcesSettings::default();
        SourcesSettings {
            credentials_file: get("GOOGLE_CREDENTIALS_FILE").map(|p| base_dir.join(p)),
            token_uri: get("GOOGLE_TOKEN_URI"),
            sheets_api: get("GOOGLE_SHEETS_API_URL").unwrap_or(d.sheets_api),
            export_base: get("GOOGLE_EXPORT_URL").unwrap_or(d.export_base),
            base_dir: base_dir.to_path_buf(),
            ..d
        }
    }
}

/// Rows read from one source.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// How the source is named in messages ("Google Sheet 1Abc… (tab gid=0)").
    pub origin: String,
    /// "row" for sheets and CSV, "line" for text files.
    pub unit: &'static str,
    pub rows: Vec<SheetRow>,
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
}

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
        })
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

    /// Reads the rows of `source`.
    pub async fn fetch(&self, source: &Source) -> Result<Fetched, SourceError> {
        let origin = source.describe();
        match source {
            Source::File(p) => {
                let path = if p.is_absolute() {
                    p.clone()
                } else {
                    self.settings.base_dir.join(p)
                };
                let text =
                    tokio::fs::read_to_string(&path)
                        .await
                        .map_err(|e| SourceError::File {
                            origin: origin.clone(),
                            path: path.display().to_string(),
                            detail: e.to_string(),
                        })?;
                Ok(Fetched {
                    origin,
                    unit: "line",
                    rows: rows_from_text(&text),
                })
            }
            Source::GoogleSheet(sheet) if self.uses_service_account() => {
                let (first_row, grid) = self.sheet_values(&origin, sheet).await?;
                let rows = rows_from_grid(&origin, first_row, &grid)?;
                Ok(Fetched {
                    origin,
                    unit: "row",
                    rows,
                })
            }
            Source::GoogleSheet(sheet) => {
                let url = sheet.export_url(&self.settings.export_base);
                let grid = self.csv_grid(&origin, &url, true).await?;
                Ok(Fetched {
                    rows: rows_from_grid(&origin, 1, &grid)?,
                    origin,
                    unit: "row",
                })
            }
            Source::Csv(url) => {
                let google = url.contains("docs.google.com/");
                let grid = self.csv_grid(&origin, url, google).await?;
                Ok(Fetched {
                    rows: rows_from_grid(&origin, 1, &grid)?,
                    origin,
                    unit: "row",
                })
            }
        }
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
                let meta: SheetsMeta = read_json(origin, resp).await?;
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
        let values: ValueRange = read_json(origin, resp).await?;
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
                    let body = resp.text().await.unwrap_or_default();
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
    ) -> Result<Vec<Vec<String>>, SourceError> {
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
        let bytes = resp.bytes().await.map_err(|e| network_err(origin, e))?;
        parse_csv(origin, &bytes)
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
        let body = resp.text().await.unwrap_or_default();
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
        let wait = wait.unwrap_or(backoff).min(s.max_backoff);
        tracing::warn!(error = %last, attempt, wait_ms = wait.as_millis() as u64, "source fetch will be retried");
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

async fn read_json<T: serde::de::DeserializeOwned>(
    origin: &str,
    resp: Response,
) -> Result<T, SourceError> {
    let bytes = resp.bytes().await.map_err(|e| network_err(origin, e))?;
    serde_json::from_slice(&bytes).map_err(|e| SourceError::Malformed {
        origin: origin.to_string(),
        detail: e.to_string(),
    })
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

/// CSV as Google exports it: optional BOM, CRLF, quoted multi-line cells, rows of any width.
pub fn parse_csv(origin: &str, bytes: &[u8]) -> Result<Vec<Vec<String>>, SourceError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut grid = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| SourceError::Row {
            origin: origin.to_string(),
            location: format!("row {}", i + 1),
            message: format!("not valid CSV: {e}"),
        })?;
        grid.push(rec.iter().map(str::to_string).collect());
    }
    Ok(grid)
}

#[cfg(test)]
mod tests {
    use super::*;

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
