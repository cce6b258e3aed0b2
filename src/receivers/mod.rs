//! Receivers: one file per kind, each implementing [`Receiver`]: a pure function from a
//! [`Notification`] (a group of alert transitions for one receiver) to the HTTP request
//! that announces it, and everything else delivery must know about the kind (how often it
//! may be sent to, how its answers ask for a wait, whether it is pushed every sweep or
//! grouped, how loudly a delivery is logged). Nothing under `receivers/` does I/O:
//! delivery (queues, retries, pacing, the outbox) lives apart in `notify`, which asks the
//! trait and never names a kind, so every chat format is unit-testable against golden
//! JSON.
//!
//! Adding a kind is one new file implementing [`Receiver`] and one line in [`REGISTRY`]
//! (plus its variant in [`crate::config::ReceiverKind`], which the configuration parses).
//!
//! # Layout
//!
//! - `text`: the wording every chat format shares (titles, facts, truncation, escaping).
//! - `template`: a chat receiver's own message `template`: its variables, the render, and
//!   the cut that keeps the result within each kind's limits.
//! - `attachments`: the Slack-compatible attachments shape, with a markup per kind.
//! - `slack`, `mattermost`, `teams`, `discord`, `google_chat`: the chat formats.
//! - `am_model`: Alertmanager's model of an alert (fingerprint, labels, times).
//! - `webhook`: Alertmanager's webhook payload (version 4), optionally signed.
//! - `alertmanager`: postable alerts for `POST /api/v2/alerts`.
//! - `log`: one line per alert.

mod alertmanager;
mod am_model;
mod attachments;
mod discord;
mod google_chat;
mod log;
mod mattermost;
mod slack;
mod teams;
mod template;
mod text;
mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tracing::Level;

use crate::config::{Problem, ReceiverConfig, ReceiverKind, Secret};
use crate::retry_after as wait;
use crate::rules::Alert;

pub use self::am_model::fingerprint;

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
    /// Ordered: firing before resolved, then critical before warning, then by key. Shared
    /// with the judge and the other receivers' entries (serde writes each as its value).
    pub alerts: Vec<Arc<Alert>>,
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
    /// Chat kinds: the receiver's `template` (README, Message templates); `None` for the
    /// built-in message.
    pub template: Option<&'a str>,
    /// Counts each rendering for which the template failed (or rendered no text) and the
    /// built-in message went instead; `None` where nothing counts (`notify-test`, tests).
    pub template_failures: Option<&'a prometheus::IntCounter>,
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

/// How alerts reach a receiver of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Changes are grouped per `group_wait` into messages, with reminders after
    /// `repeat_interval`: what people read.
    Grouped,
    /// Every sweep pushes all that fires (and what resolved lately), replacing a push not
    /// yet sent: for a receiver that groups, waits and reminds by itself and lets an alert
    /// expire unless it is sent again (Alertmanager).
    PushEverySweep,
}

/// The least time between two messages to a chat webhook ([`Receiver::min_interval`]):
/// Slack, Discord, Teams, Google Chat and Mattermost webhooks all throttle bursts.
pub(crate) const CHAT_INTERVAL: Duration = Duration::from_secs(1);

/// One kind of receiver: everything that differs between kinds. Only [`Receiver::render`]
/// is required; the defaults fit a receiver that takes every message as it comes.
///
/// Every method is pure: no I/O, no clock but the `now` it is given.
pub trait Receiver: Send + Sync + std::fmt::Debug {
    /// Turns a notification into what announces it.
    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered;

    /// Checks of a receiver's configuration beyond those of [`crate::config`] (which
    /// checks every kind's URL, secret and header keys itself, being below `receivers`).
    /// Run when the notifier starts and by `notify-test`; none by default.
    fn validate(&self, _config: &ReceiverConfig) -> Result<(), Problem> {
        Ok(())
    }

    /// The least time between two messages to one receiver, so that a burst of groups does
    /// not earn a 429. None by default.
    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }

    /// The wait an error answer's body asks for, given its status (429 or 5xx); it is
    /// preferred over the `Retry-After` header. Bodies say nothing by default.
    fn body_retry_after(&self, _status: u16, _body: &[u8]) -> Option<Duration> {
        None
    }

    /// Grouped messages or a push every sweep. Grouped by default.
    fn delivery(&self) -> Delivery {
        Delivery::Grouped
    }

    /// True when a notification goes out in batches of at most the receiver's
    /// `max_alerts` alerts, every alert in some batch (machine receivers: nothing is cut
    /// short); false when one message says it all, listing what fits and counting the rest
    /// (chat kinds: README, Alerting). False by default.
    fn batched(&self) -> bool {
        false
    }

    /// The level (`INFO` or `DEBUG`) of the line that records a delivery: `DEBUG` where
    /// deliveries are routine or their own evidence. `INFO` by default.
    fn delivered_level(&self) -> Level {
        Level::INFO
    }

    /// The level of each line of a [`Rendered::Log`], in order. `INFO` by default.
    fn line_levels(&self, _notification: &Notification, lines: &[String]) -> Vec<Level> {
        vec![Level::INFO; lines.len()]
    }
}

/// One registered kind: its name in the configuration, and its [`Receiver`].
#[derive(Debug)]
pub struct Registered {
    /// The kind.
    kind: ReceiverKind,
    /// Its keyword in the configuration file (`kind = "google_chat"`).
    name: &'static str,
    /// What it does.
    receiver: &'static dyn Receiver,
}

impl Registered {
    /// A registry entry.
    const fn new(kind: ReceiverKind, name: &'static str, receiver: &'static dyn Receiver) -> Self {
        Self {
            kind,
            name,
            receiver,
        }
    }

    /// The kind.
    pub fn kind(&self) -> ReceiverKind {
        self.kind
    }

    /// Its keyword in the configuration file.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// A registered kind is used as its [`Receiver`]: `receiver_for(kind).render(...)`.
impl std::ops::Deref for Registered {
    type Target = dyn Receiver;

    fn deref(&self) -> &Self::Target {
        self.receiver
    }
}

/// Every kind, once: the one registration line per kind.
#[rustfmt::skip] // A table: one line per kind.
pub static REGISTRY: [Registered; 8] = [
    Registered::new(ReceiverKind::Slack, "slack", &slack::SLACK),
    Registered::new(ReceiverKind::Mattermost, "mattermost", &mattermost::MATTERMOST),
    Registered::new(ReceiverKind::Teams, "teams", &teams::Teams),
    Registered::new(ReceiverKind::Discord, "discord", &discord::Discord),
    Registered::new(ReceiverKind::GoogleChat, "google_chat", &google_chat::GoogleChat),
    Registered::new(ReceiverKind::Webhook, "webhook", &webhook::Webhook),
    Registered::new(ReceiverKind::Alertmanager, "alertmanager", &alertmanager::Alertmanager),
    Registered::new(ReceiverKind::Log, "log", &log::Log),
];

/// The receiver of `kind`, from [`REGISTRY`].
pub fn receiver_for(kind: ReceiverKind) -> &'static Registered {
    REGISTRY
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| unreachable!("every kind is registered (see the registry test)"))
}

/// How long a receiver asked us to wait before the next attempt, from its answer:
///
/// - on 429 and 5xx, a `Retry-After` header, read by [`crate::retry_after`]
///   (delta-seconds, a fraction such as `1.5` too, or an HTTP-date counted from `now`, a
///   date in the past meaning "now");
/// - before the header, what the kind reads in the body ([`Receiver::body_retry_after`]:
///   Discord's JSON `retry_after` on a 429, more precise than its header).
///
/// At most a day: a longer wait outlives any sensible `max_delivery_age`, and an absurd
/// value must not park a delivery forever. `None` when the answer says nothing usable (no
/// header, garbage, a negative value): delivery then uses its own backoff. `headers` is
/// anything that iterates over (name, value) pairs: `&reqwest::header::HeaderMap`, or
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
    const MAX_WAIT: Duration = Duration::from_secs(86_400);
    if status != 429 && !(500..=599).contains(&status) {
        return None;
    }
    let asked = receiver_for(kind)
        .body_retry_after(status, body)
        .or_else(|| {
            let value = headers
                .into_iter()
                .find(|(name, _)| name.as_ref().eq_ignore_ascii_case("retry-after"))
                .map(|(_, value)| value)?;
            wait::parse(std::str::from_utf8(value.as_ref()).ok()?, now)
        })?;
    Some(asked.min(MAX_WAIT))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind listed after `kind`, so that every kind is listed: a new variant does not
    /// compile until it joins this chain.
    fn after(kind: ReceiverKind) -> Option<ReceiverKind> {
        match kind {
            ReceiverKind::Slack => Some(ReceiverKind::Teams),
            ReceiverKind::Teams => Some(ReceiverKind::Discord),
            ReceiverKind::Discord => Some(ReceiverKind::GoogleChat),
            ReceiverKind::GoogleChat => Some(ReceiverKind::Mattermost),
            ReceiverKind::Mattermost => Some(ReceiverKind::Webhook),
            ReceiverKind::Webhook => Some(ReceiverKind::Alertmanager),
            ReceiverKind::Alertmanager => Some(ReceiverKind::Log),
            ReceiverKind::Log => None,
        }
    }

    #[test]
    fn every_kind_is_registered_once_under_its_configuration_keyword() {
        let all: Vec<ReceiverKind> =
            std::iter::successors(Some(ReceiverKind::Slack), |k| after(*k)).collect();
        assert_eq!(REGISTRY.len(), all.len(), "one entry per kind");
        for kind in all {
            let entries: Vec<&Registered> = REGISTRY.iter().filter(|r| r.kind() == kind).collect();
            assert_eq!(entries.len(), 1, "{kind} is registered once");
            let name = entries[0].name();
            assert_eq!(name, kind.as_str(), "{kind}: the name is the keyword");
            let parsed: ReceiverKind =
                serde_json::from_value(serde_json::json!(name)).expect("a configuration keyword");
            assert_eq!(parsed, kind, "{name} parses as {kind}");
            assert_eq!(receiver_for(kind).kind(), kind);
        }
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
