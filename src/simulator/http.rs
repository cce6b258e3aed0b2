//! The simulator's HTTP face: routes, authentication, injected faults and the answers,
//! shaped like a Django REST Framework deployment's.
//!
//! Every request to `/api/v1/...` goes through the same steps, in this order:
//!
//! 1. the dice decide its faults (slow, 500, 429, malformed) under the control lock;
//! 2. it waits the latency (plus `slow_latency` when slow), holding no lock, until a
//!    deadline counted from its arrival;
//! 3. authentication, as DRF's token authentication words it: no `Bearer` header → 401
//!    `Authentication credentials were not provided.`; a `Bearer` header without a token
//!    or with spaces in it → 401 `Invalid token header. ...`; an unknown token → 401
//!    `Invalid token.`; all 401s carry `WWW-Authenticate: Bearer`; the forbidden token →
//!    403 `You do not have permission to perform this action.`;
//! 4. a method other than GET/HEAD → 405 `Method "POST" not allowed.`;
//! 5. an injected 500 (Django's HTML error page) or 429 (`Retry-After`, DRF's throttle
//!    message);
//! 6. the answer, possibly replaced by a malformed 200 (truncated JSON or an HTML
//!    maintenance page); after a list answer, the fleet shrinks or grows when asked.
//!
//! Paths outside the API get Django's HTML 404 page, without authentication.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Extension;
use axum::Router;
use bytes::Bytes;
use rand::RngExt;

use super::pagination::ListQuery;
use super::store::Profiles;
use super::timer;
use super::{lock, Counters, Simulator};

/// The list endpoint's path.
pub const LIST_PATH: &str = "/api/v1/inventory_connection_profile/";

/// Django's page for an unhandled exception (`DEBUG = False`).
const SERVER_ERROR_PAGE: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";

/// Django's page for an unknown path (`DEBUG = False`).
const NOT_FOUND_PAGE: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";

/// What a proxy in front of the API sometimes answers with a 200.
const MAINTENANCE_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Scheduled maintenance</title></head>\n<body><h1>We'll be back soon</h1><p>The inventory service is undergoing scheduled maintenance.</p></body></html>\n";

/// The routes, with the simulator as state.
pub(super) fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/api/v1", any(api_root))
        .route("/api/v1/", any(api_root))
        .route(LIST_PATH, any(list))
        .route(LIST_PATH.trim_end_matches('/'), any(list))
        .route("/api/v1/inventory_connection_profile/{id}/", any(detail))
        .route("/api/v1/inventory_connection_profile/{id}", any(detail))
        .fallback(not_found_page)
        .with_state(sim)
}

/// A malformed 200 body.
#[derive(Debug, Clone, Copy)]
enum Malformed {
    /// The real JSON cut at this fraction of its length.
    Truncated(f64),
    /// An HTML page instead of JSON.
    Html,
}

/// What the dice decided for one request.
#[derive(Debug)]
struct Plan {
    /// How long to wait before answering.
    delay: Duration,
    /// Answer 500.
    server_error: bool,
    /// Answer 429 with this `Retry-After` (seconds).
    throttle: Option<u64>,
    /// Replace a 200 body.
    malformed: Option<Malformed>,
    /// The last page's `next` loops to the first.
    pagination_loop: bool,
    /// Delete a profile after a list answer.
    shrink: bool,
    /// Create a profile after a list answer.
    grow: bool,
}

/// True with probability `p` (no dice used when `p` is 0, NaN or >= 1).
fn roll(dice: &mut impl RngExt, p: f64) -> bool {
    p > 0.0 && (p >= 1.0 || dice.random::<f64>() < p)
}

impl Simulator {
    /// Rolls the dice for one request.
    fn plan(&self) -> Plan {
        let mut control = lock(&self.inner.control);
        let control = &mut *control;
        let f = &control.faults;
        let dice = &mut control.dice;
        let slow = roll(dice, f.slow_rate);
        let server_error = roll(dice, f.error_rate);
        let throttled = roll(dice, f.rate_429);
        let malformed = roll(dice, f.malformed_rate).then(|| {
            if dice.random_bool(0.5) {
                Malformed::Truncated(dice.random_range(0.05..0.95))
            } else {
                Malformed::Html
            }
        });
        if slow {
            self.inner.counters.slow.fetch_add(1, Ordering::Relaxed);
        }
        Plan {
            delay: control.latency + if slow { f.slow_latency } else { Duration::ZERO },
            server_error,
            throttle: throttled.then(|| f.retry_after.as_secs_f64().ceil() as u64),
            malformed,
            pagination_loop: f.pagination_loop,
            shrink: f.shrink_mid_walk,
            grow: f.grow_mid_walk,
        }
    }
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    fn enter(counters: &'a Counters) -> Self {
        let now = counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::Relaxed);
        Self(counters)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response with a body and a content type.
fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A DRF error: `{"detail": "..."}`.
fn detail_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "detail": message }).to_string();
    respond(status, "application/json", body)
}

/// Counts a request under `kind`, holds it in flight until the guard drops, and runs
/// [`gate`]: every handler starts this way.
async fn admit<'a>(
    sim: &'a Simulator,
    kind: &AtomicU64,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(InFlight<'a>, Plan), Response> {
    kind.fetch_add(1, Ordering::Relaxed);
    let in_flight = InFlight::enter(&sim.inner.counters);
    let plan = gate(sim, method, headers).await?;
    Ok((in_flight, plan))
}

/// Steps 1 to 5 of the module doc: `Ok` with the plan when the request may be answered.
async fn gate(sim: &Simulator, method: &Method, headers: &HeaderMap) -> Result<Plan, Response> {
    // The latency is a deadline from the request's arrival, on a timer precise to tens
    // of microseconds (tokio's rounds up to the next millisecond).
    let arrived = Instant::now();
    let plan = sim.plan();
    if !plan.delay.is_zero() {
        timer::sleep_from(arrived, plan.delay).await;
    }
    let counters = &sim.inner.counters;
    if let Err(refusal) = authenticate(sim, headers) {
        let counter = match refusal {
            Refusal::Forbidden => &counters.forbidden,
            Refusal::Unauthorized(_) => &counters.unauthorized,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        return Err(refusal.into_response());
    }
    if method != Method::GET && method != Method::HEAD {
        let message = format!("Method \"{method}\" not allowed.");
        return Err(detail_error(StatusCode::METHOD_NOT_ALLOWED, &message));
    }
    if plan.server_error {
        counters.server_errors.fetch_add(1, Ordering::Relaxed);
        return Err(respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html; charset=utf-8",
            SERVER_ERROR_PAGE,
        ));
    }
    if let Some(seconds) = plan.throttle {
        counters.throttled.fetch_add(1, Ordering::Relaxed);
        let unit = if seconds == 1 { "second" } else { "seconds" };
        let message = format!("Request was throttled. Expected available in {seconds} {unit}.");
        let mut response = detail_error(StatusCode::TOO_MANY_REQUESTS, &message);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
        return Err(response);
    }
    Ok(plan)
}

/// Why a request was refused before reaching its view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// 401 with this message.
    Unauthorized(&'static str),
    /// 403.
    Forbidden,
}

impl Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized(message) => {
                let mut response = detail_error(StatusCode::UNAUTHORIZED, message);
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Refusal::Forbidden => detail_error(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action.",
            ),
        }
    }
}

/// DRF's token authentication with the `Bearer` keyword, then the permission check.
fn authenticate(sim: &Simulator, headers: &HeaderMap) -> Result<(), Refusal> {
    let header = headers
        .get(AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let words: Vec<&[u8]> = header
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    match words.as_slice() {
        [] => Err(Refusal::Unauthorized(
            "Authentication credentials were not provided.",
        )),
        // Another scheme: this authenticator does not apply, so nobody is authenticated.
        [keyword, ..] if !keyword.eq_ignore_ascii_case(b"bearer") => Err(Refusal::Unauthorized(
            "Authentication credentials were not provided.",
        )),
        [_] => Err(Refusal::Unauthorized(
            "Invalid token header. No credentials provided.",
        )),
        [_, token] => {
            let forbidden = sim.inner.forbidden_token.as_deref().map(str::as_bytes);
            if forbidden == Some(*token) {
                Err(Refusal::Forbidden)
            } else if *token == sim.inner.token.as_bytes() {
                Ok(())
            } else {
                Err(Refusal::Unauthorized("Invalid token."))
            }
        }
        _ => Err(Refusal::Unauthorized(
            "Invalid token header. Token string should not contain spaces.",
        )),
    }
}

/// A 200 answer, or its malformed replacement.
fn ok_json(sim: &Simulator, plan: &Plan, body: Bytes) -> Response {
    match plan.malformed {
        None => respond(StatusCode::OK, "application/json", body),
        Some(kind) => {
            sim.inner.counters.malformed.fetch_add(1, Ordering::Relaxed);
            match kind {
                Malformed::Truncated(fraction) => {
                    // A JSON object cut before its last byte never parses.
                    let cut = ((body.len() as f64 * fraction) as usize)
                        .clamp(1, body.len().saturating_sub(1).max(1));
                    respond(StatusCode::OK, "application/json", body.slice(..cut))
                }
                Malformed::Html => {
                    respond(StatusCode::OK, "text/html; charset=utf-8", MAINTENANCE_PAGE)
                }
            }
        }
    }
}

/// Marks requests that arrived over TLS (a request extension set by
/// [`Simulator::serve_tls`]), so that links say `https://`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Https;

/// The absolute URL of the request's path, as Django's `build_absolute_uri` makes it
/// from the `Host` header and whether the request came over TLS.
fn absolute(headers: &HeaderMap, https: bool, path: &str) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}{path}")
}

/// `GET /api/v1/inventory_connection_profile/`.
async fn list(
    State(sim): State<Simulator>,
    https: Option<Extension<Https>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let counters = &sim.inner.counters;
    let (_in_flight, plan) = match admit(&sim, &counters.list, &method, &headers).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let query = ListQuery::parse(uri.query().unwrap_or(""));
    let base = absolute(&headers, https.is_some(), uri.path());
    let (body, looped) = page(&sim, &query, &base, plan.pagination_loop);
    if looped {
        counters.loops.fetch_add(1, Ordering::Relaxed);
    }
    if plan.shrink || plan.grow {
        sim.change_mid_walk(plan.shrink, plan.grow);
    }
    ok_json(&sim, &plan, Bytes::from(body))
}

/// The positions of the profiles that matched a `?name=` filter, kept so that walking a
/// filtered list of 100,000 profiles scans them once, not once per page.
pub(super) struct FilterCache {
    /// The lower-cased filter.
    needle: String,
    /// The [`Profiles::version`](super::store::Profiles::version) it was computed at.
    version: u64,
    /// Positions in the entries, in order.
    positions: Arc<Vec<usize>>,
}

/// The positions of the entries whose name contains `needle`.
fn matching(sim: &Simulator, profiles: &Profiles, needle: &str) -> Arc<Vec<usize>> {
    let mut cache = lock(&sim.inner.filter_cache);
    if let Some(hit) = cache
        .as_ref()
        .filter(|c| c.needle == needle && c.version == profiles.version())
    {
        return hit.positions.clone();
    }
    let positions: Arc<Vec<usize>> = Arc::new(
        profiles
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.name_lower.contains(needle))
            .map(|(i, _)| i)
            .collect(),
    );
    *cache = Some(FilterCache {
        needle: needle.to_owned(),
        version: profiles.version(),
        positions: positions.clone(),
    });
    positions
}

/// Renders one list page under the read lock; also answers whether `next` looped.
fn page(sim: &Simulator, query: &ListQuery, base: &str, looping: bool) -> (Vec<u8>, bool) {
    let fleet = sim.read();
    let entries = fleet.profiles.entries();
    let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
    let limit = query.limit as usize;
    let (count, items): (usize, Vec<&Bytes>) = match &query.name {
        None => (
            entries.len(),
            entries
                .iter()
                .skip(offset)
                .take(limit)
                .map(|e| &e.list_item)
                .collect(),
        ),
        Some(needle) => {
            let positions = matching(sim, &fleet.profiles, needle);
            let items = positions
                .iter()
                .skip(offset)
                .take(limit)
                .map(|&i| &entries[i].list_item)
                .collect();
            (positions.len(), items)
        }
    };
    let count = count as u64;
    let next = query.next(base, count, looping);
    let looped = looping && next.is_some() && query.offset.saturating_add(query.limit) >= count;
    let previous = query.previous(base);

    let size = items.iter().map(|b| b.len() + 1).sum::<usize>() + 2 * base.len() + 128;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(b"{\"count\":");
    body.extend_from_slice(count.to_string().as_bytes());
    body.extend_from_slice(b",\"next\":");
    write_link(&mut body, next.as_deref());
    body.extend_from_slice(b",\"previous\":");
    write_link(&mut body, previous.as_deref());
    body.extend_from_slice(b",\"results\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    (body, looped)
}

/// A JSON string or `null`.
fn write_link(body: &mut Vec<u8>, link: Option<&str>) {
    match link.and_then(|l| serde_json::to_vec(l).ok()) {
        Some(text) => body.extend_from_slice(&text),
        None => body.extend_from_slice(b"null"),
    }
}

/// `GET /api/v1/inventory_connection_profile/{id}/`.
async fn detail(
    State(sim): State<Simulator>,
    method: Method,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let counters = &sim.inner.counters;
    let (_in_flight, plan) = match admit(&sim, &counters.detail, &method, &headers).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let body = id
        .ok()
        .and_then(|Path(id)| id.parse::<u64>().ok())
        .and_then(|id| sim.read().profiles.get(id).map(|e| e.detail.clone()));
    match body {
        Some(body) => ok_json(&sim, &plan, body),
        None => {
            counters.not_found.fetch_add(1, Ordering::Relaxed);
            detail_error(StatusCode::NOT_FOUND, "Not found.")
        }
    }
}

/// `GET /api/v1/`: DRF's API root, linking the one endpoint.
async fn api_root(
    State(sim): State<Simulator>,
    https: Option<Extension<Https>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let counters = &sim.inner.counters;
    let (_in_flight, plan) = match admit(&sim, &counters.other, &method, &headers).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let body = serde_json::json!({
        "inventory_connection_profile": absolute(&headers, https.is_some(), LIST_PATH),
    });
    ok_json(&sim, &plan, Bytes::from(body.to_string()))
}

/// Any other path: Django's 404 page.
async fn not_found_page(State(sim): State<Simulator>) -> Response {
    sim.inner.counters.other.fetch_add(1, Ordering::Relaxed);
    respond(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        NOT_FOUND_PAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimOptions;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn sim() -> Simulator {
        Simulator::new(SimOptions {
            profiles: 60,
            forbidden_token: Some("read-only".into()),
            ..SimOptions::default()
        })
    }

    async fn get(
        sim: &Simulator,
        uri: &str,
        auth: Option<&str>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = axum::http::Request::get(uri).header(HOST, "sim.test:8080");
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth);
        }
        let response = sim
            .router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    /// `get` with the demo token, as most tests send it.
    async fn get_authed(sim: &Simulator, uri: &str) -> (StatusCode, HeaderMap, String) {
        get(sim, uri, Some("Bearer demo-token")).await
    }

    #[tokio::test]
    async fn authentication_errors_are_worded_like_drf() {
        let s = sim();
        let cases = [
            (
                None,
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided.",
            ),
            (
                Some("Token demo-token"),
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided.",
            ),
            (
                Some("Bearer"),
                StatusCode::UNAUTHORIZED,
                "Invalid token header. No credentials provided.",
            ),
            (
                Some("Bearer a b"),
                StatusCode::UNAUTHORIZED,
                "Invalid token header. Token string should not contain spaces.",
            ),
            (
                Some("Bearer nope"),
                StatusCode::UNAUTHORIZED,
                "Invalid token.",
            ),
            (
                Some("Bearer read-only"),
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action.",
            ),
        ];
        for (auth, status, message) in cases {
            let (got, headers, body) = get(&s, LIST_PATH, auth).await;
            assert_eq!(got, status, "{auth:?}");
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["detail"], message, "{auth:?}");
            if status == StatusCode::UNAUTHORIZED {
                assert_eq!(headers[WWW_AUTHENTICATE], "Bearer");
            }
        }
        let (got, _, _) = get(&s, LIST_PATH, Some("bearer   demo-token ")).await;
        assert_eq!(got, StatusCode::OK);
    }

    #[tokio::test]
    async fn links_use_the_host_header() {
        let s = sim();
        let (_, _, body) = get_authed(&s, "/api/v1/inventory_connection_profile?limit=10").await;
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["next"],
            "http://sim.test:8080/api/v1/inventory_connection_profile?limit=10&offset=10"
        );
        let (_, _, root) = get_authed(&s, "/api/v1/").await;
        assert!(root.contains("http://sim.test:8080/api/v1/inventory_connection_profile/"));
    }

    #[tokio::test]
    async fn non_numeric_ids_and_unknown_paths_are_not_found() {
        let s = sim();
        let (status, _, body) = get_authed(&s, "/api/v1/inventory_connection_profile/abc/").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, r#"{"detail":"Not found."}"#);
        let (status, headers, body) = get(&s, "/elsewhere", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(body.contains("Not Found"));
    }

    #[tokio::test]
    async fn the_latency_is_waited_in_full_from_the_arrival() {
        let s = sim();
        let latency = Duration::from_millis(30);
        s.set_latency(latency);
        let uri = format!(
            "/api/v1/inventory_connection_profile/{}/",
            s.profile_ids()[0]
        );
        for _ in 0..3 {
            let sent = Instant::now();
            let (status, _, _) = get_authed(&s, &uri).await;
            assert_eq!(status, StatusCode::OK);
            assert!(sent.elapsed() >= latency, "{:?}", sent.elapsed());
        }
    }

    #[tokio::test]
    async fn truncated_bodies_never_parse() {
        let s = sim();
        s.set_faults(crate::simulator::Faults {
            malformed_rate: 1.0,
            ..Default::default()
        });
        let uri = format!(
            "/api/v1/inventory_connection_profile/{}/",
            s.profile_ids()[0]
        );
        for _ in 0..20 {
            let (status, _, body) = get_authed(&s, &uri).await;
            assert_eq!(status, StatusCode::OK);
            assert!(
                serde_json::from_str::<serde_json::Value>(&body).is_err(),
                "{body}"
            );
        }
        assert_eq!(s.requests().malformed, 20);
    }
}
