//! `run --auto-reload-interval`: the daemon (the binary as a child process) reads its config
//! file every interval and reloads it when the content changed, as SIGHUP does: a changed
//! rule takes effect, a broken file is refused once (logged and counted once, however many
//! ticks see it) with the daemon running on, and a ConfigMap-style `..data` symlink swap is
//! seen though the file's path and mtime never change.

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use inventory_monitor_testkit::child::{Child, Launch, Signal};
use inventory_monitor_testkit::exposition::find;
use inventory_monitor_testkit::place::free_port;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");
const OK: &str = "inventory_monitor_config_last_reload_successful";
const WHEN: &str = "inventory_monitor_config_last_reload_success_timestamp_seconds";
const REFUSED: &str = "configuration reload failed";

/// A config polling `base_url` every second, serving on `port`; `rest` is appended.
fn config_text(base_url: &str, port: u16, state: &Path, rest: &str) -> String {
    format!(
        "[api]\nbase_url = \"{base_url}\"\ntoken_env = \"IM_TEST_TOKEN\"\n[poll]\ninterval = \"1s\"\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{}\"\n{rest}",
        state.display()
    )
}

const RULE_OFF: &str = "[rules.connectivity]\nenabled = false\n";

/// A simulator with one profile whose connectivity is down.
async fn one_broken_profile() -> Sim {
    let sim = empty_sim().await;
    sim.sim.upsert_profile(patched(
        healthy_detail(1, "Broken Link", "Org"),
        json!({"health_status": {"connectivity": "unhealthy"}}),
    ));
    sim
}

fn start(config: &Path) -> Child {
    Launch::new(BIN)
        .args(["run", "--auto-reload-interval", "1s", "--config"])
        .arg(config)
        .env("IM_TEST_TOKEN", "demo-token")
        .spawn()
        .expect("spawn the daemon")
}

async fn metric(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (_, m) = scrape(addr).await;
    find(&m, name, labels)
}

/// Whether profile 1's connectivity alert is firing, waited for (20 s at most).
async fn alert_becomes(addr: SocketAddr, firing: bool) -> bool {
    wait_for(Duration::from_secs(20), || async {
        let series = metric(
            addr,
            "inventory_profile_alert_firing",
            &[
                ("profile_id", "1"),
                ("alertname", "ProfileConnectivityDegraded"),
            ],
        )
        .await;
        series.is_some() == firing
    })
    .await
}

/// Waits (20 s at most) until the last successful reload's time moves past `since`.
async fn reloaded_after(addr: SocketAddr, since: f64) -> bool {
    wait_for(Duration::from_secs(20), || async {
        metric(addr, WHEN, &[]).await.is_some_and(|t| t > since)
    })
    .await
}

#[tokio::test]
async fn a_changed_file_is_reloaded_and_a_broken_one_refused_once() {
    let sim = one_broken_profile().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let state = dir.path().join("state");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, config_text(&sim.base_url, port, &state, "")).expect("write");
    let mut child = start(&file);

    assert!(
        wait_ready(&format!("http://{addr}/readyz"), Duration::from_secs(20)).await,
        "never ready\n{}",
        child.stderr_text()
    );
    assert!(alert_becomes(addr, true).await, "the alert never fired");
    let loaded = metric(addr, WHEN, &[]).await.expect("reload timestamp");
    assert_eq!(metric(addr, OK, &[]).await, Some(1.0));

    // The rule switched off in the file: reloaded with no signal, and in effect.
    std::fs::write(&file, config_text(&sim.base_url, port, &state, RULE_OFF)).expect("write");
    assert!(
        reloaded_after(addr, loaded).await,
        "the changed file was not reloaded\n{}",
        child.stderr_text()
    );
    assert!(
        alert_becomes(addr, false).await,
        "the rule change is not in effect"
    );
    assert_eq!(metric(addr, OK, &[]).await, Some(1.0));

    // A broken file: refused, counted, logged once however many ticks see it.
    std::fs::write(&file, "[api]\nbase_url = 12\n").expect("write");
    assert!(
        wait_for(Duration::from_secs(20), || async {
            metric(addr, OK, &[]).await == Some(0.0)
        })
        .await,
        "the broken file was not reported as a failed reload"
    );
    // Three more sweeps (one a second, as are the file's reads) see the same broken file.
    let sweeps = || async {
        metric(
            addr,
            "inventory_monitor_sweeps_total",
            &[("outcome", "complete")],
        )
        .await
        .unwrap_or(0.0)
    };
    let before = sweeps().await;
    assert!(
        wait_for(Duration::from_secs(20), || async {
            sweeps().await >= before + 3.0
        })
        .await,
        "the daemon stopped sweeping on a broken file"
    );
    assert!(child.is_running(), "the daemon died on a broken file");
    let log = child.stderr_text();
    assert_eq!(log.matches(REFUSED).count(), 1, "{log}");
    assert_eq!(metric(addr, OK, &[]).await, Some(0.0));

    // Fixed (here: the rule switched back on): reloaded, successful again.
    std::fs::write(&file, config_text(&sim.base_url, port, &state, "")).expect("write");
    assert!(
        wait_for(Duration::from_secs(20), || async {
            metric(addr, OK, &[]).await == Some(1.0)
        })
        .await,
        "the fixed file was not reloaded"
    );
    assert!(alert_becomes(addr, true).await, "the rule is not back on");

    let status = child.stop(Signal::Term, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_configmap_style_symlink_swap_is_reloaded() {
    let sim = one_broken_profile().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let state = dir.path().join("state");
    // As the kubelet lays out a ConfigMap volume: config.toml -> ..data/config.toml,
    // ..data -> ..2026_12_02_18_00_00.1 (a timestamped directory).
    let volume = dir.path().join("volume");
    let first = volume.join("..2026_12_02_18_00_00.1");
    std::fs::create_dir_all(&first).expect("mkdir");
    std::fs::write(
        first.join("config.toml"),
        config_text(&sim.base_url, port, &state, ""),
    )
    .expect("write");
    std::os::unix::fs::symlink("..2026_12_02_18_00_00.1", volume.join("..data")).expect("link");
    std::os::unix::fs::symlink("..data/config.toml", volume.join("config.toml")).expect("link");
    let mut child = start(&volume.join("config.toml"));

    assert!(
        wait_ready(&format!("http://{addr}/readyz"), Duration::from_secs(20)).await,
        "never ready\n{}",
        child.stderr_text()
    );
    assert!(alert_becomes(addr, true).await, "the alert never fired");
    let loaded = metric(addr, WHEN, &[]).await.expect("reload timestamp");

    // The kubelet's update: a new directory, a new symlink renamed over `..data`.
    let second = volume.join("..2026_12_02_18_01_00.2");
    std::fs::create_dir_all(&second).expect("mkdir");
    std::fs::write(
        second.join("config.toml"),
        config_text(&sim.base_url, port, &state, RULE_OFF),
    )
    .expect("write");
    std::os::unix::fs::symlink("..2026_12_02_18_01_00.2", volume.join("..data_tmp")).expect("link");
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).expect("swap");
    std::fs::remove_dir_all(&first).expect("remove the old version");

    assert!(
        reloaded_after(addr, loaded).await,
        "the swapped file was not reloaded\n{}",
        child.stderr_text()
    );
    assert!(
        alert_becomes(addr, false).await,
        "the swapped file is not in effect"
    );
    assert_eq!(metric(addr, OK, &[]).await, Some(1.0));

    let status = child.stop(Signal::Term, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn an_interval_under_a_second_or_over_a_day_is_refused_with_exit_2() {
    for bad in ["500ms", "0s", "soon", "2days", "1000000000y"] {
        let (code, _, err) = Launch::new(BIN)
            .args([
                "run",
                "--config",
                "/nonexistent.toml",
                "--auto-reload-interval",
                bad,
            ])
            .output(Duration::from_secs(10))
            .await;
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("--auto-reload-interval"), "{bad}: {err}");
    }
}
