//! The daemon: a poll loop that sweeps the upstream every `poll.interval`, judges the
//! snapshot, renders the metrics once (off the async workers), publishes them and what the
//! status document is made of (serialised on request) to the HTTP endpoints, and hands
//! alert transitions to the [`Notifier`]. Also graceful shutdown, and the HTTP server on a
//! thread of its own.
//!
//! A daemon built with [`Daemon::with_notifier`] (what `run` and `demo` do) loads the state
//! file at start, restores the judge from it, and gives every sweep's results to the
//! notifier. One built with [`Daemon::new`] (what `once` and the tests do) keeps no state and
//! sends nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bytes::Bytes;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::{rfc3339, SharedClock};
use crate::config::{Config, Secret};
use crate::metrics::{FiringLabel, MonitorMetrics, ProfileMetrics, RenderedProfiles};
use crate::notify::Notifier;
use crate::rules::{Alert, AlertState, Judge, Transition};
use crate::server::AppState;
use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use crate::upstream::{UpstreamClient, UpstreamCounters};

/// Something told of every sweep's alert transitions besides the notifier (possibly none).
/// [`NullSink`] is what `once` and the tests use.
pub trait TransitionSink: Send {
    /// Called after every sweep with the alerts that just started firing or just resolved
    /// (possibly none).
    fn deliver(&mut self, transitions: &[Transition]);
}

/// Drops transitions (the `once` command reports alert state itself).
#[derive(Debug, Default)]
pub struct NullSink;

impl TransitionSink for NullSink {
    fn deliver(&mut self, _transitions: &[Transition]) {}
}

/// How long deliveries under way at shutdown may take to finish.
pub const NOTIFIER_GRACE: Duration = Duration::from_secs(3);

/// What a sweep produced, for `once` and for tests.
pub struct SweepOutcome {
    /// The snapshot the sweep assembled.
    pub snapshot: Arc<Snapshot>,
    /// Alerts that started firing or resolved in this sweep.
    pub transitions: Vec<Transition>,
}

/// The long-running part: the upstream client, the judge, and what the endpoints serve.
pub struct Daemon {
    /// The configuration in force.
    config: Config,
    /// The upstream API client (one connection pool for the daemon's life).
    client: UpstreamClient,
    /// Alert state.
    judge: Judge,
    /// Per-profile series renderer (keeps the bounded `state` vocabulary).
    renderer: ProfileMetrics,
    /// Self-metrics, shared with the HTTP server and the upstream client.
    monitor: Arc<MonitorMetrics>,
    /// What the HTTP endpoints serve.
    state: Arc<AppState>,
    /// Injected time.
    clock: SharedClock,
    /// The last sweep's snapshot: what an incomplete or failed walk carries over.
    previous: Option<Arc<Snapshot>>,
    /// Where transitions go besides the notifier.
    sink: Box<dyn TransitionSink>,
    /// Routing, the outbox and delivery; `None` when the daemon sends nothing.
    notifier: Option<Notifier>,
    /// New configurations to apply between sweeps (SIGHUP), already validated.
    reloads: Option<mpsc::UnboundedReceiver<anyhow::Result<Reload>>>,
}

/// A validated configuration and the token it names, to apply between two sweeps.
pub struct Reload {
    /// The new configuration.
    pub config: Config,
    /// The API token, read again (it may have been rotated).
    pub token: Secret,
}

impl Daemon {
    /// Builds a daemon from a validated config and the API token that keeps no state and
    /// sends no notification: transitions only go to `sink` (for `once` and tests).
    pub fn new(
        config: Config,
        token: Secret,
        clock: SharedClock,
        sink: Box<dyn TransitionSink>,
    ) -> anyhow::Result<Self> {
        let monitor = Arc::new(MonitorMetrics::new(config.shard()));
        Self::build(config, token, clock, sink, monitor, None)
    }

    /// Builds the daemon `run` and `demo` use: loads `state.dir/state.json` (moving an
    /// unusable one aside), restores the judge's alerts from it, and starts delivering the
    /// outbox to the configured receivers. Must be called within a tokio runtime.
    pub fn with_notifier(
        config: Config,
        token: Secret,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let monitor = Arc::new(MonitorMetrics::new(config.shard()));
        let (notifier, restored) = Notifier::start(&config, monitor.clone(), clock.clone())
            .context("cannot set up notifications")?;
        let mut daemon = Self::build(
            config,
            token,
            clock,
            Box::new(NullSink),
            monitor,
            Some(notifier),
        )?;
        daemon.judge.restore(restored);
        Ok(daemon)
    }

    fn build(
        config: Config,
        token: Secret,
        clock: SharedClock,
        sink: Box<dyn TransitionSink>,
        monitor: Arc<MonitorMetrics>,
        notifier: Option<Notifier>,
    ) -> anyhow::Result<Self> {
        let client = UpstreamClient::for_monitor(&config.api, token, monitor.as_ref())
            .context("cannot set up the upstream client")?;
        Ok(Self {
            judge: Judge::new(config.rules.clone()),
            renderer: ProfileMetrics::for_api(&config.api, &monitor),
            state: Arc::new(AppState::new(monitor.clone())),
            monitor,
            client,
            config,
            clock,
            previous: None,
            sink,
            notifier,
            reloads: None,
        })
    }

    /// Hands the daemon a channel of configurations to apply between sweeps; [`run`] then
    /// picks them up (see [`Daemon::reload`]). An `Err` is a reload that was refused before
    /// reaching the daemon (a config with problems): it is logged and counted, and the
    /// configuration in force stays.
    ///
    /// [`run`]: Daemon::run
    pub fn reload_from(&mut self, reloads: mpsc::UnboundedReceiver<anyhow::Result<Reload>>) {
        self.reloads = Some(reloads);
    }

    /// Applies a new, validated configuration without losing alert state: rules, the poll
    /// interval, the upstream settings (and a rotated token), the shard, and alerting
    /// (receivers, grouping, reminders) change in place. The notifier is restarted on the
    /// same state file, so queued notifications, reminder timing and the judge's alerts carry
    /// over. `server.listen`, `server.web_config` and `state.dir` need a restart: a change to
    /// them is logged and ignored.
    pub async fn reload(&mut self, reload: Reload) -> anyhow::Result<()> {
        let Reload { mut config, token } = reload;
        if config.server.listen != self.config.server.listen {
            tracing::warn!(
                old = %self.config.server.listen,
                new = %config.server.listen,
                "server.listen changes only on restart; keeping the old address"
            );
            config.server.listen = self.config.server.listen.clone();
        }
        if config.server.web_config != self.config.server.web_config {
            tracing::warn!(
                "server.web_config changes only on restart; keeping the TLS and auth in force"
            );
            config.server.web_config = self.config.server.web_config.clone();
        }
        if config.state.dir != self.config.state.dir {
            tracing::warn!("state.dir changes only on restart; keeping the old directory");
            config.state.dir = self.config.state.dir.clone();
        }
        // Build everything that can fail before changing anything.
        let client = UpstreamClient::for_monitor(&config.api, token, self.monitor.as_ref())
            .context("cannot set up the upstream client with the new configuration")?;
        if let Some(old) = self.notifier.take() {
            // The old notifier writes the state file (outbox, reminder timing) as it stops;
            // the new one reads it back. The judge in memory stays the authority on alerts.
            old.shutdown(NOTIFIER_GRACE).await;
            match Notifier::start(&config, self.monitor.clone(), self.clock.clone()) {
                Ok((notifier, _restored)) => self.notifier = Some(notifier),
                Err(e) => {
                    // Keep notifying with the old settings rather than not at all.
                    let (notifier, _) =
                        Notifier::start(&self.config, self.monitor.clone(), self.clock.clone())
                            .context("cannot restart notifications with the old configuration")?;
                    self.notifier = Some(notifier);
                    return Err(e)
                        .context("cannot set up notifications with the new configuration");
                }
            }
        }
        self.client = client;
        self.judge.set_rules(config.rules.clone());
        self.renderer
            .set_max_label_length(config.api.max_label_length as usize);
        self.monitor.set_shard(config.shard());
        self.config = config;
        Ok(())
    }

    /// The notifier, when the daemon sends notifications.
    pub fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }

    /// What the HTTP endpoints serve; hand it to [`crate::server::serve`].
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// The alert state.
    pub fn judge(&self) -> &Judge {
        &self.judge
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs one sweep: walk, fetch, judge, render, publish, hand the transitions to the
    /// notifier (which writes the state file before anything is sent).
    pub async fn sweep_once(&mut self) -> SweepOutcome {
        let shard = self.config.shard();
        let snapshot = crate::sweep::sweep(
            &self.client,
            shard,
            self.previous.as_deref(),
            self.clock.as_ref(),
        )
        .await;
        let now = self.clock.now();
        let transitions = self.judge.evaluate(&snapshot, now);
        self.monitor.observe_sweep(&snapshot, now);

        let snapshot = Arc::new(snapshot);
        let rendered = self.render(&snapshot).await;
        let status = Arc::new(StatusSource {
            snapshot: snapshot.clone(),
            alerts: self.judge.alerts().cloned().collect(),
            now,
        });
        self.state.publish(rendered, status.clone());
        log_sweep(&snapshot);

        self.sink.deliver(&transitions);
        if let Some(notifier) = &self.notifier {
            notifier.on_sweep(&transitions, &status.alerts, now);
        }
        // The snapshot before this one is freed here, as the last rendering was by
        // `publish`: their memory goes back to the system rather than staying in the
        // allocator's free lists until the next sweep's peak.
        self.previous = Some(snapshot.clone());
        release_free_memory();
        SweepOutcome {
            snapshot,
            transitions,
        }
    }

    /// Renders the per-profile metrics of `snapshot` on a blocking thread: for a large fleet
    /// it is a few hundred milliseconds of CPU (text and compression) that would otherwise
    /// hold one of the runtime's workers, and the scrapes it serves, up.
    async fn render(&mut self, snapshot: &Arc<Snapshot>) -> RenderedProfiles {
        let firing: Vec<(u64, &'static str, String)> = self
            .judge
            .firing()
            .filter_map(|a| {
                a.key
                    .profile_id
                    .map(|id| (id, a.key.alertname.as_str(), a.severity.clone()))
            })
            .collect();
        let mut renderer = std::mem::take(&mut self.renderer);
        let snap = snapshot.clone();
        let job = tokio::task::spawn_blocking(move || {
            let firing: Vec<FiringLabel<'_>> = firing
                .iter()
                .map(|(profile_id, alertname, severity)| FiringLabel {
                    profile_id: *profile_id,
                    alertname,
                    severity,
                })
                .collect();
            let rendered = renderer.render(&snap, &firing);
            (renderer, rendered)
        });
        match job.await {
            Ok((renderer, rendered)) => {
                self.renderer = renderer;
                rendered
            }
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => {
                    // Cancelled: only when the runtime shuts down. Keep a usable renderer.
                    self.renderer = ProfileMetrics::for_api(&self.config.api, &self.monitor);
                    RenderedProfiles::empty()
                }
            },
        }
    }

    /// Sweeps every `poll.interval` (measured start to start) until `shutdown` is
    /// cancelled. A sweep still running at shutdown is abandoned: its results would be
    /// published to nobody. Then the notifier finishes the deliveries under way (for at most
    /// [`NOTIFIER_GRACE`]) and writes the state file.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.config.poll.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reloads = self.reloads.take();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
                reload = next_reload(&mut reloads) => {
                    self.apply_reload(reload, &mut ticker).await;
                    continue;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.sweep_once() => {}
            }
        }
        tracing::info!("poll loop stopped");
        self.shutdown().await;
    }

    async fn apply_reload(
        &mut self,
        reload: anyhow::Result<Reload>,
        ticker: &mut tokio::time::Interval,
    ) {
        let old_interval = self.config.poll.interval;
        let outcome = match reload {
            Ok(reload) => self.reload(reload).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                self.monitor.observe_reload(true, self.clock.now());
                if self.config.poll.interval != old_interval {
                    // Start to start from now: the next sweep comes one new interval later.
                    *ticker = tokio::time::interval_at(
                        tokio::time::Instant::now() + self.config.poll.interval,
                        self.config.poll.interval,
                    );
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                }
                tracing::info!("configuration reloaded");
            }
            Err(e) => {
                self.monitor.observe_reload(false, self.clock.now());
                tracing::error!("configuration reload failed, keeping the old one: {e:#}");
            }
        }
    }

    /// Stops notifications: deliveries under way may finish (for at most
    /// [`NOTIFIER_GRACE`]), then the state file is written. Nothing to do for a daemon
    /// without a notifier.
    pub async fn shutdown(mut self) {
        if let Some(notifier) = self.notifier.take() {
            notifier.shutdown(NOTIFIER_GRACE).await;
        }
    }
}

/// The next reload; never resolves when there is no reload channel (or it closed).
async fn next_reload(
    reloads: &mut Option<mpsc::UnboundedReceiver<anyhow::Result<Reload>>>,
) -> anyhow::Result<Reload> {
    if let Some(rx) = reloads {
        if let Some(reload) = rx.recv().await {
            return reload;
        }
        *reloads = None;
    }
    std::future::pending().await
}

/// The client's counters are the self-metrics' own: wired here, where the daemon is
/// composed, so that neither `upstream` nor `metrics` depends on the other.
impl From<&MonitorMetrics> for UpstreamCounters {
    fn from(monitor: &MonitorMetrics) -> Self {
        Self {
            requests: monitor.upstream_requests.clone(),
            invalid_bodies: monitor.upstream_invalid_bodies.clone(),
            limit_hits: Some(monitor.upstream_limit_hits.clone()),
        }
    }
}

fn log_sweep(snapshot: &Snapshot) {
    let up = snapshot.profiles.iter().filter(|e| e.up).count();
    let seconds = snapshot.duration.as_secs_f64();
    match &snapshot.list {
        ListOutcome::Complete => tracing::info!(
            profiles = snapshot.profiles.len(),
            details_read = up,
            seconds,
            "sweep complete"
        ),
        ListOutcome::Incomplete { reason } => tracing::warn!(
            profiles = snapshot.profiles.len(),
            details_read = up,
            seconds,
            reason = %reason,
            "sweep incomplete: the list walk did not finish cleanly"
        ),
        ListOutcome::Failed { kind, message } => tracing::error!(
            seconds,
            failure = kind.describe(),
            message = %message,
            "sweep failed: the profile list could not be read"
        ),
    }
}

/// `/api/v1/status`: the last sweep, every profile's judged health, pending and firing alerts.
#[derive(Serialize)]
struct StatusDoc<'a> {
    version: &'static str,
    ready: bool,
    generated_at: String,
    shard: crate::shard::Shard,
    last_sweep: SweepStatus<'a>,
    profiles: ProfilesStatus<'a>,
    alerts: AlertsStatus<'a>,
}

/// Every profile's entry, serialised one by one as they are built (100,000 of them would
/// make a sizeable vector only to be written out).
struct ProfilesStatus<'a> {
    /// The snapshot's profiles.
    entries: &'a [ProfileEntry],
    /// Alert names per profile id.
    alerts: &'a BTreeMap<u64, Vec<&'static str>>,
}

impl Serialize for ProfilesStatus<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.entries
                .iter()
                .map(|e| profile_status(e, self.alerts.get(&e.id).map_or(&[], Vec::as_slice))),
        )
    }
}

/// The alerts, serialised one by one likewise.
struct AlertsStatus<'a>(&'a [&'a Alert]);

impl Serialize for AlertsStatus<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|a| alert_status(a)))
    }
}

#[derive(Serialize)]
struct SweepStatus<'a> {
    started_at: String,
    duration_seconds: f64,
    #[serde(flatten)]
    outcome: &'a ListOutcome,
    profiles: usize,
    details_read: usize,
}

#[derive(Serialize)]
struct ProfileStatus<'a> {
    id: u64,
    name: &'a str,
    organization: Option<&'a str>,
    up: bool,
    error: Option<&'a str>,
    consecutive_failures: u32,
    revision: Option<crate::model::ApiRevision>,
    profile_type: Option<&'a str>,
    status: Option<&'a str>,
    connectivity: Option<&'a str>,
    authentication: Option<&'a str>,
    error_count_24h: Option<u64>,
    last_sync: Option<String>,
    last_sync_status: Option<&'a str>,
    alerts: &'a [&'static str],
}

#[derive(Serialize)]
struct AlertStatus<'a> {
    alertname: &'static str,
    state: &'static str,
    severity: &'a str,
    profile_id: Option<u64>,
    profile_name: &'a str,
    organization: &'a str,
    summary: &'a str,
    description: &'a str,
    active_since: String,
    firing_since: Option<String>,
}

/// What `/api/v1/status` is made of, published after every sweep and serialised on
/// request ([`StatusSource::render`]).
#[derive(Debug)]
pub struct StatusSource {
    /// The sweep's snapshot (the one the daemon keeps anyway, shared).
    pub snapshot: Arc<Snapshot>,
    /// Pending and firing alerts as judged after the sweep.
    pub alerts: Vec<Alert>,
    /// When the sweep was judged: the document's `generated_at`.
    pub now: SystemTime,
}

impl StatusSource {
    /// The status document as JSON, in one buffer.
    pub fn render(&self) -> Bytes {
        let alerts: Vec<&Alert> = self.alerts.iter().collect();
        status_json(&self.snapshot, &alerts, self.now)
    }

    /// Writes the status document as JSON to `out` (the server streams it: a document of
    /// 100,000 profiles is tens of megabytes).
    pub fn write_to<W: std::io::Write>(&self, out: W) -> serde_json::Result<()> {
        let alerts: Vec<&Alert> = self.alerts.iter().collect();
        write_status(&self.snapshot, &alerts, self.now, out)
    }
}

/// Serialises the status document of `snapshot` with the judge's alerts as of `now`.
pub fn status_document(snapshot: &Snapshot, judge: &Judge, now: SystemTime) -> Bytes {
    let alerts: Vec<&Alert> = judge.alerts().collect();
    status_json(snapshot, &alerts, now)
}

fn status_json(snapshot: &Snapshot, alerts: &[&Alert], now: SystemTime) -> Bytes {
    // Sized from the profile count: a buffer doubling its way to tens of megabytes would
    // briefly hold one and a half times the document.
    let estimate = 4096 + snapshot.profiles.len() * 480 + alerts.len() * 512;
    let mut out = Vec::with_capacity(estimate);
    match write_status(snapshot, alerts, now, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(e) => Bytes::from(format!(r#"{{"error":"cannot serialise status: {e}"}}"#)),
    }
}

fn write_status<W: std::io::Write>(
    snapshot: &Snapshot,
    alerts: &[&Alert],
    now: SystemTime,
    out: W,
) -> serde_json::Result<()> {
    let mut per_profile: BTreeMap<u64, Vec<&'static str>> = BTreeMap::new();
    for a in alerts {
        if let Some(id) = a.key.profile_id {
            per_profile
                .entry(id)
                .or_default()
                .push(a.key.alertname.as_str());
        }
    }
    let doc = StatusDoc {
        version: crate::VERSION,
        ready: true,
        generated_at: rfc3339(now),
        shard: snapshot.shard,
        last_sweep: SweepStatus {
            started_at: rfc3339(snapshot.started_at),
            duration_seconds: snapshot.duration.as_secs_f64(),
            outcome: &snapshot.list,
            profiles: snapshot.profiles.len(),
            details_read: snapshot.profiles.iter().filter(|e| e.up).count(),
        },
        profiles: ProfilesStatus {
            entries: &snapshot.profiles,
            alerts: &per_profile,
        },
        alerts: AlertsStatus(alerts),
    };
    serde_json::to_writer(out, &doc)
}

fn profile_status<'a>(e: &'a ProfileEntry, alerts: &'a [&'static str]) -> ProfileStatus<'a> {
    // Health fields only from a detail read in this sweep: stale data is not shown as current.
    let fresh = if e.up { e.profile.as_deref() } else { None };
    ProfileStatus {
        id: e.id,
        name: &e.name,
        organization: e.organization.as_deref(),
        up: e.up,
        error: e.error.as_deref(),
        consecutive_failures: e.consecutive_failures,
        revision: fresh.map(|p| p.revision),
        profile_type: e.profile.as_deref().and_then(|p| p.profile_type.as_deref()),
        status: e.profile.as_deref().and_then(|p| p.status.as_deref()),
        connectivity: fresh.and_then(|p| p.connectivity.as_deref()),
        authentication: fresh.and_then(|p| p.authentication.as_deref()),
        error_count_24h: fresh.and_then(|p| p.error_count_24h),
        last_sync: fresh
            .and_then(|p| p.last_sync)
            .map(|s| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0)))),
        last_sync_status: fresh.and_then(|p| p.last_sync_status.as_deref()),
        alerts,
    }
}

fn alert_status<'a>(a: &'a Alert) -> AlertStatus<'a> {
    AlertStatus {
        alertname: a.key.alertname.as_str(),
        state: match a.state {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        },
        severity: &a.severity,
        profile_id: a.key.profile_id,
        profile_name: &a.profile_name,
        organization: &a.organization,
        summary: &a.summary,
        description: &a.description,
        active_since: rfc3339(a.active_since),
        firing_since: a.firing_since.map(rfc3339),
    }
}

/// Gives the allocator's free memory back to the system. glibc keeps freed memory of
/// the main heap and of every thread arena for reuse; after a sweep of a large fleet that
/// is the size of the previous snapshot and rendering, which would otherwise count in RSS
/// until the next sweep. Runs on a blocking thread (it walks every arena).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim only releases free memory; it is thread-safe in glibc.
        unsafe {
            libc::malloc_trim(0);
        }
    });
}

/// Makes glibc's allocator hand memory back rather than keep it, for a long-running daemon
/// whose sweeps allocate and free the size of the fleet each time (measured at 100,000
/// profiles: peak RSS 335 MiB before, 314 MiB after). Two settings:
/// - at most two arenas: the default (eight per core) lets every thread that ever parsed a
///   detail or rendered the metrics keep its own heap of free memory;
/// - a fixed mmap threshold of 256 KiB: by default glibc raises the threshold to the size
///   of any mmapped block that was freed (up to 32 MiB), after which the sweep's large
///   vectors come from the heap and stay there, fragmented, once freed.
///
/// Best called first thing in `main`, before threads start; called again it does no harm.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is thread-safe in glibc.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Runs the daemon and its HTTP server until `shutdown` is cancelled: what `run` does.
///
/// The server runs on a runtime of its own (two worker threads): a sweep keeps the main
/// runtime's workers busy with hundreds of upstream requests and their parsing, and a scrape
/// queued behind them would wait for the sweep. With threads of its own, the server gets
/// its share of the cores from the kernel's scheduler instead.
pub async fn run_with_server(
    daemon: Daemon,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = daemon.state();
    // TLS and auth from `server.web_config` (where `--web-config` was put); read at start.
    let web = crate::web_config::load_for(daemon.config())?;
    let options = crate::server::ServerOptions::with_web(web);
    let server_shutdown = shutdown.clone();
    let listener = listener
        .into_std()
        .context("cannot hand the listening socket to the HTTP server")?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let stop = server_shutdown;
            let result = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("http")
                .enable_all()
                .build()
                .context("cannot start the HTTP server's runtime")
                .and_then(|runtime| {
                    runtime.block_on(async move {
                        let listener = TcpListener::from_std(listener)
                            .context("cannot listen on the HTTP server's runtime")?;
                        crate::server::serve_with(listener, state, options, async move {
                            stop.cancelled().await
                        })
                        .await
                        .context("HTTP server failed")
                    })
                });
            let _ = done_tx.send(result);
        })
        .context("cannot start the HTTP server's thread")?;
    daemon.run(shutdown.clone()).await;
    // The server stops accepting at once; give open connections a moment to finish.
    match tokio::time::timeout(Duration::from_secs(5), done_rx).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(anyhow::anyhow!("HTTP server thread panicked")),
        Err(_) => {
            tracing::warn!("HTTP connections still open after 5s; exiting anyway");
            Ok(())
        }
    }
}
