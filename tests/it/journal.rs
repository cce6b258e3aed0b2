//! The state journal and the `state.dir` lock with the real binary (README, Delivery
//! guarantees): one daemon per directory, the end of a journal a crash cut short reported
//! and nothing acknowledged lost, and SIGKILLs in a loop while notifications are delivered.

use crate::child;
use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use child::{outbox_len, told_firing, wait_until, Alerting, Mode, Monitor, Sink, Webhook};

/// The deadline for anything the daemon does within a few sweeps.
const SOON: Duration = Duration::from_secs(20);

/// How many times each `status profile` was delivered.
fn tally(sink: &Sink) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in sink.delivered_alerts() {
        *out.entry(a.short()).or_default() += 1;
    }
    out
}

/// The newest journal file of `dir`.
fn newest_journal(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .expect("state dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let epoch: u64 = name.strip_prefix("state.journal.")?.parse().ok()?;
            Some((epoch, e.path()))
        })
        .max()
        .map(|(_, p)| p)
        .expect("a journal")
}

#[tokio::test]
async fn a_second_daemon_on_the_same_state_dir_fails_at_start_naming_the_first() {
    let sim = common::fleet([1]).await;
    let sink = Sink::start().await;
    let monitor = Monitor::started(&sim, &sink, Alerting::of("1s", "1h"));
    monitor
        .wait_state(SOON, "the first daemon wrote its state", |_| true)
        .await;
    let pid = monitor.pid().expect("running");
    let (code, stderr) = monitor.run_again(SOON).await;
    assert_ne!(code, 0, "the second daemon must not run: {stderr}");
    assert!(
        stderr.contains(&format!("in use by another inventory-monitor (pid {pid})")),
        "names the first daemon: {stderr}"
    );
    assert!(
        stderr.contains(&monitor.state_dir().display().to_string()),
        "names the directory: {stderr}"
    );
    // The first one is untouched: it still writes its state.
    monitor.wait_writes(1, SOON).await;
}

#[tokio::test]
async fn the_torn_end_of_a_journal_is_reported_at_start_and_nothing_acknowledged_is_lost() {
    let sim = common::fleet([1, 2]).await;
    let sink = Sink::start().await;
    let mut monitor = Monitor::started(&sim, &sink, Alerting::of("1s", "1h"));
    sim.degrade(1);
    monitor
        .wait_state(SOON, "firing 1 delivered and recorded", |s| {
            told_firing(s) == vec![1] && outbox_len(s) == 0
        })
        .await;
    monitor.kill().await;
    // What a write cut short by the crash leaves: a record's frame and part of its payload.
    let journal = newest_journal(monitor.state_dir());
    let mut torn = std::fs::read(&journal).expect("journal");
    torn.extend_from_slice(&200u32.to_le_bytes());
    torn.extend_from_slice(&0xdead_beef_u32.to_le_bytes());
    torn.extend_from_slice(br#"{"at":"2026-12-03T10:00:00Z","changes":[{"deliv"#);
    std::fs::write(&journal, &torn).expect("tear the journal");

    monitor.start();
    let reported = wait_until(SOON, || {
        monitor
            .log_text()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("discarded") && l.contains("state.journal."))
    })
    .await;
    assert!(
        reported,
        "the discarded end is reported\n{}",
        monitor.log_text()
    );
    // Two writes later, nothing was announced again and the record of it is intact.
    monitor.wait_writes(2, SOON).await;
    assert_eq!(
        tally(&sink).get("firing 1"),
        Some(&1),
        "{}",
        monitor.log_text()
    );
    let state = monitor.state().expect("state");
    assert_eq!(told_firing(&state), vec![1]);
}

#[tokio::test]
async fn sigkills_in_a_loop_during_delivery_lose_nothing_and_repeat_at_most_once_per_kill() {
    const ROUNDS: u64 = 5;
    const PER_ROUND: u64 = 4;
    let sim = common::fleet(1..=ROUNDS * PER_ROUND).await;
    let mut sink = Sink::start().await;
    let mut monitor = Monitor::started(&sim, &sink, Alerting::of("1s", "1h"));
    monitor
        .wait_state(SOON, "the daemon wrote its state", |_| true)
        .await;
    for round in 0..ROUNDS {
        // What the last kill interrupted goes out again first (the receiver's queue is
        // FIFO); then this round's notification is the one under way at the kill.
        let before: Vec<u64> = (1..=round * PER_ROUND).collect();
        monitor
            .wait_state(
                SOON,
                &format!("round {round}: earlier ones delivered"),
                |s| told_firing(s) == before && outbox_len(s) == 0,
            )
            .await;
        // The receiver takes the request and does not answer: the kill lands while the
        // delivery is under way (it counts as delivered: a person may have seen it).
        sink.set_mode(Mode::Stall).await;
        let ids: Vec<u64> = (1..=PER_ROUND).map(|i| round * PER_ROUND + i).collect();
        for &id in &ids {
            sim.degrade(id);
        }
        let last = format!("firing {}", ids[ids.len() - 1]);
        let under_way = wait_until(SOON, || {
            sink.received()
                .iter()
                .any(|r| r.alerts().iter().any(|a| a.short() == last))
        })
        .await;
        assert!(
            under_way,
            "round {round}: no delivery under way\n{}",
            monitor.log_text()
        );
        monitor.kill().await;
        sink.set_mode(Mode::Ok).await;
        monitor.start();
    }
    let all: Vec<u64> = (1..=ROUNDS * PER_ROUND).collect();
    monitor
        .wait_state(SOON, "every firing delivered and recorded", |s| {
            told_firing(s) == all && outbox_len(s) == 0
        })
        .await;
    // Then everyone recovers: every resolution arrives, through one more kill.
    for &id in &all {
        sim.recover(id);
    }
    monitor
        .wait_state(SOON, "the resolutions queued", |s| {
            outbox_len(s) > 0 || told_firing(s).is_empty()
        })
        .await;
    monitor.kill().await;
    monitor.start();
    monitor
        .wait_state(SOON, "every resolution delivered and recorded", |s| {
            told_firing(s).is_empty() && outbox_len(s) == 0
        })
        .await;
    let seen = tally(&sink);
    for id in &all {
        let fired = seen.get(&format!("firing {id}")).copied().unwrap_or(0);
        assert!(
            (1..=2).contains(&fired),
            "firing {id} delivered {fired} times: {seen:?}\n{}",
            monitor.log_text()
        );
        assert!(
            seen.contains_key(&format!("resolved {id}")),
            "resolved {id} never delivered: {seen:?}"
        );
    }
    // A repeat is a notification sent again whole (the same body): at most one per kill.
    let delivered = sink.delivered();
    let mut bodies: Vec<&[u8]> = delivered.iter().map(|r| r.body.as_slice()).collect();
    bodies.sort_unstable();
    bodies.dedup();
    let repeats = delivered.len() - bodies.len();
    assert!(
        repeats as u32 <= monitor.kills,
        "{repeats} repeated notifications for {} kills: {seen:?}",
        monitor.kills
    );
}
