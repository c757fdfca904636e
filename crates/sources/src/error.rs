//! Errors of fetching and checking a message set. Each one names the source, the row (or
//! line) when there is one, and what the operator should do next.

use std::time::Duration;

/// Why a source could not give a usable message set. A set whose fetch fails keeps its
/// current version.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source `{source_text}`: {message}")]
    BadSource {
        source_text: String,
        message: String,
    },

    #[error("{origin}: cannot read {path}: {detail}")]
    File {
        origin: String,
        path: String,
        detail: String,
    },

    #[error(
        "GOOGLE_CREDENTIALS_FILE {path}: {detail}\n  hint: download the service account's JSON key from Google Cloud Console \
         (IAM → Service accounts → Keys) and point GOOGLE_CREDENTIALS_FILE at it"
    )]
    Credentials { path: String, detail: String },

    #[error(
        "{origin}: Google refused an access token for the service account {client_email} ({detail})\n  hint: the key in \
         GOOGLE_CREDENTIALS_FILE may be deleted or disabled; create a new key for {client_email}"
    )]
    Token {
        origin: String,
        client_email: String,
        detail: String,
    },

    #[error(
        "{origin}: the service account {client_email} may not read this sheet (403)\n  hint: open the sheet, press \
         Share and give {client_email} Viewer access"
    )]
    PermissionDenied {
        origin: String,
        client_email: String,
    },

    #[error(
        "{origin}: the Google Sheets API is not enabled for the service account's project (403: {detail})\n  hint: \
         enable \"Google Sheets API\" in Google Cloud Console for the project of the key, wait a minute, retry"
    )]
    ApiDisabled { origin: String, detail: String },

    #[error(
        "{origin}: not found (404)\n  hint: check the sheet URL (copy it from the browser's address bar) and the tab"
    )]
    NotFound { origin: String },

    #[error(
        "{origin}: the sheet is not shared publicly ({detail})\n  hint: set GOOGLE_CREDENTIALS_FILE to a service account \
         key and share the sheet with it, or share the sheet as \"Anyone with the link\" (or File → Share → Publish to web, CSV)"
    )]
    NotPublic { origin: String, detail: String },

    #[error(
        "{origin}: still rate limited (429) after {attempts} attempts; the current version is kept, the next update retries"
    )]
    RateLimited {
        origin: String,
        attempts: u32,
        retry_after: Option<Duration>,
    },

    #[error("{origin}: HTTP {status}: {detail}")]
    Http {
        origin: String,
        status: u16,
        detail: String,
    },

    #[error(
        "{origin}: {detail}\n  hint: check the network connection (and a proxy, if one is needed)"
    )]
    Network { origin: String, detail: String },

    #[error("{origin}: the answer is not what a sheet looks like: {detail}")]
    Malformed { origin: String, detail: String },

    #[error("{origin}: {location}: {message}")]
    Row {
        origin: String,
        location: String,
        message: String,
    },

    #[error(
        "{origin}: cell {cell} still reads `{value}`: the sheet is still calculating; the current version is kept and the \
         next update retries"
    )]
    Calculating {
        origin: String,
        cell: String,
        value: String,
    },

    #[error(
        "{origin}: larger than {limit}: refused while reading, the current version is kept\n  hint: {hint}"
    )]
    TooLarge {
        origin: String,
        limit: String,
        hint: String,
    },

    #[error(
        "{origin}: no active message ({total} rows read)\n  hint: mark at least one message active in column B \
         (активно / да / yes / 1), or pass --allow-empty to accept an empty set on purpose"
    )]
    NoActive { origin: String, total: usize },
}

impl SourceError {
    /// Worth retrying later as it is (network, 5xx, rate limits); everything else needs the
    /// operator to change something.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Network { .. }
            | SourceError::RateLimited { .. }
            | SourceError::Calculating { .. } => true,
            SourceError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
