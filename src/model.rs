//! What one inventory connection profile is, whichever API revision described it.
//!
//! Everything the upstream says is optional here: a field the API left out, sent as
//! `null`, or sent with a type we cannot read is `None` ("unknown"), never a default that
//! would hide a problem. Enum-like values (`connectivity`, `status`, ...) stay the raw
//! strings the API sent, so an unknown value such as `"flaky"` is kept and shown as is;
//! they are shared ([`intern`]): a fleet of 100,000 profiles has a handful of distinct
//! values, and one allocation per value and profile would be most of a snapshot's size.
//!
//! Sensitive fields (`configuration`, `username`, credentials in `endpoint_url`) are never
//! read into these types at all, so nothing downstream can leak them.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// 2000-01-01T00:00:00Z as Unix seconds: a timestamp before it is not believed (no
/// profile of this service synced in the last millennium; such a value is a zero or a
/// unit mix-up upstream).
pub const EARLIEST_PLAUSIBLE_TIMESTAMP: f64 = 946_684_800.0;

/// How far in the future a timestamp may lie before it is not believed: clocks drift and
/// time zones get mislabelled, but not by more than a day.
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(24 * 3600);

/// A value the upstream sent that cannot be true: the field is treated as unknown
/// (`None`) and the value reported, so that a broken upstream shows instead of hiding
/// behind a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AbsurdValue {
    /// The field as the API names it, e.g. `health_status.error_count_24h`.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: Absurdity,
}

impl fmt::Display for AbsurdValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem.describe())
    }
}

/// Why a value is absurd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Absurdity {
    /// A count below zero.
    Negative,
    /// A number that is NaN or infinite.
    NotFinite,
    /// A timestamp before 2000-01-01 ([`EARLIEST_PLAUSIBLE_TIMESTAMP`]).
    BeforeYear2000,
    /// A timestamp more than [`FUTURE_TOLERANCE`] after now.
    FarFuture,
}

impl Absurdity {
    /// Short wording for logs.
    pub fn describe(self) -> &'static str {
        match self {
            Absurdity::Negative => "negative",
            Absurdity::NotFinite => "not a finite number",
            Absurdity::BeforeYear2000 => "before the year 2000",
            Absurdity::FarFuture => "more than a day in the future",
        }
    }
}

/// Which revision of the upstream API described a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiRevision {
    /// `profile_type`, `status`, `health_status {...}`.
    Current,
    /// `connection_type`, `is_active`, `test_status`/`last_tested`.
    Legacy,
}

/// One entry of a list page: what we need to fetch the detail and to label series if the
/// detail cannot be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListItem {
    /// Profile id.
    pub id: u64,
    /// Profile name (empty when missing).
    pub name: String,
    /// Organization name, when the list gives one.
    pub organization: Option<String>,
}

/// One list page (`count`, `next`, `results`).
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// `count`: total number of profiles, when present and sane.
    pub count: Option<u64>,
    /// `next`: absolute URL of the next page, or `None` on the last page.
    pub next: Option<String>,
    /// The readable items of `results`, in order.
    pub items: Vec<ListItem>,
    /// Items of `results` that could not be read (no integer `id`, not an object, ...).
    pub bad_items: usize,
    /// Values that cannot be true (a negative `count`), dropped to unknown.
    pub absurd: Vec<AbsurdValue>,
}

/// A profile's detail, normalised over both API revisions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Profile id.
    pub id: u64,
    /// Name (empty when missing).
    pub name: String,
    /// Organization name (`organization` as a string, a number, or an object's `name`).
    pub organization: Option<String>,
    /// Which API revision the detail came from.
    pub revision: ApiRevision,
    /// `profile_type` (or the legacy `connection_type`).
    pub profile_type: Option<Text>,
    /// `status` (legacy: `is_active` true → `active`, false → `inactive`).
    pub status: Option<Text>,
    /// `authentication_type`.
    pub authentication_type: Option<Text>,
    /// `sync_frequency` as sent (`hourly`, `daily`, `every_15_minutes`, ...).
    pub sync_frequency: Option<Text>,
    /// `last_sync` as Unix seconds.
    pub last_sync: Option<f64>,
    /// `last_sync_status` as sent.
    pub last_sync_status: Option<Text>,
    /// `sync_record_count`.
    pub sync_record_count: Option<u64>,
    /// `health_status.connectivity` (legacy: `test_status` success → `healthy`,
    /// failed → `unhealthy`, anything else kept as sent).
    pub connectivity: Option<Text>,
    /// `health_status.authentication` (unknown in the legacy revision).
    pub authentication: Option<Text>,
    /// `health_status.last_error` (sensitive: never a metric label).
    pub last_error: Option<String>,
    /// `health_status.error_count_24h`.
    pub error_count_24h: Option<u64>,
    /// Legacy `last_tested` as Unix seconds.
    pub last_tested: Option<f64>,
    /// Values the body held that cannot be true (negative counts, timestamps before 2000
    /// or far in the future): the fields above are `None` for them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub absurd: Vec<AbsurdValue>,
}

impl Profile {
    /// True when the status is known and `active`; `None` when the status is unknown.
    pub fn is_active(&self) -> Option<bool> {
        self.status.as_deref().map(|s| s == "active")
    }

    /// A profile with only an id and a name and everything else unknown; a starting
    /// point for tests and for building profiles field by field.
    pub fn unknown(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            organization: None,
            revision: ApiRevision::Current,
            profile_type: None,
            status: None,
            authentication_type: None,
            sync_frequency: None,
            last_sync: None,
            last_sync_status: None,
            sync_record_count: None,
            connectivity: None,
            authentication: None,
            last_error: None,
            error_count_24h: None,
            last_tested: None,
            absurd: Vec::new(),
        }
    }

    /// Drops `last_sync` and `last_tested` when they lie more than [`FUTURE_TOLERANCE`]
    /// after `now`, recording them in `absurd`. Parsing cannot do this (it has no clock);
    /// the sweep calls it with its own.
    pub fn reject_future_timestamps(&mut self, now: SystemTime) {
        let limit = crate::clock::unix_seconds(now) + FUTURE_TOLERANCE.as_secs_f64();
        for (field, value) in [
            ("last_sync", &mut self.last_sync),
            ("last_tested", &mut self.last_tested),
        ] {
            if value.is_some_and(|t| t > limit) {
                *value = None;
                self.absurd.push(AbsurdValue {
                    field,
                    problem: Absurdity::FarFuture,
                });
            }
        }
    }
}

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
struct Interner {
    /// The shared values, at most [`INTERN_CAP`].
    values: HashSet<Text>,
}

impl Interner {
    fn intern(&mut self, text: &str) -> Text {
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

/// Why an upstream body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all (or truncated).
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not the shape we expect (e.g. no `results` array, no integer `id`).
    #[error("unexpected body shape: {0}")]
    Shape(String),
}

// ---------------------------------------------------------------------------------------
// Parsing
//
// Bodies are read straight from bytes with serde, into small lenient holders: each field
// accepts whatever JSON value was sent and keeps it only when it has the expected type.
// No `serde_json::Value` tree is built (a sweep parses up to 100,000 details), and fields
// we do not want — above all `configuration`, `username`, `password`, `endpoint_url` — are
// skipped with `IgnoredAny` without ever being copied out of the body.
// ---------------------------------------------------------------------------------------

impl ListPage {
    /// Parses one list page (`{"count", "next", "previous", "results": [...]}`).
    ///
    /// Only a body that is not JSON, not an object, or has no `results` array is an error.
    /// A result without a usable integer `id` is counted in `bad_items` and the page is still
    /// read; a `count` that is missing, negative or not an integer is `None` (a negative
    /// one is also recorded in `absurd`).
    pub fn parse(body: &[u8]) -> Result<ListPage, ParseError> {
        let raw: RawPage = serde_json::from_slice(body).map_err(json_error)?;
        let results = raw
            .results
            .ok_or_else(|| ParseError::Shape("no `results` array".to_string()))?;
        let Some((items, bad_items)) = results.0 else {
            return Err(ParseError::Shape("`results` is not an array".to_string()));
        };
        let mut absurd = Vec::new();
        Ok(ListPage {
            count: sane("count", raw.count.value.map(|c| c.0), &mut absurd),
            next: raw.next.value.filter(|n| !n.is_empty()),
            items,
            bad_items,
            absurd,
        })
    }
}

impl Profile {
    /// Parses a profile's detail, in either API revision (SPEC §1).
    ///
    /// Only a body that is not a JSON object, or whose `id` is missing or not a non-negative
    /// integer, is an error. Every other field that is missing, `null` or of an unexpected
    /// type is `None`; unknown fields are ignored; enum-like strings are kept as sent.
    ///
    /// The revision is legacy when the body has `connection_type`, `is_active` or
    /// `test_status` but neither `health_status` nor `profile_type`.
    pub fn parse_detail(body: &[u8]) -> Result<Profile, ParseError> {
        let raw: RawDetail = serde_json::from_slice(body).map_err(json_error)?;
        raw.into_profile()
    }
}

/// Sorts serde_json's errors into "not JSON" (syntax, truncation) and "wrong shape".
fn json_error(e: serde_json::Error) -> ParseError {
    match e.classify() {
        serde_json::error::Category::Data => ParseError::Shape(e.to_string()),
        _ => ParseError::NotJson(e.to_string()),
    }
}

/// Parses an RFC 3339 timestamp (offsets and fractions allowed) into Unix seconds.
fn parse_rfc3339(text: &str) -> Option<f64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    // Seconds and nanoseconds apart: the i128 nanosecond count does not fit an f64 exactly.
    Some(t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9)
}

/// One field of a body, read leniently.
struct Lenient<T> {
    /// True when the key was in the object, even with a `null` or unreadable value; the
    /// revision detection asks about presence, not readability.
    present: bool,
    /// The value, when it had a type `T` reads.
    value: Option<T>,
}

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Self {
            present: false,
            value: None,
        }
    }
}

/// How a type is read from whichever JSON value was sent: each method answers `None` for
/// values of a type it does not accept, so a wrong type is "unknown", never an error.
trait FromJson: Sized {
    /// From a JSON string.
    fn from_text(_: &str) -> Option<Self> {
        None
    }
    /// From a non-negative JSON integer.
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    /// From a negative JSON integer.
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    /// From a JSON number with a fraction or exponent.
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    /// From `true` or `false`.
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    /// From a JSON object. Implementations must consume every entry.
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        drain_map(map)?;
        Ok(None)
    }
}

/// Consumes the rest of an object without looking at it.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

impl FromJson for String {
    fn from_text(s: &str) -> Option<Self> {
        Some(s.to_owned())
    }
}

/// Enum-like values: shared through [`intern`].
impl FromJson for Text {
    fn from_text(s: &str) -> Option<Self> {
        Some(intern(s))
    }
}

impl FromJson for u64 {
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
    fn from_i64(v: i64) -> Option<Self> {
        u64::try_from(v).ok()
    }
}

impl FromJson for bool {
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
}

/// An RFC 3339 timestamp as Unix seconds; unparseable text is unknown, and a time before
/// 2000 is absurd.
struct Timestamp(Result<f64, Absurdity>);

impl FromJson for Timestamp {
    fn from_text(s: &str) -> Option<Self> {
        let t = parse_rfc3339(s)?;
        Some(Timestamp(if !t.is_finite() {
            Err(Absurdity::NotFinite)
        } else if t < EARLIEST_PLAUSIBLE_TIMESTAMP {
            Err(Absurdity::BeforeYear2000)
        } else {
            Ok(t)
        }))
    }
}

/// A count: a non-negative integer. A negative or non-finite number is absurd; a
/// fraction, a string or anything else is merely of the wrong type (unknown).
struct Count(Result<u64, Absurdity>);

impl FromJson for Count {
    fn from_u64(v: u64) -> Option<Self> {
        Some(Count(Ok(v)))
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(Count(u64::try_from(v).map_err(|_| Absurdity::Negative)))
    }
    fn from_f64(v: f64) -> Option<Self> {
        if !v.is_finite() {
            Some(Count(Err(Absurdity::NotFinite)))
        } else if v < 0.0 {
            Some(Count(Err(Absurdity::Negative)))
        } else {
            None
        }
    }
}

/// The value of a field that may be absurd: `Some` when sane, else `None`, with an absurd
/// value recorded in `out`.
fn sane<T>(
    field: &'static str,
    value: Option<Result<T, Absurdity>>,
    out: &mut Vec<AbsurdValue>,
) -> Option<T> {
    match value? {
        Ok(v) => Some(v),
        Err(problem) => {
            out.push(AbsurdValue { field, problem });
            None
        }
    }
}

/// `organization`: a name, a number (an id, shown as text), or an object with a `name`.
struct Organization(String);

impl FromJson for Organization {
    fn from_text(s: &str) -> Option<Self> {
        Some(Organization(s.to_owned()))
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(Organization(v.to_string()))
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(Organization(v.to_string()))
    }
    fn from_f64(v: f64) -> Option<Self> {
        v.is_finite().then(|| Organization(v.to_string()))
    }
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            Name,
            #[serde(other)]
            Other,
        }
        let mut name = Lenient::<String>::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Name => name = map.next_value()?,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(name.value.map(Organization))
    }
}

/// `health_status` of the current revision.
#[derive(Default)]
struct HealthStatus {
    /// `connectivity`, as sent.
    connectivity: Lenient<Text>,
    /// `authentication`, as sent.
    authentication: Lenient<Text>,
    /// `last_error` text.
    last_error: Lenient<String>,
    /// `error_count_24h`.
    error_count_24h: Lenient<Count>,
}

impl FromJson for HealthStatus {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            Connectivity,
            Authentication,
            LastError,
            #[serde(rename = "error_count_24h")]
            ErrorCount24h,
            #[serde(other)]
            Other,
        }
        let mut health = HealthStatus::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Connectivity => health.connectivity = map.next_value()?,
                Key::Authentication => health.authentication = map.next_value()?,
                Key::LastError => health.last_error = map.next_value()?,
                Key::ErrorCount24h => health.error_count_24h = map.next_value()?,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(health))
    }
}

/// A list entry: needs a usable `id`, else the whole entry is unreadable (a `bad_items`).
impl FromJson for ListItem {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            Id,
            Name,
            Organization,
            #[serde(other)]
            Other,
        }
        let mut id = Lenient::<u64>::default();
        let mut name = Lenient::<String>::default();
        let mut organization = Lenient::<Organization>::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => id = map.next_value()?,
                Key::Name => name = map.next_value()?,
                Key::Organization => organization = map.next_value()?,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(id.value.map(|id| ListItem {
            id,
            name: name.value.unwrap_or_default(),
            organization: organization.value.map(|o| o.0),
        }))
    }
}

impl<'de, T: FromJson> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserializer.deserialize_any(LenientVisitor::<T>(PhantomData))?;
        Ok(Lenient {
            present: true,
            value,
        })
    }
}

/// Accepts any JSON value and hands it to the matching [`FromJson`] method.
struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: FromJson> Visitor<'de> for LenientVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(T::from_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(T::from_i64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(T::from_u64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(T::from_f64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::from_text(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map)
    }
}

/// Rejects a top-level body that is not an object, without quoting any of it.
fn not_an_object<E: de::Error, V>(what: &str) -> Result<V, E> {
    Err(E::custom(format_args!("the body is {what}, not an object")))
}

/// Implements the non-object arms of a top-level visitor.
macro_rules! reject_non_objects {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            not_an_object("a boolean")
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            not_an_object("a number")
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            not_an_object("a number")
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            not_an_object("a number")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            not_an_object("a string")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            not_an_object("null")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            not_an_object("an array")
        }
    };
}

/// A list page as sent.
struct RawPage {
    /// `count`.
    count: Lenient<Count>,
    /// `next`.
    next: Lenient<String>,
    /// `results`; `None` when the key is missing.
    results: Option<RawResults>,
}

/// `results`: the readable items and the number of unreadable ones, or `None` when it was
/// not an array.
struct RawResults(Option<(Vec<ListItem>, usize)>);

impl<'de> Deserialize<'de> for RawPage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PageVisitor;
        impl<'de> Visitor<'de> for PageVisitor {
            type Value = RawPage;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list page object")
            }
            reject_non_objects!();
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPage, A::Error> {
                #[derive(Deserialize)]
                #[serde(field_identifier, rename_all = "snake_case")]
                enum Key {
                    Count,
                    Next,
                    Results,
                    #[serde(other)]
                    Other,
                }
                let mut page = RawPage {
                    count: Lenient::default(),
                    next: Lenient::default(),
                    results: None,
                };
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Count => page.count = map.next_value()?,
                        Key::Next => page.next = map.next_value()?,
                        Key::Results => page.results = Some(map.next_value()?),
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(page)
            }
        }
        deserializer.deserialize_any(PageVisitor)
    }
}

impl<'de> Deserialize<'de> for RawResults {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ResultsVisitor;
        impl<'de> Visitor<'de> for ResultsVisitor {
            type Value = RawResults;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of profiles")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawResults, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                let mut bad = 0;
                while let Some(item) = seq.next_element::<Lenient<ListItem>>()? {
                    match item.value {
                        Some(item) => items.push(item),
                        None => bad += 1,
                    }
                }
                Ok(RawResults(Some((items, bad))))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawResults, A::Error> {
                drain_map(map)?;
                Ok(RawResults(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawResults, E> {
                Ok(RawResults(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawResults, E> {
                Ok(RawResults(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawResults, E> {
                Ok(RawResults(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawResults, E> {
                Ok(RawResults(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawResults, E> {
                Ok(RawResults(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawResults, E> {
                Ok(RawResults(None))
            }
        }
        deserializer.deserialize_any(ResultsVisitor)
    }
}

/// A detail as sent, in either revision. There is deliberately no field for
/// `configuration`, `username`, `password` or `endpoint_url`.
#[derive(Default)]
struct RawDetail {
    /// `id`.
    id: Lenient<u64>,
    /// `name`.
    name: Lenient<String>,
    /// `organization`.
    organization: Lenient<Organization>,
    /// `profile_type` (current).
    profile_type: Lenient<Text>,
    /// `status` (current).
    status: Lenient<Text>,
    /// `authentication_type`.
    authentication_type: Lenient<Text>,
    /// `sync_frequency`.
    sync_frequency: Lenient<Text>,
    /// `last_sync`.
    last_sync: Lenient<Timestamp>,
    /// `last_sync_status`.
    last_sync_status: Lenient<Text>,
    /// `sync_record_count`.
    sync_record_count: Lenient<Count>,
    /// `health_status` (current).
    health_status: Lenient<HealthStatus>,
    /// `connection_type` (legacy).
    connection_type: Lenient<Text>,
    /// `is_active` (legacy).
    is_active: Lenient<bool>,
    /// `test_status` (legacy).
    test_status: Lenient<Text>,
    /// `last_tested` (legacy).
    last_tested: Lenient<Timestamp>,
}

impl<'de> Deserialize<'de> for RawDetail {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DetailVisitor;
        impl<'de> Visitor<'de> for DetailVisitor {
            type Value = RawDetail;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a profile object")
            }
            reject_non_objects!();
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDetail, A::Error> {
                #[derive(Deserialize)]
                #[serde(field_identifier, rename_all = "snake_case")]
                enum Key {
                    Id,
                    Name,
                    Organization,
                    ProfileType,
                    Status,
                    AuthenticationType,
                    SyncFrequency,
                    LastSync,
                    LastSyncStatus,
                    SyncRecordCount,
                    HealthStatus,
                    ConnectionType,
                    IsActive,
                    TestStatus,
                    LastTested,
                    // Everything else, `configuration` and credentials included, is
                    // skipped unread.
                    #[serde(other)]
                    Other,
                }
                let mut d = RawDetail::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Id => d.id = map.next_value()?,
                        Key::Name => d.name = map.next_value()?,
                        Key::Organization => d.organization = map.next_value()?,
                        Key::ProfileType => d.profile_type = map.next_value()?,
                        Key::Status => d.status = map.next_value()?,
                        Key::AuthenticationType => d.authentication_type = map.next_value()?,
                        Key::SyncFrequency => d.sync_frequency = map.next_value()?,
                        Key::LastSync => d.last_sync = map.next_value()?,
                        Key::LastSyncStatus => d.last_sync_status = map.next_value()?,
                        Key::SyncRecordCount => d.sync_record_count = map.next_value()?,
                        Key::HealthStatus => d.health_status = map.next_value()?,
                        Key::ConnectionType => d.connection_type = map.next_value()?,
                        Key::IsActive => d.is_active = map.next_value()?,
                        Key::TestStatus => d.test_status = map.next_value()?,
                        Key::LastTested => d.last_tested = map.next_value()?,
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(d)
            }
        }
        deserializer.deserialize_any(DetailVisitor)
    }
}

impl RawDetail {
    /// True when the body speaks the older revision (SPEC §1).
    fn is_legacy(&self) -> bool {
        let legacy_fields =
            self.connection_type.present || self.is_active.present || self.test_status.present;
        let current_fields = self.health_status.present || self.profile_type.present;
        legacy_fields && !current_fields
    }

    fn into_profile(self) -> Result<Profile, ParseError> {
        let id = match (self.id.present, self.id.value) {
            (_, Some(id)) => id,
            (true, None) => {
                return Err(ParseError::Shape(
                    "`id` is not a non-negative integer".to_string(),
                ))
            }
            (false, None) => return Err(ParseError::Shape("no `id`".to_string())),
        };
        let legacy = self.is_legacy();
        let mut absurd = Vec::new();
        let last_sync = sane("last_sync", self.last_sync.value.map(|t| t.0), &mut absurd);
        let sync_record_count = sane(
            "sync_record_count",
            self.sync_record_count.value.map(|c| c.0),
            &mut absurd,
        );
        let mut profile = Profile {
            id,
            name: self.name.value.unwrap_or_default(),
            organization: self.organization.value.map(|o| o.0),
            revision: ApiRevision::Current,
            profile_type: self.profile_type.value,
            status: self.status.value,
            authentication_type: self.authentication_type.value,
            sync_frequency: self.sync_frequency.value,
            last_sync,
            last_sync_status: self.last_sync_status.value,
            sync_record_count,
            connectivity: None,
            authentication: None,
            last_error: None,
            error_count_24h: None,
            last_tested: None,
            absurd: Vec::new(),
        };
        if legacy {
            profile.revision = ApiRevision::Legacy;
            profile.profile_type = self.connection_type.value;
            // `is_active` is the legacy status; a `status` string, if one is sent anyway,
            // is only used when `is_active` cannot be read.
            if let Some(active) = self.is_active.value {
                profile.status = Some(intern(if active { "active" } else { "inactive" }));
            }
            profile.connectivity = self.test_status.value.map(|s| match &*s {
                "success" => intern("healthy"),
                "failed" => intern("unhealthy"),
                _ => s,
            });
            profile.last_tested = sane(
                "last_tested",
                self.last_tested.value.map(|t| t.0),
                &mut absurd,
            );
        } else if let Some(health) = self.health_status.value {
            profile.connectivity = health.connectivity.value;
            profile.authentication = health.authentication.value;
            profile.last_error = health.last_error.value;
            profile.error_count_24h = sane(
                "health_status.error_count_24h",
                health.error_count_24h.value.map(|c| c.0),
                &mut absurd,
            );
        }
        profile.absurd = absurd;
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A detail of the current revision, as the API sends it.
    const CURRENT: &str = r#"{
        "id": 42,
        "name": "Main Warehouse REST",
        "description": "Primary WMS",
        "profile_type": "rest_api",
        "status": "active",
        "endpoint_url": "https://wms-user:wms-pass@wms.example.com/api",
        "authentication_type": "oauth2",
        "ssl_enabled": true,
        "connection_timeout": 30,
        "retry_attempts": 3,
        "sync_frequency": "hourly",
        "last_sync": "2026-01-01T00:00:00Z",
        "last_sync_status": "success",
        "sync_record_count": 15234,
        "organization": {"id": 7, "name": "Acme Logistics"},
        "created_by": {"id": 1, "username": "admin"},
        "created_at": "2025-06-01T12:00:00.123456+02:00",
        "updated_at": "2025-12-31T23:00:00Z",
        "configuration": {"client_secret": "s3cr3t-value", "mapping": {"sku": "item_code"}, "filters": [1, 2, {"deep": [null]}]},
        "health_status": {"connectivity": "healthy", "authentication": "valid", "last_error": null, "error_count_24h": 0}
    }"#;

    /// A detail of the legacy revision.
    const LEGACY: &str = r#"{
        "id": 9,
        "name": "Old ERP",
        "connection_type": "database",
        "is_active": false,
        "host": "erp.internal",
        "port": 5432,
        "database": "erp",
        "username": "erp_reader",
        "password": "legacy-password",
        "timeout": 30,
        "max_connections": 5,
        "organization": "Main Warehouse",
        "test_status": "failed",
        "last_tested": "2026-01-01T01:30:00.5+01:00"
    }"#;

    fn detail(json: &str) -> Profile {
        Profile::parse_detail(json.as_bytes()).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    /// Unix time of 2026-01-01T00:00:00Z.
    const NEW_YEAR_2026: f64 = 1_767_225_600.0;

    #[test]
    fn current_revision_detail_is_read_in_full() {
        let p = detail(CURRENT);
        assert_eq!(p.id, 42);
        assert_eq!(p.name, "Main Warehouse REST");
        assert_eq!(p.revision, ApiRevision::Current);
        assert_eq!(p.organization.as_deref(), Some("Acme Logistics"));
        assert_eq!(p.profile_type.as_deref(), Some("rest_api"));
        assert_eq!(p.status.as_deref(), Some("active"));
        assert_eq!(p.is_active(), Some(true));
        assert_eq!(p.authentication_type.as_deref(), Some("oauth2"));
        assert_eq!(p.sync_frequency.as_deref(), Some("hourly"));
        assert_eq!(p.last_sync, Some(NEW_YEAR_2026));
        assert_eq!(p.last_sync_status.as_deref(), Some("success"));
        assert_eq!(p.sync_record_count, Some(15234));
        assert_eq!(p.connectivity.as_deref(), Some("healthy"));
        assert_eq!(p.authentication.as_deref(), Some("valid"));
        assert_eq!(p.last_error, None);
        assert_eq!(p.error_count_24h, Some(0));
        assert_eq!(p.last_tested, None);
    }

    #[test]
    fn legacy_revision_is_translated() {
        let p = detail(LEGACY);
        assert_eq!(p.id, 9);
        assert_eq!(p.revision, ApiRevision::Legacy);
        assert_eq!(p.profile_type.as_deref(), Some("database"));
        assert_eq!(p.status.as_deref(), Some("inactive"));
        assert_eq!(p.is_active(), Some(false));
        assert_eq!(p.connectivity.as_deref(), Some("unhealthy"));
        assert_eq!(
            p.authentication, None,
            "the legacy revision says nothing of it"
        );
        assert_eq!(p.organization.as_deref(), Some("Main Warehouse"));
        // 01:30:00.5 at +01:00 is 00:30:00.5 UTC.
        assert_eq!(p.last_tested, Some(NEW_YEAR_2026 + 1800.5));
        assert_eq!(p.last_sync, None);
    }

    #[test]
    fn legacy_test_status_and_is_active_map_as_specified() {
        let p = detail(r#"{"id": 1, "is_active": true, "test_status": "success"}"#);
        assert_eq!(p.revision, ApiRevision::Legacy);
        assert_eq!(p.status.as_deref(), Some("active"));
        assert_eq!(p.connectivity.as_deref(), Some("healthy"));

        let p = detail(r#"{"id": 1, "test_status": "running"}"#);
        assert_eq!(p.connectivity.as_deref(), Some("running"), "kept as sent");
        assert_eq!(p.status, None);

        let p = detail(r#"{"id": 1, "connection_type": "database", "is_active": "yes"}"#);
        assert_eq!(p.revision, ApiRevision::Legacy);
        assert_eq!(p.status, None, "a non-boolean is_active is unknown");
    }

    #[test]
    fn current_fields_win_over_legacy_ones() {
        let p = detail(
            r#"{"id": 1, "profile_type": "rest_api", "connection_type": "database",
                "test_status": "failed", "health_status": {"connectivity": "healthy"}}"#,
        );
        assert_eq!(p.revision, ApiRevision::Current);
        assert_eq!(p.profile_type.as_deref(), Some("rest_api"));
        assert_eq!(p.connectivity.as_deref(), Some("healthy"));

        // `health_status: null` alone still marks the current revision.
        let p = detail(r#"{"id": 1, "test_status": "failed", "health_status": null}"#);
        assert_eq!(p.revision, ApiRevision::Current);
        assert_eq!(p.connectivity, None);
    }

    #[test]
    fn a_body_with_only_an_id_is_all_unknown() {
        let p = detail(r#"{"id": 5}"#);
        assert_eq!(p, Profile::unknown(5, ""));
    }

    #[test]
    fn null_health_status_leaves_every_health_field_unknown() {
        let p = detail(r#"{"id": 3, "name": "x", "status": "active", "health_status": null}"#);
        assert_eq!(p.connectivity, None);
        assert_eq!(p.authentication, None);
        assert_eq!(p.last_error, None);
        assert_eq!(p.error_count_24h, None);
        assert_eq!(p.status.as_deref(), Some("active"));
    }

    #[test]
    fn unknown_enum_values_are_kept_as_sent() {
        let p = detail(
            r#"{"id": 3, "status": "paused", "sync_frequency": "every_7_minutes",
                "last_sync_status": "partial",
                "health_status": {"connectivity": "flaky", "authentication": "expiring",
                                  "last_error": "TLS handshake failed", "error_count_24h": 12}}"#,
        );
        assert_eq!(p.status.as_deref(), Some("paused"));
        assert_eq!(p.is_active(), Some(false));
        assert_eq!(p.sync_frequency.as_deref(), Some("every_7_minutes"));
        assert_eq!(p.last_sync_status.as_deref(), Some("partial"));
        assert_eq!(p.connectivity.as_deref(), Some("flaky"));
        assert_eq!(p.authentication.as_deref(), Some("expiring"));
        assert_eq!(p.last_error.as_deref(), Some("TLS handshake failed"));
        assert_eq!(p.error_count_24h, Some(12));
    }

    #[test]
    fn wrong_types_and_nulls_are_unknown_not_errors() {
        let p = detail(
            r#"{"id": 3, "name": 17, "status": true, "profile_type": ["rest_api"],
                "authentication_type": {"kind": "oauth2"}, "sync_frequency": null,
                "last_sync": 1767225600, "last_sync_status": 1,
                "sync_record_count": "15234", "organization": null,
                "health_status": {"connectivity": 1, "authentication": null,
                                  "last_error": {"msg": "x"}, "error_count_24h": "3"}}"#,
        );
        let mut expected = Profile::unknown(3, "");
        expected.revision = ApiRevision::Current;
        assert_eq!(p, expected);

        let p = detail(r#"{"id": 3, "health_status": "healthy"}"#);
        assert_eq!(p.connectivity, None);
        let p = detail(r#"{"id": 3, "health_status": [1, 2]}"#);
        assert_eq!(p.connectivity, None);
    }

    #[test]
    fn counts_must_be_non_negative_integers() {
        for (json, expected) in [
            (r#"{"id": 1, "sync_record_count": 0}"#, Some(0)),
            (
                r#"{"id": 1, "sync_record_count": 18446744073709551615}"#,
                Some(u64::MAX),
            ),
            (r#"{"id": 1, "sync_record_count": -1}"#, None),
            (r#"{"id": 1, "sync_record_count": 1.5}"#, None),
            (r#"{"id": 1, "sync_record_count": 2.0}"#, None),
            (r#"{"id": 1, "sync_record_count": 1e3}"#, None),
            (
                r#"{"id": 1, "sync_record_count": 18446744073709551616}"#,
                None,
            ),
        ] {
            assert_eq!(detail(json).sync_record_count, expected, "{json}");
        }
        let p = detail(r#"{"id": 1, "health_status": {"error_count_24h": -4}}"#);
        assert_eq!(p.error_count_24h, None);
    }

    #[test]
    fn absurd_values_are_unknown_and_reported() {
        let p = detail(
            r#"{"id": 1, "sync_record_count": -5, "last_sync": "1970-01-01T00:00:00Z",
                "health_status": {"connectivity": "healthy", "error_count_24h": -2.5}}"#,
        );
        assert_eq!(
            (p.sync_record_count, p.last_sync, p.error_count_24h),
            (None, None, None)
        );
        assert_eq!(p.connectivity.as_deref(), Some("healthy"));
        let shown: Vec<String> = p.absurd.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "last_sync before the year 2000",
                "sync_record_count negative",
                "health_status.error_count_24h negative",
            ]
        );

        let p = detail(r#"{"id": 1, "is_active": true, "last_tested": "1999-01-01T00:00:00Z"}"#);
        assert_eq!(p.last_tested, None);
        assert_eq!(
            p.absurd,
            [AbsurdValue {
                field: "last_tested",
                problem: Absurdity::BeforeYear2000
            }]
        );

        // Merely odd types are unknown but not absurd.
        let p = detail(r#"{"id": 1, "sync_record_count": 1.5, "last_sync": "soon"}"#);
        assert_eq!((p.sync_record_count, p.last_sync), (None, None));
        assert!(p.absurd.is_empty());

        let p = page(r#"{"count": -3, "results": []}"#);
        assert_eq!(p.count, None);
        assert_eq!(
            p.absurd,
            [AbsurdValue {
                field: "count",
                problem: Absurdity::Negative
            }]
        );
    }

    #[test]
    fn numbers_beyond_f64_make_the_body_unreadable_not_infinite() {
        // JSON has no NaN or Infinity; a number too large for an f64 is refused by the
        // JSON reader, so no infinite value ever reaches a profile.
        let result = Profile::parse_detail(br#"{"id": 1, "sync_record_count": 1e400}"#);
        assert!(result.is_err(), "{result:?}");
        // Where we do not read the field, the number is skipped without converting it.
        let p = detail(r#"{"id": 1, "configuration": {"x": 1e400}}"#);
        assert_eq!(p.id, 1);
    }

    #[test]
    fn timestamps_far_in_the_future_are_dropped_against_the_clock() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NEW_YEAR_2026 as u64);
        let mut p = detail(
            r#"{"id": 1, "is_active": true, "last_sync": "2026-01-01T23:00:00Z",
                "last_tested": "2026-01-03T00:00:00Z"}"#,
        );
        p.reject_future_timestamps(now);
        assert_eq!(
            p.last_sync,
            Some(NEW_YEAR_2026 + 23.0 * 3600.0),
            "within a day"
        );
        assert_eq!(p.last_tested, None);
        assert_eq!(
            p.absurd,
            [AbsurdValue {
                field: "last_tested",
                problem: Absurdity::FarFuture
            }]
        );
    }

    #[test]
    fn timestamps_accept_offsets_and_fractions() {
        for (text, expected) in [
            ("2026-01-01T00:00:00Z", Some(NEW_YEAR_2026)),
            ("2026-01-01T00:00:00.250Z", Some(NEW_YEAR_2026 + 0.25)),
            (
                "2026-01-01T00:00:00.123456+00:00",
                Some(NEW_YEAR_2026 + 0.123456),
            ),
            ("2026-01-01T05:30:00+05:30", Some(NEW_YEAR_2026)),
            ("2025-12-31T19:00:00-05:00", Some(NEW_YEAR_2026)),
            ("2000-01-01T00:00:00Z", Some(EARLIEST_PLAUSIBLE_TIMESTAMP)),
            ("1999-12-31T23:59:59Z", None),
            ("1969-12-31T23:59:59Z", None),
            ("2026-01-01", None),
            ("2026-01-01T00:00:00", None),
            ("yesterday", None),
            ("2026-13-01T00:00:00Z", None),
            ("", None),
        ] {
            let json = format!(r#"{{"id": 1, "last_sync": "{text}"}}"#);
            let got = detail(&json).last_sync;
            match (got, expected) {
                (Some(g), Some(e)) => assert!((g - e).abs() < 1e-6, "{text}: {g} != {e}"),
                _ => assert_eq!(got, expected, "{text}"),
            }
        }
    }

    #[test]
    fn organization_may_be_a_name_a_number_or_an_object() {
        for (value, expected) in [
            (r#""Acme""#, Some("Acme")),
            ("12", Some("12")),
            ("-3", Some("-3")),
            (r#"{"id": 12, "name": "Acme"}"#, Some("Acme")),
            (r#"{"id": 12}"#, None),
            (r#"{"id": 12, "name": null}"#, None),
            (r#"{"name": 5}"#, None),
            ("[]", None),
            ("true", None),
            ("null", None),
        ] {
            let json = format!(r#"{{"id": 1, "organization": {value}}}"#);
            assert_eq!(detail(&json).organization.as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn the_id_must_be_a_non_negative_integer() {
        for json in [
            r#"{"name": "no id"}"#,
            r#"{"id": null}"#,
            r#"{"id": "42"}"#,
            r#"{"id": -1}"#,
            r#"{"id": 4.2}"#,
            r#"{"id": {"value": 4}}"#,
        ] {
            assert!(
                matches!(
                    Profile::parse_detail(json.as_bytes()),
                    Err(ParseError::Shape(_))
                ),
                "{json}"
            );
        }
    }

    #[test]
    fn bodies_that_are_not_a_json_object_are_errors() {
        let not_json: [&[u8]; 7] = [
            b"",
            b"<html><body>502 Bad Gateway</body></html>",
            br#"{"id": 1, "name": "trunc"#,
            br#"{"id": 1} trailing"#,
            b"\xff\xfe{}",
            br#"{"id": 1, "name": "\ud800"}"#,
            b"{'id': 1}",
        ];
        for body in not_json {
            let result = Profile::parse_detail(body);
            assert!(
                matches!(result, Err(ParseError::NotJson(_))),
                "{:?}: {result:?}",
                String::from_utf8_lossy(body)
            );
        }
        for body in ["[]", "[{\"id\": 1}]", "null", "42", "true", r#""id""#] {
            let result = Profile::parse_detail(body.as_bytes());
            assert!(
                matches!(result, Err(ParseError::Shape(_))),
                "{body}: {result:?}"
            );
        }
    }

    #[test]
    fn errors_do_not_quote_the_body() {
        let Err(e) = Profile::parse_detail(br#""tok-abcdef-secret""#) else {
            panic!("a string body was accepted");
        };
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        // Skipped values are walked iteratively, so nesting costs no stack; a deeply
        // nested `configuration` or list entry is simply ignored.
        let open = "[".repeat(100_000);
        let close = "]".repeat(100_000);
        let p = detail(&format!(r#"{{"id": 1, "configuration": {open}{close}}}"#));
        assert_eq!(p.id, 1);
        let p = page(&format!(r#"{{"results": [{open}{close}, {{"id": 2}}]}}"#));
        assert_eq!((p.items.len(), p.bad_items), (1, 1));
        let nested_object = format!(
            r#"{{"id": 1, "name": {}1{}}}"#,
            r#"{"a":"#.repeat(50_000),
            "}".repeat(50_000)
        );
        assert_eq!(detail(&nested_object).name, "");
        // Where nesting is where an object was expected, it is an error, not a crash.
        assert!(Profile::parse_detail(format!("{open}{close}").as_bytes()).is_err());
    }

    #[test]
    fn hostile_strings_survive_intact() {
        let p = detail(
            r#"{"id": 1, "name": "a\"b\\c\nd\u0000e</script>{{x}}\u202e",
                "organization": "Ölwerk 🚚 \"Nord\"",
                "health_status": {"connectivity": "", "last_error": "line1\r\nline2\tend"}}"#,
        );
        assert_eq!(p.name, "a\"b\\c\nd\u{0}e</script>{{x}}\u{202e}");
        assert_eq!(p.organization.as_deref(), Some("Ölwerk 🚚 \"Nord\""));
        assert_eq!(
            p.connectivity.as_deref(),
            Some(""),
            "empty is a value, kept as sent"
        );
        assert_eq!(p.last_error.as_deref(), Some("line1\r\nline2\tend"));

        let long = "x".repeat(1 << 20);
        let p = detail(&format!(r#"{{"id": 1, "name": "{long}"}}"#));
        assert_eq!(p.name.len(), 1 << 20);
    }

    #[test]
    fn duplicate_keys_do_not_fail_the_body() {
        let p = detail(r#"{"id": 1, "name": "first", "name": "second", "id": 2}"#);
        assert_eq!((p.id, p.name.as_str()), (2, "second"));
    }

    #[test]
    fn sensitive_fields_never_reach_the_profile() {
        let p = detail(CURRENT);
        let shown = format!("{p:?} {}", serde_json::to_string(&p).unwrap_or_default());
        for secret in ["s3cr3t-value", "wms-pass", "wms-user", "item_code"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        let p = detail(LEGACY);
        let shown = format!("{p:?}");
        for secret in ["legacy-password", "erp_reader", "erp.internal"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }

    fn page(json: &str) -> ListPage {
        ListPage::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    #[test]
    fn list_page_is_read() {
        let p = page(
            r#"{"count": 25,
                "next": "https://control.example.com/api/v1/inventory_connection_profile/?limit=2&offset=2",
                "previous": null,
                "results": [
                  {"id": 1, "name": "A", "profile_type": "rest_api", "status": "active",
                   "organization": {"id": 3, "name": "Main Warehouse"}, "last_sync": null},
                  {"id": 2, "name": "B", "organization": 3, "configuration": {"password": "x"}}
                ]}"#,
        );
        assert_eq!(p.count, Some(25));
        assert_eq!(
            p.next.as_deref(),
            Some(
                "https://control.example.com/api/v1/inventory_connection_profile/?limit=2&offset=2"
            )
        );
        assert_eq!(p.bad_items, 0);
        assert_eq!(
            p.items,
            vec![
                ListItem {
                    id: 1,
                    name: "A".to_string(),
                    organization: Some("Main Warehouse".to_string())
                },
                ListItem {
                    id: 2,
                    name: "B".to_string(),
                    organization: Some("3".to_string())
                },
            ]
        );
    }

    #[test]
    fn last_page_has_no_next() {
        for next in ["null", r#""""#, "17", "{}"] {
            let p = page(&format!(r#"{{"count": 0, "next": {next}, "results": []}}"#));
            assert_eq!(p.next, None, "{next}");
        }
        let p = page(r#"{"results": []}"#);
        assert_eq!((p.count, p.next, p.items.len()), (None, None, 0));
    }

    #[test]
    fn unreadable_list_items_are_counted_not_fatal() {
        let p = page(
            r#"{"count": 7, "results": [
                {"id": 1},
                {"id": -1, "name": "negative"},
                {"id": "2", "name": "string id"},
                {"name": "no id"},
                {"id": 2.5},
                "just a string",
                null,
                {"id": 3, "name": null, "organization": [1]}
            ]}"#,
        );
        assert_eq!(p.bad_items, 6);
        assert_eq!(
            p.items,
            vec![
                ListItem {
                    id: 1,
                    name: String::new(),
                    organization: None
                },
                ListItem {
                    id: 3,
                    name: String::new(),
                    organization: None
                },
            ]
        );
    }

    #[test]
    fn odd_counts_are_unknown() {
        for count in ["-1", "2.5", "\"25\"", "null", "[]"] {
            let p = page(&format!(r#"{{"count": {count}, "results": []}}"#));
            assert_eq!(p.count, None, "{count}");
        }
    }

    #[test]
    fn a_page_without_a_results_array_is_an_error() {
        for body in [
            r#"{"count": 1}"#,
            r#"{"count": 1, "results": null}"#,
            r#"{"count": 1, "results": {"id": 1}}"#,
            r#"{"count": 1, "results": "[]"}"#,
            r#"[{"id": 1}]"#,
            r#"{"detail": "Invalid token."}"#,
        ] {
            let result = ListPage::parse(body.as_bytes());
            assert!(
                matches!(result, Err(ParseError::Shape(_))),
                "{body}: {result:?}"
            );
        }
        for body in [
            "",
            "<!doctype html><title>Login</title>",
            r#"{"count": 1, "results": [{"id": 1"#,
        ] {
            let result = ListPage::parse(body.as_bytes());
            assert!(
                matches!(result, Err(ParseError::NotJson(_))),
                "{body}: {result:?}"
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap fuzz: every prefix of valid bodies, and some byte soup.
        for body in [CURRENT, LEGACY] {
            let bytes = body.as_bytes();
            for end in 0..bytes.len() {
                let _ = Profile::parse_detail(&bytes[..end]);
                let _ = ListPage::parse(&bytes[..end]);
            }
        }
        let mut state: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let soup: Vec<u8> = (0..64)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    b"{}[]\":,0123456789-.eE tnrufalsid\\"[(state % 33) as usize]
                })
                .collect();
            let _ = Profile::parse_detail(&soup);
            let _ = ListPage::parse(&soup);
        }
    }

    #[test]
    fn enum_like_values_are_shared_between_profiles() {
        let a = detail(CURRENT);
        let b = detail(CURRENT);
        for (x, y) in [
            (&a.profile_type, &b.profile_type),
            (&a.status, &b.status),
            (&a.authentication_type, &b.authentication_type),
            (&a.sync_frequency, &b.sync_frequency),
            (&a.last_sync_status, &b.last_sync_status),
            (&a.connectivity, &b.connectivity),
            (&a.authentication, &b.authentication),
        ] {
            let (Some(x), Some(y)) = (x, y) else {
                panic!("{x:?} {y:?}: the fixture sets every enum-like field");
            };
            assert!(Text::ptr_eq(x, y), "{x:?} is allocated per profile");
        }
        // The legacy translations share the same values as the current revision's.
        let legacy = detail(r#"{"id": 1, "is_active": true, "test_status": "success"}"#);
        let current = detail(
            r#"{"id": 2, "status": "active", "health_status": {"connectivity": "healthy"}}"#,
        );
        assert!(matches!(
            (&legacy.status, &current.status),
            (Some(x), Some(y)) if Text::ptr_eq(x, y)
        ));
        assert!(matches!(
            (&legacy.connectivity, &current.connectivity),
            (Some(x), Some(y)) if Text::ptr_eq(x, y)
        ));
    }

    #[test]
    fn the_intern_table_is_bounded_and_values_stay_as_sent() {
        let mut table = Interner::default();
        for i in 0..INTERN_CAP + 10 {
            let text = format!("value-{i}");
            assert_eq!(&*table.intern(&text), text);
        }
        assert_eq!(table.values.len(), INTERN_CAP);
        // Values seen before the cap are shared; new ones still come back intact.
        assert!(Text::ptr_eq(
            &table.intern("value-0"),
            &table.intern("value-0")
        ));
        let late = format!("value-{}", INTERN_CAP + 5);
        assert_eq!(&*table.intern(&late), late);
        assert!(!Text::ptr_eq(&table.intern(&late), &table.intern(&late)));

        let long = "x".repeat(INTERN_MAX_LEN + 1);
        let mut table = Interner::default();
        assert_eq!(&*table.intern(&long), long);
        assert_eq!(std::mem::size_of::<Option<Text>>(), 8, "one pointer wide");
        assert!(table.values.is_empty(), "long values are not kept");
        assert_eq!(&*intern(&long), long);
        assert_eq!(
            &*intern(" Weird \u{1F600} value "),
            " Weird \u{1F600} value "
        );
    }
}
