//! Sharing the enum-like values of profiles: a fleet sends a handful of distinct
//! `connectivity`, `status`, ... values, and one allocation per value and profile would be
//! most of a snapshot's size.

use std::borrow::Borrow;
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
    let table = TABLE.get_or_init(|| Mutex::new(Interner::default()));
    // A poisoned table is still a valid set of strings: keep using it.
    let mut table = table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    table.intern(text)
}

/// The table behind [`intern`].
#[derive(Default)]
pub(super) struct Interner {
    /// The shared values, at most [`INTERN_CAP`].
    pub(super) values: HashSet<Text>,
}

impl Interner {
    /// The shared copy of `text`, added to the table while there is room.
    pub(super) fn intern(&mut self, text: &str) -> Text {
        if let Some(shared) = self.values.get(text) {
            return shared.clone();
        }
        let value = Text::new(text);
        if self.values.len() < INTERN_CAP && text.len() <= INTERN_MAX_LEN {
            self.values.insert(value.clone());
        }
        value
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
