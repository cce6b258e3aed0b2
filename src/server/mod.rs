//! Our HTTP endpoints (README, Endpoints). Handlers only serve what the last sweep left in
//! [`AppState`]: for `/metrics`, bytes rendered and compressed once per sweep, streamed
//! without a copy; for `/api/v1/status`, the sweep's snapshot and alerts, serialised on
//! request and streamed in chunks. Nothing here talks to the upstream.
//!
//! The router ([`app`]) knows nothing of security; [`serve_with`] puts it behind what a
//! listener on a network needs: TLS and client certificates and basic auth from the
//! [web config](crate::web_config), a cap on connections, a deadline for request headers
//! (slowloris) and for each request, only `GET`/`HEAD` without bodies except on the write
//! routes (silences, `/-/reload`: bounded bodies, [`writes`] decides who may), and security
//! headers on every response. Connections are served by hyper directly (HTTP/1.1) so the
//! same path serves plain TCP and TLS streams.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::metrics::{MonitorMetrics, RenderedProfiles};
use crate::status::StatusSource;
use crate::web_config::WebConfig;

mod api_v2;
mod body;
mod guard;
mod handlers;
mod listener;
#[cfg(test)]
mod tests;
pub mod writes;

pub use guard::WWW_AUTHENTICATE;

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
    /// The silences and maintenance windows the daemon asks about every alert, in the
    /// order it asks them; pages and APIs read them to show what is in force now.
    pub suppressors: RwLock<Vec<Arc<dyn crate::suppress::Suppressor>>>,
    /// The silences the Alertmanager v2 API serves and changes (README, Silences); `None`
    /// in a process that keeps none (the API answers 503).
    pub silences: RwLock<Option<Arc<crate::silences::Store>>>,
    /// Where `POST /-/reload` asks for a reload and waits for its outcome; `None` when
    /// nothing reloads (the endpoint answers 503).
    pub reloads: RwLock<Option<ReloadRequests>>,
    /// What the status page keeps between sweeps: transitions and the indexed view of the
    /// last sweep (README, Status page).
    pub page: crate::web::PageState,
}

/// A reload asked for over HTTP: the sender is answered with the outcome (`Err` holds the
/// problems as text).
pub type ReloadRequests =
    tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<Result<(), String>>>;

impl AppState {
    /// An empty state: not ready, no profiles, a status saying so.
    pub fn new(monitor: Arc<MonitorMetrics>) -> Self {
        Self {
            monitor,
            profiles: RwLock::new(RenderedProfiles::empty()),
            status: RwLock::new(None),
            ready: AtomicBool::new(false),
            suppressors: RwLock::new(Vec::new()),
            silences: RwLock::new(None),
            reloads: RwLock::new(None),
            page: crate::web::PageState::default(),
        }
    }

    /// Publishes the results of a sweep.
    pub fn publish(&self, profiles: RenderedProfiles, status: Arc<StatusSource>) {
        self.publish_status(status);
        self.publish_metrics(profiles);
    }

    /// Publishes a sweep's status document (and pages) ahead of its metrics: the daemon
    /// does so before rendering, so that the sweep before, whose snapshot the old status
    /// holds, is not kept through the rendering. Readiness waits for the metrics.
    pub fn publish_status(&self, status: Arc<StatusSource>) {
        // Swap under the lock, drop the old value after.
        let old = self
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .replace(status);
        drop(old);
    }

    /// Publishes a sweep's rendering of the per-profile metrics; the daemon is ready from
    /// the first one.
    pub fn publish_metrics(&self, profiles: RenderedProfiles) {
        // Swap under the lock, drop the old value after: a large rendering is freed
        // without holding up a scrape.
        let old = std::mem::replace(
            &mut *self.profiles.write().unwrap_or_else(|e| e.into_inner()),
            profiles,
        );
        self.ready.store(true, Ordering::Release);
        drop(old);
    }
}

/// The router, separate from binding so tests can drive it with `oneshot`.
pub fn app(state: Arc<AppState>) -> Router {
    api_v2::note_start();
    Router::new()
        // The status page (README, Status page).
        .route("/", get(handlers::index))
        .route("/profiles/{id}", get(handlers::profile))
        .route("/static/style.css", get(handlers::stylesheet))
        .route("/static/favicon.svg", get(handlers::favicon))
        .route("/metrics", get(handlers::metrics))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/api/v1/status", get(handlers::status))
        // The Alertmanager v2 API subset and the reload (README, Silences).
        .route(
            "/api/v2/silences",
            get(api_v2::list_silences).post(api_v2::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(api_v2::get_silence).delete(api_v2::expire_silence),
        )
        .route("/api/v2/alerts", get(api_v2::alerts))
        .route("/api/v2/status", get(api_v2::status))
        .route("/-/reload", post(api_v2::reload))
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
    /// Who may write (README, Silences, Write access); the default lets only
    /// authenticated callers.
    pub writes: writes::WritePolicy,
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
            writes: writes::WritePolicy::default(),
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

/// [`app`] behind the request checks of `options`: rate limit (429), `GET`/`HEAD` only
/// (405), no request body (413), basic auth (401), the request timeout (503), and the
/// security and configured headers on every response. What [`serve_with`] serves;
/// separate so tests can drive it with `oneshot`.
pub fn secured_app(state: Arc<AppState>, options: &ServerOptions) -> Router {
    guard::secure(app(state), options)
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
    let router = secured_app(state, &options);
    listener::serve(listener, router, &options, shutdown).await
}
