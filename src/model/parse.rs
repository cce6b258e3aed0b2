//! Reading upstream bodies leniently.
//!
//! Bodies are read straight from bytes with serde, into small lenient holders: each field
//! accepts whatever JSON value was sent and keeps it only when it has the expected type.
//! No `serde_json::Value` tree is built (a sweep parses up to 100,000 details), and fields
//! we do not want — above all `configuration`, `username`, `password`, `endpoint_url` — are
//! skipped with `IgnoredAny` without ever being copied out of the body.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::text::{intern, Text};
use super::{
    AbsurdValue, Absurdity, ApiRevision, ListItem, ListPage, ParseError, Profile,
    EARLIEST_PLAUSIBLE_TIMESTAMP,
};

impl ListPage {
    /// Parses one list page (`{"count", "next", "previous", "results": [...]}`).
    ///
    /// Only a body that is not JSON, not an object, or has no `results` array is an error.
    /// A result without a usable integer `id` is counted in `bad_items` and the page is still
    /// read; a `count` that is missing, negative or not an integer is `None` (a negative
    /// one is also recorded in `absurd`).
    pub fn parse(body: &[u8]) -> Result<ListPage, ParseError> {
        let raw: RawPage = parse_body(body)?;
        let Some(Results(items, bad_items)) = raw.results.value else {
            return Err(ParseError::Shape(if raw.results.present {
                "`results` is not an array".to_string()
            } else {
                "no `results` array".to_string()
            }));
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
    /// Parses a profile's detail, in either API revision.
    ///
    /// Only a body that is not a JSON object, or whose `id` is missing or not a non-negative
    /// integer, is an error. Every other field that is missing, `null` or of an unexpected
    /// type is `None`; unknown fields are ignored; enum-like strings are kept as sent.
    ///
    /// The revision is legacy when the body has `connection_type`, `is_active` or
    /// `test_status` but neither `health_status` nor `profile_type`.
    pub fn parse_detail(body: &[u8]) -> Result<Profile, ParseError> {
        let raw: RawDetail = parse_body(body)?;
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
    /// From a JSON array. Implementations must consume every element.
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
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

/// A JSON object read key by key into a holder of lenient fields, so that the loop over
/// the keys, and skipping the ones we do not read, is written once.
trait Fields: Default {
    /// The keys read: a `field_identifier` enum whose `#[serde(other)]` variant stands for
    /// every other key.
    type Key: DeserializeOwned;

    /// Reads the value of `key` into `self`, or skips it ([`skip`]) for an other key.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: Self::Key, map: &mut A)
        -> Result<(), A::Error>;
}

/// Reads every entry of an object into `T`; a key sent twice keeps its last value.
fn read_fields<'de, T: Fields, A: MapAccess<'de>>(mut map: A) -> Result<T, A::Error> {
    let mut fields = T::default();
    while let Some(key) = map.next_key::<T::Key>()? {
        fields.read(key, &mut map)?;
    }
    Ok(fields)
}

/// Skips the value of a key we do not read, without copying it.
fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// Declares the holder of an object's lenient fields, each read from the key of its own
/// name, with the key enum and the [`Fields`] reader that go with it.
macro_rules! lenient_object {
    (
        $(#[$meta:meta])*
        struct $name:ident by $key:ident {
            $( $(#[$field_meta:meta])* $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Default)]
        struct $name {
            $( $(#[$field_meta])* $field: Lenient<$ty>, )*
        }

        /// The keys read, named as sent; every other key is `Other`, skipped unread.
        #[derive(Deserialize)]
        #[serde(field_identifier)]
        #[allow(non_camel_case_types)]
        enum $key {
            $( $field, )*
            #[serde(other)]
            Other,
        }

        impl Fields for $name {
            type Key = $key;
            fn read<'de, A: MapAccess<'de>>(
                &mut self,
                key: $key,
                map: &mut A,
            ) -> Result<(), A::Error> {
                match key {
                    $( $key::$field => self.$field = map.next_value()?, )*
                    $key::Other => skip(map)?,
                }
                Ok(())
            }
        }
    };
}

/// `organization`: a name, a number (an id, shown as text), or an object with a `name`.
struct Organization(String);

lenient_object! {
    /// The `organization` object: only its `name` is read.
    struct NamedObject by NamedKey {
        /// `name`.
        name: String,
    }
}

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
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let object: NamedObject = read_fields(map)?;
        Ok(object.name.value.map(Organization))
    }
}

lenient_object! {
    /// `health_status` of the current revision.
    struct HealthStatus by HealthKey {
        /// `connectivity`, as sent.
        connectivity: Text,
        /// `authentication`, as sent.
        authentication: Text,
        /// `last_error` text.
        last_error: String,
        /// `error_count_24h`.
        error_count_24h: Count,
    }
}

impl FromJson for HealthStatus {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        read_fields(map).map(Some)
    }
}

lenient_object! {
    /// A list entry as sent.
    struct RawItem by ItemKey {
        /// `id`.
        id: u64,
        /// `name`.
        name: String,
        /// `organization`.
        organization: Organization,
    }
}

/// A list entry: needs a usable `id`, else the whole entry is unreadable (a `bad_items`).
impl FromJson for ListItem {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let raw: RawItem = read_fields(map)?;
        Ok(raw.id.value.map(|id| ListItem {
            id,
            name: raw.name.value.unwrap_or_default(),
            organization: raw.organization.value.map(|o| o.0),
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
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map)
    }
}

/// A whole body: an object read into `T`, anything else refused without quoting it.
struct Body<T>(PhantomData<T>);

/// A top-level body, read with [`Body`].
trait TopLevel: Fields {
    /// What the body should be, for serde's messages.
    const EXPECTED: &'static str;
}

impl<'de, T: TopLevel> Visitor<'de> for Body<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        not_an_object("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        not_an_object("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        not_an_object("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        not_an_object("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
        not_an_object("a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        not_an_object("null")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        not_an_object("an array")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        read_fields(map)
    }
}

/// Rejects a top-level body that is not an object, without quoting any of it.
fn not_an_object<E: de::Error, V>(what: &str) -> Result<V, E> {
    Err(E::custom(format_args!("the body is {what}, not an object")))
}

/// Parses a whole body into `T`.
///
/// The body's UTF-8 is checked once, as a whole, and the body then read as a `str`:
/// read from bytes, serde_json checks every string it hands over (each key, each value
/// read) on its own, a call per string that cost more than the one pass over the body. A
/// body that is not UTF-8 throughout (a stray byte in a field we skip, or in one we read)
/// is read from bytes as before, so what is accepted and every error stay the same.
fn parse_body<T: TopLevel>(body: &[u8]) -> Result<T, ParseError> {
    match std::str::from_utf8(body) {
        Ok(text) => read_body(serde_json::Deserializer::from_str(text)),
        Err(_) => read_body(serde_json::Deserializer::from_slice(body)),
    }
}

/// Reads one top-level value into `T` and refuses anything after it.
fn read_body<'de, R: serde_json::de::Read<'de>, T: TopLevel>(
    mut de: serde_json::Deserializer<R>,
) -> Result<T, ParseError> {
    let value = (&mut de)
        .deserialize_any(Body::<T>(PhantomData))
        .map_err(json_error)?;
    de.end().map_err(json_error)?;
    Ok(value)
}

lenient_object! {
    /// A list page as sent.
    struct RawPage by PageKey {
        /// `count`.
        count: Count,
        /// `next`.
        next: String,
        /// `results`: absent, or not an array, is an error of the whole page.
        results: Results,
    }
}

impl TopLevel for RawPage {
    const EXPECTED: &'static str = "a list page object";
}

/// `results`: the readable items and the number of unreadable ones.
struct Results(Vec<ListItem>, usize);

impl FromJson for Results {
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        let mut bad = 0;
        while let Some(item) = seq.next_element::<Lenient<ListItem>>()? {
            match item.value {
                Some(item) => items.push(item),
                None => bad += 1,
            }
        }
        Ok(Some(Results(items, bad)))
    }
}

lenient_object! {
    /// A detail as sent, in either revision. There is deliberately no field for
    /// `configuration`, `username`, `password` or `endpoint_url`: they, and every other
    /// key not named here, are skipped unread.
    struct RawDetail by DetailKey {
        /// `id`.
        id: u64,
        /// `name`.
        name: String,
        /// `organization`.
        organization: Organization,
        /// `profile_type` (current).
        profile_type: Text,
        /// `status` (current).
        status: Text,
        /// `authentication_type`.
        authentication_type: Text,
        /// `sync_frequency`.
        sync_frequency: Text,
        /// `last_sync`.
        last_sync: Timestamp,
        /// `last_sync_status`.
        last_sync_status: Text,
        /// `sync_record_count`.
        sync_record_count: Count,
        /// `health_status` (current).
        health_status: HealthStatus,
        /// `connection_type` (legacy).
        connection_type: Text,
        /// `is_active` (legacy).
        is_active: bool,
        /// `test_status` (legacy).
        test_status: Text,
        /// `last_tested` (legacy).
        last_tested: Timestamp,
    }
}

impl TopLevel for RawDetail {
    const EXPECTED: &'static str = "a profile object";
}

impl RawDetail {
    /// True when the body speaks the older revision.
    fn is_legacy(&self) -> bool {
        let legacy_fields =
            self.connection_type.present || self.is_active.present || self.test_status.present;
        let current_fields = self.health_status.present || self.profile_type.present;
        legacy_fields && !current_fields
    }

    /// The profile the body describes; only a missing or unreadable `id` is an error.
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
            organization: self.organization.value.map(|o| o.0),
            profile_type: self.profile_type.value,
            status: self.status.value,
            authentication_type: self.authentication_type.value,
            sync_frequency: self.sync_frequency.value,
            last_sync,
            last_sync_status: self.last_sync_status.value,
            sync_record_count,
            ..Profile::unknown(id, self.name.value.unwrap_or_default())
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
