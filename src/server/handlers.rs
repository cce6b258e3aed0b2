//! The endpoints: `/metrics`, `/healthz`, `/readyz`, `/api/v1/status` and `/`. Each
//! serves what the last sweep published in [`AppState`], nothing else.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::body::{status_body, ScrapeBody};
use super::{AppState, METRICS_CONTENT_TYPE};
use crate::metrics::scrape_stream;

/// `/api/v1/status` before the first sweep.
pub(super) const STATUS_NOT_READY: &[u8] =
    br#"{"ready":false,"last_sweep":null,"profiles":[],"alerts":[]}"#;

/// Whether the client takes gzip: named in `Accept-Encoding` and not refused with `q=0`.
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
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

/// `/metrics`: the self-metrics encoded now, then the per-profile section rendered at the
/// last sweep; gzip when the client takes it.
pub(super) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
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

/// `/healthz`: the process answers.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz`: 200 once the first sweep has finished.
pub(super) async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first sweep has not finished\n",
        )
    }
}

/// `/api/v1/status`: the last sweep's profiles and alerts as JSON.
pub(super) async fn status(State(state): State<Arc<AppState>>) -> Response {
    let source = state
        .status
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let body = match source {
        None => Body::from(STATUS_NOT_READY),
        Some(source) => status_body(source),
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

/// `/`: a page naming the endpoints.
pub(super) async fn index() -> Html<String> {
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
