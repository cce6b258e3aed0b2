//! The outbox: notifications waiting for delivery, one entry per message, kept in the state
//! file so that a restart neither loses nor repeats them.
//!
//! Per receiver the entries form a queue ordered by id (the order they were opened in), and
//! delivery is strictly first in, first out: a receiver must never hear "resolved" before
//! the "firing" it follows. At most one entry per receiver is *open* (still within its
//! `group_wait`, taking more alerts); the others are *sealed* and only wait for delivery.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::receivers::{Notification, NotificationKind};
use crate::rules::{Alert, AlertState};

/// One notification on its way to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Unique and increasing per state directory; the same as `notification.id`.
    pub id: u64,
    /// The receiver's configured name.
    pub receiver: String,
    /// What will be rendered and sent.
    pub notification: Notification,
    /// When the entry was opened: the start of its `group_wait`, and of its
    /// `max_delivery_age`.
    #[serde(with = "humantime_serde")]
    pub opened_at: SystemTime,
    /// No attempt before this instant (`opened_at + group_wait`).
    #[serde(with = "humantime_serde")]
    pub not_before: SystemTime,
    /// Failed attempts so far.
    pub attempts: u32,
    /// No new attempt before this instant (backoff, or the receiver's `Retry-After`).
    #[serde(with = "humantime_serde")]
    pub next_attempt_at: SystemTime,
    /// Why the last attempt failed (scrubbed of the URL and other secrets).
    pub last_error: Option<String>,
    /// True once delivery has taken the entry: nothing more is merged into it.
    #[serde(default)]
    pub sealed: bool,
    /// True while an attempt is under way. Not saved: after a restart nothing is in flight,
    /// and an attempt cut short by a crash is simply made again.
    #[serde(skip)]
    pub in_flight: bool,
}

impl OutboxEntry {
    /// A new, open entry for `receiver` holding no alert yet.
    pub fn open(
        id: u64,
        receiver: &str,
        kind: NotificationKind,
        now: SystemTime,
        not_before: SystemTime,
    ) -> Self {
        Self {
            id,
            receiver: receiver.to_string(),
            notification: Notification {
                id,
                receiver: receiver.to_string(),
                kind,
                alerts: Vec::new(),
                created_at: now,
            },
            opened_at: now,
            not_before,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            sealed: false,
            in_flight: false,
        }
    }

    /// True when the entry still takes alerts at `now`.
    pub fn is_open(&self, now: SystemTime) -> bool {
        !self.sealed && !self.in_flight && self.not_before > now
    }

    /// True when delivery may try it at `now` (its group is closed and its backoff over).
    pub fn is_due(&self, now: SystemTime) -> bool {
        self.not_before <= now && self.next_attempt_at <= now
    }
}

/// The order of alerts within a notification (what [`Notification::alerts`] promises):
/// firing before resolved, then by severity (critical, warning, info, anything else), then
/// by key.
pub fn alert_order(a: &Alert, b: &Alert) -> Ordering {
    let resolved = |x: &Alert| x.state == AlertState::Resolved;
    resolved(a)
        .cmp(&resolved(b))
        .then_with(|| severity_rank(&a.severity).cmp(&severity_rank(&b.severity)))
        .then_with(|| a.key.cmp(&b.key))
}

/// Where a severity sorts: the known ones by urgency, anything else after them.
fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "warning" => 1,
        "info" => 2,
        _ => 3,
    }
}

/// Every waiting notification, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outbox {
    /// The entries. A `BTreeMap` so that iteration is in id order, which is queue order.
    entries: BTreeMap<u64, OutboxEntry>,
}

impl Outbox {
    /// An outbox holding `entries`.
    pub fn from_entries(entries: impl IntoIterator<Item = OutboxEntry>) -> Self {
        Self {
            entries: entries.into_iter().map(|e| (e.id, e)).collect(),
        }
    }

    /// How many notifications wait.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.entries.values()
    }

    /// The entries of one receiver, in queue order.
    pub fn of<'a>(&'a self, receiver: &'a str) -> impl Iterator<Item = &'a OutboxEntry> + 'a {
        self.entries
            .values()
            .filter(move |e| e.receiver == receiver)
    }

    /// The entry with this id.
    pub fn get(&self, id: u64) -> Option<&OutboxEntry> {
        self.entries.get(&id)
    }

    /// The entry with this id, to change it.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut OutboxEntry> {
        self.entries.get_mut(&id)
    }

    /// Adds (or replaces) an entry.
    pub fn insert(&mut self, entry: OutboxEntry) {
        self.entries.insert(entry.id, entry);
    }

    /// Takes an entry out.
    pub fn remove(&mut self, id: u64) -> Option<OutboxEntry> {
        self.entries.remove(&id)
    }

    /// Keeps only the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&OutboxEntry) -> bool) {
        self.entries.retain(|_, e| keep(e));
    }

    /// The receiver's open entry at `now`, if it has one (the newest, should there ever be
    /// more than one).
    pub fn open_of(&self, receiver: &str, now: SystemTime) -> Option<u64> {
        self.of(receiver)
            .filter(|e| e.is_open(now))
            .map(|e| e.id)
            .last()
    }

    /// The receiver's queue head: its oldest entry whose group is closed at `now`.
    pub fn head_of(&self, receiver: &str, now: SystemTime) -> Option<&OutboxEntry> {
        self.entries
            .values()
            .filter(|e| e.receiver == receiver)
            .find(|e| e.not_before <= now)
    }

    /// The earliest instant after `now` at which something of the receiver could become
    /// due; `None` when it has nothing waiting.
    pub fn next_due_of(&self, receiver: &str) -> Option<SystemTime> {
        self.of(receiver)
            .filter(|e| !e.in_flight)
            .map(|e| e.not_before.max(e.next_attempt_at))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{AlertKey, AlertName};
    use std::time::Duration;

    fn alert(name: AlertName, id: u64, severity: &str, state: AlertState) -> Alert {
        Alert {
            key: AlertKey::profile(name, id),
            severity: severity.into(),
            profile_name: format!("p{id}").into(),
            organization: "".into(),
            summary: "".into(),
            description: "".into(),
            state,
            active_since: SystemTime::UNIX_EPOCH,
            firing_since: None,
            resolved_at: None,
            suppressed_by: Vec::new(),
            runbook_url: String::new(),
        }
    }

    #[test]
    fn alerts_sort_firing_first_then_by_severity_then_key() {
        let mut alerts = [
            alert(
                AlertName::ProfileSyncStale,
                1,
                "warning",
                AlertState::Resolved,
            ),
            alert(AlertName::ProfileSyncStale, 2, "info", AlertState::Firing),
            alert(
                AlertName::ProfileSyncStale,
                3,
                "critical",
                AlertState::Firing,
            ),
            alert(
                AlertName::ProfileSyncStale,
                1,
                "warning",
                AlertState::Firing,
            ),
            alert(
                AlertName::ProfileSyncFailing,
                1,
                "custom",
                AlertState::Firing,
            ),
        ];
        alerts.sort_by(alert_order);
        let order: Vec<(u64, &str)> = alerts
            .iter()
            .map(|a| (a.key.profile_id.unwrap_or(0), &*a.severity))
            .collect();
        assert_eq!(
            order,
            vec![
                (3, "critical"),
                (1, "warning"),
                (2, "info"),
                (1, "custom"),
                (1, "warning")
            ]
        );
        assert_eq!(alerts[4].state, AlertState::Resolved);
    }

    #[test]
    fn head_is_the_oldest_closed_entry_and_open_is_the_one_still_waiting() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let wait = Duration::from_secs(10);
        let mut outbox = Outbox::default();
        outbox.insert(OutboxEntry::open(
            1,
            "a",
            NotificationKind::Alerts,
            t0,
            t0 + wait,
        ));
        outbox.insert(OutboxEntry::open(
            2,
            "b",
            NotificationKind::Alerts,
            t0,
            t0 + wait,
        ));
        let later = t0 + Duration::from_secs(5);
        outbox.insert(OutboxEntry::open(
            3,
            "a",
            NotificationKind::Alerts,
            later,
            later + wait,
        ));
        assert_eq!(outbox.open_of("a", t0 + Duration::from_secs(6)), Some(3));
        assert!(outbox.head_of("a", t0 + Duration::from_secs(6)).is_none());
        assert_eq!(
            outbox.head_of("a", t0 + wait).map(|e| e.id),
            Some(1),
            "the older group closes first"
        );
        assert_eq!(outbox.next_due_of("a"), Some(t0 + wait));
        assert_eq!(outbox.of("b").count(), 1);
    }
}
