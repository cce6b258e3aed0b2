//! From a sweep's alert changes to outbox entries: routing, grouping, reminders, and the
//! Alertmanager push. Pure bookkeeping on the [`Book`]: no I/O, no clock but `now`.
//!
//! # Routing
//!
//! A receiver gets an alert when each of its filters passes: `match_severity`,
//! `match_organization` and `match_alertname`, an empty list passing everything.
//! `InventoryApiDown` has no organization (it affects every organization), so it passes any
//! `match_organization`: a receiver watching one organization still hears that the API it
//! depends on is down.
//!
//! How a receiver's alerts reach it is its kind's choice
//! ([`crate::receivers::Receiver::delivery`]): grouped messages, or a push every sweep.
//!
//! # Grouping (every kind but `alertmanager`)
//!
//! Changes go into the receiver's *open* entry, opened by the first change and closed
//! `group_wait` later; then it is sent as one message. Within the window, a later change of
//! an alert replaces the earlier one. An alert that resolves before its "firing" was ever
//! sent is taken out and not announced at all, as Alertmanager does; a "resolved" is only
//! sent for what the receiver was told (or is being told) was firing, in the same episode
//! (the same `active_since`): the record of an earlier, announced episode does not make a
//! later one that cleared unannounced worth a "resolved". With
//! `send_resolved = false`, resolutions are not sent (and the alert is forgotten).
//!
//! # Reminders
//!
//! After each sweep, every firing alert routed to a receiver that was last announced to it
//! `repeat_interval` ago or more joins the open entry (a reminder-only entry if no change
//! opened one). A firing alert the receiver has no record of at all (a receiver added to
//! the configuration, say) is announced the same way at once. Alerts already waiting in the
//! receiver's outbox are not reminded of again.
//!
//! # Suppression
//!
//! A firing alert whose `suppressed_by` is not empty (a silence, a maintenance window, flap
//! detection: README, Suppression) is not announced. A receiver that was never told it
//! fires *holds* it ([`ReceiverBook::held`], kept in the state file): taken out of the open
//! entry if it waits there, no reminder, and no resolution if it clears while held. When the
//! suppression ends and it still fires, it joins the open entry as a change (a normal firing
//! notification, grouped as usual). An alert already announced before its suppression is
//! not held: reminders skip it while it is suppressed and resume on their usual schedule
//! after, and its resolution is sent even during the suppression, so that no message is
//! left "firing" forever.
//!
//! # Alertmanager
//!
//! Alertmanager groups, waits and reminds by itself, and expects the alerts that still fire
//! to be re-sent regularly (a firing alert expires at its `endsAt`). So each sweep gives an
//! `alertmanager` receiver one *push* with every routed firing alert and the resolved
//! alerts it has not yet had in [`RESOLVED_PUSHES`] successful pushes. A push not yet sent
//! when the next sweep comes is replaced by the newer one (superseded pushes are not
//! counted as delivered or dropped). Resolved alerts are always pushed to Alertmanager,
//! whatever `send_resolved` says: without them it would keep a cleared alert firing until
//! its `endsAt`; Alertmanager's own `send_resolved` decides what people hear.
//!
//! Suppressed alerts are left out of the push. One that an Alertmanager was already sent
//! firing is pushed resolved (ending when it was suppressed, in the next
//! [`RESOLVED_PUSHES`] pushes) rather than left to expire at its `endsAt`, and is held:
//! when its suppression ends and it still fires it is pushed firing again, and if it clears
//! meanwhile nothing more is pushed (Alertmanager has it resolved already). A push cannot
//! say "still firing, but quiet": to keep it firing in Alertmanager and quiet there, silence
//! it in Alertmanager.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use super::outbox::{alert_order, OutboxEntry};
use super::state::{Book, PendingResolved, ReceiverBook};
use crate::config::ReceiverConfig;
use crate::receivers::{receiver_for, Delivery, NotificationKind};
use crate::rules::{Alert, AlertKey, AlertName, AlertState, Transition};

/// In how many successful pushes a resolved alert is included before it is forgotten: more
/// than one, so that every member of an Alertmanager cluster is likely to have heard it.
pub const RESOLVED_PUSHES: u32 = 3;

/// The `[alerting]` settings grouping and reminding need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long an entry stays open to further changes.
    pub group_wait: Duration,
    /// How often to remind about an alert still firing.
    pub repeat_interval: Duration,
    /// Whether resolutions are announced (not to `alertmanager`, which always gets them).
    pub send_resolved: bool,
    /// How long an undeliverable notification is kept; also how long a resolved alert waits
    /// for an Alertmanager that does not accept pushes.
    pub max_delivery_age: Duration,
}

/// True when `receiver` is to hear about `alert` (see the module documentation).
pub fn routes(receiver: &ReceiverConfig, alert: &Alert) -> bool {
    let severity = receiver.match_severity.is_empty()
        || receiver.match_severity.iter().any(|s| *s == alert.severity);
    let organization = receiver.match_organization.is_empty()
        || alert.key.alertname == AlertName::InventoryApiDown
        || receiver.match_organization.contains(&alert.organization);
    let alertname = receiver.match_alertname.is_empty()
        || receiver
            .match_alertname
            .iter()
            .any(|n| n == alert.key.alertname.as_str());
    severity && organization && alertname
}

/// Takes one sweep's results into the book: the active alerts (saved for a restart), and
/// for each receiver the routed changes and due reminders, grouped into the outbox.
pub fn plan_sweep(
    book: &mut Book,
    receivers: &[ReceiverConfig],
    settings: &Settings,
    transitions: &[Transition],
    active: &[Alert],
    now: SystemTime,
) {
    book.alerts = active.to_vec();
    let sweep = Sweep {
        settings,
        transitions,
        active,
        now,
    };
    for receiver in receivers {
        match receiver_for(receiver.kind).delivery() {
            Delivery::Grouped => plan_group(book, receiver, &sweep),
            Delivery::PushEverySweep => plan_push(book, receiver, &sweep),
        }
    }
    book.touch();
}

/// One sweep's results, as planning for each receiver reads them.
#[derive(Clone, Copy)]
struct Sweep<'a> {
    /// Grouping and reminder settings.
    settings: &'a Settings,
    /// The alerts that changed.
    transitions: &'a [Transition],
    /// The alerts pending or firing now.
    active: &'a [Alert],
    /// The sweep's time.
    now: SystemTime,
}

/// Grouping and reminders for one receiver.
fn plan_group(book: &mut Book, receiver: &ReceiverConfig, sweep: &Sweep<'_>) {
    let Sweep {
        settings,
        transitions,
        active,
        now,
    } = *sweep;
    let name = receiver.name.as_str();
    let open_id = book.outbox.open_of(name, now);

    // A firing alert never told that waits in a sealed entry not yet being sent (a receiver
    // down, retrying) and is suppressed now is taken out of it: it is held like the others
    // (below), not announced when the receiver comes back during its silence.
    take_suppressed_out_of_sealed_entries(book, receiver, active, open_id);

    // What the receiver's other (sealed) entries are about to say, by alert: the state and
    // the episode (`active_since`) of the last word queued.
    let mut elsewhere: HashMap<AlertKey, (AlertState, SystemTime)> = HashMap::new();
    for entry in book.outbox.of(name).filter(|e| Some(e.id) != open_id) {
        for alert in &entry.notification.alerts {
            elsewhere.insert(alert.key, (alert.state, alert.active_since));
        }
    }

    // The open group as a map, to merge into it in O(log n) per change.
    let (mut group, mut changed): (BTreeMap<AlertKey, Alert>, bool) =
        match open_id.and_then(|id| book.outbox.get_mut(id)) {
            Some(entry) => (
                entry
                    .notification
                    .alerts
                    .drain(..)
                    .map(|a| (a.key, a))
                    .collect(),
                entry.notification.kind == NotificationKind::Alerts,
            ),
            None => (BTreeMap::new(), false),
        };

    let told: &mut ReceiverBook = book.receivers.entry(name.to_string()).or_default();
    for t in transitions.iter().filter(|t| routes(receiver, &t.alert)) {
        let alert = &t.alert;
        match alert.state {
            // Held (or not) with the active alerts below.
            AlertState::Firing if is_suppressed(alert) => {}
            AlertState::Firing => {
                group.insert(alert.key, alert.clone());
                changed = true;
            }
            AlertState::Resolved => {
                // Never announced in this suppression: nothing to resolve (below).
                told.release(&alert.key);
                group.remove(&alert.key);
                if !settings.send_resolved {
                    told.forget(&alert.key);
                    continue;
                }
                // Only this episode's firing counts: the record of an earlier one lingers
                // while its resolution waits in the outbox.
                let announced = told.was_told_of(alert)
                    || elsewhere.get(&alert.key) == Some(&(AlertState::Firing, alert.active_since));
                if announced {
                    group.insert(alert.key, alert.clone());
                    changed = true;
                }
            }
            AlertState::Pending => {}
        }
    }

    let mut firing_now: HashSet<AlertKey> = HashSet::new();
    for alert in active.iter().filter(|a| a.state == AlertState::Firing) {
        firing_now.insert(alert.key);
        if !routes(receiver, alert) {
            continue;
        }
        if is_suppressed(alert) {
            // Not said yet: it waits for the end of its suppression instead.
            if group
                .get(&alert.key)
                .is_some_and(|a| a.state == AlertState::Firing)
            {
                group.remove(&alert.key);
            }
            let queued =
                elsewhere.get(&alert.key) == Some(&(AlertState::Firing, alert.active_since));
            if !told.was_told_of(alert) && !queued {
                told.held.insert(alert.key, alert.active_since);
            }
            continue;
        }
        if group.contains_key(&alert.key) || elsewhere.contains_key(&alert.key) {
            continue;
        }
        if frozen(active, alert) && told.held.contains_key(&alert.key) {
            // Its suppression ended while the API is down: nothing is known of it now, so
            // it is announced (if it still fires) once the API answers again.
            continue;
        }
        if told.release(&alert.key) {
            // Its suppression ended and it still fires: announced now, as a change.
            group.insert(alert.key, alert.clone());
            changed = true;
            continue;
        }
        let due = match told.last_notified.get(&alert.key) {
            Some(last) => now
                .duration_since(*last)
                .is_ok_and(|d| d >= settings.repeat_interval),
            None => true,
        };
        if due {
            group.insert(alert.key, alert.clone());
        }
    }

    // Forget what neither fires nor waits to be said: nothing will ask about it again.
    told.last_notified.retain(|key, _| {
        firing_now.contains(key) || group.contains_key(key) || elsewhere.contains_key(key)
    });
    let last_notified = &told.last_notified;
    told.announced_since
        .retain(|key, _| last_notified.contains_key(key));
    told.held.retain(|key, _| firing_now.contains(key));

    let kind = if changed {
        NotificationKind::Alerts
    } else {
        NotificationKind::Reminder
    };
    let mut alerts: Vec<Alert> = group.into_values().collect();
    alerts.sort_by(alert_order);
    // An open entry left empty had everything in it resolve before it was sent.
    fill_entry(book, open_id, kind, alerts, |id| {
        OutboxEntry::open(id, name, kind, now, now + settings.group_wait)
    });
}

/// Takes the firing alerts of `receiver`'s sealed entries (not the open one, not one in
/// flight) out when they are suppressed now and were never told; an entry left empty goes.
fn take_suppressed_out_of_sealed_entries(
    book: &mut Book,
    receiver: &ReceiverConfig,
    active: &[Alert],
    open_id: Option<u64>,
) {
    let name = receiver.name.as_str();
    let told = book.receivers.get(name);
    let to_hold: HashMap<AlertKey, SystemTime> = active
        .iter()
        .filter(|a| a.state == AlertState::Firing && is_suppressed(a) && routes(receiver, a))
        .filter(|a| !told.is_some_and(|t| t.was_told_of(a)))
        .map(|a| (a.key, a.active_since))
        .collect();
    if to_hold.is_empty() {
        return;
    }
    let sealed: Vec<u64> = book
        .outbox
        .of(name)
        .filter(|e| Some(e.id) != open_id && !e.in_flight)
        .map(|e| e.id)
        .collect();
    for id in sealed {
        let Some(entry) = book.outbox.get_mut(id) else {
            continue;
        };
        entry.notification.alerts.retain(|a| {
            !(a.state == AlertState::Firing && to_hold.get(&a.key) == Some(&a.active_since))
        });
        if entry.notification.alerts.is_empty() {
            book.outbox.remove(id);
        }
    }
}

/// The push of every routed firing alert (and those resolved lately) for one receiver.
fn plan_push(book: &mut Book, receiver: &ReceiverConfig, sweep: &Sweep<'_>) {
    let Sweep {
        transitions,
        active,
        now,
        ..
    } = *sweep;
    let name = receiver.name.as_str();
    // What a push under way is telling Alertmanager fires (not yet recorded as told).
    let sending: HashSet<AlertKey> = book
        .outbox
        .of(name)
        .filter(|e| e.in_flight)
        .flat_map(|e| e.notification.alerts.iter())
        .filter(|a| a.state == AlertState::Firing)
        .map(|a| a.key)
        .collect();
    let told = book.receivers.entry(name.to_string()).or_default();
    for t in transitions.iter().filter(|t| routes(receiver, &t.alert)) {
        match t.alert.state {
            AlertState::Firing => {}
            // Held: never pushed firing, or pushed resolved when its suppression began.
            AlertState::Resolved if told.release(&t.alert.key) => {}
            AlertState::Resolved => {
                told.resolved_to_push.insert(
                    t.alert.key,
                    PendingResolved {
                        alert: t.alert.clone(),
                        pushes_left: RESOLVED_PUSHES,
                    },
                );
            }
            AlertState::Pending => {}
        }
    }
    // An Alertmanager that never accepts a push must not make this grow without end.
    told.resolved_to_push.retain(|_, p| {
        let since = p.alert.resolved_at.unwrap_or(now);
        now.duration_since(since)
            .map_or(true, |age| age <= sweep.settings.max_delivery_age)
    });

    let mut firing: Vec<Alert> = Vec::new();
    let mut firing_now: HashSet<AlertKey> = HashSet::new();
    for alert in active
        .iter()
        .filter(|a| a.state == AlertState::Firing && routes(receiver, a))
    {
        firing_now.insert(alert.key);
        if frozen(active, alert) && told.held.contains_key(&alert.key) {
            // Held, and nothing is known of it while the API is down (as in `plan_group`).
            continue;
        }
        if !is_suppressed(alert) {
            told.release(&alert.key);
            told.resolved_to_push.remove(&alert.key);
            firing.push(alert.clone());
            continue;
        }
        if told.held.contains_key(&alert.key) {
            continue;
        }
        if told.last_notified.contains_key(&alert.key) || sending.contains(&alert.key) {
            // Alertmanager has it firing: end it there now rather than at its `endsAt`.
            told.forget(&alert.key);
            told.resolved_to_push.insert(
                alert.key,
                PendingResolved {
                    alert: Alert {
                        state: AlertState::Resolved,
                        resolved_at: Some(now),
                        ..alert.clone()
                    },
                    pushes_left: RESOLVED_PUSHES,
                },
            );
        }
        told.held.insert(alert.key, alert.active_since);
    }
    told.held.retain(|key, _| firing_now.contains(key));

    let mut alerts: Vec<Alert> = firing
        .into_iter()
        .chain(told.resolved_to_push.values().map(|p| p.alert.clone()))
        .collect();
    alerts.sort_by(alert_order);

    // Pushes not yet under way are replaced by this one; it inherits the oldest one's place
    // in the queue, its age (for max_delivery_age) and its backoff.
    let idle: Vec<u64> = book
        .outbox
        .of(name)
        .filter(|e| !e.in_flight)
        .map(|e| e.id)
        .collect();
    let mut idle = idle.into_iter();
    let keep = idle.next();
    for id in idle {
        book.outbox.remove(id);
    }
    let kind = NotificationKind::Alerts;
    fill_entry(book, keep, kind, alerts, |id| {
        OutboxEntry::open(id, name, kind, now, now)
    });
}

/// True when `alert` is about a profile and `InventoryApiDown` fires: the judge has frozen
/// it (README, Alerts), so its state is the last one known, not the present one.
fn frozen(active: &[Alert], alert: &Alert) -> bool {
    alert.key.profile_id.is_some()
        && active.iter().any(|a| {
            a.key.alertname == crate::vocabulary::AlertName::InventoryApiDown
                && a.state == AlertState::Firing
        })
}

/// True when something keeps `alert` from being announced (README, Suppression).
fn is_suppressed(alert: &Alert) -> bool {
    !alert.suppressed_by.is_empty()
}

/// Makes `kind` and `alerts` what entry `existing` says, or what a new entry says (`open`
/// makes it from its id). No alerts, nothing to say: `existing` is removed, and nothing is
/// opened.
fn fill_entry(
    book: &mut Book,
    existing: Option<u64>,
    kind: NotificationKind,
    alerts: Vec<Alert>,
    open: impl FnOnce(u64) -> OutboxEntry,
) {
    match existing {
        Some(id) if alerts.is_empty() => {
            book.outbox.remove(id);
        }
        Some(id) => {
            if let Some(entry) = book.outbox.get_mut(id) {
                entry.notification.kind = kind;
                entry.notification.alerts = alerts;
            }
        }
        None if alerts.is_empty() => {}
        None => {
            let mut entry = open(book.take_id());
            entry.notification.alerts = alerts;
            book.outbox.insert(entry);
        }
    }
}

/// When an Alertmanager push whose attempt failed has a newer push behind it, the older one
/// is obsolete: it is removed and its age and backoff pass to the newer. True when `id` was
/// superseded so.
pub fn supersede_push(book: &mut Book, id: u64) -> bool {
    let Some(old) = book.outbox.get(id) else {
        return false;
    };
    let newer = book
        .outbox
        .of(&old.receiver)
        .find(|e| e.id > id && !e.in_flight)
        .map(|e| e.id);
    let Some(newer) = newer else {
        return false;
    };
    let Some(old) = book.outbox.remove(id) else {
        return false;
    };
    if let Some(entry) = book.outbox.get_mut(newer) {
        entry.opened_at = entry.opened_at.min(old.opened_at);
        entry.attempts = entry.attempts.max(old.attempts);
        entry.next_attempt_at = entry.next_attempt_at.max(old.next_attempt_at);
        entry.last_error = entry.last_error.take().or(old.last_error);
    }
    book.touch();
    true
}

#[cfg(test)]
mod tests {
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
            profile_name: format!("p{id}"),
            organization: "North".into(),
            summary: String::new(),
            description: String::new(),
            state,
            active_since: at(0),
            firing_since: Some(at(0)),
            resolved_at: (state == AlertState::Resolved).then(|| at(0)),
            suppressed_by: Vec::new(),
        }
    }

    fn fire(id: u64) -> Transition {
        Transition {
            alert: alert(id, AlertState::Firing),
        }
    }

    fn resolve(id: u64) -> Transition {
        Transition {
            alert: alert(id, AlertState::Resolved),
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
        down.organization = String::new();
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
        let firing = [alert(1, AlertState::Firing)];
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
        let active: Vec<Alert> = (alert.state == AlertState::Firing)
            .then(|| alert.clone())
            .into_iter()
            .collect();
        plan_sweep(book, rs, &settings(), &[Transition { alert }], &active, now);
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
        let firing = [alert(1, AlertState::Firing)];
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
        let firing = [alert(1, AlertState::Firing)];
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
        let firing = [alert(1, AlertState::Firing)];
        plan_sweep(&mut book, &rs, &settings(), &[fire(1)], &firing, at(0));
        plan_sweep(
            &mut book,
            &rs,
            &settings(),
            &[resolve(1), fire(2)],
            &[alert(2, AlertState::Firing)],
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
                &[alert(2, AlertState::Firing)],
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
        plan_sweep(book, rs, &settings(), t, active, at(now));
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
            alert: muted(AlertState::Firing),
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
                alert: muted(AlertState::Firing),
            };
            sweep(&mut book, &rs, &[fired], &[muted(AlertState::Firing)], 0);
            deliver_all(&mut book, "ops", 1);
            let down = Alert {
                key: AlertKey::api_down(),
                profile_name: String::new(),
                ..alert(0, AlertState::Firing)
            };
            // The API goes down (its own alert is announced); the silence ends meanwhile.
            let during = [down.clone(), alert(1, AlertState::Firing)];
            let api = Transition {
                alert: down.clone(),
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
            alert: muted(AlertState::Resolved),
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
            alert: muted(AlertState::Firing),
        };
        sweep(&mut book, &rs, &[fired], &[muted(AlertState::Firing)], 0);
        let resolved = Transition {
            alert: muted(AlertState::Resolved),
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
            alert: muted(AlertState::Firing),
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
            alert: muted3.clone(),
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
            },
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
}
