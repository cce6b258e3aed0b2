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

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;

mod parse;
#[cfg(test)]
mod tests;
mod text;

pub use text::{intern, Text, INTERN_CAP, INTERN_MAX_LEN};

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
