//! Delivery: one worker per receiver takes that receiver's outbox entries in order, renders
//! each ([`crate::receivers`]), sends it, and records the outcome.
//!
//! A worker only ever waits for its own receiver, so a receiver that is down, slow or rate
//! limiting delays nobody else. Between two sends to one receiver it keeps the pace its
//! kind asks for ([`crate::receivers::Receiver::min_interval`]: a second for chat
//! webhooks, which throttle bursts), so that a burst of groups does not earn a 429.
//!
//! # Batches
//!
//! A receiver whose kind takes alerts in batches ([`crate::receivers::Receiver::batched`]:
//! `webhook`, `alertmanager`) is sent a notification larger than its `max_alerts` as
//! several requests, in the notification's order, each carrying at most `max_alerts`
//! alerts. The notification stays one outbox entry, delivered in parts: when a batch is
//! taken, its alerts leave the entry and count as told (in the same state write), and the
//! next batch follows at once. So a crash re-sends at most the batch in flight, a retry
//! resumes with the first batch not yet taken, and nothing is lost or cut short. The entry
//! keeps its place at the head of the queue until its last batch is taken, so nothing of a
//! later notification (a resolution, say) overtakes it.
//!
//! Time is the injected clock's: an entry is due when its group has closed and its backoff
//! is over. A worker waits in real time until then, but looks at the clock again at least
//! every second (or when poked), so a clock moved by a test is noticed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use tracing::Level;

use super::counters::Counted;
use super::dispatch;
use super::outbox::OutboxEntry;
use super::state::Book;
use super::{NotifyError, Shared};
use crate::config::{Config, ReceiverConfig, Secret};
use crate::limit::{Edge, Latch};
use crate::receivers::{
    self, Delivery, HttpRequest, Notification, NotificationKind, Registered, RenderContext,
    Rendered,
};

/// The longest a worker waits before looking at the clock again.
const MAX_NAP: Duration = Duration::from_secs(1);

/// The shortest wait, so that a worker never spins.
const MIN_NAP: Duration = Duration::from_millis(10);

/// How much of an error answer's body is read (for `Retry-After` in Discord's JSON, and an
/// excerpt in the log).
const BODY_CAP: usize = 16 * 1024;

/// How much of an error answer's body goes into an error message, in characters.
const EXCERPT_CHARS: usize = 200;

/// The longest wait a receiver's `Retry-After` can impose (a header date far ahead would
/// otherwise park the queue until `max_delivery_age` drops it).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Backoff, timeout and pacing of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryTuning {
    /// The ceiling of the first retry's delay; it doubles with each failure.
    pub backoff_base: Duration,
    /// The ceiling no delay exceeds (unless the receiver's `Retry-After` asks for more).
    pub backoff_cap: Duration,
    /// Per request, connecting included.
    pub timeout: Duration,
    /// Whether receivers are paced ([`crate::receivers::Receiver::min_interval`]).
    pub pacing: bool,
}

impl Default for DeliveryTuning {
    /// 1 s doubling to 1 min, 10 s per request, paced. The ceiling is short so that a
    /// receiver's queue, which waits for its head (README, Delivery guarantees), resumes
    /// within a minute of the receiver taking notifications again.
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            pacing: true,
        }
    }
}

/// The delay before the next attempt after `failures` failed attempts (at least 1): "full
/// jitter", a uniformly random point below the exponential ceiling `base · 2^(failures-1)`
/// (capped at `cap`), so that many daemons retrying one receiver spread out. `unit` is the
/// random draw in `[0, 1)`. Never less than a tenth of `base`, so that an unlucky draw does
/// not retry at once.
pub fn backoff(failures: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exponent = i32::try_from(failures.saturating_sub(1).min(60)).unwrap_or(60);
    let ceiling = (base.as_secs_f64() * 2f64.powi(exponent)).min(cap.as_secs_f64());
    let delay = Duration::try_from_secs_f64(ceiling * unit.clamp(0.0, 1.0)).unwrap_or(cap);
    delay.max(base / 10).min(cap.max(base / 10))
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The receiver took it (`HTTP 200`, or `logged`).
    Delivered(String),
    /// Worth trying again: a timeout, a connection error, 5xx, 408 or 429.
    Retry {
        /// What went wrong, scrubbed of secrets.
        reason: String,
        /// How long the receiver asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// Final: the receiver refused it.
    Failed(String),
}

/// Removes a receiver's secrets (URL, its path and query parts, signing secret, header
/// values) from a text before it is logged or saved. Not `Debug`: it holds the secrets.
struct Scrubber {
    /// Texts to replace, longest first.
    needles: Vec<String>,
}

impl Scrubber {
    fn new(url: &str, secret: Option<&str>, header_values: &[&str]) -> Self {
        let mut needles: Vec<String> = Vec::new();
        let mut add = |s: &str, min: usize| {
            if s.chars().count() >= min {
                needles.push(s.to_string());
            }
        };
        add(url, 1);
        if let Some((_, rest)) = url.split_once("://") {
            add(rest, 1);
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            // The host is not secret (and naming it helps), but anything after it may be.
            if let Some((_, after_host)) = path.split_once('/') {
                add(after_host, 6);
                for segment in after_host.split('/') {
                    add(segment, 6);
                }
            }
            add(query, 6);
            for pair in query.split('&') {
                add(pair, 6);
                if let Some((_, value)) = pair.split_once('=') {
                    add(value, 6);
                }
            }
        }
        if let Some(secret) = secret {
            add(secret, 4);
        }
        for value in header_values {
            add(value, 6);
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Self { needles }
    }

    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), "<redacted>");
            }
        }
        out
    }
}

/// A configured receiver, ready to send to.
pub(crate) struct Endpoint {
    /// The configured name.
    pub(crate) name: String,
    /// Its kind's [`crate::receivers::Receiver`]: the render, and everything else that
    /// differs between kinds.
    receiver: &'static Registered,
    /// The URL (empty for `log`).
    url: Secret,
    /// `webhook`: the signing secret.
    secret: Option<Secret>,
    /// `webhook`: extra headers.
    headers: BTreeMap<String, String>,
    /// Scrubs its secrets out of error texts.
    scrubber: Scrubber,
    /// `alerting.external_url`: where messages link to (README, Status page).
    external_url: String,
    /// Chat kinds: the message template (README, Message templates).
    template: Option<String>,
    /// `inventory_monitor_template_failures_total` of this receiver, when it has a template
    /// and the notifier counts (not `notify-test`).
    pub(crate) template_failures: Option<prometheus::IntCounter>,
    /// The most alerts in one request, for a kind that takes alerts in batches
    /// (`max_alerts`); `None`: one request carries the whole notification.
    batch: Option<usize>,
    /// Poked when there may be something to do.
    pub(crate) wake: Notify,
    /// Whether its last attempts failed and will be retried: a receiver that is down is
    /// told when it starts failing and when it takes a notification again, not on every
    /// retry (an Alertmanager push is retried every sweep).
    retrying: std::sync::Mutex<Latch>,
}

impl Endpoint {
    /// Records whether an attempt failed and will be retried; answers the edge to tell.
    fn retrying(&self, failed: bool) -> Option<Edge> {
        // A panic while held leaves a latch that at worst tells a line twice.
        self.retrying
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(failed)
    }

    /// A notification (or a batch of one) was delivered: logs the end of a run of failures,
    /// once.
    fn took_one(&self) {
        if let Some(Edge::Stopped { sweeps: failures }) = self.retrying(false) {
            tracing::info!(
                receiver = self.name.as_str(),
                failed_attempts = failures,
                "the receiver takes notifications again"
            );
        }
    }

    /// Resolves the receiver's URL and secret, and runs its kind's checks.
    pub(crate) fn new(config: &ReceiverConfig, external_url: &str) -> Result<Self, NotifyError> {
        let url = config
            .url()
            .map_err(NotifyError::Receiver)?
            .unwrap_or_else(|| Secret::new(""));
        let secret = config.secret().map_err(NotifyError::Receiver)?;
        let receiver = receivers::receiver_for(config.kind);
        receiver.validate(config).map_err(NotifyError::Receiver)?;
        let header_values: Vec<&str> = config.headers.values().map(String::as_str).collect();
        let scrubber = Scrubber::new(
            url.expose(),
            secret.as_ref().map(Secret::expose),
            &header_values,
        );
        Ok(Self {
            name: config.name.clone(),
            receiver,
            url,
            secret,
            headers: config.headers.clone(),
            scrubber,
            external_url: external_url.to_string(),
            template: config.template.clone(),
            template_failures: None,
            batch: receiver.batched().then(|| config.max_alerts()),
            wake: Notify::new(),
            retrying: Default::default(),
        })
    }

    /// Renders `notification` at `now`.
    fn render(&self, notification: &Notification, now: SystemTime, ttl: Duration) -> Rendered {
        let ctx = RenderContext {
            receiver: &self.name,
            url: &self.url,
            secret: self.secret.as_ref(),
            headers: &self.headers,
            external_url: &self.external_url,
            now,
            alertmanager_ttl: ttl,
            template: self.template.as_deref(),
            template_failures: self.template_failures.as_ref(),
        };
        self.receiver.render(notification, &ctx)
    }
}

/// The one HTTP client: rustls with the system's and `api.ca_file`'s roots, a timeout per
/// request, no redirects (a webhook URL is a secret and is not handed on to another host).
pub(crate) fn build_client(
    config: &Config,
    timeout: Duration,
) -> Result<reqwest::Client, NotifyError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("inventory-monitor/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &config.api.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            NotifyError::Client(format!("api.ca_file: cannot read {}: {e}", path.display()))
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| NotifyError::Client(format!("api.ca_file: {}: {e}", path.display())))?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| NotifyError::Client(e.without_url().to_string()))
}

/// One request's worth of an outbox entry: the whole entry, or its next batch.
#[derive(Debug)]
struct Attempt {
    /// The entry's id.
    id: u64,
    /// The entry's failed attempts so far.
    attempts: u32,
    /// What this request says: the entry's notification, with only this batch's alerts.
    notification: Notification,
    /// How many of the entry's alerts this request leaves for later batches.
    left: usize,
}

impl Attempt {
    /// The next request of `entry`: its first `batch` alerts (all of them without a batch
    /// size, or when they fit).
    fn of(entry: &OutboxEntry, batch: Option<usize>) -> Self {
        let all = entry.notification.alerts.len();
        let take = batch.map_or(all, |b| b.max(1).min(all));
        let notification = Notification {
            id: entry.notification.id,
            receiver: entry.notification.receiver.clone(),
            kind: entry.notification.kind,
            alerts: entry.notification.alerts[..take].to_vec(),
            created_at: entry.notification.created_at,
        };
        Self {
            id: entry.id,
            attempts: entry.attempts,
            notification,
            left: all - take,
        }
    }
}

/// What a worker does next.
enum Step {
    /// Attempt this request (its entry now sealed and in flight).
    Attempt(Attempt),
    /// Nothing is due; look again at this instant (or after [`MAX_NAP`]).
    Wait(Option<SystemTime>),
}

/// Drops the receiver's entries older than `max_age`, then picks its queue head if due.
fn next_step(
    book: &mut Book,
    receiver: &str,
    now: SystemTime,
    max_age: Duration,
    batch: Option<usize>,
) -> (Step, Vec<OutboxEntry>) {
    let too_old: Vec<u64> = book
        .outbox
        .of(receiver)
        .filter(|e| {
            !e.in_flight
                && e.not_before <= now
                && now
                    .duration_since(e.opened_at)
                    .is_ok_and(|age| age > max_age)
        })
        .map(|e| e.id)
        .collect();
    let dropped = too_old
        .into_iter()
        .filter_map(|id| book.given_up(id, now))
        .collect();
    let step = match book
        .outbox
        .head_of(receiver, now)
        .map(|e| (e.id, e.is_due(now)))
    {
        Some((id, true)) => match book.outbox.get_mut(id) {
            Some(entry) => {
                entry.sealed = true;
                entry.in_flight = true;
                Step::Attempt(Attempt::of(entry, batch))
            }
            None => Step::Wait(None),
        },
        Some((id, false)) => Step::Wait(book.outbox.get(id).map(|e| e.next_attempt_at)),
        None => Step::Wait(book.outbox.next_due_of(receiver)),
    };
    (step, dropped)
}

/// The delivery loop of receiver `index` until shutdown.
pub(crate) async fn worker(shared: Arc<Shared>, index: usize) {
    let endpoint = &shared.endpoints[index];
    let pace = if shared.tuning.pacing {
        endpoint.receiver.min_interval()
    } else {
        Duration::ZERO
    };
    let max_age = shared.settings.max_delivery_age;
    let mut last_send: Option<Instant> = None;
    loop {
        if shared.stop.is_cancelled() {
            return;
        }
        if let Some(ready) = last_send.map(|t| t + pace).filter(|r| *r > Instant::now()) {
            tokio::select! {
                _ = shared.stop.cancelled() => return,
                _ = tokio::time::sleep_until(ready.into()) => {}
            }
        }
        let now = shared.clock.now();
        let (step, dropped) = {
            let mut book = shared.book();
            let out = next_step(&mut book, &endpoint.name, now, max_age, endpoint.batch);
            shared.update_gauge(&book);
            out
        };
        if !dropped.is_empty() {
            for entry in &dropped {
                report_dropped(&shared, endpoint, entry, now);
            }
            shared.persist_async().await;
        }
        match step {
            Step::Attempt(part) => {
                let outcome = attempt(
                    &shared.client,
                    endpoint,
                    &part.notification,
                    now,
                    shared.alertmanager_ttl,
                )
                .await;
                if pace > Duration::ZERO {
                    last_send = Some(Instant::now());
                }
                settle(&shared, endpoint, &part, outcome);
                shared.persist_async().await;
            }
            Step::Wait(until) => {
                let nap = until
                    .map(|u| u.duration_since(now).unwrap_or(Duration::ZERO))
                    .unwrap_or(MAX_NAP)
                    .clamp(MIN_NAP, MAX_NAP);
                tokio::select! {
                    _ = shared.stop.cancelled() => return,
                    _ = endpoint.wake.notified() => {}
                    _ = tokio::time::sleep(nap) => {}
                }
            }
        }
    }
}

/// Records an attempt's outcome in the book, the metrics and the log.
fn settle(shared: &Shared, endpoint: &Endpoint, entry: &Attempt, outcome: Outcome) {
    let now = shared.clock.now();
    let name = endpoint.name.as_str();
    let alerts = entry.notification.alerts.len();
    let mut book = shared.book();
    match outcome {
        Outcome::Delivered(detail) if entry.left > 0 => {
            // One batch of several: counted as delivered when its last batch is.
            book.delivered_part(entry.id, alerts, now);
            endpoint.took_one();
            tracing::debug!(
                receiver = name,
                notification = entry.id,
                alerts,
                alerts_left = entry.left,
                answer = %detail,
                "batch delivered; the next one follows"
            );
        }
        Outcome::Delivered(detail) => {
            book.delivered(entry.id, now);
            shared.counters.add(name, Counted::Delivered, 1);
            endpoint.took_one();
            if endpoint.receiver.delivered_level() == Level::DEBUG {
                tracing::debug!(receiver = name, notification = entry.id, alerts, answer = %detail, "notification delivered");
            } else {
                tracing::info!(
                    receiver = name,
                    notification = entry.id,
                    alerts,
                    failed_attempts = entry.attempts,
                    answer = %detail,
                    "notification delivered"
                );
            }
        }
        Outcome::Retry {
            reason,
            retry_after,
        } => {
            let failures = entry.attempts.saturating_add(1);
            let tuning = &shared.tuning;
            let delay = backoff(
                failures,
                tuning.backoff_base,
                tuning.backoff_cap,
                rand::random::<f64>(),
            )
            .max(retry_after.unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER));
            if endpoint.retrying(true) == Some(Edge::Started) {
                tracing::warn!(
                    receiver = name,
                    notification = entry.id,
                    attempt = failures,
                    retry_in = %humantime::format_duration(round_ms(delay)),
                    error = %reason,
                    "notification not delivered; will retry (further failures of this \
                     receiver are logged at debug until it takes one)"
                );
            } else {
                tracing::debug!(
                    receiver = name,
                    notification = entry.id,
                    attempt = failures,
                    retry_in = %humantime::format_duration(round_ms(delay)),
                    error = %reason,
                    "notification not delivered; will retry"
                );
            }
            book.retry_later(entry.id, reason, now + delay);
            if endpoint.receiver.delivery() == Delivery::PushEverySweep {
                dispatch::supersede_push(&mut book, entry.id);
            }
        }
        Outcome::Failed(reason) => {
            book.given_up(entry.id, now);
            shared.counters.add(name, Counted::Failed, 1);
            tracing::error!(
                receiver = name,
                notification = entry.id,
                alerts,
                error = %reason,
                "notification refused by the receiver; not retried"
            );
        }
    }
    shared.update_gauge(&book);
}

/// Counts and logs an entry dropped for age.
fn report_dropped(shared: &Shared, endpoint: &Endpoint, entry: &OutboxEntry, now: SystemTime) {
    shared.counters.add(&endpoint.name, Counted::Dropped, 1);
    let age = now.duration_since(entry.opened_at).unwrap_or_default();
    tracing::warn!(
        receiver = %endpoint.name,
        notification = entry.id,
        alerts = entry.notification.alerts.len(),
        age = %humantime::format_duration(Duration::from_secs(age.as_secs())),
        attempts = entry.attempts,
        last_error = entry.last_error.as_deref().unwrap_or("none"),
        "notification dropped: not delivered within alerting.max_delivery_age"
    );
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Renders and sends one notification once.
async fn attempt(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    notification: &Notification,
    now: SystemTime,
    ttl: Duration,
) -> Outcome {
    match endpoint.render(notification, now, ttl) {
        Rendered::Log(lines) => {
            emit_log(endpoint.receiver.line_levels(notification, &lines), &lines);
            Outcome::Delivered("logged".to_string())
        }
        Rendered::Http(request) => post(client, endpoint, request, now).await,
    }
}

/// Writes rendered lines through `tracing` (target `alert`), each at the level its kind
/// gave it (`INFO` for a line it gave none).
fn emit_log(levels: Vec<Level>, lines: &[String]) {
    let levels = levels.into_iter().chain(std::iter::repeat(Level::INFO));
    for (line, level) in lines.iter().zip(levels) {
        match level {
            Level::ERROR => tracing::error!(target: "alert", "{line}"),
            Level::WARN => tracing::warn!(target: "alert", "{line}"),
            Level::INFO => tracing::info!(target: "alert", "{line}"),
            Level::DEBUG => tracing::debug!(target: "alert", "{line}"),
            _ => tracing::trace!(target: "alert", "{line}"),
        }
    }
}

/// POSTs `request` and classifies the answer.
async fn post(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: HttpRequest,
    now: SystemTime,
) -> Outcome {
    let mut builder = client.post(request.url.expose());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let response = match builder.body(request.body).send().await {
        Ok(r) => r,
        Err(e) => return transport_error(e, &endpoint.scrubber),
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = read_capped(response).await;
    if (200..300).contains(&status) {
        return Outcome::Delivered(format!("HTTP {status}"));
    }
    let reason = describe_status(status, &body, &endpoint.scrubber);
    match status {
        408 | 429 | 500..=599 => Outcome::Retry {
            reason,
            retry_after: receivers::retry_after(
                endpoint.receiver.kind(),
                status,
                &headers,
                &body,
                now,
            ),
        },
        _ => Outcome::Failed(reason),
    }
}

/// Up to [`BODY_CAP`] bytes of the answer's body; whatever could be read.
async fn read_capped(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = BODY_CAP - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// `HTTP 404 Not Found: <first characters of the body, scrubbed, on one line>`.
fn describe_status(status: u16, body: &[u8], scrubber: &Scrubber) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let text = scrubber.scrub(&String::from_utf8_lossy(body));
    let one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let mut excerpt: String = one_line.chars().take(EXCERPT_CHARS).collect();
    if one_line.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    if excerpt.is_empty() {
        format!("HTTP {status}{reason}")
    } else {
        format!("HTTP {status}{reason}: {excerpt}")
    }
}

/// A request that got no answer: timeouts and connection errors are retried, a request
/// that cannot even be built (an invalid header in the configuration) is not.
fn transport_error(error: reqwest::Error, scrubber: &Scrubber) -> Outcome {
    let error = error.without_url();
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(e) = source {
        let text = e.to_string();
        if !chain.iter().any(|c: &String| c.contains(&text)) {
            chain.push(text);
        }
        source = e.source();
    }
    let detail = scrubber.scrub(&chain.join(": "));
    if error.is_builder() {
        Outcome::Failed(format!("the request cannot be built: {detail}"))
    } else if error.is_timeout() {
        Outcome::Retry {
            reason: format!("timed out: {detail}"),
            retry_after: None,
        }
    } else if error.is_connect() {
        Outcome::Retry {
            reason: format!("cannot connect: {detail}"),
            retry_after: None,
        }
    } else {
        Outcome::Retry {
            reason: detail,
            retry_after: None,
        }
    }
}

/// `notify-test` for one receiver: one attempt of a test notification.
pub(crate) async fn send_test_to(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    ttl: Duration,
) -> Result<String, String> {
    let now = SystemTime::now();
    let notification = Notification::test(0, endpoint.name.clone(), now);
    debug_assert_eq!(notification.kind, NotificationKind::Test);
    match attempt(client, endpoint, &notification, now, ttl).await {
        Outcome::Delivered(detail) => Ok(detail),
        Outcome::Retry { reason, .. } | Outcome::Failed(reason) => Err(reason),
    }
}

#[cfg(test)]
mod tests;
