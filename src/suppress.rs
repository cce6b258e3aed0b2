//! What can keep a firing alert quiet (README, Silences and Maintenance windows): the
//! [`Suppressor`] trait that silences and maintenance windows implement, and which the daemon
//! asks, after judging, about every pending or firing alert. A suppressed alert is still
//! judged and exported; the notifier holds it back (README, Silences).
//!
//! Imports only the leaves `matchers`' callers share: labels are looked up by name.

use std::time::SystemTime;

use crate::vocabulary::Suppression;

/// The labels of one alert, looked up by name (`alertname`, `severity`, `profile_id`,
/// `profile_name`, `organization`, and `condition` on `ProfileFlapping`).
pub trait Labels {
    /// The value of label `name`, or `None` when the alert has no such label.
    fn label(&self, name: &str) -> Option<&str>;
}

impl Labels for std::collections::BTreeMap<&'static str, String> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Labels for std::collections::BTreeMap<String, String> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Labels for Vec<(&str, &str)> {
    fn label(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// A silence or maintenance window in force, as the status page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InForce {
    /// Which silence or window.
    pub what: Suppression,
    /// Its matchers, as written: `{organization="Legacy Systems"}`.
    pub matchers: String,
    /// When it started (this occurrence, for a recurring window), if known.
    pub starts_at: Option<SystemTime>,
    /// When it ends (this occurrence), if known.
    pub ends_at: Option<SystemTime>,
    /// Who made it (silences), "" otherwise.
    pub created_by: String,
    /// Why (a silence's comment), "" otherwise.
    pub comment: String,
}

/// Something that can mute alerts: the silences, the maintenance windows.
pub trait Suppressor: Send + Sync {
    /// Everything of this suppressor that mutes an alert with these labels at `now`
    /// (several silences may match one alert; all are named), or nothing.
    fn suppressions(&self, labels: &dyn Labels, now: SystemTime) -> Vec<Suppression>;

    /// The silences or windows in force at `now`, for people to read (the status page).
    fn in_force(&self, now: SystemTime) -> Vec<InForce>;
}

/// Every suppression of every suppressor, in the suppressors' order.
pub fn suppressions_of(
    suppressors: &[&dyn Suppressor],
    labels: &dyn Labels,
    now: SystemTime,
) -> Vec<Suppression> {
    suppressors
        .iter()
        .flat_map(|s| s.suppressions(labels, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matchers::{all_match, parse_list, Matcher};

    struct Window(Vec<Matcher>);

    impl Suppressor for Window {
        fn suppressions(&self, labels: &dyn Labels, _now: SystemTime) -> Vec<Suppression> {
            if all_match(&self.0, |n| labels.label(n)) {
                vec![Suppression::Maintenance {
                    name: "w".to_string(),
                }]
            } else {
                Vec::new()
            }
        }

        fn in_force(&self, _now: SystemTime) -> Vec<InForce> {
            Vec::new()
        }
    }

    #[test]
    fn suppressors_are_asked_in_order() {
        let legacy = Window(parse_list(r#"organization="Legacy""#).expect("matchers"));
        let critical = Window(parse_list("severity=critical").expect("matchers"));
        let labels = vec![("organization", "Legacy"), ("severity", "warning")];
        let found = suppressions_of(&[&legacy, &critical], &labels, SystemTime::UNIX_EPOCH);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].to_string(), "maintenance w");
    }
}
