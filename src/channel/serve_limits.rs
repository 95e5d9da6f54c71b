//! What keeps `krait serve` answering when clients are slow or many: the one accept loop of
//! HTTP and HTTPS, with
//! - a connection limit: past it, a new connection gets `503 Service Unavailable` (plain
//!   HTTP; over TLS it is closed) instead of waiting unseen in the listen backlog;
//! - a header timeout: a connection must send a whole request head (and finish its TLS
//!   handshake) within it, and an idle keep-alive connection its next request; otherwise it
//!   is closed, so half-sent headers do not hold connections open;
//! - an idle timeout: an upload body that stops arriving, or a download the client stops
//!   reading, for that long ends the connection.

use axum::extract::ConnectInfo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The limits of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time to send a request head (or, on an idle keep-alive connection, the next one).
    pub header_timeout: Duration,
    /// Time an upload body or a download may make no progress.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What a connection past the limit is told before it is closed (plain HTTP only).
fn busy_reply() -> Vec<u8> {
    let body = "error: the server has too many connections; try again soon\n";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Accepts connections until `shutdown` completes. Each one is first passed through
/// `handshake` (TLS, or nothing for plain HTTP; `None` drops it) and then served by `app`,
/// with the peer address available to handlers as `ConnectInfo`.
pub async fn accept_loop<S, H, F>(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: Limits,
    handshake: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(TcpStream) -> F + Clone + Send + 'static,
    F: Future<Output = Option<S>> + Send,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.idle_timeout,
    ));
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(
                "refusing {peer}: {} connections open",
                limits.max_connections
            );
            tokio::spawn(refuse_busy(stream));
            continue;
        };
        let handshake = handshake.clone();
        let service = app
            .clone()
            .layer(axum::Extension(ConnectInfo::<SocketAddr>(peer)));
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(limits.header_timeout, handshake(stream)).await
            {
                Ok(Some(stream)) => stream,
                _ => return,
            };
            let io = hyper_util::rt::TokioIo::new(WriteStall::new(stream, limits.idle_timeout));
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(io, hyper_util::service::TowerToHyperService::new(service))
                .await;
            if let Err(e) = served {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
}

/// Tells a plain-HTTP client over the limit to come back, without reading its request.
async fn refuse_busy(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = stream.write_all(&busy_reply()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// A stream whose writes fail once they have waited `limit` for the client to read.
struct WriteStall<S> {
    inner: S,
    limit: Duration,
    /// Running while a write waits.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteStall<S> {
    fn new(inner: S, limit: Duration) -> WriteStall<S> {
        WriteStall {
            inner,
            limit,
            stalled: None,
        }
    }

    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if result.is_ready() {
            self.stalled = None;
            return result;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStall<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStall<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
