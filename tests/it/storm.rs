//! Storms: a large share of the fleet degrading at once. A machine receiver (`webhook`) gets
//! every alert, in payloads of at most its `max_alerts`, across a SIGKILL during delivery;
//! a chat receiver gets a bounded number of messages that say how many more there are; a
//! group that keeps growing while its receiver refuses it still ends fully delivered.
//!
//! The end-to-end test runs the real binary (debug build, two CI cores) against the
//! in-process simulator at 2,000 profiles of which 1,000 degrade at once, with
//! `max_alerts = 100`: the same shape as the 20,000 / 10,000 / 1,000 storm, at a tenth of
//! the scale so that it stays within seconds. The full scale is the soak's storm fault
//! (release build): `cargo bench --bench soak -- --profiles 20000` takes half the fleet
//! down at once, with a SIGKILL while the storm is delivered. Every wait is a condition
//! with a deadline.

use crate::child;
use crate::common;
use crate::common::shared;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use child::{wait_until, Alerting, Monitor, Received, Sink, Webhook};
use inventory_monitor::clock::SystemClock;
use inventory_monitor::config::{Config, ReceiverConfig, ReceiverKind};
use inventory_monitor::metrics::MonitorMetrics;
use inventory_monitor::notify::{DeliveryTuning, Notifier};
use inventory_monitor::rules::{Alert, AlertKey, AlertName, AlertState, Transition};
use inventory_monitor::shard::Shard;
use inventory_monitor_testkit::sink::{Reply, Sink as KitSink};

/// Profiles in the fleet.
const FLEET: u64 = 2_000;

/// Profiles that degrade at once.
const STORM: u64 = 1_000;

/// The webhook receiver's `max_alerts`.
const MAX_ALERTS: usize = 100;

/// The deadline for what the daemon does within a few sweeps of 2,000 profiles.
const SOON: Duration = Duration::from_secs(60);

/// The profile ids of every delivered alert of `status`, with how often each arrived.
fn tally(delivered: &[Received], status: &str) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for alert in delivered.iter().flat_map(Received::alerts) {
        if alert.status == status && alert.alertname == "ProfileConnectivityDegraded" {
            *seen.entry(alert.profile_id).or_insert(0) += 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_across_a_kill_reaches_the_webhook_whole_and_chat_in_few_messages() {
    let sim = common::fleet(1..=FLEET).await;
    let ids: Vec<u64> = (1..=STORM).map(|i| i * 2).collect();
    let sink = Sink::start().await;
    // A receiver that takes 50 ms per payload: delivering the storm takes a while, so
    // the kill lands while batches are still going out.
    sink.always(Reply::ok().delay(Duration::from_millis(50)));
    let chat = KitSink::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let more = format!(
        "max_alerts = {MAX_ALERTS}\n\
         [[alerting.receivers]]\n\
         name = \"chat\"\n\
         kind = \"slack\"\n\
         url = \"{}\"\n",
        chat.url("/chat/s3cr3t")
    );
    let mut monitor =
        Monitor::with_config(dir.path(), &sim, &sink, Alerting::of("1s", "1h"), &more);
    monitor.start();
    // A whole sweep of the healthy fleet first: the storm is a change, not a first sight.
    assert!(
        wait_until(SOON, || sim.sim.requests().detail >= 2 * FLEET).await,
        "the first sweeps\n{}",
        monitor.log_text()
    );

    for &id in &ids {
        sim.degrade(id);
    }
    // Kill during delivery: some batches taken, not all.
    assert!(
        sink.kit()
            .wait_until(SOON, |r| r.iter().filter(|r| r.delivered()).count() >= 3)
            .await,
        "the storm's first batches arrive\n{}",
        monitor.log_text()
    );
    monitor.kill().await;
    let before_restart = sink.delivered().len();
    assert!(
        tally(&sink.delivered(), "firing").len() < ids.len(),
        "the kill landed during delivery ({before_restart} payloads so far)"
    );
    monitor.start();

    let all_firing = wait_until(SOON, || {
        tally(&sink.delivered(), "firing").len() == ids.len()
    })
    .await;
    let delivered = sink.delivered();
    let firing = tally(&delivered, "firing");
    assert!(
        all_firing,
        "{} of {} firing alerts delivered\n{}",
        firing.len(),
        ids.len(),
        monitor.log_text()
    );
    assert_eq!(
        firing.keys().copied().collect::<Vec<_>>(),
        ids,
        "exactly the degraded profiles"
    );
    assert_payloads_within(&delivered, MAX_ALERTS);
    // At most the batch in flight at the kill arrives twice.
    let repeated: usize = firing.values().map(|n| n - 1).sum();
    assert!(
        repeated <= MAX_ALERTS * monitor.kills as usize,
        "{repeated} alerts repeated after {} kill(s)",
        monitor.kills
    );

    // Everyone recovers: every resolution arrives, each after its firing.
    for &id in &ids {
        sim.recover(id);
    }
    let all_resolved = wait_until(SOON, || {
        tally(&sink.delivered(), "resolved").len() == ids.len()
    })
    .await;
    let delivered = sink.delivered();
    assert!(
        all_resolved,
        "{} of {} resolutions delivered\n{}",
        tally(&delivered, "resolved").len(),
        ids.len(),
        monitor.log_text()
    );
    assert_payloads_within(&delivered, MAX_ALERTS);
    let mut first_firing: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, alert) in delivered.iter().flat_map(Received::alerts).enumerate() {
        match alert.status.as_str() {
            "firing" => {
                first_firing.entry(alert.profile_id).or_insert(i);
            }
            _ => assert!(
                first_firing.contains_key(&alert.profile_id),
                "profile {}: resolved before it was announced firing",
                alert.profile_id
            ),
        }
    }
    assert!(
        tally(&delivered, "resolved").values().all(|n| *n == 1),
        "no kill after the recovery: each resolution once"
    );

    // The chat receiver: a handful of messages, each listing 20 and counting the rest.
    let messages = chat.received();
    assert!(
        (2..=10).contains(&messages.len()),
        "{} chat messages for a storm of {STORM} and its recovery",
        messages.len()
    );
    assert!(
        messages.iter().any(|m| m.text().contains(" more")),
        "a chat message says how many more there are"
    );
    let attachments = |m: &Received| m.json()["attachments"].as_array().map_or(0, Vec::len);
    assert!(messages.iter().all(|m| attachments(m) <= 20));
}

// ---------------------------------------------------------------------------------------
// A group that keeps growing while its receiver refuses it.

fn conn(id: u64, since: SystemTime) -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, id),
        severity: "critical".into(),
        profile_name: format!("Profile {id}").into(),
        organization: "North".into(),
        summary: format!("profile {id} is unreachable").into(),
        description: "details".into(),
        state: AlertState::Firing,
        active_since: since,
        firing_since: Some(since),
        resolved_at: None,
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

fn resolved(a: &Alert, at: SystemTime) -> Alert {
    Alert {
        state: AlertState::Resolved,
        resolved_at: Some(at),
        ..a.clone()
    }
}

#[tokio::test]
async fn a_group_that_grows_between_failed_attempts_ends_fully_delivered_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = KitSink::start().await;
    sink.always(Reply::status(503));
    let mut config = Config::default();
    config.state.dir = dir.path().join("state");
    config.alerting.group_wait = Duration::ZERO;
    config.alerting.receivers = vec![ReceiverConfig {
        url: Some(sink.url("/hook/s3cr3t")),
        max_alerts: Some(4),
        ..ReceiverConfig::new("ops", ReceiverKind::Webhook)
    }];
    let tuning = DeliveryTuning {
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        pacing: false,
    };
    let monitor = Arc::new(MonitorMetrics::new(Shard::default()));
    let (notifier, _) = Notifier::start_with(&config, monitor, Arc::new(SystemClock), tuning)
        .expect("notifier starts");

    let t0 = SystemTime::now();
    let mut active: Vec<Alert> = (1..=6).map(|i| conn(i, t0)).collect();
    let fire = |alerts: &[Alert]| -> Vec<Transition> {
        alerts
            .iter()
            .map(|a| Transition {
                alert: a.clone().into(),
            })
            .collect()
    };
    notifier.on_sweep(&fire(&active), &shared(&active), t0);
    // The group grows while its first batch is refused, sweep after sweep.
    for round in 0..3u64 {
        assert!(sink.wait_count(2 * (round as usize + 1), SOON).await);
        let now = SystemTime::now();
        let new: Vec<Alert> = (1..=5).map(|i| conn(100 * (round + 1) + i, now)).collect();
        let mut changes = fire(&new);
        active.extend(new);
        if round == 1 {
            // Three of the first alerts clear meanwhile.
            for a in active.iter().filter(|a| a.key.profile_id <= Some(3)) {
                changes.push(Transition {
                    alert: resolved(a, now).into(),
                });
            }
            active.retain(|a| a.key.profile_id > Some(3));
        }
        notifier.on_sweep(&changes, &shared(&active), now);
    }
    assert!(notifier.queue_len() > 0, "nothing taken yet");
    sink.always(Reply::ok());
    notifier.poke();
    assert!(
        wait_until(SOON, || notifier.queue_len() == 0).await,
        "the queue drains"
    );

    let delivered = sink.delivered();
    assert_payloads_within(&delivered, 4);
    let firing = tally(&delivered, "firing");
    let mut want: Vec<u64> = (1..=6).collect();
    want.extend((1..=3).flat_map(|r| (1..=5).map(move |i| 100 * r + i)));
    assert_eq!(firing.keys().copied().collect::<Vec<_>>(), want);
    assert!(firing.values().all(|n| *n == 1), "each firing once");
    let order: Vec<String> = delivered
        .iter()
        .flat_map(Received::alerts)
        .map(|a| a.short())
        .collect();
    for id in 1..=3 {
        let fired = order.iter().position(|s| *s == format!("firing {id}"));
        let cleared = order.iter().position(|s| *s == format!("resolved {id}"));
        assert!(
            matches!((fired, cleared), (Some(f), Some(c)) if f < c),
            "profile {id}: firing then resolved, in {order:?}"
        );
    }
    notifier.shutdown(Duration::from_secs(1)).await;
}

/// Every payload is whole, within `max` alerts, and of receiver `ops`' one `groupKey`.
fn assert_payloads_within(delivered: &[Received], max: usize) {
    for r in delivered {
        let payload = r.payload();
        let alerts = payload["alerts"].as_array().map_or(0, Vec::len);
        assert!((1..=max).contains(&alerts), "{alerts} alerts, max {max}");
        assert_eq!(payload["truncatedAlerts"], 0);
        assert_eq!(payload["groupKey"], r#"{}/{receiver="ops"}:{}"#);
    }
}

#[tokio::test]
async fn an_alertmanager_push_larger_than_max_alerts_goes_out_as_bounded_posts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = KitSink::start().await;
    let mut config = Config::default();
    config.state.dir = dir.path().join("state");
    config.alerting.receivers = vec![ReceiverConfig {
        url: Some(sink.url("/am")),
        max_alerts: Some(2),
        ..ReceiverConfig::new("am", ReceiverKind::Alertmanager)
    }];
    let tuning = DeliveryTuning {
        pacing: false,
        ..DeliveryTuning::default()
    };
    let monitor = Arc::new(MonitorMetrics::new(Shard::default()));
    let (notifier, _) = Notifier::start_with(&config, monitor, Arc::new(SystemClock), tuning)
        .expect("notifier starts");
    let now = SystemTime::now();
    let active: Vec<Alert> = (1..=5).map(|i| conn(i, now)).collect();
    let changes: Vec<Transition> = active
        .iter()
        .map(|a| Transition {
            alert: a.clone().into(),
        })
        .collect();
    notifier.on_sweep(&changes, &shared(&active), now);
    notifier.poke();
    assert!(
        wait_until(SOON, || notifier.queue_len() == 0).await,
        "the push is delivered"
    );
    let posts = sink.delivered();
    assert_eq!(posts.len(), 3, "5 alerts in POSTs of at most 2");
    let mut ids = Vec::new();
    for post in &posts {
        assert!(post.route().ends_with("/api/v2/alerts"), "{}", post.route());
        let alerts = post.json();
        let alerts = alerts.as_array().expect("a list of postable alerts");
        assert!((1..=2).contains(&alerts.len()));
        ids.extend(
            alerts
                .iter()
                .filter_map(|a| a["labels"]["profile_id"].as_str()?.parse::<u64>().ok()),
        );
    }
    assert_eq!(ids, vec![1, 2, 3, 4, 5], "every alert, in order");
    notifier.shutdown(Duration::from_secs(1)).await;
}
