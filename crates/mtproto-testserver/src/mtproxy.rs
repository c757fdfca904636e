//! A small MTProxy for tests: the server side of the obfuscated2 handshake keyed with a
//! secret (plain, `dd` padded and `ee` fake-TLS), forwarding each client to the MTProto test
//! server of the DC id in its handshake. Written apart from the client in smb-telegram so a
//! mistake on one side is not mirrored on the other.
//!
//! Like real proxies, it never answers a client whose handshake does not decrypt with its
//! secret (it reads and discards until the client gives up), and for a fake-TLS hello with a
//! wrong HMAC it answers a ServerHello that the client cannot verify (as the masking host
//! would) — or, after `stay_silent_on_wrong_tls`, nothing at all. Its answers are padded (`dd`) and cut into TLS records of random sizes (`ee`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::debug;

type Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Which secret the proxy is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyMode {
    /// A plain secret: intermediate or padded intermediate.
    Plain,
    /// A `dd` secret: padded intermediate only.
    Padded,
    /// An `ee` secret: fake-TLS first, padded intermediate inside.
    FakeTls { domain: String },
}

#[derive(Default)]
struct Stats {
    /// DC ids of accepted handshakes, in order.
    dcs: Vec<i32>,
    /// Handshakes that did not decrypt with the secret.
    refused: u64,
    /// Answer a fake-TLS hello with a wrong HMAC with nothing at all (as a proxy whose masking
    /// host does not answer), instead of a ServerHello the client cannot verify.
    silent_on_wrong_tls: bool,
}

/// A running test MTProxy. Dropping it stops it and closes its connections.
pub struct TestMtproxy {
    addr: SocketAddr,
    stats: Arc<Mutex<Stats>>,
    kill: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl Drop for TestMtproxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.kill.send_modify(|v| *v += 1);
    }
}

struct Config {
    key: [u8; 16],
    mode: ProxyMode,
    dcs: HashMap<i32, SocketAddr>,
}

impl TestMtproxy {
    /// Listens on `127.0.0.1:0`; `dcs` says where each DC id is (usually all the test server).
    pub async fn start(
        key: [u8; 16],
        mode: ProxyMode,
        dcs: impl IntoIterator<Item = (i32, SocketAddr)>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let config = Arc::new(Config {
            key,
            mode,
            dcs: dcs.into_iter().collect(),
        });
        let stats = Arc::new(Mutex::new(Stats::default()));
        let (kill, _) = watch::channel(0u64);
        let accept = tokio::spawn(accept_loop(
            listener,
            config,
            Arc::clone(&stats),
            kill.clone(),
        ));
        Ok(TestMtproxy {
            addr,
            stats,
            kill,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// DC ids of the handshakes accepted so far, in order.
    pub fn dcs_seen(&self) -> Vec<i32> {
        self.stats().dcs.clone()
    }

    /// Handshakes that did not decrypt with the secret.
    pub fn refused(&self) -> u64 {
        self.stats().refused
    }

    /// From now on, a fake-TLS hello made with another secret gets no answer at all: the
    /// proxy reads and discards until the client gives up (a masking host that stays silent).
    pub fn stay_silent_on_wrong_tls(&self) {
        self.stats().silent_on_wrong_tls = true;
    }

    /// Closes every open connection now, as a network failure would.
    pub fn drop_connections(&self) {
        self.kill.send_modify(|v| *v += 1);
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<Config>,
    stats: Arc<Mutex<Stats>>,
    kill: watch::Sender<u64>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (config, stats) = (Arc::clone(&config), Arc::clone(&stats));
        let mut kill = kill.subscribe();
        kill.borrow_and_update();
        tokio::spawn(async move {
            tokio::select! {
                r = serve(stream, &config, &stats) => {
                    if let Err(e) = r { debug!(error = %e, "test MTProxy connection ended"); }
                }
                _ = kill.changed() => {}
            }
        });
    }
}

fn derive(material: &[u8], key: &[u8; 16], iv: &[u8]) -> Ctr {
    let mut h = Sha256::new();
    h.update(material);
    h.update(key);
    let k = h.finalize();
    Ctr::new_from_slices(&k, iv).expect("sizes are fixed")
}

fn hmac(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key size");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

type IoResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The client stream, with TLS records peeled off when fake-TLS is on.
struct ClientIn<R> {
    inner: R,
    tls: bool,
    pending: Vec<u8>,
}

impl<R: AsyncRead + Unpin> ClientIn<R> {
    async fn read_exact(&mut self, out: &mut [u8]) -> IoResult<()> {
        if !self.tls {
            self.inner.read_exact(out).await?;
            return Ok(());
        }
        while self.pending.len() < out.len() {
            let mut head = [0u8; 5];
            self.inner.read_exact(&mut head).await?;
            let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
            let mut body = vec![0u8; len];
            self.inner.read_exact(&mut body).await?;
            match head[0] {
                0x14 => {}
                0x17 => self.pending.extend_from_slice(&body),
                t => return Err(format!("unexpected TLS record {t:#x}").into()),
            }
        }
        out.copy_from_slice(&self.pending[..out.len()]);
        self.pending.drain(..out.len());
        Ok(())
    }
}

async fn serve(mut stream: TcpStream, config: &Config, stats: &Mutex<Stats>) -> IoResult<()> {
    let mut tls = false;
    if let ProxyMode::FakeTls { domain } = &config.mode {
        tls = true;
        let silent = stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .silent_on_wrong_tls;
        if !tls_handshake(&mut stream, &config.key, domain, silent).await? {
            stats.lock().unwrap_or_else(PoisonError::into_inner).refused += 1;
            if silent {
                let mut sink = [0u8; 4096];
                while stream.read(&mut sink).await? > 0 {}
            }
            return Ok(());
        }
    }
    let (rx, mut tx) = stream.into_split();
    let mut rx = ClientIn {
        inner: rx,
        tls,
        pending: Vec::new(),
    };
    let mut init = [0u8; 64];
    rx.read_exact(&mut init).await?;
    let mut dec = derive(&init[8..40], &config.key, &init[40..56]);
    let mut rev: Vec<u8> = init[8..56].to_vec();
    rev.reverse();
    let mut enc = derive(&rev[..32], &config.key, &rev[32..]);
    let mut plain = init;
    dec.apply_keystream(&mut plain);
    let tag = [plain[56], plain[57], plain[58], plain[59]];
    let tag_ok = match config.mode {
        ProxyMode::Plain => tag == [0xee; 4] || tag == [0xdd; 4],
        ProxyMode::Padded | ProxyMode::FakeTls { .. } => tag == [0xdd; 4],
    };
    let dc = i32::from(i16::from_le_bytes([plain[60], plain[61]]));
    let upstream_addr = config.dcs.get(&dc).copied();
    let Some(upstream_addr) = upstream_addr.filter(|_| tag_ok) else {
        // A wrong secret (or a DC we do not serve): stay silent, as real proxies do.
        stats.lock().unwrap_or_else(PoisonError::into_inner).refused += 1;
        let mut sink = [0u8; 4096];
        while rx.inner.read(&mut sink).await? > 0 {}
        return Ok(());
    };
    stats
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .dcs
        .push(dc);
    let padded = tag == [0xdd; 4];
    let upstream = TcpStream::connect(upstream_addr).await?;
    let _ = upstream.set_nodelay(true);
    let (mut up_rx, mut up_tx) = upstream.into_split();

    let to_server = async {
        let mut seq: i32 = 0;
        loop {
            let mut len = [0u8; 4];
            if rx.read_exact(&mut len).await.is_err() {
                return IoResult::Ok(());
            }
            dec.apply_keystream(&mut len);
            let len = (u32::from_le_bytes(len) & 0x7fff_ffff) as usize;
            let mut body = vec![0u8; len];
            rx.read_exact(&mut body).await?;
            dec.apply_keystream(&mut body);
            let exact = if body.len() >= 20 && body[..8] == [0; 8] {
                20 + u32::from_le_bytes([body[16], body[17], body[18], body[19]]) as usize
            } else {
                body.len() - (body.len().saturating_sub(24)) % 16
            };
            body.truncate(exact);
            let mut frame = Vec::with_capacity(body.len() + 12);
            frame.extend_from_slice(&((body.len() + 12) as u32).to_le_bytes());
            frame.extend_from_slice(&seq.to_le_bytes());
            frame.extend_from_slice(&body);
            let crc = crc32fast::hash(&frame);
            frame.extend_from_slice(&crc.to_le_bytes());
            seq += 1;
            up_tx.write_all(&frame).await?;
        }
    };
    let to_client = async {
        loop {
            let mut head = [0u8; 8];
            if up_rx.read_exact(&mut head[..4]).await.is_err() {
                return IoResult::Ok(());
            }
            let len = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let mut out = if len < 0 {
                // A transport error from the server: a 4-byte intermediate frame.
                let mut f = 4u32.to_le_bytes().to_vec();
                f.extend_from_slice(&len.to_le_bytes());
                f
            } else {
                let len = usize::try_from(len)?;
                let mut rest = vec![0u8; len.saturating_sub(4)];
                up_rx.read_exact(&mut rest).await?;
                let payload = &rest[4..rest.len() - 4];
                let pad_len = if padded {
                    rand::rng().random_range(0..16)
                } else {
                    0
                };
                let mut f = ((payload.len() + pad_len) as u32).to_le_bytes().to_vec();
                f.extend_from_slice(payload);
                let mut pad = vec![0u8; pad_len];
                rand::rng().fill_bytes(&mut pad);
                f.extend_from_slice(&pad);
                f
            };
            enc.apply_keystream(&mut out);
            write_out(&mut tx, &out, tls).await?;
        }
    };
    tokio::select! {
        r = to_server => r,
        r = to_client => r,
    }
}

async fn write_out<W: AsyncWrite + Unpin>(tx: &mut W, data: &[u8], tls: bool) -> IoResult<()> {
    if !tls {
        tx.write_all(data).await?;
        return Ok(());
    }
    let mut rest = data;
    while !rest.is_empty() {
        // Random record sizes: the client must reassemble frames across records.
        let n = rest.len().min(rand::rng().random_range(1..=16384));
        let mut rec = vec![0x17, 0x03, 0x03];
        rec.extend_from_slice(&(n as u16).to_be_bytes());
        rec.extend_from_slice(&rest[..n]);
        tx.write_all(&rec).await?;
        rest = &rest[n..];
    }
    Ok(())
}

/// Reads the ClientHello and answers (unless it is not genuine and `silent_if_wrong`); `false`
/// if its HMAC was not made with our secret.
async fn tls_handshake(
    stream: &mut TcpStream,
    key: &[u8; 16],
    _domain: &str,
    silent_if_wrong: bool,
) -> IoResult<bool> {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).await?;
    if head[..3] != [0x16, 0x03, 0x01] {
        return Err("not a TLS ClientHello".into());
    }
    let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    let mut hello = head.to_vec();
    hello.extend_from_slice(&body);
    if hello.len() < 76 {
        return Err("short ClientHello".into());
    }
    let mut client_random = [0u8; 32];
    client_random.copy_from_slice(&hello[11..43]);
    let session_id = hello[44..76].to_vec();
    let mut zeroed = hello.clone();
    zeroed[11..43].fill(0);
    let mac = hmac(key, &[&zeroed]);
    let ts: [u8; 4] = std::array::from_fn(|i| mac[28 + i] ^ client_random[28 + i]);
    let skew = (jiff::Timestamp::now().as_second() - i64::from(u32::from_le_bytes(ts))).abs();
    let genuine = mac[..28] == client_random[..28] && skew < 120;
    if !genuine && silent_if_wrong {
        return Ok(false);
    }

    let mut server_hello = vec![0x03, 0x03];
    server_hello.extend_from_slice(&[0u8; 32]);
    server_hello.push(32);
    server_hello.extend_from_slice(&session_id);
    server_hello.extend_from_slice(&[0x13, 0x01, 0x00]);
    let mut x25519 = [0u8; 32];
    rand::rng().fill_bytes(&mut x25519);
    let mut ext = vec![0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20];
    ext.extend_from_slice(&x25519);
    ext.extend_from_slice(&[0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
    server_hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    server_hello.extend_from_slice(&ext);
    let mut answer = vec![0x16, 0x03, 0x03];
    answer.extend_from_slice(&((server_hello.len() + 4) as u16).to_be_bytes());
    answer.push(0x02);
    answer.extend_from_slice(&(server_hello.len() as u32).to_be_bytes()[1..]);
    answer.extend_from_slice(&server_hello);
    answer.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    let filler_len = rand::rng().random_range(64..256usize);
    let mut filler = vec![0u8; filler_len];
    rand::rng().fill_bytes(&mut filler);
    answer.extend_from_slice(&[0x17, 0x03, 0x03]);
    answer.extend_from_slice(&(filler_len as u16).to_be_bytes());
    answer.extend_from_slice(&filler);
    let random = if genuine {
        hmac(key, &[&client_random, &answer])
    } else {
        let mut r = [0u8; 32];
        rand::rng().fill_bytes(&mut r);
        r
    };
    answer[11..43].copy_from_slice(&random);
    stream.write_all(&answer).await?;
    Ok(genuine)
}
