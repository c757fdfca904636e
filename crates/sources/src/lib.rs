//! Message sources of SendMessageBot: where a message set's texts come from, and how a new
//! version of them is accepted.
//!
//! Start reading at [`update::update_set`]: fetch ([`fetch::Fetcher`]) → rows
//! ([`rows`], the seed's A–E columns) → checks ([`validate`]) → a new version in the store only
//! when the content changed. (The import of the Python original is the `smb-migrate` crate.)
#![forbid(unsafe_code)]

pub mod dotenv;
pub mod error;
pub mod fetch;
pub mod rows;
pub mod source;
pub mod update;
pub mod validate;

pub use error::SourceError;
pub use fetch::{Fetched, Fetcher, RetryWait, SourcesSettings, install_crypto_provider};
pub use rows::SheetRow;
pub use source::{SheetRef, Source, seed_env_var, seed_sources};
pub use update::{
    SetSource, UpdateError, UpdateOutcome, UpdateReport, VersionStore, apply_stored_versions,
    fetch_checked, refresh_loop, summarize, update_set,
};
pub use validate::{ContentRules, check_rows, check_text};

/// The seed's GOOGLE_UPDATE_INTERVAL default: one hour.
pub const DEFAULT_UPDATE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// GOOGLE_UPDATE_INTERVAL (seconds) from the merged `.env` + environment.
pub fn update_interval(
    env: &std::collections::HashMap<String, String>,
) -> Result<std::time::Duration, String> {
    match env
        .get("GOOGLE_UPDATE_INTERVAL")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => Ok(DEFAULT_UPDATE_INTERVAL),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= 10 => Ok(std::time::Duration::from_secs(n)),
            _ => Err(format!(
                "GOOGLE_UPDATE_INTERVAL={v}: expected whole seconds, at least 10 (3600 = hourly)"
            )),
        },
    }
}
