//! Alertmanager's model of an alert, shared by the two kinds that speak it (`webhook` and
//! `alertmanager`): the label-set fingerprint, labels and annotations without empty values,
//! when an alert started, its status word, and where it can be looked at.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::rules::{Alert, AlertState};

use super::RenderContext;

/// The `alertname` of the synthetic alert that stands for a test notification in the
/// `webhook` and `alertmanager` payloads (which have no place for a message of their own).
pub(crate) const TEST_ALERTNAME: &str = "InventoryMonitorTest";

/// The alert's fingerprint, as 16 lowercase hex digits: the Prometheus label-set
/// fingerprint (what Alertmanager computes) of the alert's *identifying* labels only,
/// `alertname` and `profile_id` (and `condition` on `ProfileFlapping`, one per flapping
/// condition), so that it stays the same when the profile is renamed, moves organization or
/// changes severity, and differs between profiles.
///
/// As in Alertmanager, a label with an empty value is no label at all: `InventoryApiDown`
/// (no profile) is fingerprinted on `alertname` alone.
pub fn fingerprint(alert: &Alert) -> String {
    let id = alert.key.profile_id.map(|id| id.to_string());
    let mut labels = vec![("alertname", alert.key.alertname.as_str())];
    if let Some(id) = id.as_deref() {
        labels.push(("profile_id", id));
    }
    if let Some(condition) = alert.key.condition {
        labels.push(("condition", condition.as_str()));
    }
    format!("{:016x}", label_set_fingerprint(&labels))
}

/// Prometheus' `LabelSet.Fingerprint` (prometheus/common `model`): FNV-1a 64 over the
/// labels sorted by name, each as name, `0xff`, value, `0xff`.
pub(crate) fn label_set_fingerprint(labels: &[(&str, &str)]) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    const SEPARATOR: u8 = 0xff;
    let mut sorted = labels.to_vec();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (name, value) in sorted {
        add(name.as_bytes());
        add(&[SEPARATOR]);
        add(value.as_bytes());
        add(&[SEPARATOR]);
    }
    hash
}

/// The labels of `alert` as Alertmanager keeps them: empty values dropped.
pub(crate) fn am_labels(alert: &Alert) -> BTreeMap<&'static str, String> {
    let mut labels = alert.labels();
    labels.retain(|_, v| !v.is_empty());
    labels
}

/// The annotations of `alert`, empty ones dropped.
pub(crate) fn am_annotations(alert: &Alert) -> BTreeMap<&'static str, String> {
    let mut annotations = alert.annotations();
    annotations.retain(|_, v| !v.is_empty());
    annotations
}

/// When an alert started, for Alertmanager: when it started firing (as Prometheus sends
/// it), else when it became active.
pub(crate) fn starts_at(alert: &Alert) -> SystemTime {
    alert.firing_since.unwrap_or(alert.active_since)
}

/// `resolved` or `firing` (a pending alert in a notification counts as firing).
pub(crate) fn am_status(alert: &Alert) -> &'static str {
    if alert.state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    }
}

/// Where an alert can be looked at: our status page, or "" when our URL is unknown.
pub(crate) fn generator_url(ctx: &RenderContext<'_>) -> String {
    let base = ctx.external_url.trim_end_matches('/');
    if base.is_empty() {
        String::new()
    } else {
        format!("{base}/api/v1/status")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_set_fingerprint_matches_prometheus() {
        // The vectors of prometheus/common's model tests.
        assert_eq!(label_set_fingerprint(&[]), 14_695_981_039_346_656_037);
        assert_eq!(
            label_set_fingerprint(&[("name", "garland, briggs"), ("fear", "love is not enough")]),
            5_799_056_148_416_392_346
        );
    }

    #[test]
    fn each_flapping_condition_of_a_profile_has_its_own_fingerprint() {
        use crate::rules::{AlertKey, AlertState};
        use crate::vocabulary::AlertName::{
            ProfileAuthenticationFailing, ProfileConnectivityDegraded,
        };
        let alert = |key: AlertKey| Alert {
            key,
            severity: "warning".into(),
            profile_name: "p".into(),
            organization: "".into(),
            summary: "".into(),
            description: "".into(),
            state: AlertState::Firing,
            active_since: std::time::SystemTime::UNIX_EPOCH,
            firing_since: None,
            resolved_at: None,
            suppressed_by: Vec::new(),
            runbook_url: String::new(),
        };
        let conn = fingerprint(&alert(AlertKey::flapping(1, ProfileConnectivityDegraded)));
        let auth = fingerprint(&alert(AlertKey::flapping(1, ProfileAuthenticationFailing)));
        assert_ne!(conn, auth);
        let expected = label_set_fingerprint(&[
            ("alertname", "ProfileFlapping"),
            ("profile_id", "1"),
            ("condition", "ProfileConnectivityDegraded"),
        ]);
        assert_eq!(conn, format!("{expected:016x}"));
        // Other alerts keep the fingerprint they always had.
        let plain = fingerprint(&alert(AlertKey::profile(ProfileConnectivityDegraded, 1)));
        let before = label_set_fingerprint(&[
            ("alertname", "ProfileConnectivityDegraded"),
            ("profile_id", "1"),
        ]);
        assert_eq!(plain, format!("{before:016x}"));
    }
}
