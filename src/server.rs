//! Our HTTP endpoints (SPEC §4). Handlers only serve what the last sweep left in
//! [`AppState`]: for `/metrics`, bytes rendered and compressed once per sweep, streamed
//! without a copy; for `/api/v1/status`, the sweep's snapshot and alerts, serialised on
//! request and streamed in chunks. Nothing here talks to the upstream.
//!
//! The router ([`app`]) knows nothing of security; [`serve_with`] puts it behind what a
//! listener on a network needs: TLS and client certificates and basic auth from the
//! [web config](crate::web_config), a cap on connections, a deadline for request headers
//! (slowloris) and for each request, no request bodies, only `GET`/`HEAD`, and security
//! headers on every response. Connections are served by hyper directly (HTTP/1.1) so the
//! same path serves plain TCP and TLS streams.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::metrics::{scrape_stream, MonitorMetrics, RenderedProfiles, ScrapeStream};
use crate::status::StatusSource;
use crate::web_config::{RateLimit, WebConfig};

/// The content type of the Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoints serve. The daemon replaces the contents after every sweep.
///
/// `std::sync::RwLock` rather than tokio's: the locks are held only to clone a handle
/// (`Bytes`, `Arc`), never across an `.await`.
pub struct AppState {
    /// Process-lifetime self-metrics, encoded per scrape (they are small).
    pub monitor: Arc<MonitorMetrics>,
    /// Per-profile series of the last sweep, rendered once.
    pub profiles: RwLock<RenderedProfiles>,
    /// What the `/api/v1/status` document of the last sweep is made of (`None` before the
    /// first): serialised on request, since it is read far less often than sweeps happen
    /// and its text is large (about 0.5 KB per profile).
    pub status: RwLock<Option<Arc<StatusSource>>>,
    /// True once the first sweep has finished.
    pub ready: AtomicBool,
}

/// `/api/v1/status` before the first sweep.
const STATUS_NOT_READY: &[u8] = br#"{"ready":false,"last_sweep":null,"profiles":[],"alerts":[]}"#;

impl AppState {
    /// An empty state: not ready, no profiles, a status saying so.
    pub fn new(monitor: Arc<MonitorMetrics>) -> Self {
        Self {
            monitor,
            profiles: RwLock::new(RenderedProfiles::empty()),
            status: RwLock::new(None),
            ready: AtomicBool::new(false),
        }
    }

    /// Publishes the results of a sweep.
    pub fn publish(&self, profiles: RenderedProfiles, status: Arc<StatusSource>) {
        // Swap under the locks, drop the old values after: a large rendering is freed
        // without holding up a scrape.
        let old_profiles = std::mem::replace(
            &mut *self.profiles.write().unwrap_or_else(|e| e.into_inner()),
            profiles,
        );
        let old_status = self
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .replace(status);
        self.ready.store(true, Ordering::Release);
        drop((old_profiles, old_status));
    }
}

/// The router, separate from binding so tests can drive it with `oneshot`.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(status))
        .with_state(state)
}

/// How the server treats the network: the web config and the limits that keep hostile or
/// broken clients from holding it. [`ServerOptions::default`] is what the daemon uses
/// without a web config.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// TLS, client certificates, basic auth, extra headers and rate limit; `None` serves
    /// plain HTTP to anyone.
    pub web: Option<Arc<WebConfig>>,
    /// Time a client has to send a request's headers once the connection is ready for one:
    /// a slowloris client trickling bytes is cut off, and so is a keep-alive connection left
    /// idle that long. With TLS, also the time allowed for the handshake.
    pub header_read_timeout: Duration,
    /// Time from a request's headers to its response (503 past it), and the longest a
    /// response write may make no progress (a client that stops reading is dropped).
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// At shutdown, how long requests under way may take to finish before their
    /// connections are closed.
    pub shutdown_grace: Duration,
}

/// Request headers must arrive within this (the default of [`ServerOptions`]).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request must be answered within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Requests under way at shutdown may take this long to finish; less than the 5 s the
/// daemon waits for the server, so that the server ends on its own.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            web: None,
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

impl ServerOptions {
    /// The default limits with `web` (none: plain HTTP).
    pub fn with_web(web: Option<WebConfig>) -> Self {
        Self {
            web: web.map(Arc::new),
            ..Self::default()
        }
    }
}

/// Serves [`app`] on `listener` with the default [`ServerOptions`] (plain HTTP, no auth)
/// until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, state, ServerOptions::default(), shutdown).await
}

/// The headers every response carries. The CSP allows the index page's inline style and
/// nothing else; the rest stop sniffing, framing and referrer leaks.
const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// The challenge of a 401.
pub const WWW_AUTHENTICATE: &str = r#"Basic realm="inventory-monitor""#;

/// [`app`] behind the request checks of `options`: rate limit (429), `GET`/`HEAD` only
/// (405), no request body (413), basic auth (401), the request timeout (503), and the
/// security and configured headers on every response. What [`serve_with`] serves;
/// separate so tests can drive it with `oneshot`.
pub fn secured_app(state: Arc<AppState>, options: &ServerOptions) -> Router {
    let web = options.web.as_deref();
    let guard = Arc::new(Guard {
        headers: web.map(|w| w.headers.clone()).unwrap_or_default(),
        auth: web.and_then(|w| BasicAuth::new(&w.users)),
        limiter: web.and_then(|w| w.rate_limit).map(RateLimiter::new),
        request_timeout: options.request_timeout,
    });
    app(state).layer(axum::middleware::from_fn_with_state(guard, guard_layer))
}

/// Serves [`secured_app`] on `listener` until `shutdown` completes: TLS when the web config
/// has it, at most `max_connections` at once, with the deadlines of `options`. At shutdown
/// it stops accepting, lets requests under way finish for up to `shutdown_grace`, then
/// closes what is left.
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<AppState>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let tls = options
        .web
        .as_ref()
        .and_then(|w| w.tls.as_ref())
        .map(|t| TlsAcceptor::from(t.server_config.clone()));
    log_start(&listener, &options);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true)
        // Scrapers send a few small headers; refuse floods early.
        .max_buf_size(64 * 1024)
        .max_headers(100);
    let ctx = Arc::new(Connections {
        router: secured_app(state, &options),
        http,
        tls,
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
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
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
        None => serve_http(io, &ctx, &stop).await,
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
            serve_http(stream, &ctx, &stop).await
        }
    }
}

/// Serves HTTP/1.1 on one connection until the client leaves, a deadline passes, or
/// shutdown (which lets the request under way finish).
async fn serve_http<I>(io: I, ctx: &Connections, stop: &CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(ctx.router.clone());
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
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

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

/// The per-request checks of [`secured_app`].
struct Guard {
    /// `http_server_config.headers`, set after (so over) ours.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Basic auth, when the web config has users.
    auth: Option<BasicAuth>,
    /// The web config's rate limit.
    limiter: Option<RateLimiter>,
    /// Deadline from request headers to response.
    request_timeout: Duration,
}

async fn guard_layer(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let mut response = guard.admit(request, next).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for (name, value) in &guard.headers {
        headers.insert(name.clone(), value.clone());
    }
    response
}

impl Guard {
    async fn admit(&self, request: Request, next: Next) -> Response {
        if let Some(limiter) = &self.limiter {
            if !limiter.allow() {
                return plain(StatusCode::TOO_MANY_REQUESTS, "too many requests\n");
            }
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        // We serve only GET: a request that announces a body is not one of ours, and its
        // body is never read.
        if request.body().size_hint().exact() != Some(0) {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request bodies are not accepted\n",
            );
        }
        let answer = async {
            if let Some(auth) = &self.auth {
                if !auth
                    .verify(request.headers().get(header::AUTHORIZATION))
                    .await
                {
                    let mut response = plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(WWW_AUTHENTICATE),
                    );
                    return response;
                }
            }
            next.run(request).await
        };
        match tokio::time::timeout(self.request_timeout, answer).await {
            Ok(response) => response,
            Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "request timed out\n"),
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, Body::from(text)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Successful verifications remembered, so that a scraper's every request does not cost
/// a bcrypt run. Small: a few scrapers use a few credentials.
const VERIFIED_CACHE: usize = 64;

/// `Authorization: Basic` against bcrypt hashes.
struct BasicAuth {
    /// User name → bcrypt hash.
    users: HashMap<String, Secret>,
    /// A hash checked for unknown users, so that they take as long as known ones.
    decoy: Secret,
    /// Random per process: cache entries are `sha256(salt ‖ user:password)`, useless to
    /// anyone reading memory without it, and never a password.
    salt: [u8; 32],
    /// Digests of credentials that verified, oldest first.
    verified: Mutex<VecDeque<[u8; 32]>>,
    /// One bcrypt run at a time: wrong passwords cost one core at most.
    bcrypt: Semaphore,
}

impl BasicAuth {
    fn new(users: &std::collections::BTreeMap<String, Secret>) -> Option<Self> {
        let decoy = users.values().next()?.clone();
        Some(Self {
            users: users.iter().map(|(u, h)| (u.clone(), h.clone())).collect(),
            decoy,
            salt: rand::random(),
            verified: Mutex::new(VecDeque::with_capacity(VERIFIED_CACHE)),
            bcrypt: Semaphore::new(1),
        })
    }

    /// Whether `authorization` carries a known user and the password of its hash.
    async fn verify(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let digest = self.digest(&user, &password);
        if self.remembered(&digest) {
            return true;
        }
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u));
        let hash = known.unwrap_or(&self.decoy).clone();
        let Ok(_turn) = self.bcrypt.acquire().await else {
            return false;
        };
        let matches = tokio::task::spawn_blocking(move || {
            bcrypt::verify(&password, hash.expose()).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if matches && known.is_some() {
            self.remember(digest);
            true
        } else {
            false
        }
    }

    fn digest(&self, user: &[u8], password: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user);
        h.update(b":");
        h.update(password);
        h.finalize().into()
    }

    /// Compares against every entry in constant time, whichever matches.
    fn remembered(&self, digest: &[u8; 32]) -> bool {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = subtle::Choice::from(0);
        for entry in verified.iter() {
            found |= entry.ct_eq(digest);
        }
        found.into()
    }

    fn remember(&self, digest: [u8; 32]) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE {
            verified.pop_front();
        }
        verified.push_back(digest);
    }
}

/// User and password of `Authorization: Basic base64(user:password)`.
fn basic_credentials(value: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// A token bucket: `burst` requests at once, one more every `interval`.
struct RateLimiter {
    /// The web config's limit.
    limit: RateLimit,
    /// Tokens available and when they were counted.
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            bucket: Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    fn allow(&self) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let earned = now.duration_since(bucket.1).as_secs_f64() / self.limit.interval.as_secs_f64();
        bucket.0 = (bucket.0 + earned).min(f64::from(self.limit.burst));
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            true
        } else {
            false
        }
    }
}
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// A scrape's body: its chunks sent as they are produced, with an exact length.
struct ScrapeBody(ScrapeStream);

impl HttpBody for ScrapeBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(
            self.get_mut()
                .0
                .next()
                .map(|c| Ok(http_body::Frame::data(c))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.0.remaining() == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.remaining())
    }
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let gzip = accepts_gzip(&headers);
    let profiles = state
        .profiles
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // Streamed: the cached section is sent from the shared buffer, not copied per scrape.
    let body = Body::new(ScrapeBody(scrape_stream(&state.monitor, &profiles, gzip)));
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(METRICS_CONTENT_TYPE),
        )],
        body,
    )
        .into_response();
    if gzip {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first sweep has not finished\n",
        )
    }
}

async fn status(State(state): State<Arc<AppState>>) -> Response {
    let source = state
        .status
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let body = match source {
        None => Body::from(STATUS_NOT_READY),
        // Serialised on a blocking thread (100,000 profiles take tens of milliseconds) and
        // streamed through a small channel, so a request holds a few chunks, not the whole
        // document.
        Some(source) => {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tokio::task::spawn_blocking(move || {
                let mut out = ChunkWriter {
                    buf: Vec::with_capacity(STATUS_CHUNK + 4096),
                    tx,
                };
                let written = source
                    .write_to(&mut out)
                    .map_err(io::Error::from)
                    .and_then(|()| io::Write::flush(&mut out));
                if let Err(e) = written {
                    // The client went away (nobody to tell), or serialising failed: end the
                    // body with an error so the client sees a broken response, not a short one.
                    let _ = out.tx.blocking_send(Err(e));
                }
            });
            Body::new(ChannelBody(rx))
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Size of the chunks a status document is streamed in.
const STATUS_CHUNK: usize = 64 * 1024;

/// Collects what a serialiser writes and hands it on in chunks, waiting while the channel
/// is full (the client reads slower than we write).
struct ChunkWriter {
    /// Bytes not yet handed on.
    buf: Vec<u8>,
    /// Where chunks go: the response body.
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STATUS_CHUNK + 4096));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= STATUS_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// A response body fed through a channel.
struct ChannelBody(tokio::sync::mpsc::Receiver<io::Result<Bytes>>);

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(http_body::Frame::data)))
    }
}

async fn index() -> Html<String> {
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>inventory-monitor</title></head>
<body>
<h1>inventory-monitor</h1>
<p>Version {version}</p>
<ul>
<li><a href="metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="api/v1/status">/api/v1/status</a>: last sweep, every profile's health, pending and firing alerts (JSON)</li>
<li><a href="healthz">/healthz</a>: liveness</li>
<li><a href="readyz">/readyz</a>: readiness (200 after the first sweep)</li>
</ul>
</body>
</html>
"#,
        version = crate::VERSION
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    fn status_source(profiles: u64) -> Arc<StatusSource> {
        use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};
        let profiles = (1..=profiles)
            .map(|id| ProfileEntry {
                id,
                name: format!("profile \"{id}\""),
                organization: Some("Main Warehouse".into()),
                profile: None,
                up: id % 3 != 0,
                error: (id % 3 == 0).then(|| "timeout".to_string()),
                consecutive_failures: u32::from(id % 3 == 0),
            })
            .collect();
        Arc::new(StatusSource {
            snapshot: Arc::new(Snapshot {
                started_at: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
                duration: Duration::from_millis(1500),
                list: ListOutcome::Complete,
                listed: None,
                profiles,
                gone: Vec::new(),
                shard: crate::shard::Shard::default(),
            }),
            alerts: Vec::new(),
            now: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_700),
        })
    }

    async fn get_body(state: Arc<AppState>, path: &str, gzip: bool) -> (HeaderMap, Bytes) {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let mut request = Request::builder().uri(path);
        if gzip {
            request = request.header(header::ACCEPT_ENCODING, "gzip");
        }
        let response = app(state)
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (headers, body)
    }

    #[tokio::test]
    async fn the_status_document_is_streamed_as_rendered() {
        let state = Arc::new(AppState::new(Arc::new(MonitorMetrics::new(
            crate::shard::Shard::default(),
        ))));
        let (_, before) = get_body(state.clone(), "/api/v1/status", false).await;
        assert_eq!(before, Bytes::from_static(STATUS_NOT_READY));

        // Large enough to take many chunks through the channel.
        let source = status_source(3_000);
        state.publish(RenderedProfiles::empty(), source.clone());
        let (headers, body) = get_body(state, "/api/v1/status", false).await;
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let expected = source.render();
        assert!(
            expected.len() > 4 * STATUS_CHUNK,
            "{} bytes",
            expected.len()
        );
        assert_eq!(body, expected);
        let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(doc["profiles"].as_array().map(Vec::len), Some(3_000));
        assert_eq!(doc["profiles"][2]["error"], "timeout");
    }

    #[tokio::test]
    async fn metrics_bodies_carry_their_exact_length() {
        let monitor = Arc::new(MonitorMetrics::new(crate::shard::Shard::default()));
        let state = Arc::new(AppState::new(monitor.clone()));
        for gzip in [false, true] {
            let (headers, body) = get_body(state.clone(), "/metrics", gzip).await;
            assert_eq!(
                headers[header::CONTENT_LENGTH].to_str().ok(),
                Some(body.len().to_string().as_str())
            );
            assert_eq!(headers.contains_key(header::CONTENT_ENCODING), gzip);
        }
    }

    #[test]
    fn gzip_negotiation_follows_accept_encoding() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("gzip, deflate, br")));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    fn authorization(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let got = basic_credentials(&authorization("alice", "a:b:c")).unwrap();
        assert_eq!(got, (b"alice".to_vec(), b"a:b:c".to_vec()));
        let lower = HeaderValue::from_static("basic YWxpY2U6cHc=");
        assert_eq!(
            basic_credentials(&lower).unwrap(),
            (b"alice".to_vec(), b"pw".to_vec())
        );
        for refused in [
            "Bearer YWxpY2U6cHc=",
            "Basic not-base64!",
            "Basic YWxpY2U=", // "alice": no colon
            "Basic",
        ] {
            assert_eq!(
                basic_credentials(&HeaderValue::from_static(refused)),
                None,
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn only_verified_credentials_are_remembered() {
        let users = [
            (
                "alice".to_string(),
                Secret::new(bcrypt::hash("alice-pw", 4).unwrap()),
            ),
            (
                "bob".to_string(),
                Secret::new(bcrypt::hash("bob-pw", 4).unwrap()),
            ),
        ]
        .into_iter()
        .collect();
        let auth = BasicAuth::new(&users).unwrap();

        assert!(!auth.verify(Some(&authorization("alice", "bob-pw"))).await);
        assert!(!auth.remembered(&auth.digest(b"alice", b"bob-pw")));
        // The decoy checked for unknown users is a real hash; its password must not let an
        // unknown user in.
        assert!(
            !auth
                .verify(Some(&authorization("mallory", "alice-pw")))
                .await
        );
        assert!(!auth.remembered(&auth.digest(b"mallory", b"alice-pw")));
        assert!(!auth.verify(None).await);

        assert!(auth.verify(Some(&authorization("alice", "alice-pw"))).await);
        assert!(auth.remembered(&auth.digest(b"alice", b"alice-pw")));
        assert!(auth.verify(Some(&authorization("alice", "alice-pw"))).await);
        assert!(!auth.remembered(&auth.digest(b"bob", b"alice-pw")));
    }

    #[test]
    fn the_verified_cache_stays_bounded() {
        let users = [("u".to_string(), Secret::new(bcrypt::hash("p", 4).unwrap()))]
            .into_iter()
            .collect();
        let auth = BasicAuth::new(&users).unwrap();
        for i in 0..(VERIFIED_CACHE as u32 + 10) {
            auth.remember(auth.digest(b"u", &i.to_be_bytes()));
        }
        assert_eq!(auth.verified.lock().unwrap().len(), VERIFIED_CACHE);
        assert!(!auth.remembered(&auth.digest(b"u", &0u32.to_be_bytes())));
        assert!(auth.remembered(&auth.digest(b"u", &(VERIFIED_CACHE as u32).to_be_bytes())));
    }

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

    #[test]
    fn the_rate_limiter_allows_a_burst_then_one_per_interval() {
        let limiter = RateLimiter::new(RateLimit {
            interval: Duration::from_secs(1),
            burst: 2,
        });
        assert!(limiter.allow());
        assert!(limiter.allow());
        assert!(!limiter.allow());
        // One interval later (moved back rather than waited for), one more.
        limiter.bucket.lock().unwrap().1 -= Duration::from_secs(1);
        assert!(limiter.allow());
        assert!(!limiter.allow());
    }
}
