//! Flap detection (README, Flapping): the weighting, the hysteresis, the window's edges, and
//! what the judge makes of it.

use super::*;
use crate::config::FlappingRule;
use crate::rules::flap::{weighted_share, FlapRecord, History, NEWEST_WEIGHT, OLDEST_WEIGHT};
use crate::rules::flap_file::FlapFile;
use crate::vocabulary::Suppression;

/// Outcomes written as text, oldest first: `1` the condition held, `0` it did not.
fn outcomes(text: &str) -> Vec<bool> {
    text.chars().map(|c| c == '1').collect()
}

fn share_of(text: &str, window: u32) -> f64 {
    let h = History::from_outcomes(&outcomes(text));
    h.share(window)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The README's worked example, computed here step by step rather than copied: a window of
/// 21 sweeps, twelve in which connectivity was healthy, then nine that alternate.
#[test]
fn readme_worked_example() {
    let history = "000000000000101010101";
    assert_eq!(history.len(), 21);
    let o = outcomes(history);
    // The change between outcome i-1 and i (i = 1..=20) weighs 0.8 + 0.4 (i-1) / 19.
    let weight = |i: usize| OLDEST_WEIGHT + (NEWEST_WEIGHT - OLDEST_WEIGHT) * (i - 1) as f64 / 19.0;
    let changed: Vec<usize> = (1..o.len()).filter(|&i| o[i] != o[i - 1]).collect();
    assert_eq!(
        changed,
        (12..=20).collect::<Vec<_>>(),
        "nine changes, the newest nine"
    );
    let weights: Vec<f64> = changed.iter().map(|&i| weight(i)).collect();
    assert!(close(weights[0], 0.8 + 0.4 * 11.0 / 19.0));
    assert!(close(weights[8], 1.2), "the newest change weighs 1.2");
    let sum: f64 = weights.iter().sum();
    assert!((sum - 10.042).abs() < 0.001, "{sum}");
    let share = sum / 20.0;
    assert!((share - 0.502).abs() < 0.001, "{share}");
    assert!(close(share_of(history, 21), share));
    assert!(share > 0.5, "above high = 0.5: flapping starts");

    // One sweep earlier, eight changes: 9.011 / 20 = 0.451, not yet.
    let earlier = share_of("000000000000010101010", 21);
    assert!((earlier - 0.4505).abs() < 0.001, "{earlier}");

    // Step by step through History::record: flapping starts on the ninth change exactly.
    let rule = FlappingRule::default();
    let mut h = History::default();
    let started: Vec<bool> = o.iter().map(|&held| h.record(held, &rule)).collect();
    assert_eq!(started.iter().position(|&f| f), Some(20));
    assert_eq!(h.changes(21), 9);
}

#[test]
fn the_oldest_change_weighs_0_8_and_the_newest_1_2() {
    let newest = share_of(&format!("{}1", "0".repeat(20)), 21);
    assert!(close(newest, 1.2 / 20.0), "{newest}");
    assert!(
        close(weighted_share(0b1, 21), newest),
        "bit 0 is the newest outcome"
    );
    let oldest = share_of(&format!("1{}", "0".repeat(20)), 21);
    assert!(close(oldest, 0.8 / 20.0), "{oldest}");
    // Older than the window: not counted at all.
    let gone = share_of(&format!("10{}", "0".repeat(20)), 21);
    assert!(close(gone, 0.0), "{gone}");
}

#[test]
fn a_change_in_every_sweep_is_a_share_of_one_at_both_ends_of_the_window() {
    for window in [3u32, 21, 100] {
        let all: String = (0..window)
            .map(|i| if i % 2 == 0 { '1' } else { '0' })
            .collect();
        let share = share_of(&all, window);
        assert!(close(share, 1.0), "window {window}: {share}");
        // Steady: nothing.
        assert!(close(share_of(&"1".repeat(window as usize), window), 0.0));
    }
    // Window 3: two possible changes, weighing 0.8 and 1.2.
    assert!(close(share_of("001", 3), 0.6));
    assert!(close(share_of("010", 3), 1.0));
    assert!(close(share_of("100", 3), 0.4));
}

#[test]
fn flapping_starts_above_high_and_stops_only_below_low() {
    let rule = FlappingRule::default();
    let mut h = History::default();
    let mut held = true;
    let mut sweeps = 0;
    while !h.record(held, &rule) {
        held = !held;
        sweeps += 1;
        assert!(
            sweeps < 21,
            "alternating outcomes must start flapping within a window"
        );
    }
    // Now steady: the changes age and weigh less, then leave the window.
    let mut shares = Vec::new();
    while h.record(true, &rule) {
        let share = h.share(rule.window);
        assert!(share >= rule.low, "still flapping at {share}");
        shares.push(share);
    }
    assert!(
        shares.iter().any(|&s| s < rule.high),
        "between low and high it keeps flapping: {shares:?}"
    );
    assert!(h.share(rule.window) < rule.low);
    assert!(!h.is_flapping());
}

// ---------------------------------------------------------------------------------------
// The judge.

/// The toggling profile: degraded on odd sweeps (1, 3, ...), healthy on even ones.
fn toggled(id: u64, sweep: u32) -> Profile {
    if sweep % 2 == 1 {
        disconnected(id)
    } else {
        healthy(id)
    }
}

fn flap_key(id: u64) -> AlertKey {
    AlertKey::flapping(id, ProfileConnectivityDegraded)
}

/// Evaluates sweeps `from..=to` of a toggling profile 1 beside a steadily disconnected
/// profile 2, a minute apart; returns every transition with its sweep.
fn run(j: &mut Judge, from: u32, to: u32) -> Vec<(u32, Transition)> {
    let mut out = Vec::new();
    for sweep in from..=to {
        let now = t0() + MIN * sweep;
        let s = snap(vec![entry(toggled(1, sweep)), entry(disconnected(2))]);
        out.extend(j.evaluate(&s, now).into_iter().map(|t| (sweep, t)));
    }
    out
}

/// Transitions of `key` that people would hear of: not suppressed when firing.
fn announced(ts: &[(u32, Transition)], key: AlertKey) -> Vec<(u32, AlertState)> {
    ts.iter()
        .filter(|(_, t)| t.alert.key == key && t.alert.suppressed_by.is_empty())
        .map(|(s, t)| (*s, t.alert.state))
        .collect()
}

#[test]
fn a_toggling_condition_becomes_one_profile_flapping_alert() {
    let mut j = Judge::new(rules());
    let ts = run(&mut j, 1, 30);
    let conn1 = AlertKey::profile(ProfileConnectivityDegraded, 1);

    // Sweeps 1-8 are announced as usual (eight changes weigh 0.451 at most); on sweep 9,
    // the ninth change, the share is 0.502 and flapping starts.
    let said = announced(&ts, conn1);
    assert_eq!(said.len(), 8, "{said:?}");
    assert_eq!(said.last(), Some(&(8, AlertState::Resolved)));
    let flapping = announced(&ts, flap_key(1));
    assert_eq!(
        flapping,
        vec![(9, AlertState::Firing)],
        "fires once, at once"
    );

    // Every firing of the condition's own alert after that carries Flapping.
    let held: Vec<u32> = ts
        .iter()
        .filter(|(s, t)| *s >= 9 && t.alert.key == conn1 && t.alert.state == AlertState::Firing)
        .map(|(s, t)| {
            assert_eq!(t.alert.suppressed_by, vec![Suppression::Flapping]);
            *s
        })
        .collect();
    assert_eq!(held, (9..=30).step_by(2).collect::<Vec<_>>());
    assert_eq!(
        j.get(&conn1).map(|a| a.suppressed_by.clone()),
        None,
        "sweep 30 is healthy"
    );

    // The steady profile fired once and is not flapping.
    let conn2 = AlertKey::profile(ProfileConnectivityDegraded, 2);
    assert_eq!(announced(&ts, conn2), vec![(1, AlertState::Firing)]);
    assert_eq!(
        j.flapping().collect::<Vec<_>>(),
        vec![(1, ProfileConnectivityDegraded)]
    );

    let alert = j.get(&flap_key(1)).expect("ProfileFlapping fires");
    assert_eq!(&*alert.severity, "warning");
    let labels = alert.labels();
    assert_eq!(labels["alertname"], "ProfileFlapping");
    assert_eq!(labels["condition"], "ProfileConnectivityDegraded");
    assert_eq!(labels["profile_id"], "1");
    assert_contains(&alert.summary, "ProfileConnectivityDegraded of ");
    assert_contains(
        &alert.description,
        "changed state 20 times in the last 21 sweeps",
    );
    assert!(!j
        .get(&conn2)
        .expect("fires")
        .labels()
        .contains_key("condition"));
}

#[test]
fn a_condition_that_steadies_resolves_profile_flapping_and_continues_from_its_state() {
    let mut j = Judge::new(rules());
    run(&mut j, 1, 12);
    assert!(j.get(&flap_key(1)).is_some());
    // From sweep 13 on, profile 1 stays disconnected: the share falls, then below low.
    let conn1 = AlertKey::profile(ProfileConnectivityDegraded, 1);
    let mut ts = Vec::new();
    for sweep in 13..=40 {
        let now = t0() + MIN * sweep;
        let s = snap(vec![entry(disconnected(1)), entry(disconnected(2))]);
        ts.extend(j.evaluate(&s, now).into_iter().map(|t| (sweep, t)));
        let flapping = j.get(&flap_key(1)).is_some();
        let alert = j.get(&conn1).expect("still degraded");
        assert_eq!(
            alert.suppressed_by.contains(&Suppression::Flapping),
            flapping,
            "sweep {sweep}: the condition's alert is held exactly while it flaps"
        );
    }
    let stops = announced(&ts, flap_key(1));
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].1, AlertState::Resolved);
    let resolved = &ts
        .iter()
        .find(|(_, t)| t.alert.key == flap_key(1))
        .expect("resolved")
        .1;
    assert_contains(&resolved.alert.description, "is steady again");
    // The condition's alert went on firing, unannounced by the judge: no transition of
    // its own (the notifier announces it now that nothing suppresses it).
    assert!(announced(&ts, conn1).is_empty());
    let alert = j.get(&conn1).expect("fires");
    assert_eq!(alert.state, AlertState::Firing);
    assert!(alert.suppressed_by.is_empty());
}

#[test]
fn a_profile_gone_from_the_fleet_forgets_its_history() {
    let mut j = Judge::new(rules());
    run(&mut j, 1, 10);
    assert!(j.get(&flap_key(1)).is_some());
    let ts = j.evaluate(&snap(vec![entry(disconnected(2))]), t0() + MIN * 11);
    assert_eq!(names(&ts), vec![resolved(ProfileFlapping, 1)]);
    assert!(j.flapping().next().is_none());
    assert!(
        j.flap_records().iter().all(|r| r.profile_id != 1),
        "no history left of profile 1"
    );
    // Back, toggling: it starts afresh, so the first sweeps are announced again.
    let ts = run(&mut j, 12, 13);
    assert!(ts
        .iter()
        .all(|(_, t)| t.alert.key.alertname != ProfileFlapping));
}

#[test]
fn an_unread_detail_neither_adds_to_nor_ends_the_flapping() {
    let mut j = Judge::new(rules());
    run(&mut j, 1, 10);
    let of_1 = |j: &Judge| {
        let mut r = j.flap_records();
        r.retain(|r| r.profile_id == 1);
        r
    };
    let records = of_1(&j);
    for sweep in 11..=40 {
        let s = snap(vec![down(disconnected(1), 1), entry(disconnected(2))]);
        let ts = j.evaluate(&s, t0() + MIN * sweep);
        assert!(ts.iter().all(|t| t.alert.key != flap_key(1)));
    }
    assert_eq!(of_1(&j), records);
}

#[test]
fn switching_flap_detection_off_resolves_profile_flapping_and_lifts_the_hold() {
    let mut j = Judge::new(rules());
    run(&mut j, 1, 11);
    j.set_rules(holding(|r| r.flapping.enabled = false));
    let ts = run(&mut j, 12, 13);
    let flap: Vec<_> = ts
        .iter()
        .filter(|(_, t)| t.alert.key == flap_key(1))
        .collect();
    assert_eq!(flap.len(), 1);
    assert_contains(&flap[0].1.alert.description, "the rule was disabled");
    let conn1 = AlertKey::profile(ProfileConnectivityDegraded, 1);
    assert_eq!(
        announced(&ts, conn1),
        vec![(13, AlertState::Firing)],
        "announced as before"
    );
    assert!(j.flap_records().is_empty());
}

#[test]
fn disabling_the_flapping_condition_resolves_its_profile_flapping() {
    let mut j = Judge::new(rules());
    run(&mut j, 1, 11);
    j.set_rules(holding(|r| r.connectivity.enabled = false));
    let ts = run(&mut j, 12, 12);
    assert!(ts
        .iter()
        .any(|(_, t)| t.alert.key == flap_key(1) && t.alert.state == AlertState::Resolved));
    assert!(j.flapping().next().is_none());
}

#[test]
fn restored_histories_keep_a_condition_flapping_without_a_new_announcement() {
    let mut j = Judge::new(rules());
    run(&mut j, 1, 11);
    let alerts: Vec<Alert> = j.alerts().cloned().collect();
    let records = j.flap_records();
    let text = serde_json::to_string(&records).expect("serialises");
    let back: Vec<FlapRecord> = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, records);

    let mut restarted = Judge::new(rules());
    restarted.restore(alerts);
    restarted.restore_flaps(back);
    assert_eq!(restarted.flap_records(), records);
    let ts = run(&mut restarted, 12, 20);
    assert!(
        ts.iter().all(|(_, t)| t.alert.key != flap_key(1)),
        "no new ProfileFlapping: {:?}",
        names(&ts.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>())
    );
    let conn1 = AlertKey::profile(ProfileConnectivityDegraded, 1);
    assert!(announced(&ts, conn1).is_empty(), "still held back");
}

#[test]
fn restore_skips_records_that_make_no_sense() {
    let mut j = Judge::new(rules());
    let record = |condition, outcomes: &str| FlapRecord {
        profile_id: 1,
        condition,
        outcomes: outcomes.to_string(),
        flapping: true,
    };
    j.restore_flaps(vec![
        record(InventoryApiDown, "101"),
        record(ProfileFlapping, "101"),
        record(ProfileSyncFailing, "10x"),
        record(ProfileSyncFailing, &"1".repeat(101)),
        record(ProfileSyncFailing, ""),
        record(ProfileErrorsHigh, "1010"),
    ]);
    assert_eq!(
        j.flapping().collect::<Vec<_>>(),
        vec![(1, ProfileErrorsHigh)]
    );
}

#[test]
fn the_flap_file_round_trips_and_sets_a_broken_one_aside() {
    let dir = tempfile::tempdir().expect("temp dir");
    let records = vec![FlapRecord {
        profile_id: 7,
        condition: ProfileAuthenticationFailing,
        outcomes: "10101".to_string(),
        flapping: true,
    }];
    let mut file = FlapFile::new(dir.path());
    assert!(file.load().is_empty(), "no file yet");
    file.save(records.clone()).expect("written");
    assert!(!dir.path().join("flapping.json.tmp").exists());
    assert_eq!(FlapFile::new(dir.path()).load(), records);

    std::fs::write(
        dir.path().join("flapping.json"),
        b"{\"version\": 1, \"histories\": 3}",
    )
    .expect("written");
    assert!(FlapFile::new(dir.path()).load().is_empty());
    let aside = std::fs::read_dir(dir.path())
        .expect("listed")
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("flapping.json.corrupt-")
        });
    assert!(aside, "the broken file is kept for a person to read");
}

#[test]
fn the_flap_file_is_written_only_when_the_histories_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flapping.json");
    let mut records = vec![FlapRecord {
        profile_id: 7,
        condition: ProfileAuthenticationFailing,
        outcomes: "101".to_string(),
        flapping: false,
    }];
    let mut file = FlapFile::new(dir.path());
    file.save(records.clone()).expect("written");
    std::fs::remove_file(&path).expect("removed");
    file.save(records.clone()).expect("nothing to write");
    assert!(!path.exists(), "unchanged histories are not written again");
    records[0].outcomes = "1010".to_string();
    file.save(records.clone()).expect("written");
    assert_eq!(FlapFile::new(dir.path()).load(), records);

    // What was read counts as written.
    let mut reopened = FlapFile::new(dir.path());
    assert_eq!(reopened.load(), records);
    std::fs::remove_file(&path).expect("removed");
    reopened.save(records).expect("nothing to write");
    assert!(!path.exists(), "the histories read are not written back");
}

#[test]
fn a_healthy_fleet_keeps_no_history() {
    let mut j = Judge::new(rules());
    for sweep in 1..=5 {
        j.evaluate(
            &snap(vec![entry(healthy(1)), entry(disconnected(2))]),
            t0() + MIN * sweep,
        );
    }
    // Profile 2's condition held from the start: one change, from "before it was seen".
    let records = j.flap_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].profile_id, 2);
    assert_eq!(records[0].outcomes, "11111");
    assert!(!records[0].flapping);
}
