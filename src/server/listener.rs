//! The hardened accept loop: a cap on connections, the TLS handshake and its deadline,
//! HTTP/1.1 with a header deadline, writes that may not stall, and a graceful shutdown
//! that ends with closing what is left.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::writes::{Peer, VerifiedClient};
use super::ServerOptions;

/// Serves `router` on `listener` until `shutdown` completes (see [`super::serve_with`]).
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    options: &ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let tls = options
        .web
        .as_ref()
        .and_then(|w| w.tls.as_ref())
        .map(|t| TlsAcceptor::from(t.server_config.clone()));
    log_start(&listener, options);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true)
        // Scrapers send a few small headers; refuse floods early.
        .max_buf_size(64 * 1024)
        .max_headers(100);
    let verifies_clients = options
        .web
        .as_ref()
        .and_then(|w| w.tls.as_ref())
        .is_some_and(|t| {
            matches!(
                t.client_auth,
                crate::web_config::ClientAuth::VerifyClientCertIfGiven
                    | crate::web_config::ClientAuth::RequireAndVerifyClientCert
            )
        });
    let ctx = Arc::new(Connections {
        router,
        http,
        tls,
        verifies_clients,
        header_read_timeout: options.header_read_timeout,
        write_stall: options.request_timeout,
        abort: CancellationToken::new(),
    });

    // One permit per connection: the accept loop waits for a free one before accepting, so
    // excess connections wait in the kernel's backlog, and at shutdown holding every
    // permit means every connection has ended.
    let max = options.max_connections.clamp(1, 1 << 20);
    let slots = Arc::new(Semaphore::new(max));
    let stop = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = accept(&listener) => accepted,
        };
        tokio::spawn(connection(tcp, peer, ctx.clone(), permit, stop.clone()));
    }
    drop(listener);
    stop.cancel();
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(options.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            grace = %humantime::format_duration(options.shutdown_grace),
            "HTTP requests still under way at the end of the shutdown grace; closing them"
        );
        ctx.abort.cancel();
    }
    Ok(())
}

/// The next connection; failures to accept are logged and retried.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                // Out of file descriptors and the like: do not spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Says what is served where, and warns of passwords sent in the clear.
fn log_start(listener: &TcpListener, options: &ServerOptions) {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    match options.web.as_deref() {
        Some(web) => {
            if web.tls.is_none() && !web.users.is_empty() {
                tracing::warn!(
                    web_config = %web.path.display(),
                    "basic auth without TLS: passwords cross the network in the clear"
                );
            }
            tracing::info!(
                %addr,
                web_config = %web.path.display(),
                "serving {} ({})",
                if web.tls.is_some() { "HTTPS" } else { "HTTP" },
                web.summary()
            );
        }
        None => tracing::info!(%addr, "serving HTTP (no web config: no TLS, no auth)"),
    }
}

/// What every connection task shares.
struct Connections {
    /// [`secured_app`].
    router: Router,
    /// HTTP/1.1 settings: header timeout, buffer and header-count limits.
    http: hyper::server::conn::http1::Builder,
    /// The TLS acceptor, when serving TLS.
    tls: Option<TlsAcceptor>,
    /// True when the TLS settings verify client certificates against a CA: a connection
    /// that presented one is then authenticated (for writes, README, Silences).
    verifies_clients: bool,
    /// Deadline of a TLS handshake.
    header_read_timeout: Duration,
    /// The longest a write may make no progress.
    write_stall: Duration,
    /// Cancelled when the shutdown grace is over: connections still open close now.
    abort: CancellationToken,
}

/// One connection, from the TLS handshake (if any) to its close. Holds its slot `_permit`
/// throughout.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Connections>,
    _permit: OwnedSemaphorePermit,
    stop: CancellationToken,
) {
    // Responses are written whole; do not hold back their last segment.
    let _ = tcp.set_nodelay(true);
    let io = WriteStallGuard::new(tcp, ctx.write_stall);
    match &ctx.tls {
        None => serve_http(io, peer, None, &ctx, &stop).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(ctx.header_read_timeout, acceptor.accept(io));
            let stream = tokio::select! {
                () = stop.cancelled() => return,
                r = handshake => match r {
                    Ok(Ok(stream)) => stream,
                    // Scanners, plain HTTP on the TLS port, refused client certificates:
                    // frequent and not ours to fix, hence debug.
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                },
            };
            let client = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .filter(|_| ctx.verifies_clients)
                .map(|cert| {
                    use sha2::Digest;
                    let digest = sha2::Sha256::digest(cert.as_ref());
                    VerifiedClient(format!(
                        "client certificate sha256:{}",
                        hex::encode(&digest[..8])
                    ))
                });
            serve_http(stream, peer, client, &ctx, &stop).await
        }
    }
}

/// Serves HTTP/1.1 on one connection until the client leaves, a deadline passes, or
/// shutdown (which lets the request under way finish).
/// Every request carries the connection's [`Peer`] and, when one was verified, its
/// [`VerifiedClient`] (for the write policy and its log).
async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    client: Option<VerifiedClient>,
    ctx: &Connections,
    stop: &CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inner = TowerToHyperService::new(ctx.router.clone());
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(Peer(peer));
        if let Some(client) = &client {
            request.extensions_mut().insert(client.clone());
        }
        hyper::service::Service::call(&inner, request)
    });
    let conn = ctx.http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                r = conn.as_mut() => r,
                () = ctx.abort.cancelled() => return,
            }
        }
    };
    if let Err(e) = result {
        // Header timeouts, clients that vanish mid-request, malformed requests.
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// Fails a write that makes no progress for `limit`, so a client that stops reading its
/// response cannot hold a connection (and its slot) forever.
struct WriteStallGuard<T> {
    /// The connection.
    inner: T,
    /// How long a write may stay pending.
    limit: Duration,
    /// Armed when a write first returns pending; cleared by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteStallGuard<T> {
    /// `inner`, whose writes may stall for `limit` at most.
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes `poll` on, arming the stall timer while it is pending and failing once it fires.
    fn progress<R>(
        &mut self,
        poll: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match poll {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteStallGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteStallGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(poll, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(poll, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(poll, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progress(poll, cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_write_the_client_never_reads_fails_after_the_stall_limit() {
        use tokio::io::AsyncWriteExt;
        let limit = Duration::from_secs(1);
        // A 16-byte pipe whose reading end nobody reads: the second write can never finish.
        let (ours, _theirs) = tokio::io::duplex(16);
        let mut guarded = WriteStallGuard::new(ours, limit);
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(10), guarded.write_all(&[0; 64]))
            .await
            .expect("the write gives up well within 10s");
        let err = result.expect_err("the write cannot complete");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());

        // Progress, however slow, is not a stall.
        let (ours, mut theirs) = tokio::io::duplex(16);
        let mut guarded = WriteStallGuard::new(ours, limit);
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 16];
            let mut total = 0;
            while total < 64 {
                tokio::time::sleep(limit / 20).await;
                total += theirs.read(&mut buf).await.expect("read");
            }
        });
        guarded
            .write_all(&[0; 64])
            .await
            .expect("slow progress is fine");
        reader.await.expect("reader");
    }
}
