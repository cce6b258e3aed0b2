//! What changed, sweep after sweep: each profile's last transitions (its health fields, its
//! detail being read or not, its alerts), kept in memory for the status page (README,
//! Status page). Fed by the daemon after every sweep with the published sweep; compares it
//! with the one before.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use crate::rules::{Alert, AlertState};
use crate::snapshot::ProfileEntry;
use crate::status::StatusSource;

/// Transitions kept per profile.
pub const PER_PROFILE: usize = 20;

/// Transitions kept across the fleet, for "Recent changes" on `/`.
pub const RECENT: usize = 30;

/// Characters of a value quoted in a transition.
const VALUE_CUT: usize = 120;

/// One change of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// When the sweep that saw it was judged.
    pub at: SystemTime,
    /// The profile.
    pub profile_id: u64,
    /// Its name then.
    pub profile_name: String,
    /// What changed: `connectivity healthy → unhealthy`, `ProfileSyncStale firing`.
    pub what: String,
}

/// The transitions of every profile, newest last.
#[derive(Default)]
pub struct History {
    /// Per profile, at most [`PER_PROFILE`].
    per_profile: HashMap<u64, VecDeque<Change>>,
    /// Across the fleet, at most [`RECENT`].
    recent: VecDeque<Change>,
    /// The sweep compared against next time.
    previous: Option<Arc<StatusSource>>,
}

/// What an alert looked like in one sweep, as far as a person cares.
#[derive(PartialEq, Eq)]
struct AlertLook {
    state: AlertState,
    suppressed: bool,
}

/// By profile, then by alert key (so two `ProfileFlapping` alerts of one profile, about
/// different conditions, stay apart).
type AlertsOf<'a> = BTreeMap<(u64, crate::rules::AlertKey), (&'a Alert, AlertLook)>;

fn alerts_by_profile(alerts: &[Alert]) -> AlertsOf<'_> {
    alerts
        .iter()
        .filter_map(|a| {
            a.key.profile_id.map(|id| {
                (
                    (id, a.key),
                    (
                        a,
                        AlertLook {
                            state: a.state,
                            suppressed: !a.suppressed_by.is_empty(),
                        },
                    ),
                )
            })
        })
        .collect()
}

/// An alert as a change names it: `ProfileSyncStale`, or
/// `ProfileFlapping (ProfileConnectivityDegraded)` for a flapping condition.
fn alert_label(key: crate::rules::AlertKey) -> String {
    match key.condition {
        Some(condition) => format!("{} ({condition})", key.alertname),
        None => key.alertname.to_string(),
    }
}

fn quoted(value: Option<&str>) -> String {
    match value {
        Some(v) => super::view::cut(v, VALUE_CUT),
        None => "unknown".to_string(),
    }
}

/// The field changes between two readings of one profile.
fn field_changes(before: &ProfileEntry, after: &ProfileEntry, out: &mut Vec<String>) {
    if before.up != after.up {
        out.push(if after.up {
            "detail read again".to_string()
        } else {
            format!("detail not read: {}", quoted(after.error.as_deref()))
        });
    }
    let (Some(b), Some(a)) = (before.fresh(), after.fresh()) else {
        return;
    };
    for (field, x, y) in [
        ("status", b.status.as_deref(), a.status.as_deref()),
        (
            "connectivity",
            b.connectivity.as_deref(),
            a.connectivity.as_deref(),
        ),
        (
            "authentication",
            b.authentication.as_deref(),
            a.authentication.as_deref(),
        ),
        (
            "last sync status",
            b.last_sync_status.as_deref(),
            a.last_sync_status.as_deref(),
        ),
    ] {
        if x != y {
            out.push(format!("{field} {} → {}", quoted(x), quoted(y)));
        }
    }
}

impl History {
    /// Compares `current` with the sweep recorded before it and keeps what changed. The
    /// first sweep only sets the baseline. Profiles no longer in the snapshot lose their
    /// transitions, so memory follows the fleet.
    pub fn record(&mut self, current: &Arc<StatusSource>) {
        let Some(previous) = self.previous.replace(current.clone()) else {
            return;
        };
        let at = current.now;
        let before = &previous.snapshot.profiles;
        let after = &current.snapshot.profiles;
        let alerts_before = alerts_by_profile(&previous.alerts);
        let alerts_after = alerts_by_profile(&current.alerts);

        let mut changes: Vec<(u64, &str, String)> = Vec::new();
        // Both lists are sorted by id: walk them together.
        let mut i = 0;
        let mut found = Vec::new();
        for entry in after {
            while i < before.len() && before[i].id < entry.id {
                i += 1;
            }
            if i < before.len() && before[i].id == entry.id {
                found.clear();
                field_changes(&before[i], entry, &mut found);
                for what in found.drain(..) {
                    changes.push((entry.id, &entry.name, what));
                }
            } else {
                changes.push((entry.id, &entry.name, "first seen".to_string()));
            }
        }
        for (&(id, key), (alert, look)) in &alerts_after {
            let name = alert_label(key);
            let what = match alerts_before.get(&(id, key)) {
                Some((_, old)) if old == look => continue,
                _ if look.suppressed => format!("{name} {} (suppressed)", state_word(look.state)),
                _ => format!("{name} {}", state_word(look.state)),
            };
            changes.push((id, &alert.profile_name, what));
        }
        for (&(id, key), (alert, _)) in &alerts_before {
            if !alerts_after.contains_key(&(id, key)) {
                let name = alert_label(key);
                changes.push((id, &alert.profile_name, format!("{name} resolved")));
            }
        }
        for (id, name, what) in changes {
            let change = Change {
                at,
                profile_id: id,
                profile_name: name.to_string(),
                what,
            };
            let list = self.per_profile.entry(id).or_default();
            if list.len() == PER_PROFILE {
                list.pop_front();
            }
            list.push_back(change.clone());
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back(change);
        }
        if self.per_profile.len() > after.len() {
            self.per_profile
                .retain(|id, _| after.binary_search_by_key(id, |e| e.id).is_ok());
        }
    }

    /// The transitions of profile `id`, newest first.
    pub fn of(&self, id: u64) -> Vec<Change> {
        self.per_profile
            .get(&id)
            .map(|l| l.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// The latest transitions across the fleet, newest first.
    pub fn recent(&self) -> Vec<Change> {
        self.recent.iter().rev().cloned().collect()
    }
}

fn state_word(state: AlertState) -> &'static str {
    match state {
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
    }
}
