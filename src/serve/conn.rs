//! The connection loop of `segue serve`: HTTP/1.1 over TCP with the limits that keep slow or
//! idle clients from holding the server (a header-read timeout, a body-read timeout, an idle
//! timeout, a cap on open connections) and a graceful shutdown that has a deadline.
//!
//! `axum::serve` exposes none of these, so the loop is written here on hyper's connection
//! builder, serving the same axum [`Router`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

/// The limits of one server. Every timeout is a whole-phase deadline, so a client that sends a
/// byte now and then cannot stretch a phase.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body in bytes (413 beyond).
    pub body_limit: usize,
    /// Time from waiting for a request (a new connection, or the next request of a kept-alive
    /// one) to its last header byte; past it the connection is closed without an answer. So
    /// this also closes idle kept-alive connections.
    pub header_timeout: Duration,
    /// Time from the end of the headers to the last body byte; past it the answer is 408 and
    /// the connection is closed.
    pub body_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed (a client that
    /// stops reading its answer, or stalls between body bytes).
    pub idle_timeout: Duration,
    /// Open connections at most; one more is answered 503 and closed at once.
    pub max_connections: usize,
    /// After Ctrl-C: how long open requests may still finish before the server exits anyway.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_limit: 65536,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets open
/// requests finish for at most `limits.shutdown_timeout`, and returns.
pub async fn serve_on(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // A client may shut its write side once the request is sent (netcat, some proxies);
        // without this hyper drops such a connection unanswered whenever it notices the EOF
        // before the response is written, a race. The idle timeout still bounds the connection.
        .half_close(true)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of descriptors and the like: wait a moment rather than spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = open.clone().try_acquire_owned() else {
                    tokio::spawn(refuse_busy(stream, limits.max_connections));
                    continue;
                };
                let io = TokioIo::new(Idle::new(stream, limits.idle_timeout));
                let conn = http.serve_connection(io, TowerToHyperService::new(app.clone()));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // Errors here are the client's (timeouts, resets, bad requests that hyper
                    // has already answered): nothing for the server to do.
                    let _ = conn.await;
                    drop(permit);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.shutdown_timeout) => {
            tracing::warn!(
                "requests still open {:.1} s after the shutdown signal; exiting anyway",
                limits.shutdown_timeout.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Answers a connection over the cap with 503 in the service's JSON error shape, then closes.
async fn refuse_busy(mut stream: TcpStream, cap: usize) {
    let body = json!({"error": {
        "status": 503,
        "code": "too_many_connections",
        "message": format!("the server holds its maximum of {cap} open connections; retry later"),
        "details": [],
    }})
    .to_string();
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// A TCP stream that fails with `TimedOut` once no byte has moved either way for `idle`.
struct Idle {
    io: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Idle {
    fn new(io: TcpStream, idle: Duration) -> Self {
        Idle {
            io,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// Passes on the outcome of a read or write: one that completed restarts the idle clock;
    /// one still pending past the deadline fails with `TimedOut`.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                let next = Instant::now() + self.idle;
                self.deadline.as_mut().reset(next);
                Poll::Ready(r)
            }
            Poll::Pending if self.deadline.as_mut().poll(cx).is_ready() => Poll::Ready(Err(
                io::Error::new(io::ErrorKind::TimedOut, "connection idle for too long"),
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Idle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        this.watch(cx, polled)
    }
}

impl AsyncWrite for Idle {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::http::guarded;
    use axum::body::Bytes;
    use axum::routing::post;
    use std::net::SocketAddr;
    use tokio::io::AsyncReadExt;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    type Server = (SocketAddr, oneshot::Sender<()>, JoinHandle<io::Result<()>>);

    /// An echo service behind the same guard and connection loop as `segue serve`.
    async fn start(limits: Limits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = guarded(
            Router::new().route("/echo", post(|b: Bytes| async move { b })),
            &limits,
        );
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_on(listener, app, limits, async {
            let _ = rx.await;
        }));
        (addr, tx, task)
    }

    async fn connect_and_send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        s
    }

    /// Everything the server sends until it closes the connection, or `None` if it is still
    /// open after `wait`.
    async fn until_closed(s: &mut TcpStream, wait: Duration) -> Option<String> {
        let mut out = Vec::new();
        match tokio::time::timeout(wait, s.read_to_end(&mut out)).await {
            Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
            Err(_) => None,
        }
    }

    fn echo_request(body: &str, keep_alive: bool) -> String {
        format!(
            "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: {}\r\n\r\n{body}",
            body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_clients_are_cut_off_while_others_are_served() {
        let limits = Limits {
            header_timeout: secs(0.5),
            body_timeout: secs(0.5),
            idle_timeout: secs(30.0),
            ..Default::default()
        };
        let (addr, stop, task) = start(limits).await;
        let t0 = std::time::Instant::now();
        let mut half_headers = Vec::new();
        for _ in 0..20 {
            half_headers.push(connect_and_send(addr, b"POST /echo HTTP/1.1\r\nhost: x\r\n").await);
        }
        let mut half_body = connect_and_send(
            addr,
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789",
        )
        .await;
        // A normal client is answered while the slow ones hold their connections.
        let t = std::time::Instant::now();
        let mut ok = connect_and_send(addr, echo_request("hello", false).as_bytes()).await;
        let answer = until_closed(&mut ok, secs(5.0)).await.expect("answered");
        let latency = t.elapsed();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hello"), "{answer}");
        assert!(latency < secs(0.4), "normal request took {latency:?}");
        // The slow ones are cut off: half-sent headers without an answer, a half-sent body
        // with 408 in the service's JSON error shape.
        for s in &mut half_headers {
            let got = until_closed(s, secs(5.0)).await.expect("closed");
            assert!(!got.contains("200"), "{got}");
        }
        let got = until_closed(&mut half_body, secs(5.0))
            .await
            .expect("closed");
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
        assert!(got.contains(r#""code":"body_timeout""#), "{got}");
        assert!(t0.elapsed() < secs(4.0));
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_kept_alive_connections_are_closed() {
        // By the header timeout (waiting for the next request) ...
        let (addr, stop, task) = start(Limits {
            header_timeout: secs(0.3),
            ..Default::default()
        })
        .await;
        let mut s = connect_and_send(addr, echo_request("one", true).as_bytes()).await;
        let got = until_closed(&mut s, secs(5.0))
            .await
            .expect("closed when idle");
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("one"),
            "{got}"
        );
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
        // ... and by the idle timeout when no byte moves, whatever the header timeout.
        let (addr, stop, task) = start(Limits {
            header_timeout: secs(60.0),
            idle_timeout: secs(0.3),
            ..Default::default()
        })
        .await;
        let mut s = connect_and_send(addr, b"POST /echo HTTP/1.1\r\nhost: x\r\n").await;
        assert!(until_closed(&mut s, secs(5.0)).await.is_some());
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_over_the_cap_get_503() {
        let (addr, stop, task) = start(Limits {
            max_connections: 2,
            ..Default::default()
        })
        .await;
        let a = connect_and_send(addr, b"").await;
        let _b = connect_and_send(addr, b"").await;
        tokio::time::sleep(secs(0.2)).await;
        let mut c = connect_and_send(addr, echo_request("x", false).as_bytes()).await;
        let got = until_closed(&mut c, secs(5.0))
            .await
            .expect("refused at once");
        assert!(got.starts_with("HTTP/1.1 503"), "{got}");
        assert!(got.contains(r#""code":"too_many_connections""#), "{got}");
        // A freed slot serves again.
        drop(a);
        tokio::time::sleep(secs(0.2)).await;
        let mut d = connect_and_send(addr, echo_request("back", false).as_bytes()).await;
        let got = until_closed(&mut d, secs(5.0)).await.expect("answered");
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("back"),
            "{got}"
        );
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_has_a_deadline() {
        let (addr, stop, task) = start(Limits {
            header_timeout: secs(60.0),
            idle_timeout: secs(60.0),
            shutdown_timeout: secs(0.3),
            ..Default::default()
        })
        .await;
        let _half = connect_and_send(addr, b"POST /echo HTTP/1.1\r\nhost: x\r\n").await;
        tokio::time::sleep(secs(0.1)).await;
        let t = std::time::Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(secs(5.0), task)
            .await
            .expect("the server exits within its shutdown deadline")
            .unwrap()
            .unwrap();
        assert!(t.elapsed() >= secs(0.25), "{:?}", t.elapsed());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn protocol_errors_are_refused_by_hyper() {
        // These never reach a handler; hyper answers with a bare status line (documented in
        // the service's module doc), and the server goes on serving.
        let (addr, stop, task) = start(Limits::default()).await;
        let cases: [(&[u8], &str); 4] = [
            (b"GARBAGE\r\n\r\n", "HTTP/1.1 400"),
            (b"POST /echo HTTP/9.9\r\nhost: x\r\n\r\n", "HTTP/1.1 400"),
            (b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n", "HTTP/1.1 400"),
            (
                b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999999999999999\r\n\r\n",
                "HTTP/1.1 400",
            ),
        ];
        for (req, want) in cases {
            let mut s = connect_and_send(addr, req).await;
            let got = until_closed(&mut s, secs(5.0)).await.expect("answered");
            assert!(
                got.starts_with(want),
                "{:?}: {got}",
                String::from_utf8_lossy(req)
            );
        }
        let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
        let mut s = connect_and_send(
            addr,
            format!("GET /echo HTTP/1.1\r\nhost: x\r\n{many}\r\n").as_bytes(),
        )
        .await;
        let got = until_closed(&mut s, secs(5.0)).await.expect("answered");
        assert!(got.starts_with("HTTP/1.1 431"), "{got}");
        let mut ok = connect_and_send(addr, echo_request("still", false).as_bytes()).await;
        let got = until_closed(&mut ok, secs(5.0)).await.expect("answered");
        assert!(got.ends_with("still"), "{got}");
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }
}
