//! A real Alertmanager (Debian's `prometheus-alertmanager`) between inventory-monitor and a
//! webhook sink: our `alertmanager` receiver pushes to it, Alertmanager delivers, and two
//! replicas pushing the same alert (the high-availability setup) are delivered once.

use crate::common;
use crate::observability;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use inventory_monitor::clock::SystemClock;
use inventory_monitor::config::{ReceiverConfig, ReceiverKind, Secret};
use inventory_monitor::daemon::Daemon;
use inventory_monitor_testkit::child::Launch;
use inventory_monitor_testkit::tool::require_any;
use observability::free_port;
use serde_json::json;

/// Alertmanager's binary: Debian installs it as `prometheus-alertmanager`.
fn alertmanager() -> Option<std::path::PathBuf> {
    require_any(&["prometheus-alertmanager", "alertmanager"])
}

fn replica(
    base_url: &str,
    am_url: &str,
    state: &std::path::Path,
) -> inventory_monitor::config::Config {
    let mut config = test_config(base_url);
    config.state.dir = state.to_path_buf();
    config.alerting.receivers = vec![ReceiverConfig {
        url: Some(am_url.to_string()),
        ..ReceiverConfig::new("alertmanager", ReceiverKind::Alertmanager)
    }];
    config
}

/// Waits (15 s at most) until `sink` was told `alert`; true when it was.
async fn arrives(sink: &RecordingSink, alert: &str) -> bool {
    wait_for(Duration::from_secs(15), || async {
        sink.alerts().iter().any(|a| a == alert)
    })
    .await
}

/// How many times `sink` was told `alert`.
fn times(sink: &RecordingSink, alert: &str) -> usize {
    sink.alerts().iter().filter(|a| *a == alert).count()
}

/// Three sweeps of every replica, `pause` apart, as their poll loops would run them.
async fn sweep_all(replicas: &mut [Daemon], pause: Duration) {
    for _ in 0..3 {
        for r in replicas.iter_mut() {
            r.sweep_once().await;
        }
        tokio::time::sleep(pause).await;
    }
}

#[tokio::test]
async fn alertmanager_delivers_our_alert_once_though_two_replicas_push_it() {
    let Some(binary) = alertmanager() else { return };
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: sink\n  group_by: ['alertname', 'profile_id']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: sink\n    webhook_configs:\n      - url: '{}'\n        send_resolved: true\n",
            sink.url()
        ),
    )
    .unwrap();
    let port = free_port();
    let am = Launch::new(binary)
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // No gossip: a single instance, and no fixed cluster port.
        .arg("--cluster.listen-address=")
        .spawn()
        .unwrap();
    let am_url = format!("http://127.0.0.1:{port}");
    let ready = wait_ready(&format!("{am_url}/-/ready"), Duration::from_secs(20)).await;
    assert!(
        ready,
        "alertmanager did not become ready\n{}",
        am.stderr_text()
    );

    let sim = empty_sim().await;
    sim.sim.upsert_profile(patched(
        healthy_detail(7, "Dock Scanner Feed", "Main Warehouse"),
        json!({"health_status": {"connectivity": "unhealthy", "last_error": "TLS handshake timed out"}}),
    ));
    sim.sim
        .upsert_profile(healthy_detail(8, "Fine Feed", "Main Warehouse"));

    // Two replicas of the monitor (an HA pair: same fleet, own state), both pushing.
    let mut replicas = Vec::new();
    for i in 0..2 {
        let config = replica(
            &sim.base_url,
            &am_url,
            &dir.path().join(format!("state-{i}")),
        );
        replicas.push(
            Daemon::with_notifier(config, Secret::new("demo-token"), Arc::new(SystemClock))
                .unwrap(),
        );
    }
    // A few sweeps each, as the poll loop would do: every sweep re-sends the firing alert.
    sweep_all(&mut replicas, Duration::from_millis(300)).await;
    let firing = "firing ProfileConnectivityDegraded/7".to_string();
    assert!(
        arrives(&sink, &firing).await,
        "Alertmanager never delivered our alert; got {:?}",
        sink.alerts()
    );
    // Alertmanager holds what both replicas pushed as one alert: one notification.
    let alerts: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("{am_url}/api/v2/alerts"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    let alert = &alerts[0];
    assert_eq!(alert["labels"]["alertname"], "ProfileConnectivityDegraded");
    assert_eq!(alert["labels"]["profile_id"], "7");
    assert_eq!(alert["labels"]["organization"], "Main Warehouse");
    assert!(alert["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("TLS handshake timed out"));

    // More pushes from both replicas within repeat_interval: still delivered once.
    sweep_all(&mut replicas, Duration::from_millis(400)).await;
    assert_eq!(times(&sink, &firing), 1, "{:?}", sink.alerts());

    // The profile recovers: both replicas push the resolution; it is delivered once.
    sim.sim.set_health(7, Some("healthy"), Some("valid"));
    sweep_all(&mut replicas, Duration::from_millis(300)).await;
    let resolved = "resolved ProfileConnectivityDegraded/7".to_string();
    assert!(
        arrives(&sink, &resolved).await,
        "the resolution never arrived; got {:?}",
        sink.alerts()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(times(&sink, &resolved), 1);
    for r in replicas {
        r.shutdown().await;
    }
    drop(am);
}
