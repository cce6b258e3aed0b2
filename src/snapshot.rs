//! The result of one sweep: an immutable picture of what we know now. Metrics, rules and
//! the status page all read it; nothing reads the upstream client directly.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::model::Profile;
use crate::shard::Shard;

/// How the list walk of a sweep ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ListOutcome {
    /// Every page was read and the pages agreed with each other.
    Complete,
    /// Some pages were read, but the walk could not finish cleanly (a later page failed,
    /// pagination looped, the list shrank or grew mid-walk, a body was malformed). Profiles
    /// known from earlier sweeps but not seen this time are still fetched.
    Incomplete {
        /// What went wrong, for logs and the status page.
        reason: String,
    },
    /// The list could not be read at all: `InventoryApiDown`.
    Failed {
        /// Why: unreachable, unauthorized (401), forbidden (403), bad answer.
        kind: ApiFailure,
        /// Details for logs and the alert's description (never contains the token).
        message: String,
    },
}

/// Why the list walk failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiFailure {
    /// Connection errors, timeouts or 5xx after every retry.
    Unreachable,
    /// 401: the token is missing or wrong.
    Unauthorized,
    /// 403: the token lacks permission.
    Forbidden,
    /// Answers that are not the expected JSON, or an unexpected status.
    BadResponse,
}

impl ApiFailure {
    /// Short, human wording for alerts and logs.
    pub fn describe(self) -> &'static str {
        match self {
            ApiFailure::Unreachable => "the API is unreachable",
            ApiFailure::Unauthorized => "the API rejected the token (401 Unauthorized)",
            ApiFailure::Forbidden => "the token lacks permission (403 Forbidden)",
            ApiFailure::BadResponse => "the API answered with something unreadable",
        }
    }
}

/// One profile of this shard, as of this sweep.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileEntry {
    /// Profile id.
    pub id: u64,
    /// Name: the detail's when read, else the list's. Shared with the previous sweep's
    /// entry when unchanged, so two snapshots alive at once hold it once.
    pub name: Arc<str>,
    /// Organization: the detail's when read, else the list's; shared like the name.
    pub organization: Option<Arc<str>>,
    /// The detail read in this sweep when `up`, else the last one read before (if any),
    /// kept for labels and `inventory_profile_info` only. Its `name` and `organization`
    /// live in this entry (the fields above) and are left empty in the profile, so that a
    /// snapshot of a large fleet holds them once.
    pub profile: Option<Arc<Profile>>,
    /// True when the detail was read in this sweep.
    pub up: bool,
    /// Why the detail could not be read (when not `up`).
    pub error: Option<String>,
    /// Sweeps in a row whose detail read failed (0 when `up`).
    pub consecutive_failures: u32,
}

impl ProfileEntry {
    /// The detail read in this sweep; `None` when it could not be read, so that health
    /// fields of an older read are never shown as current.
    pub fn fresh(&self) -> Option<&Profile> {
        if self.up {
            self.profile.as_deref()
        } else {
            None
        }
    }
}

/// What one sweep found.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Wall-clock start of the sweep.
    #[serde(serialize_with = "ser_time")]
    pub started_at: SystemTime,
    /// How long the sweep took.
    #[serde(serialize_with = "ser_secs")]
    pub duration: Duration,
    /// How the list walk ended.
    pub list: ListOutcome,
    /// Profiles seen by the list walk (this shard's share), `None` unless it was complete.
    pub listed: Option<usize>,
    /// This shard's profiles, sorted by id.
    pub profiles: Vec<ProfileEntry>,
    /// Profiles whose detail answered 404 (or 410) in this sweep, sorted: confirmed gone,
    /// even when the walk was incomplete.
    pub gone: Vec<u64>,
    /// The shard settings the sweep ran with.
    pub shard: Shard,
}

impl Snapshot {
    /// True when the walk read every page.
    pub fn walk_complete(&self) -> bool {
        matches!(self.list, ListOutcome::Complete)
    }
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::clock::rfc3339(*t))
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
