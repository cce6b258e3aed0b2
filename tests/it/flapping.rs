//! Flap detection end to end (README, Flapping): the simulator with a profile whose
//! connectivity toggles every sweep beside one that is steadily degraded, an in-process
//! daemon delivering to a recording webhook at `group_wait = "0s"`, a manual clock, and a
//! restart on the same state directory.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use inventory_monitor::clock::ManualClock;
use inventory_monitor::config::{Config, ReceiverConfig, ReceiverKind, Secret};
use inventory_monitor::daemon::Daemon;
use inventory_monitor::vocabulary::AlertName;
use inventory_monitor_testkit::wait::wait_until as until;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::common::{self, healthy_detail, patched, RecordingSink};

/// Connectivity messages the toggling profile may cost before flapping is recognised. With
/// the default window (21), a condition that changes every sweep from its first one reaches
/// a weighted share of 0.451 after 8 changes and 0.502 (> high = 0.5) on the 9th (README,
/// Flapping: the worked example): sweeps 1 to 8 are announced, 4 firings and 4 resolutions.
const BOUND: usize = 8;

/// One sweep of `daemon`, then waits until what it queued is delivered.
async fn sweep(daemon: &mut Daemon, clock: &ManualClock) {
    daemon.sweep_once().await;
    let delivered = until(Duration::from_secs(10), || {
        daemon.notifier().is_some_and(|n| n.queue_len() == 0)
    })
    .await;
    assert!(delivered, "the notifications of a sweep are delivered");
    clock.advance(Duration::from_secs(60));
}

/// Serves `daemon`'s endpoints on 127.0.0.1:0 until the token is cancelled.
async fn serve(daemon: &Daemon) -> (std::net::SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(inventory_monitor::server::serve(
        listener,
        daemon.state(),
        async move { s.cancelled().await },
    ));
    (addr, stop)
}

fn config(base_url: &str, dir: &std::path::Path, sink: &RecordingSink) -> Config {
    let mut cfg = common::test_config(base_url);
    cfg.state.dir = dir.join("state");
    cfg.alerting.group_wait = Duration::ZERO;
    cfg.alerting.repeat_interval = Duration::from_secs(24 * 3600);
    cfg.alerting.receivers = vec![ReceiverConfig {
        url: Some(sink.url()),
        ..ReceiverConfig::new("ops", ReceiverKind::Webhook)
    }];
    cfg
}

#[tokio::test]
async fn a_toggling_profile_is_announced_as_flapping_once_and_stays_so_across_a_restart() {
    let sim = common::empty_sim().await;
    sim.sim
        .upsert_profile(healthy_detail(1, "Flaky Link", "North"));
    sim.sim.upsert_profile(patched(
        healthy_detail(2, "Broken Link", "North"),
        json!({"health_status": {"connectivity": "unhealthy"}}),
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = RecordingSink::start().await;
    let cfg = config(&sim.base_url, dir.path(), &sink);
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let token = sim.sim.token().to_string();
    let toggle = |sweep: u32| {
        let connectivity = if sweep % 2 == 1 {
            "unhealthy"
        } else {
            "healthy"
        };
        assert!(sim.sim.set_health(1, Some(connectivity), Some("valid")));
    };

    let mut first = Daemon::with_notifier(cfg.clone(), Secret::new(token.clone()), clock.clone())
        .expect("daemon starts");
    let (addr, stop) = serve(&first).await;
    for n in 1..=30 {
        toggle(n);
        sweep(&mut first, &clock).await;
    }

    let said = sink.alerts();
    let count = |what: &str| said.iter().filter(|a| *a == what).count();
    let toggler = said
        .iter()
        .filter(|a| a.ends_with(" ProfileConnectivityDegraded/1"))
        .count();
    assert!(
        (1..=BOUND).contains(&toggler),
        "{toggler} connectivity messages for the toggling profile (at most {BOUND}): {said:#?}"
    );
    assert_eq!(count("firing ProfileFlapping/1"), 1, "{said:#?}");
    assert_eq!(count("resolved ProfileFlapping/1"), 0, "{said:#?}");
    assert_eq!(
        count("firing ProfileConnectivityDegraded/2"),
        1,
        "the steady profile fires once: {said:#?}"
    );
    assert_eq!(said.len(), toggler + 2, "nothing else: {said:#?}");
    let flapping_alert = sink
        .bodies()
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .find(|a| a["labels"]["alertname"] == "ProfileFlapping")
        .expect("ProfileFlapping was sent");
    assert_eq!(
        flapping_alert["labels"]["condition"],
        "ProfileConnectivityDegraded"
    );
    assert_eq!(flapping_alert["labels"]["severity"], "warning");

    let (text, _) = common::scrape(addr).await;
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("inventory_profile_flapping{"))
        .collect();
    assert_eq!(series.len(), 1, "{series:?}");
    assert!(series[0].contains("profile_id=\"1\""), "{series:?}");
    assert!(
        series[0].contains("alertname=\"ProfileConnectivityDegraded\""),
        "{series:?}"
    );
    assert!(series[0].ends_with(" 1"), "{series:?}");
    // The status document names the condition, and shows the condition's own alert held.
    let status = common::get_json(addr, "/api/v1/status").await;
    let alerts = status["alerts"].as_array().cloned().unwrap_or_default();
    let of = |name: &str| {
        alerts
            .iter()
            .find(|a| a["alertname"] == name && a["profile_id"] == 1)
            .cloned()
    };
    let flapping = of("ProfileFlapping").expect("ProfileFlapping in the status document");
    assert_eq!(flapping["condition"], "ProfileConnectivityDegraded");
    // The condition's own alert, when the last sweep found it holding, is held.
    if let Some(own) = of("ProfileConnectivityDegraded") {
        assert_eq!(own["suppressed_by"][0]["kind"], "flapping", "{own:#}");
    }
    stop.cancel();
    first.shutdown().await;
    assert!(dir.path().join("state").join("flapping.json").exists());

    // The same state directory: still flapping, nothing announced again.
    let mut second =
        Daemon::with_notifier(cfg, Secret::new(token), clock.clone()).expect("daemon restarts");
    assert_eq!(
        second.judge().flapping().collect::<Vec<_>>(),
        vec![(1, AlertName::ProfileConnectivityDegraded)],
        "flapping before the first sweep after the restart"
    );
    for n in 31..=36 {
        toggle(n);
        sweep(&mut second, &clock).await;
    }
    assert_eq!(
        sink.alerts(),
        said,
        "nothing re-announced after the restart"
    );
    assert!(second
        .judge()
        .flapping()
        .any(|f| f == (1, AlertName::ProfileConnectivityDegraded)));
    second.shutdown().await;
}
