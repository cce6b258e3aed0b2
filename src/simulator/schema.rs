//! What a simulated profile is made of, shared by generation ([`super::fleet`]), JSON
//! writing ([`super::json`]) and the served store ([`super::store`]).
//!
//! A leaf: it imports nothing of the simulator, so those three can each depend on it
//! without depending on one another in a circle.

use std::time::SystemTime;

/// The fields of a detail that its list item repeats (whichever revision it is in).
#[rustfmt::skip]
pub(super) const LIST_FIELDS: [&str; 11] = [
    "id", "name", "profile_type", "status", "last_sync", "organization", "created_at",
    "updated_at", "connection_type", "is_active", "host",
];

/// When an active profile syncs next, so drift can advance `last_sync` like the real
/// service would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SyncPlan {
    /// The sync period in seconds.
    pub every: i64,
    /// Unix seconds of the next sync.
    pub due: i64,
}

/// One generated profile, rendered.
pub(super) struct Generated {
    /// Profile id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The detail JSON, as served.
    pub detail: String,
    /// The list item JSON.
    pub list_item: String,
    /// When it syncs next; `None` when it does not sync (stale, inactive, legacy).
    pub sync: Option<SyncPlan>,
}

/// Sync frequencies with their weights and periods.
pub(super) const FREQUENCIES: [(&str, u32, u64); 6] = [
    ("every_15_minutes", 25, 15 * 60),
    ("every_30_minutes", 10, 30 * 60),
    ("hourly", 35, 3600),
    ("every_6_hours", 8, 6 * 3600),
    ("daily", 20, 86_400),
    ("weekly", 2, 7 * 86_400),
];

/// The period in seconds of a `sync_frequency` value, for the values this simulator
/// produces and the obvious `every_N_minutes` / `every_N_hours` family.
pub(super) fn frequency_seconds(frequency: &str) -> Option<u64> {
    if let Some((_, _, secs)) = FREQUENCIES.iter().find(|(name, _, _)| *name == frequency) {
        return Some(*secs);
    }
    let rest = frequency.strip_prefix("every_")?;
    let (count, unit) = rest.split_once('_')?;
    let count: u64 = count.parse().ok()?;
    let unit_secs = match unit {
        "minutes" | "minute" => 60,
        "hours" | "hour" => 3600,
        "days" | "day" => 86_400,
        _ => return None,
    };
    Some(count * unit_secs)
}

/// Unix seconds of `t` (0 before the epoch, which the simulator never reaches).
pub(super) fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sync_frequencies() {
        assert_eq!(frequency_seconds("hourly"), Some(3600));
        assert_eq!(frequency_seconds("every_15_minutes"), Some(900));
        assert_eq!(frequency_seconds("every_2_hours"), Some(7200));
        assert_eq!(frequency_seconds("fortnightly"), None);
    }
}
