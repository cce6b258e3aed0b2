//! What changed, sweep after sweep: the fleet's last transitions (health fields, a detail
//! being read or not, alerts), kept in memory for the status page (README, Status page). Fed
//! by the daemon after every sweep with the published sweep; compares it with the one before.
//!
//! Memory is fixed, whatever the fleet's size or a storm's: one ring of [`KEPT`] compact
//! entries across the fleet, allocated once. An entry holds the health values it quotes by
//! reference (they are interned) and no profile name (names are looked up in the last sweep
//! when a page asks), so a full ring weighs about 0.3 MiB plus the quoted error texts.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::model::Text;
use crate::rules::{Alert, AlertKey, AlertState};
use crate::snapshot::ProfileEntry;
use crate::status::StatusSource;

/// Transitions shown per profile.
pub const PER_PROFILE: usize = 20;

/// Transitions kept across the fleet: a profile shows its last [`PER_PROFILE`] among them.
pub const KEPT: usize = 5_000;

/// Transitions kept across the fleet, for "Recent changes" on `/`.
pub const RECENT: usize = 30;

/// Characters of a value quoted in a transition.
const VALUE_CUT: usize = 120;

/// One change of one profile, as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// When the sweep that saw it was judged.
    pub at: SystemTime,
    /// The profile.
    pub profile_id: u64,
    /// Its name in the last sweep.
    pub profile_name: String,
    /// What changed: `connectivity healthy → unhealthy`, `ProfileSyncStale firing`.
    pub what: String,
}

/// What changed, kept compact: health values by reference, alerts by key.
#[derive(Debug)]
enum What {
    FirstSeen,
    DetailRead,
    /// The reason, already cut to [`VALUE_CUT`] characters (shared with the other
    /// transitions that quote the same reason).
    DetailNotRead(Arc<str>),
    Field {
        field: &'static str,
        from: Option<Text>,
        to: Option<Text>,
    },
    Alert {
        key: AlertKey,
        state: AlertState,
        suppressed: bool,
    },
    Resolved(AlertKey),
}

fn quoted(value: Option<&str>) -> String {
    match value {
        Some(v) => super::view::cut(v, VALUE_CUT),
        None => "unknown".to_string(),
    }
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::FirstSeen => f.write_str("first seen"),
            What::DetailRead => f.write_str("detail read again"),
            What::DetailNotRead(reason) => write!(f, "detail not read: {reason}"),
            What::Field { field, from, to } => write!(
                f,
                "{field} {} → {}",
                quoted(from.as_deref()),
                quoted(to.as_deref())
            ),
            What::Alert {
                key,
                state,
                suppressed,
            } => {
                write!(f, "{} {}", alert_label(*key), state_word(*state))?;
                if *suppressed {
                    f.write_str(" (suppressed)")?;
                }
                Ok(())
            }
            What::Resolved(key) => write!(f, "{} resolved", alert_label(*key)),
        }
    }
}

/// One kept transition.
#[derive(Debug)]
struct Kept {
    at: SystemTime,
    profile_id: u64,
    what: What,
}

/// The fleet's last transitions, oldest first.
#[derive(Default)]
pub struct History {
    /// At most [`KEPT`], allocated whole with the first transition.
    kept: VecDeque<Kept>,
    /// The sweep compared against next time (also where names are looked up).
    previous: Option<Arc<StatusSource>>,
    /// The last reasons quoted.
    reasons: Reasons,
}

/// What an alert looked like in one sweep, as far as a person cares.
#[derive(PartialEq, Eq)]
struct AlertLook {
    state: AlertState,
    suppressed: bool,
}

/// By profile, then by alert key (so two `ProfileFlapping` alerts of one profile, about
/// different conditions, stay apart).
type AlertsOf = BTreeMap<(u64, AlertKey), AlertLook>;

fn alerts_by_profile(alerts: &[Arc<Alert>]) -> AlertsOf {
    alerts
        .iter()
        .filter_map(|a| {
            a.key.profile_id.map(|id| {
                (
                    (id, a.key),
                    AlertLook {
                        state: a.state,
                        suppressed: !a.suppressed_by.is_empty(),
                    },
                )
            })
        })
        .collect()
}

/// An alert as a change names it: `ProfileSyncStale`, or
/// `ProfileFlapping (ProfileConnectivityDegraded)` for a flapping condition.
fn alert_label(key: AlertKey) -> String {
    match key.condition {
        Some(condition) => format!("{} ({condition})", key.alertname),
        None => key.alertname.to_string(),
    }
}

/// Reasons a detail was not read, shared between the transitions that quote them: a
/// failing upstream gives the same few reasons to many profiles.
#[derive(Default)]
struct Reasons(VecDeque<Arc<str>>);

impl Reasons {
    /// Distinct reasons remembered for sharing.
    const KEEP: usize = 32;

    fn shared(&mut self, reason: Option<&str>) -> Arc<str> {
        let text = quoted(reason);
        if let Some(i) = self.0.iter().position(|r| **r == *text) {
            let found = self.0.remove(i).unwrap_or_else(|| Arc::from(text.as_str()));
            self.0.push_back(found.clone());
            return found;
        }
        let new: Arc<str> = Arc::from(text);
        if self.0.len() == Self::KEEP {
            self.0.pop_front();
        }
        self.0.push_back(new.clone());
        new
    }
}

/// The field changes between two readings of one profile.
fn field_changes(
    before: &ProfileEntry,
    after: &ProfileEntry,
    reasons: &mut Reasons,
    out: &mut Vec<What>,
) {
    if before.up != after.up {
        out.push(if after.up {
            What::DetailRead
        } else {
            What::DetailNotRead(reasons.shared(after.error.as_deref()))
        });
    }
    let (Some(b), Some(a)) = (before.fresh(), after.fresh()) else {
        return;
    };
    for (field, x, y) in [
        ("status", &b.status, &a.status),
        ("connectivity", &b.connectivity, &a.connectivity),
        ("authentication", &b.authentication, &a.authentication),
        ("last sync status", &b.last_sync_status, &a.last_sync_status),
    ] {
        if x.as_deref() != y.as_deref() {
            out.push(What::Field {
                field,
                from: x.clone(),
                to: y.clone(),
            });
        }
    }
}

impl History {
    /// Compares `current` with the sweep recorded before it and keeps what changed. The
    /// first sweep only sets the baseline. Profiles no longer in the snapshot lose their
    /// transitions.
    pub fn record(&mut self, current: &Arc<StatusSource>) {
        let Some(previous) = self.previous.replace(current.clone()) else {
            return;
        };
        let at = current.now;
        let before = &previous.snapshot.profiles;
        let after = &current.snapshot.profiles;
        let alerts_before = alerts_by_profile(&previous.alerts);
        let alerts_after = alerts_by_profile(&current.alerts);

        let mut changes: Vec<(u64, What)> = Vec::new();
        // Both lists are sorted by id: walk them together.
        let mut i = 0;
        let mut found = Vec::new();
        let mut left = false;
        for entry in after {
            while i < before.len() && before[i].id < entry.id {
                left = true;
                i += 1;
            }
            if i < before.len() && before[i].id == entry.id {
                field_changes(&before[i], entry, &mut self.reasons, &mut found);
                changes.extend(found.drain(..).map(|what| (entry.id, what)));
                i += 1;
            } else {
                changes.push((entry.id, What::FirstSeen));
            }
        }
        left |= i < before.len();
        for (&(id, key), look) in &alerts_after {
            if alerts_before.get(&(id, key)) == Some(look) {
                continue;
            }
            changes.push((
                id,
                What::Alert {
                    key,
                    state: look.state,
                    suppressed: look.suppressed,
                },
            ));
        }
        for &(id, key) in alerts_before.keys() {
            if !alerts_after.contains_key(&(id, key)) {
                changes.push((id, What::Resolved(key)));
            }
        }
        if !changes.is_empty() && self.kept.capacity() < KEPT {
            self.kept.reserve_exact(KEPT - self.kept.len());
        }
        // A storm larger than the ring keeps its last KEPT transitions.
        let skip = changes.len().saturating_sub(KEPT);
        for (profile_id, what) in changes.into_iter().skip(skip) {
            if self.kept.len() == KEPT {
                self.kept.pop_front();
            }
            self.kept.push_back(Kept {
                at,
                profile_id,
                what,
            });
        }
        if left {
            self.kept
                .retain(|k| after.binary_search_by_key(&k.profile_id, |e| e.id).is_ok());
        }
    }

    /// Its name in the last sweep recorded.
    fn name_of(&self, id: u64) -> String {
        let profiles = self.previous.as_ref().map(|p| &p.snapshot.profiles[..]);
        profiles
            .and_then(|list| {
                list.binary_search_by_key(&id, |e| e.id)
                    .ok()
                    .map(|i| list[i].name.to_string())
            })
            .unwrap_or_default()
    }

    fn shown(&self, k: &Kept) -> Change {
        Change {
            at: k.at,
            profile_id: k.profile_id,
            profile_name: self.name_of(k.profile_id),
            what: k.what.to_string(),
        }
    }

    /// The last [`PER_PROFILE`] transitions of profile `id`, newest first.
    pub fn of(&self, id: u64) -> Vec<Change> {
        self.kept
            .iter()
            .rev()
            .filter(|k| k.profile_id == id)
            .take(PER_PROFILE)
            .map(|k| self.shown(k))
            .collect()
    }

    /// Transitions kept, and room allocated for them.
    #[cfg(test)]
    pub(super) fn footprint(&self) -> (usize, usize) {
        (self.kept.len(), self.kept.capacity())
    }

    /// The latest transitions across the fleet, newest first.
    pub fn recent(&self) -> Vec<Change> {
        self.kept
            .iter()
            .rev()
            .take(RECENT)
            .map(|k| self.shown(k))
            .collect()
    }
}

fn state_word(state: AlertState) -> &'static str {
    match state {
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_reason_is_one_allocation_and_few_are_remembered() {
        let mut reasons = Reasons::default();
        let a = reasons.shared(Some("upstream answered 500"));
        let b = reasons.shared(Some("upstream answered 500"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*reasons.shared(None), "unknown");
        for n in 0..100 {
            reasons.shared(Some(&format!("reason {n}")));
        }
        assert_eq!(reasons.0.len(), Reasons::KEEP);
        // Pushed out: a new allocation, equal text.
        let c = reasons.shared(Some("upstream answered 500"));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(a, c);
        let long = "x".repeat(500);
        assert_eq!(reasons.shared(Some(&long)).chars().count(), VALUE_CUT + 1); // and "…"
    }
}
