//! Suppression end to end (README, Suppression): an in-process daemon against the simulator,
//! a test suppressor switched on and off (muting `profile_name=~"legacy-.*"`, as a silence
//! would), a recording webhook receiver with `group_wait = "0s"`, and a manual clock.
//!
//! "Nothing is sent" is checked on the outbox right after the sweep that would have queued
//! it: the hand-off is synchronous, so an empty outbox means nothing is on its way.

use crate::common::{
    self, get_json, healthy_detail, scrape, test_config, wait_until, RecordingSink, Sim,
};

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use inventory_monitor::clock::{Clock, ManualClock, SharedClock};
use inventory_monitor::config::{Config, ReceiverConfig, ReceiverKind, Secret};
use inventory_monitor::daemon::{Daemon, Reload};
use inventory_monitor::matchers::{all_match, Matcher};
use inventory_monitor::suppress::{InForce, Labels, Suppressor};
use inventory_monitor::vocabulary::Suppression;
use inventory_monitor_testkit::exposition;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);
const SILENCE: &str = "3f1c0a52-test";

/// Mutes `profile_name=~"legacy-.*"` while its switch is on, naming itself silence
/// [`SILENCE`].
struct Mute {
    /// On: muting.
    on: Arc<AtomicBool>,
    /// What it mutes.
    matchers: Vec<Matcher>,
}

impl Mute {
    fn new(on: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Self {
            on,
            matchers: vec![Matcher::parse(r#"profile_name=~"legacy-.*""#).unwrap()],
        })
    }
}

impl Suppressor for Mute {
    fn suppressions(&self, labels: &dyn Labels, _now: SystemTime) -> Vec<Suppression> {
        if self.on.load(Ordering::SeqCst) && all_match(&self.matchers, |n| labels.label(n)) {
            vec![Suppression::Silence {
                id: SILENCE.to_string(),
            }]
        } else {
            Vec::new()
        }
    }

    fn in_force(&self, _now: SystemTime) -> Vec<InForce> {
        Vec::new()
    }
}

/// A simulator with `legacy-1` and `modern-2`, both healthy.
async fn fleet() -> Sim {
    let sim = common::empty_sim().await;
    sim.sim
        .upsert_profile(healthy_detail(1, "legacy-1", "North"));
    sim.sim
        .upsert_profile(healthy_detail(2, "modern-2", "North"));
    sim
}

fn degrade(sim: &Sim, id: u64) {
    assert!(sim.sim.set_health(id, Some("unhealthy"), Some("valid")));
}

fn recover(sim: &Sim, id: u64) {
    assert!(sim.sim.set_health(id, Some("healthy"), Some("valid")));
}

/// A config against `sim` delivering to `sink` at once, its state in `dir`.
fn config(sim: &Sim, sink: &RecordingSink, dir: &Path) -> Config {
    let mut c = test_config(&sim.base_url);
    c.state.dir = dir.join("state");
    c.alerting.group_wait = Duration::ZERO;
    c.alerting.repeat_interval = Duration::from_secs(3600);
    c.alerting.receivers = vec![ReceiverConfig {
        url: Some(sink.url()),
        ..ReceiverConfig::new("ops", ReceiverKind::Webhook)
    }];
    c
}

/// A daemon with a notifier, the muting suppressor, and its HTTP server on 127.0.0.1:0.
struct Monitor {
    daemon: Daemon,
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn monitor(sim: &Sim, config: Config, clock: &Arc<ManualClock>, mute: &Arc<Mute>) -> Monitor {
    let shared: SharedClock = clock.clone();
    let mut daemon = Daemon::with_notifier(config, Secret::new(sim.sim.token()), shared).unwrap();
    daemon.add_suppressor(mute.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(inventory_monitor::server::serve(
        listener,
        daemon.state(),
        async move { s.cancelled().await },
    ));
    Monitor { daemon, addr, stop }
}

impl Monitor {
    /// One sweep, a minute after the last; answers how many notifications it queued.
    async fn sweep(&mut self, clock: &ManualClock) -> usize {
        clock.advance(Duration::from_secs(60));
        self.daemon.sweep_once().await;
        self.queued()
    }

    fn queued(&self) -> usize {
        self.daemon.notifier().map_or(0, |n| n.queue_len())
    }

    /// Waits until everything queued was delivered.
    async fn drained(&self) -> bool {
        wait_until(WAIT, || self.queued() == 0).await
    }
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(SystemTime::now()))
}

#[tokio::test]
async fn an_alert_suppressed_from_the_start_is_announced_once_when_its_suppression_ends() {
    let sim = fleet().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let on = Arc::new(AtomicBool::new(true));
    let mut m = monitor(
        &sim,
        config(&sim, &sink, dir.path()),
        &clock,
        &Mute::new(on.clone()),
    )
    .await;

    degrade(&sim, 1);
    assert_eq!(m.sweep(&clock).await, 0, "held while suppressed");
    assert_eq!(m.sweep(&clock).await, 0, "and still held a sweep later");

    on.store(false, Ordering::SeqCst);
    m.sweep(&clock).await;
    assert!(wait_until(WAIT, || sink.sink.count() == 1).await);
    assert!(m.drained().await);
    assert_eq!(sink.alerts(), vec!["firing ProfileConnectivityDegraded/1"]);

    assert_eq!(m.sweep(&clock).await, 0, "announced once, not again");
    assert_eq!(sink.sink.count(), 1);
}

#[tokio::test]
async fn an_alert_announced_then_suppressed_gets_its_resolution() {
    let sim = fleet().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let on = Arc::new(AtomicBool::new(false));
    let mut m = monitor(
        &sim,
        config(&sim, &sink, dir.path()),
        &clock,
        &Mute::new(on.clone()),
    )
    .await;

    degrade(&sim, 1);
    m.sweep(&clock).await;
    assert!(wait_until(WAIT, || sink.sink.count() == 1).await);
    assert!(m.drained().await);

    on.store(true, Ordering::SeqCst);
    assert_eq!(m.sweep(&clock).await, 0, "nothing to say while suppressed");
    // A repeat_interval later: no reminder of a suppressed alert.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(m.sweep(&clock).await, 0, "no reminder while suppressed");
    recover(&sim, 1);
    m.sweep(&clock).await;
    assert!(wait_until(WAIT, || sink.sink.count() == 2).await);
    assert_eq!(
        sink.alerts(),
        vec![
            "firing ProfileConnectivityDegraded/1",
            "resolved ProfileConnectivityDegraded/1"
        ]
    );
}

#[tokio::test]
async fn an_alert_suppressed_from_the_start_that_resolves_is_never_mentioned() {
    let sim = fleet().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let on = Arc::new(AtomicBool::new(true));
    let mut m = monitor(
        &sim,
        config(&sim, &sink, dir.path()),
        &clock,
        &Mute::new(on.clone()),
    )
    .await;

    degrade(&sim, 1);
    assert_eq!(m.sweep(&clock).await, 0);
    recover(&sim, 1);
    assert_eq!(
        m.sweep(&clock).await,
        0,
        "no resolution of what was never announced"
    );
    on.store(false, Ordering::SeqCst);
    assert_eq!(m.sweep(&clock).await, 0, "nothing left to release");
    assert_eq!(sink.sink.count(), 0);
}

#[tokio::test]
async fn a_restarted_daemon_keeps_held_alerts_held_then_releases_them() {
    let sim = fleet().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let on = Arc::new(AtomicBool::new(true));
    let cfg = config(&sim, &sink, dir.path());

    let mut first = monitor(&sim, cfg.clone(), &clock, &Mute::new(on.clone())).await;
    degrade(&sim, 1);
    degrade(&sim, 2);
    first.sweep(&clock).await;
    assert!(wait_until(WAIT, || sink.sink.count() == 1).await);
    assert!(first.drained().await);
    assert_eq!(sink.alerts(), vec!["firing ProfileConnectivityDegraded/2"]);
    // The state files as a SIGKILL now would leave them: the delivery recorded, alert 1 held.
    let state = || -> Value {
        inventory_monitor::notify::state::read_state_json(&cfg.state.dir).unwrap_or(Value::Null)
    };
    let written = wait_until(WAIT, || {
        let s = state();
        s["outbox"] == json!([]) && s["receivers"][0]["held"][0]["key"]["profile_id"] == json!(1)
    })
    .await;
    assert!(written, "the held alert is in the state file: {}", state());
    // As a SIGKILL would: no shutdown, nothing written beyond what each step wrote.
    drop(first);

    // The new process has its silences back (they are kept in the state directory too).
    let mut second = monitor(&sim, cfg.clone(), &clock, &Mute::new(on.clone())).await;
    assert_eq!(
        second.sweep(&clock).await,
        0,
        "still held, and 2 not announced again"
    );
    let status = get_json(second.addr, "/api/v1/status").await;
    assert_eq!(alert_of(&status, 1)["state"], "suppressed");

    on.store(false, Ordering::SeqCst);
    second.sweep(&clock).await;
    assert!(wait_until(WAIT, || sink.sink.count() == 2).await);
    assert!(second.drained().await);
    assert_eq!(
        sink.alerts(),
        vec![
            "firing ProfileConnectivityDegraded/2",
            "firing ProfileConnectivityDegraded/1"
        ]
    );
    assert_eq!(second.sweep(&clock).await, 0);
}

/// The status document's alert about profile `id`.
fn alert_of(status: &Value, id: u64) -> Value {
    status["alerts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["profile_id"] == json!(id)).cloned())
        .unwrap_or_else(|| panic!("no alert about profile {id} in {status}"))
}

#[tokio::test]
async fn status_and_metrics_show_suppressed_alerts_as_such() {
    let sim = fleet().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let on = Arc::new(AtomicBool::new(true));
    let mut m = monitor(
        &sim,
        config(&sim, &sink, dir.path()),
        &clock,
        &Mute::new(on.clone()),
    )
    .await;

    degrade(&sim, 1);
    degrade(&sim, 2);
    m.sweep(&clock).await;
    let status = get_json(m.addr, "/api/v1/status").await;
    let legacy = alert_of(&status, 1);
    assert_eq!(legacy["state"], "suppressed");
    assert_eq!(
        legacy["suppressed_by"],
        json!([{"kind": "silence", "id": SILENCE}])
    );
    let modern = alert_of(&status, 2);
    assert_eq!(modern["state"], "firing");
    assert_eq!(modern["suppressed_by"], json!([]));

    let (_, families) = scrape(m.addr).await;
    let alerts =
        |state: &str| exposition::find(&families, "inventory_monitor_alerts", &[("state", state)]);
    assert_eq!(alerts("pending"), Some(0.0));
    assert_eq!(alerts("firing"), Some(1.0));
    assert_eq!(alerts("suppressed"), Some(1.0));
    // Still judged and exported.
    let firing = exposition::find(
        &families,
        "inventory_profile_alert_firing",
        &[
            ("profile_id", "1"),
            ("alertname", "ProfileConnectivityDegraded"),
        ],
    );
    assert_eq!(firing, Some(1.0));

    on.store(false, Ordering::SeqCst);
    m.sweep(&clock).await;
    let (_, families) = scrape(m.addr).await;
    let alerts =
        |state: &str| exposition::find(&families, "inventory_monitor_alerts", &[("state", state)]);
    assert_eq!(alerts("firing"), Some(2.0));
    assert_eq!(alerts("suppressed"), Some(0.0));
    let status = get_json(m.addr, "/api/v1/status").await;
    assert_eq!(alert_of(&status, 1)["state"], "firing");
}

#[tokio::test]
async fn configured_suppressors_follow_reloads_and_are_asked_after_static_ones() {
    let sim = fleet().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let silenced = Arc::new(AtomicBool::new(false));
    let mut m = monitor(
        &sim,
        config(&sim, &sink, dir.path()),
        &clock,
        &Mute::new(silenced),
    )
    .await;

    // A "window" made from the configuration: what the switch says when it is made.
    let window = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let (w, n) = (window.clone(), made.clone());
    m.daemon
        .add_configured_suppressor(Box::new(move |_config: &Config| {
            n.fetch_add(1, Ordering::SeqCst);
            let on = Arc::new(AtomicBool::new(w.load(Ordering::SeqCst)));
            Mute::new(on) as Arc<dyn Suppressor>
        }));
    assert_eq!(
        made.load(Ordering::SeqCst),
        1,
        "made from the config in force"
    );
    assert_eq!(m.daemon.state().suppressors.read().unwrap().len(), 2);

    degrade(&sim, 1);
    window.store(true, Ordering::SeqCst);
    m.sweep(&clock).await;
    let status = get_json(m.addr, "/api/v1/status").await;
    assert_eq!(
        alert_of(&status, 1)["state"],
        "firing",
        "the window made before the switch does not mute"
    );
    assert!(wait_until(WAIT, || sink.sink.count() == 1).await);

    let config = m.daemon.config().clone();
    m.daemon
        .reload(Reload {
            config,
            token: Secret::new(sim.sim.token()),
            done: None,
        })
        .await
        .unwrap();
    assert_eq!(
        made.load(Ordering::SeqCst),
        2,
        "made again after the reload"
    );
    m.sweep(&clock).await;
    let status = get_json(m.addr, "/api/v1/status").await;
    assert_eq!(alert_of(&status, 1)["state"], "suppressed");
    assert_eq!(m.daemon.state().suppressors.read().unwrap().len(), 2);
}

#[tokio::test]
async fn alertmanager_is_pushed_a_suppressed_alert_as_ended_then_firing_again_when_released() {
    let sim = fleet().await;
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = manual_clock();
    let on = Arc::new(AtomicBool::new(false));
    let mut cfg = config(&sim, &sink, dir.path());
    cfg.alerting.receivers = vec![ReceiverConfig {
        url: Some(sink.url()),
        ..ReceiverConfig::new("am", ReceiverKind::Alertmanager)
    }];
    let mut m = monitor(&sim, cfg, &clock, &Mute::new(on.clone())).await;

    // Each push: `profile_id` → whether its `endsAt` is after the sweep (firing) or at it
    // (ended).
    let push = |n: usize| {
        let body = sink.bodies()[n].clone();
        let now = inventory_monitor::clock::rfc3339(clock.now());
        let mut seen: Vec<(String, &'static str)> = body
            .as_array()
            .unwrap_or_else(|| panic!("not a list of alerts: {body}"))
            .iter()
            .map(|a| {
                let ends = a["endsAt"].as_str().unwrap_or_default();
                let state = if ends > now.as_str() {
                    "firing"
                } else if ends == now {
                    "ended"
                } else {
                    "stale"
                };
                (
                    a["labels"]["profile_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    state,
                )
            })
            .collect();
        seen.sort();
        seen
    };
    let pushed = |id: &str, state: &'static str| (id.to_string(), state);

    degrade(&sim, 1);
    degrade(&sim, 2);
    m.sweep(&clock).await;
    assert!(wait_until(WAIT, || sink.sink.count() == 1).await);
    assert!(m.drained().await);
    assert_eq!(push(0), vec![pushed("1", "firing"), pushed("2", "firing")]);

    on.store(true, Ordering::SeqCst);
    m.sweep(&clock).await;
    assert!(wait_until(WAIT, || sink.sink.count() == 2).await);
    assert!(m.drained().await);
    assert_eq!(
        push(1),
        vec![pushed("1", "ended"), pushed("2", "firing")],
        "the suppressed alert is ended in Alertmanager at once"
    );

    on.store(false, Ordering::SeqCst);
    m.sweep(&clock).await;
    assert!(wait_until(WAIT, || sink.sink.count() == 3).await);
    assert_eq!(
        push(2),
        vec![pushed("1", "firing"), pushed("2", "firing")],
        "released: firing again, its end no longer pushed"
    );
}
