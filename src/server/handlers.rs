//! The endpoints: `/metrics`, `/healthz`, `/readyz`, `/api/v1/status`, and the status
//! page (`/`, `/profiles/{id}`, `/static/...`). Each serves what the last sweep published
//! in [`AppState`], nothing else.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

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

/// A page rendered by [`crate::web`], as a response: HTML, never cached (it changes every
/// sweep).
fn html_response(rendered: crate::web::Rendered) -> Response {
    let status = StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::OK);
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        rendered.html,
    )
        .into_response()
}

/// Runs a page's rendering on a blocking thread: a request may wait for the view of a new
/// sweep being built, or build it (hundreds of milliseconds at 100,000 profiles), which
/// must not hold one of the server's two workers.
async fn render_blocking(
    render: impl FnOnce() -> crate::web::Rendered + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(render).await {
        Ok(rendered) => html_response(rendered),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the page could not be rendered\n",
        )
            .into_response(),
    }
}

/// `/`: the status page (README, Status page).
pub(super) async fn index(
    State(state): State<Arc<AppState>>,
    Query(params): Query<crate::web::Params>,
) -> Response {
    render_blocking(move || {
        let source = state
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let suppressors = state
            .suppressors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        crate::web::index_page(&state.page, source.as_ref(), &suppressors, &params)
    })
    .await
}

/// `/profiles/{id}`: one profile (README, Status page); 404 for an unknown id.
pub(super) async fn profile(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    render_blocking(move || {
        let source = state
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        crate::web::profile_page(&state.page, source.as_ref(), &id)
    })
    .await
}

/// A file of the status page, served from the binary with cache headers.
fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(crate::web::STATIC_CACHE_CONTROL),
            ),
        ],
        body,
    )
        .into_response()
}

/// `/static/style.css`.
pub(super) async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", crate::web::STYLESHEET)
}

/// `/static/favicon.svg`.
pub(super) async fn favicon() -> Response {
    static_file("image/svg+xml", crate::web::FAVICON)
}
