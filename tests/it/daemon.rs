//! End-to-end sweeps: the simulator on 127.0.0.1:0, the daemon's sweep against it, and
//! assertions on what the daemon's own HTTP server serves, parsed.

use crate::common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use inventory_monitor::rules::{AlertName, AlertState};
use inventory_monitor::simulator::{Faults, SimOptions};
use inventory_monitor_testkit::exposition::{find, samples_named};
use serde_json::{json, Value};

const HOSTILE_NAME: &str = "Quote \" back \\ new\nline 🚚 } ,=";
const HOSTILE_ORG: &str = "Org \"x\" \\";

/// Seven profiles covering the cases the upstream API may serve and the monitor must tolerate.
fn load_mixed_fleet(sim: &inventory_monitor::simulator::Simulator) {
    sim.upsert_profile(healthy_detail(
        1,
        "Main Warehouse — SAP EWM",
        "Main Warehouse",
    ));
    sim.upsert_profile(patched(
        healthy_detail(2, "Lisbon DC Oracle WMS", "North Distribution"),
        json!({
            "last_sync_status": "failed",
            "health_status": {
                "connectivity": "unhealthy",
                "authentication": "expired",
                "last_error": "connection refused by 10.0.0.5:5432",
                "error_count_24h": 25
            }
        }),
    ));
    sim.upsert_profile(patched(
        healthy_detail(3, "Flaky SFTP", "North Distribution"),
        json!({"health_status": {"connectivity": "flaky", "authentication": "rotating"}}),
    ));
    sim.upsert_profile(patched(
        healthy_detail(4, "No Health", "Main Warehouse"),
        json!({"health_status": null}),
    ));
    sim.upsert_profile(json!({
        "id": 5,
        "name": "Legacy Oracle",
        "connection_type": "database",
        "is_active": true,
        "host": "db.example",
        "port": 1521,
        "database": "INV",
        "username": "sim-user-5",
        "timeout": 30,
        "max_connections": 5,
        "test_status": "failed",
        "last_tested": "2026-01-01T00:00:00Z",
        "organization": {"id": 3, "name": "Old Org"},
        "configuration": {"password": "sim-secret-5"}
    }));
    sim.upsert_profile(patched(
        healthy_detail(6, "Retired Feed", "Main Warehouse"),
        json!({"status": "inactive", "health_status": {"connectivity": "unhealthy"}}),
    ));
    sim.upsert_profile(healthy_detail(7, HOSTILE_NAME, HOSTILE_ORG));
}

fn id(n: u64) -> String {
    n.to_string()
}

#[tokio::test]
async fn mixed_fleet_exports_every_metric_with_the_right_values() {
    let sim = empty_sim().await;
    load_mixed_fleet(&sim.sim);
    let mut running = start_daemon(test_config(&sim.base_url), "demo-token").await;
    let outcome = running.daemon.sweep_once().await;
    assert!(outcome.snapshot.walk_complete());

    let (text, m) = scrape(running.addr).await;
    let p = |n: u64| id(n);
    let v = |name: &str, n: u64| find(&m, name, &[("profile_id", &p(n))]);

    // Every profile is up and labelled.
    for n in 1..=7 {
        assert_eq!(v("inventory_profile_up", n), Some(1.0), "profile {n}");
    }
    assert_eq!(
        find(
            &m,
            "inventory_profile_info",
            &[
                ("profile_id", "1"),
                ("profile_name", "Main Warehouse — SAP EWM"),
                ("organization", "Main Warehouse"),
                ("profile_type", "rest_api"),
                ("status", "active"),
                ("authentication_type", "oauth2"),
                ("sync_frequency", "hourly"),
            ]
        ),
        Some(1.0)
    );
    // Legacy revision: connection_type → profile_type, is_active → status, org object → name.
    assert_eq!(
        find(
            &m,
            "inventory_profile_info",
            &[
                ("profile_id", "5"),
                ("organization", "Old Org"),
                ("profile_type", "database"),
                ("status", "active")
            ]
        ),
        Some(1.0)
    );

    // Connectivity and authentication: healthy, unhealthy, unknown enum, unknown (null), legacy.
    let conn = |n| v("inventory_profile_connectivity_healthy", n);
    let auth = |n| v("inventory_profile_authentication_valid", n);
    assert_eq!(conn(1), Some(1.0));
    assert_eq!(conn(2), Some(0.0));
    assert_eq!(conn(3), Some(0.0), "\"flaky\" is not healthy");
    assert_eq!(conn(4), None, "null health_status is unknown, not a value");
    assert_eq!(conn(5), Some(0.0), "legacy test_status failed");
    assert_eq!(auth(1), Some(1.0));
    assert_eq!(auth(2), Some(0.0));
    assert_eq!(auth(4), None);
    assert_eq!(auth(5), None, "the legacy revision has no authentication");
    let state = |n: u64, check: &str, s: &str| {
        find(
            &m,
            "inventory_profile_health_state",
            &[("profile_id", &p(n)), ("check", check), ("state", s)],
        )
    };
    assert_eq!(state(3, "connectivity", "flaky"), Some(1.0));
    assert_eq!(state(3, "authentication", "rotating"), Some(1.0));
    assert_eq!(state(2, "authentication", "expired"), Some(1.0));
    assert_eq!(state(5, "connectivity", "unhealthy"), Some(1.0));
    assert!(samples_named(&m, "inventory_profile_health_state")
        .iter()
        .all(|s| s.label("profile_id") != Some("4")));

    // Sync and error figures.
    assert_eq!(v("inventory_profile_errors_24h", 2), Some(25.0));
    assert_eq!(v("inventory_profile_errors_24h", 1), Some(0.0));
    assert_eq!(
        v("inventory_profile_last_sync_timestamp_seconds", 1),
        Some(recent_sync_unix())
    );
    assert_eq!(v("inventory_profile_last_sync_success", 1), Some(1.0));
    assert_eq!(v("inventory_profile_last_sync_success", 2), Some(0.0));
    assert_eq!(v("inventory_profile_last_sync_success", 5), None);
    assert_eq!(v("inventory_profile_sync_records", 1), Some(1500.0));
    assert_eq!(v("inventory_profile_active", 6), Some(0.0));
    assert_eq!(v("inventory_profile_active", 5), Some(1.0));

    // Alerts: on judged profiles only, one series per firing alert.
    let firing: Vec<(String, String)> = samples_named(&m, "inventory_profile_alert_firing")
        .iter()
        .map(|s| {
            (
                s.label("profile_id").unwrap().to_string(),
                s.label("alertname").unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("2", "ProfileAuthenticationFailing"),
        ("2", "ProfileConnectivityDegraded"),
        ("2", "ProfileErrorsHigh"),
        ("2", "ProfileSyncFailing"),
        ("3", "ProfileAuthenticationFailing"),
        ("3", "ProfileConnectivityDegraded"),
        ("5", "ProfileConnectivityDegraded"),
    ];
    let mut got = firing.clone();
    got.sort();
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    want.sort();
    assert_eq!(
        got, want,
        "inactive profile 6 and unknown profile 4 never alert"
    );
    assert_eq!(
        find(
            &m,
            "inventory_profile_alert_firing",
            &[
                ("profile_id", "2"),
                ("alertname", "ProfileErrorsHigh"),
                ("severity", "warning")
            ]
        ),
        Some(1.0)
    );

    // Hostile names survive escaping and parse back unchanged.
    assert!(label_values(&m, "inventory_profile_up", "profile_name")
        .contains(&HOSTILE_NAME.to_string()));
    assert!(
        label_values(&m, "inventory_profile_up", "organization").contains(&HOSTILE_ORG.to_string())
    );

    // Self-metrics.
    assert_eq!(find(&m, "inventory_monitor_up", &[]), Some(1.0));
    assert_eq!(find(&m, "inventory_monitor_profiles", &[]), Some(7.0));
    assert_eq!(find(&m, "inventory_monitor_shard_index", &[]), Some(0.0));
    assert_eq!(find(&m, "inventory_monitor_shards", &[]), Some(1.0));
    assert_eq!(
        find(
            &m,
            "inventory_monitor_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(list_requests(&m, "200"), Some(1.0));
    assert_eq!(
        find(
            &m,
            "inventory_monitor_upstream_requests_total",
            &[("endpoint", "detail"), ("code", "200")]
        ),
        Some(7.0)
    );
    assert!(find(&m, "inventory_monitor_sweep_duration_seconds", &[]).unwrap() > 0.0);
    assert!(
        find(
            &m,
            "inventory_monitor_last_sweep_success_timestamp_seconds",
            &[]
        )
        .unwrap()
            > 1.7e9
    );
    assert_eq!(
        find(&m, "inventory_monitor_notification_queue", &[]),
        Some(0.0)
    );

    // Every family has HELP and TYPE.
    for f in &m {
        assert!(
            f.help.is_some() && f.kind.is_some(),
            "{} lacks HELP/TYPE",
            f.name
        );
    }
    // Sensitive fields never reach the metrics.
    for secret in ["sim-secret-", "sim-user-5", "10.0.0.5", "demo-token"] {
        assert!(!text.contains(secret), "{secret} leaked into /metrics");
    }
}

#[tokio::test]
async fn deleted_and_renamed_profiles_leave_no_series_behind() {
    let sim = empty_sim().await;
    load_mixed_fleet(&sim.sim);
    let mut running = start_daemon(test_config(&sim.base_url), "demo-token").await;
    running.daemon.sweep_once().await;
    let (_, before) = scrape(running.addr).await;
    assert!(label_values(&before, "inventory_profile_up", "profile_id").contains(&"2".to_string()));

    assert!(sim.sim.remove_profile(2));
    assert!(sim.sim.rename_profile(1, "Renamed Warehouse"));
    let outcome = running.daemon.sweep_once().await;

    let (text, after) = scrape(running.addr).await;
    for f in &after {
        for s in &f.samples {
            assert_ne!(
                s.label("profile_id"),
                Some("2"),
                "series of deleted profile: {}",
                s.name
            );
            assert_ne!(
                s.label("profile_name"),
                Some("Main Warehouse — SAP EWM"),
                "series under the old name: {}",
                s.name
            );
        }
    }
    assert!(!text.contains("Main Warehouse — SAP EWM"));
    assert_eq!(
        find(
            &after,
            "inventory_profile_up",
            &[("profile_id", "1"), ("profile_name", "Renamed Warehouse")]
        ),
        Some(1.0)
    );
    assert_eq!(find(&after, "inventory_monitor_profiles", &[]), Some(6.0));
    // The deleted profile's alerts resolve rather than fire forever.
    let resolved: Vec<_> = outcome
        .transitions
        .iter()
        .filter(|t| t.alert.key.profile_id == Some(2))
        .collect();
    assert_eq!(resolved.len(), 4);
    assert!(resolved
        .iter()
        .all(|t| t.alert.state == AlertState::Resolved));
}

#[tokio::test]
async fn pagination_faults_end_the_walk_cleanly_and_keep_known_profiles() {
    let sim = start_sim(SimOptions {
        profiles: 250,
        seed: 3,
        ..SimOptions::default()
    })
    .await;
    let mut config = test_config(&sim.base_url);
    config.api.page_size = 50;
    let mut running = start_daemon(config, "demo-token").await;
    let first = running.daemon.sweep_once().await;
    assert!(first.snapshot.walk_complete());
    let known = first.snapshot.profiles.len();
    assert_eq!(known, 250);

    // The list shrinks between pages: the walk is incomplete, nothing is lost or duplicated.
    sim.sim.set_faults(Faults {
        shrink_mid_walk: true,
        ..Faults::default()
    });
    let shrunk = running.daemon.sweep_once().await;
    assert!(
        !shrunk.snapshot.walk_complete(),
        "{:?}",
        shrunk.snapshot.list
    );
    let (_, m) = scrape(running.addr).await;
    assert_eq!(find(&m, "inventory_monitor_up", &[]), Some(0.0));
    assert_eq!(
        find(
            &m,
            "inventory_monitor_sweeps_total",
            &[("outcome", "incomplete")]
        ),
        Some(1.0)
    );
    let deleted = sim.sim.requests().shrunk as usize;
    assert!(deleted >= 1);
    let ids = label_values(&m, "inventory_profile_up", "profile_id");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "no profile exported twice");
    assert_eq!(
        ids.len(),
        known - deleted,
        "every surviving profile is still exported"
    );

    // The list grows mid-walk: incomplete again, still clean.
    sim.sim.set_faults(Faults {
        grow_mid_walk: true,
        ..Faults::default()
    });
    let grown = running.daemon.sweep_once().await;
    assert!(!grown.snapshot.walk_complete());

    // A first page that is not JSON: the API is treated as down, profiles are frozen, not dropped.
    sim.sim.set_faults(Faults {
        malformed_rate: 1.0,
        ..Faults::default()
    });
    let broken = running.daemon.sweep_once().await;
    assert!(matches!(
        broken.snapshot.list,
        inventory_monitor::snapshot::ListOutcome::Failed { .. }
    ));
    assert!(running
        .daemon
        .judge()
        .firing()
        .any(|a| a.key.alertname == AlertName::InventoryApiDown));
    let (_, m) = scrape(running.addr).await;
    assert!(
        find(
            &m,
            "inventory_monitor_upstream_invalid_bodies_total",
            &[("endpoint", "list")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(!label_values(&m, "inventory_profile_up", "profile_id").is_empty());

    // Healthy again: complete, InventoryApiDown resolves.
    sim.sim.set_faults(Faults::default());
    let healed = running.daemon.sweep_once().await;
    assert!(healed.snapshot.walk_complete());
    assert!(healed
        .transitions
        .iter()
        .any(|t| t.alert.key.alertname == AlertName::InventoryApiDown
            && t.alert.state == AlertState::Resolved));
    let (_, m) = scrape(running.addr).await;
    assert_eq!(find(&m, "inventory_monitor_up", &[]), Some(1.0));
}

#[tokio::test]
async fn a_pagination_loop_without_count_ends_cleanly() {
    // The simulator always sends `count`, so serve a page whose `next` loops, by hand.
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/api/v1/inventory_connection_profile/",
            get(move || async move {
                axum::Json(json!({
                    "next": format!("http://{addr}/api/v1/inventory_connection_profile/?limit=100&offset=0"),
                    "previous": null,
                    "results": [{"id": 1, "name": "looping"}]
                }))
            }),
        )
        .route(
            "/api/v1/inventory_connection_profile/{id}/",
            get(|| async { axum::Json(healthy_detail(1, "looping", "Org")) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut running = start_daemon(test_config(&format!("http://{addr}/api/v1")), "t").await;
    let started = Instant::now();
    let outcome = running.daemon.sweep_once().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!outcome.snapshot.walk_complete());
    assert_eq!(outcome.snapshot.profiles.len(), 1);
    assert!(outcome.snapshot.profiles[0].up);
}

#[tokio::test]
async fn upstream_errors_and_429s_are_retried_and_retry_after_is_honoured() {
    let sim = start_sim(SimOptions {
        profiles: 60,
        seed: 11,
        faults: Faults {
            error_rate: 0.2,
            rate_429: 0.2,
            retry_after: Duration::from_secs(1),
            ..Faults::default()
        },
        ..SimOptions::default()
    })
    .await;
    let mut config = test_config(&sim.base_url);
    config.api.retries = 8;
    let mut running = start_daemon(config, "demo-token").await;
    let started = Instant::now();
    let outcome = running.daemon.sweep_once().await;
    let elapsed = started.elapsed();
    let stats = sim.sim.requests();
    assert!(stats.throttled > 0 && stats.server_errors > 0, "{stats:?}");
    assert!(
        outcome.snapshot.walk_complete(),
        "{:?}",
        outcome.snapshot.list
    );
    assert!(
        outcome.snapshot.profiles.iter().all(|e| e.up),
        "every detail read after retries"
    );
    // A 429 answered `Retry-After: 1`: its retry cannot have come sooner.
    assert!(elapsed >= Duration::from_secs(1), "sweep took {elapsed:?}");
    let (_, m) = scrape(running.addr).await;
    let count = |endpoint: &str, code: &str| {
        find(
            &m,
            "inventory_monitor_upstream_requests_total",
            &[("endpoint", endpoint), ("code", code)],
        )
        .unwrap_or(0.0)
    };
    let ours = count("list", "429") + count("detail", "429");
    assert_eq!(ours as u64, stats.throttled, "every 429 counted");
    let errors = count("list", "500") + count("detail", "500");
    assert_eq!(errors as u64, stats.server_errors, "every 500 counted");
}

#[tokio::test]
async fn a_rejected_token_fires_inventory_api_down_and_says_why() {
    let sim = empty_sim().await;
    load_mixed_fleet(&sim.sim);
    let mut running = start_daemon(test_config(&sim.base_url), "wrong-token").await;
    let outcome = running.daemon.sweep_once().await;
    let down: Vec<_> = outcome
        .transitions
        .iter()
        .filter(|t| t.alert.key.alertname == AlertName::InventoryApiDown)
        .collect();
    assert_eq!(down.len(), 1);
    assert!(
        down[0].alert.description.contains("401"),
        "{}",
        down[0].alert.description
    );

    let status: Value = get_json(running.addr, "/api/v1/status").await;
    assert_eq!(status["last_sweep"]["outcome"], "failed");
    assert_eq!(status["last_sweep"]["kind"], "unauthorized");
    assert_eq!(status["alerts"][0]["alertname"], "InventoryApiDown");
    assert_eq!(status["alerts"][0]["state"], "firing");
    let (text, m) = scrape(running.addr).await;
    assert_eq!(find(&m, "inventory_monitor_up", &[]), Some(0.0));
    assert!(!text.contains("wrong-token"));
    // The sweep finished, so the daemon is ready (and reports the failure).
    assert_eq!(get(running.addr, "/readyz").await.status(), 200);
}

#[tokio::test]
async fn endpoints_serve_readiness_status_index_and_gzip() {
    let sim = empty_sim().await;
    load_mixed_fleet(&sim.sim);
    let mut running = start_daemon(test_config(&sim.base_url), "demo-token").await;

    assert_eq!(get(running.addr, "/healthz").await.status(), 200);
    assert_eq!(get(running.addr, "/readyz").await.status(), 503);
    let (_, before) = scrape(running.addr).await;
    assert!(samples_named(&before, "inventory_profile_up").is_empty());

    running.daemon.sweep_once().await;
    assert_eq!(get(running.addr, "/readyz").await.status(), 200);

    let index = get(running.addr, "/").await.text().await.unwrap();
    assert!(index.contains(env!("CARGO_PKG_VERSION")));
    assert!(index.contains("/metrics") || index.contains("href=\"metrics\""));

    let status: Value = get_json(running.addr, "/api/v1/status").await;
    assert_eq!(status["ready"], true);
    assert_eq!(status["last_sweep"]["outcome"], "complete");
    assert_eq!(status["profiles"].as_array().unwrap().len(), 7);
    let p2 = status["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 2)
        .unwrap();
    assert_eq!(p2["connectivity"], "unhealthy");
    assert_eq!(p2["alerts"].as_array().unwrap().len(), 4);
    assert_eq!(status["alerts"].as_array().unwrap().len(), 7);
    let raw = status.to_string();
    assert!(!raw.contains("sim-secret-") && !raw.contains("sim-user-5"));

    // gzip when asked: the same bytes as the plain body.
    let plain = get(running.addr, "/metrics").await;
    assert_eq!(
        plain.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let plain = plain.bytes().await.unwrap();
    let zipped = reqwest::Client::new()
        .get(format!("http://{}/metrics", running.addr))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let zipped = zipped.bytes().await.unwrap();
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.to_vec());
    assert!(zipped.len() < plain.len());
}

#[tokio::test]
async fn two_shards_together_export_every_profile_exactly_once() {
    let sim = start_sim(SimOptions {
        profiles: 300,
        seed: 5,
        ..SimOptions::default()
    })
    .await;
    let mut all = Vec::new();
    for index in 0..2 {
        let mut config = test_config(&sim.base_url);
        config.shard.index = index;
        config.shard.count = 2;
        let mut running = start_daemon(config, "demo-token").await;
        running.daemon.sweep_once().await;
        let (_, m) = scrape(running.addr).await;
        assert_eq!(
            find(&m, "inventory_monitor_shard_index", &[]),
            Some(f64::from(index))
        );
        assert_eq!(find(&m, "inventory_monitor_shards", &[]), Some(2.0));
        let ids = label_values(&m, "inventory_profile_up", "profile_id");
        assert!(ids.len() > 100, "shard {index} got {}", ids.len());
        assert_eq!(
            find(&m, "inventory_monitor_profiles", &[]),
            Some(ids.len() as f64)
        );
        all.extend(ids);
    }
    let mut expected: Vec<String> = sim.sim.profile_ids().iter().map(u64::to_string).collect();
    expected.sort();
    all.sort();
    assert_eq!(all, expected);
}
