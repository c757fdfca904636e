//! The bridge: a SOCKS5 front on loopback that grammers connects through, and per connection
//! an MTProxy connection to the DC grammers asked for, re-framed Full ↔ (padded) intermediate.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rand::{Rng, RngCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::MtproxyError;
use super::framing::{self, FullCodec, Unpadded};
use super::link::MtproxySettings;
use super::obfs::{self, Decryptor, Encryptor, TAG_INTERMEDIATE, TAG_PADDED};
use super::secret::SecretKind;

/// How long to wait for the proxy.
#[derive(Debug, Clone, Copy)]
pub struct ProxyTimeouts {
    /// The TCP connect.
    pub connect: Duration,
    /// From the first packet sent to the first byte back, and for `ee` secrets from the
    /// fake-TLS hello to the proxy's answer. Many proxies silently accept a wrong secret and
    /// never answer; this turns that into "check PROXY_SECRET".
    pub first_reply: Duration,
}

impl Default for ProxyTimeouts {
    fn default() -> Self {
        ProxyTimeouts {
            connect: Duration::from_secs(10),
            first_reply: Duration::from_secs(10),
        }
    }
}

/// The DC id grammers means by each address it connects to (the session's DC options).
type DcMap = Arc<RwLock<HashMap<SocketAddr, i32>>>;

struct Shared {
    settings: MtproxySettings,
    timeouts: ProxyTimeouts,
    dcs: DcMap,
    user: String,
    password: String,
    /// The last failure of a proxy connection, for the gateway to tell the user.
    last_error: Mutex<Option<MtproxyError>>,
}

/// A running bridge. Dropping it closes the SOCKS front and every connection through it.
pub struct MtproxyBridge {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for MtproxyBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtproxyBridge")
            .field("socks", &self.addr)
            .field("proxy", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl Drop for MtproxyBridge {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = self.shutdown.send(true);
    }
}

impl MtproxyBridge {
    /// Binds the SOCKS5 front on `127.0.0.1:0` with fresh random credentials. `dcs` lists
    /// every address grammers may dial with its DC id (both IPv4 and IPv6 of each DC option);
    /// any other target is refused.
    pub async fn start(
        settings: MtproxySettings,
        dcs: impl IntoIterator<Item = (i32, SocketAddr)>,
        timeouts: ProxyTimeouts,
    ) -> Result<Self, MtproxyError> {
        Self::start_in_runtime(settings, dcs, timeouts)
    }

    /// [`MtproxyBridge::start`] for synchronous code running inside a tokio runtime (the
    /// gateway opens its accounts without awaiting). Panics outside a runtime, as
    /// `tokio::spawn` does.
    pub fn start_in_runtime(
        settings: MtproxySettings,
        dcs: impl IntoIterator<Item = (i32, SocketAddr)>,
        timeouts: ProxyTimeouts,
    ) -> Result<Self, MtproxyError> {
        let bind = |e: std::io::Error| MtproxyError::Bind(e.to_string());
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let listener = TcpListener::from_std(std_listener).map_err(bind)?;
        let addr = listener
            .local_addr()
            .map_err(|e| MtproxyError::Bind(e.to_string()))?;
        let shared = Arc::new(Shared {
            settings,
            timeouts,
            dcs: Arc::new(RwLock::new(HashMap::new())),
            user: random_token(),
            password: random_token(),
            last_error: Mutex::new(None),
        });
        let (shutdown, stop) = watch::channel(false);
        let bridge = MtproxyBridge {
            accept: tokio::spawn(accept_loop(listener, Arc::clone(&shared), stop)),
            shared,
            addr,
            shutdown,
        };
        bridge.set_dcs(dcs);
        debug!(socks = %addr, proxy = %bridge.shared.settings, "MTProxy bridge listening");
        Ok(bridge)
    }

    /// `socks5://USER:PASS@127.0.0.1:PORT`: give it to grammers as
    /// `ConnectionParams::proxy_url`. It holds the bridge's credentials; do not log it.
    pub fn proxy_url(&self) -> String {
        format!(
            "socks5://{}:{}@{}",
            self.shared.user, self.shared.password, self.addr
        )
    }

    /// The SOCKS front's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the known DC addresses (after grammers learned new ones from `help.getConfig`).
    pub fn set_dcs(&self, dcs: impl IntoIterator<Item = (i32, SocketAddr)>) {
        let mut map = self
            .shared
            .dcs
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.clear();
        map.extend(dcs.into_iter().map(|(id, addr)| (addr, id)));
    }

    /// The last failure of a connection through the proxy, if any (cleared by a success).
    pub fn last_error(&self) -> Option<MtproxyError> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn random_token() -> String {
    let mut rng = rand::rng();
    (0..24)
        .map(|_| {
            let i = rng.random_range(0..62u8);
            char::from(match i {
                0..=9 => b'0' + i,
                10..=35 => b'a' + i - 10,
                _ => b'A' + i - 36,
            })
        })
        .collect()
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: give the system a moment.
                warn!(error = %e, "MTProxy bridge: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = serve(stream, &shared) => {
                    if let Err(e) = result {
                        if matches!(e, MtproxyError::UnknownDc { .. }) {
                            // grammers dialled an address missing from the DC list given to
                            // the bridge: the list needs `set_dcs` after a config change.
                            warn!(error = %e, "MTProxy bridge refused a target");
                        }
                        debug!(error = %e, "MTProxy bridge connection ended");
                        if e.is_proxy_fault() {
                            *shared.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                        }
                    }
                }
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }
}

const SOCKS_OK: u8 = 0x00;
const SOCKS_NOT_ALLOWED: u8 = 0x02;
const SOCKS_REFUSED: u8 = 0x05;
const SOCKS_BAD_COMMAND: u8 = 0x07;

async fn socks_reply(stream: &mut TcpStream, code: u8) -> std::io::Result<()> {
    stream
        .write_all(&[0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
        .await
}

/// The SOCKS5 handshake (RFC 1928/1929, CONNECT only); returns the DC id of the target.
async fn socks_accept(stream: &mut TcpStream, shared: &Shared) -> Result<i32, MtproxyError> {
    let io = |e: std::io::Error| MtproxyError::Socks(e.to_string());
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.map_err(io)?;
    let mut methods = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut methods).await.map_err(io)?;
    if head[0] != 0x05 || !methods.contains(&0x02) {
        let _ = stream.write_all(&[0x05, 0xff]).await;
        return Err(MtproxyError::Socks(
            "client offered no username/password".into(),
        ));
    }
    stream.write_all(&[0x05, 0x02]).await.map_err(io)?;
    let mut ver_len = [0u8; 2];
    stream.read_exact(&mut ver_len).await.map_err(io)?;
    let mut user = vec![0u8; usize::from(ver_len[1])];
    stream.read_exact(&mut user).await.map_err(io)?;
    let mut plen = [0u8; 1];
    stream.read_exact(&mut plen).await.map_err(io)?;
    let mut pass = vec![0u8; usize::from(plen[0])];
    stream.read_exact(&mut pass).await.map_err(io)?;
    let ok = same(&user, shared.user.as_bytes()) & same(&pass, shared.password.as_bytes());
    stream
        .write_all(&[0x01, if ok { 0x00 } else { 0x01 }])
        .await
        .map_err(io)?;
    if !ok {
        return Err(MtproxyError::Socks("wrong SOCKS credentials".into()));
    }
    let mut req = [0u8; 4];
    stream.read_exact(&mut req).await.map_err(io)?;
    let ip = match req[3] {
        0x01 => {
            let mut b = [0u8; 4];
            stream.read_exact(&mut b).await.map_err(io)?;
            Some(IpAddr::from(b))
        }
        0x04 => {
            let mut b = [0u8; 16];
            stream.read_exact(&mut b).await.map_err(io)?;
            Some(IpAddr::from(Ipv6Addr::from(b)))
        }
        0x03 => {
            let mut n = [0u8; 1];
            stream.read_exact(&mut n).await.map_err(io)?;
            let mut name = vec![0u8; usize::from(n[0])];
            stream.read_exact(&mut name).await.map_err(io)?;
            None
        }
        _ => None,
    };
    let mut port = [0u8; 2];
    stream.read_exact(&mut port).await.map_err(io)?;
    if req[1] != 0x01 {
        let _ = socks_reply(stream, SOCKS_BAD_COMMAND).await;
        return Err(MtproxyError::Socks("only CONNECT is supported".into()));
    }
    let target = ip.map(|ip| SocketAddr::new(ip, u16::from_be_bytes(port)));
    let dc = target.and_then(|t| {
        shared
            .dcs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&t)
            .copied()
    });
    match (dc, target) {
        (Some(dc), _) => Ok(dc),
        (None, target) => {
            let _ = socks_reply(stream, SOCKS_NOT_ALLOWED).await;
            Err(MtproxyError::UnknownDc {
                target: target.map_or_else(|| "a host name".into(), |t| t.to_string()),
            })
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn serve(mut client: TcpStream, shared: &Shared) -> Result<(), MtproxyError> {
    let dc = socks_accept(&mut client, shared).await?;
    let proxy = match ProxyConn::open(&shared.settings, dc, shared.timeouts).await {
        Ok(p) => p,
        Err(e) => {
            let _ = socks_reply(&mut client, SOCKS_REFUSED).await;
            return Err(e);
        }
    };
    socks_reply(&mut client, SOCKS_OK)
        .await
        .map_err(|e| MtproxyError::Socks(e.to_string()))?;
    debug!(dc, "MTProxy bridge: connected");
    let (client_rx, client_tx) = client.into_split();
    let (first_tx, first_rx) = oneshot::channel();
    let (proxy_rx, proxy_tx) = (proxy.reader, proxy.writer);
    let result = tokio::select! {
        r = upstream(client_rx, proxy_tx, first_tx) => r,
        r = downstream(proxy_rx, client_tx, first_rx, shared) => r,
    };
    if result.is_ok() {
        debug!(dc, "MTProxy bridge: connection closed");
    }
    result
}

/// grammers → proxy: Full frames become (padded) intermediate frames.
async fn upstream(
    mut client: OwnedReadHalf,
    mut proxy: ProxyWriter,
    first_sent: oneshot::Sender<()>,
) -> Result<(), MtproxyError> {
    let mut first_sent = Some(first_sent);
    let mut codec = FullCodec::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = client
            .read(&mut chunk)
            .await
            .map_err(|e| MtproxyError::Io(e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(payload) = codec
            .decode(&mut buf)
            .map_err(|e| MtproxyError::Io(format!("from grammers: {e}")))?
        {
            proxy.send(&payload).await?;
            if let Some(tx) = first_sent.take() {
                let _ = tx.send(());
            }
        }
    }
}

/// proxy → grammers: intermediate frames lose their padding and become Full frames.
async fn downstream(
    mut proxy: ProxyReader,
    mut client: OwnedWriteHalf,
    first_sent: oneshot::Receiver<()>,
    shared: &Shared,
) -> Result<(), MtproxyError> {
    let mut codec = FullCodec::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    let first_reply = shared.timeouts.first_reply;
    let deadline = async {
        // If grammers hung up before sending anything, there is nothing to wait for.
        if first_sent.await.is_ok() {
            tokio::time::sleep(first_reply).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = proxy.recv(&mut buf) => if !r? { return Err(shared.closed_early()) },
        () = deadline => return Err(shared.silent()),
    }
    *shared
        .last_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = None;
    loop {
        while let Some(frame) = framing::take_intermediate(&mut buf)
            .map_err(|e| MtproxyError::Io(format!("from the proxy: {e}")))?
        {
            let out = match framing::unpad(&frame)
                .map_err(|e| MtproxyError::Io(format!("from the proxy: {e}")))?
            {
                Unpadded::Packet(p) => codec.encode(p),
                Unpadded::TransportError(code) => framing::full_transport_error(code).to_vec(),
            };
            client
                .write_all(&out)
                .await
                .map_err(|e| MtproxyError::Io(e.to_string()))?;
        }
        if !proxy.recv(&mut buf).await? {
            return Ok(());
        }
    }
}

impl Shared {
    fn silent(&self) -> MtproxyError {
        MtproxyError::Silent {
            proxy: self.settings.to_string(),
            after: self.timeouts.first_reply,
        }
    }

    fn closed_early(&self) -> MtproxyError {
        MtproxyError::Closed {
            proxy: self.settings.to_string(),
        }
    }
}

/// One connection to the MTProxy, handshake done.
pub(crate) struct ProxyConn {
    reader: ProxyReader,
    writer: ProxyWriter,
}

pub(crate) struct ProxyWriter {
    half: OwnedWriteHalf,
    enc: Encryptor,
    tls: bool,
    /// Padded intermediate transport: random padding after every packet.
    padded: bool,
}

pub(crate) struct ProxyReader {
    half: OwnedReadHalf,
    dec: Decryptor,
    tls: bool,
}

/// TLS records carry at most 2^14 bytes.
const TLS_RECORD: usize = 16 * 1024;

impl ProxyWriter {
    /// Sends one MTProto packet as a (padded) intermediate frame.
    async fn send(&mut self, packet: &[u8]) -> Result<(), MtproxyError> {
        let pad = if self.padded {
            obfs::padding(&mut rand::rng())
        } else {
            Vec::new()
        };
        let mut data = framing::intermediate(packet, &pad);
        self.enc.apply(&mut data);
        let wire = if self.tls {
            let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / TLS_RECORD + 1));
            for chunk in data.chunks(TLS_RECORD) {
                out.extend_from_slice(&[0x17, 0x03, 0x03]);
                out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
                out.extend_from_slice(chunk);
            }
            out
        } else {
            data
        };
        self.half
            .write_all(&wire)
            .await
            .map_err(|e| MtproxyError::Io(e.to_string()))
    }
}

impl ProxyReader {
    /// Appends the next decrypted bytes to `buf`; `false` at the end of the stream.
    async fn recv(&mut self, buf: &mut Vec<u8>) -> Result<bool, MtproxyError> {
        let io = |e: std::io::Error| MtproxyError::Io(e.to_string());
        let start = buf.len();
        if self.tls {
            loop {
                let mut head = [0u8; 5];
                match self.half.read_exact(&mut head).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
                    Err(e) => return Err(io(e)),
                }
                let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
                let body = buf.len();
                buf.resize(body + len, 0);
                self.half.read_exact(&mut buf[body..]).await.map_err(io)?;
                match head[0] {
                    0x17 => break,
                    0x14 => buf.truncate(body),
                    other => {
                        return Err(MtproxyError::Io(format!(
                            "the proxy sent TLS record type {other:#04x} mid-stream"
                        )));
                    }
                }
            }
        } else {
            let mut chunk = [0u8; 16 * 1024];
            let n = self.half.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                return Ok(false);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        self.dec.apply(&mut buf[start..]);
        Ok(true)
    }
}

impl ProxyConn {
    /// Connects (resolving a host name) within `timeouts.connect`, does the fake-TLS exchange
    /// for `ee` secrets (the answer within `timeouts.first_reply`) and sends the obfuscated2
    /// init for DC `dc`. Only a failed or timed-out TCP connect is [`MtproxyError::Connect`]
    /// ("check PROXY_ADDR and PROXY_PORT"): once the proxy accepted the connection, a missing
    /// or wrong answer is about the secret.
    pub(crate) async fn open(
        settings: &MtproxySettings,
        dc: i32,
        timeouts: ProxyTimeouts,
    ) -> Result<Self, MtproxyError> {
        let proxy = settings.to_string();
        let dc16 = i16::try_from(dc).map_err(|_| MtproxyError::UnknownDc {
            target: format!("DC {dc}"),
        })?;
        let connect = timeouts.connect;
        let stream = tokio::time::timeout(
            connect,
            TcpStream::connect((settings.host.as_str(), settings.port)),
        )
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::other(format!(
                "no connection within {connect:?}"
            )))
        })
        .map_err(|e| MtproxyError::Connect {
            proxy: proxy.clone(),
            reason: e.to_string(),
        })?;
        let _ = stream.set_nodelay(true);
        let (mut rx, mut tx) = stream.into_split();
        let key = settings.secret.key();
        let (tag, tls) = match settings.secret.kind() {
            SecretKind::Plain => (TAG_INTERMEDIATE, None),
            SecretKind::Padded => (TAG_PADDED, None),
            SecretKind::FakeTls { domain } => (TAG_PADDED, Some(domain.as_str())),
        };
        let (init, cipher) = obfs::client_init(key, tag, dc16, &mut rand::rng());
        // The proxy took the connection and then dropped it before our first bytes.
        let io = |_: std::io::Error| MtproxyError::Closed {
            proxy: proxy.clone(),
        };
        if let Some(domain) = tls {
            let now = u32::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0);
            let (hello, random) = obfs::client_hello(key, domain, now, &mut rand::rng());
            tx.write_all(&hello).await.map_err(io)?;
            let answer = tokio::time::timeout(timeouts.first_reply, read_server_hello(&mut rx))
                .await
                .map_err(|_| MtproxyError::TlsSilent {
                    proxy: proxy.clone(),
                    after: timeouts.first_reply,
                })?
                .map_err(|_| MtproxyError::TlsRefused {
                    proxy: proxy.clone(),
                })?;
            if !obfs::server_hello_ok(key, &random, &answer) {
                return Err(MtproxyError::TlsRefused {
                    proxy: proxy.clone(),
                });
            }
            // As clients do: ChangeCipherSpec, then the init in the first data record.
            let mut first = vec![0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
            first.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x40]);
            first.extend_from_slice(&init);
            tx.write_all(&first).await.map_err(io)?;
        } else {
            tx.write_all(&init).await.map_err(io)?;
        }
        Ok(ProxyConn {
            reader: ProxyReader {
                half: rx,
                dec: cipher.dec,
                tls: tls.is_some(),
            },
            writer: ProxyWriter {
                half: tx,
                enc: cipher.enc,
                tls: tls.is_some(),
                padded: tag == TAG_PADDED,
            },
        })
    }
}

/// Reads the proxy's ServerHello, ChangeCipherSpec and first application-data records.
async fn read_server_hello(rx: &mut OwnedReadHalf) -> std::io::Result<Vec<u8>> {
    let mut answer = Vec::with_capacity(512);
    for want in [0x16u8, 0x14, 0x17] {
        let mut head = [0u8; 5];
        rx.read_exact(&mut head).await?;
        if head[0] != want || head[1..3] != [0x03, 0x03] {
            return Err(std::io::Error::other("not a TLS server hello"));
        }
        let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
        let mut body = vec![0u8; len];
        rx.read_exact(&mut body).await?;
        answer.extend_from_slice(&head);
        answer.extend_from_slice(&body);
    }
    Ok(answer)
}

/// What [`check_proxy`] learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyCheck {
    pub dc_id: i32,
    pub round_trip: Duration,
    /// `true` if the DC answered the key-exchange probe (`resPQ`); `false` if it answered with
    /// a transport error, which still proves the proxy took the secret.
    pub res_pq: bool,
}

/// `check --online`: connects through the proxy to DC `dc_id`, sends the first key-exchange
/// request (`req_pq_multi`, unencrypted, harmless) and waits for any answer.
pub async fn check_proxy(
    settings: &MtproxySettings,
    dc_id: i32,
    timeouts: ProxyTimeouts,
) -> Result<ProxyCheck, MtproxyError> {
    let started = Instant::now();
    let conn = ProxyConn::open(settings, dc_id, timeouts).await?;
    let (mut reader, mut writer) = (conn.reader, conn.writer);
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let now = jiff::Timestamp::now();
    let msg_id = (now.as_second() << 32) | (i64::from(now.subsec_nanosecond()) & 0x7fff_fffc);
    let mut packet = Vec::with_capacity(40);
    packet.extend_from_slice(&[0u8; 8]);
    packet.extend_from_slice(&msg_id.to_le_bytes());
    packet.extend_from_slice(&20u32.to_le_bytes());
    packet.extend_from_slice(&0xbe7e_8ef1u32.to_le_bytes());
    packet.extend_from_slice(&nonce);
    writer.send(&packet).await?;
    let silent = || MtproxyError::Silent {
        proxy: settings.to_string(),
        after: timeouts.first_reply,
    };
    let closed = || MtproxyError::Closed {
        proxy: settings.to_string(),
    };
    let mut buf = Vec::new();
    let frame = tokio::time::timeout(timeouts.first_reply, async {
        loop {
            if let Some(frame) = framing::take_intermediate(&mut buf)
                .map_err(|e| MtproxyError::Io(format!("from the proxy: {e}")))?
            {
                return Ok(frame);
            }
            if !reader.recv(&mut buf).await? {
                return Err(closed());
            }
        }
    })
    .await
    .map_err(|_| silent())??;
    let round_trip = started.elapsed();
    match framing::unpad(&frame).map_err(|e| MtproxyError::Io(e.to_string()))? {
        Unpadded::TransportError(_) => Ok(ProxyCheck {
            dc_id,
            round_trip,
            res_pq: false,
        }),
        Unpadded::Packet(p) if p.get(20..24) == Some(&0x0516_2463u32.to_le_bytes()[..]) => {
            if p.get(24..40) == Some(&nonce[..]) {
                Ok(ProxyCheck {
                    dc_id,
                    round_trip,
                    res_pq: true,
                })
            } else {
                Err(MtproxyError::Io(
                    "the DC answered with another nonce".into(),
                ))
            }
        }
        Unpadded::Packet(_) => Err(MtproxyError::Io(
            "the proxy answered something other than resPQ".into(),
        )),
    }
}
