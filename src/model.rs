//! What one inventory connection profile is, whichever API revision described it.
//!
//! Everything the upstream says is optional here: a field the API left out, sent as
//! `null`, or sent with a type we cannot read is `None` ("unknown"), never a default that
//! would hide a problem. Enum-like values (`connectivity`, `status`, ...) stay the raw
//! strings the API sent, so an unknown value such as `"flaky"` is kept and shown as is.
//!
//! Sensitive fields (`configuration`, `username`, credentials in `endpoint_url`) are never
//! read into these types at all, so nothing downstream can leak them.

use serde::Serialize;

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
    pub profile_type: Option<String>,
    /// `status` (legacy: `is_active` true → `active`, false → `inactive`).
    pub status: Option<String>,
    /// `authentication_type`.
    pub authentication_type: Option<String>,
    /// `sync_frequency` as sent (`hourly`, `daily`, `every_15_minutes`, ...).
    pub sync_frequency: Option<String>,
    /// `last_sync` as Unix seconds.
    pub last_sync: Option<f64>,
    /// `last_sync_status` as sent.
    pub last_sync_status: Option<String>,
    /// `sync_record_count`.
    pub sync_record_count: Option<u64>,
    /// `health_status.connectivity` (legacy: `test_status` success → `healthy`,
    /// failed → `unhealthy`, anything else kept as sent).
    pub connectivity: Option<String>,
    /// `health_status.authentication` (unknown in the legacy revision).
    pub authentication: Option<String>,
    /// `health_status.last_error` (sensitive: never a metric label).
    pub last_error: Option<String>,
    /// `health_status.error_count_24h`.
    pub error_count_24h: Option<u64>,
    /// Legacy `last_tested` as Unix seconds.
    pub last_tested: Option<f64>,
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
