//! Shared test harness: a simulator on 127.0.0.1:0, a daemon pointed at it with its HTTP
//! server on 127.0.0.1:0, and helpers to scrape and parse what it serves.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use inventory_monitor::clock::{ManualClock, SharedClock};
use inventory_monitor::config::{Config, Secret};
use inventory_monitor::daemon::Daemon;
use inventory_monitor::simulator::{SimOptions, Simulator};
use inventory_monitor_testkit::child::Launch;
use inventory_monitor_testkit::exposition::{self, Family};
use inventory_monitor_testkit::sink::Sink;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A running simulator; stops when dropped.
pub struct Sim {
    pub sim: Simulator,
    pub base_url: String,
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start_sim(opts: SimOptions) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sim = Simulator::new(opts);
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(
        sim.clone()
            .serve(listener, async move { s.cancelled().await }),
    );
    Sim {
        sim,
        base_url: format!("http://{addr}/api/v1"),
        addr,
        stop,
    }
}

/// A simulator with no generated profiles: tests add exactly the ones they need.
pub async fn empty_sim() -> Sim {
    start_sim(SimOptions {
        profiles: 0,
        ..SimOptions::default()
    })
    .await
}

/// A simulator holding the profiles `ids`, all healthy, named `Profile {id}`.
pub async fn fleet(ids: impl IntoIterator<Item = u64>) -> Sim {
    let sim = empty_sim().await;
    for id in ids {
        sim.sim
            .upsert_profile(healthy_detail(id, &format!("Profile {id}"), "North"));
    }
    sim
}

impl Sim {
    /// Profile `id` loses connectivity (authentication stays valid).
    pub fn degrade(&self, id: u64) {
        assert!(self.sim.set_health(id, Some("unhealthy"), Some("valid")));
    }

    /// Profile `id` is healthy again.
    pub fn recover(&self, id: u64) {
        assert!(self.sim.set_health(id, Some("healthy"), Some("valid")));
    }
}

/// A config for tests: short timeouts, few retries.
/// `alerts` as the judge hands its active alerts to the notifier: each behind an `Arc`.
pub fn shared(
    alerts: &[inventory_monitor::rules::Alert],
) -> Vec<Arc<inventory_monitor::rules::Alert>> {
    alerts.iter().cloned().map(Arc::new).collect()
}

pub fn test_config(base_url: &str) -> Config {
    let mut c = Config::default();
    c.api.base_url = base_url.to_string();
    c.api.timeout = Duration::from_secs(3);
    c.api.retries = 2;
    c.api.concurrency = 8;
    c.server.listen = "127.0.0.1:0".to_string();
    c
}

/// A daemon (with a manual clock) and its HTTP server on 127.0.0.1:0.
pub struct Running {
    pub daemon: Daemon,
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start_daemon(config: Config, token: &str) -> Running {
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let shared: SharedClock = clock.clone();
    let daemon = Daemon::new(config, Secret::new(token), shared).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(inventory_monitor::server::serve(
        listener,
        daemon.state(),
        async move { s.cancelled().await },
    ));
    Running {
        daemon,
        addr,
        clock,
        stop,
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> reqwest::Response {
    reqwest::get(format!("http://{addr}{path}")).await.unwrap()
}

pub async fn scrape(addr: SocketAddr) -> (String, Vec<Family>) {
    let resp = get(addr, "/metrics").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let families =
        exposition::parse(&text).unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{text}"));
    (text, families)
}

/// `inventory_monitor_upstream_requests_total` of list pages answered `code`.
pub fn list_requests(families: &[Family], code: &str) -> Option<f64> {
    exposition::find(
        families,
        "inventory_monitor_upstream_requests_total",
        &[("endpoint", "list"), ("code", code)],
    )
}

/// Every value of label `label` on the samples of metric `name`.
pub fn label_values(families: &[Family], name: &str, label: &str) -> Vec<String> {
    exposition::samples_named(families, name)
        .iter()
        .filter_map(|s| s.label(label).map(str::to_string))
        .collect()
}

/// A `last_sync` ten minutes before this test binary first asked (whole seconds): recent
/// enough never to be stale, fixed for the whole run so tests can expect its value.
pub fn recent_sync_unix() -> f64 {
    static AT: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *AT.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        (now - 600) as f64
    })
}

/// A current-revision detail, healthy, with every field set; tests override fields.
pub fn healthy_detail(id: u64, name: &str, org: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "description": "test profile",
        "profile_type": "rest_api",
        "status": "active",
        "endpoint_url": format!("https://user:sim-secret-{id}@wms.example/api"),
        "authentication_type": "oauth2",
        "ssl_enabled": true,
        "connection_timeout": 30,
        "retry_attempts": 3,
        "sync_frequency": "hourly",
        "last_sync": inventory_monitor::clock::rfc3339(
            std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(recent_sync_unix() as u64)
        ),
        "last_sync_status": "success",
        "sync_record_count": 1500,
        "organization": org,
        "created_by": "admin",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T00:00:00Z",
        "configuration": {"password": format!("sim-secret-{id}"), "mapping": {"sku": "item_code"}},
        "health_status": {"connectivity": "healthy", "authentication": "valid", "last_error": null, "error_count_24h": 0}
    })
}

/// Merges `patch` into `base` (top-level keys, and one level into objects).
pub fn patched(mut base: Value, patch: Value) -> Value {
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            match (b.get_mut(k), v) {
                (Some(Value::Object(inner)), Value::Object(pv)) => {
                    for (ik, iv) in pv {
                        inner.insert(ik.clone(), iv.clone());
                    }
                }
                _ => {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
    }
    base
}

#[allow(unused_imports)]
pub use inventory_monitor_testkit::wait::{wait_for, wait_until};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");

/// Runs the binary to its end (within 60 s), with `RUST_LOG` unset unless `env` sets it:
/// exit code, stdout, stderr.
pub async fn run_bin(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let launch = env
        .iter()
        .fold(Launch::new(BIN).args(args), |l, (k, v)| l.env(k, v));
    launch.output(Duration::from_secs(60)).await
}

/// Waits until `GET url` answers 200 (a readiness endpoint); true when it did.
pub async fn wait_ready(url: &str, deadline: Duration) -> bool {
    wait_for(deadline, || async {
        reqwest::get(url).await.is_ok_and(|r| r.status() == 200)
    })
    .await
}

pub async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let text = get(addr, path).await.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}\n{text}"))
}

/// A webhook receiver on 127.0.0.1:0 that answers 200 to everything and reads what it was
/// sent as webhook payloads.
pub struct RecordingSink {
    /// The kit's sink underneath, for tests that need more than payloads.
    pub sink: Sink,
}

impl RecordingSink {
    pub async fn start() -> Self {
        Self {
            sink: Sink::start().await,
        }
    }

    pub fn url(&self) -> String {
        self.sink.url("/hook")
    }

    /// Every POST body so far, as JSON (`null` when it is not).
    pub fn bodies(&self) -> Vec<Value> {
        self.sink
            .received()
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    /// `"<status> <alertname>/<profile_id>"` of every alert in every webhook payload so far.
    pub fn alerts(&self) -> Vec<String> {
        self.bodies()
            .iter()
            .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                format!(
                    "{} {}/{}",
                    a["status"].as_str().unwrap_or("?"),
                    a["labels"]["alertname"].as_str().unwrap_or("?"),
                    a["labels"]["profile_id"].as_str().unwrap_or("")
                )
            })
            .collect()
    }
}

pub use inventory_monitor_testkit::logs::CapturedLogs;
