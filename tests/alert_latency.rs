//! How long a degradation takes to reach a person: the binary as a child process, polling
//! a simulator every second with `group_wait = 1s`, delivering to a webhook; the time from
//! the upstream's change to the webhook's arrival, over several degradations that land at
//! different points of the sweep cycle.
//!
//! Expected: up to one poll interval until the next sweep sees the change, the sweep
//! itself, then exactly `group_wait`: between 1 s and about 2 s. The bound asserted is
//! generous (5 s) so that a loaded machine cannot make it flake; the values are printed.

mod child;
mod common;

use std::time::{Duration, Instant};

use child::{firing_profiles, wait_until, Alerting, Monitor, Sink, Webhook};
use common::{empty_sim, healthy_detail};

#[tokio::test]
async fn a_degradation_reaches_the_webhook_within_a_poll_interval_plus_group_wait() {
    const DEGRADATIONS: u64 = 5;
    const GROUP_WAIT: Duration = Duration::from_secs(1);
    let sim = empty_sim().await;
    for id in 1..=DEGRADATIONS {
        sim.sim
            .upsert_profile(healthy_detail(id, &format!("Profile {id}"), "North"));
    }
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = Monitor::new(
        dir.path(),
        &sim,
        &sink,
        Alerting {
            group_wait: "1s",
            repeat_interval: "1h",
        },
    );
    monitor.start();
    // Running: the start wrote the state file and the first sweep rewrote it.
    monitor.wait_writes(1, Duration::from_secs(15)).await;

    let mut latencies: Vec<Duration> = Vec::new();
    for id in 1..=DEGRADATIONS {
        // Land each change at another point of the one-second sweep cycle (this picks a
        // moment; it waits for nothing).
        tokio::time::sleep(Duration::from_millis(id * 373 % 1000)).await;
        let changed = Instant::now();
        assert!(sim.sim.set_health(id, Some("unhealthy"), Some("valid")));
        let arrived = wait_until(Duration::from_secs(10), || {
            sink.delivered_alerts()
                .iter()
                .any(|a| a.status == "firing" && a.profile_id == id)
        })
        .await;
        assert!(arrived, "profile {id}: no webhook\n{}", monitor.log_text());
        let at = sink
            .delivered()
            .into_iter()
            .find(|r| {
                r.alerts()
                    .iter()
                    .any(|a| a.status == "firing" && a.profile_id == id)
            })
            .map(|r| r.at)
            .unwrap_or_else(Instant::now);
        latencies.push(at - changed);
    }
    // Each degradation was its own message: nothing else arrived.
    let announced: Vec<String> = sink.delivered_alerts().iter().map(|a| a.short()).collect();
    let expected: Vec<String> = (1..=DEGRADATIONS)
        .map(|id| format!("firing {id}"))
        .collect();
    assert_eq!(announced, expected);
    let state = monitor.state().unwrap_or_default();
    assert_eq!(
        firing_profiles(&state),
        (1..=DEGRADATIONS).collect::<Vec<_>>()
    );

    let mut sorted = latencies.clone();
    sorted.sort();
    let (min, median, max) = (
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    );
    println!(
        "alert latency over {DEGRADATIONS} degradations (poll.interval 1s, group_wait 1s): \
         min {:.3} s, median {:.3} s, max {:.3} s; all: {:?}",
        min.as_secs_f64(),
        median.as_secs_f64(),
        max.as_secs_f64(),
        latencies
            .iter()
            .map(|d| format!("{:.3}", d.as_secs_f64()))
            .collect::<Vec<_>>()
    );
    // group_wait is honoured: the message waits for it after the sweep that saw the change.
    // (Millisecond slack: the daemon's wall clock and the test's monotonic clock differ.)
    assert!(
        min >= GROUP_WAIT - Duration::from_millis(50),
        "sent before group_wait: {latencies:?}"
    );
    assert!(
        max < Duration::from_secs(5),
        "slower than 5 s: {latencies:?}"
    );
}
