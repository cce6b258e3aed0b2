//! `[rules]`: what counts as unhealthy, one table per alert rule.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, severity, Problem};
use crate::vocabulary::{Named, Severity};

/// `[rules]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Judge profiles whose status is not `active` too.
    pub include_inactive: bool,
    /// `[rules.connectivity]`
    pub connectivity: StateRule,
    /// `[rules.authentication]`
    pub authentication: StateRule,
    /// `[rules.sync_stale]`
    pub sync_stale: SyncStaleRule,
    /// `[rules.sync_failed]`
    pub sync_failed: SimpleRule,
    /// `[rules.errors]`
    pub errors: ErrorsRule,
    /// `[rules.unreachable]`
    pub unreachable: UnreachableRule,
}

/// A rule on a reported state (`connectivity`, `authentication`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", with = "duration")]
    pub for_: Duration,
    /// `critical`, `warning` or `info`.
    pub severity: Named<Severity>,
}

impl Default for StateRule {
    fn default() -> Self {
        Self {
            enabled: true,
            for_: Duration::ZERO,
            severity: Severity::Critical.into(),
        }
    }
}

/// `[rules.sync_stale]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncStaleRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// Age of the last sync after which it is stale.
    pub after: StaleAfter,
    /// Severity of the alert.
    pub severity: Named<Severity>,
}

impl Default for SyncStaleRule {
    fn default() -> Self {
        Self {
            enabled: true,
            after: StaleAfter::Auto,
            severity: Severity::Warning.into(),
        }
    }
}

/// `rules.sync_stale.after`: `"auto"` (2 × the profile's sync_frequency + 15m) or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleAfter {
    /// 2 × sync_frequency + 15 minutes, per profile.
    Auto,
    /// A fixed age.
    Fixed(Duration),
}

impl Serialize for StaleAfter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StaleAfter::Auto => s.serialize_str("auto"),
            StaleAfter::Fixed(d) => s.serialize_str(&duration::show(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for StaleAfter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        duration::from_text(d, "\"auto\" or a duration like \"2h\"", |text| {
            if text.trim() == "auto" {
                return Ok(StaleAfter::Auto);
            }
            duration::parse_text(text, "\"auto\" or a duration").map(StaleAfter::Fixed)
        })
    }
}

/// A rule with only `enabled` and `severity` (`[rules.sync_failed]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimpleRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// Severity of the alert.
    pub severity: Named<Severity>,
}

impl Default for SimpleRule {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::Warning.into(),
        }
    }
}

/// `[rules.errors]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorsRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// Fires when `error_count_24h >= threshold`.
    pub threshold: u64,
    /// Severity of the alert.
    pub severity: Named<Severity>,
}

impl Default for ErrorsRule {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 10,
            severity: Severity::Warning.into(),
        }
    }
}

/// `[rules.unreachable]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnreachableRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// Consecutive sweeps whose detail read failed before the alert fires.
    pub after_failures: u32,
    /// Severity of the alert.
    pub severity: Named<Severity>,
}

impl Default for UnreachableRule {
    fn default() -> Self {
        Self {
            enabled: true,
            after_failures: 3,
            severity: Severity::Warning.into(),
        }
    }
}

impl RulesConfig {
    pub(super) fn check(&self, out: &mut Vec<Problem>) {
        severity(
            out,
            "rules.connectivity.severity",
            &self.connectivity.severity,
        );
        severity(
            out,
            "rules.authentication.severity",
            &self.authentication.severity,
        );
        if self.sync_stale.after == StaleAfter::Fixed(Duration::ZERO) {
            out.push(Problem::new(
                "rules.sync_stale.after",
                "must be more than 0s, or \"auto\"",
            ));
        }
        severity(out, "rules.sync_stale.severity", &self.sync_stale.severity);
        severity(
            out,
            "rules.sync_failed.severity",
            &self.sync_failed.severity,
        );
        if self.errors.threshold == 0 {
            out.push(Problem::new(
                "rules.errors.threshold",
                "must be at least 1, got 0",
            ));
        }
        severity(out, "rules.errors.severity", &self.errors.severity);
        if self.unreachable.after_failures == 0 {
            out.push(Problem::new(
                "rules.unreachable.after_failures",
                "must be at least 1, got 0",
            ));
        }
        severity(
            out,
            "rules.unreachable.severity",
            &self.unreachable.severity,
        );
    }
}
