//! `[rules]`: what counts as unhealthy, one table per alert rule.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, runbook, severity, Problem};
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
    /// `[rules.flapping]` (README, Flapping)
    pub flapping: FlappingRule,
}

/// What every rule's table holds, whatever else it has.
pub trait RuleSettings {
    /// `enabled = false` switches the rule off.
    fn enabled(&self) -> bool;
    /// The severity its alerts carry.
    fn severity(&self) -> &Named<Severity>;
    /// How long the condition must hold before the alert fires (zero for rules without
    /// `for`).
    fn hold_for(&self) -> Duration {
        Duration::ZERO
    }
    /// `runbook_url`: the runbook link its alerts carry, with `{label}` placeholders
    /// (README, Runbook links); "" for none.
    fn runbook_url(&self) -> &str;
}

/// Declares one rule's table: `enabled` (on by default), the rule's own keys with their
/// defaults, and `severity`, and implements [`RuleSettings`] for it. Written once so that
/// the tables cannot drift apart in what they all share.
macro_rules! rule_table {
    (
        $(#[$doc:meta])*
        $name:ident, severity $severity:ident $(, for $hold:ident)? {
            $($(#[$attr:meta])* $field:ident: $ty:ty = $default:expr,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, Serialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            /// `enabled = false` switches the rule off.
            pub enabled: bool,
            $($(#[$attr])* pub $field: $ty,)*
            /// `critical`, `warning` or `info`.
            pub severity: Named<Severity>,
            /// The runbook link its alerts carry as the `runbook_url` annotation, with
            /// `{label}` placeholders (README, Runbook links); "" for none.
            #[serde(skip_serializing_if = "String::is_empty")]
            pub runbook_url: String,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    enabled: true,
                    $($field: $default,)*
                    severity: Severity::$severity.into(),
                    runbook_url: String::new(),
                }
            }
        }

        impl RuleSettings for $name {
            fn enabled(&self) -> bool {
                self.enabled
            }

            fn severity(&self) -> &Named<Severity> {
                &self.severity
            }

            fn runbook_url(&self) -> &str {
                &self.runbook_url
            }

            $(fn hold_for(&self) -> Duration {
                self.$hold
            })?
        }
    };
}

rule_table! {
    /// A rule on a reported state (`connectivity`, `authentication`).
    StateRule, severity Critical, for for_ {
        /// How long the condition must hold before the alert fires.
        #[serde(rename = "for", with = "duration")]
        for_: Duration = Duration::ZERO,
    }
}

rule_table! {
    /// `[rules.sync_stale]`
    SyncStaleRule, severity Warning {
        /// Age of the last sync after which it is stale.
        after: StaleAfter = StaleAfter::Auto,
    }
}

rule_table! {
    /// A rule with only `enabled` and `severity` (`[rules.sync_failed]`).
    SimpleRule, severity Warning {}
}

rule_table! {
    /// `[rules.errors]`
    ErrorsRule, severity Warning {
        /// Fires when `error_count_24h >= threshold`.
        threshold: u64 = 10,
    }
}

rule_table! {
    /// `[rules.unreachable]`
    UnreachableRule, severity Warning {
        /// Consecutive sweeps whose detail read failed before the alert fires.
        after_failures: u32 = 3,
    }
}

rule_table! {
    /// `[rules.flapping]` (README, Flapping): when a condition that keeps changing becomes
    /// one `ProfileFlapping` alert.
    FlappingRule, severity Warning {
        /// How many of the last judged sweeps are weighed (3..=100).
        window: u32 = 21,
        /// Flapping starts when the weighted share of state changes exceeds this.
        high: f64 = 0.5,
        /// Flapping stops when the share falls below this (0 < low < high <= 1).
        low: f64 = 0.25,
    }
}

/// The bounds of `rules.flapping.window`: at least three sweeps (two changes to weigh), at
/// most as many as one history holds.
pub const FLAP_WINDOW: std::ops::RangeInclusive<u32> = 3..=100;

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

impl RulesConfig {
    pub(super) fn check(&self, out: &mut Vec<Problem>) {
        let at_least_one = |out: &mut Vec<Problem>, path: &str, value: u64| {
            if value == 0 {
                out.push(Problem::new(path, "must be at least 1, got 0"));
            }
        };
        let connectivity = &self.connectivity.severity;
        severity(out, "rules.connectivity.severity", connectivity);
        let authentication = &self.authentication.severity;
        severity(out, "rules.authentication.severity", authentication);
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
        at_least_one(out, "rules.errors.threshold", self.errors.threshold);
        severity(out, "rules.errors.severity", &self.errors.severity);
        let after_failures = u64::from(self.unreachable.after_failures);
        at_least_one(out, "rules.unreachable.after_failures", after_failures);
        severity(
            out,
            "rules.unreachable.severity",
            &self.unreachable.severity,
        );
        self.flapping.check(out);
        self.check_runbooks(out);
    }

    /// Every rule's `runbook_url`: known placeholders, and a URL.
    fn check_runbooks(&self, out: &mut Vec<Problem>) {
        let tables: [(&str, &dyn RuleSettings); 7] = [
            ("connectivity", &self.connectivity),
            ("authentication", &self.authentication),
            ("sync_stale", &self.sync_stale),
            ("sync_failed", &self.sync_failed),
            ("errors", &self.errors),
            ("unreachable", &self.unreachable),
            ("flapping", &self.flapping),
        ];
        let flapping = [
            &runbook::LABELS[..],
            std::slice::from_ref(&runbook::FLAPPING_LABEL),
        ]
        .concat();
        for (name, rule) in tables {
            let labels = if name == "flapping" {
                &flapping[..]
            } else {
                &runbook::LABELS[..]
            };
            let path = format!("rules.{name}.runbook_url");
            runbook::check(out, &path, rule.runbook_url(), labels);
        }
    }
}

impl FlappingRule {
    /// `[rules.flapping]`: the window's bounds, and 0 < low < high <= 1.
    fn check(&self, out: &mut Vec<Problem>) {
        if !FLAP_WINDOW.contains(&self.window) {
            out.push(Problem::new(
                "rules.flapping.window",
                format!(
                    "must be between {} and {} sweeps, got {}",
                    FLAP_WINDOW.start(),
                    FLAP_WINDOW.end(),
                    self.window
                ),
            ));
        }
        // Written so that NaN fails every comparison and is refused. The share is at most 1
        // and flapping starts strictly above `high`: a `high` of 1 could never be reached.
        if !(self.high > 0.0 && self.high < 1.0) {
            out.push(Problem::new(
                "rules.flapping.high",
                format!("must be more than 0 and less than 1, got {}", self.high),
            ));
        }
        if !(self.low > 0.0 && self.low < self.high) {
            out.push(Problem::new(
                "rules.flapping.low",
                format!(
                    "must be more than 0 and less than rules.flapping.high ({}), got {}",
                    self.high, self.low
                ),
            ));
        }
        severity(out, "rules.flapping.severity", &self.severity);
    }
}
