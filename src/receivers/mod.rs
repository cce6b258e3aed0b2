//! Receivers: one file per kind, each a pure function from a [`Notification`] (a group of
//! alert transitions for one receiver) to the HTTP request that announces it. Nothing
//! under `receivers/` does I/O: delivery (queues, retries, pacing, the outbox) lives
//! apart, so every chat format is unit-testable against golden JSON.
//!
//! Adding a kind touches one new file and one line of [`receiver_for`].
//!
//! Besides the formats, this module holds what delivery needs to know about a kind's
//! answers ([`retry_after`]) and the Alertmanager-compatible [`fingerprint`] of an alert.
//!
//! # Layout
//!
//! - `text`: the wording every chat format shares (titles, facts, truncation, escaping).
//! - `slack`, `mattermost`, `teams`, `discord`, `google_chat`: the chat formats.
//! - `webhook`: Alertmanager's webhook payload (version 4), optionally signed.
//! - `alertmanager`: postable alerts for `POST /api/v2/alerts`.
//! - `log`: one line per alert.

mod alertmanager;
mod attachments;
mod discord;
mod google_chat;
mod log;
mod mattermost;
mod slack;
mod teams;
mod text;
mod webhook;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::{ReceiverKind, Secret};
use crate::rules::{Alert, AlertState};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Alerts that started firing or resolved (possibly mixed with reminders).
    Alerts,
    /// Only reminders of alerts still firing after `repeat_interval`.
    Reminder,
    /// `notify-test`: a clearly marked test message, no real alert.
    Test,
}

/// One message to one receiver: the alerts that changed within one `group_wait`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique (per state directory) and increasing; also the outbox key.
    pub id: u64,
    /// The receiver's configured name.
    pub receiver: String,
    /// New changes, reminders only, or a test.
    pub kind: NotificationKind,
    /// The alerts, each as of its last change: `state` is `Firing` or `Resolved`.
    /// Ordered: firing before resolved, then critical before warning, then by key.
    pub alerts: Vec<Alert>,
    /// When the group was opened (first transition seen).
    #[serde(with = "humantime_serde")]
    pub created_at: SystemTime,
}

impl Notification {
    /// The `notify-test` message for `receiver`: kind [`NotificationKind::Test`], no alerts.
    pub fn test(id: u64, receiver: impl Into<String>, now: SystemTime) -> Self {
        Self {
            id,
            receiver: receiver.into(),
            kind: NotificationKind::Test,
            alerts: Vec::new(),
            created_at: now,
        }
    }
}

/// Everything about the receiver and the moment that a render needs besides the
/// notification itself.
#[derive(Debug, Clone)]
pub struct RenderContext<'a> {
    /// The receiver's configured name.
    pub receiver: &'a str,
    /// Where to send (a secret: never log it).
    pub url: &'a Secret,
    /// `webhook`: HMAC-SHA256 key for the `X-Signature-256` header.
    pub secret: Option<&'a Secret>,
    /// `webhook`: extra headers.
    pub headers: &'a BTreeMap<String, String>,
    /// Our own base URL for links (e.g. `http://monitor.example:9857`), "" when unknown.
    pub external_url: &'a str,
    /// The time of rendering.
    pub now: SystemTime,
    /// `alertmanager`: how long a firing alert stays valid without being re-sent
    /// (its `endsAt` is `now + ttl`).
    pub alertmanager_ttl: Duration,
}

/// An HTTP POST, ready to send.
#[derive(Clone, PartialEq)]
pub struct HttpRequest {
    /// Target URL (a secret).
    pub url: Secret,
    /// Headers, including `Content-Type`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpRequest {
    // Hand-written: the URL and header values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("url", &"<redacted>")
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// The result of a render.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    /// POST this.
    Http(HttpRequest),
    /// Write these lines to the log (the `log` kind).
    Log(Vec<String>),
}

/// One kind of receiver.
pub trait Receiver: Send + Sync + std::fmt::Debug {
    /// Which kind this is.
    fn kind(&self) -> ReceiverKind;
    /// Turns a notification into what announces it. Pure: no I/O, no clock but `ctx.now`.
    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered;
}

/// The receiver of `kind`: the one registration line per kind.
pub fn receiver_for(kind: ReceiverKind) -> Box<dyn Receiver> {
    match kind {
        ReceiverKind::Slack => Box::new(slack::Slack),
        ReceiverKind::Mattermost => Box::new(mattermost::Mattermost),
        ReceiverKind::Teams => Box::new(teams::Teams),
        ReceiverKind::Discord => Box::new(discord::Discord),
        ReceiverKind::GoogleChat => Box::new(google_chat::GoogleChat),
        ReceiverKind::Webhook => Box::new(webhook::Webhook),
        ReceiverKind::Alertmanager => Box::new(alertmanager::Alertmanager),
        ReceiverKind::Log => Box::new(log::Log),
    }
}

/// The alert's fingerprint, as 16 lowercase hex digits: the Prometheus label-set
/// fingerprint (what Alertmanager computes) of the alert's *identifying* labels only,
/// `alertname` and `profile_id`, so that it stays the same when the profile is renamed,
/// moves organization or changes severity, and differs between profiles.
///
/// As in Alertmanager, a label with an empty value is no label at all: `InventoryApiDown`
/// (no profile) is fingerprinted on `alertname` alone.
pub fn fingerprint(alert: &Alert) -> String {
    let id = alert.key.profile_id.map(|id| id.to_string());
    let mut labels = vec![("alertname", alert.key.alertname.as_str())];
    if let Some(id) = id.as_deref() {
        labels.push(("profile_id", id));
    }
    format!("{:016x}", label_set_fingerprint(&labels))
}

/// The `alertname` of the synthetic alert that stands for a test notification in the
/// `webhook` and `alertmanager` payloads (which have no place for a message of their own).
pub(crate) const TEST_ALERTNAME: &str = "InventoryMonitorTest";

/// Prometheus' `LabelSet.Fingerprint` (prometheus/common `model`): FNV-1a 64 over the
/// labels sorted by name, each as name, `0xff`, value, `0xff`.
pub(crate) fn label_set_fingerprint(labels: &[(&str, &str)]) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    const SEPARATOR: u8 = 0xff;
    let mut sorted = labels.to_vec();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in sorted {
        add(name.as_bytes());
        add(&[SEPARATOR]);
        add(value.as_bytes());
        add(&[SEPARATOR]);
    }
    hash
}

/// How long a receiver asked us to wait before the next attempt, from its answer:
///
/// - on 429 and 5xx, a `Retry-After` header, as delta-seconds (`120`; a fraction such as
///   `1.5` is accepted too) or as an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, counted
///   from `now`; a date in the past means "now");
/// - on a Discord 429, the JSON body's `retry_after` (seconds, a float), which is more
///   precise than its header and preferred.
///
/// `None` when the answer says nothing usable (no header, garbage, a negative or absurd
/// value): delivery then uses its own backoff. `headers` is anything that iterates over
/// (name, value) pairs: `&reqwest::header::HeaderMap`, or
/// `pairs.iter().map(|(k, v)| (k, v))`.
pub fn retry_after<K, V>(
    kind: ReceiverKind,
    status: u16,
    headers: impl IntoIterator<Item = (K, V)>,
    body: &[u8],
    now: SystemTime,
) -> Option<Duration>
where
    K: AsRef<str>,
    V: AsRef<[u8]>,
{
    if status != 429 && !(500..=599).contains(&status) {
        return None;
    }
    if kind == ReceiverKind::Discord && status == 429 {
        if let Some(d) = discord_retry_after(body) {
            return Some(d);
        }
    }
    let value = headers
        .into_iter()
        .find(|(name, _)| name.as_ref().eq_ignore_ascii_case("retry-after"))
        .map(|(_, value)| value)?;
    let value = std::str::from_utf8(value.as_ref()).ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return seconds_to_duration(seconds);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or_default())
}

/// Discord's rate-limit body: `{"message": "...", "retry_after": 1.5, "global": false}`.
fn discord_retry_after(body: &[u8]) -> Option<Duration> {
    #[derive(Deserialize)]
    struct RateLimited {
        retry_after: f64,
    }
    let parsed: RateLimited = serde_json::from_slice(body).ok()?;
    seconds_to_duration(parsed.retry_after)
}

/// Non-negative, finite seconds as a duration, capped at a day: a longer wait outlives
/// any sensible `max_delivery_age`, and an absurd value must not park a delivery forever.
fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    const MAX_SECONDS: f64 = 86_400.0;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(seconds.min(MAX_SECONDS)).ok()
}

/// A JSON POST to `url` with `body`; every HTTP kind speaks `application/json`.
pub(crate) fn json_post(url: Secret, body: &serde_json::Value) -> HttpRequest {
    HttpRequest {
        url,
        headers: vec![("Content-Type".to_string(), "application/json".to_string())],
        // `Display` of a `Value` is its compact JSON text and cannot fail.
        body: body.to_string().into_bytes(),
    }
}

/// The labels of `alert` as Alertmanager keeps them: empty values dropped.
pub(crate) fn am_labels(alert: &Alert) -> BTreeMap<&'static str, String> {
    let mut labels = alert.labels();
    labels.retain(|_, v| !v.is_empty());
    labels
}

/// The annotations of `alert`, empty ones dropped.
pub(crate) fn am_annotations(alert: &Alert) -> BTreeMap<&'static str, String> {
    let mut annotations = alert.annotations();
    annotations.retain(|_, v| !v.is_empty());
    annotations
}

/// When an alert started, for Alertmanager: when it started firing (as Prometheus sends
/// it), else when it became active.
pub(crate) fn starts_at(alert: &Alert) -> SystemTime {
    alert.firing_since.unwrap_or(alert.active_since)
}

/// `resolved` or `firing` (a pending alert in a notification counts as firing).
pub(crate) fn am_status(alert: &Alert) -> &'static str {
    if alert.state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    }
}

/// Where an alert can be looked at: our status page, or "" when our URL is unknown.
pub(crate) fn generator_url(ctx: &RenderContext<'_>) -> String {
    let base = ctx.external_url.trim_end_matches('/');
    if base.is_empty() {
        String::new()
    } else {
        format!("{base}/api/v1/status")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_set_fingerprint_matches_prometheus() {
        // The vectors of prometheus/common's model tests.
        assert_eq!(label_set_fingerprint(&[]), 14_695_981_039_346_656_037);
        assert_eq!(
            label_set_fingerprint(&[("name", "garland, briggs"), ("fear", "love is not enough")]),
            5_799_056_148_416_392_346
        );
    }

    #[test]
    fn retry_after_ignores_successes_and_nonsense() {
        let now = SystemTime::UNIX_EPOCH;
        let h = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        let ra = |status, v: &str| {
            retry_after(
                ReceiverKind::Slack,
                status,
                h(v).iter().map(|(k, v)| (k, v)),
                b"",
                now,
            )
        };
        assert_eq!(ra(200, "5"), None);
        assert_eq!(ra(429, "-1"), None);
        assert_eq!(ra(429, "NaN"), None);
        assert_eq!(ra(429, "soon"), None);
        assert_eq!(ra(503, " 7 "), Some(Duration::from_secs(7)));
        assert_eq!(ra(429, "1e300"), Some(Duration::from_secs(86_400)));
    }
}
