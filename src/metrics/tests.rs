use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use inventory_monitor_testkit::exposition::{self, find, matching, parse, Family};

use super::section::INFLATE_CHUNK;
use super::*;
use crate::model::{ApiRevision, Profile};
use crate::shard::Shard;
use crate::snapshot::{ApiFailure, ListOutcome, ProfileEntry, Snapshot};

/// The per-profile families, in their order (`inventory_profile_` + these).
const PER_PROFILE_FAMILIES: [&str; 12] = [
    "info",
    "up",
    "connectivity_healthy",
    "authentication_valid",
    "health_state",
    "errors_24h",
    "last_sync_timestamp_seconds",
    "last_sync_success",
    "sync_records",
    "active",
    "alert_firing",
    "flapping",
];

/// [`PER_PROFILE_FAMILIES`] with their prefix.
fn per_profile_families() -> Vec<String> {
    PER_PROFILE_FAMILIES
        .iter()
        .map(|n| format!("inventory_profile_{n}"))
        .collect()
}

/// The families describing this sweep's health read: absent when it is unknown.
fn health_families() -> Vec<String> {
    per_profile_families()[2..9].to_vec()
}

const HOSTILE_NAME: &str = "evil \"quoted\" \\ name\nnext_line{x=\"1\"} 9";

fn full(id: u64, name: &str, connectivity: &str, authentication: &str) -> Profile {
    Profile {
        organization: Some("Main Warehouse".into()),
        profile_type: Some("rest_api".into()),
        status: Some("active".into()),
        authentication_type: Some("bearer".into()),
        sync_frequency: Some("hourly".into()),
        last_sync: Some(1_767_225_000.5),
        last_sync_status: Some("success".into()),
        sync_record_count: Some(1234),
        connectivity: Some(connectivity.into()),
        authentication: Some(authentication.into()),
        last_error: Some("password=hunter2 rejected".into()),
        error_count_24h: Some(0),
        ..Profile::unknown(id, name)
    }
}

fn entry(p: Profile, up: bool) -> ProfileEntry {
    ProfileEntry {
        id: p.id,
        name: p.name.as_str().into(),
        organization: p.organization.as_deref().map(Into::into),
        profile: Some(Arc::new(p)),
        up,
        error: (!up).then(|| "timeout".to_string()),
        consecutive_failures: u32::from(!up),
    }
}

fn snapshot(profiles: Vec<ProfileEntry>) -> Snapshot {
    Snapshot {
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        duration: Duration::from_millis(2500),
        list: ListOutcome::Complete,
        listed: Some(profiles.len()),
        profiles,
        gone: Vec::new(),
        shard: Shard::default(),
    }
}

/// The fixture every rendering test starts from.
fn fixture() -> Snapshot {
    let healthy = full(1, "alpha", "healthy", "valid");
    let mut degraded = full(2, "beta", "degraded", "expired");
    degraded.error_count_24h = Some(17);
    degraded.last_sync_status = Some("failed".into());
    let flaky = full(3, "gamma", "flaky", "valid");
    let null_health = Profile {
        organization: Some("Main Warehouse".into()),
        status: Some("active".into()),
        ..Profile::unknown(4, "delta")
    };
    let legacy = Profile {
        revision: ApiRevision::Legacy,
        profile_type: Some("database".into()),
        status: Some("active".into()),
        connectivity: Some("unhealthy".into()),
        last_tested: Some(1_767_225_500.0),
        ..Profile::unknown(5, "epsilon")
    };
    let mut inactive = full(6, "zeta", "healthy", "valid");
    inactive.status = Some("inactive".into());
    let hostile = full(7, HOSTILE_NAME, "healthy", "valid");
    let unreachable = full(8, "eta", "healthy", "valid");
    let never_read = ProfileEntry {
        id: 9,
        name: "theta".into(),
        organization: None,
        profile: None,
        up: false,
        error: Some("timeout".into()),
        consecutive_failures: 4,
    };
    snapshot(vec![
        entry(healthy, true),
        entry(degraded, true),
        entry(flaky, true),
        entry(null_health, true),
        entry(legacy, true),
        entry(inactive, true),
        entry(hostile, true),
        entry(unreachable, false),
        never_read,
    ])
}

fn render_parsed(pm: &mut ProfileMetrics, snap: &Snapshot, firing: &[FiringLabel]) -> Vec<Family> {
    let rendered = pm.render(snap, firing.to_vec());
    let text = std::str::from_utf8(rendered.plain()).expect("utf-8");
    let families = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    assert_eq!(rendered.series(), samples);
    families
}

fn id(n: u64) -> String {
    n.to_string()
}

fn value(families: &[Family], name: &str, profile: u64) -> Option<f64> {
    let id = id(profile);
    let hits = matching(families, name, &[("profile_id", &id)]);
    assert!(hits.len() <= 1, "{name} for {profile}: {hits:?}");
    hits.first().map(|s| s.value)
}

/// [`value`] of `inventory_profile_{family}`.
fn value_of(families: &[Family], family: &str, profile: u64) -> Option<f64> {
    value(families, &format!("inventory_profile_{family}"), profile)
}

#[test]
fn every_family_has_help_and_gauge_type_in_a_fixed_order() {
    let families = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
    let names: Vec<_> = families.iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, per_profile_families());
    for f in &families {
        assert!(
            f.help.as_deref().is_some_and(|h| !h.is_empty()),
            "{}",
            f.name
        );
        assert_eq!(f.kind.as_deref(), Some("gauge"), "{}", f.name);
    }
    // Even with no profiles at all.
    let empty = render_parsed(&mut ProfileMetrics::new(), &snapshot(vec![]), &[]);
    assert_eq!(
        empty.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        per_profile_families()
    );
    assert!(empty.iter().all(|f| f.samples.is_empty()));
}

#[test]
fn healthy_profile_has_every_series() {
    let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
    let info = matching(&f, "inventory_profile_info", &[("profile_id", "1")]);
    assert_eq!(info.len(), 1);
    assert_eq!(
        info[0].labels,
        [
            ("profile_id", "1"),
            ("profile_name", "alpha"),
            ("organization", "Main Warehouse"),
            ("profile_type", "rest_api"),
            ("status", "active"),
            ("authentication_type", "bearer"),
            ("sync_frequency", "hourly"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(info[0].value, 1.0);
    for (family, want) in [
        ("up", 1.0),
        ("connectivity_healthy", 1.0),
        ("authentication_valid", 1.0),
        ("errors_24h", 0.0),
        ("last_sync_timestamp_seconds", 1_767_225_000.5),
        ("last_sync_success", 1.0),
        ("sync_records", 1234.0),
        ("active", 1.0),
    ] {
        assert_eq!(value_of(&f, family, 1), Some(want), "{family}");
    }
    let states = matching(&f, "inventory_profile_health_state", &[("profile_id", "1")]);
    let pairs: Vec<_> = states
        .iter()
        .map(|s| {
            (
                s.label("check").unwrap_or(""),
                s.label("state").unwrap_or(""),
                s.value,
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("connectivity", "healthy", 1.0),
            ("authentication", "valid", 1.0)
        ]
    );
}

#[test]
fn degraded_and_unknown_values_read_as_not_healthy_and_keep_their_raw_state() {
    let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
    assert_eq!(value_of(&f, "connectivity_healthy", 2), Some(0.0));
    assert_eq!(value_of(&f, "authentication_valid", 2), Some(0.0));
    assert_eq!(value_of(&f, "errors_24h", 2), Some(17.0));
    assert_eq!(value_of(&f, "last_sync_success", 2), Some(0.0));
    let state = |p: &str, check: &str| {
        let hits = matching(
            &f,
            "inventory_profile_health_state",
            &[("profile_id", p), ("check", check)],
        );
        assert_eq!(hits.len(), 1, "{p} {check}");
        hits[0].label("state").map(str::to_owned)
    };
    assert_eq!(state("2", "connectivity").as_deref(), Some("degraded"));
    assert_eq!(state("2", "authentication").as_deref(), Some("expired"));
    assert_eq!(
        value(&f, "inventory_profile_connectivity_healthy", 3),
        Some(0.0)
    );
    assert_eq!(state("3", "connectivity").as_deref(), Some("flaky"));
}

#[test]
fn unknown_fields_leave_their_series_absent() {
    let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
    // Null health: up and active, nothing else known.
    assert_eq!(value(&f, "inventory_profile_up", 4), Some(1.0));
    assert_eq!(value(&f, "inventory_profile_active", 4), Some(1.0));
    for name in health_families() {
        assert_eq!(value(&f, &name, 4), None, "{name}");
    }
    let info = matching(&f, "inventory_profile_info", &[("profile_id", "4")]);
    assert_eq!(info[0].label("profile_type"), Some(""));
    assert_eq!(info[0].label("sync_frequency"), Some(""));
    // Legacy: connectivity known (unhealthy), authentication unknown.
    assert_eq!(
        value(&f, "inventory_profile_connectivity_healthy", 5),
        Some(0.0)
    );
    assert_eq!(value(&f, "inventory_profile_authentication_valid", 5), None);
    let legacy_states = matching(&f, "inventory_profile_health_state", &[("profile_id", "5")]);
    assert_eq!(legacy_states.len(), 1);
    assert_eq!(legacy_states[0].label("check"), Some("connectivity"));
    assert_eq!(legacy_states[0].label("state"), Some("unhealthy"));
    let legacy_info = matching(&f, "inventory_profile_info", &[("profile_id", "5")]);
    assert_eq!(legacy_info[0].label("organization"), Some(""));
    assert_eq!(legacy_info[0].label("profile_type"), Some("database"));
}

#[test]
fn inactive_profile_is_exported_with_active_zero() {
    let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
    assert_eq!(value(&f, "inventory_profile_active", 6), Some(0.0));
    assert_eq!(
        value(&f, "inventory_profile_connectivity_healthy", 6),
        Some(1.0)
    );
}

#[test]
fn unreadable_detail_keeps_info_and_active_but_drops_health() {
    let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
    assert_eq!(value(&f, "inventory_profile_up", 8), Some(0.0));
    assert_eq!(value(&f, "inventory_profile_info", 8), Some(1.0));
    assert_eq!(value(&f, "inventory_profile_active", 8), Some(1.0));
    for name in health_families() {
        assert_eq!(value(&f, &name, 8), None, "{name}");
    }
    // Never read at all: only `up`, labelled from the list.
    assert_eq!(value(&f, "inventory_profile_up", 9), Some(0.0));
    let up = matching(&f, "inventory_profile_up", &[("profile_id", "9")]);
    assert_eq!(up[0].label("profile_name"), Some("theta"));
    assert_eq!(up[0].label("organization"), Some(""));
    let all_9: usize = f
        .iter()
        .flat_map(|fam| &fam.samples)
        .filter(|s| s.label("profile_id") == Some("9"))
        .count();
    assert_eq!(all_9, 1);
}

#[test]
fn hostile_names_round_trip_and_forge_nothing() {
    let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
    let up = matching(&f, "inventory_profile_up", &[("profile_id", "7")]);
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].label("profile_name"), Some(HOSTILE_NAME));
    assert!(exposition::samples_named(&f, "next_line").is_empty());
    // Sensitive text never becomes a label.
    let rendered = ProfileMetrics::new().render(&fixture(), Vec::new());
    let text = std::str::from_utf8(rendered.plain()).expect("utf-8");
    assert!(!text.contains("hunter2"));
}

#[test]
fn profiles_come_in_id_order_within_each_family() {
    let mut snap = fixture();
    snap.profiles.reverse();
    let f = render_parsed(&mut ProfileMetrics::new(), &snap, &[]);
    let ids: Vec<u64> = exposition::samples_named(&f, "inventory_profile_up")
        .iter()
        .filter_map(|s| s.label("profile_id")?.parse().ok())
        .collect();
    assert_eq!(ids, (1..=9).collect::<Vec<u64>>());
}

#[test]
fn firing_alerts_are_labelled_from_the_snapshot() {
    let firing = [
        FiringLabel {
            profile_id: 2,
            alertname: "ProfileErrorsHigh",
            severity: "warning".into(),
        },
        FiringLabel {
            profile_id: 2,
            alertname: "ProfileConnectivityDegraded",
            severity: "critical".into(),
        },
        FiringLabel {
            profile_id: 2,
            alertname: "ProfileConnectivityDegraded",
            severity: "critical".into(),
        },
        FiringLabel {
            profile_id: 8,
            alertname: "ProfileUnreachable",
            severity: "warning".into(),
        },
        FiringLabel {
            profile_id: 404,
            alertname: "ProfileUnreachable",
            severity: "warning".into(),
        },
    ];
    let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &firing);
    let all = exposition::samples_named(&f, "inventory_profile_alert_firing");
    let got: Vec<_> = all
        .iter()
        .map(|s| {
            (
                s.label("profile_id").unwrap_or(""),
                s.label("profile_name").unwrap_or(""),
                s.label("alertname").unwrap_or(""),
                s.label("severity").unwrap_or(""),
                s.value,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2", "beta", "ProfileConnectivityDegraded", "critical", 1.0),
            ("2", "beta", "ProfileErrorsHigh", "warning", 1.0),
            ("8", "eta", "ProfileUnreachable", "warning", 1.0),
        ]
    );
    assert_eq!(all[0].label("organization"), Some("Main Warehouse"));
}

#[test]
fn flapping_conditions_of_profiles_in_the_snapshot_are_one_series_each() {
    use crate::vocabulary::AlertName::{ProfileConnectivityDegraded, ProfileSyncFailing};
    let mut pm = ProfileMetrics::new();
    pm.set_flapping([
        (2, ProfileSyncFailing),
        (2, ProfileConnectivityDegraded),
        (2, ProfileConnectivityDegraded),
        (404, ProfileConnectivityDegraded),
    ]);
    let f = render_parsed(&mut pm, &fixture(), &[]);
    let got: Vec<_> = exposition::samples_named(&f, "inventory_profile_flapping")
        .iter()
        .map(|s| {
            (
                s.label("profile_id").unwrap_or("").to_string(),
                s.label("alertname").unwrap_or("").to_string(),
                s.value,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "2".to_string(),
                "ProfileConnectivityDegraded".to_string(),
                1.0
            ),
            ("2".to_string(), "ProfileSyncFailing".to_string(), 1.0),
        ],
        "sorted, without repeats, none for a profile not in the snapshot"
    );
    pm.set_flapping([]);
    let f = render_parsed(&mut pm, &fixture(), &[]);
    assert!(exposition::samples_named(&f, "inventory_profile_flapping").is_empty());
}

#[test]
fn removed_and_renamed_profiles_leave_no_series_behind() {
    let mut pm = ProfileMetrics::new();
    let firing = [FiringLabel {
        profile_id: 2,
        alertname: "ProfileErrorsHigh",
        severity: "warning".into(),
    }];
    let first = render_parsed(&mut pm, &fixture(), &firing);
    assert_eq!(value(&first, "inventory_profile_up", 2), Some(1.0));

    let mut snap = fixture();
    snap.profiles.retain(|e| e.id != 2);
    let renamed = &mut snap.profiles[0];
    renamed.name = "alpha-renamed".into();
    let second = render_parsed(&mut pm, &snap, &[]);
    let mentions = |name: &str, value: &str| {
        second
            .iter()
            .flat_map(|f| &f.samples)
            .filter(|s| s.label(name) == Some(value))
            .count()
    };
    assert_eq!(mentions("profile_id", "2"), 0);
    assert_eq!(mentions("profile_name", "alpha"), 0);
    assert!(mentions("profile_name", "alpha-renamed") > 0);
    assert!(exposition::samples_named(&second, "inventory_profile_alert_firing").is_empty());
}

#[test]
fn state_label_is_capped_with_other() {
    let mut pm = ProfileMetrics::with_state_cap(2);
    let states = ["weird-1", "weird-2", "weird-3", "degraded", "other"];
    let snap = snapshot(
        states
            .iter()
            .enumerate()
            .map(|(i, s)| entry(full(i as u64 + 1, "p", s, "valid"), true))
            .collect(),
    );
    let f = render_parsed(&mut pm, &snap, &[]);
    let state_of = |f: &[Family], id: &str| {
        matching(
            f,
            "inventory_profile_health_state",
            &[("profile_id", id), ("check", "connectivity")],
        )
        .first()
        .and_then(|s| s.label("state").map(str::to_owned))
    };
    assert_eq!(state_of(&f, "1").as_deref(), Some("weird-1"));
    assert_eq!(state_of(&f, "2").as_deref(), Some("weird-2"));
    assert_eq!(state_of(&f, "3").as_deref(), Some("other"));
    assert_eq!(
        state_of(&f, "4").as_deref(),
        Some("degraded"),
        "known values bypass the cap"
    );
    // Admitted values stay admitted in later sweeps; the cap is per check.
    let later = snapshot(vec![
        entry(full(1, "p", "weird-3", "weird-a"), true),
        entry(full(2, "p", "weird-2", "weird-b"), true),
    ]);
    let f = render_parsed(&mut pm, &later, &[]);
    assert_eq!(state_of(&f, "1").as_deref(), Some("other"));
    assert_eq!(state_of(&f, "2").as_deref(), Some("weird-2"));
    let auth = matching(
        &f,
        "inventory_profile_health_state",
        &[("check", "authentication")],
    );
    let auth: Vec<_> = auth.iter().filter_map(|s| s.label("state")).collect();
    assert_eq!(auth, ["weird-a", "weird-b"]);
}

#[test]
fn duplicate_ids_do_not_make_the_body_invalid() {
    let mut snap = fixture();
    let dup = snap.profiles[0].clone();
    snap.profiles.push(dup);
    let f = render_parsed(&mut ProfileMetrics::new(), &snap, &[]);
    assert_eq!(
        matching(&f, "inventory_profile_up", &[("profile_id", "1")]).len(),
        1
    );
}

fn gunzip_single(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn gunzip_multi(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

#[test]
fn gzip_body_decodes_to_the_plain_body() {
    let monitor = MonitorMetrics::new(Shard { index: 1, count: 3 });
    monitor
        .upstream_requests
        .with_label_values(&["list", "200"])
        .inc();
    let mut pm = ProfileMetrics::new();
    let firing = [FiringLabel {
        profile_id: 1,
        alertname: "ProfileSyncStale",
        severity: "warning".into(),
    }];
    for rendered in [
        RenderedProfiles::empty(),
        pm.render(&fixture(), firing.to_vec()),
    ] {
        let plain = scrape_body(&monitor, &rendered, false);
        let gz = scrape_body(&monitor, &rendered, true);
        assert_eq!(&gz[..2], [0x1f, 0x8b]);
        assert_eq!(gunzip_single(&gz), plain.to_vec());
        assert_eq!(gunzip_multi(&gz), plain.to_vec());
        // And the whole body is valid exposition format.
        let text = std::str::from_utf8(&plain).expect("utf-8");
        let families = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(
            find(&families, "inventory_monitor_shard_index", &[]),
            Some(1.0)
        );
    }
}

#[test]
fn gzip_of_a_large_section_spanning_many_deflate_blocks_decodes() {
    // Enough distinct text that the cached stream has many blocks, and a self-metrics
    // part with many counters so its sync-flushed stream is not trivial either.
    let profiles = (1..=3_000u64)
        .map(|i| {
            let mut p = full(
                i,
                &format!("warehouse-{i}-{}", i * 7919 % 10_007),
                "healthy",
                "valid",
            );
            p.sync_record_count = Some(i * 104_729);
            entry(p, i % 7 != 0)
        })
        .collect();
    let rendered = ProfileMetrics::new().render(&snapshot(profiles), Vec::new());
    let monitor = MonitorMetrics::new(Shard::default());
    for code in 100..400 {
        monitor
            .upstream_requests
            .with_label_values(&["detail", &code.to_string()])
            .inc_by(code);
    }
    let plain = scrape_body(&monitor, &rendered, false);
    let gz = scrape_body(&monitor, &rendered, true);
    assert!(
        gz.len() * 4 < plain.len(),
        "compresses: {} vs {}",
        gz.len(),
        plain.len()
    );
    assert_eq!(gunzip_single(&gz), plain.to_vec());
    assert_eq!(gunzip_multi(&gz), plain.to_vec());
    // Chunks add up to the body.
    let chunks = scrape_chunks(&monitor, &rendered, true);
    assert_eq!(chunks.concat(), gz.to_vec());
}

fn many_profiles(n: u64) -> Snapshot {
    snapshot(
        (1..=n)
            .map(|i| {
                let mut p = full(
                    i,
                    &format!("site-{i}-{}", i * 7919 % 10_007),
                    "healthy",
                    "valid",
                );
                p.sync_record_count = Some(i * 104_729);
                entry(p, i % 5 != 0)
            })
            .collect(),
    )
}

#[test]
fn a_section_over_the_plain_limit_is_kept_compressed_and_served_the_same() {
    let snap = many_profiles(2_000);
    let kept = ProfileMetrics::new().render(&snap, Vec::new());
    let limit = kept.plain_len() / 3;
    let mut pm = ProfileMetrics::new().with_plain_limit(limit);
    let compressed_only = pm.render(&snap, Vec::new());
    assert!(kept.keeps_plain());
    assert!(!compressed_only.keeps_plain());
    assert!(
        compressed_only.plain_len() > RENDER_BLOCK * 2,
        "spans blocks"
    );
    assert_eq!(compressed_only.plain_len(), kept.plain_len());
    assert_eq!(compressed_only.series(), kept.series());

    let monitor = MonitorMetrics::new(Shard::default());
    let expected = scrape_body(&monitor, &kept, false);
    let stream = scrape_stream(&monitor, &compressed_only, false);
    assert_eq!(stream.remaining(), expected.len() as u64);
    let chunks: Vec<Bytes> = stream.collect();
    // Inflated a chunk at a time, never the whole section at once.
    assert!(chunks.len() > 3);
    assert!(chunks[1..].iter().all(|c| c.len() <= INFLATE_CHUNK));
    assert_eq!(chunks.concat(), expected.to_vec());

    let gz = scrape_body(&monitor, &compressed_only, true);
    assert_eq!(gunzip_single(&gz), expected.to_vec());
    assert_eq!(compressed_only.plain(), kept.plain());

    // The next rendering starts without the text (the last one was over the limit);
    // a smaller fleet that fits again still gets its text kept.
    let small = pm.render(&many_profiles(20), Vec::new());
    assert!(small.keeps_plain());
    assert_eq!(
        small.plain(),
        ProfileMetrics::new()
            .render(&many_profiles(20), Vec::new())
            .plain()
    );
}

#[test]
fn stream_lengths_are_exact() {
    let monitor = MonitorMetrics::new(Shard::default());
    let rendered = ProfileMetrics::new().render(&fixture(), Vec::new());
    for gzip in [false, true] {
        let stream = scrape_stream(&monitor, &rendered, gzip);
        let announced = stream.remaining();
        let sent: u64 = stream.map(|c| c.len() as u64).sum();
        assert_eq!(announced, sent, "gzip: {gzip}");
    }
}

/// The self-metrics of `m`, parsed.
fn self_families(m: &MonitorMetrics) -> Vec<Family> {
    let text = String::from_utf8(m.encode()).expect("utf-8");
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The unlabelled self-metric `inventory_monitor_{name}`.
fn own(f: &[Family], name: &str) -> Option<f64> {
    find(f, &format!("inventory_monitor_{name}"), &[])
}

/// `inventory_monitor_sweeps_total{outcome}`.
fn sweeps(f: &[Family], outcome: &str) -> Option<f64> {
    find(f, "inventory_monitor_sweeps_total", &[("outcome", outcome)])
}

#[test]
fn self_metrics_follow_sweeps() {
    let m = MonitorMetrics::new(Shard { index: 0, count: 2 });
    let f = self_families(&m);
    assert_eq!(own(&f, "up"), Some(0.0));
    assert_eq!(own(&f, "shards"), Some(2.0));
    let version = [("version", crate::VERSION)];
    assert_eq!(
        find(&f, "inventory_monitor_build_info", &version),
        Some(1.0)
    );
    for outcome in ["complete", "incomplete", "failed"] {
        assert_eq!(sweeps(&f, outcome), Some(0.0));
    }

    // What the complete sweep below sets, and the failed ones after it keep.
    let after_the_complete_sweep = |f: &[Family]| {
        assert_eq!(own(f, "profiles"), Some(9.0));
        assert_eq!(own(f, "sweep_duration_seconds"), Some(2.5));
        assert_eq!(
            own(f, "last_sweep_success_timestamp_seconds"),
            Some(1_767_225_603.0)
        );
    };
    let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_603);
    let mut snap = fixture();
    snap.shard = Shard { index: 1, count: 2 };
    m.observe_sweep(&snap, end);
    let f = self_families(&m);
    assert_eq!(own(&f, "up"), Some(1.0));
    after_the_complete_sweep(&f);
    assert_eq!(own(&f, "shard_index"), Some(1.0));
    assert_eq!(sweeps(&f, "complete"), Some(1.0));

    // A failed walk: down, the profile count and success time are kept.
    let failed = Snapshot {
        list: ListOutcome::Failed {
            kind: ApiFailure::Unauthorized,
            message: "401".into(),
        },
        listed: None,
        duration: Duration::from_millis(250),
        ..snap.clone()
    };
    m.observe_sweep(&failed, end + Duration::from_secs(60));
    let incomplete = Snapshot {
        list: ListOutcome::Incomplete {
            reason: "page 3 failed".into(),
        },
        listed: None,
        ..snap
    };
    m.observe_sweep(&incomplete, end + Duration::from_secs(120));
    let f = self_families(&m);
    assert_eq!(own(&f, "up"), Some(0.0));
    after_the_complete_sweep(&f);
    assert_eq!(sweeps(&f, "failed"), Some(1.0));
    assert_eq!(sweeps(&f, "incomplete"), Some(1.0));
}

#[test]
fn label_values_are_cut_by_characters_and_marked() {
    assert_eq!(truncate_label_value("abcdef", 6), "abcdef");
    assert_eq!(truncate_label_value("abcdefg", 6), "abcde…");
    assert_eq!(truncate_label_value("", 1), "");
    assert_eq!(truncate_label_value("ab", 1), "…");
    // Characters, not bytes: never a cut inside a UTF-8 sequence.
    assert_eq!(truncate_label_value("東京🚀東京", 4), "東京🚀…");
    assert_eq!(truncate_label_value("東京🚀東", 4), "東京🚀東");
    assert!(matches!(
        truncate_label_value("short", 256),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn limit_hits_start_at_zero_for_every_limit() {
    let m = MonitorMetrics::new(Shard::default());
    let f = self_families(&m);
    let family =
        exposition::family(&f, "inventory_monitor_upstream_limit_hits_total").expect("registered");
    assert_eq!(family.kind.as_deref(), Some("counter"));
    let limits: Vec<&str> = family
        .samples
        .iter()
        .filter_map(|s| s.label("limit"))
        .collect();
    assert_eq!(
        limits,
        [
            "absurd_value",
            "max_body_size",
            "max_label_length",
            "max_profiles"
        ]
    );
    assert!(family.samples.iter().all(|s| s.value == 0.0));
}

#[test]
fn self_metric_families_are_all_there() {
    let m = MonitorMetrics::new(Shard::default());
    m.upstream_requests
        .with_label_values(&["list", "200"])
        .inc();
    m.upstream_invalid_bodies
        .with_label_values(&["detail"])
        .inc();
    // What the notifier does for each receiver at start: its series exist at 0.
    for outcome in ["delivered", "failed", "dropped"] {
        m.notifications
            .with_label_values(&["ops \"chat\"", outcome]);
    }
    m.notification_queue.set(3);
    let f = self_families(&m);
    for (name, kind) in [
        ("inventory_monitor_up", "gauge"),
        ("inventory_monitor_profiles", "gauge"),
        ("inventory_monitor_sweep_duration_seconds", "gauge"),
        (
            "inventory_monitor_last_sweep_success_timestamp_seconds",
            "gauge",
        ),
        ("inventory_monitor_sweeps_total", "counter"),
        ("inventory_monitor_upstream_requests_total", "counter"),
        ("inventory_monitor_upstream_invalid_bodies_total", "counter"),
        ("inventory_monitor_notifications_total", "counter"),
        ("inventory_monitor_notification_queue", "gauge"),
        ("inventory_monitor_build_info", "gauge"),
        ("inventory_monitor_shard_index", "gauge"),
        ("inventory_monitor_shards", "gauge"),
    ] {
        let fam = exposition::family(&f, name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(fam.kind.as_deref(), Some(kind), "{name}");
        assert!(fam.help.is_some(), "{name}");
    }
    assert_eq!(
        find(
            &f,
            "inventory_monitor_upstream_requests_total",
            &[("endpoint", "list"), ("code", "200")]
        ),
        Some(1.0)
    );
    assert_eq!(
        find(
            &f,
            "inventory_monitor_notifications_total",
            &[("receiver", "ops \"chat\""), ("outcome", "dropped")]
        ),
        Some(0.0)
    );
    assert_eq!(
        find(&f, "inventory_monitor_notification_queue", &[]),
        Some(3.0)
    );
}

#[test]
fn every_line_of_a_profile_carries_its_labels_whether_written_as_is_escaped_or_cut() {
    let mut snap = fixture();
    let long = "x".repeat(300);
    let mut cut = full(10, &long, "healthy", "valid");
    cut.organization = Some(format!("org \"{long}\""));
    snap.profiles.push(entry(cut, true));
    snap.profiles
        .push(entry(full(11, "plain after", "healthy", "valid"), true));
    let expected: Vec<(String, String, String)> = snap
        .profiles
        .iter()
        .map(|e| {
            (
                e.id.to_string(),
                truncate_label_value(&e.name, DEFAULT_MAX_LABEL_LENGTH).into_owned(),
                truncate_label_value(
                    e.organization.as_deref().unwrap_or(""),
                    DEFAULT_MAX_LABEL_LENGTH,
                )
                .into_owned(),
            )
        })
        .collect();
    let f = render_parsed(&mut ProfileMetrics::new(), &snap, &[]);
    let mut lines = 0;
    for family in f
        .iter()
        .filter(|f| f.name.starts_with("inventory_profile_"))
    {
        for s in &family.samples {
            let id = s.label("profile_id").expect("profile_id");
            let (_, name, org) = expected
                .iter()
                .find(|(i, _, _)| i == id)
                .unwrap_or_else(|| panic!("unknown profile {id}"));
            assert_eq!(
                s.label("profile_name"),
                Some(name.as_str()),
                "{}",
                family.name
            );
            assert_eq!(
                s.label("organization"),
                Some(org.as_str()),
                "{}",
                family.name
            );
            lines += 1;
        }
    }
    assert!(lines > 7 * expected.len(), "{lines}");
    assert!(expected[9].1.ends_with('…') && expected[9].2.ends_with('…'));
}
