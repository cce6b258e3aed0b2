//! Judging a snapshot (SPEC §6): the alert conditions, `for`, and the lifecycle
//! pending → firing → resolved.
//!
//! The [`Judge`] keeps the alerts now pending or firing in memory, keyed by
//! `(alertname, profile_id)`. Each [`Judge::evaluate`] reads one [`Snapshot`] and returns the
//! [`Transition`]s it caused: alerts that just started firing and alerts that just resolved.
//! Pending alerts are internal; nobody is told about them.
//!
//! Time always comes from the caller (the daemon's injectable clock), so `for` durations and
//! stale-sync ages are tested by moving a clock, never by sleeping.
//!
//! # What is frozen
//!
//! An alert only changes on knowledge. While the list walk failed (`InventoryApiDown`),
//! nothing is known about any profile: per-profile alerts neither fire, nor resolve, nor are
//! dropped. For a profile whose detail could not be read this sweep, only
//! `ProfileUnreachable` is judged; its other alerts keep their state until it is read again.
//! The one exception is a rule switched off in the configuration: its alerts resolve at the
//! next evaluation, because that needs no knowledge of the profile.
//!
//! # Cost
//!
//! One evaluation is a single pass over the snapshot's profiles. A healthy profile costs a
//! handful of string comparisons and no allocation: messages are only formatted for profiles
//! whose condition holds, and the alerts already active are found through one small map
//! built per evaluation (empty when nothing is wrong).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::clock::{rfc3339, unix_seconds};
use crate::config::{RulesConfig, StaleAfter};
use crate::model::{ApiRevision, Profile};
use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};

/// The alerts of SPEC §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlertName {
    /// `health_status.connectivity` is known and not `healthy`.
    ProfileConnectivityDegraded,
    /// `health_status.authentication` is known and not `valid`.
    ProfileAuthenticationFailing,
    /// The last sync is older than `rules.sync_stale.after`.
    ProfileSyncStale,
    /// `last_sync_status` is known and not `success`.
    ProfileSyncFailing,
    /// `health_status.error_count_24h >= rules.errors.threshold`.
    ProfileErrorsHigh,
    /// The profile's detail could not be read `after_failures` sweeps in a row.
    ProfileUnreachable,
    /// The list walk failed: nothing is known about any profile.
    InventoryApiDown,
}

impl AlertName {
    /// Every alertname, in key order.
    pub const ALL: [AlertName; 7] = [
        AlertName::ProfileConnectivityDegraded,
        AlertName::ProfileAuthenticationFailing,
        AlertName::ProfileSyncStale,
        AlertName::ProfileSyncFailing,
        AlertName::ProfileErrorsHigh,
        AlertName::ProfileUnreachable,
        AlertName::InventoryApiDown,
    ];

    /// The per-profile alertnames, the ones judged on each profile entry.
    const PER_PROFILE: [AlertName; 6] = [
        AlertName::ProfileConnectivityDegraded,
        AlertName::ProfileAuthenticationFailing,
        AlertName::ProfileSyncStale,
        AlertName::ProfileSyncFailing,
        AlertName::ProfileErrorsHigh,
        AlertName::ProfileUnreachable,
    ];

    /// The `alertname` label value, e.g. `ProfileConnectivityDegraded`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertName::ProfileConnectivityDegraded => "ProfileConnectivityDegraded",
            AlertName::ProfileAuthenticationFailing => "ProfileAuthenticationFailing",
            AlertName::ProfileSyncStale => "ProfileSyncStale",
            AlertName::ProfileSyncFailing => "ProfileSyncFailing",
            AlertName::ProfileErrorsHigh => "ProfileErrorsHigh",
            AlertName::ProfileUnreachable => "ProfileUnreachable",
            AlertName::InventoryApiDown => "InventoryApiDown",
        }
    }

    /// The alertname spelled exactly as [`AlertName::as_str`] does, or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// This name's bit in a per-profile set of active alerts.
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for AlertName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What identifies an alert (SPEC §6): its name and, for per-profile alerts, the profile.
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
    fn is_consistent(&self) -> bool {
        (self.alertname == AlertName::InventoryApiDown) == self.profile_id.is_none()
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
}

impl Alert {
    /// The labels of SPEC §6: `alertname`, `severity`, `profile_id` ("" for
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

    /// The annotations of SPEC §6: `summary` and `description`.
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

/// Why an active alert stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clear {
    /// The condition no longer holds.
    Recovered,
    /// The profile's status puts it out of judgement (inactive without `include_inactive`).
    NotJudged,
    /// The rule was switched off.
    Disabled,
    /// The profile is not in the snapshot any more (deleted, filtered out, other shard).
    Gone,
}

/// What one rule says about one profile in one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The condition holds.
    Holds,
    /// It does not (for this reason).
    Clear(Clear),
    /// Nothing is known: leave the alert as it is.
    Frozen,
}

/// The alert state machine: reads snapshots, keeps pending and firing alerts, reports
/// transitions.
#[derive(Debug, Clone)]
pub struct Judge {
    /// The rules in force.
    rules: RulesConfig,
    /// Pending and firing alerts. A `BTreeMap` so that listings come out in key order for
    /// free; it stays small (only what is wrong), so its log-time lookups cost little.
    active: BTreeMap<AlertKey, Alert>,
}

impl Judge {
    /// A judge with no alerts.
    pub fn new(rules: RulesConfig) -> Self {
        Self {
            rules,
            active: BTreeMap::new(),
        }
    }

    /// Replaces the rules (config reload). State is kept: pending alerts keep their
    /// `active_since` (a changed `for` applies from the next evaluation), and alerts of a
    /// rule now disabled resolve at the next evaluation.
    pub fn set_rules(&mut self, rules: RulesConfig) {
        self.rules = rules;
    }

    /// The rules in force.
    pub fn rules(&self) -> &RulesConfig {
        &self.rules
    }

    /// Pending and firing alerts, ordered by key.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Firing alerts, ordered by key.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.active
            .values()
            .filter(|a| a.state == AlertState::Firing)
    }

    /// The pending or firing alert with this key.
    pub fn get(&self, key: &AlertKey) -> Option<&Alert> {
        self.active.get(key)
    }

    /// Replaces the alert state with one saved earlier (after a restart). Only pending and
    /// firing alerts are kept; ill-formed ones (a profile id on `InventoryApiDown`, none on a
    /// per-profile alert) are skipped. The next [`Judge::evaluate`] then neither re-announces
    /// what still fires nor forgets to resolve what cleared meanwhile.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        self.active.clear();
        for mut alert in alerts {
            if !alert.key.is_consistent() {
                continue;
            }
            match alert.state {
                AlertState::Resolved => continue,
                AlertState::Pending => alert.firing_since = None,
                AlertState::Firing => {
                    alert.firing_since.get_or_insert(alert.active_since);
                }
            }
            alert.resolved_at = None;
            self.active.insert(alert.key, alert);
        }
    }

    /// Judges one snapshot at `now` and returns what started firing or resolved, ordered
    /// by key.
    pub fn evaluate(&mut self, snapshot: &Snapshot, now: SystemTime) -> Vec<Transition> {
        let mut out = Vec::new();
        self.judge_api(&snapshot.list, now, &mut out);

        // Which per-profile alerts are active, by profile: an entry is taken out when its
        // profile is met, so what is left at the end are profiles no longer in the snapshot.
        let mut active: HashMap<u64, u8> = HashMap::new();
        for key in self.active.keys() {
            if let Some(id) = key.profile_id {
                *active.entry(id).or_default() |= key.alertname.bit();
            }
        }

        if matches!(snapshot.list, ListOutcome::Failed { .. }) {
            // Nothing is known about the profiles: only a rule switched off may end alerts.
            let disabled: Vec<AlertKey> = self
                .active
                .keys()
                .filter(|k| k.profile_id.is_some() && !self.enabled(k.alertname))
                .copied()
                .collect();
            for key in disabled {
                self.clear(key, Clear::Disabled, None, now, &mut out);
            }
        } else {
            for entry in &snapshot.profiles {
                let mask = if active.is_empty() {
                    0
                } else {
                    active.remove(&entry.id).unwrap_or(0)
                };
                self.judge_profile(entry, mask, now, &mut out);
            }
            // A profile missing from the snapshot is gone when the walk saw the whole list
            // or its detail answered 404. After an incomplete walk it may just not have been
            // reached (a daemon restarted mid-churn knows no earlier profiles to fetch):
            // nothing is known, so its alerts stay as they are.
            let complete = snapshot.walk_complete();
            for (id, mask) in active {
                let gone = complete || snapshot.gone.binary_search(&id).is_ok();
                for name in AlertName::PER_PROFILE {
                    if mask & name.bit() != 0 {
                        let reason = if !self.enabled(name) {
                            Clear::Disabled
                        } else if gone {
                            Clear::Gone
                        } else {
                            continue;
                        };
                        self.clear(AlertKey::profile(name, id), reason, None, now, &mut out);
                    }
                }
            }
        }

        out.sort_by_key(|t| t.alert.key);
        out
    }

    /// `InventoryApiDown`: always on, critical, no `for`.
    fn judge_api(&mut self, list: &ListOutcome, now: SystemTime, out: &mut Vec<Transition>) {
        let key = AlertKey::api_down();
        match list {
            ListOutcome::Failed { kind, message } => {
                let summary = format!("The inventory API cannot be listed: {}", kind.describe());
                let since = self.active.get(&key).map_or(now, |a| a.active_since);
                let mut description = format!(
                    "Listing the inventory connection profiles failed: {}.",
                    kind.describe()
                );
                if !message.is_empty() {
                    description.push_str(&format!(" Details: {message}."));
                }
                description.push_str(&format!(
                    " First seen {}. Until the list can be read again, nothing is known \
                     about the profiles: their alerts neither fire nor resolve.",
                    rfc3339(since)
                ));
                let texts = Texts {
                    severity: "critical",
                    profile_name: "",
                    organization: "",
                    summary,
                    description,
                };
                hold(&mut self.active, key, texts, Duration::ZERO, now, out);
            }
            ListOutcome::Complete | ListOutcome::Incomplete { .. } => {
                if self.active.contains_key(&key) {
                    self.clear(key, Clear::Recovered, None, now, out);
                }
            }
        }
    }

    /// Every per-profile rule on one profile entry. `mask` holds the bits of its alerts
    /// already active.
    fn judge_profile(
        &mut self,
        entry: &ProfileEntry,
        mask: u8,
        now: SystemTime,
        out: &mut Vec<Transition>,
    ) {
        // When the detail was not read this sweep, `entry.profile` is the last one read:
        // good enough to decide whether the profile is judged, not for its health.
        let profile = entry.profile.as_deref();
        let judged =
            self.rules.include_inactive || profile.and_then(Profile::is_active) != Some(false);
        for name in AlertName::PER_PROFILE {
            let verdict = if !self.enabled(name) {
                Verdict::Clear(Clear::Disabled)
            } else if !entry.up && name != AlertName::ProfileUnreachable {
                Verdict::Frozen
            } else if !judged {
                Verdict::Clear(Clear::NotJudged)
            } else if self.holds(name, entry, profile, now) {
                Verdict::Holds
            } else {
                Verdict::Clear(Clear::Recovered)
            };
            match verdict {
                Verdict::Frozen => {}
                Verdict::Clear(reason) => {
                    if mask & name.bit() != 0 {
                        let key = AlertKey::profile(name, entry.id);
                        self.clear(key, reason, Some(entry), now, out);
                    }
                }
                Verdict::Holds => {
                    let key = AlertKey::profile(name, entry.id);
                    let since = self.active.get(&key).map_or(now, |a| a.active_since);
                    let (summary, description) = self.describe(name, entry, profile, now, since);
                    let texts = Texts {
                        severity: severity(&self.rules, name),
                        profile_name: &entry.name,
                        organization: entry.organization.as_deref().unwrap_or(""),
                        summary,
                        description,
                    };
                    let for_ = self.for_(name);
                    hold(&mut self.active, key, texts, for_, now, out);
                }
            }
        }
    }

    /// The alert `key` stops: a firing one resolves (and is announced), a pending one is
    /// dropped silently.
    fn clear(
        &mut self,
        key: AlertKey,
        reason: Clear,
        entry: Option<&ProfileEntry>,
        now: SystemTime,
        out: &mut Vec<Transition>,
    ) {
        let Some(mut alert) = self.active.remove(&key) else {
            return;
        };
        if alert.state != AlertState::Firing {
            return;
        }
        let why = self.resolution(key.alertname, reason, entry, now);
        alert.description = format!(
            "{}\nResolved at {}: {why}.",
            alert.description,
            rfc3339(now)
        );
        alert.state = AlertState::Resolved;
        alert.resolved_at = Some(now);
        out.push(Transition { alert });
    }

    /// Whether rule `name`'s condition holds. Allocates nothing: this runs for every
    /// profile.
    fn holds(
        &self,
        name: AlertName,
        entry: &ProfileEntry,
        profile: Option<&Profile>,
        now: SystemTime,
    ) -> bool {
        match name {
            AlertName::ProfileConnectivityDegraded => profile
                .and_then(|p| p.connectivity.as_deref())
                .is_some_and(|c| c != "healthy"),
            AlertName::ProfileAuthenticationFailing => profile
                .and_then(|p| p.authentication.as_deref())
                .is_some_and(|a| a != "valid"),
            AlertName::ProfileSyncStale => {
                profile.is_some_and(|p| match (sync_age(p, now), self.allowed_sync_age(p)) {
                    (Some(age), Some(allowed)) => age > allowed.as_secs_f64(),
                    _ => false,
                })
            }
            AlertName::ProfileSyncFailing => profile
                .and_then(|p| p.last_sync_status.as_deref())
                .is_some_and(|s| s != "success"),
            AlertName::ProfileErrorsHigh => profile
                .and_then(|p| p.error_count_24h)
                .is_some_and(|n| n >= self.rules.errors.threshold),
            AlertName::ProfileUnreachable => entry.consecutive_failures >= self.unreachable_after(),
            AlertName::InventoryApiDown => false,
        }
    }

    /// The summary and description of a per-profile alert whose condition holds.
    fn describe(
        &self,
        name: AlertName,
        entry: &ProfileEntry,
        profile: Option<&Profile>,
        now: SystemTime,
        since: SystemTime,
    ) -> (String, String) {
        let subject = Subject(entry);
        let since = rfc3339(since);
        let last_error = profile
            .and_then(|p| p.last_error.as_deref())
            .filter(|e| !e.trim().is_empty());
        let (summary, mut description) = match name {
            AlertName::ProfileConnectivityDegraded => {
                let state = profile
                    .and_then(|p| p.connectivity.as_deref())
                    .unwrap_or_default();
                let mut d = match profile {
                    Some(p) if p.revision == ApiRevision::Legacy => {
                        let mut d = format!(
                            "The connection test reports connectivity {state:?} (expected \
                             \"healthy\"), first seen {since}."
                        );
                        if let Some(t) = p.last_tested.and_then(from_unix) {
                            d.push_str(&format!(" Last tested {}.", rfc3339(t)));
                        }
                        d
                    }
                    _ => format!(
                        "health_status.connectivity is {state:?} (expected \"healthy\"), \
                         first seen {since}."
                    ),
                };
                if let Some(n) = profile.and_then(|p| p.error_count_24h) {
                    d.push_str(&format!(" Errors in the last 24 hours: {n}."));
                }
                (format!("Connectivity of {subject} is {state}"), d)
            }
            AlertName::ProfileAuthenticationFailing => {
                let state = profile
                    .and_then(|p| p.authentication.as_deref())
                    .unwrap_or_default();
                (
                    format!("Authentication of {subject} is {state}"),
                    format!(
                        "health_status.authentication is {state:?} (expected \"valid\"), \
                         first seen {since}."
                    ),
                )
            }
            AlertName::ProfileSyncStale => {
                let mut d = String::new();
                if let Some(p) = profile {
                    if let (Some(age), Some(allowed)) = (sync_age(p, now), self.allowed_sync_age(p))
                    {
                        let last = p.last_sync.and_then(from_unix).map(rfc3339);
                        let basis = match self.rules.sync_stale.after {
                            StaleAfter::Fixed(_) => "rules.sync_stale.after".to_string(),
                            StaleAfter::Auto => format!(
                                "2 × sync_frequency {:?} + 15m",
                                p.sync_frequency.as_deref().unwrap_or_default()
                            ),
                        };
                        d = format!(
                            "The last sync, at {}, is {} old; at most {} is allowed ({basis}). \
                             Stale since {since}.",
                            last.as_deref().unwrap_or("?"),
                            whole_seconds(age),
                            humantime::format_duration(allowed),
                        );
                        if let Some(s) = p.last_sync_status.as_deref() {
                            d.push_str(&format!(" Last sync status: {s:?}."));
                        }
                    }
                }
                (format!("Sync of {subject} is stale"), d)
            }
            AlertName::ProfileSyncFailing => {
                let status = profile
                    .and_then(|p| p.last_sync_status.as_deref())
                    .unwrap_or_default();
                let mut d = format!("The last sync ended with status {status:?}");
                match profile.and_then(|p| p.last_sync).and_then(from_unix) {
                    Some(t) => d.push_str(&format!(" at {}", rfc3339(t))),
                    None => d.push_str(" (time unknown)"),
                }
                d.push_str(&format!(" (expected \"success\"), first seen {since}."));
                if let Some(n) = profile.and_then(|p| p.sync_record_count) {
                    d.push_str(&format!(" Records synced: {n}."));
                }
                (
                    format!("Last sync of {subject} did not succeed ({status})"),
                    d,
                )
            }
            AlertName::ProfileErrorsHigh => {
                let n = profile.and_then(|p| p.error_count_24h).unwrap_or_default();
                (
                    format!("{subject} reported {n} errors in 24 hours"),
                    format!(
                        "health_status.error_count_24h is {n}, at or above the threshold of \
                         {}; first seen {since}.",
                        self.rules.errors.threshold
                    ),
                )
            }
            AlertName::ProfileUnreachable => {
                let mut d = format!(
                    "Its detail could not be read in the last {} sweeps in a row (the alert \
                     fires after {}); first seen {since}.",
                    entry.consecutive_failures,
                    self.unreachable_after()
                );
                if let Some(e) = entry.error.as_deref() {
                    d.push_str(&format!(" Last failure: {e}."));
                }
                (format!("{subject} is unreachable"), d)
            }
            AlertName::InventoryApiDown => (String::new(), String::new()),
        };
        // Only the health rules are about what `last_error` explains; for unreachable the
        // detail was not read this sweep, so its last_error would be old news.
        if name != AlertName::ProfileUnreachable {
            if let Some(e) = last_error {
                description.push_str(&format!(" Last error: {e}"));
                if !e.ends_with('.') {
                    description.push('.');
                }
            }
        }
        (summary, description)
    }

    /// The sentence saying why an alert resolved.
    fn resolution(
        &self,
        name: AlertName,
        reason: Clear,
        entry: Option<&ProfileEntry>,
        now: SystemTime,
    ) -> String {
        let profile = entry.and_then(|e| e.profile.as_deref());
        match reason {
            Clear::Disabled => "the rule was disabled in the configuration".to_string(),
            Clear::Gone => "the profile is no longer monitored (deleted upstream, filtered \
                            out, or moved to another shard)"
                .to_string(),
            Clear::NotJudged => format!(
                "the profile is no longer judged: its status is {:?}",
                profile
                    .and_then(|p| p.status.as_deref())
                    .unwrap_or_default()
            ),
            Clear::Recovered => match name {
                AlertName::ProfileConnectivityDegraded => {
                    match profile.and_then(|p| p.connectivity.as_deref()) {
                        Some(c) => format!("connectivity is {c:?} again"),
                        None => "connectivity is no longer reported".to_string(),
                    }
                }
                AlertName::ProfileAuthenticationFailing => {
                    match profile.and_then(|p| p.authentication.as_deref()) {
                        Some(a) => format!("authentication is {a:?} again"),
                        None => "authentication is no longer reported".to_string(),
                    }
                }
                AlertName::ProfileSyncStale => match profile {
                    Some(p) => match (p.last_sync.and_then(from_unix), self.allowed_sync_age(p)) {
                        (None, _) => "last_sync is no longer reported".to_string(),
                        (Some(_), None) => "the sync frequency is no longer known, so \
                                            staleness cannot be judged"
                            .to_string(),
                        (Some(t), Some(_)) => {
                            let age = sync_age(p, now).unwrap_or_default();
                            format!(
                                "the last sync, at {}, is {} old",
                                rfc3339(t),
                                whole_seconds(age)
                            )
                        }
                    },
                    None => "last_sync is no longer reported".to_string(),
                },
                AlertName::ProfileSyncFailing => {
                    match profile.and_then(|p| p.last_sync_status.as_deref()) {
                        Some(s) => format!("the last sync ended with status {s:?}"),
                        None => "last_sync_status is no longer reported".to_string(),
                    }
                }
                AlertName::ProfileErrorsHigh => match profile.and_then(|p| p.error_count_24h) {
                    Some(n) => format!(
                        "errors in the last 24 hours are down to {n} (threshold {})",
                        self.rules.errors.threshold
                    ),
                    None => "error_count_24h is no longer reported".to_string(),
                },
                AlertName::ProfileUnreachable => "its detail was read again".to_string(),
                AlertName::InventoryApiDown => "the profile list was read again".to_string(),
            },
        }
    }

    /// The largest sync age still fine for `p`: the fixed `after`, or with `auto`
    /// 2 × its sync period + 15 minutes (`None` when the frequency is not understood).
    fn allowed_sync_age(&self, p: &Profile) -> Option<Duration> {
        match self.rules.sync_stale.after {
            StaleAfter::Fixed(d) => Some(d),
            StaleAfter::Auto => p
                .sync_frequency
                .as_deref()
                .and_then(sync_period)
                .and_then(|period| period.checked_mul(2))
                .and_then(|d| d.checked_add(STALE_GRACE)),
        }
    }

    /// `rules.unreachable.after_failures`, at least 1: with 0 every profile, read or not,
    /// would be "unreachable".
    fn unreachable_after(&self) -> u32 {
        self.rules.unreachable.after_failures.max(1)
    }

    /// Whether rule `name` is switched on (`InventoryApiDown` always is).
    fn enabled(&self, name: AlertName) -> bool {
        let r = &self.rules;
        match name {
            AlertName::ProfileConnectivityDegraded => r.connectivity.enabled,
            AlertName::ProfileAuthenticationFailing => r.authentication.enabled,
            AlertName::ProfileSyncStale => r.sync_stale.enabled,
            AlertName::ProfileSyncFailing => r.sync_failed.enabled,
            AlertName::ProfileErrorsHigh => r.errors.enabled,
            AlertName::ProfileUnreachable => r.unreachable.enabled,
            AlertName::InventoryApiDown => true,
        }
    }

    /// How long rule `name`'s condition must hold before it fires.
    fn for_(&self, name: AlertName) -> Duration {
        match name {
            AlertName::ProfileConnectivityDegraded => self.rules.connectivity.for_,
            AlertName::ProfileAuthenticationFailing => self.rules.authentication.for_,
            _ => Duration::ZERO,
        }
    }
}

/// The condition holds for `key`: create or update the alert, fire it once `for` passed.
fn hold(
    active: &mut BTreeMap<AlertKey, Alert>,
    key: AlertKey,
    texts: Texts<'_>,
    for_: Duration,
    now: SystemTime,
    out: &mut Vec<Transition>,
) {
    let alert = active.entry(key).or_insert_with(|| Alert {
        key,
        severity: String::new(),
        profile_name: String::new(),
        organization: String::new(),
        summary: String::new(),
        description: String::new(),
        state: AlertState::Pending,
        active_since: now,
        firing_since: None,
        resolved_at: None,
    });
    // Details follow the profile (a new last_error, "unhealthy" → "flaky", a rename)
    // without a transition: the alert is the same one.
    set_if_changed(&mut alert.severity, texts.severity);
    set_if_changed(&mut alert.profile_name, texts.profile_name);
    set_if_changed(&mut alert.organization, texts.organization);
    alert.summary = texts.summary;
    alert.description = texts.description;
    if alert.state == AlertState::Pending {
        // A clock stepping backwards counts as no time passed, never as a negative age.
        let held = now.duration_since(alert.active_since).unwrap_or_default();
        if held >= for_ {
            alert.state = AlertState::Firing;
            alert.firing_since = Some(now);
            out.push(Transition {
                alert: alert.clone(),
            });
        }
    }
}

/// Rule `name`'s severity.
fn severity(r: &RulesConfig, name: AlertName) -> &str {
    match name {
        AlertName::ProfileConnectivityDegraded => &r.connectivity.severity,
        AlertName::ProfileAuthenticationFailing => &r.authentication.severity,
        AlertName::ProfileSyncStale => &r.sync_stale.severity,
        AlertName::ProfileSyncFailing => &r.sync_failed.severity,
        AlertName::ProfileErrorsHigh => &r.errors.severity,
        AlertName::ProfileUnreachable => &r.unreachable.severity,
        AlertName::InventoryApiDown => "critical",
    }
}

/// The slack `auto` adds to twice the sync period, so that a sync that runs a little late
/// does not page anyone.
const STALE_GRACE: Duration = Duration::from_secs(15 * 60);

/// The period of a `sync_frequency`: `hourly` (1h), `daily` (24h), `weekly` (7d),
/// `monthly` (30d), `every_N_minutes`, `every_N_hours`, `every_N_days`, `every_N_weeks`
/// (singular units and `every_minute`/`every_hour`/`every_day`/`every_week` too; any ASCII
/// case). `None` for anything else, including `manual`, `realtime` and `every_0_...`.
pub fn sync_period(sync_frequency: &str) -> Option<Duration> {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const WEEK: u64 = 7 * DAY;
    let s = sync_frequency.trim();
    let named = [
        ("hourly", HOUR),
        ("daily", DAY),
        ("weekly", WEEK),
        ("monthly", 30 * DAY),
    ];
    if let Some((_, secs)) = named.iter().find(|(n, _)| s.eq_ignore_ascii_case(n)) {
        return Some(Duration::from_secs(*secs));
    }
    let rest = strip_prefix_ignore_case(s, "every_")?;
    let (count, unit) = match rest.split_once('_') {
        Some((n, unit)) => (n.parse::<u64>().ok()?, unit),
        None => (1, rest),
    };
    let units = [
        ("minute", MINUTE),
        ("minutes", MINUTE),
        ("hour", HOUR),
        ("hours", HOUR),
        ("day", DAY),
        ("days", DAY),
        ("week", WEEK),
        ("weeks", WEEK),
    ];
    let (_, unit_secs) = units.iter().find(|(u, _)| unit.eq_ignore_ascii_case(u))?;
    if count == 0 {
        return None;
    }
    count.checked_mul(*unit_secs).map(Duration::from_secs)
}

/// `s` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Seconds since the profile's last sync (negative when it lies in the future), or `None`
/// when unknown or unreadable.
fn sync_age(p: &Profile, now: SystemTime) -> Option<f64> {
    let last = p.last_sync.filter(|s| s.is_finite())?;
    Some(unix_seconds(now) - last)
}

/// Unix seconds as a `SystemTime`, when they make sense as one.
fn from_unix(secs: f64) -> Option<SystemTime> {
    if !(secs.is_finite() && secs >= 0.0) {
        return None;
    }
    let d = Duration::try_from_secs_f64(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(d)
}

/// An age in seconds, humantime-formatted to the whole second (`3h 12m 5s`).
fn whole_seconds(secs: f64) -> humantime::FormattedDuration {
    let whole = if secs.is_finite() && secs > 0.0 {
        secs.min(u64::MAX as f64) as u64
    } else {
        0
    };
    humantime::format_duration(Duration::from_secs(whole))
}

/// Assigns `value` only when it differs, so an unchanged label costs no allocation.
fn set_if_changed(slot: &mut String, value: &str) {
    if slot != value {
        value.clone_into(slot);
    }
}

/// The label values and messages of an alert whose condition holds.
struct Texts<'a> {
    /// Severity label.
    severity: &'a str,
    /// `profile_name` label.
    profile_name: &'a str,
    /// `organization` label.
    organization: &'a str,
    /// Summary annotation.
    summary: String,
    /// Description annotation.
    description: String,
}

/// How a profile is named in a message: `"Lisbon DC — SAP EWM" (North Distribution)`, or
/// `profile 42` when it has no name.
struct Subject<'a>(&'a ProfileEntry);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        if e.name.is_empty() {
            write!(f, "profile {}", e.id)?;
        } else {
            write!(f, "\"{}\"", e.name)?;
        }
        match e.organization.as_deref() {
            Some(org) if !org.is_empty() => write!(f, " ({org})"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::Shard;
    use crate::snapshot::ApiFailure;
    use std::sync::Arc;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    /// An active profile with every health field known and fine.
    fn healthy(id: u64) -> Profile {
        let mut p = Profile::unknown(id, format!("Profile {id}"));
        p.organization = Some("North Distribution".to_string());
        p.status = Some("active".into());
        p.connectivity = Some("healthy".into());
        p.authentication = Some("valid".into());
        p.last_sync_status = Some("success".into());
        p.error_count_24h = Some(0);
        p
    }

    fn entry(p: Profile) -> ProfileEntry {
        ProfileEntry {
            id: p.id,
            name: p.name.clone(),
            organization: p.organization.clone(),
            profile: Some(Arc::new(p)),
            up: true,
            error: None,
            consecutive_failures: 0,
        }
    }

    /// The profile's detail could not be read `failures` sweeps in a row; `p` is the last
    /// detail read before.
    fn down(p: Profile, failures: u32) -> ProfileEntry {
        ProfileEntry {
            up: false,
            error: Some("HTTP 503 Service Unavailable".to_string()),
            consecutive_failures: failures,
            ..entry(p)
        }
    }

    fn snap(profiles: Vec<ProfileEntry>) -> Snapshot {
        Snapshot {
            started_at: t0(),
            duration: Duration::ZERO,
            list: ListOutcome::Complete,
            listed: Some(profiles.len()),
            profiles,
            gone: Vec::new(),
            shard: Shard::default(),
        }
    }

    fn failed(kind: ApiFailure) -> Snapshot {
        Snapshot {
            list: ListOutcome::Failed {
                kind,
                message: "HTTP 401 from /inventory_connection_profile/".to_string(),
            },
            listed: None,
            ..snap(Vec::new())
        }
    }

    fn of(p: Profile) -> Snapshot {
        snap(vec![entry(p)])
    }

    /// Every rule at its defaults but with sync staleness fixed at one hour.
    fn rules() -> RulesConfig {
        let mut r = RulesConfig::default();
        r.sync_stale.after = StaleAfter::Fixed(HOUR);
        r
    }

    fn names(ts: &[Transition]) -> Vec<(AlertName, Option<u64>, AlertState)> {
        ts.iter()
            .map(|t| (t.alert.key.alertname, t.alert.key.profile_id, t.alert.state))
            .collect()
    }

    fn keys(judge: &Judge) -> Vec<(AlertName, AlertState)> {
        judge.alerts().map(|a| (a.key.alertname, a.state)).collect()
    }

    fn firing(name: AlertName, id: u64) -> (AlertName, Option<u64>, AlertState) {
        (name, Some(id), AlertState::Firing)
    }

    fn resolved(name: AlertName, id: u64) -> (AlertName, Option<u64>, AlertState) {
        (name, Some(id), AlertState::Resolved)
    }

    #[test]
    fn healthy_profile_raises_nothing() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.last_sync = Some(unix_seconds(t0()) - 60.0);
        assert!(j.evaluate(&of(p), t0()).is_empty());
        assert_eq!(j.alerts().count(), 0);
    }

    #[test]
    fn connectivity_degraded_fires_and_resolves() {
        let mut j = Judge::new(rules());
        let mut p = healthy(42);
        p.name = "Lisbon DC — SAP EWM".to_string();
        p.connectivity = Some("unhealthy".into());
        p.last_error = Some("connection refused".to_string());

        let t = j.evaluate(&of(p.clone()), t0());
        assert_eq!(
            names(&t),
            [firing(AlertName::ProfileConnectivityDegraded, 42)]
        );
        let a = &t[0].alert;
        assert_eq!(
            a.summary,
            "Connectivity of \"Lisbon DC — SAP EWM\" (North Distribution) is unhealthy"
        );
        assert!(a.description.contains("\"unhealthy\""), "{}", a.description);
        assert!(
            a.description.contains("connection refused"),
            "{}",
            a.description
        );
        assert!(
            a.description.contains("2026-01-01T00:00:00Z"),
            "{}",
            a.description
        );
        assert_eq!(a.severity, "critical");
        assert_eq!(a.active_since, t0());
        assert_eq!(a.firing_since, Some(t0()));

        // Still unhealthy: no new transition.
        assert!(j.evaluate(&of(p.clone()), t0() + MIN).is_empty());

        p.connectivity = Some("healthy".into());
        let t = j.evaluate(&of(p), t0() + 2 * MIN);
        assert_eq!(
            names(&t),
            [resolved(AlertName::ProfileConnectivityDegraded, 42)]
        );
        let a = &t[0].alert;
        assert_eq!(a.resolved_at, Some(t0() + 2 * MIN));
        assert_eq!(a.firing_since, Some(t0()));
        assert!(
            a.description.contains("\"healthy\" again"),
            "{}",
            a.description
        );
        assert_eq!(j.alerts().count(), 0);
    }

    #[test]
    fn authentication_failing_fires_and_resolves() {
        let mut j = Judge::new(rules());
        let mut p = healthy(7);
        p.authentication = Some("expired".into());
        let t = j.evaluate(&of(p.clone()), t0());
        assert_eq!(
            names(&t),
            [firing(AlertName::ProfileAuthenticationFailing, 7)]
        );
        assert_eq!(
            t[0].alert.summary,
            "Authentication of \"Profile 7\" (North Distribution) is expired"
        );

        p.authentication = Some("valid".into());
        let t = j.evaluate(&of(p), t0() + MIN);
        assert_eq!(
            names(&t),
            [resolved(AlertName::ProfileAuthenticationFailing, 7)]
        );
    }

    #[test]
    fn sync_stale_fires_when_older_than_after_and_resolves_on_a_new_sync() {
        let mut j = Judge::new(rules()); // after = 1h
        let mut p = healthy(3);
        p.last_sync = Some(unix_seconds(t0()));

        // Exactly one hour old is not older than one hour.
        assert!(j.evaluate(&of(p.clone()), t0() + HOUR).is_empty());
        let t = j.evaluate(&of(p.clone()), t0() + HOUR + Duration::from_millis(1_500));
        assert_eq!(names(&t), [firing(AlertName::ProfileSyncStale, 3)]);
        let d = &t[0].alert.description;
        assert!(d.contains("is 1h 1s old; at most 1h is allowed"), "{d}");
        assert!(d.contains("2026-01-01T00:00:00Z"), "{d}");

        p.last_sync = Some(unix_seconds(t0() + 2 * HOUR));
        let t = j.evaluate(&of(p), t0() + 2 * HOUR + MIN);
        assert_eq!(names(&t), [resolved(AlertName::ProfileSyncStale, 3)]);
    }

    #[test]
    fn sync_stale_auto_allows_twice_the_frequency_plus_fifteen_minutes() {
        let cases = [
            ("hourly", 2 * HOUR + 15 * MIN),
            ("daily", 48 * HOUR + 15 * MIN),
            ("every_15_minutes", 45 * MIN),
        ];
        for (frequency, allowed) in cases {
            let mut j = Judge::new(RulesConfig::default()); // after = "auto"
            let mut p = healthy(5);
            p.sync_frequency = Some(frequency.into());
            p.last_sync = Some(unix_seconds(t0()));
            assert!(
                j.evaluate(&of(p.clone()), t0() + allowed).is_empty(),
                "{frequency}: not stale at exactly {allowed:?}"
            );
            let t = j.evaluate(&of(p), t0() + allowed + Duration::from_secs(1));
            assert_eq!(
                names(&t),
                [firing(AlertName::ProfileSyncStale, 5)],
                "{frequency}"
            );
            let d = &t[0].alert.description;
            assert!(
                d.contains(&format!(
                    "at most {} is allowed",
                    humantime::format_duration(allowed)
                )),
                "{d}"
            );
            assert!(
                d.contains(&format!("sync_frequency \"{frequency}\"")),
                "{d}"
            );
        }
    }

    #[test]
    fn sync_stale_auto_does_not_judge_an_unknown_frequency() {
        let mut j = Judge::new(RulesConfig::default());
        for frequency in [Some("whenever"), None] {
            let mut p = healthy(5);
            p.sync_frequency = frequency.map(Into::into);
            p.last_sync = Some(unix_seconds(t0()));
            assert!(j.evaluate(&of(p), t0() + 365 * 24 * HOUR).is_empty());
        }
        // A fixed `after` needs no frequency.
        j.set_rules(rules());
        let mut p = healthy(5);
        p.last_sync = Some(unix_seconds(t0()));
        let t = j.evaluate(&of(p), t0() + 2 * HOUR);
        assert_eq!(names(&t), [firing(AlertName::ProfileSyncStale, 5)]);
    }

    #[test]
    fn sync_stale_ignores_unknown_and_future_last_sync() {
        let mut j = Judge::new(rules());
        let p = healthy(5); // last_sync unknown
        assert!(j.evaluate(&of(p.clone()), t0() + 100 * HOUR).is_empty());
        let mut future = p;
        future.last_sync = Some(unix_seconds(t0() + HOUR));
        assert!(j.evaluate(&of(future), t0()).is_empty());
    }

    #[test]
    fn sync_failing_fires_and_resolves() {
        let mut j = Judge::new(rules());
        let mut p = healthy(9);
        p.last_sync_status = Some("partial".into());
        p.last_sync = Some(unix_seconds(t0()));
        let t = j.evaluate(&of(p.clone()), t0());
        assert_eq!(names(&t), [firing(AlertName::ProfileSyncFailing, 9)]);
        assert_eq!(t[0].alert.severity, "warning");
        assert!(
            t[0].alert.summary.contains("partial"),
            "{}",
            t[0].alert.summary
        );

        p.last_sync_status = Some("success".into());
        let t = j.evaluate(&of(p), t0() + MIN);
        assert_eq!(names(&t), [resolved(AlertName::ProfileSyncFailing, 9)]);
    }

    #[test]
    fn errors_high_fires_at_the_threshold_and_resolves_below_it() {
        let mut j = Judge::new(rules()); // threshold 10
        let mut p = healthy(11);
        p.error_count_24h = Some(9);
        assert!(j.evaluate(&of(p.clone()), t0()).is_empty());

        p.error_count_24h = Some(10);
        let t = j.evaluate(&of(p.clone()), t0() + MIN);
        assert_eq!(names(&t), [firing(AlertName::ProfileErrorsHigh, 11)]);
        assert_eq!(
            t[0].alert.summary,
            "\"Profile 11\" (North Distribution) reported 10 errors in 24 hours"
        );

        p.error_count_24h = Some(2);
        let t = j.evaluate(&of(p), t0() + 2 * MIN);
        assert_eq!(names(&t), [resolved(AlertName::ProfileErrorsHigh, 11)]);
        assert!(t[0].alert.description.contains("down to 2"));
    }

    #[test]
    fn unreachable_fires_after_n_failed_reads_and_resolves_when_read_again() {
        let mut j = Judge::new(rules()); // after_failures 3
        let p = healthy(13);
        for n in 1..3 {
            let t = j.evaluate(&snap(vec![down(p.clone(), n)]), t0() + MIN * n);
            assert!(t.is_empty(), "after {n} failures");
        }
        let t = j.evaluate(&snap(vec![down(p.clone(), 3)]), t0() + 3 * MIN);
        assert_eq!(names(&t), [firing(AlertName::ProfileUnreachable, 13)]);
        assert!(t[0].alert.description.contains("HTTP 503"));

        let t = j.evaluate(&of(p), t0() + 4 * MIN);
        assert_eq!(names(&t), [resolved(AlertName::ProfileUnreachable, 13)]);
    }

    #[test]
    fn inventory_api_down_fires_says_why_and_resolves() {
        let mut j = Judge::new(rules());
        let t = j.evaluate(&failed(ApiFailure::Unauthorized), t0());
        assert_eq!(
            names(&t),
            [(AlertName::InventoryApiDown, None, AlertState::Firing)]
        );
        let a = &t[0].alert;
        assert_eq!(a.severity, "critical");
        assert!(
            a.description.contains("401 Unauthorized"),
            "{}",
            a.description
        );
        assert!(a.description.contains("HTTP 401 from"), "{}", a.description);
        let labels = a.labels();
        assert_eq!(labels["alertname"], "InventoryApiDown");
        assert_eq!(labels["profile_id"], "");
        assert_eq!(labels["profile_name"], "");
        assert_eq!(labels["organization"], "");

        // Another kind of failure while down: same alert, new wording, no transition.
        assert!(j
            .evaluate(&failed(ApiFailure::Unreachable), t0() + MIN)
            .is_empty());
        let a = j.get(&AlertKey::api_down()).expect("still firing");
        assert!(a.summary.contains("unreachable"), "{}", a.summary);
        assert_eq!(a.firing_since, Some(t0()));

        let t = j.evaluate(&snap(Vec::new()), t0() + 2 * MIN);
        assert_eq!(
            names(&t),
            [(AlertName::InventoryApiDown, None, AlertState::Resolved)]
        );
    }

    #[test]
    fn incomplete_walk_is_not_api_down() {
        let mut j = Judge::new(rules());
        j.evaluate(&failed(ApiFailure::Unreachable), t0());
        let mut s = snap(Vec::new());
        s.list = ListOutcome::Incomplete {
            reason: "page 3 failed".to_string(),
        };
        let t = j.evaluate(&s, t0() + MIN);
        assert_eq!(
            names(&t),
            [(AlertName::InventoryApiDown, None, AlertState::Resolved)]
        );
    }

    #[test]
    fn for_keeps_an_alert_pending_until_it_has_held_long_enough() {
        let mut r = rules();
        r.connectivity.for_ = 5 * MIN;
        let mut j = Judge::new(r);
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());

        assert!(j.evaluate(&of(p.clone()), t0()).is_empty());
        assert_eq!(
            keys(&j),
            [(AlertName::ProfileConnectivityDegraded, AlertState::Pending)]
        );
        assert_eq!(j.firing().count(), 0);
        assert!(j.evaluate(&of(p.clone()), t0() + 4 * MIN).is_empty());

        let t = j.evaluate(&of(p), t0() + 5 * MIN);
        assert_eq!(
            names(&t),
            [firing(AlertName::ProfileConnectivityDegraded, 1)]
        );
        assert_eq!(t[0].alert.active_since, t0());
        assert_eq!(t[0].alert.firing_since, Some(t0() + 5 * MIN));
        assert_eq!(j.firing().count(), 1);
    }

    #[test]
    fn pending_alert_that_clears_is_dropped_silently() {
        let mut r = rules();
        r.authentication.for_ = 5 * MIN;
        let mut j = Judge::new(r);
        let mut p = healthy(1);
        p.authentication = Some("invalid".into());
        assert!(j.evaluate(&of(p.clone()), t0()).is_empty());
        assert_eq!(j.alerts().count(), 1);

        p.authentication = Some("valid".into());
        assert!(j.evaluate(&of(p.clone()), t0() + MIN).is_empty());
        assert_eq!(j.alerts().count(), 0);

        // A new episode starts its own clock.
        p.authentication = Some("invalid".into());
        assert!(j.evaluate(&of(p.clone()), t0() + 2 * MIN).is_empty());
        assert!(j.evaluate(&of(p.clone()), t0() + 6 * MIN).is_empty());
        assert_eq!(names(&j.evaluate(&of(p), t0() + 7 * MIN)).len(), 1);
    }

    #[test]
    fn unknown_connectivity_value_is_not_healthy() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.connectivity = Some("flaky".into());
        let t = j.evaluate(&of(p), t0());
        assert_eq!(
            names(&t),
            [firing(AlertName::ProfileConnectivityDegraded, 1)]
        );
        assert!(
            t[0].alert.summary.ends_with("is flaky"),
            "{}",
            t[0].alert.summary
        );
    }

    #[test]
    fn unknown_health_fields_raise_nothing() {
        let mut j = Judge::new(rules());
        let mut p = Profile::unknown(1, "bare");
        p.last_sync = Some(unix_seconds(t0()));
        // Nothing but a fresh last_sync is known: no connectivity, authentication,
        // sync status or error count, so no condition can hold.
        assert!(j.evaluate(&of(p), t0()).is_empty());
    }

    #[test]
    fn inactive_profiles_are_judged_only_with_include_inactive() {
        let mut p = healthy(1);
        p.status = Some("inactive".into());
        p.connectivity = Some("unhealthy".into());

        let mut j = Judge::new(rules());
        assert!(j.evaluate(&of(p.clone()), t0()).is_empty());
        assert_eq!(j.alerts().count(), 0);

        let mut r = rules();
        r.include_inactive = true;
        let mut j = Judge::new(r);
        let t = j.evaluate(&of(p), t0());
        assert_eq!(
            names(&t),
            [firing(AlertName::ProfileConnectivityDegraded, 1)]
        );
    }

    #[test]
    fn profile_of_unknown_status_is_judged() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.status = None;
        p.connectivity = Some("unhealthy".into());
        let t = j.evaluate(&of(p), t0());
        assert_eq!(
            names(&t),
            [firing(AlertName::ProfileConnectivityDegraded, 1)]
        );
    }

    #[test]
    fn profile_turning_inactive_resolves_its_alerts() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        p.error_count_24h = Some(50);
        assert_eq!(j.evaluate(&of(p.clone()), t0()).len(), 2);

        p.status = Some("inactive".into());
        let t = j.evaluate(&of(p), t0() + MIN);
        assert_eq!(
            names(&t),
            [
                resolved(AlertName::ProfileConnectivityDegraded, 1),
                resolved(AlertName::ProfileErrorsHigh, 1),
            ]
        );
        assert!(t[0].alert.description.contains("no longer judged"));
        assert_eq!(j.alerts().count(), 0);
    }

    #[test]
    fn api_down_freezes_profile_alerts() {
        let mut r = rules();
        r.connectivity.for_ = 5 * MIN;
        let mut j = Judge::new(r);
        let mut p = healthy(1);
        p.authentication = Some("invalid".into());
        p.connectivity = Some("unhealthy".into());
        let mut gone = healthy(2);
        gone.error_count_24h = Some(99);
        j.evaluate(&snap(vec![entry(p.clone()), entry(gone)]), t0());
        assert_eq!(
            keys(&j),
            [
                (AlertName::ProfileConnectivityDegraded, AlertState::Pending),
                (AlertName::ProfileAuthenticationFailing, AlertState::Firing),
                (AlertName::ProfileErrorsHigh, AlertState::Firing),
            ]
        );

        // Down for longer than `for`: only the API alert changes.
        let t = j.evaluate(&failed(ApiFailure::Unreachable), t0() + MIN);
        assert_eq!(
            names(&t),
            [(AlertName::InventoryApiDown, None, AlertState::Firing)]
        );
        let t = j.evaluate(&failed(ApiFailure::Unreachable), t0() + 10 * MIN);
        assert!(t.is_empty());
        assert_eq!(
            keys(&j),
            [
                (AlertName::ProfileConnectivityDegraded, AlertState::Pending),
                (AlertName::ProfileAuthenticationFailing, AlertState::Firing),
                (AlertName::ProfileErrorsHigh, AlertState::Firing),
                (AlertName::InventoryApiDown, AlertState::Firing),
            ]
        );

        // Back: authentication recovered meanwhile, connectivity held past `for`, and
        // profile 2 is gone.
        p.authentication = Some("valid".into());
        let t = j.evaluate(&of(p), t0() + 11 * MIN);
        assert_eq!(
            names(&t),
            [
                firing(AlertName::ProfileConnectivityDegraded, 1),
                resolved(AlertName::ProfileAuthenticationFailing, 1),
                resolved(AlertName::ProfileErrorsHigh, 2),
                (AlertName::InventoryApiDown, None, AlertState::Resolved),
            ]
        );
        assert_eq!(t[0].alert.active_since, t0());
    }

    #[test]
    fn unread_detail_freezes_health_alerts_but_unreachable_still_fires() {
        let mut r = rules();
        r.connectivity.for_ = 5 * MIN;
        let mut j = Judge::new(r);
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        p.error_count_24h = Some(20);
        j.evaluate(&of(p.clone()), t0());
        assert_eq!(
            keys(&j),
            [
                (AlertName::ProfileConnectivityDegraded, AlertState::Pending),
                (AlertName::ProfileErrorsHigh, AlertState::Firing),
            ]
        );

        // The last detail read said unhealthy; unread details say nothing new, even when the
        // entry carries a healthy-looking old detail.
        let stale_view = healthy(1);
        for n in 1..=2 {
            let t = j.evaluate(
                &snap(vec![down(stale_view.clone(), n)]),
                t0() + 10 * MIN * n,
            );
            assert!(t.is_empty(), "after {n} failures: {t:?}");
        }
        let t = j.evaluate(&snap(vec![down(stale_view, 3)]), t0() + 30 * MIN);
        assert_eq!(names(&t), [firing(AlertName::ProfileUnreachable, 1)]);
        assert_eq!(
            keys(&j),
            [
                (AlertName::ProfileConnectivityDegraded, AlertState::Pending),
                (AlertName::ProfileErrorsHigh, AlertState::Firing),
                (AlertName::ProfileUnreachable, AlertState::Firing),
            ]
        );
    }

    #[test]
    fn profile_no_longer_in_the_snapshot_resolves_its_alerts() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        let other = healthy(2);
        j.evaluate(&snap(vec![entry(p), entry(other.clone())]), t0());

        let t = j.evaluate(&of(other), t0() + MIN);
        assert_eq!(
            names(&t),
            [resolved(AlertName::ProfileConnectivityDegraded, 1)]
        );
        assert!(
            t[0].alert.description.contains("no longer monitored"),
            "{}",
            t[0].alert.description
        );
        assert_eq!(j.alerts().count(), 0);
    }

    #[test]
    fn profile_missing_from_an_incomplete_walk_keeps_its_alerts_until_confirmed_gone() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        let other = healthy(2);
        j.evaluate(&snap(vec![entry(p), entry(other.clone())]), t0());
        let incomplete = |gone: Vec<u64>| Snapshot {
            list: ListOutcome::Incomplete {
                reason: "count changed from 2 to 1 mid-walk".to_string(),
            },
            listed: None,
            gone,
            ..snap(vec![entry(other.clone())])
        };

        // Not reached by the walk (say, a restarted daemon that knew no earlier profiles):
        // nothing is known, the alert neither resolves nor is announced again.
        assert!(j.evaluate(&incomplete(Vec::new()), t0() + MIN).is_empty());
        assert_eq!(j.firing().count(), 1);

        // Its detail answered 404: gone for sure, even though the walk was incomplete.
        let t = j.evaluate(&incomplete(vec![1]), t0() + 2 * MIN);
        assert_eq!(
            names(&t),
            [resolved(AlertName::ProfileConnectivityDegraded, 1)]
        );
        assert_eq!(j.alerts().count(), 0);
    }

    #[test]
    fn disabled_rule_never_fires() {
        let mut r = rules();
        r.connectivity.enabled = false;
        r.errors.enabled = false;
        let mut j = Judge::new(r);
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        p.error_count_24h = Some(1_000);
        assert!(j.evaluate(&of(p.clone()), t0()).is_empty());
        assert!(j.evaluate(&of(p), t0() + HOUR).is_empty());
        assert_eq!(j.alerts().count(), 0);
    }

    #[test]
    fn disabling_a_rule_on_reload_resolves_its_alerts() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        p.authentication = Some("invalid".into());
        assert_eq!(j.evaluate(&of(p.clone()), t0()).len(), 2);

        let mut r = rules();
        r.connectivity.enabled = false;
        j.set_rules(r);
        let t = j.evaluate(&of(p.clone()), t0() + MIN);
        assert_eq!(
            names(&t),
            [resolved(AlertName::ProfileConnectivityDegraded, 1)]
        );
        assert!(t[0].alert.description.contains("rule was disabled"));
        assert_eq!(
            keys(&j),
            [(AlertName::ProfileAuthenticationFailing, AlertState::Firing)]
        );
        assert!(j.evaluate(&of(p), t0() + 2 * MIN).is_empty());
    }

    #[test]
    fn disabling_a_rule_while_the_api_is_down_still_resolves_its_alerts() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.error_count_24h = Some(40);
        p.authentication = Some("invalid".into());
        assert_eq!(j.evaluate(&of(p), t0()).len(), 2);
        j.evaluate(&failed(ApiFailure::Unreachable), t0() + MIN);

        let mut r = rules();
        r.errors.enabled = false;
        j.set_rules(r);
        let t = j.evaluate(&failed(ApiFailure::Unreachable), t0() + 2 * MIN);
        assert_eq!(names(&t), [resolved(AlertName::ProfileErrorsHigh, 1)]);
        assert_eq!(
            keys(&j),
            [
                (AlertName::ProfileAuthenticationFailing, AlertState::Firing),
                (AlertName::InventoryApiDown, AlertState::Firing),
            ]
        );
    }

    #[test]
    fn firing_alert_follows_changing_details_without_a_transition() {
        let mut r = rules();
        let mut j = Judge::new(r.clone());
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        p.last_error = Some("timeout".to_string());
        j.evaluate(&of(p.clone()), t0());

        p.connectivity = Some("flaky".into());
        p.last_error = Some("TLS handshake failed".to_string());
        p.name = "Renamed".to_string();
        r.connectivity.severity = "warning".to_string();
        j.set_rules(r);
        assert!(j.evaluate(&of(p), t0() + MIN).is_empty());

        let a = j.firing().next().expect("still firing");
        assert!(a.summary.contains("\"Renamed\""), "{}", a.summary);
        assert!(a.summary.ends_with("is flaky"), "{}", a.summary);
        assert!(
            a.description.contains("TLS handshake failed"),
            "{}",
            a.description
        );
        assert!(!a.description.contains("timeout"), "{}", a.description);
        assert_eq!(a.profile_name, "Renamed");
        assert_eq!(a.severity, "warning");
        assert_eq!(a.firing_since, Some(t0()));
    }

    #[test]
    fn restored_firing_alert_keeps_its_start_and_is_not_reannounced() {
        let mut j = Judge::new(rules());
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        let mut q = healthy(2);
        q.error_count_24h = Some(30);
        j.evaluate(&snap(vec![entry(p.clone()), entry(q.clone())]), t0());

        // Saved, then loaded by a new process.
        let saved = serde_json::to_string(&j.alerts().cloned().collect::<Vec<_>>())
            .expect("alerts serialise");
        let loaded: Vec<Alert> = serde_json::from_str(&saved).expect("alerts deserialise");
        let mut restarted = Judge::new(rules());
        restarted.restore(loaded);
        assert_eq!(restarted.firing().count(), 2);

        // Profile 2 recovered while the daemon was down: that is still announced.
        q.error_count_24h = Some(0);
        let t = restarted.evaluate(&snap(vec![entry(p), entry(q)]), t0() + HOUR);
        assert_eq!(names(&t), [resolved(AlertName::ProfileErrorsHigh, 2)]);
        let a = restarted.firing().next().expect("still firing");
        assert_eq!(
            a.key,
            AlertKey::profile(AlertName::ProfileConnectivityDegraded, 1)
        );
        assert_eq!(a.firing_since, Some(t0()));
        assert_eq!(a.active_since, t0());
    }

    #[test]
    fn restore_skips_resolved_and_ill_formed_alerts() {
        let alert = |key: AlertKey, state| Alert {
            key,
            severity: "warning".to_string(),
            profile_name: String::new(),
            organization: String::new(),
            summary: String::new(),
            description: String::new(),
            state,
            active_since: t0(),
            firing_since: None,
            resolved_at: None,
        };
        let mut j = Judge::new(rules());
        j.restore(vec![
            alert(
                AlertKey::profile(AlertName::ProfileErrorsHigh, 1),
                AlertState::Resolved,
            ),
            alert(
                AlertKey {
                    alertname: AlertName::InventoryApiDown,
                    profile_id: Some(1),
                },
                AlertState::Firing,
            ),
            alert(
                AlertKey {
                    alertname: AlertName::ProfileUnreachable,
                    profile_id: None,
                },
                AlertState::Firing,
            ),
            alert(
                AlertKey::profile(AlertName::ProfileSyncFailing, 1),
                AlertState::Firing,
            ),
        ]);
        let kept: Vec<&Alert> = j.alerts().collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].key.alertname, AlertName::ProfileSyncFailing);
        // A firing alert saved without its start fired no later than it became active.
        assert_eq!(kept[0].firing_since, Some(t0()));
    }

    #[test]
    fn restored_pending_alert_keeps_counting_its_for() {
        let mut r = rules();
        r.connectivity.for_ = 10 * MIN;
        let mut j = Judge::new(r.clone());
        let mut p = healthy(1);
        p.connectivity = Some("unhealthy".into());
        j.evaluate(&of(p.clone()), t0());

        let mut restarted = Judge::new(r);
        restarted.restore(j.alerts().cloned().collect());
        assert!(restarted
            .evaluate(&of(p.clone()), t0() + 9 * MIN)
            .is_empty());
        let t = restarted.evaluate(&of(p), t0() + 10 * MIN);
        assert_eq!(
            names(&t),
            [firing(AlertName::ProfileConnectivityDegraded, 1)]
        );
    }

    #[test]
    fn labels_and_annotations_carry_the_profile() {
        let mut j = Judge::new(rules());
        let mut p = healthy(42);
        p.authentication = Some("invalid".into());
        p.organization = None;
        let t = j.evaluate(&of(p), t0());
        let a = &t[0].alert;
        let labels = a.labels();
        assert_eq!(
            labels.keys().copied().collect::<Vec<_>>(),
            [
                "alertname",
                "organization",
                "profile_id",
                "profile_name",
                "severity"
            ]
        );
        assert_eq!(labels["profile_id"], "42");
        assert_eq!(labels["profile_name"], "Profile 42");
        assert_eq!(labels["organization"], "");
        assert_eq!(labels["severity"], "critical");
        let annotations = a.annotations();
        assert_eq!(
            annotations["summary"],
            "Authentication of \"Profile 42\" is invalid"
        );
        assert_eq!(annotations["description"], a.description);
    }

    #[test]
    fn alert_names_round_trip() {
        for name in AlertName::ALL {
            assert_eq!(AlertName::parse(name.as_str()), Some(name));
            assert_eq!(
                serde_json::to_string(&name).expect("serialises"),
                format!("\"{}\"", name.as_str())
            );
        }
        assert_eq!(AlertName::parse("profileunreachable"), None);
        assert_eq!(AlertName::parse(""), None);
    }

    #[test]
    fn sync_period_understands_the_usual_frequencies() {
        let cases: [(&str, Option<Duration>); 16] = [
            ("hourly", Some(HOUR)),
            ("daily", Some(24 * HOUR)),
            ("weekly", Some(7 * 24 * HOUR)),
            ("monthly", Some(30 * 24 * HOUR)),
            ("every_15_minutes", Some(15 * MIN)),
            ("every_1_minute", Some(MIN)),
            ("every_6_hours", Some(6 * HOUR)),
            ("every_2_days", Some(48 * HOUR)),
            ("every_hour", Some(HOUR)),
            ("Every_30_Minutes", Some(30 * MIN)),
            ("every_0_minutes", None),
            ("every_x_minutes", None),
            ("every_15_fortnights", None),
            ("every_99999999999999999999_days", None),
            ("manual", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(sync_period(text), expected, "{text:?}");
        }
        assert_eq!(sync_period("every_18446744073709551615_weeks"), None);
    }

    #[test]
    fn many_profiles_only_the_unhealthy_raise_alerts() {
        let mut j = Judge::new(rules());
        let mut profiles: Vec<ProfileEntry> = (0..100_000).map(|id| entry(healthy(id))).collect();
        for id in [17, 50_000, 99_999] {
            let mut p = healthy(id);
            p.connectivity = Some("unhealthy".into());
            profiles[id as usize] = entry(p);
        }
        let s = snap(profiles);
        let t = j.evaluate(&s, t0());
        assert_eq!(
            names(&t),
            [
                firing(AlertName::ProfileConnectivityDegraded, 17),
                firing(AlertName::ProfileConnectivityDegraded, 50_000),
                firing(AlertName::ProfileConnectivityDegraded, 99_999),
            ]
        );
        assert!(j.evaluate(&s, t0() + MIN).is_empty());
        assert_eq!(j.firing().count(), 3);
    }
}
