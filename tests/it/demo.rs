//! `inventory-monitor demo` as a newcomer runs it: the real binary, its terminal, its fleet.

use crate::common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use inventory_monitor_testkit::child::{Child, Launch, Signal, Stream};
use inventory_monitor_testkit::exposition;
use inventory_monitor_testkit::wait::wait_for;

/// The last line of the banner.
const BANNER_END: &str = "Ctrl-C stops.";

/// Where the demo of process `pid` keeps its state.
fn state_dir(pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("inventory-monitor-demo-{pid}"))
}

/// The address of the demo's /metrics, from its banner.
async fn metrics_addr(child: &Child) -> SocketAddr {
    let line = child
        .wait_line(Stream::Stdout, Duration::from_secs(60), |l| {
            l.contains("/metrics")
        })
        .await
        .expect("no /metrics line on stdout within 60 s");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.strip_suffix("/metrics"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// Complete sweeps so far, from /metrics.
async fn sweeps(addr: SocketAddr) -> f64 {
    let (_, m) = scrape(addr).await;
    exposition::find(
        &m,
        "inventory_monitor_sweeps_total",
        &[("outcome", "complete")],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn the_demo_shows_a_realistic_fleet_in_a_summary_and_short_lines_then_cleans_up() {
    let mut child = Launch::new(BIN)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1s",
            "--seed",
            "11",
        ])
        .spawn()
        .unwrap();
    let addr = metrics_addr(&child).await;
    let summary = child
        .wait_line(Stream::Stdout, Duration::from_secs(60), |l| {
            l.starts_with("first sweep:")
        })
        .await
        .expect("no summary line within 60 s");
    assert!(
        summary.starts_with("first sweep: 300 profiles, "),
        "{summary}"
    );
    let dir = state_dir(child.pid());
    assert!(
        dir.is_dir(),
        "the demo keeps its state in {}",
        dir.display()
    );

    // A few percent of the fleet alerting, as in a real one (the hostile test mix had 43%).
    let status = get_json(addr, "/api/v1/status").await;
    let alerting: HashSet<u64> = status["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["state"] == "firing")
        .filter_map(|a| a["profile_id"].as_u64())
        .collect();
    let share = alerting.len() as f64 / 300.0;
    assert!(
        (0.01..=0.08).contains(&share),
        "{} of 300 profiles alerting",
        alerting.len()
    );

    // About 20 sweeps' worth of drift.
    let swept = wait_for(Duration::from_secs(90), || async {
        sweeps(addr).await >= 21.0
    })
    .await;
    assert!(swept, "fewer than 21 sweeps in 90 s");
    let status = child.stop(Signal::Int, Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{}", child.stderr_text());
    assert!(!dir.exists(), "{} is left behind", dir.display());

    let stdout = child.stdout_text();
    let stderr = child.stderr_text();
    let banner: Vec<&str> = stdout
        .lines()
        .take_while(|l| !l.starts_with(BANNER_END))
        .collect();
    assert!(
        banner.len() < stdout.lines().count(),
        "no banner end:\n{stdout}"
    );
    let banner_lines = banner.len() + 1;
    assert!(
        banner_lines <= 24,
        "the banner must fit a 24-line terminal: {banner_lines} lines"
    );
    let after: Vec<&str> = stdout
        .lines()
        .skip(banner.len() + 1)
        .chain(stderr.lines())
        .filter(|l| !l.is_empty())
        .collect();
    for line in &after {
        assert!(
            line.chars().count() <= 120,
            "{} characters: {line}",
            line.chars().count()
        );
    }
    assert_eq!(
        after
            .iter()
            .filter(|l| l.starts_with("first sweep:"))
            .count(),
        1,
        "{stdout}"
    );
    assert!(
        after.len() <= 40,
        "{} lines in about 20 sweeps:\n{}",
        after.len(),
        after.join("\n")
    );
    for line in after.iter().filter(|l| !l.starts_with("first sweep:")) {
        let transition = line.contains(" FIRING ") || line.contains(" RESOLVED ");
        let shutdown = line.contains("SIGINT received");
        assert!(transition || shutdown, "unexpected line: {line}");
    }
}

#[tokio::test]
async fn the_demo_on_a_used_port_exits_2_and_leaves_no_state_directory() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let mut child = Launch::new(BIN)
        .args(["demo", "--listen", &listen])
        .spawn()
        .unwrap();
    let status = child
        .wait(Duration::from_secs(30))
        .await
        .expect("the demo did not exit within 30 s");
    let stderr = child.stderr_text();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&listen), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!state_dir(child.pid()).exists());
}
