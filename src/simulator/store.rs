//! The simulator's profiles, kept ready to serve.
//!
//! Each profile is stored as the bytes of its detail and of its list item, rendered once
//! when the profile changes, so answering a request is copying bytes, not serializing.
//! The entries sit in a `Vec` sorted by id: a list page at any offset is a slice, a detail
//! is a binary search, and the rare insertions and removals move pointers-sized records.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::schema::{frequency_seconds, Generated, SyncPlan, LIST_FIELDS};
use super::HealthField;

/// One profile, ready to serve.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// Profile id (the sort key).
    pub id: u64,
    /// The name in lower case, for `?name=` filtering.
    pub name_lower: Box<str>,
    /// The list item JSON.
    pub list_item: Bytes,
    /// The detail JSON.
    pub detail: Bytes,
    /// The next sync; `None` for profiles whose syncs are stuck, inactive or unknown.
    pub sync: Option<SyncPlan>,
}

impl Entry {
    /// Renders an entry from a detail object. `None` when `detail` is not an object with
    /// an unsigned integer `id`. `stuck` profiles never sync.
    pub fn new(detail: &Value, stuck: bool) -> Option<Self> {
        let mut entry = Self::render(detail, None)?;
        if !stuck {
            entry.sync = sync_plan(detail);
        }
        Some(entry)
    }

    /// An entry for a generated profile, already rendered.
    pub fn generated(g: Generated) -> Self {
        Self {
            id: g.id,
            name_lower: g.name.to_lowercase().into_boxed_str(),
            // Boxed first: `Bytes` would otherwise keep the strings' spare capacity.
            list_item: Bytes::from(g.list_item.into_boxed_str().into_boxed_bytes()),
            detail: Bytes::from(g.detail.into_boxed_str().into_boxed_bytes()),
            sync: g.sync,
        }
    }

    /// Renders `detail`, keeping `sync` as it is (for edits that do not touch syncing).
    pub fn render(detail: &Value, sync: Option<SyncPlan>) -> Option<Self> {
        let map = detail.as_object()?;
        let id = map.get("id")?.as_u64()?;
        let name = map.get("name").and_then(Value::as_str).unwrap_or("");
        let item: Map<String, Value> = LIST_FIELDS
            .iter()
            .filter_map(|&k| map.get(k).map(|v| (k.to_owned(), v.clone())))
            .collect();
        // `Display` of a `Value` is serde_json's own compiled code; in a debug build it is
        // several times faster than `to_vec`, which is instantiated in this crate.
        Some(Self {
            id,
            name_lower: name.to_lowercase().into_boxed_str(),
            list_item: Bytes::from(Value::Object(item).to_string()),
            detail: Bytes::from(detail.to_string()),
            sync,
        })
    }

    /// The detail as a JSON value.
    pub fn value(&self) -> Option<Value> {
        std::str::from_utf8(&self.detail).ok()?.parse().ok()
    }
}

/// When an active profile with a known period and last sync syncs next.
fn sync_plan(detail: &Value) -> Option<SyncPlan> {
    if detail.get("status").and_then(Value::as_str) != Some("active") {
        return None;
    }
    let every = frequency_seconds(detail.get("sync_frequency")?.as_str()?)? as i64;
    let last = detail.get("last_sync")?.as_str()?;
    let last = time::OffsetDateTime::parse(last, &time::format_description::well_known::Rfc3339)
        .ok()?
        .unix_timestamp();
    Some(SyncPlan {
        every,
        due: last + every,
    })
}

/// A health value changed by drift, to be put back later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DriftMark {
    /// Which field drift changed.
    pub field: HealthField,
    /// Its value before.
    pub original: Option<String>,
}

/// The profiles, sorted by id.
#[derive(Default)]
pub(super) struct Profiles {
    /// The entries, sorted by id.
    entries: Vec<Entry>,
    /// Bumped by every change, so caches derived from `entries` know when they are stale.
    version: u64,
}

impl Profiles {
    /// Profiles from entries sorted by id.
    pub fn new(entries: Vec<Entry>) -> Self {
        debug_assert!(entries.windows(2).all(|w| w[0].id < w[1].id));
        Self {
            entries,
            version: 0,
        }
    }

    /// The entries, sorted by id.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Changes with every edit, insertion and removal.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The position of `id` in `entries`, or where it would go.
    pub fn position(&self, id: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |e| e.id)
    }

    /// The entry with `id`.
    pub fn get(&self, id: u64) -> Option<&Entry> {
        self.position(id).ok().map(|i| &self.entries[i])
    }

    /// Inserts or replaces an entry.
    pub fn upsert(&mut self, entry: Entry) {
        self.version += 1;
        match self.position(entry.id) {
            Ok(i) => self.entries[i] = entry,
            Err(i) => self.entries.insert(i, entry),
        }
    }

    /// Removes the profile `id`; false when there was none.
    pub fn remove(&mut self, id: u64) -> bool {
        self.version += 1;
        match self.position(id) {
            Ok(i) => {
                self.entries.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Replaces the sync plan of the entry at `index`.
    pub fn set_sync(&mut self, index: usize, sync: Option<SyncPlan>) {
        if let Some(entry) = self.entries.get_mut(index) {
            entry.sync = sync;
        }
    }

    /// Applies `edit` to the detail of the entry at `index` and re-renders it, keeping its
    /// sync plan. When `edit` answers `None` nothing changed and nothing is re-rendered.
    /// `None` also when there is no such entry or its detail cannot be read back.
    pub fn edit_at<T>(
        &mut self,
        index: usize,
        edit: impl FnOnce(&mut Value) -> Option<T>,
    ) -> Option<T> {
        let entry = self.entries.get_mut(index)?;
        let mut value = entry.value()?;
        let out = edit(&mut value)?;
        *entry = Entry::render(&value, entry.sync)?;
        self.version += 1;
        Some(out)
    }

    /// [`Profiles::edit_at`] by id.
    pub fn edit<T>(&mut self, id: u64, edit: impl FnOnce(&mut Value) -> Option<T>) -> Option<T> {
        let index = self.position(id).ok()?;
        self.edit_at(index, edit)
    }
}

/// Everything behind the simulator's profile lock.
pub(super) struct Fleet {
    /// The profiles.
    pub profiles: Profiles,
    /// Profiles whose health drift changed and may put back.
    pub drifted: BTreeMap<u64, DriftMark>,
    /// How many flips a drift step makes, how fast they go back.
    pub pace: super::drift::Pace,
    /// Drift's dice; behind the same lock so drift steps are serialized and replayable.
    pub drift_rng: ChaCha8Rng,
    /// The dice for profiles added when the fleet grows mid-walk.
    pub grow_rng: ChaCha8Rng,
}

impl Fleet {
    /// Inserts or replaces an entry (drift forgets what it did to the old one).
    pub fn upsert(&mut self, entry: Entry) {
        self.drifted.remove(&entry.id);
        self.profiles.upsert(entry);
    }

    /// Removes the profile `id`; false when there was none.
    pub fn remove(&mut self, id: u64) -> bool {
        self.drifted.remove(&id);
        self.profiles.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_item_keeps_only_list_fields() {
        let detail = json!({"id": 7, "name": "A", "status": "active", "configuration": {"password": "x"},
            "health_status": {"connectivity": "healthy"}});
        let e = Entry::new(&detail, false).unwrap();
        let item: Value = serde_json::from_slice(&e.list_item).unwrap();
        assert_eq!(item, json!({"id": 7, "name": "A", "status": "active"}));
        assert_eq!(e.value().unwrap(), detail);
    }

    #[test]
    fn entries_need_an_integer_id() {
        assert!(Entry::new(&json!({"id": "7"}), false).is_none());
        assert!(Entry::new(&json!({"id": -1}), false).is_none());
        assert!(Entry::new(&json!([1]), false).is_none());
    }

    #[test]
    fn active_profiles_plan_their_next_sync() {
        let detail = json!({"id": 1, "status": "active", "sync_frequency": "hourly",
            "last_sync": "2026-01-01T00:00:00Z"});
        let e = Entry::new(&detail, false).unwrap();
        assert_eq!(
            e.sync,
            Some(SyncPlan {
                every: 3600,
                due: 1_767_225_600 + 3600
            })
        );
        assert_eq!(Entry::new(&detail, true).unwrap().sync, None);
    }
}
