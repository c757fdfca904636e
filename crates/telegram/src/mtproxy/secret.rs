//! MTProxy secrets: the three kinds (plain, `dd` padded, `ee` fake-TLS with a domain), parsed
//! from hex or base64url, with a `Debug` that never shows the key.

use std::fmt;

use base64::Engine as _;

/// Why a secret was refused; the text says what the user should fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the proxy secret is empty: set PROXY_SECRET (or `secret=` in the proxy link)")]
    Empty,
    #[error(
        "the proxy secret is neither hex nor base64url: copy it again from the proxy link \
         (hex looks like 0123…cdef, 32 characters, optionally after `dd` or `ee`)"
    )]
    Encoding,
    #[error(
        "the proxy secret is {got} bytes long; a plain secret is 16 bytes (32 hex characters), \
         a `dd` secret 17 bytes, an `ee` secret 17 bytes followed by a domain"
    )]
    Length { got: usize },
    #[error(
        "the proxy secret starts with {prefix:#04x}; only plain, `dd…` and `ee…` secrets exist"
    )]
    Prefix { prefix: u8 },
    #[error("the fake-TLS (`ee`) proxy secret has no domain after its 16-byte key")]
    NoDomain,
    #[error(
        "the domain in the fake-TLS (`ee`) proxy secret is not a host name \
         (it must be printable ASCII, at most 200 characters)"
    )]
    BadDomain,
}

/// How the connection to the proxy looks on the wire.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretKind {
    /// 16 bytes: obfuscated2 with the intermediate transport.
    Plain,
    /// `dd` + 16 bytes: obfuscated2 with the padded intermediate transport.
    Padded,
    /// `ee` + 16 bytes + domain: a TLS 1.3 look-alike to that domain, padded intermediate inside.
    FakeTls { domain: String },
}

impl fmt::Debug for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretKind::Plain => f.write_str("Plain"),
            SecretKind::Padded => f.write_str("Padded"),
            // The domain is not secret, and it helps reading a log.
            SecretKind::FakeTls { domain } => write!(f, "FakeTls({domain})"),
        }
    }
}

/// A parsed MTProxy secret. `Debug` shows its kind only.
#[derive(Clone, PartialEq, Eq)]
pub struct MtproxySecret {
    key: [u8; 16],
    kind: SecretKind,
}

impl fmt::Debug for MtproxySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MtproxySecret")
            .field("kind", &self.kind)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl MtproxySecret {
    /// Parses a secret as users copy it: hex (any case) or base64url (padded or not).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        // A base64url text can also be valid hex; take whichever reading makes a secret.
        match (decode_hex(text), decode_base64(text)) {
            (Some(hex), b64) => Self::from_bytes(&hex)
                .or_else(|e| b64.and_then(|b| Self::from_bytes(&b).ok()).ok_or(e)),
            (None, Some(b64)) => Self::from_bytes(&b64),
            (None, None) => Err(SecretError::Encoding),
        }
    }

    /// Builds a secret from its raw bytes (16, `dd` + 16, or `ee` + 16 + domain).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        let key_of = |b: &[u8]| -> [u8; 16] {
            let mut key = [0u8; 16];
            key.copy_from_slice(&b[..16]);
            key
        };
        match bytes.len() {
            16 => Ok(MtproxySecret {
                key: key_of(bytes),
                kind: SecretKind::Plain,
            }),
            n if n < 16 => Err(SecretError::Length { got: n }),
            n => match bytes[0] {
                0xdd if n == 17 => Ok(MtproxySecret {
                    key: key_of(&bytes[1..]),
                    kind: SecretKind::Padded,
                }),
                0xdd => Err(SecretError::Length { got: n }),
                0xee if n == 17 => Err(SecretError::NoDomain),
                0xee => {
                    let domain = std::str::from_utf8(&bytes[17..])
                        .ok()
                        .filter(|d| {
                            d.len() <= 200 && d.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
                        })
                        .ok_or(SecretError::BadDomain)?;
                    Ok(MtproxySecret {
                        key: key_of(&bytes[1..]),
                        kind: SecretKind::FakeTls {
                            domain: domain.to_owned(),
                        },
                    })
                }
                _ if n == 17 => Err(SecretError::Prefix { prefix: bytes[0] }),
                _ => Err(SecretError::Length { got: n }),
            },
        }
    }

    /// A plain secret from its 16-byte key.
    pub fn plain(key: [u8; 16]) -> Self {
        MtproxySecret {
            key,
            kind: SecretKind::Plain,
        }
    }

    /// A `dd` secret from its 16-byte key.
    pub fn padded(key: [u8; 16]) -> Self {
        MtproxySecret {
            key,
            kind: SecretKind::Padded,
        }
    }

    /// An `ee` secret from its 16-byte key and the domain to look like.
    pub fn fake_tls(key: [u8; 16], domain: &str) -> Result<Self, SecretError> {
        let mut bytes = vec![0xee];
        bytes.extend_from_slice(&key);
        bytes.extend_from_slice(domain.as_bytes());
        Self::from_bytes(&bytes)
    }

    /// The 16 key bytes, without the `dd`/`ee` prefix or the domain.
    pub fn key(&self) -> &[u8; 16] {
        &self.key
    }

    pub fn kind(&self) -> &SecretKind {
        &self.kind
    }

    /// The secret as users write it, in hex (`ee` secrets: key in hex, then the domain in hex).
    /// For building links; never log it.
    pub fn to_hex(&self) -> String {
        let mut bytes = Vec::with_capacity(17 + 64);
        match &self.kind {
            SecretKind::Plain => bytes.extend_from_slice(&self.key),
            SecretKind::Padded => {
                bytes.push(0xdd);
                bytes.extend_from_slice(&self.key);
            }
            SecretKind::FakeTls { domain } => {
                bytes.push(0xee);
                bytes.extend_from_slice(&self.key);
                bytes.extend_from_slice(domain.as_bytes());
            }
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    // Links carry base64url; some tools still emit the standard alphabet.
    let url = trimmed.replace('+', "-").replace('/', "_");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(url)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "0123456789abcdef0123456789abcdef";

    fn key() -> [u8; 16] {
        let mut k = [0u8; 16];
        k.copy_from_slice(&decode_hex(KEY_HEX).expect("hex"));
        k
    }

    #[test]
    fn three_kinds_in_hex() {
        let plain = MtproxySecret::parse(KEY_HEX).expect("plain");
        assert_eq!(plain, MtproxySecret::plain(key()));
        let padded = MtproxySecret::parse(&format!("DD{}", KEY_HEX.to_uppercase())).expect("dd");
        assert_eq!(padded, MtproxySecret::padded(key()));
        let domain_hex: String = b"example.com".iter().map(|b| format!("{b:02x}")).collect();
        let tls = MtproxySecret::parse(&format!("ee{KEY_HEX}{domain_hex}")).expect("ee");
        assert_eq!(
            tls.kind(),
            &SecretKind::FakeTls {
                domain: "example.com".into()
            }
        );
        assert_eq!(tls.key(), &key());
        assert_eq!(
            MtproxySecret::parse(&tls.to_hex()).expect("round trip"),
            tls
        );
    }

    #[test]
    fn base64url_too() {
        let mut raw = vec![0xee];
        raw.extend_from_slice(&key());
        raw.extend_from_slice(b"cdn.example.org");
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        let s = MtproxySecret::parse(&text).expect("base64url");
        assert_eq!(s.key(), &key());
        let padded = base64::engine::general_purpose::URL_SAFE.encode([0xdd; 17]);
        assert_eq!(
            MtproxySecret::parse(&padded).expect("padded base64").kind(),
            &SecretKind::Padded
        );
    }

    #[test]
    fn bad_secrets_say_why() {
        assert_eq!(MtproxySecret::parse("  "), Err(SecretError::Empty));
        assert_eq!(MtproxySecret::parse("zz!!"), Err(SecretError::Encoding));
        assert_eq!(
            MtproxySecret::parse("0123456789abcdef"),
            Err(SecretError::Length { got: 8 })
        );
        assert_eq!(
            MtproxySecret::parse(&format!("ab{KEY_HEX}")),
            Err(SecretError::Prefix { prefix: 0xab })
        );
        assert_eq!(
            MtproxySecret::parse(&format!("ee{KEY_HEX}")),
            Err(SecretError::NoDomain)
        );
        assert_eq!(
            MtproxySecret::parse(&format!("ee{KEY_HEX}00ff")),
            Err(SecretError::BadDomain)
        );
        let msg = MtproxySecret::parse("0123").expect_err("short").to_string();
        assert!(msg.contains("32 hex characters"), "{msg}");
    }

    #[test]
    fn debug_hides_the_key() {
        let s = MtproxySecret::fake_tls(key(), "example.com").expect("ee");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("0123") && !shown.contains("[1, 35"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>") && shown.contains("example.com"));
    }
}
