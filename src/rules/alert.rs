//! The alert types that `notify`, `receivers` and the status page read: [`AlertKey`],
//! [`AlertState`], [`Alert`] and [`Transition`]. [`AlertName`] itself lives in
//! [`crate::vocabulary`] so that `config` can name alerts without importing `rules`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::vocabulary::{AlertName, Suppression};

use super::conditions::{condition, Scope};

/// What identifies an alert (README, Alerts): its name and, for per-profile alerts, the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlertKey {
    /// Which alert.
    pub alertname: AlertName,
    /// The profile it is about; `None` for `InventoryApiDown`.
    pub profile_id: Option<u64>,
}

impl AlertKey {
    /// The key of a per-profile alert.
    pub fn profile(alertname: AlertName, profile_id: u64) -> Self {
        Self {
            alertname,
            profile_id: Some(profile_id),
        }
    }

    /// The key of `InventoryApiDown`.
    pub fn api_down() -> Self {
        Self {
            alertname: AlertName::InventoryApiDown,
            profile_id: None,
        }
    }

    /// True when the key is well formed: a profile id exactly when the alert is per profile.
    pub(super) fn is_consistent(&self) -> bool {
        (condition(self.alertname).scope == Scope::List) == self.profile_id.is_none()
    }
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds, but not yet for the rule's `for`.
    Pending,
    /// The condition has held for `for`: people are told.
    Firing,
    /// It was firing and the condition no longer holds (only ever seen in a [`Transition`]).
    Resolved,
}

/// One alert, with everything a notification needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Name and profile.
    pub key: AlertKey,
    /// `critical`, `warning`, ... from the rule's configuration.
    pub severity: String,
    /// The profile's name ("" for `InventoryApiDown`).
    pub profile_name: String,
    /// The profile's organization ("" when unknown, and for `InventoryApiDown`).
    pub organization: String,
    /// One line for a person on call.
    pub summary: String,
    /// The details: raw state, last error, since when, ages and limits.
    pub description: String,
    /// Pending, firing or (in a transition) resolved.
    pub state: AlertState,
    /// When the condition was first seen holding.
    #[serde(with = "humantime_serde")]
    pub active_since: SystemTime,
    /// When the alert started firing.
    #[serde(default, with = "humantime_serde")]
    pub firing_since: Option<SystemTime>,
    /// When it resolved (resolved alerts only).
    #[serde(default, with = "humantime_serde")]
    pub resolved_at: Option<SystemTime>,
    /// What mutes it now (silences, maintenance windows, flapping); empty when nothing does.
    /// Set by the daemon after judging; a suppressed alert is judged and exported but not
    /// announced (README, Silences).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_by: Vec<Suppression>,
}

impl Alert {
    /// The labels (README, Alerts): `alertname`, `severity`, `profile_id` ("" for
    /// `InventoryApiDown`), `profile_name`, `organization`.
    pub fn labels(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("alertname", self.key.alertname.as_str().to_string()),
            ("severity", self.severity.clone()),
            (
                "profile_id",
                self.key
                    .profile_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            ),
            ("profile_name", self.profile_name.clone()),
            ("organization", self.organization.clone()),
        ])
    }

    /// The annotations (README, Alerts): `summary` and `description`.
    pub fn annotations(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("summary", self.summary.clone()),
            ("description", self.description.clone()),
        ])
    }
}

/// A change people must hear about: `alert.state` is [`AlertState::Firing`] (it just started
/// firing) or [`AlertState::Resolved`] (it just resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The alert as of the change.
    pub alert: Alert,
}
