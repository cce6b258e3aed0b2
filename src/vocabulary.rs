//! The closed sets of names that operators write in the configuration and that alerts carry:
//! [`AlertName`] and [`Severity`], and [`Named`], a name as read from a file.
//!
//! A leaf module: both `config` (which validates names) and `rules` (which judges with them)
//! import it, and it imports neither, so neither imports the other back.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A closed set of names, each spelled one way in files, labels and messages.
pub trait Vocabulary: Copy + 'static {
    /// Every member, in the order messages list them.
    const ALL: &'static [Self];

    /// How the member is spelled.
    fn as_str(self) -> &'static str;

    /// The member spelled exactly `s`, or `None`.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.as_str() == s)
    }
}

/// The alerts of the README's Alerts table.
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
    /// A condition of the profile keeps changing (README, Flapping); label `condition`
    /// names it.
    ProfileFlapping,
}

impl AlertName {
    /// Every alertname, in key order.
    pub const ALL: [AlertName; 8] = [
        AlertName::ProfileConnectivityDegraded,
        AlertName::ProfileAuthenticationFailing,
        AlertName::ProfileSyncStale,
        AlertName::ProfileSyncFailing,
        AlertName::ProfileErrorsHigh,
        AlertName::ProfileUnreachable,
        AlertName::InventoryApiDown,
        AlertName::ProfileFlapping,
    ];

    /// The `alertname` label value, e.g. `ProfileConnectivityDegraded`. `const` so that
    /// string tables (`config::ALERTNAMES`) are derived from it rather than written again.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertName::ProfileConnectivityDegraded => "ProfileConnectivityDegraded",
            AlertName::ProfileAuthenticationFailing => "ProfileAuthenticationFailing",
            AlertName::ProfileSyncStale => "ProfileSyncStale",
            AlertName::ProfileSyncFailing => "ProfileSyncFailing",
            AlertName::ProfileErrorsHigh => "ProfileErrorsHigh",
            AlertName::ProfileUnreachable => "ProfileUnreachable",
            AlertName::InventoryApiDown => "InventoryApiDown",
            AlertName::ProfileFlapping => "ProfileFlapping",
        }
    }

    /// The alertname spelled exactly as [`AlertName::as_str`] does, or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        <Self as Vocabulary>::parse(s)
    }
}

impl Vocabulary for AlertName {
    const ALL: &'static [Self] = &AlertName::ALL;

    fn as_str(self) -> &'static str {
        AlertName::as_str(self)
    }
}

/// How urgent an alert is: the `severity` label, and what `match_severity` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Someone must act now.
    Critical,
    /// Someone should look soon.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// Every severity, most urgent first.
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

    /// The `severity` label value, e.g. `critical`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl Vocabulary for Severity {
    const ALL: &'static [Self] = &Severity::ALL;

    fn as_str(self) -> &'static str {
        Severity::as_str(self)
    }
}

impl fmt::Display for AlertName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member of vocabulary `T` as written in a file: a known one, or the unknown text.
///
/// Reading an unknown name is not a parse error: validation reports it together with every
/// other problem of the file, in file order, rather than stopping at the first. `Debug`
/// shows the text as written, as it did when these fields were strings.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Named<T> {
    /// A member of the vocabulary.
    Known(T),
    /// Text naming no member (refused by validation).
    Unknown(String),
}

impl<T: Vocabulary> Named<T> {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        match self {
            Named::Known(member) => member.as_str(),
            Named::Unknown(text) => text,
        }
    }

    /// The member, unless the text names none.
    pub fn known(&self) -> Option<T> {
        match self {
            Named::Known(member) => Some(*member),
            Named::Unknown(_) => None,
        }
    }

    /// The members' spellings joined for a message: `a, b, c` or, with `last`, `a, b or c`.
    pub fn choices(last: &str) -> String {
        let names: Vec<&str> = T::ALL.iter().map(|m| m.as_str()).collect();
        match names.split_last() {
            Some((tail, head)) if !head.is_empty() && !last.is_empty() => {
                format!("{}{last}{tail}", head.join(", "))
            }
            _ => names.join(", "),
        }
    }
}

impl<T> From<T> for Named<T> {
    fn from(member: T) -> Self {
        Named::Known(member)
    }
}

impl<T: Vocabulary> From<&str> for Named<T> {
    fn from(text: &str) -> Self {
        T::parse(text).map_or_else(|| Named::Unknown(text.to_string()), Named::Known)
    }
}

impl<T: Vocabulary> PartialEq<str> for Named<T> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<T: Vocabulary> PartialEq<&str> for Named<T> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<T: Vocabulary> PartialEq<String> for Named<T> {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl<T: Vocabulary> fmt::Debug for Named<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<T: Vocabulary> fmt::Display for Named<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: Vocabulary> Serialize for Named<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de, T: Vocabulary> Deserialize<'de> for Named<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through `String`, so a value of the wrong type reads "expected a string" as before.
        String::deserialize(d).map(|text| Named::from(text.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_written() {
        for name in AlertName::ALL {
            assert_eq!(Named::from(name.as_str()), Named::Known(name));
        }
        for severity in Severity::ALL {
            assert_eq!(
                serde_json::to_string(&severity).expect("serialises"),
                format!("\"{severity}\"")
            );
            assert_eq!(
                Named::<Severity>::from(severity.as_str()),
                Named::Known(severity)
            );
        }
        let odd: Named<Severity> = "Critical".into();
        assert_eq!(odd, Named::Unknown("Critical".to_string()));
        assert_eq!(odd.known(), None);
        assert_eq!(odd, "Critical");
    }

    #[test]
    fn choices_list_every_member() {
        assert_eq!(
            Named::<Severity>::choices(" or "),
            "critical, warning or info"
        );
        assert_eq!(
            Named::<AlertName>::choices(""),
            "ProfileConnectivityDegraded, ProfileAuthenticationFailing, ProfileSyncStale, \
             ProfileSyncFailing, ProfileErrorsHigh, ProfileUnreachable, InventoryApiDown, \
             ProfileFlapping"
        );
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
}

/// What keeps a firing alert from being announced (README, Silences): a silence, a
/// maintenance window, or flap detection holding the condition's own alert back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Suppression {
    /// A silence made through the Alertmanager API or `inventory-monitor silence`.
    Silence {
        /// The silence's id.
        id: String,
    },
    /// A maintenance window of the configuration (`[[alerting.maintenance]]`).
    Maintenance {
        /// The window's `name`.
        name: String,
    },
    /// The condition is flapping: one `ProfileFlapping` alert speaks for it.
    Flapping,
}

impl fmt::Display for Suppression {
    /// `silence <id>`, `maintenance <name>` or `flapping`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Suppression::Silence { id } => write!(f, "silence {id}"),
            Suppression::Maintenance { name } => write!(f, "maintenance {name}"),
            Suppression::Flapping => f.write_str("flapping"),
        }
    }
}
