//! SIGHUP reloads the configuration of a running daemon (the binary as a child process):
//! receivers, rules and intervals change without losing alert state, and a bad config is
//! refused with the old one kept.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;
use inventory_monitor_testkit::child::{Child, Launch, Signal};
use inventory_monitor_testkit::exposition::find;
use inventory_monitor_testkit::place::free_port;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");

fn write_config(path: &Path, base_url: &str, port: u16, state: &Path, rest: &str) {
    std::fs::write(
        path,
        format!(
            "[api]\nbase_url = \"{base_url}\"\ntoken_env = \"IM_TEST_TOKEN\"\n[poll]\ninterval = \"1s\"\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{}\"\n\
             [alerting]\ngroup_wait = \"0s\"\n{rest}",
            state.display()
        ),
    )
    .unwrap();
}

fn receiver(name: &str, env: &str) -> String {
    format!("[[alerting.receivers]]\nname = \"{name}\"\nkind = \"webhook\"\nurl_env = \"{env}\"\n")
}

pub(crate) async fn hup(child: &Child) {
    child.signal(Signal::Hup).expect("send SIGHUP");
}

async fn metric(addr: std::net::SocketAddr, name: &str) -> Option<f64> {
    let (_, m) = scrape(addr).await;
    find(&m, name, &[])
}

/// Waits until `sink` has been told `alert`; true when it was within `deadline`.
async fn hears(sink: &RecordingSink, alert: &str, deadline: Duration) -> bool {
    wait_for(deadline, || async {
        sink.alerts().iter().any(|a| a == alert)
    })
    .await
}

/// Waits (10 s at most) until the daemon reports its last reload as `outcome` (1: it
/// succeeded, 0: it failed).
pub(crate) async fn reload_reported(addr: std::net::SocketAddr, outcome: f64) -> bool {
    wait_for(Duration::from_secs(10), || async {
        metric(addr, "inventory_monitor_config_last_reload_successful").await == Some(outcome)
    })
    .await
}

#[tokio::test]
async fn sighup_swaps_receivers_and_rules_without_losing_alert_state() {
    let sim = empty_sim().await;
    sim.sim.upsert_profile(patched(
        healthy_detail(1, "Broken Link", "Org"),
        json!({"health_status": {"connectivity": "unhealthy"}}),
    ));
    sim.sim.upsert_profile(healthy_detail(2, "Fine", "Org"));
    let first = RecordingSink::start().await;
    let second = RecordingSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.toml");
    let state = dir.path().join("state");
    write_config(
        &config,
        &sim.base_url,
        port,
        &state,
        &receiver("first", "HOOK_FIRST"),
    );

    let mut child = Launch::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .env("IM_TEST_TOKEN", "demo-token")
        .env("HOOK_FIRST", first.url())
        .env("HOOK_SECOND", second.url())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // The alert fires and reaches the first receiver.
    assert!(
        hears(
            &first,
            "firing ProfileConnectivityDegraded/1",
            Duration::from_secs(20)
        )
        .await,
        "first receiver never got the alert"
    );

    // A bad config is refused: the daemon keeps running with the old one.
    std::fs::write(&config, "[api]\nbase_url = 12\n").unwrap();
    hup(&child).await;
    assert!(
        reload_reported(addr, 0.0).await,
        "a bad config was not reported as a failed reload"
    );
    assert!(child.is_running(), "the daemon died on a bad reload");

    // Swap the receiver: the second one learns of the alert that is still firing (as a
    // reminder, not a new firing), and the first hears nothing more.
    write_config(
        &config,
        &sim.base_url,
        port,
        &state,
        &receiver("second", "HOOK_SECOND"),
    );
    hup(&child).await;
    assert!(reload_reported(addr, 1.0).await);
    assert!(
        hears(
            &second,
            "firing ProfileConnectivityDegraded/1",
            Duration::from_secs(20)
        )
        .await,
        "second receiver never heard of the firing alert"
    );
    let first_count = first.bodies().len();

    // Switch the rule off: the alert resolves, announced to the receiver now configured.
    write_config(
        &config,
        &sim.base_url,
        port,
        &state,
        &format!(
            "{}[rules.connectivity]\nenabled = false\n",
            receiver("second", "HOOK_SECOND")
        ),
    );
    hup(&child).await;
    assert!(
        hears(
            &second,
            "resolved ProfileConnectivityDegraded/1",
            Duration::from_secs(20)
        )
        .await,
        "disabling the rule did not resolve the alert"
    );
    assert_eq!(
        first.bodies().len(),
        first_count,
        "the removed receiver got more"
    );
    // The alert was announced as firing once per receiver: state was not lost or replayed.
    let firing = |alerts: Vec<String>| {
        alerts
            .iter()
            .filter(|a| *a == "firing ProfileConnectivityDegraded/1")
            .count()
    };
    assert_eq!(firing(first.alerts()), 1);
    assert_eq!(firing(second.alerts()), 1);
    let (_, m) = scrape(addr).await;
    assert_eq!(
        find(&m, "inventory_profile_alert_firing", &[("profile_id", "1")]),
        None
    );

    let status = child.stop(Signal::Term, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}
