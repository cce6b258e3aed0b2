//! The upstream client against small scripted HTTP servers, one behaviour each: pagination
//! (concurrent pages, repeated ids, a list that moves, `next` loops and foreign links),
//! failures (401, 403, a server that is down, malformed bodies, 404), retries with backoff,
//! `Retry-After`, timeouts, the concurrency and rate caps, and the secrecy of the token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::Router;
use inventory_monitor::config::{ApiConfig, Secret};
use inventory_monitor::snapshot::{ApiFailure, ListOutcome};
use inventory_monitor::upstream::{DetailResult, UpstreamClient, Walk};
use prometheus::{IntCounterVec, Opts};
use serde_json::json;

/// The token every scripted server expects, distinctive enough to search for in output.
const TOKEN: &str = "tok-7f3a9c-do-not-leak";

/// The API's path prefix on the scripted servers.
const API: &str = "/api/v1";

/// One request as a scripted server saw it.
#[derive(Debug, Clone)]
struct Seen {
    /// Request path.
    path: String,
    /// Decoded query parameters.
    query: HashMap<String, String>,
    /// `Authorization` header.
    authorization: Option<String>,
    /// `User-Agent` header.
    user_agent: Option<String>,
    /// `Host` header, to build absolute `next` links.
    host: String,
    /// When it arrived.
    at: Instant,
}

impl Seen {
    /// A numeric query parameter.
    fn param(&self, name: &str) -> Option<u64> {
        self.query.get(name).and_then(|v| v.parse().ok())
    }

    /// The profile id of a detail request, if it is one.
    fn detail_id(&self) -> Option<u64> {
        self.path
            .strip_prefix(&format!("{API}/inventory_connection_profile/"))?
            .strip_suffix('/')?
            .parse()
            .ok()
    }

    fn is_list(&self) -> bool {
        self.path == format!("{API}/inventory_connection_profile/")
    }
}

/// What a scripted server answers.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(body: impl ToString) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/json".to_string())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// What a scripted server shares with its handler.
struct Shared {
    /// Answers request number `n` (counting from 0, over all paths).
    script: Box<Script>,
    /// Every request, in arrival order.
    seen: Mutex<Vec<Seen>>,
    /// Requests being answered now.
    in_flight: AtomicUsize,
    /// The most ever answered at once.
    max_in_flight: AtomicUsize,
}

/// A scripted server on 127.0.0.1.
struct Server {
    /// `http://127.0.0.1:PORT/api/v1`
    base: String,
    shared: Arc<Shared>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("log lock").clone()
    }

    fn list_requests(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(Seen::is_list).collect()
    }

    fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn serve(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Server {
    let shared = Arc::new(Shared {
        script: Box::new(script),
        seen: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let app = Router::new().fallback(handle).with_state(shared.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server {
        base: format!("http://{addr}{API}"),
        shared,
    }
}

/// Decrements the in-flight count however the handler ends (a client that gives up drops it).
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let parsed = reqwest::Url::parse(&format!("http://placeholder{uri}")).expect("request URI");
    let seen = Seen {
        path: parsed.path().to_string(),
        query: parsed.query_pairs().into_owned().collect(),
        authorization: header("authorization"),
        user_agent: header("user-agent"),
        host: header("host").unwrap_or_default(),
        at: Instant::now(),
    };
    let index = {
        let mut log = shared.seen.lock().expect("log lock");
        log.push(seen.clone());
        log.len() - 1
    };
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(shared.clone());

    let reply = if seen.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")) {
        (shared.script)(&seen, index)
    } else {
        Reply::json(json!({"detail": "Authentication credentials were not provided."}))
            .with_status(401)
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(reply.body)).expect("response")
}

impl Reply {
    fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// A list entry as the API sends it.
fn list_entry(id: u64) -> serde_json::Value {
    json!({
        "id": id,
        "name": format!("profile-{id}"),
        "profile_type": "rest_api",
        "status": "active",
        "organization": {"id": 1, "name": "Main Warehouse"},
        "last_sync": "2026-01-01T00:00:00Z",
    })
}

/// A detail as the API sends it.
fn detail(id: u64) -> serde_json::Value {
    json!({
        "id": id,
        "name": format!("profile-{id}"),
        "profile_type": "rest_api",
        "status": "active",
        "configuration": {"password": "cfg-secret"},
        "health_status": {"connectivity": "healthy", "authentication": "valid",
                          "last_error": null, "error_count_24h": 0},
    })
}

/// A DRF page of `ids`, claiming `count` and linking to the next offset.
fn page(seen: &Seen, count: Option<u64>, ids: impl IntoIterator<Item = u64>) -> serde_json::Value {
    let limit = seen.param("limit").unwrap_or(20);
    let offset = seen.param("offset").unwrap_or(0);
    let next = match count {
        Some(count) if offset + limit < count => json!(format!(
            "http://{}{}?limit={limit}&offset={}",
            seen.host,
            seen.path,
            offset + limit
        )),
        _ => json!(null),
    };
    json!({
        "count": count,
        "next": next,
        "previous": null,
        "results": ids.into_iter().map(list_entry).collect::<Vec<_>>(),
    })
}

/// A well-behaved list of profiles `1..=n`.
fn list_of(seen: &Seen, n: u64) -> Reply {
    let limit = seen.param("limit").unwrap_or(20);
    let offset = seen.param("offset").unwrap_or(0);
    let ids = (offset + 1)..=(offset + limit).min(n);
    Reply::json(page(seen, Some(n), ids))
}

/// The request counters a client reports into.
struct Counters {
    requests: IntCounterVec,
    invalid: IntCounterVec,
}

impl Counters {
    fn requests(&self, endpoint: &str, code: &str) -> u64 {
        self.requests.with_label_values(&[endpoint, code]).get()
    }

    fn invalid(&self, endpoint: &str) -> u64 {
        self.invalid.with_label_values(&[endpoint]).get()
    }
}

fn api(base: &str) -> ApiConfig {
    ApiConfig {
        base_url: base.to_string(),
        page_size: 100,
        concurrency: 4,
        max_requests_per_second: 0.0,
        timeout: Duration::from_secs(5),
        retries: 2,
        ..ApiConfig::default()
    }
}

fn client(api: &ApiConfig) -> (UpstreamClient, Counters) {
    let counters = Counters {
        requests: IntCounterVec::new(
            Opts::new("inventory_monitor_upstream_requests_total", "requests"),
            &["endpoint", "code"],
        )
        .expect("counter"),
        invalid: IntCounterVec::new(
            Opts::new("inventory_monitor_upstream_invalid_bodies_total", "bodies"),
            &["endpoint"],
        )
        .expect("counter"),
    };
    let client = UpstreamClient::new(
        api,
        Secret::new(TOKEN),
        counters.requests.clone(),
        counters.invalid.clone(),
    )
    .expect("client");
    (client, counters)
}

fn ids(walk: &Walk) -> Vec<u64> {
    walk.items.iter().map(|i| i.id).collect()
}

fn incomplete_reason(walk: &Walk) -> &str {
    match &walk.outcome {
        ListOutcome::Incomplete { reason } => reason,
        other => panic!("expected an incomplete walk, got {other:?}"),
    }
}

fn failure(walk: &Walk) -> (ApiFailure, &str) {
    match &walk.outcome {
        ListOutcome::Failed { kind, message } => (*kind, message),
        other => panic!("expected a failed walk, got {other:?}"),
    }
}

/// An address nothing listens on.
async fn closed_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}{API}")
}

// ---------------------------------------------------------------------------------------
// The list walk
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn full_walk_reads_the_first_page_then_the_rest_concurrently() {
    let server = serve(|seen, _| {
        let reply = list_of(seen, 250);
        // The later pages are slow, so that two fetched together overlap on the server.
        if seen.param("offset") == Some(0) {
            reply
        } else {
            reply.after(Duration::from_millis(200))
        }
    })
    .await;
    let (client, counters) = client(&api(&server.base));

    let walk = client.walk().await;

    assert_eq!(walk.outcome, ListOutcome::Complete);
    assert_eq!(ids(&walk), (1..=250).collect::<Vec<_>>());
    assert_eq!(walk.pages, 3);
    assert_eq!(
        walk.items[0].organization.as_deref(),
        Some("Main Warehouse")
    );
    let requests = server.list_requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[0].param("offset"),
        Some(0),
        "the first page comes first"
    );
    let mut offsets: Vec<_> = requests.iter().filter_map(|s| s.param("offset")).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, [0, 100, 200]);
    assert!(requests.iter().all(|s| s.param("limit") == Some(100)));
    assert_eq!(
        server.max_in_flight(),
        2,
        "pages 2 and 3 were in flight together"
    );
    assert_eq!(counters.requests("list", "200"), 3);
    for s in &requests {
        assert_eq!(
            s.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
        let agent = s.user_agent.as_deref().unwrap_or_default();
        assert!(agent.starts_with("inventory-monitor/"), "{agent}");
        assert!(!s.query.contains_key("name"), "no name filter configured");
    }
}

#[tokio::test]
async fn name_filter_is_sent_url_encoded() {
    let server = serve(|seen, _| list_of(seen, 3)).await;
    let mut config = api(&server.base);
    config.name_filter = "Main & Co/ü +1?x=y#z".to_string();
    let (client, _) = client(&config);

    let walk = client.walk().await;

    assert_eq!(walk.outcome, ListOutcome::Complete);
    let requests = server.list_requests();
    assert_eq!(
        requests[0].query.get("name").map(String::as_str),
        Some("Main & Co/ü +1?x=y#z")
    );
    assert_eq!(requests[0].query.len(), 3, "{:?}", requests[0].query);
}

#[tokio::test]
async fn empty_list_is_complete_after_one_request() {
    let server = serve(|seen, _| list_of(seen, 0)).await;
    let (client, _) = client(&api(&server.base));

    let walk = client.walk().await;

    assert_eq!(walk.outcome, ListOutcome::Complete);
    assert!(walk.items.is_empty());
    assert_eq!(server.list_requests().len(), 1);
}

#[tokio::test]
async fn a_server_side_page_limit_is_walked_in_its_steps() {
    // DRF's `max_limit`: the server serves at most 40 per page whatever we ask.
    let server = serve(|seen, _| {
        let offset = seen.param("offset").unwrap_or(0);
        let limit = seen.param("limit").unwrap_or(20).min(40);
        Reply::json(page(
            seen,
            Some(100),
            (offset + 1)..=(offset + limit).min(100),
        ))
    })
    .await;
    let (client, _) = client(&api(&server.base));

    let walk = client.walk().await;

    assert_eq!(walk.outcome, ListOutcome::Complete);
    assert_eq!(ids(&walk), (1..=100).collect::<Vec<_>>());
    let mut offsets: Vec<_> = server
        .list_requests()
        .iter()
        .filter_map(|s| s.param("offset"))
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, [0, 40, 80]);
}

#[tokio::test]
async fn repeated_ids_are_dropped_first_seen_wins_and_the_walk_is_incomplete() {
    let server = serve(|seen, _| match seen.param("offset") {
        Some(0) => Reply::json(page(seen, Some(4), [1, 2])),
        _ => {
            let mut body = page(seen, Some(4), [2, 3]);
            body["results"][0]["name"] = json!("second copy");
            Reply::json(body)
        }
    })
    .await;
    let mut config = api(&server.base);
    config.page_size = 2;
    let (client, _) = client(&config);

    let walk = client.walk().await;

    assert_eq!(ids(&walk), [1, 2, 3]);
    assert_eq!(walk.items[1].name, "profile-2", "the first occurrence wins");
    let reason = incomplete_reason(&walk);
    assert!(reason.contains("repeated an id"), "{reason}");
}

#[tokio::test]
async fn a_count_that_changes_mid_walk_makes_it_incomplete() {
    let server = serve(|seen, _| {
        let offset = seen.param("offset").unwrap_or(0);
        let count = if offset == 0 { 250 } else { 251 };
        Reply::json(page(
            seen,
            Some(count),
            (offset + 1)..=(offset + 100).min(250),
        ))
    })
    .await;
    let (client, _) = client(&api(&server.base));

    let walk = client.walk().await;

    let reason = incomplete_reason(&walk);
    assert!(reason.contains("changed during the walk"), "{reason}");
    assert_eq!(walk.items.len(), 250, "what was read is still returned");
}

#[tokio::test]
async fn a_list_that_shrank_under_a_stable_count_is_incomplete() {
    // The count says 250 but the last page is empty: 50 profiles went missing.
    let server = serve(|seen, _| {
        let offset = seen.param("offset").unwrap_or(0);
        Reply::json(page(
            seen,
            Some(250),
            (offset + 1)..=(offset + 100).min(200),
        ))
    })
    .await;
    let (client, _) = client(&api(&server.base));

    let walk = client.walk().await;

    let reason = incomplete_reason(&walk);
    assert!(
        reason.contains("200 distinct") && reason.contains("250"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_later_page_failing_is_incomplete_and_keeps_what_was_read() {
    let server = serve(|seen, _| match seen.param("offset") {
        Some(100) => Reply::status(404),
        _ => list_of(seen, 250),
    })
    .await;
    let (client, counters) = client(&api(&server.base));

    let walk = client.walk().await;

    let reason = incomplete_reason(&walk);
    assert!(
        reason.contains("offset 100") && reason.contains("404"),
        "{reason}"
    );
    let expected: Vec<u64> = (1..=100).chain(201..=250).collect();
    assert_eq!(ids(&walk), expected);
    assert_eq!(walk.pages, 2);
    assert_eq!(counters.requests("list", "404"), 1, "a 404 is not retried");
}

#[tokio::test]
async fn a_later_page_with_a_malformed_body_is_incomplete_and_counted() {
    let server = serve(|seen, _| match seen.param("offset") {
        Some(200) => Reply::json("{\"count\": 250, \"results\": [{\"id\": 201"),
        _ => list_of(seen, 250),
    })
    .await;
    let (client, counters) = client(&api(&server.base));

    let walk = client.walk().await;

    let reason = incomplete_reason(&walk);
    assert!(
        reason.contains("offset 200") && reason.contains("invalid body"),
        "{reason}"
    );
    assert_eq!(walk.items.len(), 200);
    assert_eq!(counters.invalid("list"), 1);
    assert_eq!(
        counters.requests("list", "200"),
        3,
        "malformed bodies are not retried"
    );
}

#[tokio::test]
async fn following_next_links_when_there_is_no_count() {
    let server = serve(|seen, _| {
        let mut body = list_of(seen, 250).body;
        // Same pages, but without a count: only `next` tells where the list goes on.
        let mut value: serde_json::Value = serde_json::from_str(&body).expect("json");
        value["count"] = json!(null);
        body = value.to_string();
        Reply::json(body)
    })
    .await;
    let (client, _) = client(&api(&server.base));

    let walk = client.walk().await;

    assert_eq!(walk.outcome, ListOutcome::Complete);
    assert_eq!(ids(&walk), (1..=250).collect::<Vec<_>>());
    assert_eq!(walk.pages, 3);
    let offsets: Vec<_> = server
        .list_requests()
        .iter()
        .filter_map(|s| s.param("offset"))
        .collect();
    assert_eq!(offsets, [0, 100, 200], "one page after the other");
}

#[tokio::test]
async fn a_next_loop_ends_the_walk_incomplete() {
    // Page 1 links to page 2, which links back to page 1.
    let server = serve(|seen, _| {
        let offset = seen.param("offset").unwrap_or(0);
        let (ids, next_offset) = if offset == 0 {
            ([1, 2], 2)
        } else {
            ([3, 4], 0)
        };
        let mut body = page(seen, None, ids);
        body["next"] = json!(format!(
            "http://{}{}?limit=2&offset={next_offset}",
            seen.host, seen.path
        ));
        Reply::json(body)
    })
    .await;
    let mut config = api(&server.base);
    config.page_size = 2;
    let (client, _) = client(&config);

    let walk = tokio::time::timeout(Duration::from_secs(10), client.walk())
        .await
        .expect("the walk terminates");

    let reason = incomplete_reason(&walk);
    assert!(reason.contains("loops"), "{reason}");
    assert_eq!(ids(&walk), [1, 2, 3, 4]);
    assert_eq!(server.list_requests().len(), 2);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let elsewhere = serve(|seen, _| list_of(seen, 10)).await;
    let foreign_next = format!(
        "{}/inventory_connection_profile/?limit=2&offset=2",
        elsewhere.base
    );
    let server = serve(move |seen, _| {
        let mut body = page(seen, None, [1, 2]);
        body["next"] = json!(foreign_next);
        Reply::json(body)
    })
    .await;
    let mut config = api(&server.base);
    config.page_size = 2;
    let (client, _) = client(&config);

    let walk = client.walk().await;

    let reason = incomplete_reason(&walk);
    assert!(reason.contains("another origin"), "{reason}");
    assert_eq!(ids(&walk), [1, 2]);
    assert!(
        elsewhere.seen().is_empty(),
        "the other host saw {:?}",
        elsewhere.seen()
    );
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let elsewhere = serve(|seen, _| Reply::json(detail(seen.detail_id().unwrap_or(0)))).await;
    let target = format!("{}/inventory_connection_profile/1/", elsewhere.base);
    let server = serve(move |_, _| Reply::status(307).header("location", target.clone())).await;
    let (client, _) = client(&api(&server.base));

    let result = client.fetch_detail(1).await;

    assert!(
        matches!(&result, DetailResult::Failed(reason) if reason.contains("307")),
        "{result:?}"
    );
    assert!(
        elsewhere.seen().is_empty(),
        "the other host saw {:?}",
        elsewhere.seen()
    );
}

#[tokio::test]
async fn unauthorized_fails_the_walk_without_retrying() {
    let server = serve(|seen, _| list_of(seen, 10)).await;
    let mut config = api(&server.base);
    config.retries = 3;
    let client = UpstreamClient::new(
        &config,
        Secret::new("wrong-token"),
        IntCounterVec::new(Opts::new("r", "r"), &["endpoint", "code"]).expect("counter"),
        IntCounterVec::new(Opts::new("i", "i"), &["endpoint"]).expect("counter"),
    )
    .expect("client");

    let walk = client.walk().await;

    let (kind, message) = failure(&walk);
    assert_eq!(kind, ApiFailure::Unauthorized);
    // The kind says 401; the message says where, without saying it again.
    assert!(
        message.starts_with("refused at http://") && message.ends_with("?limit=100&offset=0"),
        "{message}"
    );
    assert!(!message.contains("401"), "{message}");
    assert!(walk.items.is_empty());
    assert_eq!(server.seen().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn forbidden_fails_the_walk() {
    let server =
        serve(|_, _| Reply::json(json!({"detail": "no permission"})).with_status(403)).await;
    let (client, counters) = client(&api(&server.base));

    let walk = client.walk().await;

    assert_eq!(failure(&walk).0, ApiFailure::Forbidden);
    assert_eq!(counters.requests("list", "403"), 1);
}

#[tokio::test]
async fn forbidden_on_a_later_page_fails_the_whole_walk() {
    let server = serve(|seen, _| match seen.param("offset") {
        Some(200) => Reply::status(403),
        _ => list_of(seen, 250),
    })
    .await;
    let (client, _) = client(&api(&server.base));

    let walk = client.walk().await;

    assert_eq!(failure(&walk).0, ApiFailure::Forbidden);
    assert!(walk.items.is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_is_unreachable_after_retries() {
    let base = closed_address().await;
    let mut config = api(&base);
    config.retries = 2;
    let (client, counters) = client(&config);

    let walk = client.walk().await;

    let (kind, message) = failure(&walk);
    assert_eq!(kind, ApiFailure::Unreachable);
    assert!(message.contains("connect"), "{message}");
    assert!(message.contains("3 attempts"), "{message}");
    assert_eq!(counters.requests("list", "connect_error"), 3);
}

#[tokio::test]
async fn persistent_server_errors_are_unreachable() {
    let server = serve(|_, _| Reply::status(502)).await;
    let mut config = api(&server.base);
    config.retries = 1;
    let (client, counters) = client(&config);

    let walk = client.walk().await;

    assert_eq!(failure(&walk).0, ApiFailure::Unreachable);
    assert_eq!(counters.requests("list", "502"), 2);
}

#[tokio::test]
async fn a_malformed_first_page_is_a_bad_response() {
    let server = serve(|_, _| Reply::json("<html><body>Maintenance</body></html>")).await;
    let (client, counters) = client(&api(&server.base));

    let walk = client.walk().await;

    let (kind, message) = failure(&walk);
    assert_eq!(kind, ApiFailure::BadResponse);
    assert!(message.contains("invalid body"), "{message}");
    assert_eq!(counters.invalid("list"), 1);
    assert_eq!(server.seen().len(), 1, "malformed bodies are not retried");
}

#[tokio::test]
async fn an_absurd_count_is_a_bad_response() {
    let server = serve(|seen, _| Reply::json(page(seen, Some(20_000_000), [1, 2]))).await;
    let (client, _) = client(&api(&server.base));

    let walk = client.walk().await;

    assert_eq!(failure(&walk).0, ApiFailure::BadResponse);
    assert_eq!(
        server.seen().len(),
        1,
        "no page after the first was asked for"
    );
}

// ---------------------------------------------------------------------------------------
// Retries, Retry-After and timeouts
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = serve(|seen, n| {
        if n < 2 {
            Reply::status(500)
        } else {
            Reply::json(detail(seen.detail_id().unwrap_or(0)))
        }
    })
    .await;
    let mut config = api(&server.base);
    config.retries = 3;
    let (client, counters) = client(&config);

    let result = client.fetch_detail(7).await;

    assert!(
        matches!(&result, DetailResult::Ok(p) if p.id == 7 && p.connectivity.as_deref() == Some("healthy")),
        "{result:?}"
    );
    assert_eq!(server.seen().len(), 3);
    assert_eq!(counters.requests("detail", "500"), 2);
    assert_eq!(counters.requests("detail", "200"), 1);
}

#[tokio::test]
async fn the_first_page_is_retried_too() {
    let server = serve(|seen, n| {
        if n == 0 {
            Reply::status(503)
        } else {
            list_of(seen, 150)
        }
    })
    .await;
    let (client, counters) = client(&api(&server.base));

    let walk = client.walk().await;

    assert_eq!(walk.outcome, ListOutcome::Complete);
    assert_eq!(walk.items.len(), 150);
    assert_eq!(counters.requests("list", "503"), 1);
    assert_eq!(counters.requests("list", "200"), 2);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = serve(|seen, n| {
        if n == 0 {
            Reply::status(429).header("retry-after", "1")
        } else {
            Reply::json(detail(seen.detail_id().unwrap_or(0)))
        }
    })
    .await;
    let (client, counters) = client(&api(&server.base));

    let result = client.fetch_detail(3).await;

    assert!(matches!(result, DetailResult::Ok(_)), "{result:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(5), "retried after {gap:?}");
    assert_eq!(counters.requests("detail", "429"), 1);
}

#[tokio::test]
async fn timeouts_are_retried() {
    let server = serve(|seen, n| {
        let reply = Reply::json(detail(seen.detail_id().unwrap_or(0)));
        if n == 0 {
            reply.after(Duration::from_secs(3))
        } else {
            reply
        }
    })
    .await;
    let mut config = api(&server.base);
    config.timeout = Duration::from_millis(300);
    let (client, counters) = client(&config);

    let started = Instant::now();
    let result = client.fetch_detail(5).await;

    assert!(matches!(result, DetailResult::Ok(_)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the slow answer was not awaited"
    );
    assert_eq!(counters.requests("detail", "timeout"), 1);
    assert_eq!(counters.requests("detail", "200"), 1);
}

#[tokio::test]
async fn timeouts_on_every_attempt_fail_the_detail() {
    let server = serve(|_, _| Reply::json(detail(1)).after(Duration::from_secs(3))).await;
    let mut config = api(&server.base);
    config.timeout = Duration::from_millis(200);
    config.retries = 1;
    let (client, counters) = client(&config);

    let result = client.fetch_detail(1).await;

    assert!(
        matches!(&result, DetailResult::Failed(r) if r.contains("timed out") && r.contains("2 attempts")),
        "{result:?}"
    );
    assert_eq!(counters.requests("detail", "timeout"), 2);
}

// ---------------------------------------------------------------------------------------
// Details
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_malformed_detail_fails_alone_and_is_counted() {
    let server = serve(|seen, _| match seen.detail_id() {
        Some(3) => Reply::json("<html>oops</html>"),
        Some(id) => Reply::json(detail(id)),
        None => Reply::status(400),
    })
    .await;
    let (client, counters) = client(&api(&server.base));

    let results = client.fetch_details(&[1, 2, 3, 4, 5]).await;

    assert_eq!(
        results.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    for (id, result) in &results {
        match (id, result) {
            (3, DetailResult::Failed(reason)) => {
                assert!(reason.starts_with("invalid body"), "{reason}")
            }
            (_, DetailResult::Ok(p)) => assert_eq!(p.id, *id),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(counters.invalid("detail"), 1);
    let asked_for_3 = server
        .seen()
        .iter()
        .filter(|s| s.detail_id() == Some(3))
        .count();
    assert_eq!(asked_for_3, 1, "malformed bodies are not retried");
}

#[tokio::test]
async fn a_detail_for_another_profile_is_invalid() {
    let server = serve(|_, _| Reply::json(detail(99))).await;
    let (client, counters) = client(&api(&server.base));

    let result = client.fetch_detail(1).await;

    assert!(
        matches!(&result, DetailResult::Failed(r) if r.contains("99")),
        "{result:?}"
    );
    assert_eq!(counters.invalid("detail"), 1);
}

#[tokio::test]
async fn a_missing_profile_is_gone() {
    let server = serve(|_, _| Reply::json(json!({"detail": "Not found."})).with_status(404)).await;
    let (client, counters) = client(&api(&server.base));

    let result = client.fetch_detail(12).await;

    assert!(matches!(result, DetailResult::Gone), "{result:?}");
    assert_eq!(server.seen().len(), 1, "a 404 is not retried");
    assert_eq!(
        server.seen()[0].path,
        format!("{API}/inventory_connection_profile/12/")
    );
    assert_eq!(counters.requests("detail", "404"), 1);
}

#[tokio::test]
async fn other_client_errors_fail_the_detail_with_the_status() {
    let server = serve(|_, _| Reply::status(418)).await;
    let (client, _) = client(&api(&server.base));

    let result = client.fetch_detail(1).await;

    assert!(
        matches!(&result, DetailResult::Failed(r) if r.contains("418")),
        "{result:?}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn detail_concurrency_never_exceeds_the_limit_and_order_is_kept() {
    let server = serve(|seen, _| {
        Reply::json(detail(seen.detail_id().unwrap_or(0))).after(Duration::from_millis(40))
    })
    .await;
    let mut config = api(&server.base);
    config.concurrency = 4;
    let (client, _) = client(&config);
    let ids: Vec<u64> = (0..30).map(|i| (i * 17) % 31 + 1).collect();

    let results = client.fetch_details(&ids).await;

    assert_eq!(results.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    for (id, result) in &results {
        assert!(
            matches!(result, DetailResult::Ok(p) if p.id == *id),
            "{id}: {result:?}"
        );
    }
    let max = server.max_in_flight();
    assert!(max <= 4, "{max} requests were in flight at once");
    assert!(max >= 2, "requests were not concurrent at all ({max})");
}

#[tokio::test]
async fn the_rate_cap_spaces_request_starts() {
    let server = serve(|seen, _| Reply::json(detail(seen.detail_id().unwrap_or(0)))).await;
    let mut config = api(&server.base);
    config.concurrency = 20;
    config.max_requests_per_second = 50.0;
    let (client, _) = client(&config);
    let ids: Vec<u64> = (1..=20).collect();

    let started = Instant::now();
    let results = client.fetch_details(&ids).await;
    let elapsed = started.elapsed();

    assert!(results
        .iter()
        .all(|(_, r)| matches!(r, DetailResult::Ok(_))));
    // 20 starts at 50/s: the last starts 19 × 20 ms after the first.
    assert!(elapsed >= Duration::from_millis(375), "took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let seen = server.seen();
    let span = seen[seen.len() - 1].at - seen[0].at;
    assert!(
        span >= Duration::from_millis(370),
        "server saw them within {span:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Secrecy
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_token_never_appears_in_results_or_outcomes() {
    // A hostile upstream that echoes the token wherever it can.
    let server = serve(|seen, _| match seen.detail_id() {
        Some(1) => Reply::json(json!(TOKEN)),
        Some(2) => Reply::json(format!("not json {TOKEN}")),
        Some(3) => Reply::json(json!({"id": TOKEN})),
        Some(4) => Reply::status(400).body(format!("bad request {TOKEN}")),
        Some(5) => Reply::status(500).body(TOKEN),
        _ => Reply::status(500).body(format!("{{\"detail\": \"{TOKEN}\"}}")),
    })
    .await;
    let mut config = api(&server.base);
    config.retries = 0;
    let (client, _) = client(&config);

    let results = client.fetch_details(&[1, 2, 3, 4, 5]).await;
    let walk = client.walk().await;

    for (id, result) in &results {
        let DetailResult::Failed(reason) = result else {
            panic!("{id}: expected a failure, got {result:?}");
        };
        assert!(!reason.contains(TOKEN), "{id}: {reason}");
    }
    let (kind, message) = failure(&walk);
    assert_eq!(kind, ApiFailure::Unreachable);
    assert!(!message.contains(TOKEN), "{message}");
    assert!(!format!("{client:?}").contains(TOKEN));
    // And it was sent, as a bearer token, on every request.
    assert!(server
        .seen()
        .iter()
        .all(|s| s.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}"))));
}

#[tokio::test]
async fn fetch_details_each_settles_each_detail_on_the_io_thread_and_hands_every_index_back() {
    let server = serve(|seen, _| match seen.detail_id() {
        Some(3) => Reply::status(404),
        Some(id) => Reply::json(detail(id)),
        None => Reply::status(500),
    })
    .await;
    let (client, _) = client(&api(&server.base));
    // More than one batch handed back from the I/O thread.
    let ids: Vec<u64> = (1..=600).rev().collect();
    // Per index: the id settled, the id of the detail read, the thread that settled it.
    type Settled = (u64, Option<u64>, Option<String>);
    let mut kept: Vec<Option<Settled>> = vec![None; ids.len()];

    client
        .fetch_details_each(
            &ids,
            |id, result| {
                let thread = std::thread::current().name().map(str::to_string);
                let read = match result {
                    DetailResult::Ok(profile) => Some(profile.id),
                    _ => None,
                };
                (id, read, thread)
            },
            |index, settled| {
                assert!(kept[index].is_none(), "index {index} handed back twice");
                kept[index] = Some(settled);
            },
        )
        .await;

    for (index, id) in ids.iter().enumerate() {
        let Some((settled_id, read, thread)) = &kept[index] else {
            panic!("index {index} was not handed back");
        };
        assert_eq!(settled_id, id);
        assert_eq!(*read, (*id != 3).then_some(*id), "profile {id}");
        assert_eq!(thread.as_deref(), Some("upstream-io"), "profile {id}");
    }
}

#[tokio::test]
async fn a_second_sweep_shares_each_unchanged_detail_with_the_first() {
    use inventory_monitor::clock::ManualClock;
    use inventory_monitor::shard::Shard;
    use std::sync::atomic::AtomicBool;

    let changed = Arc::new(AtomicBool::new(false));
    let changes = changed.clone();
    let server = serve(move |seen, _| match seen.detail_id() {
        Some(id) => {
            let mut body = detail(id);
            if id == 2 && changes.load(Ordering::SeqCst) {
                body["health_status"]["error_count_24h"] = json!(9);
            }
            if id == 3 && changes.load(Ordering::SeqCst) {
                // The name changes; the rest of the detail does not.
                body["name"] = json!("renamed");
            }
            Reply::json(body)
        }
        None => list_of(seen, 3),
    })
    .await;
    let (client, _) = client(&api(&server.base));
    let clock = ManualClock::new(std::time::SystemTime::now());

    let first = inventory_monitor::sweep::sweep(&client, Shard::default(), None, &clock).await;
    changed.store(true, Ordering::SeqCst);
    let second =
        inventory_monitor::sweep::sweep(&client, Shard::default(), Some(&first), &clock).await;

    let profile = |snapshot: &inventory_monitor::snapshot::Snapshot, i: usize| {
        let entry = &snapshot.profiles[i];
        assert!(entry.up, "{entry:?}");
        entry.profile.clone().expect("a read detail is kept")
    };
    assert_eq!(second.profiles.len(), 3);
    assert!(
        Arc::ptr_eq(&profile(&first, 0), &profile(&second, 0)),
        "an unchanged detail is the previous sweep's very allocation"
    );
    assert!(
        !Arc::ptr_eq(&profile(&first, 1), &profile(&second, 1)),
        "a changed detail is the new one"
    );
    assert_eq!(profile(&second, 1).error_count_24h, Some(9));
    assert!(
        Arc::ptr_eq(&profile(&first, 2), &profile(&second, 2)),
        "the name lives in the entry: a new name alone shares the rest"
    );
    assert_eq!(&*first.profiles[2].name, "profile-3");
    assert_eq!(&*second.profiles[2].name, "renamed");
}
