//! The poll loop: sweeps the upstream every `poll.interval`, judges the snapshot, renders
//! the metrics once (off the async workers), publishes them and what the status document is
//! made of (serialised on request) to the HTTP endpoints, hands alert transitions to the
//! [`Notifier`], and applies new configurations between sweeps. The process around it
//! (runtimes, the HTTP server's thread, signals) is [`crate::app`]'s.
//!
//! After judging, every pending or firing alert is asked about of the suppressors (silences,
//! maintenance windows: [`Daemon::add_suppressor`], [`Daemon::add_configured_suppressor`]);
//! what mutes it goes into its `suppressed_by`, beside the judge's own `flapping`, and the
//! status document, the `inventory_monitor_alerts{state}` gauge and the notifier read it
//! from there (README, Suppression).
//!
//! A daemon built with [`Daemon::with_notifier`] (what `run` and `demo` do) loads the state
//! file at start, restores the judge from it, and gives every sweep's results to the
//! notifier. One built with [`Daemon::new`] (what `once` and the tests do) keeps no state and
//! sends nothing.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::{Config, Secret};
use crate::metrics::{FiringLabel, MonitorMetrics, ProfileMetrics, RenderedProfiles};
use crate::notify::{Notifier, NotifyCounters, NotifyError};
use crate::rules::flap_file::FlapFile;
use crate::rules::{Alert, AlertKey, AlertState, Judge, Transition};
use crate::server::AppState;
use crate::snapshot::Snapshot;
use crate::status::StatusSource;
use crate::suppress::{suppressions_of, Suppressor};
use crate::upstream::{UpstreamClient, UpstreamCounters, UpstreamError};
use crate::vocabulary::Suppression;

/// How long deliveries under way at shutdown may take to finish.
pub const NOTIFIER_GRACE: Duration = Duration::from_secs(3);

/// Why a daemon could not be built, or a new configuration not applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The upstream client could not be built from the configuration.
    #[error("cannot set up the upstream client")]
    Upstream(#[source] UpstreamError),
    /// The notifier could not start (state directory, state file).
    #[error("cannot set up notifications")]
    Notify(#[source] NotifyError),
    /// The upstream client could not be built from a reloaded configuration; the old one
    /// stays in force.
    #[error("cannot set up the upstream client with the new configuration")]
    ReloadUpstream(#[source] UpstreamError),
    /// The notifier could not restart with a reloaded configuration; it runs on with the
    /// old one.
    #[error("cannot set up notifications with the new configuration")]
    ReloadNotify(#[source] NotifyError),
    /// The notifier could restart with neither the reloaded configuration nor the old one.
    #[error("cannot restart notifications with the old configuration")]
    RestoreNotify(#[source] NotifyError),
    /// A reload refused before it reached the daemon (a configuration with problems, a
    /// token that cannot be read), with why.
    #[error("{0}")]
    Refused(String),
}

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
    /// Where the renderer runs: a thread of lower priority than the server's.
    background: crate::background::Background,
    /// Self-metrics, shared with the HTTP server and the upstream client.
    monitor: Arc<MonitorMetrics>,
    /// What the HTTP endpoints serve.
    state: Arc<AppState>,
    /// Injected time.
    clock: SharedClock,
    /// The last sweep's snapshot: what an incomplete or failed walk carries over.
    previous: Option<Arc<Snapshot>>,
    /// Routing, the outbox and delivery; `None` when the daemon sends nothing.
    notifier: Option<Notifier>,
    /// New configurations to apply between sweeps (SIGHUP), already validated.
    reloads: Option<mpsc::UnboundedReceiver<Result<Reload, Error>>>,
    /// `state.dir/flapping.json`, the flap histories (README, Flapping); `None` when the
    /// daemon keeps no state.
    flap_file: Option<FlapFile>,
    /// Suppressors that live as long as the daemon (the silences), asked first.
    suppressors: Vec<Arc<dyn Suppressor>>,
    /// Suppressors made from the configuration (maintenance windows): how to make each, and
    /// the one made from the configuration in force. Asked after the static ones.
    configured: Vec<(MakeSuppressor, Arc<dyn Suppressor>)>,
}

/// How a suppressor is made from a configuration (at start and after every reload).
pub type MakeSuppressor = Box<dyn Fn(&Config) -> Arc<dyn Suppressor> + Send + Sync>;

/// A validated configuration and the token it names, to apply between two sweeps.
pub struct Reload {
    /// The new configuration.
    pub config: Config,
    /// The API token, read again (it may have been rotated).
    pub token: Secret,
    /// Told the outcome once the reload is applied or refused (`POST /-/reload` waits on
    /// it; `Err` holds the reason as text).
    pub done: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

impl Daemon {
    /// Builds a daemon from a validated config and the API token that keeps no state and
    /// sends no notification (for `once` and tests).
    pub fn new(config: Config, token: Secret, clock: SharedClock) -> Result<Self, Error> {
        Self::build(config, token, clock, false)
    }

    /// Builds the daemon `run` and `demo` use: loads `state.dir/state.json` (moving an
    /// unusable one aside), restores the judge's alerts from it, and starts delivering the
    /// outbox to the configured receivers. Must be called within a tokio runtime.
    pub fn with_notifier(config: Config, token: Secret, clock: SharedClock) -> Result<Self, Error> {
        Self::build(config, token, clock, true)
    }

    /// Builds the self-metrics and hands them to the upstream client and, when `notify`, to
    /// a notifier whose restored alerts the judge takes over.
    fn build(
        config: Config,
        token: Secret,
        clock: SharedClock,
        notify: bool,
    ) -> Result<Self, Error> {
        let monitor = Arc::new(MonitorMetrics::new(config.shard()));
        let (notifier, restored) = if notify {
            let (notifier, restored) =
                start_notifier(&config, &monitor, &clock).map_err(Error::Notify)?;
            (Some(notifier), restored)
        } else {
            (None, Vec::new())
        };
        let client = UpstreamClient::with_counters(&config.api, token, monitor.as_ref())
            .map_err(Error::Upstream)?;
        let mut judge = Judge::new(config.rules.clone());
        judge.restore(restored.into_iter().map(unsuppressed).collect());
        let flap_file = notify.then(|| {
            let mut file = FlapFile::new(&config.state.dir);
            judge.restore_flaps(file.load());
            file
        });
        Ok(Self {
            judge,
            renderer: ProfileMetrics::for_api(&config.api, &monitor),
            background: crate::background::Background::start("render"),
            state: Arc::new(AppState::new(monitor.clone())),
            monitor,
            client,
            config,
            clock,
            previous: None,
            notifier,
            reloads: None,
            flap_file,
            suppressors: Vec::new(),
            configured: Vec::new(),
        })
    }

    /// Adds a suppressor that lives as long as the daemon (the silences store): asked about
    /// every pending or firing alert after each sweep, after the static suppressors added
    /// before it and before every configured one. Add it before the first sweep, so that
    /// a restarted daemon holds back what is still suppressed.
    pub fn add_suppressor(&mut self, s: Arc<dyn Suppressor>) {
        self.suppressors.push(s);
        self.publish_suppressors();
    }

    /// Adds a suppressor made from the configuration (the maintenance windows): `make` is
    /// called now with the configuration in force, and again after every successful reload
    /// with the new one. Asked after the static suppressors, in the order added.
    pub fn add_configured_suppressor(&mut self, make: MakeSuppressor) {
        let made = make(&self.config);
        self.configured.push((make, made));
        self.publish_suppressors();
    }

    /// Every suppressor, in asking order: the static ones, then the configured ones.
    fn all_suppressors(&self) -> Vec<Arc<dyn Suppressor>> {
        self.suppressors
            .iter()
            .cloned()
            .chain(self.configured.iter().map(|(_, made)| made.clone()))
            .collect()
    }

    /// Hands the pages and APIs the suppressors in force (`AppState::suppressors`).
    fn publish_suppressors(&self) {
        let all = self.all_suppressors();
        *self
            .state
            .suppressors
            .write()
            .unwrap_or_else(|e| e.into_inner()) = all;
    }

    /// Hands the daemon a channel of configurations to apply between sweeps; [`run`] then
    /// picks them up (see [`Daemon::reload`]). An `Err` is a reload that was refused before
    /// reaching the daemon (a config with problems): it is logged and counted, and the
    /// configuration in force stays.
    ///
    /// [`run`]: Daemon::run
    pub fn reload_from(&mut self, reloads: mpsc::UnboundedReceiver<Result<Reload, Error>>) {
        self.reloads = Some(reloads);
    }

    /// Applies a new, validated configuration without losing alert state: rules, the poll
    /// interval, the upstream settings (and a rotated token), the shard, and alerting
    /// (receivers, grouping, reminders) change in place. The notifier is restarted on the
    /// same state file, so queued notifications, reminder timing and the judge's alerts carry
    /// over. `server.listen`, `server.web_config` and `state.dir` need a restart: a change to
    /// them is logged and ignored.
    pub async fn reload(&mut self, reload: Reload) -> Result<(), Error> {
        let Reload {
            mut config, token, ..
        } = reload;
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
        let client = UpstreamClient::with_counters(&config.api, token, self.monitor.as_ref())
            .map_err(Error::ReloadUpstream)?;
        if let Some(old) = self.notifier.take() {
            // The old notifier writes the state file (outbox, reminder timing) as it stops;
            // the new one reads it back. The judge in memory stays the authority on alerts.
            old.stop_for_reload(NOTIFIER_GRACE).await;
            match Notifier::reconfigured(&config, self.monitor.clone(), self.clock.clone()) {
                Ok((notifier, _restored)) => self.notifier = Some(notifier),
                Err(e) => {
                    // Keep notifying with the old settings rather than not at all.
                    let (notifier, _) = Notifier::reconfigured(
                        &self.config,
                        self.monitor.clone(),
                        self.clock.clone(),
                    )
                    .map_err(Error::RestoreNotify)?;
                    self.notifier = Some(notifier);
                    return Err(Error::ReloadNotify(e));
                }
            }
        }
        self.client = client;
        self.judge.set_rules(config.rules.clone());
        self.renderer
            .set_max_label_length(config.api.max_label_length as usize);
        self.monitor.set_shard(config.shard());
        self.config = config;
        for (make, made) in &mut self.configured {
            *made = make(&self.config);
        }
        self.publish_suppressors();
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
        let mut transitions = self.judge.evaluate(&snapshot, now);
        if let Some(file) = &mut self.flap_file {
            // Before anything is announced, like the state file.
            if let Err(e) = file.save(self.judge.flap_records()) {
                tracing::error!(file = %file.path().display(), error = %e, "cannot write the flap histories");
            }
        }
        self.monitor.observe_sweep(&snapshot, now);

        let snapshot = Arc::new(snapshot);
        // The judge's alerts themselves, shared: only one a suppressor mutes is copied.
        let mut alerts: Vec<Arc<Alert>> = self.judge.shared().cloned().collect();
        self.suppress(&mut alerts, &mut transitions, now);
        let status = Arc::new(StatusSource {
            snapshot: snapshot.clone(),
            alerts,
            now,
        });
        // The status and pages first, and the sweep before let go (the pages' history held
        // it to compare), then the rendering: the previous snapshot (a whole fleet's
        // entries) is not held through the rendering, the sweep's peak of memory.
        // `/metrics` serves the previous rendering until the new one is published, a
        // fraction of a second later.
        self.state.publish_status(status.clone());
        self.state
            .page
            .after_sweep(&status, self.config.poll.interval);
        self.previous = Some(snapshot.clone());
        let rendered = self.render(&snapshot).await;
        self.state.publish_metrics(rendered);
        crate::sweep::tell_outcome(&self.client, &snapshot);

        if let Some(notifier) = &self.notifier {
            notifier.on_sweep(&transitions, &status.alerts, now);
        }
        // The snapshot before this one and the last rendering were freed by the publishing:
        // their memory goes back to the system rather than staying in the allocator's
        // free lists until the next sweep's peak.
        release_free_memory();
        SweepOutcome {
            snapshot,
            transitions,
        }
    }

    /// Sets what mutes each pending or firing alert ([`apply_suppressions`]) and counts the
    /// alerts by state for `inventory_monitor_alerts` (README, Metrics).
    fn suppress(&self, alerts: &mut [Arc<Alert>], transitions: &mut [Transition], now: SystemTime) {
        let suppressors = self.all_suppressors();
        let asked: Vec<&dyn Suppressor> = suppressors.iter().map(|s| s.as_ref()).collect();
        let count = apply_suppressions(&asked, alerts, transitions, now);
        self.monitor
            .set_alerts(count.pending, count.firing, count.suppressed);
    }

    /// Renders the per-profile metrics of `snapshot` on the background thread: for a large
    /// fleet it is a few hundred milliseconds of CPU (text and compression) that would
    /// otherwise hold one of the runtime's workers up, and that yields the cores to the
    /// scrapes it serves when both want them.
    async fn render(&mut self, snapshot: &Arc<Snapshot>) -> RenderedProfiles {
        let firing: Vec<FiringLabel> = self
            .judge
            .firing()
            .filter_map(|a| {
                a.key.profile_id.map(|profile_id| FiringLabel {
                    profile_id,
                    alertname: a.key.alertname.as_str(),
                    severity: a.severity.clone(),
                })
            })
            .collect();
        self.renderer.set_flapping(self.judge.flapping());
        let mut renderer = std::mem::take(&mut self.renderer);
        let snap = snapshot.clone();
        let job = self.background.run(move || {
            let rendered = renderer.render(&snap, firing);
            (renderer, rendered)
        });
        match job.await {
            Some((renderer, rendered)) => {
                self.renderer = renderer;
                rendered
            }
            None => {
                // Lost: only when the runtime shuts down. Keep a usable renderer.
                self.renderer = ProfileMetrics::for_api(&self.config.api, &self.monitor);
                RenderedProfiles::empty()
            }
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
        reload: Result<Reload, Error>,
        ticker: &mut tokio::time::Interval,
    ) {
        let old_interval = self.config.poll.interval;
        let (outcome, done) = match reload {
            Ok(mut reload) => {
                let done = reload.done.take();
                (self.reload(reload).await, done)
            }
            Err(e) => (Err(e), None),
        };
        if let Some(done) = done {
            let _ = done.send(
                outcome
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| Causes(e).to_string()),
            );
        }
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
                tracing::error!(
                    "configuration reload failed, keeping the old one: {}",
                    Causes(&e)
                );
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
    reloads: &mut Option<mpsc::UnboundedReceiver<Result<Reload, Error>>>,
) -> Result<Reload, Error> {
    if let Some(rx) = reloads {
        if let Some(reload) = rx.recv().await {
            return reload;
        }
        *reloads = None;
    }
    std::future::pending().await
}

/// Alerts by state after suppression: the partition `inventory_monitor_alerts{state}` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertCounts {
    /// Pending alerts.
    pub pending: usize,
    /// Firing alerts nothing suppresses: what people are told about.
    pub firing: usize,
    /// Firing alerts something suppresses.
    pub suppressed: usize,
}

/// Sets each alert's `suppressed_by` to the judge's own `flapping` (kept) followed by what
/// `suppressors` say at `now`, in asking order, without repeats; a silence or window the
/// alert carried before (from the last sweep, or the state file) is dropped unless asked
/// again. Firing transitions get the same as their alert. Answers the alerts by state.
///
/// The alerts are shared (the judge's own): one is copied only when what mutes it differs
/// from what it carries, so the judge's alert itself never changes.
pub fn apply_suppressions(
    suppressors: &[&dyn Suppressor],
    alerts: &mut [Arc<Alert>],
    transitions: &mut [Transition],
    now: SystemTime,
) -> AlertCounts {
    let mut count = AlertCounts::default();
    for alert in alerts.iter_mut() {
        let mut by: Vec<Suppression> = alert
            .suppressed_by
            .iter()
            .filter(|s| **s == Suppression::Flapping)
            .cloned()
            .collect();
        if !suppressors.is_empty() {
            for s in suppressions_of(suppressors, &alert.labels(), now) {
                if !by.contains(&s) {
                    by.push(s);
                }
            }
        }
        if by != alert.suppressed_by {
            Arc::make_mut(alert).suppressed_by = by;
        }
        match alert.state {
            AlertState::Pending => count.pending += 1,
            AlertState::Firing if alert.suppressed_by.is_empty() => count.firing += 1,
            AlertState::Firing => count.suppressed += 1,
            AlertState::Resolved => {}
        }
    }
    let muted: HashMap<AlertKey, &Vec<Suppression>> = alerts
        .iter()
        .filter(|a| !a.suppressed_by.is_empty())
        .map(|a| (a.key, &a.suppressed_by))
        .collect();
    for t in transitions
        .iter_mut()
        .filter(|t| t.alert.state == AlertState::Firing)
    {
        // The transition shares the judge's alert: copied only when what mutes it differs.
        match muted.get(&t.alert.key) {
            Some(by) if t.alert.suppressed_by != **by => {
                Arc::make_mut(&mut t.alert).suppressed_by.clone_from(by)
            }
            None if !t.alert.suppressed_by.is_empty() => {
                Arc::make_mut(&mut t.alert).suppressed_by.clear()
            }
            _ => {}
        }
    }
    count
}

/// `alert` restored from the state file with only the judge's own suppression (`flapping`)
/// kept: silences and windows are asked again after the first sweep, not remembered.
fn unsuppressed(mut alert: Alert) -> Alert {
    alert.suppressed_by.retain(|s| *s == Suppression::Flapping);
    alert
}

/// Gives the allocator's free memory back to the system: mimalloc's per-thread caches of
/// free pages, after a sweep of a large fleet the size of the previous snapshot and
/// rendering, which would otherwise count in RSS until the next sweep's peak. Runs on a
/// blocking thread.
fn release_free_memory() {
    tokio::task::spawn_blocking(|| {
        // SAFETY: mi_collect only frees what no allocation uses; it is thread-safe.
        unsafe { libmimalloc_sys::mi_collect(true) }
    });
}

/// The client's counters are the self-metrics' own: wired here, where the daemon is
/// composed (at start and on every reload), so that neither `upstream` nor `metrics`
/// depends on the other.
impl From<&MonitorMetrics> for UpstreamCounters {
    fn from(monitor: &MonitorMetrics) -> Self {
        Self {
            requests: monitor.upstream_requests.clone(),
            invalid_bodies: monitor.upstream_invalid_bodies.clone(),
            limit_hits: Some(monitor.upstream_limit_hits.clone()),
        }
    }
}

/// What [`Notifier::start`] takes of the metrics: its counters, not the registry.
impl From<Arc<MonitorMetrics>> for NotifyCounters {
    fn from(monitor: Arc<MonitorMetrics>) -> Self {
        NotifyCounters::new(
            monitor.notifications.clone(),
            monitor.notification_queue.clone(),
            monitor.template_failures.clone(),
        )
    }
}

/// The one place where the notifier is given its share of the self-metrics: at start and on
/// every reload. Returns the alerts restored from the state file beside it.
fn start_notifier(
    config: &Config,
    monitor: &Arc<MonitorMetrics>,
    clock: &SharedClock,
) -> Result<(Notifier, Vec<Alert>), NotifyError> {
    Notifier::start(config, monitor.clone(), clock.clone())
}

/// An error and its causes on one line, `outer: inner: innermost`: the log line says why
/// down to the file system's or the TLS library's words.
struct Causes<'a>(&'a dyn std::error::Error);

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matchers::{all_match, parse_list, Matcher};
    use crate::rules::AlertName;
    use crate::suppress::{InForce, Labels};

    /// What the file system said.
    #[derive(Debug, thiserror::Error)]
    #[error("permission denied")]
    struct Innermost;

    /// What we were doing.
    #[derive(Debug, thiserror::Error)]
    #[error("state.dir: cannot create /nowhere")]
    struct Inner(
        /// Why it failed.
        #[source]
        Innermost,
    );

    /// Mutes what its matchers match, as silence `id`.
    struct Silence(&'static str, Vec<Matcher>);

    impl Suppressor for Silence {
        fn suppressions(&self, labels: &dyn Labels, _now: SystemTime) -> Vec<Suppression> {
            if all_match(&self.1, |n| labels.label(n)) {
                vec![Suppression::Silence {
                    id: self.0.to_string(),
                }]
            } else {
                Vec::new()
            }
        }

        fn in_force(&self, _now: SystemTime) -> Vec<InForce> {
            Vec::new()
        }
    }

    fn alert(id: u64, state: AlertState, by: Vec<Suppression>) -> Alert {
        Alert {
            key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, id),
            severity: "critical".into(),
            profile_name: format!("legacy-{id}").into(),
            organization: if id % 2 == 0 { "North" } else { "South" }.into(),
            summary: "".into(),
            description: "".into(),
            state,
            active_since: SystemTime::UNIX_EPOCH,
            firing_since: None,
            resolved_at: None,
            suppressed_by: by,
            runbook_url: String::new(),
        }
    }

    fn silence(id: &str) -> Suppression {
        Suppression::Silence { id: id.into() }
    }

    #[test]
    fn suppressions_keep_flapping_drop_stale_silences_and_follow_asking_order() {
        let north = Silence(
            "north",
            parse_list(r#"organization="North""#).expect("matchers"),
        );
        let legacy = Silence(
            "legacy",
            parse_list(r#"profile_name=~"legacy-.*""#).expect("matchers"),
        );
        let asked: [&dyn Suppressor; 3] = [&north, &legacy, &legacy];
        let judged: Vec<Arc<Alert>> = vec![
            // Flapping (the judge's), and a silence from the last sweep that no one says now.
            alert(
                1,
                AlertState::Firing,
                vec![Suppression::Flapping, silence("gone")],
            ),
            alert(2, AlertState::Firing, Vec::new()),
            alert(3, AlertState::Pending, Vec::new()),
        ]
        .into_iter()
        .map(Arc::new)
        .collect();
        let mut alerts = judged.clone();
        let mut transitions = vec![
            Transition {
                alert: alert(2, AlertState::Firing, Vec::new()).into(),
            },
            Transition {
                alert: alert(4, AlertState::Resolved, vec![silence("kept")]).into(),
            },
        ];
        let count = apply_suppressions(
            &asked,
            &mut alerts,
            &mut transitions,
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            alerts[0].suppressed_by,
            vec![Suppression::Flapping, silence("legacy")]
        );
        assert_eq!(
            alerts[1].suppressed_by,
            vec![silence("north"), silence("legacy")]
        );
        assert_eq!(alerts[2].suppressed_by, vec![silence("legacy")]);
        // The judge's own alerts are untouched: the muted ones are copies.
        assert!(judged[1].suppressed_by.is_empty());
        assert!(!Arc::ptr_eq(&judged[1], &alerts[1]));
        assert_eq!(transitions[0].alert.suppressed_by, alerts[1].suppressed_by);
        assert_eq!(transitions[1].alert.suppressed_by, vec![silence("kept")]);
        assert_eq!(
            count,
            AlertCounts {
                pending: 1,
                firing: 0,
                suppressed: 2
            }
        );

        // Nothing asked: only flapping stays, and a firing transition carries nothing else.
        let count = apply_suppressions(&[], &mut alerts, &mut transitions, SystemTime::UNIX_EPOCH);
        assert_eq!(alerts[0].suppressed_by, vec![Suppression::Flapping]);
        assert!(alerts[1].suppressed_by.is_empty());
        assert!(transitions[0].alert.suppressed_by.is_empty());
        assert_eq!(
            count,
            AlertCounts {
                pending: 1,
                firing: 1,
                suppressed: 1
            }
        );

        // What mutes an alert unchanged: the alert is shared, not copied.
        let before = alerts.clone();
        apply_suppressions(&[], &mut alerts, &mut transitions, SystemTime::UNIX_EPOCH);
        assert!(alerts.iter().zip(&before).all(|(a, b)| Arc::ptr_eq(a, b)));
        let mut shared = judged.clone();
        apply_suppressions(&[&north], &mut shared, &mut [], SystemTime::UNIX_EPOCH);
        assert!(Arc::ptr_eq(&shared[2], &judged[2]), "South: not muted");
        assert!(!Arc::ptr_eq(&shared[1], &judged[1]), "North: muted, a copy");
    }

    #[test]
    fn a_failure_is_logged_with_every_cause() {
        let e = Inner(Innermost);
        assert_eq!(
            Causes(&e).to_string(),
            "state.dir: cannot create /nowhere: permission denied"
        );
        let refused = Error::Refused("daemon.toml has 2 problem(s)".into());
        assert_eq!(Causes(&refused).to_string(), "daemon.toml has 2 problem(s)");
    }
}
