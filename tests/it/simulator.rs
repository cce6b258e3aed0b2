//! The simulated upstream over a real socket, as the monitor meets it: DRF pagination with
//! absolute links, the name filter, authentication, both API revisions, the seeded fleet
//! and its mix of odd profiles, drift, every injected fault, and the control calls.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use inventory_monitor::clock::ManualClock;
use inventory_monitor::simulator::{Faults, HealthField, SimOptions, Simulator};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TOKEN: &str = "demo-token";

/// A simulator served on 127.0.0.1:0, with a client.
struct Running {
    sim: Simulator,
    /// `http://127.0.0.1:PORT/api/v1`.
    base: String,
    client: reqwest::Client,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(opts: SimOptions) -> Running {
    let sim = Simulator::new(opts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(sim.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    Running {
        sim,
        base,
        client: reqwest::Client::new(),
        stop,
        task,
    }
}

fn options(profiles: usize) -> SimOptions {
    SimOptions {
        profiles,
        ..SimOptions::default()
    }
}

impl Running {
    /// The list endpoint with `query`.
    fn list_url(&self, query: &str) -> String {
        format!("{}/inventory_connection_profile/{query}", self.base)
    }

    fn detail_url(&self, id: u64) -> String {
        format!("{}/inventory_connection_profile/{id}/", self.base)
    }

    /// GET `url` with `token` (none: no Authorization header).
    async fn get_with(&self, url: &str, token: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut request = self.client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }

    /// GET `url` with the right token; the status and the body.
    async fn get(&self, url: &str) -> (StatusCode, String) {
        let (status, _, body) = self.get_with(url, Some(TOKEN)).await;
        (status, body)
    }

    /// GET `url`, expecting 200 and JSON.
    async fn json(&self, url: &str) -> Value {
        let (status, body) = self.get(url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
    }

    /// Follows `next` from `first`; every page.
    async fn walk(&self, first: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut url = Some(first.to_owned());
        while let Some(u) = url {
            let page = self.json(&u).await;
            url = page["next"].as_str().map(str::to_owned);
            pages.push(page);
            assert!(pages.len() < 10_000, "the walk does not end");
        }
        pages
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

fn ids_of(page: &Value) -> Vec<u64> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_u64().unwrap())
        .collect()
}

fn every_detail(sim: &Simulator) -> Vec<Value> {
    sim.profile_ids()
        .into_iter()
        .map(|id| sim.profile_json(id).unwrap())
        .collect()
}

#[tokio::test]
async fn pagination_walk_collects_every_id_exactly_once() {
    let up = start(options(250)).await;
    let first = up.list_url("?limit=100");
    let pages = up.walk(&first).await;
    assert_eq!(pages.len(), 3);

    let ids: Vec<u64> = pages.iter().flat_map(ids_of).collect();
    assert_eq!(ids, up.sim.profile_ids(), "every id once, in id order");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 250);
    for page in &pages {
        assert_eq!(page["count"], 250);
    }
    // Links are absolute, rebuilt like DRF's (sorted parameters), null at the ends.
    assert_eq!(pages[0]["previous"], Value::Null);
    assert_eq!(
        pages[0]["next"],
        json!(up.list_url("?limit=100&offset=100"))
    );
    assert_eq!(pages[1]["previous"], json!(up.list_url("?limit=100")));
    assert_eq!(
        pages[2]["previous"],
        json!(up.list_url("?limit=100&offset=100"))
    );
    assert_eq!(pages[2]["next"], Value::Null);
    assert_eq!(ids_of(&pages[2]).len(), 50);
    up.stop().await;
}

#[tokio::test]
async fn limit_is_clamped_to_100_and_defaults_to_20() {
    let up = start(options(250)).await;
    let page = up.json(&up.list_url("?limit=500")).await;
    assert_eq!(ids_of(&page).len(), 100);
    assert_eq!(page["next"], json!(up.list_url("?limit=100&offset=100")));

    for query in ["", "?limit=0", "?limit=-7", "?limit=many"] {
        let page = up.json(&up.list_url(query)).await;
        assert_eq!(ids_of(&page).len(), 20, "{query:?}");
        assert_eq!(
            page["next"],
            json!(up.list_url("?limit=20&offset=20")),
            "{query:?}"
        );
    }

    let page = up.json(&up.list_url("?limit=10&offset=245")).await;
    assert_eq!(ids_of(&page), up.sim.profile_ids()[245..].to_vec());
    let page = up.json(&up.list_url("?offset=1000")).await;
    assert_eq!(ids_of(&page), Vec::<u64>::new());
    assert_eq!(page["count"], 250);
    up.stop().await;
}

#[tokio::test]
async fn name_filter_is_a_case_insensitive_substring_match() {
    let up = start(options(300)).await;
    let details = every_detail(&up.sim);
    let matching = |needle: &str| -> Vec<u64> {
        details
            .iter()
            .filter(|d| {
                d["name"]
                    .as_str()
                    .is_some_and(|n| n.to_lowercase().contains(&needle.to_lowercase()))
            })
            .map(|d| d["id"].as_u64().unwrap())
            .collect()
    };
    let expected = matching("warehouse");
    assert!(expected.len() > 10, "the fleet has warehouses");

    let pages = up.walk(&up.list_url("?name=WAREHOUSE&limit=10")).await;
    let ids: Vec<u64> = pages.iter().flat_map(ids_of).collect();
    assert_eq!(ids, expected);
    assert_eq!(pages[0]["count"], expected.len());
    assert_eq!(
        pages[0]["next"],
        json!(up.list_url("?limit=10&name=WAREHOUSE&offset=10"))
    );

    // Hostile names are found by their odd parts.
    let page = up.json(&up.list_url("?name=%22Quoted%22")).await;
    assert_eq!(ids_of(&page), matching("\"quoted\""));
    assert_eq!(ids_of(&page).len(), 1);
    let page = up.json(&up.list_url("?name=%F0%9F%93%A6")).await;
    assert_eq!(ids_of(&page).len(), 1);
    assert!(page["results"][0]["name"].as_str().unwrap().contains('📦'));

    let page = up
        .json(&up.list_url("?name=no-such-profile-anywhere"))
        .await;
    assert_eq!(page["count"], 0);
    assert_eq!(page["next"], Value::Null);
    up.stop().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let up = start(SimOptions {
        profiles: 60,
        forbidden_token: Some("read-only-token".into()),
        ..SimOptions::default()
    })
    .await;
    let id = up.sim.profile_ids()[0];
    for url in [up.list_url(""), up.detail_url(id)] {
        let (status, headers, body) = up.get_with(&url, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"detail": "Authentication credentials were not provided."})
        );

        let (status, _, body) = up.get_with(&url, Some("wrong-token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"detail": "Invalid token."})
        );

        let (status, _, body) = up.get_with(&url, Some("read-only-token")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"detail": "You do not have permission to perform this action."})
        );
    }
    let stats = up.sim.requests();
    assert_eq!((stats.unauthorized, stats.forbidden), (4, 2));
    up.stop().await;
}

#[tokio::test]
async fn details_are_served_with_or_without_the_slash_and_unknown_ids_are_404() {
    let up = start(options(60)).await;
    let id = up.sim.profile_ids()[3];
    let with_slash = up.json(&up.detail_url(id)).await;
    let without = up
        .json(&format!("{}/inventory_connection_profile/{id}", up.base))
        .await;
    assert_eq!(with_slash, without);
    assert_eq!(Some(with_slash), up.sim.profile_json(id));

    let missing = up.sim.profile_ids().last().unwrap() + 1000;
    let (status, body) = up.get(&up.detail_url(missing)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"detail": "Not found."})
    );
    assert_eq!(up.sim.requests().not_found, 1);

    let response = up
        .client
        .post(up.detail_url(id))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"detail":"Method \"POST\" not allowed."}"#
    );
    up.stop().await;
}

#[tokio::test]
async fn both_api_revisions_are_served_with_their_fields() {
    let up = start(options(100)).await;
    let details = every_detail(&up.sim);
    let legacy: Vec<&Value> = details
        .iter()
        .filter(|d| d.get("test_status").is_some())
        .collect();
    assert_eq!(legacy.len(), 10, "legacy_fraction 0.1 of 100");

    let current = details
        .iter()
        .find(|d| d["health_status"]["connectivity"] == "healthy")
        .unwrap();
    let current = up
        .json(&up.detail_url(current["id"].as_u64().unwrap()))
        .await;
    for field in [
        "id",
        "name",
        "description",
        "profile_type",
        "status",
        "endpoint_url",
        "authentication_type",
        "ssl_enabled",
        "connection_timeout",
        "retry_attempts",
        "sync_frequency",
        "last_sync",
        "last_sync_status",
        "sync_record_count",
        "organization",
        "created_by",
        "created_at",
        "updated_at",
        "configuration",
        "health_status",
    ] {
        assert!(
            current.get(field).is_some(),
            "current revision lacks {field}"
        );
    }
    for field in [
        "connectivity",
        "authentication",
        "last_error",
        "error_count_24h",
    ] {
        assert!(
            current["health_status"].get(field).is_some(),
            "health_status lacks {field}"
        );
    }
    let last_sync = current["last_sync"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(last_sync, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    let id = current["id"].as_u64().unwrap();
    assert_eq!(
        current["configuration"]["password"],
        json!(format!("sim-secret-{id}"))
    );

    let old = up
        .json(&up.detail_url(legacy[0]["id"].as_u64().unwrap()))
        .await;
    for field in [
        "connection_type",
        "is_active",
        "host",
        "port",
        "database",
        "username",
        "timeout",
        "max_connections",
        "test_status",
        "last_tested",
        "configuration",
    ] {
        assert!(old.get(field).is_some(), "legacy revision lacks {field}");
    }
    for field in ["health_status", "profile_type", "status"] {
        assert!(old.get(field).is_none(), "legacy revision has {field}");
    }
    assert!(legacy.iter().any(|d| d["test_status"] == "failed"));
    assert!(legacy.iter().any(|d| d["test_status"] == "success"));

    // List items carry the revision's own summary fields and no secrets.
    let page = up.json(&up.list_url("?limit=100")).await;
    let items = page["results"].as_array().unwrap();
    let old_item = items.iter().find(|i| i["id"] == old["id"]).unwrap();
    assert!(old_item.get("connection_type").is_some() && old_item.get("is_active").is_some());
    let current_item = items.iter().find(|i| i["id"] == current["id"]).unwrap();
    for field in [
        "id",
        "name",
        "profile_type",
        "status",
        "last_sync",
        "organization",
        "created_at",
        "updated_at",
    ] {
        assert!(current_item.get(field).is_some(), "list item lacks {field}");
    }
    assert!(!page.to_string().contains("sim-secret-"));
    up.stop().await;
}

#[tokio::test]
async fn the_fleet_mix_exercises_the_monitor() {
    let up = start(options(200)).await;
    let details = every_detail(&up.sim);
    let count = |pred: &dyn Fn(&Value) -> bool| details.iter().filter(|d| pred(d)).count();
    let health = |d: &Value, f: &str| d["health_status"][f].as_str().map(str::to_owned);
    let name = |d: &Value| d["name"].as_str().unwrap_or("").to_owned();

    let healthy = count(&|d| {
        health(d, "connectivity").as_deref() == Some("healthy")
            && health(d, "authentication").as_deref() == Some("valid")
    });
    assert!(healthy > 120, "mostly healthy: {healthy} of 200");
    for (field, value) in [
        ("connectivity", "unhealthy"),
        ("connectivity", "degraded"),
        ("connectivity", "flaky"),
        ("authentication", "invalid"),
        ("authentication", "expired"),
        ("authentication", "rotating"),
    ] {
        assert!(
            count(&|d| health(d, field).as_deref() == Some(value)) >= 1,
            "no {field} {value}"
        );
    }
    let failing = details
        .iter()
        .find(|d| health(d, "connectivity").as_deref() == Some("unhealthy"))
        .unwrap();
    assert!(failing["health_status"]["last_error"].as_str().is_some());
    assert!(failing["health_status"]["error_count_24h"].as_u64() >= Some(10));

    assert!(count(&|d| d.get("health_status") == Some(&Value::Null)) >= 1);
    assert!(count(&|d| d.get("health_status").is_none() && d.get("test_status").is_none()) >= 1);
    assert!(count(&|d| d.get("last_sync").is_none()) >= 1);
    assert!(count(&|d| d["status"] == "inactive") >= 2);
    assert!(count(&|d| d["last_sync_status"] == "failed") >= 1);

    // Hostile names.
    assert!(count(&|d| name(d).contains('"')) >= 1);
    assert!(count(&|d| name(d).contains('\\')) >= 1);
    assert!(count(&|d| name(d).contains('\n')) >= 1);
    assert!(count(&|d| name(d).chars().any(|c| c as u32 > 0xFFFF)) >= 1);
    assert_eq!(count(&|d| name(d).chars().count() == 300), 1);

    // The same hostile names arrive intact over the wire.
    let wire: Vec<String> = up
        .walk(&up.list_url("?limit=100"))
        .await
        .iter()
        .flat_map(|p| p["results"].as_array().unwrap().clone())
        .map(|item| name(&item))
        .collect();
    let local: Vec<String> = details.iter().map(name).collect();
    assert_eq!(wire, local);

    // Every profile carries fake credentials a leak check can look for.
    assert!(details.iter().all(|d| d["configuration"]["password"]
        .as_str()
        .is_some_and(|p| p.starts_with("sim-secret-"))));
    up.stop().await;
}

#[test]
fn the_same_seed_gives_the_same_fleet_and_another_seed_another() {
    let clock = Arc::new(ManualClock::at_epoch_2026());
    let build = |seed| {
        every_detail(&Simulator::new(SimOptions {
            profiles: 120,
            seed,
            clock: clock.clone(),
            ..SimOptions::default()
        }))
    };
    let first = build(7);
    assert_eq!(first, build(7));
    let other = build(8);
    assert_ne!(first, other);
    let names = |fleet: &[Value]| -> BTreeSet<String> {
        fleet.iter().map(|d| d["name"].to_string()).collect()
    };
    assert_ne!(names(&first), names(&other));
}

#[test]
fn drift_steps_change_health_log_transitions_and_replay_for_a_seed() {
    let clock = Arc::new(ManualClock::at_epoch_2026());
    let build = || {
        Simulator::new(SimOptions {
            profiles: 300,
            seed: 11,
            clock: clock.clone(),
            ..SimOptions::default()
        })
    };
    let (sim, twin) = (build(), build());

    let mut all = Vec::new();
    for _ in 0..30 {
        clock.advance(Duration::from_secs(60));
        let step = sim.drift_step();
        assert_eq!(step, twin.drift_step(), "same seed, same drift");
        all.extend(step);
    }
    assert!(!all.is_empty());
    assert_eq!(sim.transitions(), all);

    // Every transition is visible in the served detail, in order.
    let last = all.last().unwrap();
    let detail = sim.profile_json(last.id).unwrap();
    let now = match last.field {
        HealthField::TestStatus => detail["test_status"].as_str().map(str::to_owned),
        field => detail["health_status"][field.as_str()]
            .as_str()
            .map(str::to_owned),
    };
    assert_eq!(now, last.to);
    for t in &all {
        assert_ne!(t.from, t.to);
    }
    // Flips go back later: some (id, field) turned bad then good again.
    let went_back = all.iter().any(|t| {
        all.iter().any(|u| {
            u.id == t.id && u.field == t.field && u.from == t.to && u.to == t.from && u.at > t.at
        })
    });
    assert!(went_back, "no drifted value ever recovered in 30 steps");

    // Due syncs advance `last_sync` to the clock's time.
    let synced = every_detail(&sim)
        .iter()
        .filter(|d| d["last_sync"] == json!(inventory_monitor::clock::rfc3339(clock_now(&clock))))
        .count();
    assert!(synced > 0, "no sync happened in 30 minutes");
}

fn clock_now(clock: &ManualClock) -> std::time::SystemTime {
    use inventory_monitor::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn background_drift_runs_while_serving() {
    let up = start(SimOptions {
        profiles: 100,
        drift: Some(Duration::from_millis(10)),
        ..SimOptions::default()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.sim.transitions().is_empty() {
        assert!(Instant::now() < deadline, "no drift within 10s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    up.stop().await;
}

#[tokio::test]
async fn injected_server_errors_are_500_pages() {
    let up = start(SimOptions {
        profiles: 60,
        faults: Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
        ..SimOptions::default()
    })
    .await;
    let id = up.sim.profile_ids()[0];
    for url in [up.list_url(""), up.detail_url(id)] {
        let (status, headers, body) = up.get_with(&url, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(body.contains("Server Error (500)"));
    }
    // Authentication comes first.
    let (status, _, _) = up.get_with(&up.list_url(""), Some("bad")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(up.sim.requests().server_errors, 2);

    up.sim.set_faults(Faults::default());
    assert_eq!(up.get(&up.list_url("")).await.0, StatusCode::OK);
    up.stop().await;
}

#[tokio::test]
async fn throttled_requests_carry_retry_after() {
    let up = start(options(60)).await;
    up.sim.set_faults(Faults {
        rate_429: 1.0,
        retry_after: Duration::from_secs(7),
        ..Faults::default()
    });
    let (status, headers, body) = up.get_with(&up.list_url(""), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"detail": "Request was throttled. Expected available in 7 seconds."})
    );
    assert_eq!(up.sim.requests().throttled, 1);
    up.stop().await;
}

#[tokio::test]
async fn malformed_bodies_come_with_200() {
    let up = start(options(60)).await;
    up.sim.set_faults(Faults {
        malformed_rate: 1.0,
        ..Faults::default()
    });
    let id = up.sim.profile_ids()[0];
    let mut kinds = HashSet::new();
    for i in 0..30 {
        let url = if i % 2 == 0 {
            up.list_url("")
        } else {
            up.detail_url(id)
        };
        let (status, headers, body) = up.get_with(&url, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(serde_json::from_str::<Value>(&body).is_err(), "{body}");
        kinds.insert(headers["content-type"].to_str().unwrap().to_owned());
    }
    assert_eq!(
        kinds.len(),
        2,
        "both truncated JSON and HTML pages: {kinds:?}"
    );
    assert_eq!(up.sim.requests().malformed, 30);
    up.stop().await;
}

#[tokio::test]
async fn a_pagination_loop_points_the_last_page_back_to_the_first() {
    let up = start(options(250)).await;
    up.sim.set_faults(Faults {
        pagination_loop: true,
        ..Faults::default()
    });
    let last = up.json(&up.list_url("?limit=100&offset=200")).await;
    assert_eq!(last["next"], json!(up.list_url("?limit=100&offset=0")));
    let again = up.json(last["next"].as_str().unwrap()).await;
    assert_eq!(ids_of(&again), up.sim.profile_ids()[..100].to_vec());
    assert_eq!(up.sim.requests().loops, 1);
    up.stop().await;
}

#[tokio::test]
async fn lists_shrink_or_grow_between_consecutive_requests() {
    let up = start(options(250)).await;
    up.sim.set_faults(Faults {
        shrink_mid_walk: true,
        ..Faults::default()
    });
    let before = up.sim.profile_ids();
    let one = up.json(&up.list_url("?limit=100")).await;
    let two = up.json(one["next"].as_str().unwrap()).await;
    assert_eq!(one["count"], 250);
    assert_eq!(two["count"], 249);
    assert_eq!(
        up.get(&up.detail_url(before[0])).await.0,
        StatusCode::NOT_FOUND
    );
    // The walk by offset skipped the profile that slid back onto the first page.
    assert_eq!(ids_of(&two)[0], before[101]);
    assert!(!ids_of(&one).contains(&before[100]) && !ids_of(&two).contains(&before[100]));

    up.sim.set_faults(Faults {
        grow_mid_walk: true,
        ..Faults::default()
    });
    let three = up.json(&up.list_url("?limit=100")).await;
    let four = up.json(&up.list_url("?limit=100")).await;
    assert_eq!(three["count"], 248);
    assert_eq!(four["count"], 249);
    let newest = *up.sim.profile_ids().last().unwrap();
    assert_eq!(up.json(&up.detail_url(newest)).await["id"], newest);
    let stats = up.sim.requests();
    assert_eq!((stats.shrunk, stats.grown), (2, 2));
    up.stop().await;
}

#[tokio::test]
async fn latency_and_slow_requests_change_at_runtime() {
    let up = start(options(60)).await;
    up.sim.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(up.get(&up.list_url("")).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    up.sim.set_latency(Duration::ZERO);
    up.sim.set_faults(Faults {
        slow_rate: 1.0,
        slow_latency: Duration::from_millis(200),
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(up.get(&up.list_url("")).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(up.sim.requests().slow, 1);
    up.stop().await;
}

#[tokio::test]
async fn concurrent_requests_are_counted_in_flight() {
    let up = start(SimOptions {
        profiles: 60,
        latency: Duration::from_millis(300),
        ..SimOptions::default()
    })
    .await;
    let url = up.list_url("");
    let requests = (0..8).map(|_| up.get(&url));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK));
    let stats = up.sim.requests();
    assert_eq!(stats.list, 8);
    assert_eq!(stats.in_flight, 0);
    assert!(
        stats.max_in_flight >= 2 && stats.max_in_flight <= 8,
        "{stats:?}"
    );
    up.stop().await;
}

#[tokio::test]
async fn control_calls_are_visible_over_the_wire() {
    let up = start(options(60)).await;
    let ids = up.sim.profile_ids();

    assert!(up.sim.rename_profile(ids[0], "Renamed — Test"));
    let page = up.json(&up.list_url("?name=renamed")).await;
    assert_eq!(ids_of(&page), vec![ids[0]]);
    // The same filter again sees the next change.
    assert!(up.sim.rename_profile(ids[5], "Also renamed"));
    let page = up.json(&up.list_url("?name=renamed")).await;
    assert_eq!(ids_of(&page), vec![ids[0], ids[5]]);

    let current = every_detail(&up.sim)
        .into_iter()
        .find(|d| d["health_status"]["connectivity"] == "healthy")
        .unwrap();
    let id = current["id"].as_u64().unwrap();
    assert!(up.sim.set_health(id, Some("unhealthy"), None));
    let detail = up.json(&up.detail_url(id)).await;
    assert_eq!(detail["health_status"]["connectivity"], "unhealthy");
    assert_eq!(detail["health_status"]["authentication"], Value::Null);
    assert!(detail["health_status"]["last_error"].as_str().is_some());
    let logged: Vec<(HealthField, Option<String>, Option<String>)> = up
        .sim
        .transitions()
        .into_iter()
        .map(|t| (t.field, t.from, t.to))
        .collect();
    assert_eq!(
        logged,
        vec![
            (
                HealthField::Connectivity,
                Some("healthy".into()),
                Some("unhealthy".into())
            ),
            (HealthField::Authentication, Some("valid".into()), None),
        ]
    );

    assert!(up.sim.remove_profile(ids[1]));
    assert!(!up.sim.remove_profile(ids[1]));
    assert_eq!(
        up.get(&up.detail_url(ids[1])).await.0,
        StatusCode::NOT_FOUND
    );

    assert!(up
        .sim
        .upsert_profile(json!({"id": 999_999, "name": "Only a name"})));
    let page = up.json(&up.list_url("?limit=100")).await;
    assert_eq!(page["count"], 60);
    assert_eq!(
        page["results"].as_array().unwrap().last().unwrap(),
        &json!({"id": 999_999, "name": "Only a name"})
    );
    assert!(!up.sim.upsert_profile(json!({"name": "no id"})));
    assert!(!up
        .sim
        .set_health(123_456_789, Some("healthy"), Some("valid")));
    up.stop().await;
}
