//! The per-profile metrics of any snapshot (arbitrary names, organizations, states and
//! numbers: quotes, backslashes, newlines, unicode) render into a body that the strict
//! exposition parser reads, with every label value as the profile had it, cut to
//! `api.max_label_length`.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arbitrary::Arbitrary;
use inventory_monitor::metrics::{truncate_label_value, ProfileMetrics};
use inventory_monitor::model::Profile;
use inventory_monitor::shard::Shard;
use inventory_monitor::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use inventory_monitor_testkit::exposition::{self, Family};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `api.max_label_length` is validated to 16..=65536; 16 plus this byte.
    max_label_length: u8,
    profiles: Vec<InputProfile>,
}

#[derive(Arbitrary, Debug)]
struct InputProfile {
    id: u16,
    name: String,
    organization: Option<String>,
    up: bool,
    profile_type: Option<String>,
    status: Option<String>,
    sync_frequency: Option<String>,
    connectivity: Option<String>,
    authentication: Option<String>,
    last_sync: Option<f64>,
    error_count_24h: Option<u64>,
}

fn label<'a>(families: &'a [Family], metric: &str, id: &str, name: &str) -> Option<&'a str> {
    exposition::matching(families, metric, &[("profile_id", id)])
        .first()
        .and_then(|s| s.label(name))
}

fuzz_target!(|input: Input| {
    let max = 16 + usize::from(input.max_label_length);
    let entries: Vec<ProfileEntry> = input
        .profiles
        .iter()
        .map(|p| {
            let profile = Profile {
                organization: p.organization.clone(),
                profile_type: p.profile_type.clone(),
                status: p.status.clone(),
                sync_frequency: p.sync_frequency.clone(),
                connectivity: p.connectivity.clone(),
                authentication: p.authentication.clone(),
                last_sync: p.last_sync,
                error_count_24h: p.error_count_24h,
                ..Profile::unknown(u64::from(p.id), p.name.clone())
            };
            ProfileEntry {
                id: u64::from(p.id),
                name: p.name.clone(),
                organization: p.organization.clone(),
                profile: Some(Arc::new(profile)),
                up: p.up,
                error: None,
                consecutive_failures: 0,
            }
        })
        .collect();
    let snapshot = Snapshot {
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        duration: Duration::from_secs(1),
        list: ListOutcome::Complete,
        listed: Some(entries.len()),
        profiles: entries,
        shard: Shard::default(),
    };
    let rendered = ProfileMetrics::new()
        .with_max_label_length(max)
        .render(&snapshot, &[]);
    let text = std::str::from_utf8(rendered.plain()).expect("the body is UTF-8");
    let families = exposition::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    // The first profile of each id is the one rendered.
    let mut seen = std::collections::HashSet::new();
    let cut = |v: &str| truncate_label_value(v, max).into_owned();
    for p in input.profiles.iter().filter(|p| seen.insert(p.id)) {
        let id = p.id.to_string();
        let up = "inventory_profile_up";
        assert_eq!(
            label(&families, up, &id, "profile_name"),
            Some(&*cut(&p.name))
        );
        let org = p.organization.as_deref().unwrap_or("");
        assert_eq!(label(&families, up, &id, "organization"), Some(&*cut(org)));
        let info = "inventory_profile_info";
        for (name, value) in [
            ("profile_type", &p.profile_type),
            ("status", &p.status),
            ("sync_frequency", &p.sync_frequency),
        ] {
            let value = value.as_deref().unwrap_or("");
            assert_eq!(label(&families, info, &id, name), Some(&*cut(value)));
        }
        let state = exposition::matching(
            &families,
            "inventory_profile_health_state",
            &[("profile_id", &id), ("check", "connectivity")],
        );
        match (&p.connectivity, p.up) {
            (Some(c), true) => {
                let got = state.first().and_then(|s| s.label("state"));
                assert!(got == Some(&*cut(c)) || got == Some("other"), "{got:?}");
            }
            _ => assert!(state.is_empty()),
        }
        let last_sync = exposition::find(
            &families,
            "inventory_profile_last_sync_timestamp_seconds",
            &[("profile_id", &id)],
        );
        match (p.last_sync, p.up) {
            (Some(t), true) => {
                let got = last_sync.expect("last_sync rendered");
                assert!(got == t || (got.is_nan() && t.is_nan()), "{got} != {t}");
            }
            _ => assert_eq!(last_sync, None),
        }
    }
    assert_eq!(
        exposition::samples_named(&families, "inventory_profile_up").len(),
        seen.len()
    );
});
