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
use std::sync::Arc;
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
        || receiver
            .match_severity
            .iter()
            .any(|s| *s == *alert.severity);
    let organization = receiver.match_organization.is_empty()
        || alert.key.alertname == AlertName::InventoryApiDown
        || receiver
            .match_organization
            .iter()
            .any(|o| **o == *alert.organization);
    let alertname = receiver.match_alertname.is_empty()
        || receiver
            .match_alertname
            .iter()
            .any(|n| n == alert.key.alertname.as_str());
    severity && organization && alertname
}

/// Takes one sweep's results into the book: the active alerts (saved for a restart), and
/// for each receiver the routed changes and due reminders, grouped into the outbox. The
/// book holds these very alerts (the judge's, as the daemon hands them over), not copies.
pub fn plan_sweep(
    book: &mut Book,
    receivers: &[ReceiverConfig],
    settings: &Settings,
    transitions: &[Transition],
    active: &[Arc<Alert>],
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
    active: &'a [Arc<Alert>],
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
    let (mut group, mut changed): (BTreeMap<AlertKey, Arc<Alert>>, bool) =
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
                group.insert(alert.key, Arc::clone(alert));
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
                    group.insert(alert.key, Arc::clone(alert));
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
            group.insert(alert.key, Arc::clone(alert));
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
            group.insert(alert.key, Arc::clone(alert));
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
    let mut alerts: Vec<Arc<Alert>> = group.into_values().collect();
    alerts.sort_by(|a, b| alert_order(a, b));
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
    active: &[Arc<Alert>],
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

    let mut firing: Vec<Arc<Alert>> = Vec::new();
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
            firing.push(Arc::clone(alert));
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
                    alert: Arc::new(Alert {
                        state: AlertState::Resolved,
                        resolved_at: Some(now),
                        ..Alert::clone(alert)
                    }),
                    pushes_left: RESOLVED_PUSHES,
                },
            );
        }
        told.held.insert(alert.key, alert.active_since);
    }
    told.held.retain(|key, _| firing_now.contains(key));

    let mut alerts: Vec<Arc<Alert>> = firing
        .into_iter()
        .chain(told.resolved_to_push.values().map(|p| p.alert.clone()))
        .collect();
    alerts.sort_by(|a, b| alert_order(a, b));

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
fn frozen(active: &[Arc<Alert>], alert: &Alert) -> bool {
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
    alerts: Vec<Arc<Alert>>,
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
mod tests;
