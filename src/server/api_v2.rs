//! The subset of Alertmanager's v2 API that `amtool` uses (README, Silences):
//! `GET`/`POST /api/v2/silences`, `GET`/`DELETE /api/v2/silence/{id}`, `GET /api/v2/alerts`,
//! `GET /api/v2/status`, and `POST /-/reload`. Field names, shapes and status codes are
//! Alertmanager's, so that `amtool silence add/query/expire` and `amtool alert query` work.
//!
//! Writes reach these handlers only past the write policy of the guard
//! ([`super::writes`]), which hands them the [`Writer`] they log. Bad input is answered 400
//! (404 for an unknown id) with a message, and changes nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::writes::{Writer, MAX_WRITE_BODY};
use super::AppState;
use crate::matchers::{all_match, ApiMatcher, MatchOp, Matcher};
use crate::rules::{Alert, AlertState};
use crate::silences::{NewSilence, Silence, SilenceError, Store};
use crate::suppress::Suppressor;
use crate::vocabulary::Suppression;

/// When the process first built its router: `/api/v2/status`'s `uptime`.
static STARTED: OnceLock<SystemTime> = OnceLock::new();

/// Notes the start time (the first call wins).
pub(super) fn note_start() {
    STARTED.get_or_init(SystemTime::now);
}

/// How long after the last sweep an alert's `endsAt` lies (Alertmanager's default
/// `resolve_timeout`): an alert not seen again by then would be over.
const ENDS_AFTER: Duration = Duration::from_secs(5 * 60);

/// A short `text/plain` answer, as Alertmanager gives for errors.
fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    let mut response = (status, Body::from(message)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A refusal: status and message, answered as text.
#[derive(Debug)]
pub(super) struct Refusal(StatusCode, String);

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal(status, message.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        text(self.0, self.1)
    }
}

fn store_of(state: &AppState) -> Result<Arc<Store>, Refusal> {
    state
        .silences
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this process keeps no silences",
            )
        })
}

/// RFC 3339 with milliseconds, in UTC: what Go's `strfmt.DateTime` reads.
fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// An RFC 3339 time with any offset.
fn parse_time(field: &str, text: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(SystemTime::from)
        .map_err(|e| format!("{field}: `{text}` is not an RFC 3339 time: {e}"))
}

/// Alertmanager's `postableSilence`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<ApiMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

/// Alertmanager's `gettableSilence`.
fn gettable(s: &Silence, now: SystemTime) -> Value {
    let matchers: Vec<ApiMatcher> = s.matchers.iter().map(ApiMatcher::from).collect();
    json!({
        "id": s.id,
        "status": { "state": s.state(now).as_str() },
        "updatedAt": timestamp(s.updated_at),
        "matchers": matchers,
        "startsAt": timestamp(s.starts_at),
        "endsAt": timestamp(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

/// The `filter` parameters of a query: matchers, each parsed on its own.
fn filters(query: &[(String, String)]) -> Result<Vec<Matcher>, Refusal> {
    query
        .iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| {
            Matcher::parse(v)
                .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("bad filter: {e}")))
        })
        .collect()
}

/// `GET /api/v2/silences[?filter=M...]`: every silence kept; with filters, those whose
/// matchers, read as labels, satisfy every filter (as Alertmanager does).
pub(super) async fn list_silences(
    State(state): State<Arc<AppState>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let store = match store_of(&state) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let filter = match filters(&query) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let now = store.now();
    let listed: Vec<Value> = store
        .list()
        .iter()
        .filter(|s| {
            let labels: BTreeMap<&str, &str> =
                s.matchers.iter().map(|m| (m.name(), m.value())).collect();
            all_match(&filter, |n| labels.get(n).copied())
        })
        .map(|s| gettable(s, now))
        .collect();
    Json(listed).into_response()
}

/// `GET /api/v2/silence/{id}`.
pub(super) async fn get_silence(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let store = match store_of(&state) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    match store.get(&id) {
        Some(s) => Json(gettable(&s, store.now())).into_response(),
        None => text(StatusCode::NOT_FOUND, format!("silence {id} not found")),
    }
}

/// The answer to a refused change.
fn refused(e: &SilenceError) -> Response {
    let status = match e {
        SilenceError::Invalid(_) => StatusCode::BAD_REQUEST,
        SilenceError::NotFound(_) => StatusCode::NOT_FOUND,
        SilenceError::Write { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(status, e.to_string())
}

/// `POST /api/v2/silences`: creates a silence, or changes the one its `id` names;
/// answers `{"silenceID": ...}`.
pub(super) async fn post_silence(
    State(state): State<Arc<AppState>>,
    writer: Option<Extension<Writer>>,
    body: Body,
) -> Response {
    let writer = writer.map(|w| w.0).unwrap_or_default();
    let store = match store_of(&state) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let bytes = match axum::body::to_bytes(body, MAX_WRITE_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body larger than 64 KiB",
            )
        }
    };
    let posted: PostableSilence = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("bad silence: {e}")),
    };
    let new = match new_silence(posted) {
        Ok(n) => n,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let author = new.created_by.clone();
    let matchers = crate::matchers::display_list(&new.matchers);
    let replaces = new.id.clone();
    // The store writes and fsyncs its file before answering: off the server's workers.
    match blocking(move || store.upsert(new)).await {
        Ok(id) => {
            tracing::info!(
                silence = %id,
                replaces = %replaces.as_deref().unwrap_or(""),
                created_by = %author,
                user = %writer.user.as_deref().unwrap_or(""),
                peer = %writer.peer_text(),
                matchers = %matchers,
                "silence saved"
            );
            Json(json!({ "silenceID": id })).into_response()
        }
        Err(e) => {
            tracing::info!(created_by = %author, peer = %writer.peer_text(), error = %e,
                "silence refused");
            refused(&e)
        }
    }
}

/// Runs a store change (which writes and fsyncs `silences.json`) on a blocking thread.
async fn blocking<T: Send + 'static>(
    change: impl FnOnce() -> Result<T, SilenceError> + Send + 'static,
) -> Result<T, SilenceError> {
    match tokio::task::spawn_blocking(change).await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled: only when the runtime shuts down; the change was not made.
            Err(_) => Err(SilenceError::Write {
                file: std::path::PathBuf::from("silences.json"),
                source: std::io::Error::other("the server is shutting down"),
            }),
        },
    }
}

/// A posted silence, checked field by field.
fn new_silence(posted: PostableSilence) -> Result<NewSilence, String> {
    let matchers = posted
        .matchers
        .iter()
        .map(|m| {
            Matcher::new(
                &m.name,
                MatchOp::from_flags(m.is_regex, m.is_equal),
                &m.value,
            )
            .map_err(|e| format!("bad matcher: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewSilence {
        id: posted.id.filter(|id| !id.is_empty()),
        matchers,
        starts_at: parse_time("startsAt", &posted.starts_at)?,
        ends_at: parse_time("endsAt", &posted.ends_at)?,
        created_by: posted.created_by,
        comment: posted.comment,
    })
}

/// `DELETE /api/v2/silence/{id}`: expires it.
pub(super) async fn expire_silence(
    State(state): State<Arc<AppState>>,
    writer: Option<Extension<Writer>>,
    Path(id): Path<String>,
) -> Response {
    let writer = writer.map(|w| w.0).unwrap_or_default();
    let store = match store_of(&state) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let expired = id.clone();
    match blocking(move || store.expire(&expired)).await {
        Ok(()) => {
            tracing::info!(
                silence = %id,
                user = %writer.user.as_deref().unwrap_or(""),
                peer = %writer.peer_text(),
                "silence expired"
            );
            StatusCode::OK.into_response()
        }
        Err(e) => refused(&e),
    }
}

/// A query flag of `/api/v2/alerts` (`true` when absent).
fn flag(query: &[(String, String)], name: &str) -> Result<bool, Refusal> {
    match query.iter().rev().find(|(k, _)| k == name) {
        None => Ok(true),
        Some((_, v)) => v.parse().map_err(|_| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("{name}: `{v}` is neither true nor false"),
            )
        }),
    }
}

/// `GET /api/v2/alerts`: the firing alerts (pending ones are left out, as Prometheus does)
/// in Alertmanager's `gettableAlert` shape. `silencedBy` is asked of the silences now, so a
/// new silence shows at once; `mutedBy` names the maintenance windows that held the alert
/// at the last sweep. Takes `filter`, `active`, `silenced`, `inhibited`, `unprocessed` and
/// `receiver` as amtool sends them.
pub(super) async fn alerts(
    State(state): State<Arc<AppState>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let filter = match filters(&query) {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let (active, silenced, inhibited) = match (
        flag(&query, "active"),
        flag(&query, "silenced"),
        flag(&query, "inhibited"),
    ) {
        (Ok(a), Ok(s), Ok(i)) => (a, s, i),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r.into_response(),
    };
    if let Err(r) = flag(&query, "unprocessed") {
        return r.into_response();
    }
    let receiver = match query
        .iter()
        .find(|(k, v)| k == "receiver" && !v.is_empty())
        .map(|(_, v)| regex::Regex::new(&format!("^(?:{v})$")))
        .transpose()
    {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("bad receiver regex: {e}")),
    };
    let source = state
        .status
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(source) = source else {
        return Json(Vec::<Value>::new()).into_response();
    };
    let store = state
        .silences
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let now = store.as_ref().map_or_else(SystemTime::now, |s| s.now());
    let _ = inhibited; // nothing inhibits here: `inhibitedBy` is always empty
    let listed: Vec<Value> = source
        .alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .filter_map(|a| {
            let labels = a.labels();
            if !all_match(&filter, |n| labels.get(n).map(String::as_str)) {
                return None;
            }
            // We have no receivers in Alertmanager's sense: a receiver filter keeps nothing.
            if receiver.is_some() {
                return None;
            }
            let silenced_by: Vec<String> = store
                .as_ref()
                .map(|s| s.suppressions(&labels, now))
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| match s {
                    Suppression::Silence { id } => Some(id),
                    _ => None,
                })
                .collect();
            let muted_by: Vec<String> = a
                .suppressed_by
                .iter()
                .filter_map(|s| match s {
                    Suppression::Maintenance { name } => Some(name.clone()),
                    _ => None,
                })
                .collect();
            let held = a
                .suppressed_by
                .iter()
                .any(|s| !matches!(s, Suppression::Silence { .. }));
            let suppressed = !silenced_by.is_empty() || held;
            let shown = if suppressed { silenced } else { active };
            shown.then(|| gettable_alert(a, source.now, &silenced_by, &muted_by, suppressed))
        })
        .collect();
    Json(listed).into_response()
}

/// One alert as Alertmanager's `gettableAlert`.
fn gettable_alert(
    a: &Alert,
    updated: SystemTime,
    silenced_by: &[String],
    muted_by: &[String],
    suppressed: bool,
) -> Value {
    let labels = a.labels();
    json!({
        "labels": labels,
        "annotations": a.annotations(),
        "startsAt": timestamp(a.firing_since.unwrap_or(a.active_since)),
        "endsAt": timestamp(updated + ENDS_AFTER),
        "updatedAt": timestamp(updated),
        "fingerprint": fingerprint(&labels),
        "receivers": [],
        "status": {
            "state": if suppressed { "suppressed" } else { "active" },
            "silencedBy": silenced_by,
            "inhibitedBy": [],
            "mutedBy": muted_by,
        },
    })
}

/// FNV-64a of the sorted labels, as 16 hex digits: stable for an alert's life.
fn fingerprint(labels: &BTreeMap<&'static str, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in labels {
        for b in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff])
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// `GET /api/v2/status`: enough for amtool. The configuration is never shown.
pub(super) async fn status() -> Response {
    let started = *STARTED.get_or_init(SystemTime::now);
    Json(json!({
        "cluster": { "status": "disabled", "peers": [], "name": "" },
        "versionInfo": {
            "version": crate::VERSION,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        },
        "config": { "original": "" },
        "uptime": timestamp(started),
    }))
    .into_response()
}

/// `POST /-/reload`: the same reload as SIGHUP; 200 once applied, 500 with the problems
/// as text when the configuration is refused (Prometheus' convention).
pub(super) async fn reload(
    State(state): State<Arc<AppState>>,
    writer: Option<Extension<Writer>>,
) -> Response {
    let writer = writer.map(|w| w.0).unwrap_or_default();
    let requests = state
        .reloads
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(requests) = requests else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "this process does not reload",
        );
    };
    tracing::info!(
        user = %writer.user.as_deref().unwrap_or(""),
        peer = %writer.peer_text(),
        "reload asked for over HTTP"
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    if requests.send(tx).is_err() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down",
        );
    }
    match rx.await {
        Ok(Ok(())) => text(StatusCode::OK, "configuration reloaded"),
        Ok(Err(problems)) => text(StatusCode::INTERNAL_SERVER_ERROR, problems),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down",
        ),
    }
}
