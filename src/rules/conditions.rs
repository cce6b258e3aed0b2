//! The alert rules as data: one [`Condition`] per [`AlertName`], carrying everything about
//! it (its settings in `[rules]`, when it holds, what it says when it does, and what it says
//! when it stops). The judge knows no rule by name; adding a rule is one entry in
//! [`CONDITIONS`].
//!
//! `holds` runs for every profile of every sweep, so it allocates nothing; the texts are only
//! formatted for profiles whose condition holds or has just stopped holding.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::clock::{rfc3339, unix_seconds};
use crate::config::{RuleSettings, RulesConfig, StaleAfter};
use crate::model::{ApiRevision, Profile};
use crate::snapshot::{ListOutcome, ProfileEntry};
use crate::vocabulary::{AlertName, Severity};

use super::sync_period::sync_period;

/// What a condition looks at: the rules in force, the list outcome and one profile entry
/// (none for `InventoryApiDown`, or when a profile is gone) at one moment.
#[derive(Clone, Copy)]
pub(super) struct Facts<'a> {
    /// `[rules]` in force.
    pub rules: &'a RulesConfig,
    /// `[rules]` as they were at the sweep before, when a reload changed them since.
    pub before: Option<&'a RulesConfig>,
    /// How the list walk went.
    pub list: &'a ListOutcome,
    /// The profile entry judged.
    pub entry: Option<&'a ProfileEntry>,
    /// Its last detail read (possibly from an earlier sweep).
    pub profile: Option<&'a Profile>,
    /// The moment of judgement.
    pub now: SystemTime,
}

/// A rule's settings, as `[rules]` has them.
pub(super) struct Settings<'a> {
    /// `enabled`.
    pub enabled: bool,
    /// `for`: how long the condition holds before the alert fires.
    pub for_: Duration,
    /// The `severity` label.
    pub severity: &'a str,
    /// `runbook_url`, placeholders unfilled ("" for none).
    pub runbook_url: &'a str,
}

impl<'a> Settings<'a> {
    /// A rule's settings from its table.
    fn of(rule: &'a impl RuleSettings) -> Self {
        Self {
            enabled: rule.enabled(),
            for_: rule.hold_for(),
            severity: rule.severity().as_str(),
            runbook_url: rule.runbook_url(),
        }
    }
}

/// What a rule is judged on, and so when it is frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// A profile's health, from its detail: frozen while the detail cannot be read, and
    /// the profile's `last_error` explains it.
    Health,
    /// Whether a profile's detail can be read at all: judged every sweep.
    Reachability,
    /// The list walk: judged once per sweep, not per profile.
    List,
    /// Whether another condition of the profile keeps changing: judged by flap detection
    /// (`flap`) from that condition's history, right after the condition itself.
    Flap,
}

/// Everything about one alert rule.
pub(super) struct Condition {
    /// The alert it raises.
    pub name: AlertName,
    /// What it is judged on.
    pub scope: Scope,
    /// Its settings in `[rules]`.
    pub settings: for<'a> fn(&'a RulesConfig) -> Settings<'a>,
    /// Whether it holds.
    pub holds: fn(&Facts<'_>) -> bool,
    /// Summary and description while it holds; `since` is when it was first seen holding.
    pub describe: fn(&Facts<'_>, since: &str) -> (String, String),
    /// Why it no longer holds, for the resolution sentence.
    pub recovered: fn(&Facts<'_>) -> String,
}

/// Every rule, in [`AlertName::ALL`] order (so [`condition`] is an index).
pub(super) static CONDITIONS: [Condition; 8] = [
    Condition {
        name: AlertName::ProfileConnectivityDegraded,
        scope: Scope::Health,
        settings: |r| Settings::of(&r.connectivity),
        holds: |f| field(f, |p| p.connectivity.as_deref()).is_some_and(|c| c != "healthy"),
        describe: connectivity_text,
        recovered: |f| again(field(f, |p| p.connectivity.as_deref()), "connectivity"),
    },
    Condition {
        name: AlertName::ProfileAuthenticationFailing,
        scope: Scope::Health,
        settings: |r| Settings::of(&r.authentication),
        holds: |f| field(f, |p| p.authentication.as_deref()).is_some_and(|a| a != "valid"),
        describe: |f, since| {
            let state = field(f, |p| p.authentication.as_deref()).unwrap_or_default();
            (
                format!("Authentication of {} is {state}", subject(f)),
                format!(
                    "health_status.authentication is {state:?} (expected \"valid\"), \
                     first seen {since}."
                ),
            )
        },
        recovered: |f| again(field(f, |p| p.authentication.as_deref()), "authentication"),
    },
    Condition {
        name: AlertName::ProfileSyncStale,
        scope: Scope::Health,
        settings: |r| Settings::of(&r.sync_stale),
        holds: |f| {
            f.profile.is_some_and(
                |p| match (sync_age(p, f.now), allowed_sync_age(f.rules, p)) {
                    (Some(age), Some(allowed)) => age > allowed.as_secs_f64(),
                    _ => false,
                },
            )
        },
        describe: stale_text,
        recovered: stale_recovered,
    },
    Condition {
        name: AlertName::ProfileSyncFailing,
        scope: Scope::Health,
        settings: |r| Settings::of(&r.sync_failed),
        holds: |f| field(f, |p| p.last_sync_status.as_deref()).is_some_and(|s| s != "success"),
        describe: sync_failing_text,
        recovered: |f| match field(f, |p| p.last_sync_status.as_deref()) {
            Some(s) => format!("the last sync ended with status {s:?}"),
            None => "last_sync_status is no longer reported".to_string(),
        },
    },
    Condition {
        name: AlertName::ProfileErrorsHigh,
        scope: Scope::Health,
        settings: |r| Settings::of(&r.errors),
        holds: |f| error_count(f).is_some_and(|n| n >= f.rules.errors.threshold),
        describe: |f, since| {
            let n = error_count(f).unwrap_or_default();
            (
                format!("{} reported {n} errors in 24 hours", subject(f)),
                format!(
                    "health_status.error_count_24h is {n}, at or above the threshold of \
                     {}; first seen {since}.",
                    f.rules.errors.threshold
                ),
            )
        },
        recovered: |f| match error_count(f) {
            // Still at or above the old threshold: only the reload's new one clears it.
            Some(n) if f.before.is_some_and(|b| n >= b.errors.threshold) => format!(
                "the threshold was raised from {} to {} by a configuration reload: \
                 {n} errors in 24 hours is below it",
                f.before.map_or(0, |b| b.errors.threshold),
                f.rules.errors.threshold
            ),
            Some(n) => format!(
                "no longer at or above the threshold ({}): {n} errors in 24 hours",
                f.rules.errors.threshold
            ),
            None => "error_count_24h is no longer reported".to_string(),
        },
    },
    Condition {
        name: AlertName::ProfileUnreachable,
        scope: Scope::Reachability,
        settings: |r| Settings::of(&r.unreachable),
        holds: |f| {
            f.entry
                .is_some_and(|e| e.consecutive_failures >= unreachable_after(f.rules))
        },
        describe: unreachable_text,
        recovered: |_| "its detail was read again".to_string(),
    },
    Condition {
        name: AlertName::InventoryApiDown,
        scope: Scope::List,
        settings: |_| Settings {
            enabled: true,
            for_: Duration::ZERO,
            severity: Severity::Critical.as_str(),
            runbook_url: "",
        },
        holds: |f| matches!(f.list, ListOutcome::Failed { .. }),
        describe: api_down_text,
        recovered: |_| "the profile list was read again".to_string(),
    },
    Condition {
        name: AlertName::ProfileFlapping,
        scope: Scope::Flap,
        settings: |r| Settings::of(&r.flapping),
        // Judged from the histories in `flap`, which name the condition and its share: the
        // texts come from there too (`flap::texts`, `flap::stopped`).
        holds: |_| false,
        describe: |_, _| (String::new(), String::new()),
        recovered: |_| "the condition is steady again".to_string(),
    },
];

/// The rule raising `name`.
pub(super) fn condition(name: AlertName) -> &'static Condition {
    &CONDITIONS[name as usize]
}

/// The rules judged on each profile entry (flap detection watches each of them).
pub(super) fn per_profile() -> impl Iterator<Item = &'static Condition> {
    CONDITIONS
        .iter()
        .filter(|c| matches!(c.scope, Scope::Health | Scope::Reachability))
}

impl Condition {
    /// Summary and description while the condition holds, the profile's `last_error`
    /// appended where it explains the alert.
    pub(super) fn texts(&self, facts: &Facts<'_>, since: SystemTime) -> (String, String) {
        let (summary, mut description) = (self.describe)(facts, &rfc3339(since));
        // Only health is what `last_error` explains; for an unreadable detail it would be
        // old news.
        if self.scope == Scope::Health {
            let last_error = facts
                .profile
                .and_then(|p| p.last_error.as_deref())
                .filter(|e| !e.trim().is_empty());
            if let Some(e) = last_error {
                description.push_str(&format!(" Last error: {e}"));
                if !e.ends_with('.') {
                    description.push('.');
                }
            }
        }
        (summary, description)
    }
}

/// A text field of the profile's last detail, when known.
fn field<'a>(f: &Facts<'a>, get: fn(&'a Profile) -> Option<&'a str>) -> Option<&'a str> {
    f.profile.and_then(get)
}

/// `health_status.error_count_24h`, when known.
fn error_count(f: &Facts<'_>) -> Option<u64> {
    f.profile.and_then(|p| p.error_count_24h)
}

/// "`what` is "x" again", or that it is no longer reported.
fn again(state: Option<&str>, what: &str) -> String {
    match state {
        Some(s) => format!("{what} is {s:?} again"),
        None => format!("{what} is no longer reported"),
    }
}

/// `ProfileConnectivityDegraded`: the legacy revision reports a connection test, the current
/// one a health status.
fn connectivity_text(f: &Facts<'_>, since: &str) -> (String, String) {
    let state = field(f, |p| p.connectivity.as_deref()).unwrap_or_default();
    let mut d = match f.profile {
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
    if let Some(n) = error_count(f) {
        d.push_str(&format!(" Errors in the last 24 hours: {n}."));
    }
    (format!("Connectivity of {} is {state}", subject(f)), d)
}

/// `ProfileSyncStale`: how old the last sync is, and what age is allowed and why.
fn stale_text(f: &Facts<'_>, since: &str) -> (String, String) {
    let mut d = String::new();
    if let Some(p) = f.profile {
        if let (Some(age), Some(allowed)) = (sync_age(p, f.now), allowed_sync_age(f.rules, p)) {
            let last = p.last_sync.and_then(from_unix).map(rfc3339);
            let basis = match f.rules.sync_stale.after {
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
    (format!("Sync of {} is stale", subject(f)), d)
}

/// Why `ProfileSyncStale` stopped: a fresh sync, or nothing left to judge it by.
fn stale_recovered(f: &Facts<'_>) -> String {
    let Some(p) = f.profile else {
        return "last_sync is no longer reported".to_string();
    };
    match (
        p.last_sync.and_then(from_unix),
        allowed_sync_age(f.rules, p),
    ) {
        (None, _) => "last_sync is no longer reported".to_string(),
        (Some(_), None) => {
            "the sync frequency is no longer known, so staleness cannot be judged".to_string()
        }
        (Some(t), Some(_)) => {
            let age = sync_age(p, f.now).unwrap_or_default();
            format!(
                "the last sync, at {}, is {} old",
                rfc3339(t),
                whole_seconds(age)
            )
        }
    }
}

/// `ProfileSyncFailing`: the status, when the sync ended, and how much it synced.
fn sync_failing_text(f: &Facts<'_>, since: &str) -> (String, String) {
    let status = field(f, |p| p.last_sync_status.as_deref()).unwrap_or_default();
    let mut d = format!("The last sync ended with status {status:?}");
    match f.profile.and_then(|p| p.last_sync).and_then(from_unix) {
        Some(t) => d.push_str(&format!(" at {}", rfc3339(t))),
        None => d.push_str(" (time unknown)"),
    }
    d.push_str(&format!(" (expected \"success\"), first seen {since}."));
    if let Some(n) = f.profile.and_then(|p| p.sync_record_count) {
        d.push_str(&format!(" Records synced: {n}."));
    }
    (
        format!("Last sync of {} did not succeed ({status})", subject(f)),
        d,
    )
}

/// `ProfileUnreachable`: how many reads failed, and the last failure.
fn unreachable_text(f: &Facts<'_>, since: &str) -> (String, String) {
    let (failures, error) = f
        .entry
        .map_or((0, None), |e| (e.consecutive_failures, e.error.as_deref()));
    let mut d = format!(
        "Its detail could not be read in the last {failures} sweeps in a row (the alert \
         fires after {}); first seen {since}.",
        unreachable_after(f.rules)
    );
    if let Some(e) = error {
        d.push_str(&format!(" Last failure: {e}."));
    }
    (format!("{} is unreachable", subject(f)), d)
}

/// `InventoryApiDown`: why the list could not be read, and what that freezes.
fn api_down_text(f: &Facts<'_>, since: &str) -> (String, String) {
    let ListOutcome::Failed { kind, message } = f.list else {
        return (String::new(), String::new());
    };
    let summary = format!("The inventory API cannot be listed: {}", kind.describe());
    let mut description = format!(
        "Listing the inventory connection profiles failed: {}.",
        kind.describe()
    );
    if !message.is_empty() {
        description.push_str(&format!(" Details: {message}."));
    }
    description.push_str(&format!(
        " First seen {since}. Until the list can be read again, nothing is known \
         about the profiles: their alerts neither fire nor resolve."
    ));
    (summary, description)
}

/// The slack `auto` adds to twice the sync period, so that a sync that runs a little late
/// does not page anyone.
const STALE_GRACE: Duration = Duration::from_secs(15 * 60);

/// The largest sync age still fine for `p`: the fixed `after`, or with `auto`
/// 2 × its sync period + 15 minutes (`None` when the frequency is not understood).
fn allowed_sync_age(rules: &RulesConfig, p: &Profile) -> Option<Duration> {
    match rules.sync_stale.after {
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
fn unreachable_after(rules: &RulesConfig) -> u32 {
    rules.unreachable.after_failures.max(1)
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

/// How the judged profile is named in a message.
pub(super) fn subject<'a>(f: &Facts<'a>) -> Subject<'a> {
    Subject(f.entry)
}

/// How a profile is named in a message: `"Lisbon DC — SAP EWM" (North Distribution)`, or
/// `profile 42` when it has no name.
pub(super) struct Subject<'a>(Option<&'a ProfileEntry>);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(e) = self.0 else {
            return Ok(());
        };
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

    #[test]
    fn the_table_is_in_alertname_order() {
        let names: Vec<AlertName> = CONDITIONS.iter().map(|c| c.name).collect();
        assert_eq!(names, AlertName::ALL);
    }
}
