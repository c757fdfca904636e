//! The HTTP server under the dashboard, the API and `/metrics`: hyper's HTTP/1 connection
//! driver on our own accept loop, so that no client can hold a connection — or the process's
//! file descriptors, which the journal and the control socket need too — for ever.
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `WEB_HEADER_TIMEOUT` | `10` | seconds from the first byte of a request to its last header line |
//! | `WEB_BODY_TIMEOUT` | `30` | seconds from a request's head to the end of its body |
//! | `WEB_IDLE_TIMEOUT` | `60` | seconds a connection may stay open without a request (new or kept alive) |
//! | `WEB_MAX_CONNECTIONS` | `512` | connections served at once; at the limit the oldest idle one is closed to make room |
//!
//! The same limits hold for the dashboard's server and the `/metrics` server. Closing slow or
//! idle clients is normal operation, not an error: each kind is logged as a warning at most once
//! a minute, with the count since the last line, so a flood cannot flood the log too.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;

/// How often a kind of closed connection is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// How long connections may finish what they are doing after the server was told to stop.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Time and connection bounds of a server. Defaults in the module table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerLimits {
    /// From the first byte of a request to the end of its head (request line and headers).
    pub header_timeout: Duration,
    /// From a request's head to the end of its body.
    pub body_timeout: Duration,
    /// How long a connection may stay without a request: after it opened, or between requests.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// A limit setting that is not a number in its range.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {expected}")]
pub struct LimitError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// The most connections a server may be told to hold; beyond, file descriptors run out first.
pub const MAX_CONNECTIONS_CEILING: usize = 1_000_000;

impl ServerLimits {
    /// From the merged `.env` + environment; unset or empty values keep the defaults.
    pub fn from_env_map(env: &HashMap<String, String>) -> Result<Self, LimitError> {
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let secs = |name: &'static str, default: Duration| -> Result<Duration, LimitError> {
            let Some(raw) = get(name) else {
                return Ok(default);
            };
            raw.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| LimitError {
                    name,
                    value: raw.into(),
                    expected: "expected seconds above 0 and at most 86400, such as 10",
                })
        };
        let d = ServerLimits::default();
        let max_connections = match get("WEB_MAX_CONNECTIONS") {
            None => d.max_connections,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_CONNECTIONS_CEILING).contains(n))
                .ok_or_else(|| LimitError {
                    name: "WEB_MAX_CONNECTIONS",
                    value: raw.into(),
                    expected: "expected a whole number from 1 to 1000000, such as 512",
                })?,
        };
        Ok(ServerLimits {
            header_timeout: secs("WEB_HEADER_TIMEOUT", d.header_timeout)?,
            body_timeout: secs("WEB_BODY_TIMEOUT", d.body_timeout)?,
            idle_timeout: secs("WEB_IDLE_TIMEOUT", d.idle_timeout)?,
            max_connections,
        })
    }

    /// How often a connection's clocks are looked at: a quarter of the shortest timeout,
    /// between 20 ms and 1 s (so a timeout is enforced at most a quarter late).
    fn tick(&self) -> Duration {
        let shortest = self
            .header_timeout
            .min(self.body_timeout)
            .min(self.idle_timeout);
        (shortest / 4).clamp(Duration::from_millis(20), Duration::from_secs(1))
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then gives the listener back (a
/// reload that keeps the address serves the next round on the same socket). `name` ("web",
/// "metrics") tells the server's log lines apart.
///
/// Connections still open at `shutdown` finish their request (new ones on them are refused) for
/// up to 2 s, then they are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    name: &'static str,
    shutdown: CancellationToken,
) -> TcpListener {
    let server = Arc::new(Server {
        name,
        limits,
        conns: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(0),
        evicted: Tally::new(
            name,
            "connection limit (WEB_MAX_CONNECTIONS) reached: closed the oldest idle connections to make room",
        ),
        refused: Tally::new(
            name,
            "connection limit (WEB_MAX_CONNECTIONS) reached with every connection busy: refused new connections",
        ),
        slow_head: Tally::new(
            name,
            "closed connections that did not send a complete request head within WEB_HEADER_TIMEOUT",
        ),
        slow_body: Tally::new(
            name,
            "closed connections that did not send a complete request body within WEB_BODY_TIMEOUT",
        ),
        accept_failed: Tally::new(name, "accepting connections failed"),
    });
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (EMFILE) or the like: back off instead of spinning.
                server.accept_failed.note_with(&e.to_string());
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                continue;
            }
        };
        let Some(conn) = server.admit(peer) else {
            server.refused.note(Some(peer));
            drop(stream);
            continue;
        };
        let (server, app, shutdown) = (server.clone(), app.clone(), shutdown.clone());
        tokio::spawn(async move {
            let id = conn.id;
            server.connection(stream, peer, conn, app, shutdown).await;
            locked(&server.conns).remove(&id);
        });
    }
    listener
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Server {
    name: &'static str,
    limits: ServerLimits,
    /// Open connections by id; ids grow, so the first idle one is the oldest.
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next_id: Mutex<u64>,
    evicted: Tally,
    refused: Tally,
    slow_head: Tally,
    slow_body: Tally,
    accept_failed: Tally,
}

/// Why a connection was closed by the server.
enum Close {
    Idle,
    SlowHead,
    SlowBody,
    Evicted,
}

impl Server {
    /// Registers a new connection; at the limit the oldest idle connection makes room, and
    /// when every connection is busy there is none (the new one is refused).
    fn admit(&self, peer: SocketAddr) -> Option<Arc<Conn>> {
        let mut conns = locked(&self.conns);
        if conns.len() >= self.limits.max_connections {
            let oldest_idle = conns
                .iter()
                .find(|(_, c)| c.state().busy == 0)
                .map(|(id, _)| *id)?;
            if let Some(c) = conns.remove(&oldest_idle) {
                c.close.cancel();
                self.evicted.note(c.peer);
            }
        }
        let id = {
            let mut next = locked(&self.next_id);
            *next += 1;
            *next
        };
        let conn = Arc::new(Conn {
            id,
            peer: Some(peer),
            state: Mutex::new(ConnState {
                busy: 0,
                body_open: false,
                since: Instant::now(),
                head_started: None,
            }),
            close: CancellationToken::new(),
        });
        conns.insert(id, conn.clone());
        Some(conn)
    }

    async fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        conn: Arc<Conn>,
        app: Router,
        shutdown: CancellationToken,
    ) {
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Watched {
            io: stream,
            conn: conn.clone(),
            rewrite: None,
        });
        let in_service = conn.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = in_service.begin(hyper::body::Body::is_end_stream(req.body()));
            let conn = in_service.clone();
            let req = req.map(|inner| {
                Body::new(Tracked {
                    inner,
                    conn,
                    done: false,
                })
            });
            let mut app = app.clone();
            async move {
                let resp = match app.call(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(resp.map(|inner| Guarded { inner, _busy: busy }))
            }
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        // The timeouts are ours (the watchdog below): hyper's header timer would also count the
        // idle time before a request, which WEB_IDLE_TIMEOUT bounds on its own.
        http.header_read_timeout(None).keep_alive(true);
        let served = http.serve_connection(io, service);
        tokio::pin!(served);
        let mut tick = tokio::time::interval(self.limits.tick());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let closed = loop {
            tokio::select! {
                r = served.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(server = self.name, %peer, error = %e, "connection ended with an error");
                    }
                    break None;
                }
                _ = tick.tick() => {
                    if let Some(why) = conn.verdict(&self.limits, Instant::now()) {
                        break Some(why);
                    }
                }
                _ = conn.close.cancelled() => break Some(Close::Evicted),
                _ = shutdown.cancelled() => {
                    served.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(STOP_GRACE, served.as_mut()).await;
                    break None;
                }
            }
        };
        match closed {
            Some(Close::SlowHead) => self.slow_head.note(Some(peer)),
            Some(Close::SlowBody) => self.slow_body.note(Some(peer)),
            Some(Close::Idle) => {
                tracing::debug!(server = self.name, %peer, "closed an idle connection (WEB_IDLE_TIMEOUT)");
            }
            // Counted when it was chosen.
            Some(Close::Evicted) | None => {}
        }
        // Dropping `served` closes the socket.
    }
}

/// One connection's clocks, kept by its IO (bytes read), its service (requests) and its
/// bodies; read by its watchdog.
struct Conn {
    id: u64,
    peer: Option<SocketAddr>,
    state: Mutex<ConnState>,
    /// Cancelled to make room for a new connection.
    close: CancellationToken,
}

struct ConnState {
    /// Requests whose response has not been sent to its end.
    busy: u32,
    /// The body of the current request has not been read to its end.
    body_open: bool,
    /// Idle: since when. Busy: when the current request's head was complete.
    since: Instant,
    /// Idle: when the first byte of the next request arrived.
    head_started: Option<Instant>,
}

impl Conn {
    fn state(&self) -> MutexGuard<'_, ConnState> {
        locked(&self.state)
    }

    fn on_bytes(&self) {
        let mut s = self.state();
        if s.busy == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
        }
    }

    fn begin(self: &Arc<Self>, body_empty: bool) -> Busy {
        let mut s = self.state();
        s.busy += 1;
        s.body_open = !body_empty;
        s.since = Instant::now();
        s.head_started = None;
        Busy(self.clone())
    }

    fn body_done(&self) {
        self.state().body_open = false;
    }

    fn verdict(&self, limits: &ServerLimits, now: Instant) -> Option<Close> {
        let s = self.state();
        if s.busy > 0 {
            return (s.body_open && now.duration_since(s.since) >= limits.body_timeout)
                .then_some(Close::SlowBody);
        }
        match s.head_started {
            Some(t) => (now.duration_since(t) >= limits.header_timeout).then_some(Close::SlowHead),
            None => (now.duration_since(s.since) >= limits.idle_timeout).then_some(Close::Idle),
        }
    }
}

/// A request in flight, from its head to the end of its response.
struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.busy = s.busy.saturating_sub(1);
        if s.busy == 0 {
            s.since = Instant::now();
            s.head_started = None;
            s.body_open = false;
        }
    }
}

/// The socket, telling its connection when bytes arrive, and giving hyper's own error answers
/// a body.
///
/// hyper answers a request it cannot parse by itself, before any service runs: 400 (not
/// HTTP/1.1), 414 (a request line over 65 534 bytes) or 431 (a head over about 400 KiB or with
/// more than 100 headers), each with an empty body. The API promises `{code, message}` for every
/// error, so such a head, recognised as it is written, is replaced by the same status with that
/// body. Only hyper writes an empty 4xx without a `content-type`: the app's errors always carry
/// JSON ([`crate::router`] rewrites axum's plain ones).
struct Watched {
    io: TcpStream,
    conn: Arc<Conn>,
    /// A replacement being written: its bytes, how many are out, and how many bytes of hyper's
    /// own answer it stands for (reported written once the replacement is).
    rewrite: Option<(Vec<u8>, usize, usize)>,
}

/// hyper's automatic answer to an unparsable request, as JSON: `None` for anything else.
fn error_answer(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"HTTP/1.1 ")?;
    let (code, message) = match rest.get(..3)? {
        b"400" => (
            "invalid",
            "the request is not valid HTTP/1.1 (request line or a header does not parse)",
        ),
        b"414" => (
            "uri_too_long",
            "the request line is longer than the server takes (65 534 bytes): send fewer or shorter query parameters",
        ),
        b"431" => (
            "headers_too_large",
            "the request head is larger than the server takes (about 400 KiB, at most 100 headers): send fewer or shorter headers",
        ),
        _ => return None,
    };
    if !head.ends_with(b"\r\n\r\n") || head.len() > 1024 {
        return None;
    }
    let lower = head.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if !has(b"\r\ncontent-length: 0\r\n") || has(b"\r\ncontent-type:") {
        return None;
    }
    let status_line = head.split(|b| *b == b'\n').next()?;
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    let mut out = Vec::with_capacity(status_line.len() + body.len() + 128);
    out.extend_from_slice(status_line);
    out.extend_from_slice(b"\ncontent-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

impl Watched {
    /// Writes the pending replacement; `Ready(Ok(n))` with the size of what it replaced once done.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            let Some((bytes, out, stands_for)) = &mut self.rewrite else {
                return Poll::Ready(Ok(0));
            };
            if *out >= bytes.len() {
                let n = *stands_for;
                self.rewrite = None;
                return Poll::Ready(Ok(n));
            }
            match Pin::new(&mut self.io).poll_write(cx, &bytes[*out..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *out += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.on_bytes();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewrite.is_none()
            && let Some(answer) = error_answer(buf)
        {
            this.rewrite = Some((answer, 0, buf.len()));
        }
        if this.rewrite.is_some() {
            return this.poll_rewrite(cx);
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.rewrite.is_none() {
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            if total <= 1024 && bufs.first().is_some_and(|b| b.starts_with(b"HTTP/1.1 4")) {
                let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                if let Some(answer) = error_answer(&joined) {
                    this.rewrite = Some((answer, 0, total));
                }
            }
        }
        if this.rewrite.is_some() {
            return this.poll_rewrite(cx);
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request body that tells its connection when it has been read to its end.
struct Tracked {
    inner: Incoming,
    conn: Arc<Conn>,
    done: bool,
}

impl Tracked {
    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.conn.body_done();
        }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(None | Some(Err(_))) => this.finish(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.finish(),
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    /// A handler that drops the body unread waits for it no longer; the bytes still to come
    /// count as the next request's head, so WEB_HEADER_TIMEOUT bounds them.
    fn drop(&mut self) {
        self.finish();
    }
}

/// A response body that keeps its request counted as in flight until it is sent or dropped.
struct Guarded {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts one kind of event and logs it at most once per [`LOG_EVERY`].
struct Tally {
    server: &'static str,
    what: &'static str,
    /// (events since the last line, when the last line was written)
    state: Mutex<(u64, Option<Instant>)>,
}

impl Tally {
    fn new(server: &'static str, what: &'static str) -> Tally {
        Tally {
            server,
            what,
            state: Mutex::new((0, None)),
        }
    }

    fn note(&self, peer: Option<SocketAddr>) {
        self.note_with(&peer.map(|p| p.to_string()).unwrap_or_default());
    }

    fn note_with(&self, last: &str) {
        let mut s = locked(&self.state);
        s.0 += 1;
        if s.1.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            tracing::warn!(
                server = self.server,
                count = s.0,
                last = %last,
                "{} (logged at most once a minute)",
                self.what
            );
            *s = (0, Some(Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn limits_have_defaults_and_name_a_bad_value() {
        assert_eq!(
            ServerLimits::from_env_map(&env(&[])).unwrap(),
            ServerLimits::default()
        );
        let l = ServerLimits::from_env_map(&env(&[
            ("WEB_HEADER_TIMEOUT", "0.5"),
            ("WEB_BODY_TIMEOUT", "7"),
            ("WEB_IDLE_TIMEOUT", " 120 "),
            ("WEB_MAX_CONNECTIONS", "64"),
        ]))
        .unwrap();
        assert_eq!(l.header_timeout, Duration::from_millis(500));
        assert_eq!(l.body_timeout, Duration::from_secs(7));
        assert_eq!(l.idle_timeout, Duration::from_secs(120));
        assert_eq!(l.max_connections, 64);
        for (name, value) in [
            ("WEB_HEADER_TIMEOUT", "0"),
            ("WEB_BODY_TIMEOUT", "-1"),
            ("WEB_IDLE_TIMEOUT", "soon"),
            ("WEB_IDLE_TIMEOUT", "inf"),
            ("WEB_MAX_CONNECTIONS", "0"),
            ("WEB_MAX_CONNECTIONS", "1.5"),
        ] {
            let e = ServerLimits::from_env_map(&env(&[(name, value)])).unwrap_err();
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("{name}=\"{value}\" is not valid")),
                "{text}"
            );
        }
    }

    #[test]
    fn the_watchdog_tells_idle_slow_head_and_slow_body_apart() {
        let limits = ServerLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 2,
        };
        let t0 = Instant::now();
        let conn = Arc::new(Conn {
            id: 1,
            peer: None,
            state: Mutex::new(ConnState {
                busy: 0,
                body_open: false,
                since: t0,
                head_started: None,
            }),
            close: CancellationToken::new(),
        });
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(conn.verdict(&limits, at(59)).is_none());
        assert!(matches!(conn.verdict(&limits, at(60)), Some(Close::Idle)));
        conn.state().head_started = Some(at(5));
        assert!(conn.verdict(&limits, at(14)).is_none());
        assert!(matches!(
            conn.verdict(&limits, at(15)),
            Some(Close::SlowHead)
        ));
        let busy = conn.begin(false);
        let started = conn.state().since;
        let after = |s: u64| started + Duration::from_secs(s);
        assert!(conn.verdict(&limits, after(29)).is_none());
        assert!(matches!(
            conn.verdict(&limits, after(30)),
            Some(Close::SlowBody)
        ));
        conn.body_done();
        assert!(
            conn.verdict(&limits, after(3600)).is_none(),
            "a handler may take its time once the body is in"
        );
        drop(busy);
        assert_eq!(conn.state().busy, 0);
        assert!(conn.state().head_started.is_none());
    }
}
