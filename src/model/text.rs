//! Sharing the enum-like values of profiles: a fleet sends a handful of distinct
//! `connectivity`, `status`, ... values, and one allocation per value and profile would be
//! most of a snapshot's size.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

/// Distinct values [`intern`] shares at most; later new values get their own allocation.
/// The enum-like fields of a fleet take a few dozen values; the cap keeps an upstream that
/// sends a new value in every body from growing the table without end.
pub const INTERN_CAP: usize = 1024;

/// Values longer than this are never shared: a long value is unlikely to repeat, and the
/// table's size stays bounded (`INTERN_CAP` × this).
pub const INTERN_MAX_LEN: usize = 64;

/// The shared copy of an enum-like value (`"healthy"`, `"active"`, `"rest_api"`): every
/// profile that sent the same text points at one allocation. The text is kept exactly as
/// sent; values beyond [`INTERN_CAP`] distinct ones, or longer than [`INTERN_MAX_LEN`],
/// are allocated on their own, so the result is always the value, shared or not.
pub fn intern(text: &str) -> Text {
    static TABLE: OnceLock<Mutex<Interner>> = OnceLock::new();
    if text.len() > INTERN_MAX_LEN {
        return Text::new(text);
    }
    // Most values are found in the thread's cache of recent ones, without the lock and the
    // table's hashing (a sweep interns several values per profile).
    let slot = recent_slot(text);
    let cached = RECENT.with(|recent| {
        let recent = recent.borrow();
        [slot, slot ^ 1]
            .into_iter()
            .find_map(|i| recent[i].as_ref().filter(|shared| shared.as_str() == text))
            .cloned()
    });
    if let Some(shared) = cached {
        return shared;
    }
    let table = TABLE.get_or_init(|| Mutex::new(Interner::default()));
    // A poisoned table is still a valid set of strings: keep using it.
    let mut table = table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (value, shared) = table.intern_shared(text);
    drop(table);
    if shared {
        RECENT.with(|recent| {
            let mut recent = recent.borrow_mut();
            // The value's own slot, or its neighbour when only that one is free.
            let i = if recent[slot].is_some() && recent[slot ^ 1].is_none() {
                slot ^ 1
            } else {
                slot
            };
            recent[i] = Some(value.clone());
        });
    }
    value
}

/// Slots in each thread's cache of recently interned values (a power of two): a value is
/// looked for in its slot and the neighbouring one.
const RECENT_SLOTS: usize = 256;

thread_local! {
    /// Values of the shared table this thread interned recently, each in the slot
    /// [`recent_slot`] picks for it or the neighbouring one. Only shared values are kept (they live in the table
    /// anyway, so the cache holds no memory of its own); a slot's value is replaced by the
    /// next one that maps to it, so a value that misses is only ever slower by the lookup.
    static RECENT: RefCell<[Option<Text>; RECENT_SLOTS]> =
        const { RefCell::new([const { None }; RECENT_SLOTS]) };
}

/// A value's slot in the cache: FNV-1a of its bytes (at most [`INTERN_MAX_LEN`]), enough
/// to keep a fleet's few dozen distinct values apart. Values that collide only miss the
/// cache and take the table's lock.
fn recent_slot(text: &str) -> usize {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    // The high bits mix every byte; the low ones less so.
    (hash >> 32) as usize % RECENT_SLOTS
}

/// The table behind [`intern`].
#[derive(Default)]
pub(super) struct Interner {
    /// The shared values, at most [`INTERN_CAP`].
    pub(super) values: HashSet<Text>,
}

impl Interner {
    /// The shared copy of `text`, added to the table while there is room.
    #[cfg(test)]
    pub(super) fn intern(&mut self, text: &str) -> Text {
        self.intern_shared(text).0
    }

    /// [`Interner::intern`], and whether the value is the table's shared copy.
    fn intern_shared(&mut self, text: &str) -> (Text, bool) {
        if let Some(shared) = self.values.get(text) {
            return (shared.clone(), true);
        }
        let value = Text::new(text);
        let shared = self.values.len() < INTERN_CAP && text.len() <= INTERN_MAX_LEN;
        if shared {
            self.values.insert(value.clone());
        }
        (value, shared)
    }
}

/// An enum-like value exactly as the upstream sent it, shared between the profiles that
/// sent the same text ([`intern`]). Reads as a `str`; one pointer wide, so a profile's
/// seven such fields cost 56 bytes, not the 168 of as many `String`s.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Arc<String>);

impl Text {
    /// A value of its own, not shared (use [`intern`] or `From` to share).
    fn new(text: &str) -> Self {
        Text(Arc::new(text.to_owned()))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// True when `a` and `b` are the same shared allocation, not only equal text.
    pub fn ptr_eq(a: &Text, b: &Text) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

// `Hash` and `Eq` of `Text` are those of its `str`, so the intern table is searched by `&str`.
impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        intern(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        intern(&text)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}
