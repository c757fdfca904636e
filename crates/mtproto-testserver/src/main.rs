//! `mtproto-testserver`: the test server standalone, for benchmarks and manual runs.
//!
//! ```text
//! mtproto-testserver [--port PORT] [--fixture FILE] [--ledger FILE]
//! ```
//! Prints one JSON line with the address and, for every fixture user, the authorization key
//! (hex, for a grammers session) and a Telethon `StringSession`; then serves until Ctrl-C.
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use smb_mtproto_testserver::{DC_ID, Fixture, TestServer};

struct Args {
    port: u16,
    fixture: Option<PathBuf>,
    ledger: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        port: 0,
        fixture: None,
        ledger: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--port" => {
                args.port = value("--port")?
                    .parse()
                    .context("--port: not a port number")?;
            }
            "--fixture" => args.fixture = Some(value("--fixture")?.into()),
            "--ledger" => args.ledger = Some(value("--ledger")?.into()),
            "-h" | "--help" => {
                println!("mtproto-testserver [--port PORT] [--fixture FILE] [--ledger FILE]");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    Ok(args)
}

/// Telethon's StringSession: '1' + urlsafe_b64(pack('>B4sH256s', dc_id, ip, port, key)).
fn telethon_session(addr: SocketAddr, key: &[u8; 256]) -> String {
    let SocketAddr::V4(v4) = addr else {
        return String::new();
    };
    let mut raw = vec![DC_ID as u8];
    raw.extend_from_slice(&v4.ip().octets());
    raw.extend_from_slice(&v4.port().to_be_bytes());
    raw.extend_from_slice(key);
    format!("1{}", base64_urlsafe(&raw))
}

fn base64_urlsafe(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let args = parse_args()?;
    let fixture = match &args.fixture {
        Some(p) => Fixture::from_file(p)?,
        None => Fixture::default(),
    };
    let users: Vec<(i64, Option<String>)> = fixture
        .users
        .iter()
        .map(|u| (u.id, u.username.clone()))
        .collect();
    let server =
        TestServer::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)), fixture).await?;
    if let Some(l) = &args.ledger {
        server.write_ledger_to(l)?;
    }
    let addr = server.addr();
    let users: Vec<serde_json::Value> = users
        .into_iter()
        .filter_map(|(id, username)| {
            let key = server.auth_key(id)?;
            Some(serde_json::json!({
                "id": id,
                "username": username,
                "auth_key": hex(&key),
                "telethon_session": telethon_session(addr, &key),
            }))
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({ "addr": addr.to_string(), "port": addr.port(), "dc_id": DC_ID, "users": users })
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

/// Logs to stderr at the level in `RUST_LOG` (warn when unset): stdout is for the JSON line.
fn tracing_subscriber_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_python() {
        // base64.urlsafe_b64encode(b"\xfb\xff\x00ab")
        assert_eq!(base64_urlsafe(b"\xfb\xff\x00ab"), "-_8AYWI=");
        assert_eq!(base64_urlsafe(b"a"), "YQ==");
        assert_eq!(base64_urlsafe(b"abc"), "YWJj");
    }
}
