//! What an alert says: runbook links filled from its labels, and texts kept and shared
//! while they do not change.

use super::*;

#[test]
fn runbook_url_is_filled_from_the_labels_and_kept_on_resolution() {
    let mut j = Judge::new(holding(|r| {
        r.connectivity.runbook_url =
            "https://wiki.example.com/runbooks/{alertname}?profile={profile_id}&org={organization}"
                .to_string();
    }));
    let mut p = disconnected(42);
    let t = j.evaluate(&of(p.clone()), t0());
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 42)]);
    let expected = "https://wiki.example.com/runbooks/ProfileConnectivityDegraded\
                    ?profile=42&org=North%20Distribution";
    assert_eq!(t[0].alert.runbook_url, expected);
    assert_eq!(t[0].alert.annotations()["runbook_url"], expected);

    p.connectivity = Some("healthy".into());
    let t = j.evaluate(&of(p), t0() + MIN);
    assert_eq!(names(&t), [resolved(ProfileConnectivityDegraded, 42)]);
    assert_eq!(t[0].alert.runbook_url, expected);

    // A rule without one: no annotation at all.
    let mut j = Judge::new(rules());
    let t = j.evaluate(&of(disconnected(1)), t0());
    assert!(!t[0].alert.annotations().contains_key("runbook_url"));
}

#[test]
fn unchanged_texts_are_kept_and_shared_across_sweeps() {
    let mut j = Judge::new(rules());
    let mut p = disconnected(42);
    p.last_error = Some("connection refused".to_string());
    let key = AlertKey::profile(ProfileConnectivityDegraded, 42);
    j.evaluate(&snap(vec![entry(p.clone()), entry(disconnected(43))]), t0());
    let first = j.get(&key).expect("alert").clone();

    // The same facts a minute later: the alert keeps the very strings it had, so copies of
    // it (status document, notifier) share them instead of holding their own.
    j.evaluate(
        &snap(vec![entry(p.clone()), entry(disconnected(43))]),
        t0() + MIN,
    );
    let second = j.get(&key).expect("alert");
    assert!(Arc::ptr_eq(&first.summary, &second.summary));
    assert!(Arc::ptr_eq(&first.description, &second.description));
    assert!(Arc::ptr_eq(&first.profile_name, &second.profile_name));
    // One `severity` for every alert of that severity.
    let other = j
        .get(&AlertKey::profile(ProfileConnectivityDegraded, 43))
        .expect("alert");
    assert_eq!(&*other.severity, "critical");
    assert!(Arc::ptr_eq(&second.severity, &other.severity));

    // A changed text is replaced.
    p.last_error = Some("no route to host".to_string());
    j.evaluate(
        &snap(vec![entry(p), entry(disconnected(43))]),
        t0() + 2 * MIN,
    );
    let third = j.get(&key).expect("alert");
    assert!(!Arc::ptr_eq(&first.description, &third.description));
    assert_contains(&third.description, "no route to host");
    assert!(Arc::ptr_eq(&first.summary, &third.summary));
}

#[test]
fn an_alert_shared_with_readers_is_copied_only_when_it_changes() {
    let mut j = Judge::new(rules());
    let mut p = disconnected(42);
    p.last_error = Some("connection refused".to_string());
    let key = AlertKey::profile(ProfileConnectivityDegraded, 42);
    let other = AlertKey::profile(ProfileConnectivityDegraded, 43);
    j.evaluate(&snap(vec![entry(p.clone()), entry(disconnected(43))]), t0());
    // What the status document and the notifier hold after a sweep: the judge's alerts.
    let held: Vec<Arc<Alert>> = j.shared().cloned().collect();
    let of_key =
        |held: &[Arc<Alert>], key| held.iter().find(|a| a.key == key).cloned().expect("alert");

    // The same facts a minute later: nothing is copied, the readers' alerts are the judge's.
    j.evaluate(
        &snap(vec![entry(p.clone()), entry(disconnected(43))]),
        t0() + MIN,
    );
    let now: Vec<Arc<Alert>> = j.shared().cloned().collect();
    assert!(now.iter().zip(&held).all(|(a, b)| Arc::ptr_eq(a, b)));

    // One alert changes: the judge copies it, the readers keep the one they were given.
    p.last_error = Some("no route to host".to_string());
    j.evaluate(
        &snap(vec![entry(p), entry(disconnected(43))]),
        t0() + 2 * MIN,
    );
    let now: Vec<Arc<Alert>> = j.shared().cloned().collect();
    assert!(!Arc::ptr_eq(&of_key(&now, key), &of_key(&held, key)));
    assert_contains(&of_key(&now, key).description, "no route to host");
    assert_contains(&of_key(&held, key).description, "connection refused");
    assert!(Arc::ptr_eq(&of_key(&now, other), &of_key(&held, other)));
    assert_eq!(j.get(&key), Some(&*of_key(&now, key)));
}

#[test]
fn a_pending_alert_shared_with_readers_fires_in_a_copy() {
    let mut j = Judge::new(holding(|r| r.connectivity.for_ = 2 * MIN));
    let key = AlertKey::profile(ProfileConnectivityDegraded, 42);
    assert!(j.evaluate(&of(disconnected(42)), t0()).is_empty());
    let pending = j.shared().next().cloned().expect("pending");
    assert_eq!(pending.state, AlertState::Pending);
    let t = j.evaluate(&of(disconnected(42)), t0() + MIN);
    assert!(t.is_empty());
    assert!(Arc::ptr_eq(j.shared().next().expect("pending"), &pending));

    let t = j.evaluate(&of(disconnected(42)), t0() + 2 * MIN);
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 42)]);
    assert_eq!(j.get(&key).map(|a| a.state), Some(AlertState::Firing));
    // The reader's alert is still the pending one it was given.
    assert_eq!(pending.state, AlertState::Pending);
}

#[test]
fn a_firing_transition_is_the_judges_alert_itself() {
    let mut j = Judge::new(rules());
    let t = j.evaluate(&of(disconnected(42)), t0());
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 42)]);
    assert!(Arc::ptr_eq(&t[0].alert, j.shared().next().expect("firing")));
}
