use super::*;

const CONNECTIVITY: &str = "ProfileConnectivityDegraded";

/// The crafted run's time zero.
fn t(seconds: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_secs_f64(seconds)
}

fn rules() -> Rules {
    Rules {
        group_wait: Duration::from_secs(1),
        duplicate_window: Duration::from_secs(3),
    }
}

/// One change as the Alertmanager payload reader makes it: firing when `ends` is `None`.
fn change(profile: u64, alertname: &str, starts: f64, ends: Option<f64>) -> Change {
    let status = if ends.is_some() { "resolved" } else { "firing" };
    let alert_key = format!("{alertname}/{profile}@{starts}");
    Change {
        status: status.to_string(),
        alertname: alertname.to_string(),
        profile_id: Some(profile),
        starts_at: Some(t(starts)),
        ends_at: ends.map(t),
        key: format!("{status} {alert_key} -> {ends:?}"),
        alert_key,
    }
}

fn notification(at: f64, changes: Vec<Change>) -> Notification {
    Notification { at: t(at), changes }
}

/// One process sweeping every second for a minute; profile 5's connectivity bad from 10 s
/// to 30 s, announced firing at 20 s (started at 17 s) and resolved at 32 s.
fn clean_run() -> Run {
    let sweeps = (1..=60)
        .map(|s| Sweep {
            proc: 0,
            ts: t(f64::from(s)),
            seconds: 0.2,
            walk: Walk::Complete,
        })
        .collect();
    Run {
        start: t(0.0),
        episodes: vec![Episode {
            id: 5,
            alertname: CONNECTIVITY.to_string(),
            for_: Duration::from_secs(3),
            t0: (t(10.0), t(10.001)),
            t1: Some((t(30.0), t(30.001))),
        }],
        sweeps,
        spawns: vec![t(0.0)],
        kills: Vec::new(),
        notifications: vec![
            notification(20.0, vec![change(5, CONNECTIVITY, 17.0, None)]),
            notification(32.0, vec![change(5, CONNECTIVITY, 17.0, Some(31.0))]),
        ],
    }
}

/// The audit of the clean run changed by `edit`.
fn audit_changed(edit: impl FnOnce(&mut Run)) -> Report {
    let mut run = clean_run();
    edit(&mut run);
    audit(&run, &rules())
}

/// The clean run with `extra` delivered too: the single spurious alert it causes.
fn spurious_with(extra: Notification) -> String {
    let report = audit_changed(|run| run.notifications.push(extra));
    assert_eq!(report.spurious.len(), 1, "{report:#?}");
    report.spurious[0].clone()
}

#[test]
fn a_clean_run_passes() {
    let report = audit(&clean_run(), &rules());
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(report
        .lines
        .iter()
        .any(|l| l.starts_with("required") && l.ends_with(" 1")));
}

#[test]
fn a_lost_alert_is_missing() {
    let report = audit_changed(|run| run.notifications.clear());
    assert_eq!(report.missing.len(), 1, "{report:#?}");
    assert!(report.missing[0].starts_with("profile 5 ProfileConnectivityDegraded"));
    assert!(report.spurious.is_empty());
    assert!(report.failures.iter().any(|f| f.starts_with("missing: ")));
}

#[test]
fn an_alert_announced_firing_and_never_resolved_is_missing_its_resolution() {
    let report = audit_changed(|run| {
        run.notifications.pop();
    });
    assert_eq!(report.missing_resolved.len(), 1, "{report:#?}");
    assert!(report.missing.is_empty());
}

#[test]
fn an_invented_alert_is_spurious() {
    let invented = notification(40.0, vec![change(9, CONNECTIVITY, 38.0, None)]);
    assert!(spurious_with(invented).contains("profile 9 had no such episode"));
}

#[test]
fn an_alert_outside_its_episode_is_spurious() {
    // Started long after the episode ended (more than the longest sweep plus 2 s).
    let late = notification(50.0, vec![change(5, CONNECTIVITY, 45.0, None)]);
    assert!(spurious_with(late).contains("no such episode"));

    // Resolved while the episode was still on.
    let report = audit_changed(|run| {
        run.notifications[1] = notification(26.0, vec![change(5, CONNECTIVITY, 17.0, Some(25.0))]);
    });
    assert_eq!(report.spurious.len(), 1, "{report:#?}");
    assert!(report.spurious[0].contains("but the episode lasted until"));
}

#[test]
fn an_alert_the_soak_never_causes_is_spurious() {
    let other = notification(40.0, vec![change(5, "ProfileSyncStale", 38.0, None)]);
    assert!(spurious_with(other).contains("never causes"));
}

#[test]
fn api_down_needs_a_failed_walk_next_to_it() {
    let mut run = clean_run();
    let down = Change {
        profile_id: None,
        ..change(0, API_DOWN, 44.0, None)
    };
    run.notifications.push(notification(45.0, vec![down]));
    let report = audit(&run, &rules());
    assert_eq!(report.spurious.len(), 1, "{report:#?}");

    run.sweeps[43].walk = Walk::Failed;
    let report = audit(&run, &rules());
    assert!(report.spurious.is_empty(), "{report:#?}");
}

#[test]
fn a_repetition_needs_a_kill_just_after_the_first_delivery() {
    let mut run = clean_run();
    let again = notification(21.0, run.notifications[0].changes.clone());
    run.notifications.insert(1, again);
    let report = audit(&run, &rules());
    assert_eq!(report.duplicates.len(), 1, "{report:#?}");
    assert!(report.failures.iter().any(|f| f.starts_with("duplicate: ")));

    // A SIGKILL between the 2xx and the state write explains one repetition...
    run.kills.push(t(20.5));
    let report = audit(&run, &rules());
    assert!(report.failures.is_empty(), "{:#?}", report.failures);

    // ... but only one: a second repetition needs a second kill.
    let again = notification(22.0, run.notifications[0].changes.clone());
    run.notifications.insert(2, again);
    let report = audit(&run, &rules());
    assert_eq!(report.duplicates.len(), 1, "{report:#?}");

    // A kill too long after the first delivery explains nothing.
    let mut run = clean_run();
    let again = notification(30.0, run.notifications[0].changes.clone());
    run.notifications.insert(1, again);
    run.kills.push(t(29.0));
    let report = audit(&run, &rules());
    assert_eq!(report.duplicates.len(), 1, "{report:#?}");
}

#[test]
fn an_episode_too_short_to_be_seen_is_not_required() {
    let report = audit_changed(|run| {
        run.episodes[0].t1 = Some((t(12.0), t(12.001)));
        run.notifications.clear();
    });
    assert!(report.missing.is_empty(), "{report:#?}");
    // And a run where nothing was required fails as one where the daemon hardly swept.
    assert!(report.failures.iter().any(|f| f.contains("hardly swept")));
}

#[test]
fn two_episodes_with_no_sweep_between_them_are_one() {
    let report = audit_changed(|run| {
        let mut second = run.episodes[0].clone();
        run.episodes[0].t1 = Some((t(20.1), t(20.101)));
        second.t0 = (t(20.3), t(20.301));
        run.episodes.push(second);
    });
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(report.lines.iter().any(|l| l.contains("1 merged")));
}

/// The clean run's episode split in two parts, 20.1 to 20.3 s good between them: no
/// counted sweep lies wholly in that gap, so the audit merges them.
fn merged(run: &mut Run) {
    let mut second = run.episodes[0].clone();
    run.episodes[0].t1 = Some((t(20.1), t(20.101)));
    second.t0 = (t(20.3), t(20.301));
    run.episodes.push(second);
}

#[test]
fn a_resolution_in_the_gap_of_merged_episodes_is_the_daemons_right() {
    // A sweep that read the profile within the gap may have seen it good: the alert
    // resolved then (and a new one for the second part is not required, its sweeps being
    // those of the merged episode).
    let report = audit_changed(|run| {
        merged(run);
        run.notifications[1] = notification(21.0, vec![change(5, CONNECTIVITY, 17.0, Some(20.0))]);
    });
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(report.lines.iter().any(|l| l.contains("1 merged")));
}

#[test]
fn a_resolution_before_any_gap_of_merged_episodes_is_still_spurious() {
    // Resolved while the first part was on.
    let report = audit_changed(|run| {
        merged(run);
        run.notifications[1] = notification(16.0, vec![change(5, CONNECTIVITY, 17.0, Some(15.0))]);
    });
    assert_eq!(report.spurious.len(), 1, "{report:#?}");
    assert!(report.spurious[0].contains("but the episode lasted until"));

    // Fired in the second part, long after the gap, and resolved while it was on: the gap
    // before it cannot explain the resolution.
    let report = audit_changed(|run| {
        merged(run);
        run.notifications = vec![
            notification(26.0, vec![change(5, CONNECTIVITY, 25.0, None)]),
            notification(28.0, vec![change(5, CONNECTIVITY, 25.0, Some(27.0))]),
        ];
    });
    assert_eq!(report.spurious.len(), 1, "{report:#?}");
    assert!(report.spurious[0].contains("but the episode lasted until"));
}
