//! Our HTTP endpoints (SPEC §4). Handlers only serve what the last sweep left in
//! [`AppState`]: bytes rendered once per sweep. Nothing here talks to the upstream.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use tokio::net::TcpListener;

use crate::metrics::{scrape_body, MonitorMetrics, RenderedProfiles};

/// The content type of the Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoints serve. The daemon replaces the contents after every sweep.
///
/// `std::sync::RwLock` rather than tokio's: the locks are held only to clone a `Bytes`
/// handle, never across an `.await`.
pub struct AppState {
    /// Process-lifetime self-metrics, encoded per scrape (they are small).
    pub monitor: Arc<MonitorMetrics>,
    /// Per-profile series of the last sweep, rendered once.
    pub profiles: RwLock<RenderedProfiles>,
    /// The `/api/v1/status` document of the last sweep, serialised once.
    pub status: RwLock<Bytes>,
    /// True once the first sweep has finished.
    pub ready: AtomicBool,
}

impl AppState {
    /// An empty state: not ready, no profiles, a status saying so.
    pub fn new(monitor: Arc<MonitorMetrics>) -> Self {
        Self {
            monitor,
            profiles: RwLock::new(RenderedProfiles::empty()),
            status: RwLock::new(Bytes::from_static(
                br#"{"ready":false,"last_sweep":null,"profiles":[],"alerts":[]}"#,
            )),
            ready: AtomicBool::new(false),
        }
    }

    /// Publishes the results of a sweep.
    pub fn publish(&self, profiles: RenderedProfiles, status: Bytes) {
        *self.profiles.write().unwrap_or_else(|e| e.into_inner()) = profiles;
        *self.status.write().unwrap_or_else(|e| e.into_inner()) = status;
        self.ready.store(true, Ordering::Release);
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

/// Serves [`app`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
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

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let gzip = accepts_gzip(&headers);
    let profiles = state
        .profiles
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let body = scrape_body(&state.monitor, &profiles, gzip);
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
    let body = state
        .status
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
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

    #[test]
    fn gzip_negotiation_follows_accept_encoding() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("gzip, deflate, br")));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
