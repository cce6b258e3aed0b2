//! The binary as operators run it, for the end-to-end alerting tests: `inventory-monitor run`
//! as a child process (started, SIGKILLed, restarted on the same state directory), a
//! recording webhook receiver it delivers to, and readers of its state file.
//!
//! Everything waits on conditions with deadlines (the sink's records, the state file) and
//! never on fixed sleeps.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use inventory_monitor_testkit::child::{Child, Launch};
pub use inventory_monitor_testkit::sink::Received;
use inventory_monitor_testkit::sink::{Reply, Sink as KitSink};
pub use inventory_monitor_testkit::wait::wait_until;
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");

/// The environment variable the config names for the API token.
const TOKEN_ENV: &str = "IM_E2E_TOKEN";

/// The environment variable the config names for the webhook URL (`url_env`).
const SINK_URL_ENV: &str = "IM_E2E_SINK_URL";

// ---------------------------------------------------------------------------------------
// The recording webhook receiver.

/// How the sink treats the requests it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answer 200.
    Ok,
    /// Answer 500.
    Fail,
    /// Read the request, then never answer (until the client gives up).
    Hang,
    /// Take the request (it counts as delivered: a person may have seen it) but never
    /// answer: what a daemon that dies between the receiver's 2xx and its own state write
    /// has seen.
    Stall,
    /// Nothing listens: connections are refused.
    Refuse,
}

/// A webhook payload as the kit's sink recorded it, read as Alertmanager v4.
pub trait Webhook {
    /// The Alertmanager v4 webhook payload.
    fn payload(&self) -> Value;
    /// The payload's alerts, in payload order.
    fn alerts(&self) -> Vec<Announced>;
}

impl Webhook for Received {
    fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "webhook body is not JSON: {e}: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn alerts(&self) -> Vec<Announced> {
        let payload = self.payload();
        assert_eq!(payload["version"], "4", "not a v4 payload: {payload}");
        let alerts = payload["alerts"]
            .as_array()
            .unwrap_or_else(|| panic!("no alerts[] in {payload}"));
        let any_firing = alerts.iter().any(|a| a["status"] == "firing");
        assert_eq!(
            payload["status"],
            if any_firing { "firing" } else { "resolved" },
            "the group status follows its alerts: {payload}"
        );
        alerts
            .iter()
            .map(|a| Announced {
                status: a["status"].as_str().unwrap_or_default().to_string(),
                alertname: a["labels"]["alertname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                profile_id: a["labels"]["profile_id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                starts_at: a["startsAt"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }
}

/// One alert of a webhook payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    /// `firing` or `resolved`.
    pub status: String,
    /// `labels.alertname`.
    pub alertname: String,
    /// `labels.profile_id` (0 when absent).
    pub profile_id: u64,
    /// `startsAt`: tells one episode of an alert from the next.
    pub starts_at: String,
}

impl Announced {
    /// `firing 3`, `resolved 1`.
    pub fn short(&self) -> String {
        format!("{} {}", self.status, self.profile_id)
    }
}

/// A webhook receiver on 127.0.0.1:0 (the kit's sink) switched between [`Mode`]s; stops
/// when dropped.
pub struct Sink(
    /// The recording server.
    KitSink,
);

impl Sink {
    /// A sink answering 200.
    pub async fn start() -> Sink {
        Sink(KitSink::start().await)
    }

    /// The URL the daemon gets through `url_env`; the path stands for a secret.
    pub fn url(&self) -> String {
        self.0.url("/hook/e2e-s3cr3t-path")
    }

    /// Switches how requests are treated from now on. `Refuse` closes the listening
    /// socket; any other mode after it listens again on the same address.
    pub async fn set_mode(&mut self, mode: Mode) {
        let reply = match mode {
            Mode::Ok => Reply::ok(),
            Mode::Fail => Reply::status(500),
            Mode::Hang => Reply::hang(),
            Mode::Stall => Reply::stall(200),
            Mode::Refuse => return self.0.go_down().await,
        };
        self.0.always(reply);
        self.0.come_back().await;
    }

    /// Answers every request from now on with `reply` (a slow receiver: `Reply::ok()`
    /// with a delay).
    pub fn always(&self, reply: Reply) {
        self.0.always(reply);
    }

    /// The kit's sink itself, to wait on its records.
    pub fn kit(&self) -> &KitSink {
        &self.0
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.0.received()
    }

    /// The requests answered with a 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<Received> {
        self.0.delivered()
    }

    /// The alerts of every delivered request, flattened, in arrival order.
    pub fn delivered_alerts(&self) -> Vec<Announced> {
        self.delivered().iter().flat_map(Received::alerts).collect()
    }
}

// ---------------------------------------------------------------------------------------
// The daemon as a child process.

/// `[alerting]` settings of the test config.
#[derive(Clone, Copy, Debug)]
pub struct Alerting {
    /// `group_wait`, a humantime string.
    pub group_wait: &'static str,
    /// `repeat_interval`, a humantime string.
    pub repeat_interval: &'static str,
}

impl Alerting {
    /// `group_wait` and `repeat_interval`, humantime strings.
    pub const fn of(group_wait: &'static str, repeat_interval: &'static str) -> Alerting {
        Alerting {
            group_wait,
            repeat_interval,
        }
    }
}

/// `inventory-monitor run --config F` polling a simulator every second and delivering to a
/// webhook `Sink`, with its state in a directory that outlives each process.
pub struct Monitor {
    config: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
    token: String,
    sink_url: String,
    child: Option<Child>,
    /// The temporary directory holding the config, state and log, when the monitor owns it.
    _dir: Option<tempfile::TempDir>,
    /// How many processes were started.
    pub starts: u32,
    /// How many were SIGKILLed.
    pub kills: u32,
}

impl Monitor {
    /// Writes the config into `dir` (the state goes to `dir/state`); starts nothing.
    pub fn new(dir: &Path, sim: &crate::common::Sim, sink: &Sink, alerting: Alerting) -> Monitor {
        Monitor::with_config(dir, sim, sink, alerting, "")
    }

    /// [`Monitor::new`] with `more` appended to the config: keys of the `ops` receiver
    /// (`max_alerts = 100`), then further tables (another receiver).
    pub fn with_config(
        dir: &Path,
        sim: &crate::common::Sim,
        sink: &Sink,
        alerting: Alerting,
        more: &str,
    ) -> Monitor {
        let (base_url, token, sink_url) = (&sim.base_url, sim.sim.token(), sink.url());
        let state_dir = dir.join("state");
        let config = dir.join("monitor.toml");
        // Flap detection off: the restart tests flap profiles on purpose and expect every
        // change announced (README, Flapping would rightly hold some back).
        let text = format!(
            "[api]\n\
             base_url = \"{base_url}\"\n\
             token_env = \"{TOKEN_ENV}\"\n\
             timeout = \"2s\"\n\
             retries = 1\n\
             [poll]\n\
             interval = \"1s\"\n\
             [server]\n\
             listen = \"127.0.0.1:0\"\n\
             [state]\n\
             dir = \"{}\"\n\
             [rules.flapping]\n\
             enabled = false\n\
             [alerting]\n\
             group_wait = \"{}\"\n\
             repeat_interval = \"{}\"\n\
             [[alerting.receivers]]\n\
             name = \"ops\"\n\
             kind = \"webhook\"\n\
             url_env = \"{SINK_URL_ENV}\"\n\
             {more}",
            state_dir.display(),
            alerting.group_wait,
            alerting.repeat_interval,
        );
        std::fs::write(&config, text).expect("write the config");
        Monitor {
            config,
            state_dir,
            log: dir.join("monitor.log"),
            token: token.to_string(),
            sink_url,
            child: None,
            _dir: None,
            starts: 0,
            kills: 0,
        }
    }

    /// A monitor in a temporary directory of its own (removed with it), started.
    pub fn started(sim: &crate::common::Sim, sink: &Sink, alerting: Alerting) -> Monitor {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut monitor = Monitor::new(dir.path(), sim, sink, alerting);
        monitor._dir = Some(dir);
        monitor.start();
        monitor
    }

    /// Starts a process on the config and state directory (its stderr is appended to the
    /// log file, see [`Monitor::log_text`]).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Launch::new(BIN)
            .args(["run", "--config"])
            .arg(&self.config)
            .env(TOKEN_ENV, &self.token)
            .env(SINK_URL_ENV, &self.sink_url)
            .env("RUST_LOG", "info")
            .stdout_null()
            .stderr_to(&self.log)
            .spawn()
            .expect("spawn the binary");
        self.child = Some(child);
        self.starts += 1;
    }

    /// Runs a second process on the same config and state directory while this one runs,
    /// to its end: its exit code and stderr.
    pub async fn run_again(&self, deadline: Duration) -> (i32, String) {
        let (code, _, stderr) = Launch::new(BIN)
            .args(["run", "--config"])
            .arg(&self.config)
            .env(TOKEN_ENV, &self.token)
            .env(SINK_URL_ENV, &self.sink_url)
            .env("RUST_LOG", "info")
            .output(deadline)
            .await;
        (code, stderr)
    }

    /// The pid of the process started last, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::pid)
    }

    /// `state.dir`.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// SIGKILL (through `kill(2)`), then waits for the process to be gone.
    pub async fn kill(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        let mut child = self.child.take().expect("a running process");
        let status = child.kill().await;
        assert_eq!(
            status.signal(),
            Some(9),
            "the process died of SIGKILL, not otherwise: {status:?}\n{}",
            self.log_text()
        );
        self.kills += 1;
    }

    /// True while the process started last has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(Child::is_running)
    }

    /// The state `state.dir` holds (snapshot and journal replayed), as `state.json`'s JSON;
    /// `None` when absent (or, never expected, unreadable).
    pub fn state(&self) -> Option<Value> {
        inventory_monitor::notify::state::read_state_json(&self.state_dir)
    }

    /// Everything the processes logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `check` holds of the state file, polling it; panics with the daemon's log
    /// if `deadline` passes first.
    pub async fn wait_state(&self, deadline: Duration, what: &str, check: impl Fn(&Value) -> bool) {
        if !wait_until(deadline, || self.state().is_some_and(|s| check(&s))).await {
            panic!(
                "{what}: not within {deadline:?}\nstate: {}\nlog:\n{}",
                self.state().map(|s| s.to_string()).unwrap_or_default(),
                self.log_text()
            );
        }
    }

    /// Waits until the state file has been rewritten `n` times (each sweep rewrites it), so
    /// that "nothing happened" is checked over a known number of sweeps.
    pub async fn wait_writes(&self, n: usize, deadline: Duration) {
        let mut seen: Vec<String> = Vec::new();
        let rewritten = wait_until(deadline, || {
            if let Some(at) = self.state().map(|s| written_at(&s)) {
                if seen.last() != Some(&at) {
                    seen.push(at);
                }
            }
            seen.len() > n
        })
        .await;
        if !rewritten {
            panic!(
                "the state file was rewritten {} time(s), not {n}, within {deadline:?}\nlog:\n{}",
                seen.len().saturating_sub(1),
                self.log_text()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading the state file.

/// When the state file was written (it changes with every write).
pub fn written_at(state: &Value) -> String {
    state["written_at"].as_str().unwrap_or_default().to_string()
}

/// How many notifications wait in the outbox.
pub fn outbox_len(state: &Value) -> usize {
    state["outbox"].as_array().map_or(0, Vec::len)
}

/// The outbox entries' attempts, in queue order.
pub fn outbox_attempts(state: &Value) -> Vec<u64> {
    state["outbox"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| e["attempts"].as_u64().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

/// The profiles whose `ProfileConnectivityDegraded` the judge holds as firing, sorted.
pub fn firing_profiles(state: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = state["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .filter(|a| {
                    a["state"] == "firing" && a["key"]["alertname"] == "ProfileConnectivityDegraded"
                })
                .filter_map(|a| a["key"]["profile_id"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

/// The profiles receiver `ops` was last told were firing (its `last_notified`), sorted.
pub fn told_firing(state: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = state["receivers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == "ops")
        .flat_map(|r| r["last_notified"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n["key"]["profile_id"].as_u64())
        .collect();
    ids.sort_unstable();
    ids
}
