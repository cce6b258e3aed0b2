//! The binary as operators run it, for the end-to-end alerting tests: `inventory-monitor run`
//! as a child process (started, SIGKILLed, restarted on the same state directory), a
//! recording webhook receiver it delivers to, and readers of its state file.
//!
//! Everything waits on conditions with deadlines (the sink's records, the state file) and
//! never on fixed sleeps.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");

/// The environment variable the config names for the API token.
const TOKEN_ENV: &str = "IM_E2E_TOKEN";

/// The environment variable the config names for the webhook URL (`url_env`).
const SINK_URL_ENV: &str = "IM_E2E_SINK_URL";

/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(25);

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

/// One request as the sink saw it.
#[derive(Clone, Debug)]
pub struct Received {
    /// When its body had fully arrived.
    pub at: Instant,
    /// The body.
    pub body: Vec<u8>,
    /// The status answered (for `Stall`, the one it would have answered); `None` when
    /// the sink hung.
    pub answered: Option<u16>,
}

impl Received {
    /// True when the receiver took it (a 2xx answer).
    pub fn delivered(&self) -> bool {
        self.answered.is_some_and(|s| (200..300).contains(&s))
    }

    /// The Alertmanager v4 webhook payload.
    pub fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "webhook body is not JSON: {e}: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The payload's alerts, in payload order.
    pub fn alerts(&self) -> Vec<Announced> {
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

#[derive(Debug)]
struct SinkShared {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
}

/// A webhook receiver on 127.0.0.1:0 that records every request; stops when dropped.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<SinkShared>,
    accept: Option<JoinHandle<()>>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(task) = self.accept.take() {
            task.abort();
        }
    }
}

impl Sink {
    /// A sink answering 200.
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink address");
        let shared = Arc::new(SinkShared {
            mode: Mutex::new(Mode::Ok),
            received: Mutex::new(Vec::new()),
        });
        let accept = Some(tokio::spawn(accept_loop(listener, shared.clone())));
        Sink {
            addr,
            shared,
            accept,
        }
    }

    /// The URL the daemon gets through `url_env`; the path stands for a secret.
    pub fn url(&self) -> String {
        format!("http://{}/hook/e2e-s3cr3t-path", self.addr)
    }

    /// Switches how requests are treated from now on. `Refuse` closes the listening
    /// socket; any other mode after it listens again on the same address.
    pub async fn set_mode(&mut self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
        match (mode, self.accept.is_some()) {
            (Mode::Refuse, true) => {
                if let Some(task) = self.accept.take() {
                    task.abort();
                    // The listener is dropped with the task: wait for that.
                    let _ = task.await;
                }
            }
            (Mode::Refuse, false) | (_, true) => {}
            (_, false) => {
                // The port was ours a moment ago; SO_REUSEADDR lets it be bound again.
                let end = Instant::now() + Duration::from_secs(5);
                let listener = loop {
                    match TcpListener::bind(self.addr).await {
                        Ok(l) => break l,
                        Err(e) if Instant::now() < end => {
                            let _ = e;
                            tokio::time::sleep(POLL).await;
                        }
                        Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
                    }
                };
                self.accept = Some(tokio::spawn(accept_loop(listener, self.shared.clone())));
            }
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The requests answered with a 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(Received::delivered)
            .collect()
    }

    /// The alerts of every delivered request, flattened, in arrival order.
    pub fn delivered_alerts(&self) -> Vec<Announced> {
        self.delivered().iter().flat_map(Received::alerts).collect()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<SinkShared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_one(stream, shared.clone()));
    }
}

async fn serve_one(mut stream: TcpStream, shared: Arc<SinkShared>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "content-length")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end..head_end + length].to_vec();
    let mode = *shared.mode.lock().unwrap();
    let status = match mode {
        Mode::Ok => Some(200),
        Mode::Fail => Some(500),
        Mode::Stall => Some(200),
        Mode::Hang | Mode::Refuse => None,
    };
    shared.received.lock().unwrap().push(Received {
        at: Instant::now(),
        body,
        answered: status,
    });
    match status {
        Some(status) if mode != Mode::Stall => {
            let response = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        _ => {
            // Hold the connection open until the client gives up or dies.
            while let Ok(n) = stream.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
            }
        }
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

/// `inventory-monitor run --config F` polling a simulator every second and delivering to a
/// webhook `Sink`, with its state in a directory that outlives each process.
pub struct Monitor {
    config: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
    token: String,
    sink_url: String,
    child: Option<Child>,
    /// How many processes were started.
    pub starts: u32,
    /// How many were SIGKILLed.
    pub kills: u32,
}

impl Monitor {
    /// Writes the config into `dir` (the state goes to `dir/state`); starts nothing.
    pub fn new(dir: &Path, sim: &crate::common::Sim, sink: &Sink, alerting: Alerting) -> Monitor {
        let (base_url, token, sink_url) = (&sim.base_url, sim.sim.token(), sink.url());
        let state_dir = dir.join("state");
        let config = dir.join("monitor.toml");
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
             [alerting]\n\
             group_wait = \"{}\"\n\
             repeat_interval = \"{}\"\n\
             [[alerting.receivers]]\n\
             name = \"ops\"\n\
             kind = \"webhook\"\n\
             url_env = \"{SINK_URL_ENV}\"\n",
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
            starts: 0,
            kills: 0,
        }
    }

    /// Starts a process on the config and state directory (its stderr is appended to the
    /// log file, see [`Monitor::log_text`]).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the log file");
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&self.config)
            .env(TOKEN_ENV, &self.token)
            .env(SINK_URL_ENV, &self.sink_url)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the binary");
        self.child = Some(child);
        self.starts += 1;
    }

    /// `kill -KILL <pid>`, then waits for the process to be gone.
    pub async fn kill(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        let mut child = self.child.take().expect("a running process");
        let pid = child.id().expect("the process has not been waited for");
        match std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
        {
            Ok(sent) => assert!(sent.success(), "kill -KILL {pid} failed"),
            // No kill(1) on this machine: the same signal, sent directly.
            Err(_) => child.start_kill().expect("SIGKILL the child"),
        }
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("the killed process is reaped within 10 s")
            .expect("wait for the child");
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
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `state.dir/state.json`, parsed; `None` when absent (or, never expected, unreadable).
    pub fn state(&self) -> Option<Value> {
        let bytes = std::fs::read(self.state_dir.join("state.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Everything the processes logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `check` holds of the state file, polling it; panics with the daemon's log
    /// if `deadline` passes first.
    pub async fn wait_state(&self, deadline: Duration, what: &str, check: impl Fn(&Value) -> bool) {
        let end = Instant::now() + deadline;
        loop {
            if self.state().is_some_and(|s| check(&s)) {
                return;
            }
            if Instant::now() >= end {
                panic!(
                    "{what}: not within {deadline:?}\nstate: {}\nlog:\n{}",
                    self.state().map(|s| s.to_string()).unwrap_or_default(),
                    self.log_text()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the state file has been rewritten `n` times (each sweep rewrites it), so
    /// that "nothing happened" is checked over a known number of sweeps.
    pub async fn wait_writes(&self, n: usize, deadline: Duration) {
        let end = Instant::now() + deadline;
        let mut seen: Vec<String> = Vec::new();
        loop {
            if let Some(at) = self.state().map(|s| written_at(&s)) {
                if seen.last() != Some(&at) {
                    seen.push(at);
                    if seen.len() > n {
                        return;
                    }
                }
            }
            if Instant::now() >= end {
                panic!(
                    "the state file was rewritten {} time(s), not {n}, within {deadline:?}\nlog:\n{}",
                    seen.len().saturating_sub(1),
                    self.log_text()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Polls `check` every 25 ms until it holds or `deadline` passes; true when it held.
pub async fn wait_until(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
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
