//! Notifications end to end: the notifier against real HTTP receivers on 127.0.0.1:0 that
//! record every request and answer as scripted (200, 429 with `Retry-After`, 500, 404, a
//! dropped connection, no answer at all), the state file across restarts, and the
//! `notify-test` command.
//!
//! Time is a `ManualClock` wherever the behaviour is about minutes or hours (group_wait,
//! reminders, max_delivery_age, an hour-long outage); real time only where a real
//! duration is what is measured (Retry-After, "a dead receiver delays nobody").

use crate::common;
use crate::common::shared;
use crate::common::CapturedLogs;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use inventory_monitor::clock::{Clock, ManualClock, SharedClock, SystemClock};
use inventory_monitor::config::{Config, ReceiverConfig, ReceiverKind, Secret};
use inventory_monitor::daemon::Daemon;
use inventory_monitor::metrics::MonitorMetrics;
use inventory_monitor::notify::{DeliveryTuning, Notifier};
use inventory_monitor::rules::{Alert, AlertKey, AlertName, AlertState, Transition};
use inventory_monitor::shard::Shard;
use inventory_monitor_testkit::child::Launch;
use inventory_monitor_testkit::exposition;
use inventory_monitor_testkit::place::free_port;
use inventory_monitor_testkit::sink::{Received, Reply, Sink as KitSink};
use inventory_monitor_testkit::wait::wait_until as until;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// A recording HTTP receiver: the kit's sink, with receiver URLs whose path is a secret.

/// A receiver on 127.0.0.1:0 answering 200 unless scripted otherwise; stops when dropped.
struct Sink(
    /// The recording server.
    KitSink,
);

impl std::ops::Deref for Sink {
    type Target = KitSink;
    fn deref(&self) -> &KitSink {
        &self.0
    }
}

impl Sink {
    async fn start() -> Sink {
        Sink(KitSink::start().await)
    }

    /// The receiver URL: its path is a "secret" that must never show in logs or state.
    fn url(&self, name: &str) -> String {
        self.0.url(&format!("/hook/{name}-s3cr3t-path-0xDEADBEEF"))
    }

    fn requests(&self) -> Vec<Received> {
        self.received()
    }
}

/// What a receiver was sent, read as alerts.
trait Alerts {
    /// `firing ProfileX/1`, `resolved InventoryApiDown/` for each alert of a webhook (or
    /// Alertmanager) payload.
    fn alerts(&self) -> Vec<String>;
}

impl Alerts for Received {
    fn alerts(&self) -> Vec<String> {
        let v = self.json();
        let list = v.get("alerts").cloned().unwrap_or(v);
        list.as_array()
            .unwrap_or_else(|| panic!("no alert list in {}", self.text()))
            .iter()
            .map(|a| {
                let status = a["status"].as_str().map(str::to_string).unwrap_or_else(|| {
                    // Alertmanager's postable alerts carry no status: an end in the past is resolved.
                    let ends = a["endsAt"].as_str().unwrap_or_default();
                    if ends >= now_rfc3339().as_str() {
                        "firing".to_string()
                    } else {
                        "resolved".to_string()
                    }
                });
                format!(
                    "{status} {}/{}",
                    a["labels"]["alertname"].as_str().unwrap_or_default(),
                    a["labels"]["profile_id"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }
}

fn now_rfc3339() -> String {
    inventory_monitor::clock::rfc3339(SystemTime::now())
}

/// A URL nothing listens on (connection refused).
fn refused_url() -> String {
    format!(
        "http://127.0.0.1:{}/hook/refused-s3cr3t-path-0xDEADBEEF",
        free_port()
    )
}

// ---------------------------------------------------------------------------------------
// Building blocks.

fn receiver(name: &str, kind: ReceiverKind, url: &str) -> ReceiverConfig {
    ReceiverConfig {
        url: (kind != ReceiverKind::Log).then(|| url.to_string()),
        ..ReceiverConfig::new(name, kind)
    }
}

/// A config with these receivers, its state in `dir`, and no group_wait.
fn config(dir: &Path, receivers: Vec<ReceiverConfig>) -> Config {
    let mut c = Config::default();
    c.state.dir = dir.join("state");
    c.alerting.group_wait = Duration::ZERO;
    c.alerting.receivers = receivers;
    c
}

/// Quick retries, so that tests about many failures take a few seconds of real time.
fn fast() -> DeliveryTuning {
    DeliveryTuning {
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        pacing: false,
    }
}

fn alert(name: AlertName, id: u64, severity: &str, org: &str, since: SystemTime) -> Alert {
    Alert {
        key: AlertKey::profile(name, id),
        severity: severity.into(),
        profile_name: format!("Profile {id}").into(),
        organization: org.into(),
        summary: format!("{name} on profile {id}").into(),
        description: "details".into(),
        state: AlertState::Firing,
        active_since: since,
        firing_since: Some(since),
        resolved_at: None,
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

fn conn(id: u64, since: SystemTime) -> Alert {
    alert(
        AlertName::ProfileConnectivityDegraded,
        id,
        "critical",
        "North",
        since,
    )
}

fn api_down(since: SystemTime) -> Alert {
    let mut a = alert(AlertName::InventoryApiDown, 0, "critical", "", since);
    a.key = AlertKey::api_down();
    a.profile_name = "".into();
    a
}

fn fire(a: &Alert) -> Transition {
    Transition {
        alert: a.clone().into(),
    }
}

fn resolve(a: &Alert, at: SystemTime) -> Transition {
    let mut alert = a.clone();
    alert.state = AlertState::Resolved;
    alert.resolved_at = Some(at);
    Transition {
        alert: alert.into(),
    }
}

struct Running {
    notifier: Notifier,
    monitor: Arc<MonitorMetrics>,
    restored: Vec<Alert>,
}

impl Running {
    fn count(&self, receiver: &str, outcome: &str) -> u64 {
        self.monitor
            .notifications
            .with_label_values(&[receiver, outcome])
            .get()
    }
}

fn start(config: &Config, clock: SharedClock, tuning: DeliveryTuning) -> Running {
    let monitor = Arc::new(MonitorMetrics::new(Shard::default()));
    let (notifier, restored) =
        Notifier::start_with(config, monitor.clone(), clock, tuning).expect("notifier starts");
    Running {
        notifier,
        monitor,
        restored,
    }
}

/// Polls `check` every 10 ms until it holds or `deadline` passes.
/// A config whose one receiver is webhook `ops` at `sink`.
fn ops_config(dir: &Path, sink: &Sink) -> Config {
    config(
        dir,
        vec![receiver("ops", ReceiverKind::Webhook, &sink.url("ops"))],
    )
}

/// A notifier (real clock, fast delivery) with one receiver `name` of `kind` at `sink`,
/// told that profile 1's connectivity alert fired.
fn profile_1_fires(dir: &Path, name: &str, kind: ReceiverKind, sink: &Sink) -> Running {
    let cfg = config(dir, vec![receiver(name, kind, &sink.url(name))]);
    let n = start(&cfg, Arc::new(SystemClock), fast());
    let now = SystemTime::now();
    let p1 = conn(1, now);
    n.notifier
        .on_sweep(&[fire(&p1)], &[Arc::new(p1.clone())], now);
    n
}

fn manual() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_epoch_2026())
}

/// The state the directory holds (snapshot and journal replayed), as `state.json`'s JSON.
fn read_state(dir: &Path) -> Value {
    inventory_monitor::notify::state::read_state_json(&dir.join("state")).expect("a state")
}

/// The daemon's logs at DEBUG and above while the guard lives.
fn capture_logs() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let captured = CapturedLogs::default();
    let guard = captured.capture(tracing::Level::DEBUG);
    (captured, guard)
}

// ---------------------------------------------------------------------------------------
// Grouping and routing.

#[tokio::test]
async fn changes_within_group_wait_go_out_as_one_message_per_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Sink::start().await, Sink::start().await);
    let mut cfg = config(
        dir.path(),
        vec![
            receiver("a", ReceiverKind::Webhook, &a.url("a")),
            receiver("b", ReceiverKind::Webhook, &b.url("b")),
        ],
    );
    cfg.alerting.group_wait = Duration::from_secs(10);
    let clock = manual();
    let n = start(&cfg, clock.clone(), fast());
    let t0 = clock.now();

    let (p1, p2, p3) = (conn(1, t0), conn(2, t0), conn(3, t0));
    n.notifier.on_sweep(
        &[fire(&p1), fire(&p2), fire(&p3)],
        &[
            Arc::new(p1.clone()),
            Arc::new(p2.clone()),
            Arc::new(p3.clone()),
        ],
        t0,
    );
    clock.advance(Duration::from_secs(4));
    let t1 = clock.now();
    let (p4, p5) = (conn(4, t1), conn(5, t1));
    let mut p2_again = p2.clone();
    p2_again.summary = "updated summary".into();
    // 1 resolves before anyone was told it fired: it is not announced at all.
    n.notifier.on_sweep(
        &[resolve(&p1, t1), fire(&p4), fire(&p5), fire(&p2_again)],
        &[
            Arc::new(p2_again.clone()),
            Arc::new(p3.clone()),
            Arc::new(p4.clone()),
            Arc::new(p5.clone()),
        ],
        t1,
    );
    n.notifier.poke();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        (a.count(), b.count()),
        (0, 0),
        "nothing goes out within group_wait"
    );
    assert_eq!(n.notifier.queue_len(), 2, "one open group per receiver");

    clock.advance(Duration::from_secs(7));
    n.notifier.poke();
    assert!(until(Duration::from_secs(5), || n.notifier.queue_len() == 0).await);
    for (sink, name) in [(&a, "a"), (&b, "b")] {
        let reqs = sink.requests();
        assert_eq!(reqs.len(), 1, "{name} got one message");
        assert_eq!(
            reqs[0].alerts(),
            vec![
                "firing ProfileConnectivityDegraded/2",
                "firing ProfileConnectivityDegraded/3",
                "firing ProfileConnectivityDegraded/4",
                "firing ProfileConnectivityDegraded/5",
            ]
        );
        assert!(
            reqs[0].text().contains("updated summary"),
            "the later change replaced the earlier"
        );
        assert_eq!(n.count(name, "delivered"), 1);
    }
}

#[tokio::test]
async fn receivers_get_only_the_alerts_their_filters_match() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let mut crit = receiver("crit", ReceiverKind::Webhook, &sink.url("crit"));
    crit.match_severity = vec!["critical".into()];
    let mut north = receiver("north", ReceiverKind::Webhook, &sink.url("north"));
    north.match_organization = vec!["North".into()];
    let mut stale = receiver("stale", ReceiverKind::Webhook, &sink.url("stale"));
    stale.match_alertname = vec!["ProfileSyncStale".into()];
    let mut north_warnings = receiver("northwarn", ReceiverKind::Webhook, &sink.url("northwarn"));
    north_warnings.match_organization = vec!["North".into()];
    north_warnings.match_severity = vec!["warning".into()];
    let everything = receiver("all", ReceiverKind::Webhook, &sink.url("all"));
    let cfg = config(
        dir.path(),
        vec![everything, crit, north, stale, north_warnings],
    );
    let clock = manual();
    let n = start(&cfg, clock.clone(), fast());
    let t0 = clock.now();

    let alerts = vec![
        conn(1, t0),
        alert(AlertName::ProfileSyncStale, 2, "warning", "South", t0),
        alert(AlertName::ProfileErrorsHigh, 3, "warning", "North", t0),
        api_down(t0),
    ];
    let transitions: Vec<Transition> = alerts.iter().map(fire).collect();
    n.notifier.on_sweep(&transitions, &shared(&alerts), t0);
    assert!(
        until(Duration::from_secs(5), || n.notifier.queue_len() == 0
            && sink.count() == 5)
        .await
    );

    let mut by_receiver = std::collections::BTreeMap::new();
    for r in sink.requests() {
        let name = r
            .path
            .trim_start_matches("/hook/")
            .split('-')
            .next()
            .unwrap()
            .to_string();
        let mut alerts = r.alerts();
        alerts.sort();
        by_receiver.insert(name, alerts);
    }
    let expect = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        by_receiver["all"],
        expect(&[
            "firing InventoryApiDown/",
            "firing ProfileConnectivityDegraded/1",
            "firing ProfileErrorsHigh/3",
            "firing ProfileSyncStale/2",
        ])
    );
    assert_eq!(
        by_receiver["crit"],
        expect(&[
            "firing InventoryApiDown/",
            "firing ProfileConnectivityDegraded/1"
        ])
    );
    assert_eq!(
        by_receiver["north"],
        expect(&[
            "firing InventoryApiDown/",
            "firing ProfileConnectivityDegraded/1",
            "firing ProfileErrorsHigh/3",
        ]),
        "InventoryApiDown affects every organization"
    );
    assert_eq!(by_receiver["stale"], expect(&["firing ProfileSyncStale/2"]));
    assert_eq!(
        by_receiver["northwarn"],
        expect(&["firing ProfileErrorsHigh/3"]),
        "filters combine: all must pass"
    );
}

#[tokio::test]
async fn with_send_resolved_false_firing_is_announced_and_resolution_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let mut cfg = ops_config(dir.path(), &sink);
    cfg.alerting.send_resolved = false;
    let clock = manual();
    let n = start(&cfg, clock.clone(), fast());
    let t0 = clock.now();
    let p1 = conn(1, t0);
    n.notifier
        .on_sweep(&[fire(&p1)], &[Arc::new(p1.clone())], t0);
    assert!(
        until(Duration::from_secs(5), || sink.count() == 1
            && n.notifier.queue_len() == 0)
        .await
    );

    clock.advance(Duration::from_secs(60));
    n.notifier
        .on_sweep(&[resolve(&p1, clock.now())], &[], clock.now());
    assert_eq!(
        n.notifier.queue_len(),
        0,
        "nothing queued for the resolution"
    );
    n.notifier.poke();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.count(), 1);
    assert_eq!(n.count("ops", "delivered"), 1);
}

// ---------------------------------------------------------------------------------------
// Reminders.

#[tokio::test]
async fn reminders_come_every_repeat_interval_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let mut cfg = config(
        dir.path(),
        vec![receiver(
            "chat",
            ReceiverKind::GoogleChat,
            &sink.url("chat"),
        )],
    );
    cfg.alerting.repeat_interval = Duration::from_secs(4 * 3600);
    let clock = manual();
    let n = start(&cfg, clock.clone(), fast());
    let t0 = clock.now();
    let p1 = conn(1, t0);
    let active = [p1.clone()];
    n.notifier.on_sweep(&[fire(&p1)], &shared(&active), t0);
    assert!(
        until(Duration::from_secs(5), || sink.count() == 1
            && n.notifier.queue_len() == 0)
        .await
    );
    assert!(!sink.requests()[0].text().contains("reminder"));

    // Sweeps every minute for almost four hours: no reminder.
    for _ in 0..239 {
        clock.advance(Duration::from_secs(60));
        n.notifier.on_sweep(&[], &shared(&active), clock.now());
        assert_eq!(
            n.notifier.queue_len(),
            0,
            "no reminder before repeat_interval"
        );
    }
    clock.advance(Duration::from_secs(60));
    n.notifier.on_sweep(&[], &shared(&active), clock.now());
    assert_eq!(
        n.notifier.queue_len(),
        1,
        "a reminder after repeat_interval"
    );
    assert!(
        until(Duration::from_secs(5), || sink.count() == 2
            && n.notifier.queue_len() == 0)
        .await
    );
    let reminder = sink.requests()[1].text();
    assert!(reminder.contains("still firing (reminder)"), "{reminder}");
    assert!(reminder.contains("Profile 1"), "{reminder}");

    // The next one counts from the reminder.
    clock.advance(Duration::from_secs(4 * 3600 - 60));
    n.notifier.on_sweep(&[], &shared(&active), clock.now());
    assert_eq!(n.notifier.queue_len(), 0);
    clock.advance(Duration::from_secs(60));
    n.notifier.on_sweep(&[], &shared(&active), clock.now());
    assert!(until(Duration::from_secs(5), || sink.count() == 3).await);
}

// ---------------------------------------------------------------------------------------
// Retries and failures.

#[tokio::test]
async fn a_template_failing_at_run_time_sends_the_built_in_message_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    // Passes `check` (its samples have two alerts at most), fails on any real message.
    let failing = "{{ alerts[0].labels.alertname }} {{ alerts[7].labels.alertname }}";
    let cfg = config(
        dir.path(),
        vec![
            ReceiverConfig {
                template: Some(failing.to_string()),
                ..receiver("templated", ReceiverKind::Slack, &sink.url("templated"))
            },
            receiver("plain", ReceiverKind::Slack, &sink.url("plain")),
        ],
    );
    let n = start(&cfg, Arc::new(SystemClock), fast());
    // Read from the exposition text, as Prometheus reads it.
    let failures = |name: &str| {
        let text = String::from_utf8(n.monitor.encode()).expect("utf-8");
        let families = exposition::parse(&text).expect("exposition text");
        exposition::samples_named(&families, "inventory_monitor_template_failures_total")
            .into_iter()
            .filter(|s| s.label("receiver") == Some(name))
            .map(|s| s.value)
            .collect::<Vec<f64>>()
    };
    // Created at 0 for the receiver with a template only.
    assert_eq!(failures("templated"), vec![0.0]);
    assert_eq!(failures("plain"), Vec::<f64>::new());

    let now = SystemTime::now();
    let p1 = conn(1, now);
    n.notifier
        .on_sweep(&[fire(&p1)], &[Arc::new(p1.clone())], now);
    assert!(until(Duration::from_secs(10), || n.notifier.queue_len() == 0).await);
    let bodies: std::collections::BTreeMap<String, String> = sink
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.text()))
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let mut texts = bodies.values();
    let (first, second) = (texts.next().unwrap(), texts.next().unwrap());
    assert_eq!(
        first, second,
        "the built-in message, as the other receiver's"
    );
    assert_eq!(n.count("templated", "delivered"), 1);
    assert_eq!(failures("templated"), vec![1.0]);
}

#[tokio::test]
async fn a_500_is_retried_until_delivered_and_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.script([
        Reply::status(500),
        Reply::status(503),
        Reply::drop_connection(),
    ]);
    let n = profile_1_fires(dir.path(), "ops", ReceiverKind::Webhook, &sink);
    assert!(until(Duration::from_secs(10), || n.notifier.queue_len() == 0).await);
    let reqs = sink.requests();
    assert_eq!(reqs.len(), 4, "500, 503, dropped connection, then 200");
    assert!(
        reqs.windows(2).all(|w| w[0].body == w[1].body),
        "the same message each time"
    );
    assert_eq!(n.count("ops", "delivered"), 1);
    assert_eq!(n.count("ops", "failed"), 0);
    assert_eq!(n.count("ops", "dropped"), 0);
    assert_eq!(n.monitor.notification_queue.get(), 0);
}

#[tokio::test]
async fn retry_after_of_a_429_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.script([Reply::status(429).header("Retry-After", 2)]);
    // Backoff alone would retry within 20 ms.
    let n = profile_1_fires(dir.path(), "ops", ReceiverKind::Webhook, &sink);
    assert!(until(Duration::from_secs(10), || n.notifier.queue_len() == 0).await);
    let reqs = sink.requests();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].at - reqs[0].at;
    eprintln!("Retry-After: 2 → second attempt after {waited:?}");
    assert!(
        waited >= Duration::from_secs(2),
        "retried after only {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(n.count("ops", "delivered"), 1);
}

#[tokio::test]
async fn a_discord_429_waits_for_the_retry_after_of_its_json_body() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.script([Reply::status(429)
        .header("Content-Type", "application/json")
        .body(
            r#"{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}"#,
        )]);
    let n = profile_1_fires(dir.path(), "dc", ReceiverKind::Discord, &sink);
    assert!(until(Duration::from_secs(10), || n.notifier.queue_len() == 0).await);
    let reqs = sink.requests();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].at - reqs[0].at;
    assert!(
        waited >= Duration::from_millis(1500),
        "retried after only {waited:?}"
    );
}

#[tokio::test]
async fn a_404_fails_at_once_is_counted_and_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let url = sink.url("gone");
    // The body echoes the URL, as some receivers do: it must not reach the log.
    sink.always(Reply::status(404).body(format!("no webhook at {url}")));
    let cfg = config(
        dir.path(),
        vec![receiver("gone", ReceiverKind::Webhook, &url)],
    );
    let (logs, _guard) = capture_logs();
    let n = start(&cfg, Arc::new(SystemClock), fast());
    let now = SystemTime::now();
    let p1 = conn(1, now);
    n.notifier
        .on_sweep(&[fire(&p1)], &[Arc::new(p1.clone())], now);
    assert!(until(Duration::from_secs(5), || n.count("gone", "failed") == 1).await);
    assert_eq!(n.notifier.queue_len(), 0);
    n.notifier.poke();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.count(), 1, "not retried");
    assert_eq!(n.count("gone", "delivered"), 0);

    // Not re-sent at the next sweep either: the next try is a reminder, a repeat_interval on.
    n.notifier
        .on_sweep(&[], &[Arc::new(p1.clone())], SystemTime::now());
    assert_eq!(n.notifier.queue_len(), 0);

    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("refused by the receiver"))
        .unwrap_or_else(|| panic!("no ERROR line in:\n{text}"));
    assert!(
        line.contains("receiver=\"gone\"") || line.contains("receiver=gone"),
        "{line}"
    );
    assert!(line.contains("HTTP 404"), "{line}");
    assert!(
        !text.contains("s3cr3t"),
        "the URL leaked into the log:\n{text}"
    );
}

#[tokio::test]
async fn a_dead_receiver_does_not_delay_a_healthy_one() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = Sink::start().await;
    let failing = Sink::start().await;
    failing.always(Reply::status(500));
    let hanging = Sink::start().await;
    hanging.always(Reply::hang());
    let cfg = config(
        dir.path(),
        vec![
            receiver("refused", ReceiverKind::Webhook, &refused_url()),
            receiver("failing", ReceiverKind::Webhook, &failing.url("failing")),
            receiver("hanging", ReceiverKind::Webhook, &hanging.url("hanging")),
            receiver("healthy", ReceiverKind::Webhook, &healthy.url("healthy")),
        ],
    );
    // Real backoff (1 s doubling), real clock.
    let n = start(&cfg, Arc::new(SystemClock), DeliveryTuning::default());
    for round in 1..=3u64 {
        let now = SystemTime::now();
        let p = conn(round, now);
        let sent = Instant::now();
        n.notifier
            .on_sweep(&[fire(&p)], &[Arc::new(p.clone())], now);
        assert!(
            until(Duration::from_secs(2), || healthy.count() == round as usize).await,
            "round {round}: the healthy receiver did not get its message"
        );
        let latency = healthy.requests()[round as usize - 1].at - sent;
        eprintln!("round {round}: healthy receiver served after {latency:?}");
        assert!(
            latency < Duration::from_secs(1),
            "round {round}: {latency:?}"
        );
    }
    assert_eq!(n.count("healthy", "delivered"), 3);
    assert!(failing.count() >= 1);
    assert_eq!(hanging.count(), 1, "the hanging request is still under way");
    let outbox = n.notifier.outbox();
    for name in ["refused", "failing", "hanging"] {
        assert_eq!(
            outbox.iter().filter(|e| e.receiver == name).count(),
            3,
            "{name} keeps all three"
        );
    }
    let refused = outbox.iter().find(|e| e.receiver == "refused").unwrap();
    assert!(refused.attempts >= 1);
    let error = refused.last_error.as_deref().unwrap_or_default();
    assert!(error.starts_with("cannot connect"), "{error}");
    assert!(!error.contains("s3cr3t"), "{error}");
    let failing_entry = outbox.iter().find(|e| e.receiver == "failing").unwrap();
    assert!(failing_entry
        .last_error
        .as_deref()
        .unwrap_or_default()
        .starts_with("HTTP 500"));
}

#[tokio::test]
async fn a_notification_older_than_max_delivery_age_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.always(Reply::status(503));
    let mut cfg = ops_config(dir.path(), &sink);
    cfg.alerting.max_delivery_age = Duration::from_secs(3600);
    let clock = manual();
    let (logs, _guard) = capture_logs();
    let n = start(&cfg, clock.clone(), DeliveryTuning::default());
    let t0 = clock.now();
    let p1 = conn(1, t0);
    n.notifier
        .on_sweep(&[fire(&p1)], &[Arc::new(p1.clone())], t0);
    assert!(
        until(Duration::from_secs(5), || {
            n.notifier
                .outbox()
                .first()
                .is_some_and(|e| e.attempts == 1 && !e.in_flight)
        })
        .await
    );

    clock.advance(Duration::from_secs(3601));
    n.notifier.poke();
    assert!(until(Duration::from_secs(5), || n.count("ops", "dropped") == 1).await);
    assert_eq!(n.notifier.queue_len(), 0);
    assert_eq!(n.monitor.notification_queue.get(), 0);
    assert_eq!(n.count("ops", "delivered"), 0);
    assert_eq!(sink.count(), 1, "no attempt once too old");
    assert!(logs.text().contains("max_delivery_age"), "{}", logs.text());
}

#[tokio::test]
async fn after_an_hour_long_outage_every_notification_is_delivered_in_order() {
    // Real backoff schedule (1 s doubling to 1 min, full jitter) on a manual clock: the
    // clock jumps from one due attempt to the next, a sweep every minute adds a message.
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.always(Reply::status(502));
    let cfg = ops_config(dir.path(), &sink);
    let clock = manual();
    let n = start(&cfg, clock.clone(), DeliveryTuning::default());
    let t0 = clock.now();
    let outage = Duration::from_secs(3600);
    let mut next_sweep = t0;
    let mut sent_ids = Vec::new();
    let mut id = 0;
    loop {
        let head_due = n
            .notifier
            .outbox()
            .first()
            .map(|e| e.next_attempt_at.max(e.not_before));
        let target = head_due.map_or(next_sweep, |d| d.min(next_sweep));
        if target >= t0 + outage {
            break;
        }
        if target > clock.now() {
            clock.set(target);
        }
        if target == next_sweep {
            id += 1;
            let p = conn(id, clock.now());
            n.notifier.on_sweep(&[fire(&p)], &[], clock.now());
            sent_ids.push(format!("firing ProfileConnectivityDegraded/{id}"));
            next_sweep += Duration::from_secs(60);
        }
        n.notifier.poke();
        // Settled: the head is not due any more (attempted and backed off).
        let now = clock.now();
        assert!(
            until(Duration::from_secs(5), || {
                n.notifier
                    .outbox()
                    .first()
                    .is_some_and(|e| !e.in_flight && e.next_attempt_at > now)
            })
            .await
        );
    }
    let attempts_during_outage = sink.count();
    let head = n.notifier.outbox().first().cloned().unwrap();
    assert_eq!(
        head.attempts as usize, attempts_during_outage,
        "only the head is tried"
    );

    // The receiver comes back; the next attempt is at most the backoff cap away.
    clock.set(t0 + outage);
    sink.always(Reply::status(200));
    let back = clock.now();
    clock.set(head.next_attempt_at.max(back));
    let waited = clock.now().duration_since(back).unwrap();
    let flush = Instant::now();
    n.notifier.poke();
    assert!(until(Duration::from_secs(30), || n.notifier.queue_len() == 0).await);
    let flush = flush.elapsed();

    let delivered: Vec<String> = sink
        .requests()
        .into_iter()
        .skip(attempts_during_outage)
        .flat_map(|r| r.alerts())
        .collect();
    assert_eq!(delivered, sent_ids, "all delivered, once each, in order");
    assert_eq!(n.count("ops", "delivered") as usize, sent_ids.len());
    assert_eq!(n.count("ops", "dropped"), 0);
    eprintln!(
        "1 h outage: {} notifications queued, {attempts_during_outage} attempts during the outage \
         (only the queue head is tried), first attempt {waited:?} after recovery, then all delivered \
         in {flush:?} of real time",
        sent_ids.len()
    );
    assert!(
        waited <= Duration::from_secs(60),
        "the backoff cap is 1 min"
    );
    // Full jitter below a 1-minute ceiling: about one attempt every 30 s once capped.
    assert!(
        attempts_during_outage <= 3600 / 15,
        "backoff keeps attempts few: {attempts_during_outage}"
    );
}

#[tokio::test]
async fn after_fifty_failed_attempts_every_notification_is_delivered() {
    // The same in real time with quick retries: the receiver answers 500 fifty times.
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.script(std::iter::repeat_n(Reply::status(500), 50));
    let cfg = ops_config(dir.path(), &sink);
    let n = start(&cfg, Arc::new(SystemClock), fast());
    let started = Instant::now();
    let mut expected = Vec::new();
    for id in 1..=10 {
        let now = SystemTime::now();
        let p = conn(id, now);
        n.notifier.on_sweep(&[fire(&p)], &[], now);
        expected.push(format!("firing ProfileConnectivityDegraded/{id}"));
    }
    assert!(until(Duration::from_secs(60), || n.notifier.queue_len() == 0).await);
    let took = started.elapsed();
    let reqs = sink.requests();
    let delivered: Vec<String> = reqs.iter().skip(50).flat_map(|r| r.alerts()).collect();
    assert_eq!(delivered, expected);
    assert_eq!(reqs.len(), 60);
    assert_eq!(n.count("ops", "delivered"), 10);
    eprintln!("50 failures then recovery: 10 notifications delivered in order after {took:?}, 60 requests");
}

// ---------------------------------------------------------------------------------------
// Kinds without grouping or without HTTP.

#[tokio::test]
async fn alertmanager_gets_one_push_per_sweep_with_firing_and_recently_resolved_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let url = format!("http://{}/am", sink.addr());
    let mut cfg = config(
        dir.path(),
        vec![receiver("am", ReceiverKind::Alertmanager, &url)],
    );
    cfg.alerting.group_wait = Duration::from_secs(30); // not for Alertmanager
    let n = start(&cfg, Arc::new(SystemClock), fast());
    let now = SystemTime::now();
    let since = now - Duration::from_secs(60);
    let (p1, p2) = (conn(1, since), conn(2, since));
    n.notifier.on_sweep(
        &[fire(&p1), fire(&p2)],
        &[Arc::new(p1.clone()), Arc::new(p2.clone())],
        now,
    );
    assert!(until(Duration::from_secs(5), || sink.count() == 1).await);
    assert_eq!(sink.requests()[0].path, "/am/api/v2/alerts");

    let resolved_at = SystemTime::now() - Duration::from_secs(5);
    n.notifier.on_sweep(
        &[resolve(&p2, resolved_at)],
        &[Arc::new(p1.clone())],
        SystemTime::now(),
    );
    for push in 2..=6 {
        assert!(
            until(Duration::from_secs(5), || sink.count() == push
                && n.notifier.queue_len() == 0)
            .await
        );
        n.notifier
            .on_sweep(&[], &[Arc::new(p1.clone())], SystemTime::now());
    }
    let pushes: Vec<Vec<String>> = sink.requests().iter().map(Received::alerts).collect();
    let both = vec![
        "firing ProfileConnectivityDegraded/1".to_string(),
        "resolved ProfileConnectivityDegraded/2".to_string(),
    ];
    let one = vec!["firing ProfileConnectivityDegraded/1".to_string()];
    assert_eq!(pushes[0].len(), 2);
    assert_eq!(
        pushes[1..4],
        [both.clone(), both.clone(), both],
        "resolved in 3 pushes"
    );
    assert_eq!(pushes[4..6], [one.clone(), one]);
}

#[tokio::test]
async fn an_alertmanager_push_not_yet_sent_is_replaced_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    sink.always(Reply::status(503));
    let url = format!("http://{}/", sink.addr());
    let cfg = config(
        dir.path(),
        vec![receiver("am", ReceiverKind::Alertmanager, &url)],
    );
    let clock = manual();
    let n = start(&cfg, clock.clone(), DeliveryTuning::default());
    for id in 1..=5u32 {
        let now = clock.now();
        let active: Vec<Alert> = (1..=u64::from(id)).map(|i| conn(i, now)).collect();
        let before = sink.count();
        n.notifier
            .on_sweep(&[fire(&conn(u64::from(id), now))], &shared(&active), now);
        assert_eq!(
            n.notifier.queue_len(),
            1,
            "one push waits, not one per sweep"
        );
        // The push is due (its backoff is shorter than a sweep interval): attempted, fails.
        assert!(
            until(Duration::from_secs(5), || {
                let outbox = n.notifier.outbox();
                sink.count() > before
                    && outbox.len() == 1
                    && !outbox[0].in_flight
                    && outbox[0].attempts == id
            })
            .await
        );
        assert_eq!(sink.requests().last().unwrap().alerts().len(), id as usize);
        clock.advance(Duration::from_secs(60));
    }
    sink.always(Reply::status(200));
    clock.advance(Duration::from_secs(600));
    n.notifier.poke();
    assert!(until(Duration::from_secs(5), || n.notifier.queue_len() == 0).await);
    let last = sink.requests().last().unwrap().alerts();
    assert_eq!(last.len(), 5, "the newest push went out: {last:?}");
}

#[tokio::test]
async fn a_log_receiver_writes_alert_lines_and_counts_them_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        vec![receiver("terminal", ReceiverKind::Log, "")],
    );
    let (logs, _guard) = capture_logs();
    let clock = manual();
    let n = start(&cfg, clock.clone(), fast());
    let t0 = clock.now();
    let (p1, p2) = (conn(1, t0), conn(2, t0));
    n.notifier.on_sweep(
        &[fire(&p1), fire(&p2)],
        &[Arc::new(p1.clone()), Arc::new(p2.clone())],
        t0,
    );
    assert!(
        until(Duration::from_secs(5), || n.count("terminal", "delivered")
            == 1)
        .await
    );
    clock.advance(Duration::from_secs(60));
    n.notifier.on_sweep(
        &[resolve(&p2, clock.now())],
        &[Arc::new(p1.clone())],
        clock.now(),
    );
    assert!(
        until(Duration::from_secs(5), || n.count("terminal", "delivered")
            == 2)
        .await
    );
    let text = logs.text();
    let alert_lines: Vec<&str> = text.lines().filter(|l| l.contains(" alert: ")).collect();
    assert_eq!(alert_lines.len(), 3, "{text}");
    assert!(
        alert_lines[0].contains("WARN")
            && alert_lines[0]
                .contains("FIRING [critical] ProfileConnectivityDegraded profile_id=1")
    );
    assert!(alert_lines[1].contains("WARN") && alert_lines[1].contains("profile_id=2"));
    assert!(alert_lines[2].contains("INFO") && alert_lines[2].contains("RESOLVED"));
}

// ---------------------------------------------------------------------------------------
// The state file.

#[tokio::test]
async fn an_undelivered_notification_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let mut cfg = ops_config(dir.path(), &sink);
    cfg.alerting.group_wait = Duration::from_secs(30);
    let clock = manual();
    let t0 = clock.now();
    let p1 = conn(1, t0);
    let first = start(&cfg, clock.clone(), fast());
    assert!(first.restored.is_empty());
    first
        .notifier
        .on_sweep(&[fire(&p1)], &[Arc::new(p1.clone())], t0);
    // Killed before its group closed: no shutdown, nothing sent.
    drop(first);
    assert_eq!(sink.count(), 0);

    let second = start(&cfg, clock.clone(), fast());
    assert_eq!(
        second.restored,
        vec![p1.clone()],
        "the judge's alerts come back"
    );
    assert_eq!(second.notifier.queue_len(), 1);
    assert_eq!(second.monitor.notification_queue.get(), 1);
    clock.advance(Duration::from_secs(31));
    second.notifier.poke();
    assert!(until(Duration::from_secs(5), || second.notifier.queue_len() == 0).await);
    assert_eq!(sink.count(), 1);
    assert_eq!(
        sink.requests()[0].alerts(),
        vec!["firing ProfileConnectivityDegraded/1"]
    );

    // The next notification's id follows the saved ones.
    second
        .notifier
        .on_sweep(&[fire(&conn(2, clock.now()))], &[], clock.now());
    assert!(second.notifier.outbox()[0].id > 1);
}

#[tokio::test]
async fn a_restarted_daemon_does_not_reannounce_and_announces_what_cleared_meanwhile() {
    use common::{healthy_detail, patched, start_sim, test_config};
    let sim = start_sim(inventory_monitor::simulator::SimOptions {
        profiles: 0,
        ..Default::default()
    })
    .await;
    let unhealthy = |id: u64| {
        patched(
            healthy_detail(id, &format!("Profile {id}"), "North"),
            json!({"health_status": {"connectivity": "unhealthy"}}),
        )
    };
    sim.sim.upsert_profile(unhealthy(1));
    sim.sim.upsert_profile(unhealthy(2));
    sim.sim
        .upsert_profile(healthy_detail(3, "Profile 3", "North"));

    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let mut cfg = test_config(&sim.base_url);
    cfg.state.dir = dir.path().join("state");
    cfg.alerting.group_wait = Duration::ZERO;
    cfg.alerting.repeat_interval = Duration::from_secs(3600);
    cfg.alerting.receivers = vec![receiver("ops", ReceiverKind::Webhook, &sink.url("ops"))];
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let token = sim.sim.token().to_string();

    let mut first =
        Daemon::with_notifier(cfg.clone(), Secret::new(token.clone()), clock.clone()).unwrap();
    let outcome = first.sweep_once().await;
    assert_eq!(outcome.transitions.len(), 2);
    assert!(until(Duration::from_secs(5), || sink.count() == 1).await);
    assert!(
        until(Duration::from_secs(5), || first
            .notifier()
            .is_some_and(|n| n.queue_len() == 0))
        .await
    );
    first.shutdown().await;
    assert_eq!(
        sink.requests()[0].alerts(),
        vec![
            "firing ProfileConnectivityDegraded/1",
            "firing ProfileConnectivityDegraded/2"
        ]
    );

    // While it is down, profile 2 recovers.
    sim.sim
        .upsert_profile(healthy_detail(2, "Profile 2", "North"));
    clock.advance(Duration::from_secs(600));

    let mut second =
        Daemon::with_notifier(cfg.clone(), Secret::new(token.clone()), clock.clone()).unwrap();
    assert_eq!(
        second.judge().firing().count(),
        2,
        "the judge is restored before the first sweep"
    );
    let outcome = second.sweep_once().await;
    assert_eq!(
        outcome.transitions.len(),
        1,
        "only the resolution: {:?}",
        outcome.transitions
    );
    assert!(until(Duration::from_secs(5), || sink.count() == 2).await);
    assert_eq!(
        sink.requests()[1].alerts(),
        vec!["resolved ProfileConnectivityDegraded/2"]
    );

    // Reminder timing carried over: due an hour after the first announcement, not after
    // the restart.
    clock.advance(Duration::from_secs(2400));
    second.sweep_once().await;
    assert_eq!(
        second.notifier().map(|n| n.queue_len()),
        Some(0),
        "50 min after: no reminder"
    );
    clock.advance(Duration::from_secs(600));
    second.sweep_once().await;
    assert!(until(Duration::from_secs(5), || sink.count() == 3).await);
    assert_eq!(
        sink.requests()[2].alerts(),
        vec!["firing ProfileConnectivityDegraded/1"]
    );
    second.shutdown().await;
    assert_eq!(sink.count(), 3, "nothing else was sent");
}

#[tokio::test]
async fn a_corrupt_state_file_is_moved_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let garbage = "{\"version\": 1, \"alerts\": [tru";
    std::fs::write(state_dir.join("state.json"), garbage).unwrap();
    let cfg = config(
        dir.path(),
        vec![receiver("terminal", ReceiverKind::Log, "")],
    );
    let (logs, _guard) = capture_logs();
    let n = start(&cfg, manual(), fast());
    assert!(n.restored.is_empty());
    assert_eq!(n.notifier.queue_len(), 0);

    let aside: Vec<_> = std::fs::read_dir(&state_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.json.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "moved aside, not deleted");
    assert_eq!(
        std::fs::read_to_string(aside[0].path()).unwrap(),
        garbage,
        "kept as it was"
    );
    assert_eq!(
        read_state(dir.path())["version"],
        1,
        "a fresh state file replaces it"
    );

    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no ERROR in:\n{text}"));
    assert!(line.contains("state.json"), "{line}");
    assert!(
        line.contains("EOF while parsing"),
        "names the parse error: {line}"
    );
    assert!(
        line.contains(&aside[0].file_name().to_string_lossy().to_string()),
        "{line}"
    );
}

#[tokio::test]
async fn the_state_file_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let cfg = ops_config(dir.path(), &sink);
    let n = start(&cfg, Arc::new(SystemClock), fast());
    let path = n.notifier.state_file();

    // A reader that keeps reading the file while it is rewritten: every read must be whole.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            let (mut reads, mut torn) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    reads += 1;
                    if serde_json::from_str::<Value>(&text).is_err() {
                        torn.push(text);
                    }
                }
            }
            (reads, torn)
        })
    };
    let mut active = Vec::new();
    for id in 1..=100 {
        let now = SystemTime::now();
        let p = conn(id, now);
        active.push(p.clone());
        n.notifier.on_sweep(&[fire(&p)], &shared(&active), now);
        let saved = read_state(dir.path());
        assert_eq!(
            saved["alerts"].as_array().map(Vec::len),
            Some(id as usize),
            "written at every sweep"
        );
    }
    assert!(until(Duration::from_secs(10), || n.notifier.queue_len() == 0).await);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (reads, torn) = reader.join().unwrap();
    assert!(reads > 0);
    assert!(torn.is_empty(), "{} torn reads of {reads}", torn.len());
    n.notifier.shutdown(Duration::from_secs(1)).await;

    let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.contains("tmp")).count(),
        0,
        "no temporary file left behind: {names:?}"
    );
    let saved = read_state(dir.path());
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["outbox"].as_array().map(Vec::len), Some(0));
    let told = &saved["receivers"][0]["last_notified"];
    assert_eq!(
        told.as_array().map(Vec::len),
        Some(100),
        "what was told is recorded"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
    }
}

#[tokio::test]
async fn shutdown_saves_the_outbox_and_returns_within_its_grace() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Sink::start().await;
    failing.always(Reply::status(500));
    let hanging = Sink::start().await;
    hanging.always(Reply::hang());
    let cfg = config(
        dir.path(),
        vec![
            receiver("failing", ReceiverKind::Webhook, &failing.url("failing")),
            receiver("hanging", ReceiverKind::Webhook, &hanging.url("hanging")),
        ],
    );
    let n = start(&cfg, Arc::new(SystemClock), DeliveryTuning::default());
    let now = SystemTime::now();
    let p1 = conn(1, now);
    n.notifier
        .on_sweep(&[fire(&p1)], &[Arc::new(p1.clone())], now);
    assert!(
        until(Duration::from_secs(5), || {
            hanging.count() == 1
                && n.notifier
                    .outbox()
                    .iter()
                    .any(|e| e.receiver == "failing" && e.attempts == 1)
        })
        .await
    );

    let began = Instant::now();
    n.notifier.shutdown(Duration::from_millis(500)).await;
    let took = began.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");

    let saved = read_state(dir.path());
    let outbox = saved["outbox"].as_array().unwrap();
    assert_eq!(outbox.len(), 2);
    let failing_entry = outbox.iter().find(|e| e["receiver"] == "failing").unwrap();
    assert_eq!(failing_entry["attempts"], 1);
    assert!(failing_entry["last_error"]
        .as_str()
        .unwrap()
        .starts_with("HTTP 500"));
    assert!(
        !saved.to_string().contains("s3cr3t"),
        "no URL in the state file"
    );

    // Restarted with the receivers fixed, both are delivered.
    let good = Sink::start().await;
    let cfg = config(
        dir.path(),
        vec![
            receiver("failing", ReceiverKind::Webhook, &good.url("failing")),
            receiver("hanging", ReceiverKind::Webhook, &good.url("hanging")),
        ],
    );
    let n = start(&cfg, Arc::new(SystemClock), fast());
    assert!(until(Duration::from_secs(10), || n.notifier.queue_len() == 0).await);
    assert_eq!(good.count(), 2);
}

#[tokio::test]
async fn a_receiver_removed_from_the_config_has_its_queue_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        dir.path(),
        vec![receiver("old", ReceiverKind::Webhook, &refused_url())],
    );
    cfg.alerting.group_wait = Duration::from_secs(3600);
    let clock = manual();
    let first = start(&cfg, clock.clone(), fast());
    let p1 = conn(1, clock.now());
    first
        .notifier
        .on_sweep(&[fire(&p1)], &[Arc::new(p1.clone())], clock.now());
    first.notifier.shutdown(Duration::from_secs(1)).await;

    let cfg = config(
        dir.path(),
        vec![receiver("terminal", ReceiverKind::Log, "")],
    );
    let second = start(&cfg, clock.clone(), fast());
    assert_eq!(second.notifier.queue_len(), 0);
    assert_eq!(second.count("old", "dropped"), 1);
}

// ---------------------------------------------------------------------------------------
// notify-test.

const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");

async fn notify_test(config: &Path, extra: &[&str]) -> (i32, String, String) {
    Launch::new(BIN)
        .arg("notify-test")
        .arg("--config")
        .arg(config)
        .args(extra)
        .env("IM_TEST_TOKEN", "tok")
        .output(Duration::from_secs(60))
        .await
}

#[tokio::test]
async fn notify_test_reports_each_receiver_and_exits_by_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let ok = Sink::start().await;
    let broken = Sink::start().await;
    broken.always(Reply::status(404));
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:9/api/v1\"\ntoken_env = \"IM_TEST_TOKEN\"\n\
             [state]\ndir = \"{}\"\n\
             [[alerting.receivers]]\nname = \"ok\"\nkind = \"slack\"\nurl = \"{}\"\n\
             [[alerting.receivers]]\nname = \"broken\"\nkind = \"webhook\"\nurl = \"{}\"\n\
             [[alerting.receivers]]\nname = \"terminal\"\nkind = \"log\"\n",
            dir.path().join("state").display(),
            ok.url("ok"),
            broken.url("broken"),
        ),
    )
    .unwrap();

    let (code, stdout, stderr) = notify_test(&path, &[]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "ok: delivered (HTTP 200)", "{stdout}");
    assert!(lines[1].starts_with("broken: FAILED (HTTP 404"), "{stdout}");
    assert_eq!(lines[2], "terminal: delivered (logged)", "{stdout}");
    assert!(!stdout.contains("s3cr3t") && !stderr.contains("s3cr3t"));
    assert!(
        ok.requests()[0].text().contains("Test notification"),
        "clearly marked"
    );
    assert!(
        !dir.path().join("state").exists(),
        "notify-test keeps no state"
    );

    let (code, stdout, _) = notify_test(&path, &["--receiver", "ok"]).await;
    assert_eq!((code, stdout.as_str()), (0, "ok: delivered (HTTP 200)\n"));
    assert_eq!(broken.count(), 1, "only the receiver asked for");

    let (code, _, stderr) = notify_test(&path, &["--receiver", "nope"]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("\"nope\"") && stderr.contains("ok, broken, terminal"),
        "{stderr}"
    );
}

/// A config whose API token variable is never set, with receivers `a` (its URL in
/// `IM_NT_A_URL`) and, when `with_b`, `b` (its URL in `IM_NT_B_URL`).
fn config_without_token(dir: &Path, with_b: bool) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    let b = if with_b {
        "[[alerting.receivers]]\nname = \"b\"\nkind = \"webhook\"\nurl_env = \"IM_NT_B_URL\"\n"
    } else {
        ""
    };
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:9/api/v1\"\ntoken_env = \"IM_NT_NEVER_SET_TOKEN\"\n\
             [state]\ndir = \"{}\"\n\
             [[alerting.receivers]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"IM_NT_A_URL\"\n{b}",
            dir.join("state").display(),
        ),
    )
    .unwrap();
    path
}

async fn notify_test_with(
    config: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut launch = Launch::new(BIN)
        .arg("notify-test")
        .arg("--config")
        .arg(config)
        .args(extra);
    for (k, v) in env {
        launch = launch.env(k, v);
    }
    launch.output(Duration::from_secs(60)).await
}

#[tokio::test]
async fn notify_test_needs_no_api_token() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let path = config_without_token(dir.path(), false);
    let a = sink.url("a");

    let (code, stdout, stderr) = notify_test_with(&path, &[], &[("IM_NT_A_URL", &a)]).await;
    assert_eq!(
        (code, stdout.as_str()),
        (0, "a: delivered (HTTP 200)\n"),
        "{stderr}"
    );
    assert_eq!(sink.count(), 1);
    assert!(sink.requests()[0].text().contains("Test notification"));

    // `check` (and `run`) still need it.
    let (code, _, stderr) = Launch::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .env("IM_NT_A_URL", &a)
        .output(Duration::from_secs(60))
        .await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "api.token_env (line 3): environment variable IM_NT_NEVER_SET_TOKEN is not set"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn notify_test_of_one_receiver_needs_only_that_receivers_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start().await;
    let path = config_without_token(dir.path(), true);
    let a = sink.url("a");
    let env = [("IM_NT_A_URL", a.as_str())];

    let (code, stdout, stderr) = notify_test_with(&path, &["--receiver", "a"], &env).await;
    assert_eq!(
        (code, stdout.as_str()),
        (0, "a: delivered (HTTP 200)\n"),
        "{stderr}"
    );
    assert_eq!(sink.count(), 1);

    // Testing them all needs b's URL too: refused before anything is sent, naming its key.
    let (code, stdout, stderr) = notify_test_with(&path, &[], &env).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("1 problem(s):")
            && stderr.contains("alerting.receivers[1].url_env (line 13): environment variable IM_NT_B_URL is not set"),
        "{stderr}"
    );
    assert_eq!(sink.count(), 1, "nothing sent");

    // An unknown name lists the names there are.
    let (code, _, stderr) = notify_test_with(&path, &["--receiver", "c"], &env).await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("\"c\"") && stderr.contains("a, b"),
        "{stderr}"
    );

    // The others are still checked for everything but their secrets.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{text}url = \"https://b.example/\"\nlevel = 3\n"),
    )
    .unwrap();
    let (code, _, stderr) = notify_test_with(&path, &["--receiver", "a"], &env).await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("2 problem(s):")
            && stderr.contains("alerting.receivers[1] (line 10): url and url_env are both set")
            && stderr.contains("alerting.receivers[1].level (line 15): unknown field `level`"),
        "{stderr}"
    );
    assert_eq!(sink.count(), 1, "nothing sent");
}
