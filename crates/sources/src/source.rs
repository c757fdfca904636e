//! What a message set's `source` names: a text file, a Google Sheet (any of its usual URL
//! forms), a sheet published to the web, or any CSV URL; and the seed's `.env` names for them.

use std::fmt;
use std::path::PathBuf;

use reqwest::Url;

use crate::SourceError;

/// One Google Sheet tab: the spreadsheet id and, when the URL named one, the tab's `gid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRef {
    pub id: String,
    pub gid: Option<u64>,
}

impl SheetRef {
    /// The "anyone with the link" CSV export of this tab, under `base` (normally
    /// `https://docs.google.com`).
    pub fn export_url(&self, base: &str) -> String {
        format!(
            "{}/spreadsheets/d/{}/export?format=csv&gid={}",
            base.trim_end_matches('/'),
            self.id,
            self.gid.unwrap_or(0)
        )
    }
}

impl fmt::Display for SheetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.gid {
            Some(gid) => write!(f, "Google Sheet {} (tab gid={gid})", self.id),
            None => write!(f, "Google Sheet {}", self.id),
        }
    }
}

/// Where a message set's texts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A UTF-8 text file; messages are separated by a line `---`.
    File(PathBuf),
    /// A spreadsheet read through the Sheets API with the service account, or, without
    /// credentials, through its CSV export (the sheet must then be shared "anyone with the link").
    GoogleSheet(SheetRef),
    /// A CSV document: a sheet published to the web (`/d/e/2PACX…/pub?output=csv`) or any URL.
    Csv(String),
}

impl Source {
    /// Understands `/d/ID/edit#gid=N`, `/d/ID/edit?gid=N`, `/d/ID` alone, the published
    /// `/d/e/2PACX…/pub?output=csv` (and `pubhtml`), any other http(s) URL as CSV, and
    /// anything else as a file path (`file:` prefix optional).
    pub fn parse(s: &str) -> Result<Source, SourceError> {
        let t = s.trim();
        let bad = |message: &str| SourceError::BadSource {
            source_text: s.to_string(),
            message: message.into(),
        };
        if t.is_empty() {
            return Err(bad(
                "it is empty: give a file path, a Google Sheet URL or a CSV URL",
            ));
        }
        if let Some(path) = t.strip_prefix("file:") {
            return Ok(Source::File(PathBuf::from(path.trim_start_matches("//"))));
        }
        let lower = t.to_ascii_lowercase();
        if let Some(scheme) = unsupported_scheme(&lower) {
            return Err(bad(&format!(
                "`{scheme}://` is not a scheme SendMessageBot can read: give a file path, a \
                 Google Sheet URL or an http(s):// CSV URL (download the file first for {scheme})"
            )));
        }
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Ok(Source::File(PathBuf::from(t)));
        }
        let url = Url::parse(t).map_err(|e| bad(&format!("not a valid URL ({e})")))?;
        let is_google = url.host_str().is_some_and(|h| h == "docs.google.com");
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        if !is_google || segments.first() != Some(&"spreadsheets") || segments.get(1) != Some(&"d")
        {
            return Ok(Source::Csv(t.to_string()));
        }
        let gid = gid_of(&url);
        match segments.get(2) {
            Some(&"e") => {
                // Published to the web: only the CSV output carries the data.
                let Some(pub_id) = segments.get(3) else {
                    return Err(bad("a published sheet URL needs its id after /d/e/"));
                };
                let mut csv =
                    format!("https://docs.google.com/spreadsheets/d/e/{pub_id}/pub?output=csv");
                if let Some(g) = gid {
                    csv.push_str(&format!("&gid={g}"));
                }
                if url.query_pairs().any(|(k, _)| k == "single") {
                    csv.push_str("&single=true");
                }
                Ok(Source::Csv(csv))
            }
            Some(id)
                if id.len() >= 10
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                Ok(Source::GoogleSheet(SheetRef {
                    id: (*id).to_string(),
                    gid,
                }))
            }
            _ => Err(bad(
                "no spreadsheet id after /spreadsheets/d/: copy the URL from the browser's address bar",
            )),
        }
    }

    /// How the source is named in messages, history and the store (a URL's query string may
    /// hold a key, so only scheme, host and path are shown for plain CSV URLs).
    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => format!("file {}", p.display()),
            Source::GoogleSheet(s) => s.to_string(),
            Source::Csv(u) => match Url::parse(u) {
                Ok(url) if url.host_str() == Some("docs.google.com") => {
                    format!("published sheet {}", url.path())
                }
                Ok(url) => format!(
                    "CSV {}://{}{}{}",
                    url.scheme(),
                    url.host_str().unwrap_or(""),
                    url.port().map(|p| format!(":{p}")).unwrap_or_default(),
                    url.path()
                ),
                Err(_) => "CSV URL".to_string(),
            },
        }
    }
}

fn gid_of(url: &Url) -> Option<u64> {
    let from_query = url
        .query_pairs()
        .find(|(k, _)| k == "gid")
        .and_then(|(_, v)| v.parse().ok());
    let from_fragment = url.fragment().and_then(|f| {
        f.split('&')
            .find_map(|kv| kv.strip_prefix("gid="))
            .and_then(|v| v.parse().ok())
    });
    from_fragment.or(from_query)
}

/// The seed's variable for a set: `BUY_SELL_PRICE_B2B_SHEET_URL` for `b2b`, likewise `b2c`,
/// `aaa`, `gus`.
pub fn seed_env_var(set: &str) -> Option<&'static str> {
    match set.to_ascii_lowercase().as_str() {
        "b2b" => Some("BUY_SELL_PRICE_B2B_SHEET_URL"),
        "b2c" => Some("BUY_SELL_PRICE_B2C_SHEET_URL"),
        "aaa" => Some("BUY_SELL_PRICE_AAA_SHEET_URL"),
        "gus" => Some("BUY_SELL_PRICE_GUS_SHEET_URL"),
        _ => None,
    }
}

/// Every set the seed's variables give a sheet for: `(set, variable, url)`.
pub fn seed_sources(
    env: &std::collections::HashMap<String, String>,
) -> Vec<(&'static str, &'static str, String)> {
    ["b2b", "b2c", "aaa", "gus"]
        .into_iter()
        .filter_map(|set| {
            let var = seed_env_var(set)?;
            let v = env.get(var)?.trim();
            (!v.is_empty()).then(|| (set, var, v.to_string()))
        })
        .collect()
}

/// The scheme of a URL-looking text (`ftp://…`, `s3://…`) other than http(s): such a text is
/// not a file name, and reading it as one would say "no such file". Letters, digits, `+`, `-`
/// and `.` (RFC 3986 §3.1), at least two characters so `C://x` stays a path.
fn unsupported_scheme(lower: &str) -> Option<&str> {
    let (scheme, _) = lower.split_once("://")?;
    let valid = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (valid && scheme != "http" && scheme != "https").then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-xyz";

    #[test]
    fn every_usual_sheet_url_form_is_understood() {
        let sheet = |gid| Source::GoogleSheet(SheetRef { id: ID.into(), gid });
        assert_eq!(
            Source::parse(&format!(
                "https://docs.google.com/spreadsheets/d/{ID}/edit#gid=42"
            ))
            .unwrap(),
            sheet(Some(42))
        );
        assert_eq!(
            Source::parse(&format!(
                "https://docs.google.com/spreadsheets/d/{ID}/edit?gid=7"
            ))
            .unwrap(),
            sheet(Some(7))
        );
        assert_eq!(
            Source::parse(&format!(
                "https://docs.google.com/spreadsheets/d/{ID}/edit?usp=sharing&gid=7#gid=9"
            ))
            .unwrap(),
            sheet(Some(9))
        );
        assert_eq!(
            Source::parse(&format!("https://docs.google.com/spreadsheets/d/{ID}")).unwrap(),
            sheet(None)
        );
        assert_eq!(
            Source::parse(&format!("  https://docs.google.com/spreadsheets/d/{ID}/ ")).unwrap(),
            sheet(None)
        );
        assert_eq!(
            Source::parse("https://docs.google.com/spreadsheets/d/e/2PACX-1vQabc/pub?output=csv")
                .unwrap(),
            Source::Csv(
                "https://docs.google.com/spreadsheets/d/e/2PACX-1vQabc/pub?output=csv".into()
            )
        );
        assert_eq!(
            Source::parse("https://docs.google.com/spreadsheets/d/e/2PACX-1vQabc/pubhtml?gid=5&single=true").unwrap(),
            Source::Csv("https://docs.google.com/spreadsheets/d/e/2PACX-1vQabc/pub?output=csv&gid=5&single=true".into())
        );
        assert_eq!(
            Source::parse("https://example.com/prices.csv?key=1").unwrap(),
            Source::Csv("https://example.com/prices.csv?key=1".into())
        );
        assert_eq!(
            Source::parse("messages/b2b.txt").unwrap(),
            Source::File("messages/b2b.txt".into())
        );
        assert_eq!(
            Source::parse("file:///srv/b2b.txt").unwrap(),
            Source::File("/srv/b2b.txt".into())
        );
        assert!(Source::parse("https://docs.google.com/spreadsheets/d/").is_err());
        assert!(Source::parse(" ").is_err());
    }

    #[test]
    fn descriptions_hide_query_strings_and_export_urls_keep_the_tab() {
        assert_eq!(
            Source::parse("https://example.com:8080/p.csv?token=secret")
                .unwrap()
                .describe(),
            "CSV https://example.com:8080/p.csv"
        );
        let s = SheetRef {
            id: ID.into(),
            gid: Some(3),
        };
        assert_eq!(
            s.export_url("https://docs.google.com/"),
            format!("https://docs.google.com/spreadsheets/d/{ID}/export?format=csv&gid=3")
        );
    }

    #[test]
    fn the_seed_variables_map_to_the_four_sets() {
        let env: std::collections::HashMap<String, String> = [
            (
                "BUY_SELL_PRICE_B2B_SHEET_URL",
                "https://docs.google.com/spreadsheets/d/x",
            ),
            ("BUY_SELL_PRICE_GUS_SHEET_URL", " "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let found = seed_sources(&env);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].0, found[0].1),
            ("b2b", "BUY_SELL_PRICE_B2B_SHEET_URL")
        );
        assert_eq!(seed_env_var("GUS"), Some("BUY_SELL_PRICE_GUS_SHEET_URL"));
        assert_eq!(seed_env_var("new"), None);
    }

    #[test]
    fn an_ftp_source_says_the_scheme_is_not_supported_not_a_missing_file() {
        for text in [
            "ftp://example.com/prices.csv",
            "SFTP://host/x",
            "s3://bucket/key.csv",
        ] {
            let err = Source::parse(text).unwrap_err().to_string();
            assert!(
                err.contains("is not a scheme SendMessageBot can read")
                    && err.contains("http(s):// CSV URL")
                    && !err.contains("No such file"),
                "{text}: {err}"
            );
        }
        // Paths and http(s) URLs are what they were.
        assert_eq!(
            Source::parse("prices.txt").unwrap(),
            Source::File(PathBuf::from("prices.txt"))
        );
        assert_eq!(
            Source::parse("file:///srv/p.txt").unwrap(),
            Source::File(PathBuf::from("/srv/p.txt"))
        );
        assert!(matches!(
            Source::parse("https://example.com/p.csv").unwrap(),
            Source::Csv(_)
        ));
    }
}
