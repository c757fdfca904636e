//! Where the proxy is: `mtproxy://HOST:PORT?secret=…`, the `tg://proxy?…` and
//! `https://t.me/proxy?…` links Telegram shares, and the seed's `PROXY_*` variables.

use std::fmt;

use super::secret::{MtproxySecret, SecretError};

/// Why a proxy link or the `PROXY_*` settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "`{scheme}` is not an MTProto proxy link; write mtproxy://HOST:PORT?secret=SECRET, or paste \
         the tg://proxy?… or https://t.me/proxy?… link"
    )]
    Scheme { scheme: String },
    #[error("the proxy link has no {what}")]
    Missing { what: &'static str },
    #[error("the proxy port `{0}` is not a number from 1 to 65535")]
    Port(String),
    #[error(
        "the proxy host `{0}` is not a host name or an IP address (letters, digits, `.`, `-`; `:` only in an IPv6 address)"
    )]
    Host(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// One MTProto proxy: host (a name or an address), port and secret. `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct MtproxySettings {
    pub host: String,
    pub port: u16,
    pub secret: MtproxySecret,
}

impl fmt::Debug for MtproxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MtproxySettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Shows `mtproxy://host:port` without the secret: safe for logs and `check` output.
impl fmt::Display for MtproxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "mtproxy://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "mtproxy://{}:{}", self.host, self.port)
        }
    }
}

impl MtproxySettings {
    /// Parses `mtproxy://HOST:PORT?secret=…`, `tg://proxy?server=…&port=…&secret=…` or
    /// `https://t.me/proxy?…` (also `t.me/proxy?…` without a scheme).
    pub fn parse_link(link: &str) -> Result<Self, LinkError> {
        let link = link.trim();
        let (scheme, rest) = match link.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None if link.starts_with("t.me/") => ("https".to_owned(), link),
            None => {
                return Err(LinkError::Scheme {
                    scheme: link.chars().take(16).collect(),
                });
            }
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let params = query_params(query);
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let secret = param("secret").ok_or(LinkError::Missing { what: "secret" })?;
        match scheme.as_str() {
            "mtproxy" | "mtproto" => {
                let (host, port) = split_host_port(path.trim_end_matches('/'))?;
                Self::new(host, port, secret)
            }
            "tg" | "https" | "http"
                if matches!(
                    path.trim_end_matches('/'),
                    "proxy" | "t.me/proxy" | "telegram.me/proxy" | "www.t.me/proxy"
                ) =>
            {
                let host = param("server").ok_or(LinkError::Missing {
                    what: "server (host)",
                })?;
                let port = param("port").ok_or(LinkError::Missing { what: "port" })?;
                Self::new(host, port, secret)
            }
            _ => Err(LinkError::Scheme { scheme }),
        }
    }

    /// Builds settings from separate host, port and secret texts (the `.env` shape).
    pub fn new(host: &str, port: &str, secret: &str) -> Result<Self, LinkError> {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(LinkError::Missing {
                what: "host (PROXY_ADDR)",
            });
        }
        // A host with `/`, `?`, `@`, spaces… cannot be written back into a link (bench/fuzz
        // found `server=p.exhttps://t.me/proxy` accepted, and its link not parsing back).
        let ipv6 = host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_ok();
        let name_like = host
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-' || c == '_');
        if !(ipv6 || name_like) {
            return Err(LinkError::Host(host.chars().take(64).collect()));
        }
        let port = port
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| LinkError::Port(port.trim().to_owned()))?;
        Ok(MtproxySettings {
            host: host.to_owned(),
            port,
            secret: MtproxySecret::parse(secret)?,
        })
    }

    /// The seed's variables: `Ok(None)` unless PROXY_ENABLED is true and PROXY_PROTOCOL is
    /// `mtproto` (or `mtproxy`). `var` reads one variable (the environment, a `.env` map, …).
    pub fn from_seed_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, LinkError> {
        let enabled = var("PROXY_ENABLED").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        let mtproto = var("PROXY_PROTOCOL").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "mtproto" | "mtproxy"
            )
        });
        if !enabled || !mtproto {
            return Ok(None);
        }
        let host = var("PROXY_ADDR").ok_or(LinkError::Missing {
            what: "host (PROXY_ADDR)",
        })?;
        let port = var("PROXY_PORT").ok_or(LinkError::Missing {
            what: "port (PROXY_PORT)",
        })?;
        let secret = var("PROXY_SECRET").ok_or(LinkError::Missing {
            what: "secret (PROXY_SECRET)",
        })?;
        Self::new(&host, &port, &secret).map(Some)
    }

    /// `mtproxy://HOST:PORT?secret=HEX`: the form to write into the TOML. Contains the secret.
    pub fn to_link(&self) -> String {
        format!("{self}?secret={}", self.secret.to_hex())
    }
}

fn split_host_port(authority: &str) -> Result<(&str, &str), LinkError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or(LinkError::Missing { what: "host" })?;
        (host, after.strip_prefix(':').unwrap_or(""))
    } else {
        authority.rsplit_once(':').unwrap_or((authority, ""))
    };
    if port.is_empty() {
        return Err(LinkError::Missing { what: "port" });
    }
    Ok((host, port))
}

fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_found_a_host_with_a_link_inside_accepted_and_not_written_back() {
        let link = "https://t.me/proxy?server=p.exhttps://t.me/proxy?ample&port=8443&secret=ee0123456789abcdef0123456789abcdef6578616d506c652e636f6d";
        let e = MtproxySettings::parse_link(link).unwrap_err();
        assert!(
            matches!(e, LinkError::Host(ref h) if h.starts_with("p.exhttps://t.me/proxy")),
            "{e}"
        );
        for bad in ["a b", "x/y", "h?x", "u@h", "::1:8080x"] {
            assert!(
                MtproxySettings::new(bad, "443", "0123456789abcdef0123456789abcdef").is_err(),
                "{bad}"
            );
        }
        for good in [
            "proxy.example.org",
            "1.2.3.4",
            "[2001:db8::1]",
            "2001:db8::1",
            "прокси.рф",
        ] {
            let s = MtproxySettings::new(good, "443", "0123456789abcdef0123456789abcdef").unwrap();
            assert_eq!(
                MtproxySettings::parse_link(&s.to_link()).unwrap(),
                s,
                "{good}"
            );
        }
    }

    use super::*;
    use crate::mtproxy::SecretKind;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn all_link_forms() {
        let want = MtproxySettings::new("proxy.example.net", "443", KEY).expect("settings");
        for link in [
            format!("mtproxy://proxy.example.net:443?secret={KEY}"),
            format!("tg://proxy?server=proxy.example.net&port=443&secret={KEY}"),
            format!("https://t.me/proxy?server=proxy.example.net&port=443&secret={KEY}"),
            format!("t.me/proxy?secret={KEY}&port=443&server=proxy.example.net"),
        ] {
            assert_eq!(MtproxySettings::parse_link(&link).expect(&link), want);
        }
        let v6 =
            MtproxySettings::parse_link(&format!("mtproxy://[2001:db8::1]:8443?secret=dd{KEY}"))
                .expect("v6");
        assert_eq!((v6.host.as_str(), v6.port), ("2001:db8::1", 8443));
        assert_eq!(v6.secret.kind(), &SecretKind::Padded);
        assert_eq!(v6.to_string(), "mtproxy://[2001:db8::1]:8443");
        assert_eq!(
            MtproxySettings::parse_link(&want.to_link()).expect("round"),
            want
        );
    }

    #[test]
    fn percent_encoded_base64_secret() {
        let link = "tg://proxy?server=1.2.3.4&port=443&secret=3QEjRWeJq83vASNFZ4mrze8%3D";
        let s = MtproxySettings::parse_link(link).expect("base64 with %3D");
        assert_eq!(s.secret.kind(), &SecretKind::Padded);
    }

    #[test]
    fn bad_links_say_why() {
        assert!(matches!(
            MtproxySettings::parse_link(&format!("socks5://h:1?secret={KEY}")),
            Err(LinkError::Scheme { .. })
        ));
        assert_eq!(
            MtproxySettings::parse_link("mtproxy://h:443"),
            Err(LinkError::Missing { what: "secret" })
        );
        assert_eq!(
            MtproxySettings::parse_link(&format!("mtproxy://h?secret={KEY}")),
            Err(LinkError::Missing { what: "port" })
        );
        assert_eq!(
            MtproxySettings::parse_link(&format!("mtproxy://h:99999?secret={KEY}")),
            Err(LinkError::Port("99999".into()))
        );
        assert!(matches!(
            MtproxySettings::parse_link("mtproxy://h:1?secret=abcd"),
            Err(LinkError::Secret(SecretError::Length { got: 2 }))
        ));
    }

    #[test]
    fn seed_env() {
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        }
        let on = [
            ("PROXY_ENABLED", "True"),
            ("PROXY_PROTOCOL", "mtproto"),
            ("PROXY_ADDR", "mt.example.org"),
            ("PROXY_PORT", "8443"),
            ("PROXY_SECRET", "dd0123456789abcdef0123456789abcdef"),
        ];
        let s = MtproxySettings::from_seed_env(env(&on))
            .expect("valid")
            .expect("enabled");
        assert_eq!((s.host.as_str(), s.port), ("mt.example.org", 8443));
        let socks = [("PROXY_ENABLED", "true"), ("PROXY_PROTOCOL", "socks5")];
        assert_eq!(MtproxySettings::from_seed_env(env(&socks)), Ok(None));
        let off = [("PROXY_ENABLED", "false"), ("PROXY_PROTOCOL", "mtproto")];
        assert_eq!(MtproxySettings::from_seed_env(env(&off)), Ok(None));
        let no_secret = [
            ("PROXY_ENABLED", "1"),
            ("PROXY_PROTOCOL", "mtproto"),
            ("PROXY_ADDR", "h"),
            ("PROXY_PORT", "1"),
        ];
        assert_eq!(
            MtproxySettings::from_seed_env(env(&no_secret)),
            Err(LinkError::Missing {
                what: "secret (PROXY_SECRET)"
            })
        );
        let debug = format!("{s:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
    }
}
