//! A real Prometheus scraping a real inventory-monitor, for `prometheus.rs` and
//! `grafana.rs`.
//!
//! [`Stack::start`] runs the simulator in-process (the default seeded fleet mix, with a few
//! 500s and 429s so that error panels have data, and a burst of malformed bodies at the start
//! so that the invalid-body counter has data too), the `inventory-monitor` binary as a child
//! process sweeping it every second with two webhook receivers (one that accepts, one that
//! answers 400, so notification outcomes have data), and the Debian `prometheus` binary as a
//! child process with a configuration derived from the shipped
//! `deploy/prometheus/prometheus.yml`: the target replaced, intervals of one second, every
//! rule file of `deploy/prometheus/rules/` loaded, no Alertmanager.
//!
//! External programs are looked up on `PATH`. When one is missing, [`tool`] prints why the
//! test is skipped, except under `CI=true`, where it fails the test: CI installs them.
//! Ports for child processes come from binding `127.0.0.1:0` and dropping the listener.
//! Every child is killed when the [`Stack`] drops.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inventory_monitor::simulator::{Faults, SimOptions};
use inventory_monitor_testkit::child::{Child, Launch, Signal};
use inventory_monitor_testkit::sink::{Reply, Sink};
use serde_json::Value;

use crate::common::{start_sim, wait_for, wait_ready, Sim};

pub use inventory_monitor_testkit::place::{files_under, free_port, repo};
pub use inventory_monitor_testkit::tool::require_tool as tool;

/// The rule files shipped in `deploy/prometheus/rules/`.
pub fn rule_files() -> Vec<PathBuf> {
    files_under(&repo().join("deploy/prometheus/rules"), &[".yml", ".yaml"])
}

/// Every rule (alerting or recording) of the shipped rule files, in file order.
pub fn shipped_rules() -> Vec<serde_norway::Value> {
    let mut rules = Vec::new();
    for file in rule_files() {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let doc: serde_norway::Value = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", file.display()));
        for group in doc["groups"].as_sequence().expect("groups") {
            rules.extend(group["rules"].as_sequence().expect("rules").iter().cloned());
        }
    }
    rules
}

/// The metric names every deployment relies on (README, Metrics): every one must reach
/// Prometheus.
pub const DOCUMENTED_METRICS: &[&str] = &[
    "inventory_profile_info",
    "inventory_profile_up",
    "inventory_profile_connectivity_healthy",
    "inventory_profile_authentication_valid",
    "inventory_profile_health_state",
    "inventory_profile_errors_24h",
    "inventory_profile_last_sync_timestamp_seconds",
    "inventory_profile_last_sync_success",
    "inventory_profile_sync_records",
    "inventory_profile_active",
    "inventory_profile_alert_firing",
    "inventory_monitor_up",
    "inventory_monitor_profiles",
    "inventory_monitor_sweep_duration_seconds",
    "inventory_monitor_last_sweep_success_timestamp_seconds",
    "inventory_monitor_upstream_requests_total",
    "inventory_monitor_notifications_total",
    "inventory_monitor_notification_queue",
    "inventory_monitor_build_info",
    "inventory_monitor_shard_index",
    "inventory_monitor_shards",
];

/// Further monitor metrics the README documents, beyond the required set above.
pub const EXTRA_METRICS: &[&str] = &[
    "inventory_monitor_sweeps_total",
    "inventory_monitor_upstream_invalid_bodies_total",
];

/// The simulator, the monitor and Prometheus, running.
pub struct Stack {
    /// The in-process simulator.
    pub sim: Sim,
    /// `host:port` of the monitor's HTTP server.
    pub monitor_addr: SocketAddr,
    /// `http://127.0.0.1:PORT` of Prometheus.
    pub prometheus_url: String,
    /// HTTP client for both.
    pub http: reqwest::Client,
    monitor: Child,
    prometheus: Child,
    receivers: Sink,
    /// Holds the configs, state, logs and TSDB; removed after the children are killed.
    dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // kill_on_drop would do it too; killing first makes sure no child outlives the
        // temporary directory it writes to.
        let _ = self.monitor.signal(Signal::Kill);
        let _ = self.prometheus.signal(Signal::Kill);
    }
}

/// The two webhook receivers: `/accept` answers 204, `/reject` 400.
async fn start_receivers() -> Sink {
    let sink = Sink::start().await;
    sink.respond_with(|r| match r.route() {
        "/accept" => Reply::status(204),
        "/reject" => Reply::status(400),
        _ => Reply::status(404),
    });
    sink
}

/// The shipped `prometheus.yml`, pointed at `target` with one-second intervals, every rule
/// file loaded and no Alertmanager.
pub fn derived_prometheus_config(target: &str) -> String {
    use serde_norway::Value as Y;
    let shipped = repo().join("deploy/prometheus/prometheus.yml");
    let text = std::fs::read_to_string(&shipped).expect("read deploy/prometheus/prometheus.yml");
    let mut config: Y = serde_norway::from_str(&text).expect("prometheus.yml is YAML");
    let map = config
        .as_mapping_mut()
        .expect("prometheus.yml is a mapping");
    let global = map
        .entry(Y::from("global"))
        .or_insert_with(|| Y::Mapping(Default::default()));
    global["scrape_interval"] = Y::from("1s");
    global["evaluation_interval"] = Y::from("1s");
    map.remove("alerting");
    map.insert(
        Y::from("rule_files"),
        Y::Sequence(
            rule_files()
                .iter()
                .map(|p| Y::from(p.to_string_lossy().into_owned()))
                .collect(),
        ),
    );
    let jobs = map
        .get_mut("scrape_configs")
        .and_then(Y::as_sequence_mut)
        .expect("prometheus.yml has scrape_configs");
    let job = jobs
        .iter_mut()
        .find(|j| j["job_name"] == "inventory-monitor")
        .expect("prometheus.yml has the inventory-monitor job");
    job["scrape_interval"] = Y::from("1s");
    job["scrape_timeout"] = Y::from("1s");
    let statics = job["static_configs"]
        .as_sequence_mut()
        .expect("the inventory-monitor job has static_configs");
    assert_eq!(statics.len(), 1, "one static target group is shipped");
    statics[0]["targets"] = Y::Sequence(vec![Y::from(target)]);
    serde_norway::to_string(&config).expect("serialise prometheus.yml")
}

/// The last lines of a child's log file, for failure messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Stack {
    /// Starts everything and waits until Prometheus has scraped the monitor several times.
    /// `None` (after printing why) when `prometheus` is missing outside CI.
    pub async fn start() -> Option<Stack> {
        let prometheus_bin = tool("prometheus")?;
        let dir = tempfile::tempdir().expect("temp dir");

        let errors = Faults {
            error_rate: 0.02,
            rate_429: 0.02,
            ..Faults::default()
        };
        let sim = start_sim(SimOptions {
            profiles: 300,
            faults: Faults {
                malformed_rate: 0.05,
                ..errors.clone()
            },
            ..SimOptions::default()
        })
        .await;

        let receivers = start_receivers().await;
        let hooks = receivers.addr();

        let monitor_port = free_port();
        let monitor_addr: SocketAddr = ([127, 0, 0, 1], monitor_port).into();
        let config_path = dir.path().join("inventory-monitor.toml");
        let state_dir = dir.path().join("state");
        std::fs::write(
            &config_path,
            format!(
                r#"[api]
base_url = "{base}"
timeout = "3s"
retries = 3
[poll]
interval = "1s"
[server]
listen = "{monitor_addr}"
[state]
dir = "{state}"
[alerting]
group_wait = "0s"
[[alerting.receivers]]
name = "accepting-webhook"
kind = "webhook"
url = "http://{hooks}/accept"
[[alerting.receivers]]
name = "rejecting-webhook"
kind = "webhook"
url = "http://{hooks}/reject"
"#,
                base = sim.base_url,
                state = state_dir.display(),
            ),
        )
        .expect("write monitor config");
        let monitor_log = dir.path().join("monitor.log");
        let monitor = Launch::new(env!("CARGO_BIN_EXE_inventory-monitor"))
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env("INVENTORY_API_TOKEN", sim.sim.token())
            .env("RUST_LOG", "warn")
            .stdout_to(&monitor_log)
            .stderr_to(&monitor_log)
            .spawn()
            .expect("start inventory-monitor");

        let prometheus_port = free_port();
        let prometheus_config = dir.path().join("prometheus.yml");
        std::fs::write(
            &prometheus_config,
            derived_prometheus_config(&monitor_addr.to_string()),
        )
        .expect("write prometheus.yml");
        let prometheus_log = dir.path().join("prometheus.log");
        let prometheus = Launch::new(prometheus_bin)
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .arg("--log.level=warn")
            .stdout_to(&prometheus_log)
            .stderr_to(&prometheus_log)
            .spawn()
            .expect("start prometheus");

        let mut stack = Stack {
            sim,
            monitor_addr,
            prometheus_url: format!("http://127.0.0.1:{prometheus_port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("http client"),
            monitor,
            prometheus,
            receivers,
            dir,
        };

        // The monitor: ready once its first sweep is done; then the malformed bodies stop
        // (once one was counted) so that the rest of the run sees a steady fleet.
        let ready = stack.wait_monitor_ready().await;
        assert!(
            ready,
            "the monitor never became ready:\n{}",
            tail(&monitor_log)
        );
        let counted = stack
            .wait_monitor_metric("inventory_monitor_upstream_invalid_bodies_total")
            .await;
        assert!(
            counted,
            "no invalid body was counted:\n{}",
            tail(&monitor_log)
        );
        stack.sim.sim.set_faults(errors);

        let up = wait_ready(
            &format!("{}/-/ready", stack.prometheus_url),
            Duration::from_secs(30),
        )
        .await;
        assert!(
            up,
            "prometheus never became ready:\n{}",
            tail(&prometheus_log)
        );
        // Several scrapes, so that rate() and increase() have samples to work with, and
        // several rule evaluations since the faults stopped.
        let scraped = stack
            .wait_query_value("count_over_time(inventory_monitor_build_info[1m])", 5.0)
            .await;
        assert!(
            scraped,
            "prometheus did not scrape the monitor 5 times:\n{}\n--- monitor:\n{}",
            tail(&prometheus_log),
            tail(&monitor_log)
        );
        if let Some(status) = stack.monitor.exited() {
            panic!("the monitor exited ({status}):\n{}", tail(&monitor_log));
        }
        Some(stack)
    }

    /// The monitor's log so far (last lines), for failure messages.
    pub fn monitor_log(&self) -> String {
        tail(&self.dir.path().join("monitor.log"))
    }

    /// Prometheus' log so far (last lines), for failure messages.
    pub fn prometheus_log(&self) -> String {
        tail(&self.dir.path().join("prometheus.log"))
    }

    async fn wait_monitor_ready(&self) -> bool {
        let url = format!("http://{}/readyz", self.monitor_addr);
        wait_ready(&url, Duration::from_secs(30)).await
    }

    async fn wait_monitor_metric(&self, name: &str) -> bool {
        let url = format!("http://{}/metrics", self.monitor_addr);
        let http = self.http.clone();
        let prefix = format!("{name}{{");
        wait_for(Duration::from_secs(30), || {
            let (url, http, prefix) = (url.clone(), http.clone(), prefix.clone());
            async move {
                match http.get(url).send().await {
                    Ok(r) => r
                        .text()
                        .await
                        .is_ok_and(|t| t.lines().any(|l| l.starts_with(&prefix))),
                    Err(_) => false,
                }
            }
        })
        .await
    }

    /// Runs an instant query; the `data` object of a successful answer, or why not.
    pub async fn query(&self, expr: &str) -> Result<Value, String> {
        self.api("query", &[("query", expr)]).await
    }

    /// `GET /api/v1/<path>?<params>`: the `data` of a successful answer, or why not.
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let answer = self
            .http
            .get(format!("{}/api/v1/{path}", self.prometheus_url))
            .query(params)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let text = answer.text().await.map_err(|e| format!("body: {e}"))?;
        let body: Value =
            serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", body["errorType"], body["error"]))
        }
    }

    /// The samples of an instant vector query (empty for another result type).
    pub async fn vector(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.query(expr).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// Waits (30 s at most) until every sample of `expr` is at least `min` and there is one.
    pub async fn wait_query_value(&self, expr: &str, min: f64) -> bool {
        wait_for(Duration::from_secs(30), || async {
            match self.vector(expr).await {
                Ok(samples) => {
                    !samples.is_empty() && samples.iter().all(|s| sample_value(s) >= min)
                }
                Err(_) => false,
            }
        })
        .await
    }

    /// `GET /api/v1/label/<label>/values?match[]=<selector>`.
    pub async fn label_values(&self, label: &str, selector: &str) -> Result<Vec<String>, String> {
        let data = self
            .api(&format!("label/{label}/values"), &[("match[]", selector)])
            .await?;
        Ok(data
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The value of one sample of an instant vector (`[time, "value"]`).
pub fn sample_value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Label `name` of one sample.
pub fn sample_label<'a>(sample: &'a Value, name: &str) -> Option<&'a str> {
    sample["metric"][name].as_str()
}
