//! JSON objects written by hand, for the generator's hot path.
//!
//! Generating 100,000 profiles through `serde_json::Value` spends most of its time
//! building B-tree maps and walking them again to serialize, all of it instantiated in
//! this crate and so unoptimized in debug builds (where tests and benchmarks run). The
//! generator knows its fields and their types, so it writes the text directly, and the
//! list item along with the detail.

use std::fmt::Write;

use super::schema::LIST_FIELDS;

/// A JSON value to write.
#[derive(Debug, Clone, Copy)]
pub(super) enum J<'a> {
    /// A string, escaped on the way out.
    Str(&'a str),
    /// An unsigned integer.
    Num(u64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// Already-written JSON (a nested object).
    Raw(&'a str),
}

impl<'a> From<&'a str> for J<'a> {
    fn from(s: &'a str) -> Self {
        J::Str(s)
    }
}

impl<'a> From<&'a String> for J<'a> {
    fn from(s: &'a String) -> Self {
        J::Str(s)
    }
}

impl From<u64> for J<'_> {
    fn from(n: u64) -> Self {
        J::Num(n)
    }
}

impl From<bool> for J<'_> {
    fn from(b: bool) -> Self {
        J::Bool(b)
    }
}

impl<'a, T: Into<J<'a>>> From<Option<T>> for J<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(J::Null, Into::into)
    }
}

/// One JSON object being written.
pub(super) struct Object {
    /// The text so far (starts with `{`).
    out: String,
    /// True until the first field.
    empty: bool,
}

impl Object {
    /// An empty object with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut out = String::with_capacity(capacity);
        out.push('{');
        Self { out, empty: true }
    }

    /// Writes `"key": value`.
    pub fn put<'a>(&mut self, key: &str, value: impl Into<J<'a>>) -> &mut Self {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        // Keys are this crate's own constants: nothing to escape.
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        match value.into() {
            J::Str(s) => string(&mut self.out, s),
            J::Num(n) => {
                let _ = write!(self.out, "{n}");
            }
            J::Bool(b) => self.out.push_str(if b { "true" } else { "false" }),
            J::Null => self.out.push_str("null"),
            J::Raw(raw) => self.out.push_str(raw),
        }
        self
    }

    /// The finished object.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A profile's detail and its list item, written together.
pub(super) struct Profile {
    /// The detail.
    detail: Object,
    /// The list item: the detail's [`LIST_FIELDS`].
    item: Object,
    /// Fields left out of both (the "fields missing" part of the mix).
    skip: &'static [&'static str],
}

impl Profile {
    /// An empty profile that will leave out the fields in `skip`.
    pub fn new(skip: &'static [&'static str]) -> Self {
        Self {
            detail: Object::with_capacity(1280),
            item: Object::with_capacity(320),
            skip,
        }
    }

    /// Writes a field to the detail, and to the list item when lists show it.
    pub fn put<'a>(&mut self, key: &str, value: impl Into<J<'a>>) -> &mut Self {
        if self.skip.contains(&key) {
            return self;
        }
        let value = value.into();
        if LIST_FIELDS.contains(&key) {
            self.item.put(key, value);
        }
        self.detail.put(key, value);
        self
    }

    /// `(detail, list item)`.
    pub fn finish(self) -> (String, String) {
        (self.detail.finish(), self.item.finish())
    }
}

/// True when `s` has a byte that JSON strings must escape.
fn needs_escape(s: &str) -> bool {
    for &b in s.as_bytes() {
        if b < 0x20 || b == b'"' || b == b'\\' {
            return true;
        }
    }
    false
}

/// Writes `s` as a JSON string.
fn string(out: &mut String, s: &str) {
    out.push('"');
    if !needs_escape(s) {
        // The common case, kept cheap: most values are plain.
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn hand_written_objects_are_valid_json() {
        let mut nested = Object::with_capacity(16);
        nested.put("k", 1u64);
        let nested = nested.finish();
        let mut o = Object::with_capacity(16);
        let hostile = "a \"quoted\" \\ back\nslash\t\u{1}\u{1f} 📦 Zürich";
        o.put("s", hostile)
            .put("n", 42u64)
            .put("b", false)
            .put("none", None::<&str>)
            .put("raw", J::Raw(&nested));
        let parsed: Value = serde_json::from_str(&o.finish()).unwrap();
        assert_eq!(
            parsed,
            json!({"s": hostile, "n": 42, "b": false, "none": null, "raw": {"k": 1}})
        );
    }

    #[test]
    fn profiles_write_the_list_item_alongside_and_skip_fields() {
        let mut p = Profile::new(&["status"]);
        p.put("id", 3u64)
            .put("name", "x")
            .put("status", "active")
            .put("configuration", J::Raw("{}"));
        let (detail, item) = p.finish();
        assert_eq!(
            serde_json::from_str::<Value>(&detail).unwrap(),
            json!({"id": 3, "name": "x", "configuration": {}})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&item).unwrap(),
            json!({"id": 3, "name": "x"})
        );
    }
}
