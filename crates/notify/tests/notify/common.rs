//! Test doubles on loopback: an axum server on its own thread and runtime, and HTTP clients
//! without timers.
//!
//! Why a thread of its own: the tests run on tokio's paused clock, which jumps to the next timer
//! whenever the runtime waits, including while it waits for a socket. A server on the paused
//! runtime (or a client with a timeout) would make time jump in the middle of a request. So the
//! server runs on a real-time runtime and the client has no timers: while a request is in
//! flight the paused runtime has nothing to jump to and simply waits for the reply.

use std::net::SocketAddr;

use axum::Router;

pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Not joined: a handler that hangs on purpose would keep the thread forever.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `router` on 127.0.0.1:<free port>. The listener is bound before this returns, so a
/// request made right after is queued by the kernel: nothing to wait for.
pub fn serve(router: Router) -> TestServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
    });
    TestServer {
        addr,
        shutdown: Some(tx),
    }
}

/// A reqwest client with no timers (no timeouts, no idle-pool sweeper): see the module doc.
pub fn client_without_timers() -> reqwest::Client {
    smb_notify::install_crypto_provider();
    reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .expect("reqwest client")
}
