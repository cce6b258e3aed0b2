//! The durable state: what the daemon must remember across a restart, kept in `state.dir`
//! as a snapshot (`state.json`) and a journal of what changed since (`state.journal.<epoch>`).
//!
//! It holds the judge's pending and firing alerts (with what suppresses them), per receiver
//! when each alert was last announced (for reminders, and to know what a "resolved" refers
//! to) and which suppressed alerts it was never told of (held back until their suppression
//! ends), the resolved alerts an Alertmanager has still to be told about, and the outbox.
//!
//! # Writes in proportion to change
//!
//! Each write appends one record to the journal: the changes since the last write, and
//! fsyncs it. A delivery outcome is recorded as the operation itself ("entry 42 delivered
//! at t"), a few hundred bytes however large the state; a sweep's changes are found by
//! comparing the book with a mirror of what the journal holds, and only what differs is
//! written. When the journal outgrows the snapshot, a new journal is started and a new
//! snapshot is written beside it in the background ([`store`]).
//!
//! # Crash safety
//!
//! A record is acknowledged once fsynced; one cut short by a crash fails its length or
//! checksum and is discarded at the next start (reported: WARN, naming the file, the
//! offset and the bytes). The snapshot is replaced, never edited (write new, fsync,
//! rename, fsync the directory), and names the journal that continues it, so that a crash
//! at any instant of a compaction leaves either the old snapshot and every journal, or the
//! new snapshot and its journal.
//!
//! A snapshot that cannot be read or parsed is never silently discarded: it is reported
//! (ERROR, naming the file and the problem), moved aside to
//! `state.json.corrupt-<unix-seconds>` for a person to look at (its journals too), and the
//! daemon starts with an empty state. A `state.json` written before the journal existed is
//! read as it always was.

pub mod journal;
pub mod lock;
pub mod snapshot;
mod store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use self::journal::Change;
use super::outbox::{Outbox, OutboxEntry};
use crate::receivers::NotificationKind;
use crate::rules::{Alert, AlertKey, AlertState};

pub use self::snapshot::FORMAT_VERSION;
pub use self::store::{read_state_json, MovedAside, StateStore, FILE_NAME, TMP_FILE_NAME};

/// How many delivery outcomes the book remembers for the next write; past that, the next
/// write compares the whole state instead (a book nobody writes, as in unit tests, does not
/// grow).
const MAX_UNSAVED: usize = 4096;

/// What one receiver has been told.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceiverBook {
    /// When each firing alert was last announced (or given up on) to this receiver; an
    /// alert is forgotten once its resolution has been announced.
    pub last_notified: BTreeMap<AlertKey, SystemTime>,
    /// For each alert in `last_notified`, the `active_since` of the firing that was
    /// announced: which episode the receiver knows of. A resolution is announced only for
    /// that episode; a later one that fired and cleared unannounced stays unsaid even while
    /// the earlier episode's record lingers (its resolution still queued).
    pub announced_since: BTreeMap<AlertKey, SystemTime>,
    /// `alertmanager` receivers: resolved alerts still to ride along in successful pushes.
    pub resolved_to_push: BTreeMap<AlertKey, PendingResolved>,
    /// Alerts firing but suppressed (README, Suppression) that this receiver does not know
    /// as firing, with the `active_since` of the episode held back: announced as a normal
    /// firing notification when the suppression ends and they still fire; never resolved
    /// to the receiver if they clear while held.
    pub held: BTreeMap<AlertKey, SystemTime>,
}

/// A resolved alert an Alertmanager is still to be told about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingResolved {
    /// The alert, as it resolved (the transition's, shared; serde writes its value).
    pub alert: Arc<Alert>,
    /// In how many more successful pushes it is to be included.
    pub pushes_left: u32,
}

/// The in-memory durable state; [`StateStore::save`] writes it.
#[derive(Debug, Clone, Default)]
pub struct Book {
    /// The judge's pending and firing alerts after the last sweep: the judge's own, shared
    /// (with the status document and the journal's mirror) rather than copied.
    pub alerts: Vec<Arc<Alert>>,
    /// What each receiver has been told, by receiver name.
    pub receivers: BTreeMap<String, ReceiverBook>,
    /// Notifications waiting for delivery.
    pub outbox: Outbox,
    /// The id the next notification gets.
    pub next_id: u64,
    /// Bumped on every change, so that a write can tell whether the file is behind.
    pub generation: u64,
    /// The delivery outcomes since the last write, as the journal records them; each also
    /// bumped `generation` once, so a write that finds as many of them as bumps knows
    /// nothing else changed and writes just these.
    unsaved: Vec<Change>,
}

impl PartialEq for Book {
    /// The state itself: what is still to be written is not part of it.
    fn eq(&self, other: &Self) -> bool {
        self.alerts == other.alerts
            && self.receivers == other.receivers
            && self.outbox == other.outbox
            && self.next_id == other.next_id
            && self.generation == other.generation
    }
}

impl Book {
    /// Marks the state as changed (to be written).
    pub fn touch(&mut self) {
        self.generation += 1;
    }

    /// Marks the state as changed by `change` (to be written as just that).
    fn touch_with(&mut self, change: Change) {
        self.touch();
        if self.unsaved.len() < MAX_UNSAVED {
            self.unsaved.push(change);
        }
    }

    /// Never hand out an id the outbox already uses, whatever a file said.
    fn fix_next_id(&mut self) {
        self.next_id = self
            .outbox
            .iter()
            .map(|e| e.id + 1)
            .max()
            .unwrap_or(1)
            .max(self.next_id);
    }

    /// Takes a fresh notification id.
    pub fn take_id(&mut self) -> u64 {
        let id = self.next_id.max(1);
        self.next_id = id + 1;
        id
    }

    /// Records that entry `id` reached its receiver at `now`: its firing alerts count as
    /// announced now, its resolved ones are forgotten, and an Alertmanager's resolved
    /// alerts have one push fewer to go. Returns the entry.
    pub fn delivered(&mut self, id: u64, now: SystemTime) -> Option<OutboxEntry> {
        let entry = self.record_delivered(id, now)?;
        self.touch_with(Change::Delivered { id, at: now });
        Some(entry)
    }

    /// Records that the first `taken` alerts of entry `id` reached its receiver at `now`,
    /// the rest still to go: they leave the entry and count as told, exactly as if they had
    /// been a notification of their own ([`Book::delivered`]); the entry keeps its place,
    /// age and id, and stays in flight (its next batch goes at once). Its failed attempts
    /// start again from zero, since the receiver answers. Written as itself, like any
    /// delivery outcome: not as the rest of the entry, which at a storm's first batch is
    /// nearly all of its alerts.
    pub fn delivered_part(&mut self, id: u64, taken: usize, now: SystemTime) {
        let Some(mut rest) = self.outbox.remove(id) else {
            return;
        };
        // The taken alerts are drained from the front: the rest stay in their buffer (a
        // storm's entry holds tens of thousands; moving them to a new one cost a fresh
        // allocation of their whole size per batch).
        let mut left = std::mem::take(&mut rest.notification.alerts);
        let alerts: Vec<Arc<Alert>> = left.drain(..taken.min(left.len())).collect();
        // The entry without its alerts is cheap to copy: the taken part is recorded as a
        // delivered entry, then the rest takes its place again.
        let mut sent = rest.clone();
        sent.notification.alerts = alerts;
        self.outbox.insert(sent);
        self.record_delivered(id, now);
        rest.notification.alerts = left;
        rest.attempts = 0;
        rest.last_error = None;
        rest.next_attempt_at = now;
        rest.in_flight = true;
        self.outbox.insert(rest);
        self.touch_with(Change::DeliveredPart { id, taken, at: now });
    }

    /// [`Book::delivered`] without marking the change.
    fn record_delivered(&mut self, id: u64, now: SystemTime) -> Option<OutboxEntry> {
        let entry = self.outbox.remove(id)?;
        let book = self.receivers.entry(entry.receiver.clone()).or_default();
        book.record_told(&entry, now);
        for alert in &entry.notification.alerts {
            if alert.state != AlertState::Resolved {
                continue;
            }
            if let Some(pending) = book.resolved_to_push.get_mut(&alert.key) {
                pending.pushes_left = pending.pushes_left.saturating_sub(1);
                if pending.pushes_left == 0 {
                    book.resolved_to_push.remove(&alert.key);
                }
            }
        }
        Some(entry)
    }

    /// Records that entry `id` will never be delivered (refused, or too old). Its firing
    /// alerts count as announced at `now` all the same, so that the next reminder comes a
    /// `repeat_interval` later rather than at once: a receiver that refuses a message (a
    /// 404 from a deleted webhook) would otherwise be sent one, and log an error, every
    /// sweep. Returns the entry.
    pub fn given_up(&mut self, id: u64, now: SystemTime) -> Option<OutboxEntry> {
        let entry = self.outbox.remove(id)?;
        if entry.notification.kind != NotificationKind::Test {
            self.receivers
                .entry(entry.receiver.clone())
                .or_default()
                .record_told(&entry, now);
        }
        self.touch_with(Change::GivenUp { id, at: now });
        Some(entry)
    }

    /// Records a failed attempt of entry `id`: one more attempt, the reason, and when to try
    /// again. Nothing is in flight any more, and the entry, attempted, takes no more alerts.
    pub fn retry_later(&mut self, id: u64, reason: String, next_attempt_at: SystemTime) {
        if let Some(entry) = self.outbox.get_mut(id) {
            entry.attempts = entry.attempts.saturating_add(1);
            entry.last_error = Some(reason.clone());
            entry.next_attempt_at = next_attempt_at;
            entry.in_flight = false;
            entry.sealed = true;
        }
        self.touch_with(Change::RetryLater {
            id,
            reason,
            next_attempt_at,
        });
    }
}

impl ReceiverBook {
    /// Forgets what the receiver was told about `key`.
    pub fn forget(&mut self, key: &AlertKey) {
        self.last_notified.remove(key);
        self.announced_since.remove(key);
    }

    /// Takes `key` out of the held records; true when it was held (never announced to
    /// this receiver in its current suppression).
    pub fn release(&mut self, key: &AlertKey) -> bool {
        self.held.remove(key).is_some()
    }

    /// True when the receiver was told that `alert`'s episode (the one that became active
    /// at its `active_since`) was firing. A record from a state file of an earlier version
    /// names no episode and counts for any.
    pub fn was_told_of(&self, alert: &Alert) -> bool {
        self.last_notified.contains_key(&alert.key)
            && self
                .announced_since
                .get(&alert.key)
                .is_none_or(|since| *since == alert.active_since)
    }

    /// Updates `last_notified` for what `entry` said.
    fn record_told(&mut self, entry: &OutboxEntry, now: SystemTime) {
        for alert in &entry.notification.alerts {
            match alert.state {
                AlertState::Resolved => {
                    self.forget(&alert.key);
                }
                AlertState::Firing | AlertState::Pending => {
                    self.last_notified.insert(alert.key, now);
                    self.announced_since.insert(alert.key, alert.active_since);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
