//! The alert types that `notify`, `receivers` and the status page read: [`AlertKey`],
//! [`AlertState`], [`Alert`] and [`Transition`]. [`AlertName`] itself lives in
//! [`crate::vocabulary`] so that `config` can name alerts without importing `rules`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::vocabulary::{AlertName, Suppression};

use super::conditions::{condition, Scope};
use super::flap::watched;

/// What identifies an alert (README, Alerts): its name and, for per-profile alerts, the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlertKey {
    /// Which alert.
    pub alertname: AlertName,
    /// The profile it is about; `None` for `InventoryApiDown`.
    pub profile_id: Option<u64>,
    /// For `ProfileFlapping`, the condition that flaps (its alertname); `None` for every
    /// other alert. Absent from state files written before flap detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<AlertName>,
}

impl AlertKey {
    /// The key of a per-profile alert.
    pub fn profile(alertname: AlertName, profile_id: u64) -> Self {
        Self {
            alertname,
            profile_id: Some(profile_id),
            condition: None,
        }
    }

    /// The key of the `ProfileFlapping` alert about `condition` of a profile.
    pub fn flapping(profile_id: u64, condition: AlertName) -> Self {
        Self {
            alertname: AlertName::ProfileFlapping,
            profile_id: Some(profile_id),
            condition: Some(condition),
        }
    }

    /// The key of `InventoryApiDown`.
    pub fn api_down() -> Self {
        Self {
            alertname: AlertName::InventoryApiDown,
            profile_id: None,
            condition: None,
        }
    }

    /// True when the key is well formed: a profile id exactly when the alert is per
    /// profile, and a watched condition exactly on `ProfileFlapping`.
    pub(super) fn is_consistent(&self) -> bool {
        let condition_fits = match self.condition {
            None => self.alertname != AlertName::ProfileFlapping,
            Some(c) => self.alertname == AlertName::ProfileFlapping && watched(c),
        };
        condition_fits
            && (condition(self.alertname).scope == Scope::List) == self.profile_id.is_none()
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
    pub severity: Arc<str>,
    /// The profile's name ("" for `InventoryApiDown`).
    pub profile_name: Arc<str>,
    /// The profile's organization ("" when unknown, and for `InventoryApiDown`).
    pub organization: Arc<str>,
    /// One line for a person on call.
    pub summary: Arc<str>,
    /// The details: raw state, last error, since when, ages and limits.
    pub description: Arc<str>,
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
    /// The rule's `runbook_url` with the alert's labels filled in (README, Runbook links);
    /// "" when the rule has none. Absent from state files written before runbook links.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runbook_url: String,
}

impl Alert {
    /// The labels (README, Alerts): `alertname`, `severity`, `profile_id` ("" for
    /// `InventoryApiDown`), `profile_name`, `organization`, and on `ProfileFlapping` only,
    /// `condition` (the alertname of the condition that flaps).
    pub fn labels(&self) -> BTreeMap<&'static str, String> {
        let mut labels = BTreeMap::from([
            ("alertname", self.key.alertname.as_str().to_string()),
            ("severity", self.severity.to_string()),
            (
                "profile_id",
                self.key
                    .profile_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            ),
            ("profile_name", self.profile_name.to_string()),
            ("organization", self.organization.to_string()),
        ]);
        if let Some(c) = self.key.condition {
            labels.insert("condition", c.as_str().to_string());
        }
        labels
    }

    /// The label `name`, as [`Alert::labels`] has it; `None` for a label the alert lacks.
    /// Reads one label without building the map (runbook links are filled every sweep).
    pub fn label(&self, name: &str) -> Option<String> {
        match name {
            "alertname" => Some(self.key.alertname.as_str().to_string()),
            "severity" => Some(self.severity.to_string()),
            "profile_id" => Some(
                self.key
                    .profile_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            ),
            "profile_name" => Some(self.profile_name.to_string()),
            "organization" => Some(self.organization.to_string()),
            "condition" => self.key.condition.map(|c| c.as_str().to_string()),
            _ => None,
        }
    }

    /// The annotations (README, Alerts): `summary` and `description`, and `runbook_url`
    /// when the rule has one (README, Runbook links).
    pub fn annotations(&self) -> BTreeMap<&'static str, String> {
        let mut annotations = BTreeMap::from([
            ("summary", self.summary.to_string()),
            ("description", self.description.to_string()),
        ]);
        if !self.runbook_url.is_empty() {
            annotations.insert("runbook_url", self.runbook_url.clone());
        }
        annotations
    }
}

/// A change people must hear about: `alert.state` is [`AlertState::Firing`] (it just started
/// firing) or [`AlertState::Resolved`] (it just resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The alert as of the change: a firing one is the judge's alert itself, shared (serde
    /// writes an `Arc` as its value).
    pub alert: Arc<Alert>,
}
