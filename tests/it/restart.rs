//! Alerts are never lost, with the real binary: `inventory-monitor run` as a child process
//! polling an in-process simulator every second and delivering to a recording webhook,
//! SIGKILLed at chosen and at random moments and restarted on the same state directory,
//! and a receiver that is down for seconds while alerts change.
//!
//! What a receiver hears is read from the Alertmanager v4 payloads it was sent; what the
//! daemon knows is read from its state file, which every sweep rewrites. Every wait is a
//! condition polled with a deadline.

use crate::child;
use crate::common;

use std::time::{Duration, Instant};

use child::{
    firing_profiles, outbox_attempts, outbox_len, wait_until, Alerting, Mode, Monitor, Received,
    Sink, Webhook,
};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `firing 1`, `resolved 2`, ... of every delivered payload, in arrival order.
fn shorts(delivered: &[Received]) -> Vec<String> {
    delivered
        .iter()
        .flat_map(Received::alerts)
        .map(|a| a.short())
        .collect()
}

/// Where in a notification's life a kill lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillPhase {
    /// Right after the upstream changed: most likely before a sweep saw it.
    AtOnce,
    /// The notification was tried and refused (the receiver answers 500): it waits in the
    /// outbox.
    Queued,
    /// The notification was delivered and the state file records it.
    Delivered,
    /// At a random moment up to two sweeps later.
    Random,
}

/// The deadline for anything the daemon does within a few sweeps.
const SOON: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------
// A kill before delivery.

/// Fires an alert while the receiver does not take it (`mode`), kills the daemon once the
/// notification is in the state file's outbox and has been tried, restarts it with the
/// receiver healthy: the alert is delivered exactly once.
async fn queued_at_a_kill_is_delivered_once(mode: Mode) {
    let sim = common::fleet([1]).await;
    let mut sink = Sink::start().await;
    sink.set_mode(mode).await;
    let mut monitor = Monitor::started(&sim, &sink, Alerting::of("1s", "1h"));
    sim.degrade(1);

    // The notification is on disk and an attempt reached the receiver, which did not take it.
    let tried = wait_until(SOON, || !sink.received().is_empty()).await;
    assert!(tried, "no attempt reached the sink\n{}", monitor.log_text());
    match mode {
        // The failed attempt is recorded (attempts = 1) before the next one.
        Mode::Fail => {
            monitor
                .wait_state(SOON, "a failed attempt in the outbox", |s| {
                    outbox_attempts(s).first().is_some_and(|&n| n >= 1)
                })
                .await
        }
        // The attempt hangs: the entry sits in the outbox with nothing recorded yet.
        _ => {
            monitor
                .wait_state(SOON, "the notification in the outbox", |s| {
                    outbox_len(s) == 1 && firing_profiles(s) == [1]
                })
                .await
        }
    }
    monitor.kill().await;
    assert!(
        sink.delivered().is_empty(),
        "nothing was taken before the kill"
    );

    sink.set_mode(Mode::Ok).await;
    monitor.start();
    let delivered = wait_until(SOON, || !sink.delivered().is_empty()).await;
    assert!(
        delivered,
        "not delivered after the restart\n{}",
        monitor.log_text()
    );
    monitor
        .wait_state(SOON, "the outbox emptied", |s| outbox_len(s) == 0)
        .await;
    // Three more rewrites of the state file: at least two sweeps of the restarted daemon.
    monitor.wait_writes(3, SOON).await;

    assert_eq!(shorts(&sink.delivered()), ["firing 1"], "exactly once");
    let log = monitor.log_text();
    assert!(log.contains("state restored"), "{log}");
    assert!(
        !log.contains("e2e-s3cr3t-path"),
        "the webhook URL never reaches the log"
    );
}

#[tokio::test]
async fn a_notification_failing_at_a_kill_is_delivered_exactly_once_after_restart() {
    queued_at_a_kill_is_delivered_once(Mode::Fail).await;
}

#[tokio::test]
async fn a_notification_in_flight_at_a_kill_is_delivered_exactly_once_after_restart() {
    queued_at_a_kill_is_delivered_once(Mode::Hang).await;
}

#[tokio::test]
async fn a_firing_queued_at_a_kill_and_resolved_meanwhile_is_announced_then_resolved() {
    let sim = common::fleet([1]).await;
    let mut sink = Sink::start().await;
    sink.set_mode(Mode::Fail).await;
    let mut monitor = Monitor::started(&sim, &sink, Alerting::of("0s", "1h"));
    sim.degrade(1);
    monitor
        .wait_state(SOON, "the firing queued and tried", |s| {
            outbox_attempts(s).first().is_some_and(|&n| n >= 1)
        })
        .await;
    monitor.kill().await;

    // While the daemon is down the profile recovers and the receiver comes back.
    sim.recover(1);
    sink.set_mode(Mode::Ok).await;
    monitor.start();
    monitor
        .wait_state(SOON, "resolved and everything delivered", |s| {
            firing_profiles(s).is_empty() && outbox_len(s) == 0
        })
        .await;
    monitor.wait_writes(3, SOON).await;

    let delivered = sink.delivered();
    assert_eq!(shorts(&delivered), ["firing 1", "resolved 1"]);
    let (firing, resolved) = (&delivered[0].alerts()[0], &delivered[1].alerts()[0]);
    assert_eq!(firing.starts_at, resolved.starts_at, "one episode");
}

// ---------------------------------------------------------------------------------------
// A kill after delivery.

#[tokio::test]
async fn a_kill_between_the_receivers_2xx_and_the_state_write_repeats_that_notification_once() {
    let sim = common::fleet([1]).await;
    let mut sink = Sink::start().await;
    sink.set_mode(Mode::Stall).await;
    let mut monitor = Monitor::started(&sim, &sink, Alerting::of("0s", "1h"));
    sim.degrade(1);
    // The receiver has the notification; the daemon has not heard back, so its state file
    // still holds it in the outbox.
    let taken = wait_until(SOON, || sink.delivered().len() == 1).await;
    assert!(
        taken,
        "nothing reached the receiver\n{}",
        monitor.log_text()
    );
    let state = monitor.state().unwrap_or_default();
    assert_eq!(outbox_len(&state), 1, "not recorded as delivered: {state}");
    monitor.kill().await;

    sink.set_mode(Mode::Ok).await;
    monitor.start();
    monitor
        .wait_state(SOON, "the outbox emptied", |s| outbox_len(s) == 0)
        .await;
    monitor.wait_writes(3, SOON).await;

    let delivered = sink.delivered();
    assert_eq!(
        shorts(&delivered),
        ["firing 1", "firing 1"],
        "the documented duplicate: once, and only once"
    );
    assert_eq!(
        delivered[0].body, delivered[1].body,
        "the same notification"
    );
}

#[tokio::test]
async fn an_alert_delivered_before_a_kill_is_not_announced_again_and_its_reminder_keeps_time() {
    const REPEAT: Duration = Duration::from_secs(6);
    let sim = common::fleet([1]).await;
    let sink = Sink::start().await;
    let mut monitor = Monitor::started(&sim, &sink, Alerting::of("0s", "6s"));
    sim.degrade(1);
    let got = wait_until(SOON, || !sink.delivered().is_empty()).await;
    assert!(got, "the firing never arrived\n{}", monitor.log_text());
    let first = sink.delivered()[0].clone();
    assert_eq!(shorts(std::slice::from_ref(&first)), ["firing 1"]);
    monitor
        .wait_state(SOON, "the delivery recorded", |s| outbox_len(s) == 0)
        .await;
    monitor.kill().await;

    // Down for a while, so that a reminder timed from the restart would come visibly late.
    tokio::time::sleep_until((first.at + Duration::from_secs(4)).into()).await;
    monitor.start();
    monitor.wait_writes(3, SOON).await;
    let early: Vec<Duration> = sink.delivered()[1..]
        .iter()
        .map(|r| r.at - first.at)
        .filter(|d| *d < REPEAT)
        .collect();
    assert!(
        early.is_empty(),
        "re-announced after the restart, {early:?} after the first announcement\n{}",
        monitor.log_text()
    );

    // The reminder: a repeat_interval after the first announcement, not after the restart.
    let reminded = wait_until(SOON, || sink.delivered().len() >= 2).await;
    assert!(reminded, "no reminder\n{}", monitor.log_text());
    let reminder = sink.delivered()[1].clone();
    let after = reminder.at - first.at;
    assert!(after >= REPEAT, "reminder early: {after:?} after the first");
    assert!(
        after < Duration::from_secs(9),
        "reminder {after:?} after the first: timed from the restart, not from the announcement"
    );
    assert_eq!(
        reminder.alerts(),
        first.alerts(),
        "the same alert, same episode"
    );
}

// ---------------------------------------------------------------------------------------
// A kill while the profile recovers.

#[tokio::test]
async fn a_profile_recovering_while_the_daemon_is_down_is_resolved_exactly_once() {
    let sim = common::fleet([1]).await;
    let sink = Sink::start().await;
    let mut monitor = Monitor::started(&sim, &sink, Alerting::of("1s", "1h"));
    sim.degrade(1);
    let delivered = wait_until(SOON, || !sink.delivered().is_empty()).await;
    assert!(
        delivered,
        "the firing never arrived\n{}",
        monitor.log_text()
    );
    monitor
        .wait_state(SOON, "the delivery recorded", |s| outbox_len(s) == 0)
        .await;
    assert_eq!(shorts(&sink.delivered()), ["firing 1"]);
    monitor.kill().await;

    sim.recover(1);
    monitor.start();
    let resolved = wait_until(SOON, || sink.delivered().len() >= 2).await;
    assert!(
        resolved,
        "the resolution never arrived\n{}",
        monitor.log_text()
    );
    monitor
        .wait_state(SOON, "nothing firing or queued", |s| {
            firing_profiles(s).is_empty() && outbox_len(s) == 0
        })
        .await;
    monitor.wait_writes(3, SOON).await;

    let delivered = sink.delivered();
    assert_eq!(
        shorts(&delivered),
        ["firing 1", "resolved 1"],
        "exactly once"
    );
    assert_eq!(
        delivered[0].alerts()[0].starts_at,
        delivered[1].alerts()[0].starts_at,
        "the resolution is of the announced episode"
    );
}

// ---------------------------------------------------------------------------------------
// Kills at random moments while profiles flap.

#[tokio::test]
async fn random_kills_while_profiles_flap_lose_nothing_invent_nothing_and_repeat_at_most_once_per_kill(
) {
    const SEED: u64 = 0x0F1A_9B17;
    const STEPS: usize = 14;
    const KILLS: usize = 8;
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let sim = common::fleet([1, 2]).await;
    let mut sink = Sink::start().await;
    let mut monitor = Monitor::started(&sim, &sink, Alerting::of("0s", "1h"));

    // Which steps end in a kill, and where in the notification's life it lands: before
    // the sweep sees the change, while the notification waits in the outbox (the receiver
    // answering 500), after it was delivered and recorded, or at a random moment.
    let mut kill_steps: Vec<usize> = (0..STEPS).collect();
    kill_steps.shuffle(&mut rng);
    kill_steps.truncate(KILLS);
    let mut phases: Vec<KillPhase> = [
        KillPhase::AtOnce,
        KillPhase::Queued,
        KillPhase::Delivered,
        KillPhase::Random,
    ]
    .repeat(KILLS / 4);
    phases.shuffle(&mut rng);
    let mut unhealthy: Vec<u64> = Vec::new();
    let mut expected: Vec<String> = Vec::new();
    for step in 0..STEPS {
        let kill = kill_steps
            .iter()
            .position(|&s| s == step)
            .map(|i| phases[i]);
        // Now and then the receiver answers 500 for a step.
        let failing = kill == Some(KillPhase::Queued) || (kill.is_none() && rng.random_bool(0.3));
        if kill == Some(KillPhase::Queued) {
            // The receiver's queue is FIFO: a notification of an earlier step still waiting
            // (refused by a failing step, or not yet sent under load) would be the one the
            // receiver refuses next, and this step's would wait behind it. Let the earlier
            // ones through first, so that the refused notification is this step's.
            let n = expected.len();
            let drained = wait_until(SOON, || {
                sink.delivered().len() >= n && monitor.state().is_some_and(|s| outbox_len(&s) == 0)
            })
            .await;
            assert!(
                drained,
                "step {step}: earlier notifications not delivered\n{}",
                monitor.log_text()
            );
        }
        if failing {
            sink.set_mode(Mode::Fail).await;
        }
        // Profile 1 flaps; profile 2 now and then.
        let id = if rng.random_bool(0.7) { 1 } else { 2 };
        if let Some(i) = unhealthy.iter().position(|&u| u == id) {
            unhealthy.remove(i);
            sim.recover(id);
            expected.push(format!("resolved {id}"));
        } else {
            unhealthy.push(id);
            unhealthy.sort_unstable();
            sim.degrade(id);
            expected.push(format!("firing {id}"));
        }
        let want = unhealthy.clone();
        if let Some(phase) = kill {
            match phase {
                KillPhase::AtOnce => {}
                KillPhase::Queued => {
                    // The receiver has refused this step's notification at least once.
                    let change = expected.last().cloned().unwrap_or_default();
                    let tried = wait_until(SOON, || {
                        sink.received().iter().any(|r| {
                            r.answered == Some(500)
                                && r.alerts().iter().any(|a| a.short() == change)
                        })
                    })
                    .await;
                    assert!(
                        tried,
                        "step {step}: {change} never reached the receiver\n{}",
                        monitor.log_text()
                    );
                }
                KillPhase::Delivered => {
                    let n = expected.len();
                    let done = wait_until(SOON, || {
                        sink.delivered().len() >= n
                            && monitor.state().is_some_and(|s| outbox_len(&s) == 0)
                    })
                    .await;
                    assert!(done, "step {step}: not delivered\n{}", monitor.log_text());
                }
                KillPhase::Random => {
                    // Choosing a moment, not waiting for anything.
                    let moment = Duration::from_millis(rng.random_range(0..2000));
                    tokio::time::sleep(moment).await;
                }
            }
            monitor.kill().await;
            // Down for a moment (or not at all); the receiver may recover meanwhile.
            if failing {
                sink.set_mode(Mode::Ok).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..500))).await;
            monitor.start();
        }
        // The episode lasts until a sweep has seen it and the state file holds it.
        monitor
            .wait_state(SOON, &format!("step {step}: judged {want:?}"), |s| {
                firing_profiles(s) == want
            })
            .await;
        if failing {
            sink.set_mode(Mode::Ok).await;
        }
    }

    // A repeat is the same notification sent again: an identical body, right after the
    // first (the worker records a delivery before it sends the next one).
    let distinct = |delivered: Vec<Received>| {
        let mut distinct: Vec<Received> = Vec::new();
        let mut repeats = 0;
        for r in delivered {
            if distinct.last().is_some_and(|d| d.body == r.body) {
                repeats += 1;
            } else {
                distinct.push(r);
            }
        }
        (distinct, repeats)
    };
    let settled = wait_until(Duration::from_secs(45), || {
        distinct(sink.delivered()).0.len() >= expected.len()
            && monitor.state().is_some_and(|s| outbox_len(&s) == 0)
    })
    .await;
    if settled {
        monitor.wait_writes(2, SOON).await;
    }
    let (distinct, repeats) = distinct(sink.delivered());
    assert_eq!(
        shorts(&distinct),
        expected,
        "every episode announced, in order, and nothing else\n{}",
        monitor.log_text()
    );
    for r in &distinct {
        assert_eq!(r.alerts().len(), 1, "one change per sweep: {}", r.payload());
    }
    // Each resolution is of the episode announced before it; each firing is a new episode.
    let mut open: std::collections::HashMap<u64, String> = Default::default();
    for a in distinct.iter().flat_map(Received::alerts) {
        if a.status == "firing" {
            assert!(
                open.insert(a.profile_id, a.starts_at.clone()).is_none(),
                "firing twice: {a:?}"
            );
        } else {
            assert_eq!(
                open.remove(&a.profile_id),
                Some(a.starts_at.clone()),
                "{a:?}"
            );
        }
    }
    assert_eq!(monitor.kills as usize, KILLS);
    assert!(
        repeats <= KILLS,
        "{repeats} repeats for {KILLS} kills: more than one per kill"
    );
    let refused = sink
        .received()
        .iter()
        .filter(|r| r.answered == Some(500))
        .count();
    println!(
        "random kills: {} kills survived ({phases:?}), {} episodes announced, {refused} \
         attempts answered 500, {repeats} repeat(s)",
        monitor.kills,
        expected.len()
    );
}

// ---------------------------------------------------------------------------------------
// A receiver outage.

#[tokio::test]
async fn after_a_receiver_outage_every_notification_is_delivered_in_order() {
    let sim = common::fleet([1, 2]).await;
    let mut sink = Sink::start().await;
    let monitor = Monitor::started(&sim, &sink, Alerting::of("0s", "1h"));
    // The first sweep has run: the start wrote the file, the sweep rewrote it.
    monitor.wait_writes(1, SOON).await;

    // Down: first answering 500, then refusing connections.
    let outage_start = Instant::now();
    sink.set_mode(Mode::Fail).await;
    let steps: [(u64, bool, Option<Mode>); 5] = [
        (1, false, None),
        (2, false, None),
        (1, true, Some(Mode::Refuse)),
        (2, true, None),
        (1, false, None),
    ];
    let mut unhealthy: Vec<u64> = Vec::new();
    let mut expected: Vec<String> = Vec::new();
    for (id, healthy, switch) in steps {
        if let Some(mode) = switch {
            sink.set_mode(mode).await;
        }
        if healthy {
            sim.recover(id);
            unhealthy.retain(|&u| u != id);
            expected.push(format!("resolved {id}"));
        } else {
            sim.degrade(id);
            unhealthy.push(id);
            unhealthy.sort_unstable();
            expected.push(format!("firing {id}"));
        }
        let want = unhealthy.clone();
        monitor
            .wait_state(SOON, &format!("judged {want:?}"), |s| {
                firing_profiles(s) == want
            })
            .await;
    }
    // Several failed attempts, and at least five seconds down.
    monitor
        .wait_state(SOON, "the queue head tried three times", |s| {
            outbox_attempts(s).first().is_some_and(|&n| n >= 3)
        })
        .await;
    tokio::time::sleep_until((outage_start + Duration::from_secs(5)).into()).await;
    let state = monitor.state().unwrap_or_default();
    let queued = outbox_len(&state);
    let attempts = outbox_attempts(&state);
    assert_eq!(queued, expected.len(), "every notification waits: {state}");
    assert!(sink.delivered().is_empty(), "nothing was taken while down");
    let refused_500 = sink
        .received()
        .iter()
        .filter(|r| r.answered == Some(500))
        .count();
    assert!(refused_500 >= 1, "attempts were made while it answered 500");

    sink.set_mode(Mode::Ok).await;
    let outage_end = Instant::now();
    let outage = outage_end - outage_start;
    let all = wait_until(Duration::from_secs(60), || {
        sink.delivered().len() >= expected.len()
    })
    .await;
    assert!(
        all,
        "not everything delivered after the outage\n{}",
        monitor.log_text()
    );
    monitor
        .wait_state(SOON, "the outbox emptied", |s| outbox_len(s) == 0)
        .await;
    monitor.wait_writes(2, SOON).await;

    let delivered = sink.delivered();
    assert!(delivered.iter().all(|r| r.at >= outage_end));
    assert_eq!(
        shorts(&delivered),
        expected,
        "each once, in the order they happened"
    );
    let drained = delivered
        .last()
        .map(|r| r.at - outage_end)
        .unwrap_or_default();
    println!(
        "receiver outage: {:.1} s down ({refused_500} attempts answered 500, then connections \
         refused; queue head tried {} times), {} notifications delivered after it, the last \
         {:.1} s after the receiver came back",
        outage.as_secs_f64(),
        attempts.first().copied().unwrap_or(0),
        delivered.len(),
        drained.as_secs_f64()
    );
}
