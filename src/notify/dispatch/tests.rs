//! Unit tests of routing, grouping, reminders, suppression and the per-sweep push.

use super::*;
use crate::config::ReceiverKind;
use crate::rules::AlertName;

const T0: u64 = 1_767_225_600;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn settings() -> Settings {
    Settings {
        group_wait: Duration::from_secs(10),
        repeat_interval: Duration::from_secs(3600),
        send_resolved: true,
        max_delivery_age: Duration::from_secs(86_400),
    }
}

fn receiver(name: &str, kind: ReceiverKind) -> ReceiverConfig {
    ReceiverConfig::new(name, kind)
}

fn alert(id: u64, state: AlertState) -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, id),
        severity: "critical".into(),
        profile_name: format!("p{id}").into(),
        organization: "North".into(),
        summary: "".into(),
        description: "".into(),
        state,
        active_since: at(0),
        firing_since: Some(at(0)),
        resolved_at: (state == AlertState::Resolved).then(|| at(0)),
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

fn fire(id: u64) -> Transition {
    Transition {
        alert: alert(id, AlertState::Firing).into(),
    }
}

fn resolve(id: u64) -> Transition {
    Transition {
        alert: alert(id, AlertState::Resolved).into(),
    }
}

fn keys(book: &Book, receiver: &str) -> Vec<Vec<(u64, AlertState)>> {
    book.outbox
        .of(receiver)
        .map(|e| {
            e.notification
                .alerts
                .iter()
                .map(|a| (a.key.profile_id.unwrap_or(0), a.state))
                .collect()
        })
        .collect()
}

#[test]
fn inventory_api_down_passes_an_organization_filter() {
    let mut r = receiver("north", ReceiverKind::Slack);
    r.match_organization = vec!["North".into()];
    let mut down = alert(0, AlertState::Firing);
    down.key = AlertKey::api_down();
    down.organization = "".into();
    assert!(routes(&r, &down));
    let mut south = alert(1, AlertState::Firing);
    south.organization = "South".into();
    assert!(!routes(&r, &south));
    assert!(routes(&r, &alert(2, AlertState::Firing)));
}

#[test]
fn a_flap_within_group_wait_is_not_announced() {
    let mut book = Book::default();
    let rs = [receiver("ops", ReceiverKind::Slack)];
    plan_sweep(&mut book, &rs, &settings(), &[fire(1), fire(2)], &[], at(0));
    plan_sweep(&mut book, &rs, &settings(), &[resolve(1)], &[], at(5));
    assert_eq!(keys(&book, "ops"), vec![vec![(2, AlertState::Firing)]]);
}

#[test]
fn a_resolution_of_an_announced_alert_replaces_nothing_and_is_sent() {
    let mut book = Book::default();
    let rs = [receiver("ops", ReceiverKind::Slack)];
    let firing = [Arc::new(alert(1, AlertState::Firing))];
    plan_sweep(&mut book, &rs, &settings(), &[fire(1)], &firing, at(0));
    let id = book.outbox.of("ops").next().map(|e| e.id).unwrap();
    book.delivered(id, at(11));
    assert_eq!(
        book.receivers["ops"].last_notified.get(&firing[0].key),
        Some(&at(11))
    );
    plan_sweep(&mut book, &rs, &settings(), &[resolve(1)], &[], at(20));
    assert_eq!(keys(&book, "ops"), vec![vec![(1, AlertState::Resolved)]]);
    let id = book.outbox.of("ops").next().map(|e| e.id).unwrap();
    book.delivered(id, at(31));
    assert!(book.receivers["ops"].last_notified.is_empty());
}

/// Alert 1 in an episode that became active at `since` and fired at `fired`.
fn episode(since: u64, fired: u64) -> impl Fn(AlertState) -> Alert {
    move |state| Alert {
        active_since: at(since),
        firing_since: Some(at(fired)),
        ..alert(1, state)
    }
}

/// A sweep at `now` in which `alert` changed (and is active, when firing).
fn changed(book: &mut Book, rs: &[ReceiverConfig], alert: Alert, now: SystemTime) {
    let active: Vec<Arc<Alert>> = (alert.state == AlertState::Firing)
        .then(|| Arc::new(alert.clone()))
        .into_iter()
        .collect();
    plan_sweep(
        book,
        rs,
        &settings(),
        &[Transition {
            alert: alert.into(),
        }],
        &active,
        now,
    );
}

/// The first episode of alert 1 is announced and resolved; its resolution is delivered
/// at `resolution_delivered`, or left in the outbox (sealed) when `None`.
fn first_episode_told(rs: &[ReceiverConfig], resolution_delivered: Option<u64>) -> Book {
    let mut book = Book::default();
    plan_sweep(&mut book, rs, &settings(), &[fire(1)], &[], at(0));
    let id = book.outbox.of("ops").next().map(|e| e.id).unwrap();
    book.delivered(id, at(11));
    plan_sweep(&mut book, rs, &settings(), &[resolve(1)], &[], at(20));
    let id = book.outbox.of("ops").next().map(|e| e.id).unwrap();
    match resolution_delivered {
        Some(t) => {
            book.delivered(id, at(t));
        }
        None => {
            if let Some(e) = book.outbox.get_mut(id) {
                e.sealed = true;
            }
        }
    }
    book
}

#[test]
fn a_later_episode_that_clears_unannounced_is_not_resolved_on_the_earlier_ones_record() {
    let rs = [receiver("ops", ReceiverKind::Webhook)];
    // The receiver is down: the first episode's resolution waits in the outbox, and the
    // record that its firing was told lingers until it is delivered.
    let mut book = first_episode_told(&rs, None);
    // A second episode fires and clears within one group: never announced firing, so
    // not announced resolved either.
    let second = episode(30, 40);
    changed(&mut book, &rs, second(AlertState::Firing), at(40));
    changed(&mut book, &rs, second(AlertState::Resolved), at(45));
    let said: Vec<Vec<(AlertState, SystemTime)>> = book
        .outbox
        .of("ops")
        .map(|e| {
            e.notification
                .alerts
                .iter()
                .map(|a| (a.state, a.active_since))
                .collect()
        })
        .collect();
    assert_eq!(said, vec![vec![(AlertState::Resolved, at(0))]]);
}

#[test]
fn the_resolution_of_a_second_episode_announced_firing_is_sent() {
    let rs = [receiver("ops", ReceiverKind::Webhook)];
    let mut book = first_episode_told(&rs, Some(31));
    let second = episode(40, 50);
    changed(&mut book, &rs, second(AlertState::Firing), at(50));
    let id = book.outbox.of("ops").next().map(|e| e.id).unwrap();
    book.delivered(id, at(61));
    assert_eq!(
        book.receivers["ops"]
            .announced_since
            .get(&alert(1, AlertState::Firing).key),
        Some(&at(40))
    );
    changed(&mut book, &rs, second(AlertState::Resolved), at(70));
    assert_eq!(keys(&book, "ops"), vec![vec![(1, AlertState::Resolved)]]);
}

#[test]
fn a_resolution_while_the_firing_message_is_still_queued_follows_it() {
    let mut book = Book::default();
    let rs = [receiver("ops", ReceiverKind::Webhook)];
    plan_sweep(&mut book, &rs, &settings(), &[fire(1)], &[], at(0));
    let id = book.outbox.of("ops").next().map(|e| e.id).unwrap();
    if let Some(e) = book.outbox.get_mut(id) {
        e.sealed = true;
    }
    plan_sweep(&mut book, &rs, &settings(), &[resolve(1)], &[], at(20));
    assert_eq!(
        keys(&book, "ops"),
        vec![
            vec![(1, AlertState::Firing)],
            vec![(1, AlertState::Resolved)]
        ]
    );
}

#[test]
fn send_resolved_false_forgets_without_sending() {
    let mut book = Book::default();
    let rs = [receiver("ops", ReceiverKind::Slack)];
    let s = Settings {
        send_resolved: false,
        ..settings()
    };
    book.receivers
        .entry("ops".into())
        .or_default()
        .last_notified
        .insert(alert(1, AlertState::Firing).key, at(0));
    plan_sweep(&mut book, &rs, &s, &[resolve(1)], &[], at(20));
    assert!(book.outbox.is_empty());
    assert!(book.receivers["ops"].last_notified.is_empty());
}

#[test]
fn reminders_come_after_repeat_interval_and_not_before() {
    let mut book = Book::default();
    let rs = [receiver("ops", ReceiverKind::Slack)];
    let firing = [Arc::new(alert(1, AlertState::Firing))];
    book.receivers
        .entry("ops".into())
        .or_default()
        .last_notified
        .insert(firing[0].key, at(0));
    plan_sweep(&mut book, &rs, &settings(), &[], &firing, at(3599));
    assert!(book.outbox.is_empty());
    plan_sweep(&mut book, &rs, &settings(), &[], &firing, at(3600));
    let entry = book.outbox.of("ops").next().cloned().unwrap();
    assert_eq!(entry.notification.kind, NotificationKind::Reminder);
    // Queued already: the next sweep does not add it again.
    plan_sweep(&mut book, &rs, &settings(), &[], &firing, at(3660));
    assert_eq!(book.outbox.len(), 1);
}

#[test]
fn a_change_turns_an_open_reminder_into_an_alerts_message() {
    let mut book = Book::default();
    let rs = [receiver("ops", ReceiverKind::Slack)];
    let firing = [Arc::new(alert(1, AlertState::Firing))];
    plan_sweep(&mut book, &rs, &settings(), &[], &firing, at(0));
    assert_eq!(
        book.outbox.of("ops").next().map(|e| e.notification.kind),
        Some(NotificationKind::Reminder)
    );
    plan_sweep(&mut book, &rs, &settings(), &[fire(2)], &firing, at(3));
    let entries: Vec<_> = book.outbox.of("ops").collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].notification.kind, NotificationKind::Alerts);
    assert_eq!(entries[0].notification.alerts.len(), 2);
}

#[test]
fn alertmanager_gets_one_push_per_sweep_with_resolved_alerts_for_three_pushes() {
    let rs = [receiver("am", ReceiverKind::Alertmanager)];
    let mut book = Book::default();
    let firing = [Arc::new(alert(1, AlertState::Firing))];
    plan_sweep(&mut book, &rs, &settings(), &[fire(1)], &firing, at(0));
    plan_sweep(
        &mut book,
        &rs,
        &settings(),
        &[resolve(1), fire(2)],
        &[Arc::new(alert(2, AlertState::Firing))],
        at(60),
    );
    // The first push was never sent: replaced.
    assert_eq!(
        keys(&book, "am"),
        vec![vec![(2, AlertState::Firing), (1, AlertState::Resolved)]]
    );
    for push in 0..RESOLVED_PUSHES {
        let id = book.outbox.of("am").next().map(|e| e.id).unwrap();
        book.delivered(id, at(61 + u64::from(push)));
        plan_sweep(
            &mut book,
            &rs,
            &settings(),
            &[],
            &[Arc::new(alert(2, AlertState::Firing))],
            at(120),
        );
    }
    assert_eq!(keys(&book, "am"), vec![vec![(2, AlertState::Firing)]]);
}

/// Alert 1 firing, muted by silence `s1`.
fn muted(state: AlertState) -> Alert {
    Alert {
        suppressed_by: vec![crate::vocabulary::Suppression::Silence { id: "s1".into() }],
        ..alert(1, state)
    }
}

/// A sweep at `now` (seconds after `T0`) with these changes and these active alerts.
fn sweep(book: &mut Book, rs: &[ReceiverConfig], t: &[Transition], active: &[Alert], now: u64) {
    let active: Vec<Arc<Alert>> = active.iter().cloned().map(Arc::new).collect();
    plan_sweep(book, rs, &settings(), t, &active, at(now));
}

/// Delivers every entry of receiver `name` at `now`; returns what they said.
fn deliver_all(
    book: &mut Book,
    name: &str,
    now: u64,
) -> Vec<(NotificationKind, Vec<(u64, AlertState)>)> {
    let ids: Vec<u64> = book.outbox.of(name).map(|e| e.id).collect();
    ids.into_iter()
        .filter_map(|id| book.delivered(id, at(now)))
        .map(|e| {
            let said = e
                .notification
                .alerts
                .iter()
                .map(|a| (a.key.profile_id.unwrap_or(0), a.state))
                .collect();
            (e.notification.kind, said)
        })
        .collect()
}

#[test]
fn a_suppressed_alert_is_held_and_announced_as_a_change_when_its_suppression_ends() {
    let rs = [receiver("ops", ReceiverKind::Webhook)];
    let mut book = Book::default();
    let fired = Transition {
        alert: muted(AlertState::Firing).into(),
    };
    sweep(&mut book, &rs, &[fired], &[muted(AlertState::Firing)], 0);
    assert!(book.outbox.is_empty(), "held: {:?}", keys(&book, "ops"));
    assert!(book.receivers["ops"]
        .held
        .contains_key(&muted(AlertState::Firing).key));
    // Still muted a sweep later: still nothing, and no "reminder" of the unknown alert.
    sweep(&mut book, &rs, &[], &[muted(AlertState::Firing)], 60);
    assert!(book.outbox.is_empty());
    // The silence ends and it still fires: a normal firing notification, once.
    sweep(&mut book, &rs, &[], &[alert(1, AlertState::Firing)], 120);
    assert_eq!(
        deliver_all(&mut book, "ops", 131),
        vec![(NotificationKind::Alerts, vec![(1, AlertState::Firing)])]
    );
    assert!(book.receivers["ops"].held.is_empty());
    sweep(&mut book, &rs, &[], &[alert(1, AlertState::Firing)], 180);
    assert!(book.outbox.is_empty(), "announced once");
}

#[test]
fn a_held_alert_stays_held_while_the_api_is_down_even_if_its_silence_ends() {
    for kind in [ReceiverKind::Webhook, ReceiverKind::Alertmanager] {
        let rs = [receiver("ops", kind)];
        let mut book = Book::default();
        let fired = Transition {
            alert: muted(AlertState::Firing).into(),
        };
        sweep(&mut book, &rs, &[fired], &[muted(AlertState::Firing)], 0);
        deliver_all(&mut book, "ops", 1);
        let down = Alert {
            key: AlertKey::api_down(),
            profile_name: "".into(),
            ..alert(0, AlertState::Firing)
        };
        // The API goes down (its own alert is announced); the silence ends meanwhile.
        let during = [down.clone(), alert(1, AlertState::Firing)];
        let api = Transition {
            alert: down.clone().into(),
        };
        sweep(&mut book, &rs, &[api], &during, 60);
        let said = deliver_all(&mut book, "ops", 71);
        assert!(
            said.iter()
                .all(|(_, alerts)| alerts.iter().all(|(id, _)| *id == 0)),
            "{kind:?}: only InventoryApiDown while it is down: {said:?}"
        );
        assert!(book.receivers["ops"]
            .held
            .contains_key(&alert(1, AlertState::Firing).key));
        // The API answers again and the profile still fails: announced then.
        sweep(&mut book, &rs, &[], &[alert(1, AlertState::Firing)], 120);
        let said = deliver_all(&mut book, "ops", 131);
        assert!(
            said.iter()
                .any(|(_, alerts)| alerts.contains(&(1, AlertState::Firing))),
            "{kind:?}: {said:?}"
        );
        assert!(book.receivers["ops"].held.is_empty(), "{kind:?}");
    }
}

#[test]
fn a_queued_announcement_suppressed_before_it_goes_out_is_held_instead() {
    let rs = [receiver("ops", ReceiverKind::Webhook)];
    let mut book = Book::default();
    let both = [alert(1, AlertState::Firing), alert(2, AlertState::Firing)];
    sweep(&mut book, &rs, &[fire(1), fire(2)], &both, 0);
    // The group is sealed (group_wait over) but the receiver is down: it waits.
    sweep(&mut book, &rs, &[], &both, 60);
    let queued = keys(&book, "ops");
    assert_eq!(
        queued,
        vec![vec![(1, AlertState::Firing), (2, AlertState::Firing)]]
    );
    // Alert 1 is silenced before the receiver comes back.
    let now = [muted(AlertState::Firing), alert(2, AlertState::Firing)];
    sweep(&mut book, &rs, &[], &now, 120);
    assert_eq!(
        deliver_all(&mut book, "ops", 121),
        vec![(NotificationKind::Alerts, vec![(2, AlertState::Firing)])],
        "only the unsilenced alert goes out"
    );
    assert!(book.receivers["ops"]
        .held
        .contains_key(&alert(1, AlertState::Firing).key));
    // The silence ends: alert 1 is announced then.
    sweep(&mut book, &rs, &[], &both, 180);
    assert_eq!(
        deliver_all(&mut book, "ops", 191),
        vec![(NotificationKind::Alerts, vec![(1, AlertState::Firing)])]
    );
}

#[test]
fn an_alert_announced_then_suppressed_still_gets_its_resolution() {
    let rs = [receiver("ops", ReceiverKind::Webhook)];
    let mut book = Book::default();
    sweep(
        &mut book,
        &rs,
        &[fire(1)],
        &[alert(1, AlertState::Firing)],
        0,
    );
    deliver_all(&mut book, "ops", 11);
    sweep(&mut book, &rs, &[], &[muted(AlertState::Firing)], 60);
    assert!(book.outbox.is_empty());
    assert!(
        book.receivers["ops"].held.is_empty(),
        "it was told: not held"
    );
    let resolved = Transition {
        alert: muted(AlertState::Resolved).into(),
    };
    sweep(&mut book, &rs, &[resolved], &[], 120);
    assert_eq!(
        deliver_all(&mut book, "ops", 131),
        vec![(NotificationKind::Alerts, vec![(1, AlertState::Resolved)])]
    );
}

#[test]
fn an_alert_never_announced_that_resolves_while_suppressed_gets_nothing() {
    let rs = [receiver("ops", ReceiverKind::Slack)];
    let mut book = Book::default();
    let fired = Transition {
        alert: muted(AlertState::Firing).into(),
    };
    sweep(&mut book, &rs, &[fired], &[muted(AlertState::Firing)], 0);
    let resolved = Transition {
        alert: muted(AlertState::Resolved).into(),
    };
    sweep(&mut book, &rs, &[resolved], &[], 60);
    assert!(book.outbox.is_empty());
    assert!(book.receivers["ops"].held.is_empty());
    assert!(book.receivers["ops"].last_notified.is_empty());
}

#[test]
fn an_alert_waiting_in_the_open_group_is_taken_out_when_suppressed() {
    let rs = [receiver("ops", ReceiverKind::Slack)];
    let mut book = Book::default();
    sweep(
        &mut book,
        &rs,
        &[fire(1), fire(2)],
        &[alert(1, AlertState::Firing), alert(2, AlertState::Firing)],
        0,
    );
    sweep(
        &mut book,
        &rs,
        &[],
        &[muted(AlertState::Firing), alert(2, AlertState::Firing)],
        5,
    );
    assert_eq!(keys(&book, "ops"), vec![vec![(2, AlertState::Firing)]]);
    assert!(book.receivers["ops"]
        .held
        .contains_key(&muted(AlertState::Firing).key));
}

#[test]
fn reminders_skip_suppressed_alerts_and_resume_after() {
    let rs = [receiver("ops", ReceiverKind::Slack)];
    let mut book = Book::default();
    book.receivers
        .entry("ops".into())
        .or_default()
        .last_notified
        .insert(alert(1, AlertState::Firing).key, at(0));
    sweep(&mut book, &rs, &[], &[muted(AlertState::Firing)], 3600);
    sweep(&mut book, &rs, &[], &[muted(AlertState::Firing)], 7200);
    assert!(book.outbox.is_empty(), "no reminder while suppressed");
    assert!(
        book.receivers["ops"].held.is_empty(),
        "it was told: not held"
    );
    sweep(&mut book, &rs, &[], &[alert(1, AlertState::Firing)], 7260);
    assert_eq!(
        deliver_all(&mut book, "ops", 7270),
        vec![(NotificationKind::Reminder, vec![(1, AlertState::Firing)])]
    );
}

#[test]
fn held_alerts_survive_the_state_file_and_stay_held() {
    let rs = [receiver("ops", ReceiverKind::Webhook)];
    let mut book = Book::default();
    let fired = Transition {
        alert: muted(AlertState::Firing).into(),
    };
    sweep(&mut book, &rs, &[fired], &[muted(AlertState::Firing)], 0);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = super::super::state::StateStore::open(dir.path()).expect("store");
    store
        .save_with(|_| Some((1, super::super::state::StateStore::encode(&book, at(1)))))
        .expect("written");
    let (mut back, moved) = store.load().expect("read back");
    assert!(moved.is_none());
    assert_eq!(back.receivers["ops"].held, book.receivers["ops"].held);
    assert_eq!(
        back.alerts[0].suppressed_by,
        muted(AlertState::Firing).suppressed_by
    );
    // After the restart, still muted: nothing; then released: announced once.
    sweep(&mut back, &rs, &[], &[muted(AlertState::Firing)], 60);
    assert!(back.outbox.is_empty());
    sweep(&mut back, &rs, &[], &[alert(1, AlertState::Firing)], 120);
    assert_eq!(
        deliver_all(&mut back, "ops", 121),
        vec![(NotificationKind::Alerts, vec![(1, AlertState::Firing)])]
    );
}

#[test]
fn alertmanager_pushes_leave_suppressed_alerts_out_and_end_those_it_had() {
    let rs = [receiver("am", ReceiverKind::Alertmanager)];
    let mut book = Book::default();
    let both = [alert(1, AlertState::Firing), alert(2, AlertState::Firing)];
    sweep(&mut book, &rs, &[fire(1), fire(2)], &both, 0);
    deliver_all(&mut book, "am", 1);
    // Alert 1 is silenced, and alert 3 fires silenced from the start.
    let muted3 = Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, 3),
        ..muted(AlertState::Firing)
    };
    let fired3 = Transition {
        alert: muted3.clone().into(),
    };
    let now = [
        muted(AlertState::Firing),
        alert(2, AlertState::Firing),
        muted3.clone(),
    ];
    sweep(&mut book, &rs, &[fired3], &now, 60);
    assert_eq!(
        keys(&book, "am"),
        vec![vec![(2, AlertState::Firing), (1, AlertState::Resolved)]],
        "1 ended in Alertmanager, 3 never pushed"
    );
    deliver_all(&mut book, "am", 61);
    // Alert 3 clears while held: nothing to push about it.
    let cleared3 = Transition {
        alert: Alert {
            state: AlertState::Resolved,
            ..muted3
        }
        .into(),
    };
    sweep(&mut book, &rs, &[cleared3], &now[..2], 120);
    assert_eq!(
        keys(&book, "am"),
        vec![vec![(2, AlertState::Firing), (1, AlertState::Resolved)]]
    );
    deliver_all(&mut book, "am", 121);
    // The silence ends and 1 still fires: pushed firing again, its resolution no more.
    sweep(&mut book, &rs, &[], &both, 180);
    assert_eq!(
        keys(&book, "am"),
        vec![vec![(1, AlertState::Firing), (2, AlertState::Firing)]]
    );
    assert!(book.receivers["am"].held.is_empty());
}

#[test]
fn the_book_holds_the_active_alerts_it_is_handed_not_copies() {
    let mut book = Book::default();
    let rs = [receiver("ops", ReceiverKind::Slack)];
    let active: Vec<Arc<Alert>> = vec![
        Arc::new(alert(1, AlertState::Firing)),
        Arc::new(alert(2, AlertState::Pending)),
    ];
    plan_sweep(&mut book, &rs, &settings(), &[fire(1)], &active, at(0));
    assert_eq!(book.alerts.len(), 2);
    assert!(book
        .alerts
        .iter()
        .zip(&active)
        .all(|(a, b)| Arc::ptr_eq(a, b)));
}

#[test]
fn every_receivers_entry_shares_the_transitions_alert() {
    let mut book = Book::default();
    let rs = [
        receiver("ops", ReceiverKind::Slack),
        receiver("hook", ReceiverKind::Webhook),
    ];
    let t = [fire(1)];
    let active = [t[0].alert.clone()];
    plan_sweep(&mut book, &rs, &settings(), &t, &active, at(0));
    let entries: Vec<&OutboxEntry> = book.outbox.iter().collect();
    assert_eq!(entries.len(), 2);
    for e in entries {
        assert!(Arc::ptr_eq(&e.notification.alerts[0], &t[0].alert));
    }
    // The book's copy (a compaction's, say) shares them too.
    let copy = book.outbox.clone();
    assert!(copy
        .iter()
        .all(|e| Arc::ptr_eq(&e.notification.alerts[0], &t[0].alert)));
}
