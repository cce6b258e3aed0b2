//! The status document (`/api/v1/status` and `once --output json`): the last sweep, every
//! profile's judged health, pending and firing alerts (a firing one that something mutes
//! shows as `suppressed`, with what mutes it: README, Suppression). Built from what a sweep left behind
//! (a [`Snapshot`] and the judge's alerts) and nothing else, so the HTTP server and the
//! `once` report can both serialise it without knowing who produced it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;

use crate::clock::{from_unix_seconds, rfc3339};
use crate::rules::{Alert, AlertState, Judge};
use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use crate::vocabulary::Suppression;

/// What `/api/v1/status` is made of, published after every sweep and serialised on
/// request ([`StatusSource::render`]).
#[derive(Debug)]
pub struct StatusSource {
    /// The sweep's snapshot (the one the daemon keeps anyway, shared).
    pub snapshot: Arc<Snapshot>,
    /// Pending and firing alerts as judged after the sweep, with what suppresses each: the
    /// judge's own alerts, shared, except those a suppressor mutes (copies of the judge's
    /// with their `suppressed_by`).
    pub alerts: Vec<Arc<Alert>>,
    /// When the sweep was judged: the document's `generated_at`.
    pub now: SystemTime,
}

impl StatusSource {
    /// The status document as JSON, in one buffer.
    pub fn render(&self) -> Bytes {
        let alerts: Vec<&Alert> = self.alerts.iter().map(|a| &**a).collect();
        status_json(&self.snapshot, &alerts, self.now)
    }

    /// Writes the status document as JSON to `out` (the server streams it: a document of
    /// 100,000 profiles is tens of megabytes).
    pub fn write_to<W: std::io::Write>(&self, out: W) -> serde_json::Result<()> {
        let alerts: Vec<&Alert> = self.alerts.iter().map(|a| &**a).collect();
        write_status(&self.snapshot, &alerts, self.now, out)
    }
}

/// Serialises the status document of `snapshot` with the judge's alerts as of `now`.
pub fn status_document(snapshot: &Snapshot, judge: &Judge, now: SystemTime) -> Bytes {
    let alerts: Vec<&Alert> = judge.alerts().collect();
    status_json(snapshot, &alerts, now)
}

/// The names of the alerts of each profile, by profile id, in the order given (alerts
/// about no profile, such as `InventoryApiDown`, are left out).
pub fn alerts_per_profile<'a>(
    alerts: impl IntoIterator<Item = &'a Alert>,
) -> BTreeMap<u64, Vec<&'static str>> {
    let mut per_profile: BTreeMap<u64, Vec<&'static str>> = BTreeMap::new();
    for a in alerts {
        if let Some(id) = a.key.profile_id {
            per_profile
                .entry(id)
                .or_default()
                .push(a.key.alertname.as_str());
        }
    }
    per_profile
}

fn status_json(snapshot: &Snapshot, alerts: &[&Alert], now: SystemTime) -> Bytes {
    // Sized from the profile count: a buffer doubling its way to tens of megabytes would
    // briefly hold one and a half times the document.
    let estimate = 4096 + snapshot.profiles.len() * 480 + alerts.len() * 512;
    let mut out = Vec::with_capacity(estimate);
    match write_status(snapshot, alerts, now, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(e) => Bytes::from(format!(r#"{{"error":"cannot serialise status: {e}"}}"#)),
    }
}

/// Writes the status document of `snapshot` with `alerts` as of `now` to `out`.
fn write_status<W: std::io::Write>(
    snapshot: &Snapshot,
    alerts: &[&Alert],
    now: SystemTime,
    out: W,
) -> serde_json::Result<()> {
    let per_profile = alerts_per_profile(alerts.iter().copied());
    let doc = StatusDoc {
        version: crate::VERSION,
        ready: true,
        generated_at: rfc3339(now),
        shard: snapshot.shard,
        last_sweep: SweepStatus {
            started_at: rfc3339(snapshot.started_at),
            duration_seconds: snapshot.duration.as_secs_f64(),
            outcome: &snapshot.list,
            profiles: snapshot.profiles.len(),
            details_read: snapshot.profiles.iter().filter(|e| e.up).count(),
        },
        profiles: ProfilesStatus {
            entries: &snapshot.profiles,
            alerts: &per_profile,
        },
        alerts: AlertsStatus(alerts),
    };
    serde_json::to_writer(out, &doc)
}

/// `/api/v1/status`: the last sweep, every profile's judged health, pending and firing alerts.
#[derive(Serialize)]
struct StatusDoc<'a> {
    /// The monitor's version.
    version: &'static str,
    /// Always true: a document exists only once a sweep has been published.
    ready: bool,
    /// When the sweep was judged.
    generated_at: String,
    /// The shard this replica watches.
    shard: crate::shard::Shard,
    /// How the last sweep went.
    last_sweep: SweepStatus<'a>,
    /// Every profile of the shard.
    profiles: ProfilesStatus<'a>,
    /// Pending and firing alerts.
    alerts: AlertsStatus<'a>,
}

/// Every profile's entry, serialised one by one as they are built (100,000 of them would
/// make a sizeable vector only to be written out).
struct ProfilesStatus<'a> {
    /// The snapshot's profiles.
    entries: &'a [ProfileEntry],
    /// Alert names per profile id.
    alerts: &'a BTreeMap<u64, Vec<&'static str>>,
}

impl Serialize for ProfilesStatus<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.entries
                .iter()
                .map(|e| profile_status(e, self.alerts.get(&e.id).map_or(&[], Vec::as_slice))),
        )
    }
}

/// The alerts, serialised one by one likewise.
struct AlertsStatus<'a>(&'a [&'a Alert]);

impl Serialize for AlertsStatus<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|a| alert_status(a)))
    }
}

/// The last sweep, in the document.
#[derive(Serialize)]
struct SweepStatus<'a> {
    /// When it started.
    started_at: String,
    /// How long it took.
    duration_seconds: f64,
    /// How the list walk ended (`outcome` and its details, flattened).
    #[serde(flatten)]
    outcome: &'a ListOutcome,
    /// Profiles in the snapshot.
    profiles: usize,
    /// Profiles whose detail was read in this sweep.
    details_read: usize,
}

/// One profile, in the document.
#[derive(Serialize)]
struct ProfileStatus<'a> {
    /// Profile id.
    id: u64,
    /// Its name.
    name: &'a str,
    /// Its organization.
    organization: Option<&'a str>,
    /// Whether its detail was read in this sweep.
    up: bool,
    /// Why the detail could not be read.
    error: Option<&'a str>,
    /// Failed detail reads in a row.
    consecutive_failures: u32,
    /// The API revision of the detail read in this sweep.
    revision: Option<crate::model::ApiRevision>,
    /// The profile type (from the last detail read, even an older one).
    profile_type: Option<&'a str>,
    /// The profile status (from the last detail read, even an older one).
    status: Option<&'a str>,
    /// Connectivity, from this sweep's detail only.
    connectivity: Option<&'a str>,
    /// Authentication, from this sweep's detail only.
    authentication: Option<&'a str>,
    /// Errors in the last 24 hours, from this sweep's detail only.
    error_count_24h: Option<u64>,
    /// When it last synchronised, from this sweep's detail only.
    last_sync: Option<String>,
    /// How its last synchronisation ended, from this sweep's detail only.
    last_sync_status: Option<&'a str>,
    /// The names of its pending and firing alerts.
    alerts: &'a [&'static str],
}

/// One alert, in the document.
#[derive(Serialize)]
struct AlertStatus<'a> {
    /// Its rule.
    alertname: &'static str,
    /// `ProfileFlapping` only: the condition that flaps (its `condition` label).
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<&'static str>,
    /// `pending`, `firing`, or `suppressed` (firing, but not announced: README,
    /// Suppression), as Alertmanager's `status.state` says.
    state: &'static str,
    /// Its severity.
    severity: &'a str,
    /// The profile it is about, if any.
    profile_id: Option<u64>,
    /// That profile's name.
    profile_name: &'a str,
    /// That profile's organization.
    organization: &'a str,
    /// One line.
    summary: &'a str,
    /// The details.
    description: &'a str,
    /// Since when its condition has held.
    active_since: String,
    /// Since when it has been firing.
    firing_since: Option<String>,
    /// What mutes it: `{"kind":"silence","id":...}`, `{"kind":"maintenance","name":...}`,
    /// `{"kind":"flapping"}`; empty when nothing does.
    suppressed_by: &'a [Suppression],
}

fn profile_status<'a>(e: &'a ProfileEntry, alerts: &'a [&'static str]) -> ProfileStatus<'a> {
    let fresh = e.fresh();
    ProfileStatus {
        id: e.id,
        name: &e.name,
        organization: e.organization.as_deref(),
        up: e.up,
        error: e.error.as_deref(),
        consecutive_failures: e.consecutive_failures,
        revision: fresh.map(|p| p.revision),
        profile_type: e.profile.as_deref().and_then(|p| p.profile_type.as_deref()),
        status: e.profile.as_deref().and_then(|p| p.status.as_deref()),
        connectivity: fresh.and_then(|p| p.connectivity.as_deref()),
        authentication: fresh.and_then(|p| p.authentication.as_deref()),
        error_count_24h: fresh.and_then(|p| p.error_count_24h),
        last_sync: fresh
            .and_then(|p| p.last_sync)
            .map(|s| rfc3339(from_unix_seconds(s))),
        last_sync_status: fresh.and_then(|p| p.last_sync_status.as_deref()),
        alerts,
    }
}

fn alert_status<'a>(a: &'a Alert) -> AlertStatus<'a> {
    AlertStatus {
        alertname: a.key.alertname.as_str(),
        condition: a.key.condition.map(|c| c.as_str()),
        state: match a.state {
            AlertState::Pending => "pending",
            AlertState::Firing if a.suppressed_by.is_empty() => "firing",
            AlertState::Firing => "suppressed",
            AlertState::Resolved => "resolved",
        },
        severity: &a.severity,
        profile_id: a.key.profile_id,
        profile_name: &a.profile_name,
        organization: &a.organization,
        summary: &a.summary,
        description: &a.description,
        active_since: rfc3339(a.active_since),
        firing_since: a.firing_since.map(rfc3339),
        suppressed_by: &a.suppressed_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::AlertKey;
    use crate::vocabulary::AlertName;
    use serde_json::json;

    fn alert(state: AlertState, suppressed_by: Vec<Suppression>) -> Alert {
        Alert {
            key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, 7),
            severity: "critical".into(),
            profile_name: "legacy-erp".into(),
            organization: "North".into(),
            summary: "".into(),
            description: "".into(),
            state,
            active_since: SystemTime::UNIX_EPOCH,
            firing_since: None,
            resolved_at: None,
            suppressed_by,
            runbook_url: String::new(),
        }
    }

    fn shown(a: &Alert) -> serde_json::Value {
        serde_json::to_value(alert_status(a)).expect("serialises")
    }

    #[test]
    fn a_firing_alert_something_mutes_shows_as_suppressed_with_what_mutes_it() {
        let by = vec![
            Suppression::Silence { id: "3f1c".into() },
            Suppression::Maintenance {
                name: "erp-weekly".into(),
            },
            Suppression::Flapping,
        ];
        let doc = shown(&alert(AlertState::Firing, by.clone()));
        assert_eq!(doc["state"], "suppressed");
        assert_eq!(
            doc["suppressed_by"],
            json!([
                {"kind": "silence", "id": "3f1c"},
                {"kind": "maintenance", "name": "erp-weekly"},
                {"kind": "flapping"}
            ])
        );
        let pending = shown(&alert(AlertState::Pending, by));
        assert_eq!(pending["state"], "pending", "pending stays pending");
        let firing = shown(&alert(AlertState::Firing, Vec::new()));
        assert_eq!(firing["state"], "firing");
        assert_eq!(firing["suppressed_by"], json!([]));
    }
}
