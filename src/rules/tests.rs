use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::clock::unix_seconds;
use crate::config::{RulesConfig, StaleAfter};
use crate::model::Profile;
use crate::shard::Shard;
use crate::snapshot::{ApiFailure, ListOutcome, ProfileEntry, Snapshot};
use AlertName::*;

const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// An active profile with every health field known and fine.
fn healthy(id: u64) -> Profile {
    let mut p = Profile::unknown(id, format!("Profile {id}"));
    p.organization = Some("North Distribution".to_string());
    p.status = Some("active".into());
    p.connectivity = Some("healthy".into());
    p.authentication = Some("valid".into());
    p.last_sync_status = Some("success".into());
    p.error_count_24h = Some(0);
    p
}

/// The entry of a profile whose detail was read this sweep.
fn entry(p: Profile) -> ProfileEntry {
    let (id, name, organization) = (p.id, p.name.clone(), p.organization.clone());
    let profile = Some(Arc::new(p));
    ProfileEntry {
        id,
        name: name.into(),
        organization: organization.map(Into::into),
        profile,
        up: true,
        error: None,
        consecutive_failures: 0,
    }
}

/// The profile's detail could not be read `failures` sweeps in a row; `p` is the last
/// detail read before.
fn down(p: Profile, failures: u32) -> ProfileEntry {
    ProfileEntry {
        up: false,
        error: Some("HTTP 503 Service Unavailable".to_string()),
        consecutive_failures: failures,
        ..entry(p)
    }
}

fn snap(profiles: Vec<ProfileEntry>) -> Snapshot {
    Snapshot {
        started_at: t0(),
        duration: Duration::ZERO,
        list: ListOutcome::Complete,
        listed: Some(profiles.len()),
        profiles,
        gone: Vec::new(),
        shard: Shard::default(),
    }
}

fn failed(kind: ApiFailure) -> Snapshot {
    Snapshot {
        list: ListOutcome::Failed {
            kind,
            message: "HTTP 401 from /inventory_connection_profile/".to_string(),
        },
        listed: None,
        ..snap(Vec::new())
    }
}

fn of(p: Profile) -> Snapshot {
    snap(vec![entry(p)])
}

/// Asserts that `text` contains `needle`, showing `text` when it does not.
fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "{text}");
}

/// An active profile whose connectivity is "unhealthy", everything else fine.
fn disconnected(id: u64) -> Profile {
    let mut p = healthy(id);
    p.connectivity = Some("unhealthy".into());
    p
}

/// [`rules`] changed by `change`.
fn holding(change: impl FnOnce(&mut RulesConfig)) -> RulesConfig {
    let mut r = rules();
    change(&mut r);
    r
}

/// Every rule at its defaults but with sync staleness fixed at one hour.
fn rules() -> RulesConfig {
    let mut r = RulesConfig::default();
    r.sync_stale.after = StaleAfter::Fixed(HOUR);
    r
}

fn names(ts: &[Transition]) -> Vec<(AlertName, Option<u64>, AlertState)> {
    ts.iter()
        .map(|t| (t.alert.key.alertname, t.alert.key.profile_id, t.alert.state))
        .collect()
}

fn keys(judge: &Judge) -> Vec<(AlertName, AlertState)> {
    judge.alerts().map(|a| (a.key.alertname, a.state)).collect()
}

fn firing(name: AlertName, id: u64) -> (AlertName, Option<u64>, AlertState) {
    (name, Some(id), AlertState::Firing)
}

fn resolved(name: AlertName, id: u64) -> (AlertName, Option<u64>, AlertState) {
    (name, Some(id), AlertState::Resolved)
}

#[test]
fn healthy_profile_raises_nothing() {
    let mut j = Judge::new(rules());
    let mut p = healthy(1);
    p.last_sync = Some(unix_seconds(t0()) - 60.0);
    assert!(j.evaluate(&of(p), t0()).is_empty());
    assert_eq!(j.alerts().count(), 0);
}

#[test]
fn connectivity_degraded_fires_and_resolves() {
    let mut j = Judge::new(rules());
    let mut p = healthy(42);
    p.name = "Lisbon DC — SAP EWM".to_string();
    p.connectivity = Some("unhealthy".into());
    p.last_error = Some("connection refused".to_string());

    let t = j.evaluate(&of(p.clone()), t0());
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 42)]);
    let a = &t[0].alert;
    assert_eq!(
        &*a.summary,
        "Connectivity of \"Lisbon DC — SAP EWM\" (North Distribution) is unhealthy"
    );
    assert_contains(&a.description, "\"unhealthy\"");
    assert_contains(&a.description, "connection refused");
    assert_contains(&a.description, "2026-01-01T00:00:00Z");
    assert_eq!(&*a.severity, "critical");
    assert_eq!(a.active_since, t0());
    assert_eq!(a.firing_since, Some(t0()));

    // Still unhealthy: no new transition.
    assert!(j.evaluate(&of(p.clone()), t0() + MIN).is_empty());

    p.connectivity = Some("healthy".into());
    let t = j.evaluate(&of(p), t0() + 2 * MIN);
    assert_eq!(names(&t), [resolved(ProfileConnectivityDegraded, 42)]);
    let a = &t[0].alert;
    assert_eq!(a.resolved_at, Some(t0() + 2 * MIN));
    assert_eq!(a.firing_since, Some(t0()));
    assert_contains(&a.description, "\"healthy\" again");
    assert_eq!(j.alerts().count(), 0);
}

#[test]
fn authentication_failing_fires_and_resolves() {
    let mut j = Judge::new(rules());
    let mut p = healthy(7);
    p.authentication = Some("expired".into());
    let t = j.evaluate(&of(p.clone()), t0());
    assert_eq!(names(&t), [firing(ProfileAuthenticationFailing, 7)]);
    assert_eq!(
        &*t[0].alert.summary,
        "Authentication of \"Profile 7\" (North Distribution) is expired"
    );

    p.authentication = Some("valid".into());
    let t = j.evaluate(&of(p), t0() + MIN);
    assert_eq!(names(&t), [resolved(ProfileAuthenticationFailing, 7)]);
}

#[test]
fn sync_stale_fires_when_older_than_after_and_resolves_on_a_new_sync() {
    let mut j = Judge::new(rules()); // after = 1h
    let mut p = healthy(3);
    p.last_sync = Some(unix_seconds(t0()));

    // Exactly one hour old is not older than one hour.
    assert!(j.evaluate(&of(p.clone()), t0() + HOUR).is_empty());
    let t = j.evaluate(&of(p.clone()), t0() + HOUR + Duration::from_millis(1_500));
    assert_eq!(names(&t), [firing(ProfileSyncStale, 3)]);
    let d = &t[0].alert.description;
    assert!(d.contains("is 1h 1s old; at most 1h is allowed"), "{d}");
    assert!(d.contains("2026-01-01T00:00:00Z"), "{d}");

    p.last_sync = Some(unix_seconds(t0() + 2 * HOUR));
    let t = j.evaluate(&of(p), t0() + 2 * HOUR + MIN);
    assert_eq!(names(&t), [resolved(ProfileSyncStale, 3)]);
}

#[test]
fn sync_stale_auto_allows_twice_the_frequency_plus_fifteen_minutes() {
    let cases = [
        ("hourly", 2 * HOUR + 15 * MIN),
        ("daily", 48 * HOUR + 15 * MIN),
        ("every_15_minutes", 45 * MIN),
    ];
    for (frequency, allowed) in cases {
        let mut j = Judge::new(RulesConfig::default()); // after = "auto"
        let mut p = healthy(5);
        p.sync_frequency = Some(frequency.into());
        p.last_sync = Some(unix_seconds(t0()));
        assert!(
            j.evaluate(&of(p.clone()), t0() + allowed).is_empty(),
            "{frequency}: not stale at exactly {allowed:?}"
        );
        let t = j.evaluate(&of(p), t0() + allowed + Duration::from_secs(1));
        assert_eq!(names(&t), [firing(ProfileSyncStale, 5)], "{frequency}");
        let d = &t[0].alert.description;
        assert!(
            d.contains(&format!(
                "at most {} is allowed",
                humantime::format_duration(allowed)
            )),
            "{d}"
        );
        assert!(
            d.contains(&format!("sync_frequency \"{frequency}\"")),
            "{d}"
        );
    }
}

#[test]
fn sync_stale_auto_does_not_judge_an_unknown_frequency() {
    let mut j = Judge::new(RulesConfig::default());
    for frequency in [Some("whenever"), None] {
        let mut p = healthy(5);
        p.sync_frequency = frequency.map(Into::into);
        p.last_sync = Some(unix_seconds(t0()));
        assert!(j.evaluate(&of(p), t0() + 365 * 24 * HOUR).is_empty());
    }
    // A fixed `after` needs no frequency.
    j.set_rules(rules());
    let mut p = healthy(5);
    p.last_sync = Some(unix_seconds(t0()));
    let t = j.evaluate(&of(p), t0() + 2 * HOUR);
    assert_eq!(names(&t), [firing(ProfileSyncStale, 5)]);
}

#[test]
fn sync_stale_ignores_unknown_and_future_last_sync() {
    let mut j = Judge::new(rules());
    let p = healthy(5); // last_sync unknown
    assert!(j.evaluate(&of(p.clone()), t0() + 100 * HOUR).is_empty());
    let mut future = p;
    future.last_sync = Some(unix_seconds(t0() + HOUR));
    assert!(j.evaluate(&of(future), t0()).is_empty());
}

#[test]
fn sync_failing_fires_and_resolves() {
    let mut j = Judge::new(rules());
    let mut p = healthy(9);
    p.last_sync_status = Some("partial".into());
    p.last_sync = Some(unix_seconds(t0()));
    let t = j.evaluate(&of(p.clone()), t0());
    assert_eq!(names(&t), [firing(ProfileSyncFailing, 9)]);
    assert_eq!(&*t[0].alert.severity, "warning");
    assert_contains(&t[0].alert.summary, "partial");

    p.last_sync_status = Some("success".into());
    let t = j.evaluate(&of(p), t0() + MIN);
    assert_eq!(names(&t), [resolved(ProfileSyncFailing, 9)]);
}

#[test]
fn errors_high_fires_at_the_threshold_and_resolves_below_it() {
    let mut j = Judge::new(rules()); // threshold 10
    let mut p = healthy(11);
    p.error_count_24h = Some(9);
    assert!(j.evaluate(&of(p.clone()), t0()).is_empty());

    p.error_count_24h = Some(10);
    let t = j.evaluate(&of(p.clone()), t0() + MIN);
    assert_eq!(names(&t), [firing(ProfileErrorsHigh, 11)]);
    assert_eq!(
        &*t[0].alert.summary,
        "\"Profile 11\" (North Distribution) reported 10 errors in 24 hours"
    );

    p.error_count_24h = Some(2);
    let t = j.evaluate(&of(p), t0() + 2 * MIN);
    assert_eq!(names(&t), [resolved(ProfileErrorsHigh, 11)]);
    assert!(
        t[0].alert
            .description
            .contains("no longer at or above the threshold (10): 2 errors in 24 hours"),
        "{}",
        t[0].alert.description
    );
}

#[test]
fn errors_high_resolved_by_a_raised_threshold_says_the_reload_did_it() {
    let mut j = Judge::new(rules()); // threshold 10
    let mut p = healthy(12);
    p.error_count_24h = Some(20);
    let t = j.evaluate(&of(p.clone()), t0());
    assert_eq!(names(&t), [firing(ProfileErrorsHigh, 12)]);

    let mut raised = rules();
    raised.errors.threshold = 30;
    j.set_rules(raised.clone());
    let t = j.evaluate(&of(p.clone()), t0() + MIN);
    assert_eq!(names(&t), [resolved(ProfileErrorsHigh, 12)]);
    let text = &t[0].alert.description;
    assert!(
        text.contains(
            "the threshold was raised from 10 to 30 by a configuration reload: \
             20 errors in 24 hours is below it"
        ),
        "{text}"
    );
    assert!(!text.contains("down to"), "{text}");

    // The reload is told once: a later fall below the threshold is the count's doing.
    p.error_count_24h = Some(40);
    assert_eq!(
        names(&j.evaluate(&of(p.clone()), t0() + 2 * MIN)),
        [firing(ProfileErrorsHigh, 12)]
    );
    p.error_count_24h = Some(25);
    let t = j.evaluate(&of(p), t0() + 3 * MIN);
    assert!(
        t[0].alert
            .description
            .contains("no longer at or above the threshold (30): 25 errors in 24 hours"),
        "{}",
        t[0].alert.description
    );
}

#[test]
fn unreachable_fires_after_n_failed_reads_and_resolves_when_read_again() {
    let mut j = Judge::new(rules()); // after_failures 3
    let p = healthy(13);
    for n in 1..3 {
        let t = j.evaluate(&snap(vec![down(p.clone(), n)]), t0() + MIN * n);
        assert!(t.is_empty(), "after {n} failures");
    }
    let t = j.evaluate(&snap(vec![down(p.clone(), 3)]), t0() + 3 * MIN);
    assert_eq!(names(&t), [firing(ProfileUnreachable, 13)]);
    assert!(t[0].alert.description.contains("HTTP 503"));

    let t = j.evaluate(&of(p), t0() + 4 * MIN);
    assert_eq!(names(&t), [resolved(ProfileUnreachable, 13)]);
}

#[test]
fn inventory_api_down_fires_says_why_and_resolves() {
    let mut j = Judge::new(rules());
    let t = j.evaluate(&failed(ApiFailure::Unauthorized), t0());
    assert_eq!(names(&t), [(InventoryApiDown, None, AlertState::Firing)]);
    let a = &t[0].alert;
    assert_eq!(&*a.severity, "critical");
    assert_contains(&a.description, "401 Unauthorized");
    assert_contains(&a.description, "HTTP 401 from");
    let labels = a.labels();
    assert_eq!(labels["alertname"], "InventoryApiDown");
    assert_eq!(labels["profile_id"], "");
    assert_eq!(labels["profile_name"], "");
    assert_eq!(labels["organization"], "");

    // Another kind of failure while down: same alert, new wording, no transition.
    assert!(j
        .evaluate(&failed(ApiFailure::Unreachable), t0() + MIN)
        .is_empty());
    let a = j.get(&AlertKey::api_down()).expect("still firing");
    assert_contains(&a.summary, "unreachable");
    assert_eq!(a.firing_since, Some(t0()));

    let t = j.evaluate(&snap(Vec::new()), t0() + 2 * MIN);
    assert_eq!(names(&t), [(InventoryApiDown, None, AlertState::Resolved)]);
}

#[test]
fn incomplete_walk_is_not_api_down() {
    let mut j = Judge::new(rules());
    j.evaluate(&failed(ApiFailure::Unreachable), t0());
    let mut s = snap(Vec::new());
    s.list = ListOutcome::Incomplete {
        reason: "page 3 failed".to_string(),
    };
    let t = j.evaluate(&s, t0() + MIN);
    assert_eq!(names(&t), [(InventoryApiDown, None, AlertState::Resolved)]);
}

#[test]
fn for_keeps_an_alert_pending_until_it_has_held_long_enough() {
    let mut j = Judge::new(holding(|r| r.connectivity.for_ = 5 * MIN));
    let p = disconnected(1);

    assert!(j.evaluate(&of(p.clone()), t0()).is_empty());
    assert_eq!(
        keys(&j),
        [(ProfileConnectivityDegraded, AlertState::Pending)]
    );
    assert_eq!(j.firing().count(), 0);
    assert!(j.evaluate(&of(p.clone()), t0() + 4 * MIN).is_empty());

    let t = j.evaluate(&of(p), t0() + 5 * MIN);
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 1)]);
    assert_eq!(t[0].alert.active_since, t0());
    assert_eq!(t[0].alert.firing_since, Some(t0() + 5 * MIN));
    assert_eq!(j.firing().count(), 1);
}

#[test]
fn pending_alert_that_clears_is_dropped_silently() {
    let mut j = Judge::new(holding(|r| r.authentication.for_ = 5 * MIN));
    let mut p = healthy(1);
    p.authentication = Some("invalid".into());
    assert!(j.evaluate(&of(p.clone()), t0()).is_empty());
    assert_eq!(j.alerts().count(), 1);

    p.authentication = Some("valid".into());
    assert!(j.evaluate(&of(p.clone()), t0() + MIN).is_empty());
    assert_eq!(j.alerts().count(), 0);

    // A new episode starts its own clock.
    p.authentication = Some("invalid".into());
    assert!(j.evaluate(&of(p.clone()), t0() + 2 * MIN).is_empty());
    assert!(j.evaluate(&of(p.clone()), t0() + 6 * MIN).is_empty());
    assert_eq!(names(&j.evaluate(&of(p), t0() + 7 * MIN)).len(), 1);
}

#[test]
fn unknown_connectivity_value_is_not_healthy() {
    let mut j = Judge::new(rules());
    let mut p = healthy(1);
    p.connectivity = Some("flaky".into());
    let t = j.evaluate(&of(p), t0());
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 1)]);
    assert!(
        t[0].alert.summary.ends_with("is flaky"),
        "{}",
        t[0].alert.summary
    );
}

#[test]
fn unknown_health_fields_raise_nothing() {
    let mut j = Judge::new(rules());
    let mut p = Profile::unknown(1, "bare");
    p.last_sync = Some(unix_seconds(t0()));
    // Nothing but a fresh last_sync is known: no connectivity, authentication,
    // sync status or error count, so no condition can hold.
    assert!(j.evaluate(&of(p), t0()).is_empty());
}

#[test]
fn inactive_profiles_are_judged_only_with_include_inactive() {
    let mut p = healthy(1);
    p.status = Some("inactive".into());
    p.connectivity = Some("unhealthy".into());

    let mut j = Judge::new(rules());
    assert!(j.evaluate(&of(p.clone()), t0()).is_empty());
    assert_eq!(j.alerts().count(), 0);

    let mut r = rules();
    r.include_inactive = true;
    let mut j = Judge::new(r);
    let t = j.evaluate(&of(p), t0());
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 1)]);
}

#[test]
fn profile_of_unknown_status_is_judged() {
    let mut j = Judge::new(rules());
    let mut p = healthy(1);
    p.status = None;
    p.connectivity = Some("unhealthy".into());
    let t = j.evaluate(&of(p), t0());
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 1)]);
}

#[test]
fn profile_turning_inactive_resolves_its_alerts() {
    let mut j = Judge::new(rules());
    let mut p = disconnected(1);
    p.error_count_24h = Some(50);
    assert_eq!(j.evaluate(&of(p.clone()), t0()).len(), 2);

    p.status = Some("inactive".into());
    let t = j.evaluate(&of(p), t0() + MIN);
    assert_eq!(
        names(&t),
        [
            resolved(ProfileConnectivityDegraded, 1),
            resolved(ProfileErrorsHigh, 1),
        ]
    );
    assert!(t[0].alert.description.contains("no longer judged"));
    assert_eq!(j.alerts().count(), 0);
}

#[test]
fn api_down_freezes_profile_alerts() {
    let mut j = Judge::new(holding(|r| r.connectivity.for_ = 5 * MIN));
    let mut p = healthy(1);
    p.authentication = Some("invalid".into());
    p.connectivity = Some("unhealthy".into());
    let mut gone = healthy(2);
    gone.error_count_24h = Some(99);
    j.evaluate(&snap(vec![entry(p.clone()), entry(gone)]), t0());
    assert_eq!(
        keys(&j),
        [
            (ProfileConnectivityDegraded, AlertState::Pending),
            (ProfileAuthenticationFailing, AlertState::Firing),
            (ProfileErrorsHigh, AlertState::Firing),
        ]
    );

    // Down for longer than `for`: only the API alert changes.
    let t = j.evaluate(&failed(ApiFailure::Unreachable), t0() + MIN);
    assert_eq!(names(&t), [(InventoryApiDown, None, AlertState::Firing)]);
    let t = j.evaluate(&failed(ApiFailure::Unreachable), t0() + 10 * MIN);
    assert!(t.is_empty());
    assert_eq!(
        keys(&j),
        [
            (ProfileConnectivityDegraded, AlertState::Pending),
            (ProfileAuthenticationFailing, AlertState::Firing),
            (ProfileErrorsHigh, AlertState::Firing),
            (InventoryApiDown, AlertState::Firing),
        ]
    );

    // Back: authentication recovered meanwhile, connectivity held past `for`, and
    // profile 2 is gone.
    p.authentication = Some("valid".into());
    let t = j.evaluate(&of(p), t0() + 11 * MIN);
    assert_eq!(
        names(&t),
        [
            firing(ProfileConnectivityDegraded, 1),
            resolved(ProfileAuthenticationFailing, 1),
            resolved(ProfileErrorsHigh, 2),
            (InventoryApiDown, None, AlertState::Resolved),
        ]
    );
    assert_eq!(t[0].alert.active_since, t0());
}

#[test]
fn unread_detail_freezes_health_alerts_but_unreachable_still_fires() {
    let mut j = Judge::new(holding(|r| r.connectivity.for_ = 5 * MIN));
    let mut p = disconnected(1);
    p.error_count_24h = Some(20);
    j.evaluate(&of(p.clone()), t0());
    assert_eq!(
        keys(&j),
        [
            (ProfileConnectivityDegraded, AlertState::Pending),
            (ProfileErrorsHigh, AlertState::Firing),
        ]
    );

    // The last detail read said unhealthy; unread details say nothing new, even when the
    // entry carries a healthy-looking old detail.
    let stale_view = healthy(1);
    for n in 1..=2 {
        let t = j.evaluate(
            &snap(vec![down(stale_view.clone(), n)]),
            t0() + 10 * MIN * n,
        );
        assert!(t.is_empty(), "after {n} failures: {t:?}");
    }
    let t = j.evaluate(&snap(vec![down(stale_view, 3)]), t0() + 30 * MIN);
    assert_eq!(names(&t), [firing(ProfileUnreachable, 1)]);
    assert_eq!(
        keys(&j),
        [
            (ProfileConnectivityDegraded, AlertState::Pending),
            (ProfileErrorsHigh, AlertState::Firing),
            (ProfileUnreachable, AlertState::Firing),
        ]
    );
}

#[test]
fn profile_no_longer_in_the_snapshot_resolves_its_alerts() {
    let mut j = Judge::new(rules());
    let p = disconnected(1);
    let other = healthy(2);
    j.evaluate(&snap(vec![entry(p), entry(other.clone())]), t0());

    let t = j.evaluate(&of(other), t0() + MIN);
    assert_eq!(names(&t), [resolved(ProfileConnectivityDegraded, 1)]);
    assert_contains(&t[0].alert.description, "no longer monitored");
    assert_eq!(j.alerts().count(), 0);
}

#[test]
fn profile_missing_from_an_incomplete_walk_keeps_its_alerts_until_confirmed_gone() {
    let mut j = Judge::new(rules());
    let p = disconnected(1);
    let other = healthy(2);
    j.evaluate(&snap(vec![entry(p), entry(other.clone())]), t0());
    let incomplete = |gone: Vec<u64>| Snapshot {
        list: ListOutcome::Incomplete {
            reason: "count changed from 2 to 1 mid-walk".to_string(),
        },
        listed: None,
        gone,
        ..snap(vec![entry(other.clone())])
    };

    // Not reached by the walk (say, a restarted daemon that knew no earlier profiles):
    // nothing is known, the alert neither resolves nor is announced again.
    assert!(j.evaluate(&incomplete(Vec::new()), t0() + MIN).is_empty());
    assert_eq!(j.firing().count(), 1);

    // Its detail answered 404: gone for sure, even though the walk was incomplete.
    let t = j.evaluate(&incomplete(vec![1]), t0() + 2 * MIN);
    assert_eq!(names(&t), [resolved(ProfileConnectivityDegraded, 1)]);
    assert_eq!(j.alerts().count(), 0);
}

#[test]
fn disabled_rule_never_fires() {
    let mut r = rules();
    r.connectivity.enabled = false;
    r.errors.enabled = false;
    let mut j = Judge::new(r);
    let mut p = disconnected(1);
    p.error_count_24h = Some(1_000);
    assert!(j.evaluate(&of(p.clone()), t0()).is_empty());
    assert!(j.evaluate(&of(p), t0() + HOUR).is_empty());
    assert_eq!(j.alerts().count(), 0);
}

#[test]
fn disabling_a_rule_on_reload_resolves_its_alerts() {
    let mut j = Judge::new(rules());
    let mut p = disconnected(1);
    p.authentication = Some("invalid".into());
    assert_eq!(j.evaluate(&of(p.clone()), t0()).len(), 2);

    let mut r = rules();
    r.connectivity.enabled = false;
    j.set_rules(r);
    let t = j.evaluate(&of(p.clone()), t0() + MIN);
    assert_eq!(names(&t), [resolved(ProfileConnectivityDegraded, 1)]);
    assert!(t[0].alert.description.contains("rule was disabled"));
    assert_eq!(
        keys(&j),
        [(ProfileAuthenticationFailing, AlertState::Firing)]
    );
    assert!(j.evaluate(&of(p), t0() + 2 * MIN).is_empty());
}

#[test]
fn disabling_a_rule_while_the_api_is_down_still_resolves_its_alerts() {
    let mut j = Judge::new(rules());
    let mut p = healthy(1);
    p.error_count_24h = Some(40);
    p.authentication = Some("invalid".into());
    assert_eq!(j.evaluate(&of(p), t0()).len(), 2);
    j.evaluate(&failed(ApiFailure::Unreachable), t0() + MIN);

    let mut r = rules();
    r.errors.enabled = false;
    j.set_rules(r);
    let t = j.evaluate(&failed(ApiFailure::Unreachable), t0() + 2 * MIN);
    assert_eq!(names(&t), [resolved(ProfileErrorsHigh, 1)]);
    assert_eq!(
        keys(&j),
        [
            (ProfileAuthenticationFailing, AlertState::Firing),
            (InventoryApiDown, AlertState::Firing),
        ]
    );
}

#[test]
fn firing_alert_follows_changing_details_without_a_transition() {
    let mut r = rules();
    let mut j = Judge::new(r.clone());
    let mut p = disconnected(1);
    p.last_error = Some("timeout".to_string());
    j.evaluate(&of(p.clone()), t0());

    p.connectivity = Some("flaky".into());
    p.last_error = Some("TLS handshake failed".to_string());
    p.name = "Renamed".to_string();
    r.connectivity.severity = "warning".into();
    j.set_rules(r);
    assert!(j.evaluate(&of(p), t0() + MIN).is_empty());

    let a = j.firing().next().expect("still firing");
    assert_contains(&a.summary, "\"Renamed\"");
    assert!(a.summary.ends_with("is flaky"), "{}", a.summary);
    assert_contains(&a.description, "TLS handshake failed");
    assert!(!a.description.contains("timeout"), "{}", a.description);
    assert_eq!(&*a.profile_name, "Renamed");
    assert_eq!(&*a.severity, "warning");
    assert_eq!(a.firing_since, Some(t0()));
}

#[test]
fn restored_firing_alert_keeps_its_start_and_is_not_reannounced() {
    let mut j = Judge::new(rules());
    let p = disconnected(1);
    let mut q = healthy(2);
    q.error_count_24h = Some(30);
    j.evaluate(&snap(vec![entry(p.clone()), entry(q.clone())]), t0());

    // Saved, then loaded by a new process.
    let saved =
        serde_json::to_string(&j.alerts().cloned().collect::<Vec<_>>()).expect("alerts serialise");
    let loaded: Vec<Alert> = serde_json::from_str(&saved).expect("alerts deserialise");
    let mut restarted = Judge::new(rules());
    restarted.restore(loaded);
    assert_eq!(restarted.firing().count(), 2);

    // Profile 2 recovered while the daemon was down: that is still announced.
    q.error_count_24h = Some(0);
    let t = restarted.evaluate(&snap(vec![entry(p), entry(q)]), t0() + HOUR);
    assert_eq!(names(&t), [resolved(ProfileErrorsHigh, 2)]);
    let a = restarted.firing().next().expect("still firing");
    assert_eq!(a.key, AlertKey::profile(ProfileConnectivityDegraded, 1));
    assert_eq!(a.firing_since, Some(t0()));
    assert_eq!(a.active_since, t0());
}

#[test]
fn restore_skips_resolved_and_ill_formed_alerts() {
    let alert = |key: AlertKey, state| Alert {
        key,
        severity: "warning".into(),
        profile_name: "".into(),
        organization: "".into(),
        summary: "".into(),
        description: "".into(),
        state,
        active_since: t0(),
        firing_since: None,
        resolved_at: None,
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    };
    let mut j = Judge::new(rules());
    j.restore(vec![
        alert(
            AlertKey::profile(ProfileErrorsHigh, 1),
            AlertState::Resolved,
        ),
        alert(
            AlertKey {
                alertname: InventoryApiDown,
                profile_id: Some(1),
                condition: None,
            },
            AlertState::Firing,
        ),
        alert(
            AlertKey {
                alertname: ProfileUnreachable,
                profile_id: None,
                condition: None,
            },
            AlertState::Firing,
        ),
        alert(AlertKey::profile(ProfileSyncFailing, 1), AlertState::Firing),
        // ProfileFlapping names a watched condition, and only it names one.
        alert(
            AlertKey {
                alertname: ProfileFlapping,
                profile_id: Some(1),
                condition: None,
            },
            AlertState::Firing,
        ),
        alert(AlertKey::flapping(1, InventoryApiDown), AlertState::Firing),
        alert(
            AlertKey {
                alertname: ProfileSyncStale,
                profile_id: Some(1),
                condition: Some(ProfileSyncFailing),
            },
            AlertState::Firing,
        ),
    ]);
    let kept: Vec<&Alert> = j.alerts().collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].key.alertname, ProfileSyncFailing);
    // A firing alert saved without its start fired no later than it became active.
    assert_eq!(kept[0].firing_since, Some(t0()));
}

#[test]
fn restored_pending_alert_keeps_counting_its_for() {
    let mut r = rules();
    r.connectivity.for_ = 10 * MIN;
    let mut j = Judge::new(r.clone());
    let p = disconnected(1);
    j.evaluate(&of(p.clone()), t0());

    let mut restarted = Judge::new(r);
    restarted.restore(j.alerts().cloned().collect());
    assert!(restarted
        .evaluate(&of(p.clone()), t0() + 9 * MIN)
        .is_empty());
    let t = restarted.evaluate(&of(p), t0() + 10 * MIN);
    assert_eq!(names(&t), [firing(ProfileConnectivityDegraded, 1)]);
}

#[test]
fn labels_and_annotations_carry_the_profile() {
    let mut j = Judge::new(rules());
    let mut p = healthy(42);
    p.authentication = Some("invalid".into());
    p.organization = None;
    let t = j.evaluate(&of(p), t0());
    let a = &t[0].alert;
    let labels = a.labels();
    assert_eq!(
        labels.keys().copied().collect::<Vec<_>>(),
        [
            "alertname",
            "organization",
            "profile_id",
            "profile_name",
            "severity"
        ]
    );
    assert_eq!(labels["profile_id"], "42");
    assert_eq!(labels["profile_name"], "Profile 42");
    assert_eq!(labels["organization"], "");
    assert_eq!(labels["severity"], "critical");
    let annotations = a.annotations();
    assert_eq!(
        annotations["summary"],
        "Authentication of \"Profile 42\" is invalid"
    );
    assert_eq!(*annotations["description"], *a.description);
}

#[test]
fn many_profiles_only_the_unhealthy_raise_alerts() {
    let mut j = Judge::new(rules());
    let mut profiles: Vec<ProfileEntry> = (0..100_000).map(|id| entry(healthy(id))).collect();
    for id in [17, 50_000, 99_999] {
        let p = disconnected(id);
        profiles[id as usize] = entry(p);
    }
    let s = snap(profiles);
    let t = j.evaluate(&s, t0());
    assert_eq!(
        names(&t),
        [
            firing(ProfileConnectivityDegraded, 17),
            firing(ProfileConnectivityDegraded, 50_000),
            firing(ProfileConnectivityDegraded, 99_999),
        ]
    );
    assert!(j.evaluate(&s, t0() + MIN).is_empty());
    assert_eq!(j.firing().count(), 3);
}

mod flapping;
mod texts;
