//! Alerts that reach people and are never lost (README: Alerting, Alerts, Delivery guarantees): routing,
//! grouping, reminders, a durable outbox, and delivery with retries.
//!
//! ```text
//! sweep ─► Notifier::on_sweep ─► dispatch (route, group, remind) ─► outbox ─► state journal
//!                                                                     │
//!                                        one worker per receiver ◄────┘
//!                                        render (receivers/) ─► POST ─► delivered | retry | failed
//! ```
//!
//! After every sweep the daemon hands the [`Notifier`] the alert transitions and the alerts
//! now active. [`dispatch`] routes them to receivers and groups them into outbox entries
//! (one message per receiver per `group_wait`), adds reminders, and the state is written to
//! disk before anything is sent. One worker per receiver then delivers that receiver's
//! entries in order, so a receiver that is down only delays itself.
//!
//! A firing alert with a `suppressed_by` (a silence, a maintenance window, flapping) is not
//! announced: [`dispatch`] holds it per receiver, in the state file, and announces it when
//! its suppression ends (README, Suppression).
//!
//! # Delivery guarantees
//!
//! - Nothing is lost to a crash or restart: the outbox, the judge's alerts and what each
//!   receiver was told are written (what changed, as one fsynced journal record, see
//!   [`state`]) after every sweep and after every delivery outcome, and are loaded at start.
//! - Nothing already announced is announced again after a restart: the judge is restored
//!   (so alerts still firing make no new "firing"), reminders keep their timing, and alerts
//!   that cleared while the daemon was down resolve on the first sweep and are announced.
//! - The one duplicate: a stop between a receiver's 2xx and the state write that records it
//!   sends that one notification again after the restart (once). Receivers see at most one
//!   duplicate per crash; the alternative, recording before sending, could lose a message.
//! - Timeouts, connection errors, 5xx, 408 and 429 are retried with exponential backoff and
//!   full jitter (1 s doubling to 1 min), never sooner than the receiver's `Retry-After`
//!   (at most a day), until the notification is `max_delivery_age` old: it is then
//!   dropped (`dropped`, WARN). Any other answer but 2xx is final (`failed`, ERROR with the
//!   status code).
//!   Redirects are not followed (a webhook URL is a secret; it is not handed to another
//!   host), so a 3xx is final too.
//!
//! Neither the URL of a receiver nor its secret or header values ever reach a log line, a
//! metric or the state file: error texts are scrubbed of them.
//!
//! # Choices
//!
//! - A notification that failed for good or was dropped counts as "told" for its firing
//!   alerts: the next word about them is a reminder a `repeat_interval` later, not a retry
//!   every sweep (a deleted webhook would otherwise log an error per sweep).
//! - A write costs what changed: a delivery outcome is journaled as the operation itself,
//!   a sweep as its difference from what the files hold; the whole state is written only at
//!   start and by the background compaction.
//! - One daemon per `state.dir`: replicas (shards, or an HA pair in front of Alertmanager)
//!   each need their own directory; `run` locks it ([`state::lock`]).
//! - Receivers that are no longer configured have their queued notifications dropped (and
//!   counted) at start.
//!
//! # Layout
//!
//! - [`state`]: the in-memory durable state ([`state::Book`]), its snapshot and journal, and
//!   the `state.dir` lock.
//! - [`outbox`]: outbox entries and their queue order.
//! - [`dispatch`]: routing, grouping, reminders, the Alertmanager push.
//! - [`delivery`]: the per-receiver workers: render, POST, classify, back off, pace.
//! - `counters`: the notification counters handed over from the metrics registry.
//!
//! Everything that differs between receiver kinds (pace, pushes, `Retry-After` bodies, log
//! levels) is asked of [`crate::receivers::Receiver`]; nothing here names a kind.

mod counters;
pub mod delivery;
pub mod dispatch;
pub mod outbox;
pub mod state;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::{Config, ReceiverConfig};
use crate::rules::{Alert, Transition};

use self::counters::Counted;
use self::delivery::Endpoint;
use self::dispatch::Settings;
use self::outbox::OutboxEntry;
use self::state::{Book, StateStore};

pub use self::counters::NotifyCounters;
pub use self::delivery::DeliveryTuning;

/// Why notifications cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The state directory does not exist and cannot be created.
    // The OS error is the source, not part of the message: a report that walks the causes
    // (as the binary's does) would say it twice.
    #[error("state.dir: cannot create {path}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The state file cannot be used and cannot be moved out of the way either; starting
    /// would overwrite it.
    #[error("state file {path} is unusable ({problem}) and cannot be moved aside")]
    StateUnusable {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// Why it could not be renamed.
        source: std::io::Error,
    },
    /// The state file cannot be written.
    #[error("cannot write the state file {path}")]
    StateWrite {
        /// The state file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A receiver's URL or secret cannot be read (its problem names the key).
    #[error("{0}")]
    Receiver(crate::config::Problem),
    /// `notify-test --receiver NAME` names no configured receiver.
    #[error("no receiver is named {name:?} (configured: {known})")]
    UnknownReceiver {
        /// The name asked for.
        name: String,
        /// The configured names, comma-separated.
        known: String,
    },
    /// The HTTP client cannot be built (e.g. `api.ca_file` holds no certificate).
    #[error("cannot set up the notification HTTP client: {0}")]
    Client(String),
    /// [`Notifier::start`] was called outside a tokio runtime.
    #[error("notifications need a tokio runtime to run in")]
    NoRuntime,
}

/// What the notifier's tasks share.
pub(crate) struct Shared {
    /// The durable state. `std::sync::Mutex`: held for bookkeeping only, never across an
    /// `.await`, and the sweep hand-off that takes it is synchronous.
    book: Mutex<Book>,
    /// The state file.
    store: StateStore,
    /// One per configured receiver, in configuration order.
    endpoints: Vec<Endpoint>,
    /// Grouping and reminder settings.
    settings: Settings,
    /// The receivers' configuration, for routing.
    receivers: Vec<ReceiverConfig>,
    /// Injected time.
    clock: SharedClock,
    /// `notifications_total` and `notification_queue`.
    counters: NotifyCounters,
    /// One connection pool for every receiver.
    client: reqwest::Client,
    /// Backoff, timeout and pacing.
    tuning: DeliveryTuning,
    /// `alertmanager`: how long a pushed firing alert stays valid.
    alertmanager_ttl: Duration,
    /// Cancelled at shutdown: workers finish the attempt under way, then stop.
    stop: CancellationToken,
    /// True while the state file cannot be written (so that the error is logged once per
    /// episode, not once per write).
    write_failing: std::sync::atomic::AtomicBool,
    /// True when the state directory is removed at exit (the demo's): nothing waits for a
    /// next start, so shutdown promises none.
    ephemeral: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// The book, locked. A poisoned lock (a panic while held) still holds consistent
    /// bookkeeping: every change is made in one step.
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Updates `notification_queue` from the book.
    fn update_gauge(&self, book: &Book) {
        self.counters.set_queue(book.outbox.len());
    }

    /// Writes what changed since the last write to disk (the state journal), if anything.
    /// Blocking.
    fn persist(&self) -> Result<(), std::io::Error> {
        use std::sync::atomic::Ordering;
        let result = self.store.save(&self.book);
        match &result {
            Ok(_) => {
                if self.write_failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(file = %self.store.path().display(), "the state file is written again");
                }
            }
            Err(e) => {
                if !self.write_failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        file = %self.store.path().display(),
                        error = %e,
                        "cannot write the state file: alert state and undelivered notifications \
                         would not survive a restart"
                    );
                }
            }
        }
        result.map(|_| ())
    }

    /// [`Shared::persist`] on a blocking thread, for the workers.
    async fn persist_async(self: &Arc<Self>) {
        let shared = self.clone();
        // Errors are logged by `persist`; a panicked write task changes nothing on disk.
        let _ = tokio::task::spawn_blocking(move || shared.persist()).await;
    }

    /// Wakes every worker.
    fn wake_all(&self) {
        for endpoint in &self.endpoints {
            endpoint.wake.notify_one();
        }
    }
}

/// The notification pipeline: takes each sweep's alert changes, keeps the outbox on disk,
/// and runs one delivery worker per receiver.
pub struct Notifier {
    /// What the workers share.
    shared: Arc<Shared>,
    /// The workers, one per receiver.
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("receivers", &self.shared.receivers.len())
            .field("queue", &self.queue_len())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Loads `state.dir/state.json` (moving an unusable one aside), resolves every
    /// receiver's URL and secret, and starts the delivery workers, which resume the outbox.
    /// Returns the notifier and the judge's alerts to restore ([`crate::rules::Judge::restore`]).
    ///
    /// Must be called within a tokio runtime. Fails when the state directory cannot be
    /// created or written, or a receiver's URL cannot be read.
    pub fn start(
        config: &Config,
        counters: impl Into<NotifyCounters>,
        clock: SharedClock,
    ) -> Result<(Notifier, Vec<Alert>), NotifyError> {
        Self::start_with(config, counters, clock, DeliveryTuning::default())
    }

    /// [`Notifier::start`] with other backoff, timeout or pacing (for tests and
    /// benchmarks).
    pub fn start_with(
        config: &Config,
        counters: impl Into<NotifyCounters>,
        clock: SharedClock,
        tuning: DeliveryTuning,
    ) -> Result<(Notifier, Vec<Alert>), NotifyError> {
        Self::open(config, counters.into(), clock, tuning, false)
    }

    /// [`Notifier::start`] for a new configuration, after the notifier in force was
    /// [`Notifier::stop_for_reload`]ed: the same state file, read back. It logs what it
    /// kept, not a "state restored" as if the process had restarted.
    pub fn reconfigured(
        config: &Config,
        counters: impl Into<NotifyCounters>,
        clock: SharedClock,
    ) -> Result<(Notifier, Vec<Alert>), NotifyError> {
        Self::open(
            config,
            counters.into(),
            clock,
            DeliveryTuning::default(),
            true,
        )
    }

    /// Loads the state and starts the workers; `reload`: in the same process, after a
    /// [`Notifier::stop_for_reload`].
    fn open(
        config: &Config,
        counters: NotifyCounters,
        clock: SharedClock,
        tuning: DeliveryTuning,
        reload: bool,
    ) -> Result<(Notifier, Vec<Alert>), NotifyError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let receivers = config.alerting.receivers.clone();
        let mut endpoints = receivers
            .iter()
            .map(|r| Endpoint::new(r, &config.alerting.external_url))
            .collect::<Result<Vec<_>, _>>()?;
        let client = delivery::build_client(config, tuning.timeout)?;

        let store = StateStore::open(&config.state.dir)?;
        let (mut book, _moved) = store.load()?;
        let restored: Vec<Alert> = book.alerts.iter().map(|a| Alert::clone(a)).collect();
        forget_unknown_receivers(&mut book, &receivers, &counters);
        book.touch();
        for (r, endpoint) in receivers.iter().zip(&mut endpoints) {
            endpoint.template_failures = counters.init_receiver(&r.name, r.template.is_some());
        }

        let settings = Settings {
            group_wait: config.alerting.group_wait,
            repeat_interval: config.alerting.repeat_interval,
            send_resolved: config.alerting.send_resolved,
            max_delivery_age: config.alerting.max_delivery_age,
        };
        let shared = Arc::new(Shared {
            book: Mutex::new(book),
            store,
            endpoints,
            settings,
            receivers,
            clock,
            counters,
            client,
            tuning,
            alertmanager_ttl: (config.poll.interval * 4).max(Duration::from_secs(300)),
            stop: CancellationToken::new(),
            write_failing: std::sync::atomic::AtomicBool::new(false),
            ephemeral: std::sync::atomic::AtomicBool::new(false),
        });
        // Written at once: proves the directory is writable before the daemon relies on it,
        // and replaces a file that was moved aside.
        shared.persist().map_err(|source| NotifyError::StateWrite {
            path: shared.store.path().to_path_buf(),
            source,
        })?;
        {
            let book = shared.book();
            shared.update_gauge(&book);
            if reload {
                tracing::info!(
                    queued = book.outbox.len(),
                    receivers = shared.endpoints.len(),
                    "notifier reconfigured: {} queued notification(s) kept",
                    book.outbox.len()
                );
            } else if !book.outbox.is_empty() || !restored.is_empty() {
                tracing::info!(
                    file = %shared.store.path().display(),
                    alerts = restored.len(),
                    queued = book.outbox.len(),
                    "state restored"
                );
            }
        }
        let workers = (0..shared.endpoints.len())
            .map(|index| runtime.spawn(delivery::worker(shared.clone(), index)))
            .collect();
        Ok((Notifier { shared, workers }, restored))
    }

    /// Takes one sweep's results: routes the transitions, groups them, adds due reminders,
    /// replaces Alertmanager pushes, remembers `active` (the judge's pending and firing
    /// alerts) for a restart, writes the state file, and wakes the workers. The book (and
    /// the journal's mirror of it) holds these very alerts, not copies of them.
    pub fn on_sweep(&self, transitions: &[Transition], active: &[Arc<Alert>], now: SystemTime) {
        {
            let mut book = self.shared.book();
            dispatch::plan_sweep(
                &mut book,
                &self.shared.receivers,
                &self.shared.settings,
                transitions,
                active,
                now,
            );
            self.shared.update_gauge(&book);
        }
        // Before any delivery: what is about to be said is on disk first. An error is logged
        // by `persist`; the daemon keeps alerting from memory.
        let _ = self.shared.persist();
        self.shared.wake_all();
    }

    /// Wakes every worker to look at its queue now (after a test moved a manual clock, say).
    pub fn poke(&self) {
        self.shared.wake_all();
    }

    /// How many notifications wait for delivery.
    pub fn queue_len(&self) -> usize {
        self.shared.book().outbox.len()
    }

    /// A copy of the outbox, in id order.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.shared.book().outbox.iter().cloned().collect()
    }

    /// `state.dir/state.json`.
    pub fn state_file(&self) -> PathBuf {
        self.shared.store.path().to_path_buf()
    }

    /// Says that the state directory goes away when the process ends (the demo's): the
    /// shutdown then promises no next start.
    pub fn set_ephemeral_state(&self) {
        self.shared
            .ephemeral
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Stops the workers: each finishes the attempt it has under way, waiting at most
    /// `grace` in all (an attempt cut short stays in the outbox and is made again after a
    /// restart), then writes the state file, and says what it leaves queued.
    pub async fn shutdown(self, grace: Duration) {
        let shared = self.shared.clone();
        let queued = self.stop(grace).await;
        if queued == 0 {
            return;
        }
        if shared.ephemeral.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(
                queued,
                "undelivered notifications are dropped: the state directory is temporary"
            );
        } else {
            tracing::info!(
                queued,
                file = %shared.store.path().display(),
                "undelivered notifications saved for the next start"
            );
        }
    }

    /// [`Notifier::shutdown`] before a [`Notifier::reconfigured`] takes over the same state
    /// file: quietly, since nothing stops and nothing is lost.
    pub async fn stop_for_reload(self, grace: Duration) {
        self.stop(grace).await;
    }

    /// Stops the workers and writes the state file; answers how many notifications are
    /// queued.
    async fn stop(mut self, grace: Duration) -> usize {
        let shared = self.shared.clone();
        let mut workers = std::mem::take(&mut self.workers);
        shared.stop.cancel();
        shared.wake_all();
        let all = futures_util::future::join_all(workers.iter_mut());
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                grace = %humantime::format_duration(grace),
                "deliveries still under way were cut short; they stay queued"
            );
            for w in &workers {
                w.abort();
            }
        }
        {
            let mut book = shared.book();
            for id in book
                .outbox
                .iter()
                .filter(|e| e.in_flight)
                .map(|e| e.id)
                .collect::<Vec<_>>()
            {
                if let Some(e) = book.outbox.get_mut(id) {
                    e.in_flight = false;
                }
            }
            book.touch();
        }
        let writer = shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = writer.persist();
            // A compaction under way ends before the next notifier reads the directory.
            writer.store.finish();
        })
        .await;
        let queued = shared.book().outbox.len();
        queued
    }
}

impl Drop for Notifier {
    /// Stops the workers (without waiting, and without a last write: every change was
    /// written when it was made). [`Notifier::shutdown`] is the orderly way.
    fn drop(&mut self) {
        self.shared.stop.cancel();
        for w in &self.workers {
            w.abort();
        }
    }
}

/// Entries and records of receivers no longer configured cannot be delivered: they are
/// dropped (counted, and logged once each).
fn forget_unknown_receivers(
    book: &mut Book,
    receivers: &[ReceiverConfig],
    counters: &NotifyCounters,
) {
    let known = |name: &str| receivers.iter().any(|r| r.name == name);
    let mut dropped: std::collections::BTreeMap<String, usize> = Default::default();
    book.outbox.retain(|e| {
        if known(&e.receiver) {
            true
        } else {
            *dropped.entry(e.receiver.clone()).or_default() += 1;
            false
        }
    });
    for (name, n) in dropped {
        counters.add(&name, Counted::Dropped, n as u64);
        tracing::warn!(
            receiver = %name,
            notifications = n,
            "dropped queued notifications of a receiver that is no longer configured"
        );
    }
    book.receivers.retain(|name, _| known(name));
}

/// One receiver's `notify-test` outcome: its name, and `Ok("HTTP 200")` (or `Ok("logged")`)
/// or `Err(reason)`.
pub type TestOutcome = (String, Result<String, String>);

/// `notify-test`: sends a test notification ([`crate::receivers::NotificationKind::Test`])
/// to `receiver`, or to every receiver, once each, concurrently, through the real render and
/// HTTP path but with no retries and no state. Fails only when `receiver` names no
/// configured receiver or the HTTP client cannot be built.
pub async fn send_test(
    config: &Config,
    receiver: Option<&str>,
) -> Result<Vec<TestOutcome>, NotifyError> {
    let selected: Vec<&ReceiverConfig> = config
        .alerting
        .receivers
        .iter()
        .filter(|r| receiver.is_none_or(|name| r.name == name))
        .collect();
    if let (Some(name), true) = (receiver, selected.is_empty()) {
        return Err(NotifyError::UnknownReceiver {
            name: name.to_string(),
            known: config
                .alerting
                .receivers
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let tuning = DeliveryTuning::default();
    let client = delivery::build_client(config, tuning.timeout)?;
    let ttl = (config.poll.interval * 4).max(Duration::from_secs(300));
    let sends = selected.into_iter().map(|r| {
        let client = client.clone();
        async move {
            let outcome = match Endpoint::new(r, &config.alerting.external_url) {
                Ok(endpoint) => delivery::send_test_to(&client, &endpoint, ttl).await,
                Err(e) => Err(e.to_string()),
            };
            (r.name.clone(), outcome)
        }
    });
    Ok(futures_util::future::join_all(sends).await)
}
