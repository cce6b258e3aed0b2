//! The soak: minutes of everything going wrong around the daemon, then an audit proving
//! that no alert was lost, none was invented, and none was repeated except next to a crash.
//!
//! ```sh
//! cargo bench --bench soak                              # 10 minutes, 2,000 profiles
//! cargo bench --bench soak -- --minutes 2               # what CI runs
//! cargo bench --bench soak -- --minutes 10 --seed 7 --profiles 2000
//! ```
//!
//! # What runs, all on 127.0.0.1
//!
//! - **The simulator**, in this process, with `--profiles` profiles (legacy, `null`-health
//!   and field-missing ones included). Before the daemon starts, every profile the seeded
//!   fleet has in trouble is made healthy, so the only alerts are those of the *episodes*
//!   the soak drives itself with [`Simulator::set_health`] (never the built-in drift): a
//!   profile's connectivity (its `test_status` on a legacy profile) or authentication turns
//!   bad (`unhealthy`, `degraded`, `flaky`, `down`; `invalid`, `expired`, `rotating`), maybe
//!   changes its bad value midway, and turns good again. About one episode starts every
//!   `500 / profiles` seconds: a fifth shorter than a sweep, a sixth of a few seconds, the
//!   rest 8 to 45 s. Two episodes of one alert are at least [`MIN_GAP`] apart. The lowest
//!   ids are never flipped: they are what a shrinking list may delete.
//!   Upstream faults meanwhile: 5% of requests answer 500, latency changes every few
//!   seconds (0–20 ms), stretches of 429s with `Retry-After: 1`, and now and then a
//!   pagination glitch for a sweep or so: the list grows mid-walk (the new profiles are
//!   deleted afterwards) or shrinks mid-walk (the deleted reserved profiles are put back).
//!   Half the restarts meet a shrinking list, so that a process's first sweep, which has
//!   no earlier sweep to carry unreached profiles over from, walks an incomplete list.
//! - **A webhook sink**, in this process, taking the Alertmanager v4 payload: up (with 5%
//!   500s and 5% 429s) for 5–20 s, then down for 2–15 s: connections refused, or every
//!   request answered 500, or 429 with `Retry-After`. Only what it answered 200 counts as
//!   delivered.
//! - **The daemon**, the real binary (`run --config`, `poll.interval = 1s`,
//!   `group_wait = 1s`, `max_delivery_age = 1h`, `repeat_interval = 24h`, connectivity `for`
//!   3 s, authentication `for` 2 s, `include_inactive = true` so that every flipped
//!   profile is judged whatever its status, and the stale-sync, failed-sync, error-count
//!   and unreachable rules disabled: the seeded fleet would raise them by itself and they
//!   are not what this soak drives). It is SIGKILLed at random moments (8 to 30 s apart)
//!   and restarted after 0.2–3 s on the same state directory, and sent SIGHUP every 10 to
//!   40 s after its config file is rewritten with an equivalent one (`api.timeout`
//!   toggles between 10 s and 11 s).
//!
//! The last part of the run (40% of it, at least 60 s and at most 240 s) has no kills, so
//! that the last process lives long enough for its memory to be judged; every other fault
//! goes on. Then the faults stop, every episode still on ends, the sink is healthy, and
//! the soak waits (at most [`DRAIN_DEADLINE`]) until two sweeps started after that have
//! finished, the daemon holds no pending or firing alert (`/api/v1/status`) and its queue is
//! empty (`inventory_monitor_notification_queue 0`), twice in a row a second apart. Then
//! SIGTERM: the daemon must exit 0.
//!
//! # The audit
//!
//! Sweeps are read from the daemon's JSON log (`sweep complete` lines: their timestamp,
//! written after the judge ran, and their `seconds`). A sweep counts when its walk was
//! complete and a later line of the same process exists: that proves the sweep's results
//! reached the state file (the daemon writes it right after the log line, before the next
//! sweep), so a SIGKILL cannot have taken them back. For such a sweep, `lo_start` is the
//! previous line of the same process (or the process's spawn time): its reads all happened
//! after that; and `lo_start + seconds` is at most the time the judge ran.
//!
//! **Required.** An episode from `t0` (just after the call that made the profile bad) to
//! `t1` (just before the call that made it good) must be announced firing when, with `j`
//! the first counted sweep with `lo_start >= t0` (every read of it saw the episode), `j'`
//! the counted sweep after `j` (the alert is pending by `j'` at the latest, even if the
//! detail read of `j` failed for good), `k` the first counted sweep after `j'` with
//! `lo_start + seconds >= ts(j') + for`, and `k'` the counted sweep after `k` (the alert
//! fires at `k`, or at `k'` if the read of `k` failed), `ts(k') + group_wait <= t1`: its
//! "firing" was sealed into a notification before any sweep could see the profile healthy
//! again (an alert that resolves within its own group window is, as with Alertmanager,
//! never announced). In plain words: `for` plus about four sweeps plus `group_wait`,
//! measured on the sweeps that really happened, so a SIGKILL (which loses at most the sweep
//! in flight, plus the restart) lengthens the margin by exactly what it cost, and a
//! failed detail read (5% errors with 3 retries; more in 429 stretches) cannot make a
//! verdict flaky. Every episode ended before the drain, so every alert announced firing
//! must also be announced resolved.
//!
//! **Spurious.** Every alert announced firing must belong to an episode of its profile
//! and check: `startsAt` (when it started firing, in whole seconds) is no earlier than
//! `t0 + for - 1 s` and no later than `t1 + longest sweep + 2 s`; each episode gets at most
//! one alert; a resolution must come after `t1 - 1 s`, and only for an alert announced
//! firing. `InventoryApiDown` is accepted only next to a sweep whose list walk failed.
//!
//! **Duplicates.** An alert change (status, alert, startsAt, endsAt) delivered twice is a
//! duplicate. A notification repeating anything must be matched to its own SIGKILL that
//! came at most [`DUPLICATE_WINDOW`] after the first delivery: the one duplicate the
//! notifier allows is a stop between a receiver's 2xx and the state write recording it.
//!
//! **Memory.** The RSS (`VmRSS`) of the last daemon process is sampled every half second;
//! the largest sample within ±5 s of the mark `min(60 s, half its life until the faults
//! stop)` after its start is the baseline, the largest over the last 10 s of the faults is
//! the end: the end may be at most 10% above the baseline. (With `--minutes 2` the last
//! process lives about a minute, so the mark is about 30 s; from `--minutes 5` on it is
//! 60 s.)
//!
//! **Self-check.** The audit must be able to fail: it is run again on copies of the record
//! with one thing broken (a notification lost, one delivered twice, one about a profile
//! with no episode, an announced episode taken out of the log), and each must fail.
//!
//! The soak exits non-zero on any missing or spurious alert, an unmatched duplicate, a
//! daemon that exited on its own, a drain that does not finish, transitions in the
//! simulator's log that the soak did not make, or memory growth over 10%. The daemon's
//! log is kept in `target/soak/daemon.log`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use inventory_monitor::simulator::{Faults, HealthField, SimOptions, Simulator};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStderr, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");
/// The simulator's token (not a secret).
const TOKEN: &str = "soak-token";
/// `poll.interval`.
const POLL_INTERVAL: &str = "1s";
/// `alerting.group_wait`.
const GROUP_WAIT: Duration = Duration::from_secs(1);
/// `rules.connectivity.for`.
const CONNECTIVITY_FOR: Duration = Duration::from_secs(3);
/// `rules.authentication.for`.
const AUTHENTICATION_FOR: Duration = Duration::from_secs(2);
/// Least time between two episodes of one alert, so the daemon sees every recovery.
const MIN_GAP: Duration = Duration::from_secs(15);
/// Share of upstream requests answered 500.
const UPSTREAM_ERROR_RATE: f64 = 0.05;
/// Share of upstream requests answered 429 during a throttling stretch.
const UPSTREAM_429_RATE: f64 = 0.05;
/// While the sink is up, the share of requests it answers 500, and again 429.
const SINK_FLAKY_RATE: f64 = 0.05;
/// How long the faults-off drain may take.
/// (A notification that failed often waits up to the 5-minute backoff cap.)
const DRAIN_DEADLINE: Duration = Duration::from_secs(420);
/// How long after a delivery a SIGKILL can still explain its repetition.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(3);
/// The end RSS may be at most this many times the baseline.
const MEMORY_LIMIT: f64 = 1.10;
/// The conductor's step.
const TICK: Duration = Duration::from_millis(50);
/// Alertmanager's "no end yet".
const NO_END: &str = "0001-01-01T00:00:00Z";

/// Locks a mutex, carrying on after a panic elsewhere (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Seconds as a float, for printing.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `t - since` in seconds, negative when `t` is earlier.
fn offset(t: SystemTime, since: SystemTime) -> f64 {
    match t.duration_since(since) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// A uniform duration between `lo` and `hi` seconds.
fn between(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> Duration {
    Duration::from_secs_f64(rng.random_range(lo..hi))
}

/// An RFC 3339 time (the daemon's log timestamps, a payload's `startsAt`).
fn parse_time(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

// ---------------------------------------------------------------------------------------
// Arguments.

/// The command line.
#[derive(Debug, Clone)]
struct Args {
    /// Length of the fault phase.
    minutes: f64,
    /// Seed of the fleet, the schedule and every fault.
    seed: u64,
    /// Profiles in the simulator.
    profiles: usize,
}

/// `--minutes N`, `--seed S`, `--profiles N`.
fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        minutes: 10.0,
        seed: 1,
        profiles: 2000,
    };
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--minutes" => args.minutes = value()?.parse().context("--minutes N")?,
            "--seed" => args.seed = value()?.parse().context("--seed S")?,
            "--profiles" => args.profiles = value()?.parse().context("--profiles N")?,
            other => bail!("unknown argument {other}; see the doc comment of benches/soak.rs"),
        }
    }
    if args.minutes.is_nan() || args.minutes < 1.0 {
        bail!("--minutes must be at least 1");
    }
    if args.profiles < 200 {
        bail!("--profiles must be at least 200");
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// What the soak flips.

/// The two health checks the episodes drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Check {
    /// `ProfileConnectivityDegraded` (a legacy profile's `test_status` too).
    Connectivity,
    /// `ProfileAuthenticationFailing`.
    Authentication,
}

impl Check {
    fn alertname(self) -> &'static str {
        match self {
            Check::Connectivity => "ProfileConnectivityDegraded",
            Check::Authentication => "ProfileAuthenticationFailing",
        }
    }

    fn from_alertname(name: &str) -> Option<Check> {
        [Check::Connectivity, Check::Authentication]
            .into_iter()
            .find(|c| c.alertname() == name)
    }

    /// The rule's `for`.
    fn for_(self) -> Duration {
        match self {
            Check::Connectivity => CONNECTIVITY_FOR,
            Check::Authentication => AUTHENTICATION_FOR,
        }
    }

    fn good(self) -> &'static str {
        match self {
            Check::Connectivity => "healthy",
            Check::Authentication => "valid",
        }
    }

    fn bad_values(self) -> &'static [&'static str] {
        match self {
            Check::Connectivity => &["unhealthy", "degraded", "flaky", "down"],
            Check::Authentication => &["invalid", "expired", "rotating"],
        }
    }
}

/// What the soak knows of one profile's health.
#[derive(Debug, Clone)]
struct Profile {
    /// Old API revision: only `test_status`, read as connectivity.
    legacy: bool,
    /// Connectivity as the soak set it (`healthy` / `unhealthy` for a legacy profile's
    /// `success` / `failed`); `None` while null or missing.
    conn: Option<String>,
    /// Authentication; `None` while null or missing (always on a legacy profile).
    auth: Option<String>,
}

impl Profile {
    fn read(detail: &Value) -> Profile {
        let legacy = detail.get("health_status").is_none() && detail.get("test_status").is_some();
        if legacy {
            let conn = detail["test_status"].as_str().map(|s| {
                if s == "success" {
                    "healthy".to_string()
                } else {
                    "unhealthy".to_string()
                }
            });
            return Profile {
                legacy,
                conn,
                auth: None,
            };
        }
        let health = &detail["health_status"];
        Profile {
            legacy,
            conn: health["connectivity"].as_str().map(str::to_string),
            auth: health["authentication"].as_str().map(str::to_string),
        }
    }

    fn value(&self, check: Check) -> Option<&str> {
        match check {
            Check::Connectivity => self.conn.as_deref(),
            Check::Authentication => self.auth.as_deref(),
        }
    }

    fn is_bad(&self, check: Check) -> bool {
        self.value(check).is_some_and(|v| v != check.good())
    }

    /// What the API serves for `check`: a legacy profile has only `success` / `failed`.
    fn served(&self, check: Check) -> Option<String> {
        let v = self.value(check)?;
        if self.legacy {
            Some(if v == "healthy" { "success" } else { "failed" }.to_string())
        } else {
            Some(v.to_string())
        }
    }
}

/// One `set_health` call that changed what the simulator serves.
#[derive(Debug, Clone)]
struct Call {
    /// The profile.
    id: u64,
    /// The field the simulator logs a transition for.
    field: HealthField,
    /// Just before the call.
    before: SystemTime,
    /// Just after the call.
    after: SystemTime,
}

/// The simulator and the soak's model of the profiles it flips.
struct World {
    /// The simulator (shared with its server task).
    sim: Simulator,
    /// Every original profile, as the soak last set it.
    profiles: BTreeMap<u64, Profile>,
    /// Every call that changed what is served, in order.
    calls: Vec<Call>,
}

impl World {
    /// Sets `check` of `id` to `value`; answers the times just before and just after the
    /// call, or `None` when nothing can change (no such profile, or authentication on a
    /// legacy profile).
    fn set(&mut self, id: u64, check: Check, value: &str) -> Option<(SystemTime, SystemTime)> {
        let p = self.profiles.get_mut(&id)?;
        if p.legacy && check == Check::Authentication {
            return None;
        }
        let field = match (p.legacy, check) {
            (true, _) => HealthField::TestStatus,
            (false, Check::Connectivity) => HealthField::Connectivity,
            (false, Check::Authentication) => HealthField::Authentication,
        };
        let old = p.served(check);
        match check {
            Check::Connectivity => p.conn = Some(value.to_string()),
            Check::Authentication => p.auth = Some(value.to_string()),
        }
        let new = p.served(check);
        let auth = if p.legacy { None } else { p.auth.as_deref() };
        let before = SystemTime::now();
        let found = self.sim.set_health(id, p.conn.as_deref(), auth);
        let after = SystemTime::now();
        if !found {
            return None;
        }
        if old != new {
            self.calls.push(Call {
                id,
                field,
                before,
                after,
            });
        }
        Some((before, after))
    }
}

/// One stretch of one profile's check being bad.
#[derive(Debug, Clone)]
struct Episode {
    /// The profile.
    id: u64,
    /// Which check is bad.
    check: Check,
    /// Just before and just after the call that made it bad.
    t0: (SystemTime, SystemTime),
    /// Just before and just after the call that made it good.
    t1: Option<(SystemTime, SystemTime)>,
    /// The bad values it went through.
    values: Vec<String>,
}

/// An episode under way.
#[derive(Debug, Clone, Copy)]
struct Live {
    /// Index into the episode log.
    episode: usize,
    /// When it is to end.
    ends: Instant,
    /// When its bad value is to change, if it does.
    change: Option<Instant>,
}

// ---------------------------------------------------------------------------------------
// The webhook sink.

/// How the sink answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SinkMode {
    /// 200 (5% 500 and 5% 429 while flaky).
    Up,
    /// Nothing listens.
    Refused,
    /// Every request gets 500.
    Error500,
    /// Every request gets 429 with this `Retry-After` in seconds.
    Throttle(u64),
}

/// A request the sink answered 200.
#[derive(Debug, Clone)]
struct Delivery {
    /// When the sink took it.
    at: SystemTime,
    /// The payload.
    body: Vec<u8>,
}

/// What the sink's request handlers share.
struct SinkShared {
    /// How requests are answered now.
    mode: Mutex<SinkMode>,
    /// While up, whether some requests get 500 or 429 anyway.
    flaky: AtomicBool,
    /// The flaky answers' dice.
    dice: Mutex<ChaCha8Rng>,
    /// Every request answered 200, in arrival order.
    delivered: Mutex<Vec<Delivery>>,
    /// Requests answered 200.
    answered_200: AtomicU64,
    /// Requests answered 500.
    answered_500: AtomicU64,
    /// Requests answered 429.
    answered_429: AtomicU64,
    /// Requests read but cut off unanswered (accepted just before an outage).
    cut: AtomicU64,
}

/// An HTTP receiver on a fixed loopback port that can refuse connections, fail or throttle.
/// Every answer closes the connection, so "refused" really is refused for the next request.
struct Sink {
    /// Where it listens (the same port across outages).
    addr: SocketAddr,
    /// What the request handlers share.
    shared: Arc<SinkShared>,
    /// The accept loop; `None` while connections are refused.
    accept: Option<JoinHandle<()>>,
}

impl Sink {
    async fn start(seed: u64) -> anyhow::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the sink")?;
        let addr = listener.local_addr().context("sink address")?;
        let mut dice = ChaCha8Rng::seed_from_u64(seed);
        dice.set_stream(11);
        let shared = Arc::new(SinkShared {
            mode: Mutex::new(SinkMode::Up),
            flaky: AtomicBool::new(false),
            dice: Mutex::new(dice),
            delivered: Mutex::new(Vec::new()),
            answered_200: AtomicU64::new(0),
            answered_500: AtomicU64::new(0),
            answered_429: AtomicU64::new(0),
            cut: AtomicU64::new(0),
        });
        let accept = Some(tokio::spawn(accept_loop(listener, shared.clone())));
        Ok(Sink {
            addr,
            shared,
            accept,
        })
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn set_flaky(&self, on: bool) {
        self.shared.flaky.store(on, Ordering::Relaxed);
    }

    async fn set_mode(&mut self, mode: SinkMode) -> anyhow::Result<()> {
        *lock(&self.shared.mode) = mode;
        if mode == SinkMode::Refused {
            if let Some(task) = self.accept.take() {
                task.abort();
                // The listener goes with the task.
                let _ = task.await;
            }
        } else if self.accept.is_none() {
            // The port was ours a moment ago; SO_REUSEADDR lets it be bound again.
            let end = Instant::now() + Duration::from_secs(10);
            let listener = loop {
                match TcpListener::bind(self.addr).await {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < end => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => bail!("the sink cannot listen on {} again: {e}", self.addr),
                }
            };
            self.accept = Some(tokio::spawn(accept_loop(listener, self.shared.clone())));
        }
        Ok(())
    }

    fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.shared.delivered).clone()
    }
}

/// Accepts connections until the task is aborted (which closes the listener).
async fn accept_loop(listener: TcpListener, shared: Arc<SinkShared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_one(stream, shared.clone()));
            }
            // Out of file descriptors, say: try again shortly.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Reads one request (head and `Content-Length` body), answers it, closes.
async fn serve_one(mut stream: TcpStream, shared: Arc<SinkShared>) {
    const MAX: usize = 64 << 20;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > MAX {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "content-length")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
        .min(MAX);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mode = *lock(&shared.mode);
    let answer: Option<(u16, Option<u64>)> = match mode {
        SinkMode::Up => {
            let roll: f64 = if shared.flaky.load(Ordering::Relaxed) {
                lock(&shared.dice).random()
            } else {
                1.0
            };
            if roll < SINK_FLAKY_RATE {
                Some((500, None))
            } else if roll < 2.0 * SINK_FLAKY_RATE {
                Some((429, Some(1)))
            } else {
                Some((200, None))
            }
        }
        SinkMode::Error500 => Some((500, None)),
        SinkMode::Throttle(after) => Some((429, Some(after))),
        // Accepted just before the listener closed: cut the connection.
        SinkMode::Refused => None,
    };
    let Some((status, retry_after)) = answer else {
        shared.cut.fetch_add(1, Ordering::Relaxed);
        return;
    };
    match status {
        200 => {
            lock(&shared.delivered).push(Delivery {
                at: SystemTime::now(),
                body: buf[head_end..head_end + length].to_vec(),
            });
            shared.answered_200.fetch_add(1, Ordering::Relaxed);
        }
        429 => {
            shared.answered_429.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            shared.answered_500.fetch_add(1, Ordering::Relaxed);
        }
    }
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    };
    let retry = retry_after.map_or(String::new(), |s| format!("Retry-After: {s}\r\n"));
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n{retry}\r\n"
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// The daemon, a child process, and what its log says.

/// How a sweep's list walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Walk {
    /// `sweep complete`.
    Complete,
    /// `sweep incomplete: ...`.
    Incomplete,
    /// `sweep failed: ...` (`InventoryApiDown`).
    Failed,
}

/// One `sweep ...` log line.
#[derive(Clone, Debug)]
struct SweepLine {
    /// Which process (0, 1, ...).
    proc: usize,
    /// The line's timestamp: after the judge ran.
    ts: SystemTime,
    /// The sweep's duration.
    seconds: f64,
    /// How its list walk ended.
    walk: Walk,
}

/// What the daemons' logs said.
struct Logs {
    /// Every sweep line, in arrival order.
    sweeps: Mutex<Vec<SweepLine>>,
    /// Every ERROR line.
    errors: Mutex<Vec<String>>,
    /// `configuration reloaded` lines.
    reloaded: AtomicU64,
    /// `configuration reload failed` lines.
    reload_failed: AtomicU64,
    /// `target/soak/daemon.log`: every line, prefixed with its process.
    file: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl Logs {
    fn record(&self, proc: usize, line: &str) {
        let _ = writeln!(lock(&self.file), "[{proc}] {line}");
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let fields = &v["fields"];
        let message = fields["message"].as_str().unwrap_or("");
        let walk = if message == "sweep complete" {
            Some(Walk::Complete)
        } else if message.starts_with("sweep incomplete") {
            Some(Walk::Incomplete)
        } else if message.starts_with("sweep failed") {
            Some(Walk::Failed)
        } else {
            None
        };
        if let Some(walk) = walk {
            let ts = v["timestamp"].as_str().and_then(parse_time);
            let seconds = fields["seconds"].as_f64();
            if let (Some(ts), Some(seconds)) = (ts, seconds) {
                lock(&self.sweeps).push(SweepLine {
                    proc,
                    ts,
                    seconds,
                    walk,
                });
            }
        }
        if message == "configuration reloaded" {
            self.reloaded.fetch_add(1, Ordering::Relaxed);
        } else if message.starts_with("configuration reload failed") {
            self.reload_failed.fetch_add(1, Ordering::Relaxed);
        }
        if v["level"] == "ERROR" {
            lock(&self.errors).push(format!("[{proc}] {line}"));
        }
    }

    fn sweeps_of(&self, proc: usize) -> usize {
        lock(&self.sweeps).iter().filter(|s| s.proc == proc).count()
    }
}

/// Reads one process's stderr to its end.
async fn read_log(proc: usize, stderr: ChildStderr, logs: Arc<Logs>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.record(proc, &line);
    }
}

/// A running daemon process.
struct Proc {
    /// The child process.
    child: Child,
    /// Its pid.
    pid: u32,
    /// 0 for the first process, and so on.
    index: usize,
    /// Its HTTP port.
    port: u16,
    /// When it was spawned.
    started: Instant,
}

/// A loopback port free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("no free port on loopback")?;
    Ok(l.local_addr().context("local address")?.port())
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    // A JSON string is a valid TOML basic string.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// The daemon's configuration (see the module documentation for why each setting).
fn config_text(base_url: &str, port: u16, state_dir: &Path, timeout_secs: u64) -> String {
    format!(
        r#"[api]
base_url = {base_url}
token_env = "SOAK_TOKEN"
page_size = 100
concurrency = 32
timeout = "{timeout_secs}s"
retries = 3

[poll]
interval = "{POLL_INTERVAL}"

[server]
listen = "127.0.0.1:{port}"

[state]
dir = {state}

[rules]
include_inactive = true

[rules.connectivity]
for = "{conn_for}s"

[rules.authentication]
for = "{auth_for}s"

[rules.sync_stale]
enabled = false

[rules.sync_failed]
enabled = false

[rules.errors]
enabled = false

[rules.unreachable]
enabled = false

[alerting]
group_wait = "{group_wait}s"
repeat_interval = "24h"
send_resolved = true
max_delivery_age = "1h"

[[alerting.receivers]]
name = "soak"
kind = "webhook"
url_env = "SOAK_WEBHOOK_URL"
"#,
        base_url = toml_string(base_url),
        state = toml_string(&state_dir.display().to_string()),
        conn_for = CONNECTIVITY_FOR.as_secs(),
        auth_for = AUTHENTICATION_FOR.as_secs(),
        group_wait = GROUP_WAIT.as_secs(),
    )
}

/// Writes the config atomically, so that a start or a reload never reads half a file.
fn write_config(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// Sends `sig` (`-HUP`, `-TERM`) to `pid` with `kill`.
fn signal(pid: u32, sig: &str) -> anyhow::Result<()> {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .context("run kill")?
        .success();
    if !ok {
        bail!("kill {sig} {pid} failed");
    }
    Ok(())
}

/// `VmRSS` of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------
// The conductor.

/// A pagination glitch under way.
#[derive(Debug, Clone, Copy)]
struct Glitch {
    /// Grow (true) or shrink (false) the list.
    grow: bool,
    /// When it stops.
    until: Instant,
    /// The simulator's `shrunk` counter when it began.
    shrunk_before: u64,
}

/// What happened to the sink.
#[derive(Debug, Default, Clone)]
struct SinkOutages {
    /// Outages refusing connections.
    refused: u32,
    /// Outages answering 500.
    error_500: u32,
    /// Outages answering 429.
    throttled: u32,
    /// Time down, in all.
    seconds: f64,
}

/// Everything the run produced, for the audit.
#[derive(Clone)]
struct Record {
    /// The command line.
    args: Args,
    /// When the faults began.
    start: SystemTime,
    /// When the faults stopped.
    fault_end: SystemTime,
    /// The kill-free end of the fault phase.
    final_stretch: Duration,
    /// Every episode, all ended.
    episodes: Vec<Episode>,
    /// Every sweep line of every process.
    sweeps: Vec<SweepLine>,
    /// When each process was spawned.
    spawns: Vec<SystemTime>,
    /// When each SIGKILL was sent.
    kills: Vec<SystemTime>,
    /// Processes that exited on their own.
    crashes: Vec<String>,
    /// SIGHUPs sent.
    hups: u32,
    /// Reloads the daemon reported done.
    reloaded: u64,
    /// Reloads the daemon reported failed.
    reload_failed: u64,
    /// The daemon's ERROR lines.
    errors: Vec<String>,
    /// What the sink answered 200.
    deliveries: Vec<Delivery>,
    /// The simulator's transition log against the soak's calls.
    transitions_checked: Result<usize, String>,
    /// What the simulator served.
    stats: inventory_monitor::simulator::RequestStats,
    /// The sink's outages.
    sink: SinkOutages,
    /// The sink's 200s, 500s, 429s and cut connections.
    sink_answers: (u64, u64, u64, u64),
    /// Grow and shrink glitches.
    glitches: (u32, u32),
    /// RSS samples: when, which process, KiB.
    rss: Vec<(SystemTime, usize, u64)>,
    /// How long the drain took, or why it did not finish.
    drain: Result<Duration, String>,
    /// How the last process took SIGTERM.
    exit: Result<(), String>,
}

/// The conductor: drives the episodes and every fault, and records what happened.
struct Soak {
    /// The command line.
    args: Args,
    /// The schedule's dice.
    rng: ChaCha8Rng,
    /// The simulator and the soak's model of it.
    world: World,
    /// Profiles episodes may hit (all but the reserved ones).
    flippable: Vec<u64>,
    /// The lowest ids and their details: what a shrinking list deletes, put back after.
    reserved: Vec<(u64, Value)>,
    /// Ids above this were created by a growing list, and are deleted after.
    max_original_id: u64,
    /// Length of the simulator's transition log before the first episode.
    transitions_base: usize,

    /// Every episode so far.
    episodes: Vec<Episode>,
    /// Episodes under way, by alert.
    live: HashMap<(u64, Check), Live>,
    /// When each alert's last episode ended (for [`MIN_GAP`]).
    last_end: HashMap<(u64, Check), Instant>,
    /// When the next episode starts.
    next_start: Instant,
    /// Episode starts per second, on average.
    starts_per_second: f64,

    /// The upstream faults now injected.
    faults: Faults,
    /// When latency changes next.
    next_latency: Instant,
    /// End of the 429 stretch under way.
    throttle_until: Option<Instant>,
    /// When the next 429 stretch starts.
    next_throttle: Instant,
    /// The pagination glitch under way.
    glitch: Option<Glitch>,
    /// When the next glitch starts.
    next_glitch: Instant,
    /// Grow and shrink glitches so far.
    glitches: (u32, u32),

    /// The webhook sink.
    sink: Sink,
    /// When the sink changes state next.
    sink_until: Instant,
    /// Start of the outage under way.
    sink_down_since: Option<Instant>,
    /// The sink's outages so far.
    outages: SinkOutages,

    /// `target/soak`.
    dir: PathBuf,
    /// The daemon's config file.
    config_path: PathBuf,
    /// The simulator's API.
    base_url: String,
    /// What the daemons' logs said.
    logs: Arc<Logs>,
    /// The daemon running now.
    proc: Option<Proc>,
    /// While no daemon runs: when to start the next.
    down_until: Option<Instant>,
    /// When each process was spawned.
    spawns: Vec<SystemTime>,
    /// When each SIGKILL was sent.
    kills: Vec<SystemTime>,
    /// Processes that exited on their own.
    crashes: Vec<String>,
    /// When the next SIGKILL comes.
    next_kill: Instant,
    /// When the next SIGHUP comes.
    next_hup: Instant,
    /// SIGHUPs sent.
    hups: u32,
    /// `api.timeout`, toggled by each reload.
    timeout_secs: u64,
    /// RSS samples: when, which process, KiB.
    rss: Vec<(SystemTime, usize, u64)>,
    /// When to sample the RSS next.
    next_rss: Instant,

    /// When the faults began.
    start: Instant,
    /// The same, on the wall clock.
    start_wall: SystemTime,
    /// How long the faults last.
    fault_len: Duration,
    /// SIGKILLs come only this long from the start.
    kill_phase: Duration,
    /// The kill-free rest.
    final_stretch: Duration,
    /// Stops the simulator's server.
    sim_stop: CancellationToken,
}

impl Soak {
    async fn new(args: Args, dir: PathBuf) -> anyhow::Result<Soak> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the simulator")?;
        let sim_addr = listener.local_addr().context("simulator address")?;
        let sim = Simulator::new(SimOptions {
            profiles: args.profiles,
            seed: args.seed,
            token: TOKEN.to_string(),
            ..SimOptions::default()
        });
        let sim_stop = CancellationToken::new();
        let stop = sim_stop.clone();
        tokio::spawn(
            sim.clone()
                .serve(listener, async move { stop.cancelled().await }),
        );

        // The fleet as generated, then every profile in trouble made healthy: the only
        // alerts are to be the episodes'.
        let ids = sim.profile_ids();
        let mut profiles = BTreeMap::new();
        for &id in &ids {
            let detail = sim
                .profile_json(id)
                .with_context(|| format!("profile {id} has no detail"))?;
            profiles.insert(id, Profile::read(&detail));
        }
        let mut world = World {
            sim: sim.clone(),
            profiles,
            calls: Vec::new(),
        };
        let mut normalized = 0;
        for &id in &ids {
            for check in [Check::Connectivity, Check::Authentication] {
                if world.profiles.get(&id).is_some_and(|p| p.is_bad(check)) {
                    world.set(id, check, check.good());
                    normalized += 1;
                }
            }
        }
        world.calls.clear();
        for &id in &ids {
            let p = sim
                .profile_json(id)
                .map(|d| Profile::read(&d))
                .with_context(|| format!("profile {id} vanished"))?;
            if p.is_bad(Check::Connectivity) || p.is_bad(Check::Authentication) {
                bail!("profile {id} is still unhealthy after normalisation: {p:?}");
            }
        }
        let legacy = world.profiles.values().filter(|p| p.legacy).count();
        let unknown = world
            .profiles
            .values()
            .filter(|p| p.conn.is_none() || (!p.legacy && p.auth.is_none()))
            .count();
        println!(
            "fleet: {} profiles ({legacy} legacy, {unknown} with a null or missing health field); \
             {normalized} unhealthy checks made healthy before the start",
            ids.len()
        );
        let transitions_base = sim.transitions().len();

        // The lowest ids are what a shrinking list deletes: never flipped, put back after.
        let reserve = (args.profiles / 8).min(300);
        let mut reserved = Vec::new();
        for &id in ids.iter().take(reserve) {
            if let Some(detail) = sim.profile_json(id) {
                reserved.push((id, detail));
            }
        }
        let flippable = ids.iter().skip(reserve).copied().collect();
        let max_original_id = ids.last().copied().unwrap_or(0);

        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        rng.set_stream(7);
        let sink = Sink::start(args.seed).await?;

        let config_path = dir.join("soak.toml");
        let logs = Arc::new(Logs {
            sweeps: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
            reloaded: AtomicU64::new(0),
            reload_failed: AtomicU64::new(0),
            file: Mutex::new(std::io::BufWriter::new(
                std::fs::File::create(dir.join("daemon.log")).context("create daemon.log")?,
            )),
        });
        let fault_len = Duration::from_secs_f64(args.minutes * 60.0);
        let final_stretch =
            Duration::from_secs_f64((fault_len.as_secs_f64() * 0.4).clamp(60.0, 240.0))
                .min(fault_len);
        let now = Instant::now();
        let starts_per_second = args.profiles as f64 / 500.0;
        Ok(Soak {
            world,
            flippable,
            reserved,
            max_original_id,
            transitions_base,
            episodes: Vec::new(),
            live: HashMap::new(),
            last_end: HashMap::new(),
            next_start: now,
            starts_per_second,
            faults: Faults::default(),
            next_latency: now,
            throttle_until: None,
            next_throttle: now + between(&mut rng, 5.0, 20.0),
            glitch: None,
            next_glitch: now + between(&mut rng, 10.0, 30.0),
            glitches: (0, 0),
            sink,
            sink_until: now + between(&mut rng, 5.0, 20.0),
            sink_down_since: None,
            outages: SinkOutages::default(),
            dir: dir.clone(),
            config_path,
            base_url: format!("http://{sim_addr}/api/v1"),
            logs,
            proc: None,
            down_until: None,
            spawns: Vec::new(),
            kills: Vec::new(),
            crashes: Vec::new(),
            next_kill: now + between(&mut rng, 8.0, 30.0),
            next_hup: now + between(&mut rng, 10.0, 40.0),
            hups: 0,
            timeout_secs: 10,
            rss: Vec::new(),
            next_rss: now,
            start: now,
            start_wall: SystemTime::now(),
            fault_len,
            kill_phase: fault_len.saturating_sub(final_stretch),
            final_stretch,
            sim_stop,
            rng,
            args,
        })
    }

    fn write_config(&self, port: u16) -> anyhow::Result<()> {
        let text = config_text(
            &self.base_url,
            port,
            &self.dir.join("state"),
            self.timeout_secs,
        );
        write_config(&self.config_path, &text)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let port = free_port()?;
        self.write_config(port)?;
        let index = self.spawns.len();
        let mut child = Command::new(BIN)
            .args(["--log-format", "json", "run", "--config"])
            .arg(&self.config_path)
            .env("SOAK_TOKEN", TOKEN)
            .env("SOAK_WEBHOOK_URL", self.sink.url())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("start the daemon")?;
        let pid = child.id().context("the daemon has no pid")?;
        self.spawns.push(SystemTime::now());
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(read_log(index, stderr, self.logs.clone()));
        }
        self.proc = Some(Proc {
            child,
            pid,
            index,
            port,
            started: Instant::now(),
        });
        self.down_until = None;
        Ok(())
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.proc.take() {
            p.child.start_kill().context("SIGKILL the daemon")?;
            self.kills.push(SystemTime::now());
            tokio::time::timeout(Duration::from_secs(10), p.child.wait())
                .await
                .context("the daemon did not die after SIGKILL")?
                .context("wait for the daemon")?;
        }
        Ok(())
    }

    fn set_faults(&mut self) {
        self.world.sim.set_faults(self.faults.clone());
    }

    // --- episodes

    fn episodes_step(&mut self, now: Instant, starting: bool) {
        // Ends and midway changes that are due.
        let due: Vec<((u64, Check), Live)> = self
            .live
            .iter()
            .filter(|(_, l)| l.ends <= now || l.change.is_some_and(|c| c <= now))
            .map(|(k, l)| (*k, *l))
            .collect();
        for ((id, check), l) in due {
            if l.ends <= now {
                self.end_episode(id, check, now);
            } else {
                let current = self.episodes[l.episode].values.last().cloned();
                let choices: Vec<&str> = check
                    .bad_values()
                    .iter()
                    .copied()
                    .filter(|v| Some(*v) != current.as_deref())
                    .collect();
                let value = choices[self.rng.random_range(0..choices.len())];
                self.world.set(id, check, value);
                self.episodes[l.episode].values.push(value.to_string());
                if let Some(live) = self.live.get_mut(&(id, check)) {
                    live.change = None;
                }
            }
        }
        if !starting {
            return;
        }
        while self.next_start <= now {
            let gap = -self.rng.random::<f64>().max(1e-9).ln() / self.starts_per_second;
            self.next_start += Duration::from_secs_f64(gap);
            self.start_episode(now);
        }
    }

    fn start_episode(&mut self, now: Instant) {
        for _ in 0..20 {
            let id = self.flippable[self.rng.random_range(0..self.flippable.len())];
            let Some(legacy) = self.world.profiles.get(&id).map(|p| p.legacy) else {
                continue;
            };
            let check = if legacy || self.rng.random_bool(0.6) {
                Check::Connectivity
            } else {
                Check::Authentication
            };
            let key = (id, check);
            if self.live.contains_key(&key)
                || self
                    .last_end
                    .get(&key)
                    .is_some_and(|t| now.duration_since(*t) < MIN_GAP)
            {
                continue;
            }
            let roll: f64 = self.rng.random();
            let length = if roll < 0.2 {
                between(&mut self.rng, 0.05, 1.0)
            } else if roll < 0.35 {
                between(&mut self.rng, 1.0, 8.0)
            } else {
                between(&mut self.rng, 8.0, 45.0)
            };
            let values = check.bad_values();
            let value = values[self.rng.random_range(0..values.len())];
            let change = (!legacy && length > Duration::from_secs(2) && self.rng.random_bool(0.25))
                .then(|| now + length.mul_f64(self.rng.random_range(0.3..0.7)));
            let Some(t0) = self.world.set(id, check, value) else {
                continue;
            };
            self.episodes.push(Episode {
                id,
                check,
                t0,
                t1: None,
                values: vec![value.to_string()],
            });
            self.live.insert(
                key,
                Live {
                    episode: self.episodes.len() - 1,
                    ends: now + length,
                    change,
                },
            );
            return;
        }
    }

    fn end_episode(&mut self, id: u64, check: Check, now: Instant) {
        let Some(l) = self.live.remove(&(id, check)) else {
            return;
        };
        if let Some(t1) = self.world.set(id, check, check.good()) {
            self.episodes[l.episode].t1 = Some(t1);
        }
        self.last_end.insert((id, check), now);
    }

    // --- upstream faults

    fn upstream_step(&mut self, now: Instant) {
        if now >= self.next_latency {
            let ms = self.rng.random_range(0..=20);
            self.world.sim.set_latency(Duration::from_millis(ms));
            self.next_latency = now + between(&mut self.rng, 2.0, 8.0);
        }
        match self.throttle_until {
            Some(until) if now >= until => {
                self.throttle_until = None;
                self.faults.rate_429 = 0.0;
                self.set_faults();
                self.next_throttle = now + between(&mut self.rng, 10.0, 30.0);
            }
            None if now >= self.next_throttle => {
                self.throttle_until = Some(now + between(&mut self.rng, 2.0, 6.0));
                self.faults.rate_429 = UPSTREAM_429_RATE;
                self.faults.retry_after = Duration::from_secs(1);
                self.set_faults();
            }
            _ => {}
        }
        match self.glitch {
            Some(g) => {
                // A shrink deletes the lowest id after every list request: stop well before
                // the reserved profiles run out.
                let shrunk = self.world.sim.requests().shrunk - g.shrunk_before;
                if now >= g.until || (!g.grow && shrunk as usize >= self.reserved.len() / 2) {
                    self.end_glitch();
                    self.next_glitch = now + between(&mut self.rng, 20.0, 50.0);
                }
            }
            None if now >= self.next_glitch => {
                let grow = self.rng.random_bool(0.5);
                self.start_glitch(now, grow);
            }
            None => {}
        }
    }

    /// The list grows (or shrinks) after every list request for a second or two.
    fn start_glitch(&mut self, now: Instant, grow: bool) {
        if self.glitch.is_some() {
            return;
        }
        self.glitch = Some(Glitch {
            grow,
            until: now + between(&mut self.rng, 1.0, 2.0),
            shrunk_before: self.world.sim.requests().shrunk,
        });
        if grow {
            self.faults.grow_mid_walk = true;
            self.glitches.0 += 1;
        } else {
            self.faults.shrink_mid_walk = true;
            self.glitches.1 += 1;
        }
        self.set_faults();
    }

    fn end_glitch(&mut self) {
        if self.glitch.take().is_none() {
            return;
        }
        self.faults.grow_mid_walk = false;
        self.faults.shrink_mid_walk = false;
        self.set_faults();
        for id in self.world.sim.profile_ids() {
            if id > self.max_original_id {
                self.world.sim.remove_profile(id);
            }
        }
        for (id, detail) in &self.reserved {
            if self.world.sim.profile_json(*id).is_none() {
                self.world.sim.upsert_profile(detail.clone());
            }
        }
    }

    // --- the sink

    async fn sink_step(&mut self, now: Instant) -> anyhow::Result<()> {
        if now < self.sink_until {
            return Ok(());
        }
        match self.sink_down_since.take() {
            Some(since) => {
                self.outages.seconds += secs(now - since);
                self.sink.set_mode(SinkMode::Up).await?;
                self.sink_until = now + between(&mut self.rng, 5.0, 20.0);
            }
            None => {
                let mode = match self.rng.random_range(0..3) {
                    0 => {
                        self.outages.refused += 1;
                        SinkMode::Refused
                    }
                    1 => {
                        self.outages.error_500 += 1;
                        SinkMode::Error500
                    }
                    _ => {
                        self.outages.throttled += 1;
                        SinkMode::Throttle(self.rng.random_range(1..=2))
                    }
                };
                self.sink.set_mode(mode).await?;
                self.sink_down_since = Some(now);
                self.sink_until = now + between(&mut self.rng, 2.0, 15.0);
            }
        }
        Ok(())
    }

    // --- the daemon

    async fn daemon_step(&mut self, now: Instant, killing: bool) -> anyhow::Result<()> {
        if let Some(p) = &mut self.proc {
            if let Ok(Some(status)) = p.child.try_wait() {
                let what = format!(
                    "process {} exited on its own ({status}) after {:.1} s",
                    p.index,
                    secs(p.started.elapsed())
                );
                eprintln!("soak: {what}");
                self.crashes.push(what);
                self.proc = None;
                self.down_until = Some(now);
            }
        }
        match &self.proc {
            None => {
                if self.down_until.is_some_and(|t| now >= t) {
                    self.spawn()?;
                    self.next_kill = now + between(&mut self.rng, 8.0, 30.0);
                    // Half the restarts meet a shrinking list: the first sweep of a
                    // process, with no earlier sweep to carry profiles over from, walks an
                    // incomplete list that skips a few profiles.
                    if killing && self.rng.random_bool(0.5) {
                        self.start_glitch(now, false);
                    }
                }
            }
            Some(p) => {
                let (pid, index, port) = (p.pid, p.index, p.port);
                if killing && now >= self.next_kill {
                    self.kill().await?;
                    self.down_until = Some(now + between(&mut self.rng, 0.2, 3.0));
                } else if now >= self.next_hup && self.logs.sweeps_of(index) > 0 {
                    // Only once the process has swept: its SIGHUP handler is in place.
                    self.timeout_secs = if self.timeout_secs == 10 { 11 } else { 10 };
                    self.write_config(port)?;
                    signal(pid, "-HUP")?;
                    self.hups += 1;
                    self.next_hup = now + between(&mut self.rng, 10.0, 40.0);
                }
            }
        }
        if now >= self.next_rss {
            if let Some(p) = &self.proc {
                if let Some(kib) = rss_kib(p.pid) {
                    self.rss.push((SystemTime::now(), p.index, kib));
                }
            }
            self.next_rss = now + Duration::from_millis(500);
        }
        Ok(())
    }

    fn progress(&self, elapsed: Duration) {
        let delivered = self.sink.shared.answered_200.load(Ordering::Relaxed);
        let sweeps = lock(&self.logs.sweeps).len();
        println!(
            "[{:>5.0} s] episodes {} ({} on), sweeps {sweeps}, kills {}, reloads {}, delivered {delivered}, sink {:?}",
            secs(elapsed),
            self.episodes.len(),
            self.live.len(),
            self.kills.len(),
            self.hups,
            *lock(&self.sink.shared.mode),
        );
    }

    /// The fault phase, then the drain; answers what the audit needs.
    async fn run(mut self) -> anyhow::Result<Record> {
        self.faults = Faults {
            error_rate: UPSTREAM_ERROR_RATE,
            retry_after: Duration::from_secs(1),
            ..Faults::default()
        };
        self.set_faults();
        self.sink.set_flaky(true);
        self.spawn()?;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_progress = self.start + Duration::from_secs(30);
        loop {
            ticker.tick().await;
            let now = Instant::now();
            let elapsed = now - self.start;
            if elapsed >= self.fault_len {
                break;
            }
            self.episodes_step(now, true);
            self.upstream_step(now);
            self.sink_step(now).await?;
            self.daemon_step(now, elapsed < self.kill_phase).await?;
            if now >= next_progress {
                self.progress(elapsed);
                next_progress += Duration::from_secs(30);
            }
        }
        let fault_end = SystemTime::now();

        // Faults off, every episode over, the sink healthy, a daemon running.
        let keys: Vec<(u64, Check)> = self.live.keys().copied().collect();
        let now = Instant::now();
        for (id, check) in keys {
            self.end_episode(id, check, now);
        }
        self.end_glitch();
        self.faults = Faults::default();
        self.set_faults();
        self.world.sim.set_latency(Duration::ZERO);
        self.sink.set_flaky(false);
        if self.sink_down_since.take().is_some() {
            self.sink.set_mode(SinkMode::Up).await?;
        }
        if self.proc.is_none() {
            self.spawn()?;
        }
        let cleared = SystemTime::now();
        println!(
            "faults off at {:.0} s; draining",
            offset(cleared, self.start_wall)
        );
        let drain = self.drain(cleared).await;
        match &drain {
            Ok(d) => println!("drained in {:.1} s", secs(*d)),
            Err(e) => eprintln!("soak: drain: {e}"),
        }
        // Whatever else happened, the process must not have died on its own meanwhile.
        self.daemon_step(Instant::now(), false).await?;

        // A graceful stop.
        let exit = match self.proc.take() {
            Some(mut p) => match signal(p.pid, "-TERM") {
                Ok(()) => match tokio::time::timeout(Duration::from_secs(15), p.child.wait()).await
                {
                    Ok(Ok(status)) if status.success() => Ok(()),
                    Ok(Ok(status)) => Err(format!("the daemon exited with {status} on SIGTERM")),
                    Ok(Err(e)) => Err(format!("cannot wait for the daemon: {e}")),
                    Err(_) => {
                        let _ = p.child.start_kill();
                        Err("the daemon did not exit within 15 s of SIGTERM".to_string())
                    }
                },
                Err(e) => Err(e.to_string()),
            },
            None => Err("no daemon was running at the end".to_string()),
        };
        // Let the log reader take the last lines.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = lock(&self.logs.file).flush();

        let transitions_checked = self.check_transitions();
        self.sim_stop.cancel();
        Ok(Record {
            args: self.args.clone(),
            start: self.start_wall,
            fault_end,
            final_stretch: self.final_stretch,
            episodes: self.episodes.clone(),
            sweeps: lock(&self.logs.sweeps).clone(),
            spawns: self.spawns.clone(),
            kills: self.kills.clone(),
            crashes: self.crashes.clone(),
            hups: self.hups,
            reloaded: self.logs.reloaded.load(Ordering::Relaxed),
            reload_failed: self.logs.reload_failed.load(Ordering::Relaxed),
            errors: lock(&self.logs.errors).clone(),
            deliveries: self.sink.deliveries(),
            transitions_checked,
            stats: self.world.sim.requests(),
            sink: self.outages.clone(),
            sink_answers: (
                self.sink.shared.answered_200.load(Ordering::Relaxed),
                self.sink.shared.answered_500.load(Ordering::Relaxed),
                self.sink.shared.answered_429.load(Ordering::Relaxed),
                self.sink.shared.cut.load(Ordering::Relaxed),
            ),
            glitches: self.glitches,
            rss: self.rss.clone(),
            drain,
            exit,
        })
    }

    /// Waits until two sweeps started after `cleared` have finished, the daemon holds no
    /// alert and its queue is empty, twice in a row a second apart.
    async fn drain(&mut self, cleared: SystemTime) -> Result<Duration, String> {
        let began = Instant::now();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let mut calm = 0;
        let mut last = String::from("no answer yet");
        while began.elapsed() < DRAIN_DEADLINE {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Err(e) = self.daemon_step(Instant::now(), false).await {
                return Err(e.to_string());
            }
            let Some(p) = &self.proc else {
                calm = 0;
                continue;
            };
            let (index, port) = (p.index, p.port);
            let swept_after = {
                let sweeps = lock(&self.logs.sweeps);
                let mut previous: Option<SystemTime> = None;
                let mut n = 0;
                for s in sweeps.iter().filter(|s| s.proc == index) {
                    if previous.unwrap_or(self.spawns[index]) >= cleared {
                        n += 1;
                    }
                    previous = Some(s.ts);
                }
                n
            };
            let status = fetch_json(&client, port, "/api/v1/status").await;
            let queue = fetch_queue(&client, port).await;
            let alerts = status
                .as_ref()
                .and_then(|s| s["alerts"].as_array().map(Vec::len));
            last = format!(
                "sweeps since the faults stopped: {swept_after}, alerts held: {alerts:?}, queue: {queue:?}"
            );
            if swept_after >= 2 && alerts == Some(0) && queue == Some(0) {
                calm += 1;
                if calm >= 2 {
                    return Ok(began.elapsed());
                }
            } else {
                calm = 0;
            }
        }
        Err(format!(
            "not drained within {} s ({last})",
            DRAIN_DEADLINE.as_secs()
        ))
    }

    /// Every transition in the simulator's log after the start is one of the soak's
    /// calls, at a time within that call.
    fn check_transitions(&self) -> Result<usize, String> {
        let log = self.world.sim.transitions();
        let log = log.get(self.transitions_base..).unwrap_or_default();
        let mut ours: HashMap<(u64, HealthField), Vec<&Call>> = HashMap::new();
        for c in &self.world.calls {
            ours.entry((c.id, c.field)).or_default().push(c);
        }
        let mut theirs: HashMap<(u64, HealthField), Vec<SystemTime>> = HashMap::new();
        for t in log {
            theirs.entry((t.id, t.field)).or_default().push(t.at);
        }
        let mut problems = Vec::new();
        for (key, calls) in &ours {
            let ats = theirs.remove(key).unwrap_or_default();
            if ats.len() != calls.len() {
                problems.push(format!(
                    "profile {} {}: {} calls, {} transitions",
                    key.0,
                    key.1.as_str(),
                    calls.len(),
                    ats.len()
                ));
                continue;
            }
            for (c, at) in calls.iter().zip(&ats) {
                if *at < c.before || *at > c.after {
                    problems.push(format!(
                        "profile {} {}: a transition outside its call",
                        key.0,
                        key.1.as_str()
                    ));
                }
            }
        }
        for (key, ats) in theirs {
            problems.push(format!(
                "profile {} {}: {} transitions the soak did not make",
                key.0,
                key.1.as_str(),
                ats.len()
            ));
        }
        if problems.is_empty() {
            Ok(log.len())
        } else {
            problems.truncate(10);
            Err(problems.join("; "))
        }
    }
}

/// A JSON document from the daemon's HTTP server; `None` on any failure.
async fn fetch_json(client: &reqwest::Client, port: u16, path: &str) -> Option<Value> {
    let resp = client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .ok()?;
    serde_json::from_slice(&resp.bytes().await.ok()?).ok()
}

/// `inventory_monitor_notification_queue` from `/metrics`.
async fn fetch_queue(client: &reqwest::Client, port: u16) -> Option<u64> {
    let resp = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?;
    let text = resp.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("inventory_monitor_notification_queue "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

// ---------------------------------------------------------------------------------------
// The audit.

/// One alert of one delivered payload.
#[derive(Debug, Clone)]
struct Announced {
    /// `firing` or `resolved`.
    status: String,
    /// The `alertname` label.
    alertname: String,
    /// The `profile_id` label.
    profile_id: Option<u64>,
    /// `startsAt`: when it started firing.
    starts_at: Option<SystemTime>,
    /// The change's identity: status, alert, startsAt, endsAt.
    key: String,
    /// The alert's identity: alert and startsAt.
    alert_key: String,
    /// `endsAt`: when it resolved; `None` while firing.
    ends_at: Option<SystemTime>,
}

/// The alerts of one delivered Alertmanager v4 payload.
fn announced(body: &[u8]) -> Result<Vec<Announced>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if v["version"] != "4" {
        return Err("not an Alertmanager v4 payload".to_string());
    }
    if v["truncatedAlerts"].as_u64().unwrap_or(0) > 0 {
        return Err("alerts were truncated".to_string());
    }
    let alerts = v["alerts"].as_array().ok_or("no alerts array")?;
    alerts
        .iter()
        .map(|a| {
            let status = a["status"]
                .as_str()
                .ok_or("alert without status")?
                .to_string();
            let alertname = a["labels"]["alertname"]
                .as_str()
                .ok_or("alert without alertname")?
                .to_string();
            let profile_id = match a["labels"]["profile_id"].as_str() {
                Some(s) => Some(s.parse::<u64>().map_err(|_| "bad profile_id")?),
                None => None,
            };
            let starts = a["startsAt"].as_str().unwrap_or("");
            let ends = a["endsAt"].as_str().unwrap_or(NO_END);
            let alert_key = format!("{alertname}/{profile_id:?}@{starts}");
            Ok(Announced {
                key: format!("{status} {alert_key} -> {ends}"),
                alert_key,
                starts_at: parse_time(starts),
                ends_at: if ends == NO_END {
                    None
                } else {
                    parse_time(ends)
                },
                status,
                alertname,
                profile_id,
            })
        })
        .collect()
}

/// A counted sweep (see the module documentation).
#[derive(Debug, Clone, Copy)]
struct Point {
    /// Every read of the sweep happened after this.
    lo_start: SystemTime,
    /// The judge ran at or after this.
    lo_judged: SystemTime,
    /// The judge ran at or before this; the results were written soon after.
    ts: SystemTime,
}

/// The sweeps that count, in time order, and the longest sweep.
fn counted_sweeps(sweeps: &[SweepLine], spawns: &[SystemTime]) -> (Vec<Point>, Vec<Point>, f64) {
    let mut sorted: Vec<&SweepLine> = sweeps.iter().collect();
    sorted.sort_by_key(|s| s.ts);
    let mut last_of: HashMap<usize, usize> = HashMap::new();
    for (i, s) in sorted.iter().enumerate() {
        last_of.insert(s.proc, i);
    }
    let mut previous: HashMap<usize, SystemTime> = HashMap::new();
    let mut complete = Vec::new();
    let mut seen = Vec::new();
    let mut longest: f64 = 0.0;
    for (i, s) in sorted.iter().enumerate() {
        let lo_start = previous
            .get(&s.proc)
            .copied()
            .or_else(|| spawns.get(s.proc).copied())
            .unwrap_or(s.ts);
        previous.insert(s.proc, s.ts);
        longest = longest.max(s.seconds);
        let persisted = last_of.get(&s.proc) != Some(&i);
        if !persisted {
            continue;
        }
        let p = Point {
            lo_start,
            lo_judged: lo_start + Duration::from_secs_f64(s.seconds.max(0.0)),
            ts: s.ts,
        };
        if s.walk != Walk::Failed {
            seen.push(p);
        }
        if s.walk == Walk::Complete {
            complete.push(p);
        }
    }
    (complete, seen, longest)
}

/// True when the episode must have been announced firing (see the module documentation).
fn required(s: &[Point], t0: SystemTime, t1: SystemTime, for_: Duration) -> bool {
    let Some(j) = s.iter().position(|p| p.lo_start >= t0) else {
        return false;
    };
    let Some(jp) = s.get(j + 1) else {
        return false;
    };
    let pending_by = jp.ts + for_;
    let Some(k) = (j + 2..s.len()).find(|&k| s[k].lo_judged >= pending_by) else {
        return false;
    };
    let Some(kp) = s.get(k + 1) else {
        return false;
    };
    kp.ts + GROUP_WAIT <= t1
}

/// Which sweep judged at `t` (an alert's `endsAt`, in whole seconds): "sweep 1 of process
/// 2, incomplete walk".
fn judged_by(sweeps: &[SweepLine], t: SystemTime) -> String {
    let Some(s) = sweeps
        .iter()
        .filter(|s| s.ts >= t && s.ts <= t + Duration::from_secs(2))
        .min_by_key(|s| s.ts)
    else {
        return "no sweep logged then".to_string();
    };
    let n = sweeps
        .iter()
        .filter(|o| o.proc == s.proc && o.ts <= s.ts)
        .count();
    let walk = match s.walk {
        Walk::Complete => "complete walk",
        Walk::Incomplete => "incomplete walk",
        Walk::Failed => "failed walk",
    };
    format!("sweep {n} of process {}, {walk}", s.proc)
}

/// An episode as the daemon could see it: two episodes of one alert with no sweep wholly
/// between them are one.
#[derive(Debug, Clone)]
struct Seen {
    /// The profile.
    id: u64,
    /// Which check.
    check: Check,
    /// The first part's start (before, after).
    t0: (SystemTime, SystemTime),
    /// The last part's end (before, after).
    t1: (SystemTime, SystemTime),
    /// How many logged episodes it is made of.
    parts: usize,
    /// Whether it had to be announced.
    required: bool,
    /// How many alerts announced firing belong to it.
    firing: usize,
}

/// The audit's verdict.
#[derive(Debug, Default)]
struct Verdict {
    /// The counts, one line each.
    lines: Vec<String>,
    /// Why the soak fails; empty when it passes.
    failures: Vec<String>,
}

impl Verdict {
    fn line(&mut self, name: &str, value: impl std::fmt::Display) {
        self.lines.push(format!("{name:<32} {value}"));
    }
    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }
}

/// Compares what the sink received with the episodes (see the module documentation).
fn audit(r: &Record) -> Verdict {
    let mut v = Verdict::default();
    let at = |t: SystemTime| offset(t, r.start);

    // Sweeps.
    let (complete, seen_sweeps, longest) = counted_sweeps(&r.sweeps, &r.spawns);
    let count = |w: Walk| r.sweeps.iter().filter(|s| s.walk == w).count();
    let mut durations: Vec<f64> = r.sweeps.iter().map(|s| s.seconds).collect();
    durations.sort_by(f64::total_cmp);
    let median = durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    let mut ts: Vec<SystemTime> = r.sweeps.iter().map(|s| s.ts).collect();
    ts.sort();
    let max_gap = ts
        .windows(2)
        .map(|w| offset(w[1], w[0]))
        .fold(0.0, f64::max);
    v.line(
        "sweeps",
        format!(
            "{} complete, {} incomplete, {} failed; median {median:.2} s, longest {longest:.2} s, \
             longest gap between two {max_gap:.1} s",
            count(Walk::Complete),
            count(Walk::Incomplete),
            count(Walk::Failed)
        ),
    );
    if max_gap > 20.0 {
        v.fail(format!(
            "the daemon went {max_gap:.1} s without finishing a sweep"
        ));
    }

    // Episodes, merged where no sweep saw the gap, and which were required.
    let mut by_alert: BTreeMap<(u64, Check), Vec<&Episode>> = BTreeMap::new();
    let mut open = 0;
    for e in &r.episodes {
        if e.t1.is_none() {
            open += 1;
        }
        by_alert.entry((e.id, e.check)).or_default().push(e);
    }
    if open > 0 {
        v.fail(format!(
            "{open} episodes never ended (the soak's own bookkeeping)"
        ));
    }
    let mut seen: Vec<Seen> = Vec::new();
    for ((id, check), eps) in &by_alert {
        let mut current: Option<Seen> = None;
        for e in eps {
            let Some(t1) = e.t1 else { continue };
            current = match current.take() {
                Some(mut s)
                    if !seen_sweeps
                        .iter()
                        .any(|p| p.lo_start >= s.t1.1 && p.ts <= e.t0.0) =>
                {
                    s.t1 = t1;
                    s.parts += 1;
                    Some(s)
                }
                other => {
                    if let Some(s) = other {
                        seen.push(s);
                    }
                    Some(Seen {
                        id: *id,
                        check: *check,
                        t0: e.t0,
                        t1,
                        parts: 1,
                        required: false,
                        firing: 0,
                    })
                }
            };
        }
        seen.extend(current);
    }
    for s in &mut seen {
        s.required = required(&complete, s.t0.1, s.t1.0, s.check.for_());
    }
    let merged = seen.iter().filter(|s| s.parts > 1).count();
    let short = r
        .episodes
        .iter()
        .filter(|e| {
            e.t1.is_some_and(|t1| {
                t1.0.duration_since(e.t0.1).unwrap_or_default() < Duration::from_secs(1)
            })
        })
        .count();
    let n_required = seen.iter().filter(|s| s.required).count();
    v.line(
        "episodes",
        format!(
            "{} ({} connectivity, {} authentication; {short} shorter than 1 s; {merged} merged \
             with the next for lack of a sweep between them)",
            r.episodes.len(),
            r.episodes
                .iter()
                .filter(|e| e.check == Check::Connectivity)
                .count(),
            r.episodes
                .iter()
                .filter(|e| e.check == Check::Authentication)
                .count(),
        ),
    );
    v.line("required (must be announced)", n_required);
    if n_required == 0 || n_required * 3 < seen.len() {
        v.fail(format!(
            "only {n_required} of {} episodes were required: the daemon hardly swept",
            seen.len()
        ));
    }
    let mut index: HashMap<(u64, Check), Vec<usize>> = HashMap::new();
    for (i, s) in seen.iter().enumerate() {
        index.entry((s.id, s.check)).or_default().push(i);
    }

    // What was delivered.
    let mut notifications: Vec<(SystemTime, Vec<Announced>)> = Vec::new();
    let mut unreadable = 0;
    for d in &r.deliveries {
        match announced(&d.body) {
            Ok(a) => notifications.push((d.at, a)),
            Err(e) => {
                unreadable += 1;
                if unreadable <= 3 {
                    v.fail(format!("a delivered payload is unreadable: {e}"));
                }
            }
        }
    }
    let alerts_in: usize = notifications.iter().map(|(_, a)| a.len()).sum();
    v.line(
        "delivered notifications",
        format!(
            "{} ({alerts_in} alert changes in them)",
            notifications.len()
        ),
    );

    // Duplicates: a change delivered before.
    let mut first: HashMap<String, SystemTime> = HashMap::new();
    let mut dup_notifications: Vec<(SystemTime, SystemTime, usize, usize)> = Vec::new();
    for (when, alerts) in &notifications {
        let mut repeated = 0;
        let mut original = None::<SystemTime>;
        for a in alerts {
            match first.get(&a.key) {
                Some(t) => {
                    repeated += 1;
                    original = Some(original.map_or(*t, |o: SystemTime| o.max(*t)));
                }
                None => {
                    first.insert(a.key.clone(), *when);
                }
            }
        }
        if let Some(original) = original {
            dup_notifications.push((*when, original, repeated, alerts.len()));
        }
    }
    let mut kills_used = vec![false; r.kills.len()];
    let mut excess = Vec::new();
    for (when, original, repeated, of) in &dup_notifications {
        let kill = r.kills.iter().enumerate().position(|(i, k)| {
            !kills_used[i]
                && *original <= *k + Duration::from_millis(200)
                && k.duration_since(*original).unwrap_or_default() <= DUPLICATE_WINDOW
                && *when > *k
        });
        match kill {
            Some(i) => kills_used[i] = true,
            None => excess.push(format!(
                "a notification at {:.1} s repeats {repeated} of its {of} alert changes first \
                 delivered at {:.1} s, with no SIGKILL just after that",
                at(*when),
                at(*original)
            )),
        }
    }
    v.line(
        "duplicates",
        format!(
            "{} notifications repeating {} alert changes; {} matched to a kill, {} not",
            dup_notifications.len(),
            dup_notifications.iter().map(|d| d.2).sum::<usize>(),
            dup_notifications.len() - excess.len(),
            excess.len()
        ),
    );
    for e in excess.iter().take(10) {
        v.fail(format!("duplicate: {e}"));
    }

    // Firing and resolved, per alert.
    struct Alert {
        alertname: String,
        profile_id: Option<u64>,
        starts_at: Option<SystemTime>,
        firing_at: Option<SystemTime>,
        resolved: Option<(SystemTime, Option<SystemTime>)>,
    }
    let mut alerts: BTreeMap<String, Alert> = BTreeMap::new();
    let mut resolved_before_firing = Vec::new();
    for (when, list) in &notifications {
        for a in list {
            let entry = alerts.entry(a.alert_key.clone()).or_insert_with(|| Alert {
                alertname: a.alertname.clone(),
                profile_id: a.profile_id,
                starts_at: a.starts_at,
                firing_at: None,
                resolved: None,
            });
            if a.status == "firing" {
                entry.firing_at.get_or_insert(*when);
            } else {
                if entry.firing_at.is_none() {
                    resolved_before_firing.push(a.alert_key.clone());
                }
                entry.resolved.get_or_insert((*when, a.ends_at));
            }
        }
    }
    let firing = alerts.values().filter(|a| a.firing_at.is_some()).count();
    let resolved = alerts.values().filter(|a| a.resolved.is_some()).count();
    v.line("alerts announced firing", firing);
    v.line("alerts announced resolved", resolved);

    let slack = Duration::from_secs_f64(longest + 2.0);
    let mut spurious: Vec<String> = Vec::new();
    let mut missing_resolved: Vec<String> = Vec::new();
    let mut api_down = 0;
    for (key, a) in &alerts {
        if a.alertname == "InventoryApiDown" {
            api_down += 1;
            let justified = a.starts_at.is_some_and(|s| {
                r.sweeps.iter().any(|sw| {
                    sw.walk == Walk::Failed
                        && sw.ts + Duration::from_secs(1) >= s
                        && sw.ts <= s + Duration::from_secs(2)
                })
            });
            if !justified {
                spurious.push(format!("{key}: InventoryApiDown with no failed list walk"));
            }
            continue;
        }
        let (Some(check), Some(id), Some(starts)) = (
            Check::from_alertname(&a.alertname),
            a.profile_id,
            a.starts_at,
        ) else {
            spurious.push(format!("{key}: an alert the soak never causes"));
            continue;
        };
        if a.firing_at.is_none() {
            spurious.push(format!(
                "{key}: resolved without ever being announced firing"
            ));
            continue;
        }
        let candidates = index.get(&(id, check)).cloned().unwrap_or_default();
        let matched = candidates.into_iter().rev().find(|&i| {
            let s = &seen[i];
            starts + Duration::from_secs(1) >= s.t0.0 + check.for_() && starts <= s.t1.1 + slack
        });
        let Some(i) = matched else {
            spurious.push(format!(
                "{key}: firing from {:.1} s, but profile {id} had no such episode",
                at(starts)
            ));
            continue;
        };
        seen[i].firing += 1;
        match a.resolved {
            None => missing_resolved.push(format!(
                "{key}: episode {:.1}..{:.1} s, announced firing, never resolved",
                at(seen[i].t0.1),
                at(seen[i].t1.0)
            )),
            Some((_, ends)) => {
                if let Some(e) = ends.filter(|e| *e + Duration::from_secs(1) < seen[i].t1.0) {
                    spurious.push(format!(
                        "{key}: resolved at {:.1} s ({}), but the episode lasted until {:.1} s",
                        at(e),
                        judged_by(&r.sweeps, e),
                        at(seen[i].t1.0)
                    ));
                }
            }
        }
    }
    for key in &resolved_before_firing {
        if alerts.get(key).is_some_and(|a| a.firing_at.is_some()) {
            spurious.push(format!("{key}: resolved before it was announced firing"));
        }
    }
    let mut missing_firing = Vec::new();
    for s in &seen {
        if s.firing > 1 {
            spurious.push(format!(
                "profile {} {}: {} alerts for one episode {:.1}..{:.1} s",
                s.id,
                s.check.alertname(),
                s.firing,
                at(s.t0.1),
                at(s.t1.0)
            ));
        }
        if s.required && s.firing == 0 {
            missing_firing.push(format!(
                "profile {} {}: episode {:.1}..{:.1} s ({:.1} s) never announced",
                s.id,
                s.check.alertname(),
                at(s.t0.1),
                at(s.t1.0),
                offset(s.t1.0, s.t0.1)
            ));
        }
    }
    let announced_episodes = seen.iter().filter(|s| s.firing > 0).count();
    let optional_announced = seen.iter().filter(|s| !s.required && s.firing > 0).count();
    v.line(
        "episodes announced",
        format!("{announced_episodes} ({optional_announced} of them not required)"),
    );
    v.line("missing (firing)", missing_firing.len());
    v.line("missing (resolved)", missing_resolved.len());
    v.line("spurious", spurious.len());
    v.line("InventoryApiDown alerts", api_down);
    for m in missing_firing.iter().take(15) {
        v.fail(format!("missing: {m}"));
    }
    for m in missing_resolved.iter().take(15) {
        v.fail(format!("missing resolution: {m}"));
    }
    for s in spurious.iter().take(15) {
        v.fail(format!("spurious: {s}"));
    }
    if missing_firing.len() > 15 || missing_resolved.len() > 15 || spurious.len() > 15 {
        v.fail("(more problems not shown)".to_string());
    }

    // The process.
    v.line(
        "kills / restarts / crashes",
        format!(
            "{} / {} / {}",
            r.kills.len(),
            r.spawns.len().saturating_sub(1),
            r.crashes.len()
        ),
    );
    for c in &r.crashes {
        v.fail(format!("crash: {c}"));
    }
    v.line(
        "reloads (SIGHUP sent / ok / failed)",
        format!("{} / {} / {}", r.hups, r.reloaded, r.reload_failed),
    );
    if r.reload_failed > 0 {
        v.fail(format!("{} reloads failed", r.reload_failed));
    }
    let st = &r.stats;
    v.line(
        "upstream requests",
        format!("{} list, {} detail", st.list, st.detail),
    );
    v.line(
        "upstream errors survived",
        format!(
            "{} × 500, {} × 429; pagination: {} grow glitches ({} profiles), {} shrink \
             glitches ({} profiles)",
            st.server_errors, st.throttled, r.glitches.0, st.grown, r.glitches.1, st.shrunk
        ),
    );
    let (ok, e500, e429, cut) = r.sink_answers;
    v.line(
        "sink outages",
        format!(
            "{} ({} refused, {} all-500, {} all-429; {:.0} s down in all); answers: {ok} × 200, \
             {e500} × 500, {e429} × 429, {cut} cut",
            r.sink.refused + r.sink.error_500 + r.sink.throttled,
            r.sink.refused,
            r.sink.error_500,
            r.sink.throttled,
            r.sink.seconds
        ),
    );
    match &r.transitions_checked {
        Ok(n) => v.line("simulator transitions verified", n),
        Err(e) => v.fail(format!("the simulator's transition log disagrees: {e}")),
    }
    match &r.drain {
        Ok(d) => v.line("drain", format!("{:.1} s", secs(*d))),
        Err(e) => v.fail(format!("drain: {e}")),
    }
    if let Err(e) = &r.exit {
        v.fail(format!("stop: {e}"));
    }
    v.line(
        "daemon ERROR lines",
        format!("{} (see target/soak/daemon.log)", r.errors.len()),
    );
    for e in r.errors.iter().take(5) {
        v.lines.push(format!("    {e}"));
    }

    // Memory of the last process.
    v.line(
        "final stretch without kills",
        format!("{:.0} s", secs(r.final_stretch)),
    );
    memory(r, &mut v);
    v
}

/// The audit must be able to fail: copies of the record with one thing broken must each
/// fail for that reason. Answers what the audit did not catch.
fn self_check(r: &Record) -> Vec<String> {
    let is_firing = |d: &Delivery| {
        announced(&d.body).is_ok_and(|a| {
            a.iter()
                .any(|a| a.status == "firing" && a.profile_id.is_some())
        })
    };
    let mut blind = Vec::new();
    let mut expect = |name: &str, record: Option<Record>, prefixes: &[&str]| match record {
        None => blind.push(format!("{name}: nothing to break (no alert was delivered)")),
        Some(record) => {
            let v = audit(&record);
            if !v
                .failures
                .iter()
                .any(|f| prefixes.iter().any(|p| f.starts_with(p)))
            {
                blind.push(format!("the audit does not notice {name}"));
            }
        }
    };

    // A notification announcing a firing alert is lost.
    let lost = r.deliveries.iter().position(is_firing).map(|i| {
        let mut m = r.clone();
        m.deliveries.remove(i);
        m
    });
    expect("a lost notification", lost, &["missing", "spurious"]);

    // The last notification arrives twice, with no SIGKILL anywhere near.
    let repeated = r.deliveries.last().map(|d| {
        let mut m = r.clone();
        m.deliveries.push(Delivery {
            at: d.at + Duration::from_millis(500),
            body: d.body.clone(),
        });
        m
    });
    expect("a repeated notification", repeated, &["duplicate"]);

    // A notification's firing alerts are about a profile that never had an episode.
    let invented = r.deliveries.iter().position(is_firing).and_then(|i| {
        let mut body: Value = serde_json::from_slice(&r.deliveries[i].body).ok()?;
        for a in body["alerts"].as_array_mut()? {
            if a["status"] == "firing" {
                a["labels"]["profile_id"] = Value::from("0");
            }
        }
        let mut m = r.clone();
        m.deliveries[i].body = serde_json::to_vec(&body).ok()?;
        Some(m)
    });
    expect("an invented alert", invented, &["spurious"]);

    // An episode that was announced is taken out of the log.
    let forgotten = r.deliveries.iter().find(|d| is_firing(d)).and_then(|d| {
        let a = announced(&d.body)
            .ok()?
            .into_iter()
            .find(|a| a.status == "firing" && a.profile_id.is_some())?;
        let check = Check::from_alertname(&a.alertname)?;
        let mut m = r.clone();
        m.episodes
            .retain(|e| !(Some(e.id) == a.profile_id && e.check == check));
        Some(m)
    });
    expect("an alert without its episode", forgotten, &["spurious"]);
    blind
}

/// The memory verdict on the last process.
fn memory(r: &Record, v: &mut Verdict) {
    let Some(last) = r.spawns.len().checked_sub(1) else {
        v.fail("memory: no daemon ever ran".to_string());
        return;
    };
    let born = r.spawns[last];
    let lived = offset(r.fault_end, born);
    if lived < 40.0 {
        v.fail(format!(
            "memory: the last process lived only {lived:.0} s before the end of the faults"
        ));
        return;
    }
    let mark = (lived / 2.0).min(60.0);
    let max_in = |from: f64, to: f64| {
        r.rss
            .iter()
            .filter(|(t, p, _)| *p == last && (from..=to).contains(&offset(*t, born)))
            .map(|(_, _, k)| *k)
            .max()
    };
    let baseline = max_in(mark - 5.0, mark + 5.0);
    let end = max_in(lived - 10.0, lived);
    match (baseline, end) {
        (Some(b), Some(e)) => {
            let ratio = e as f64 / b as f64;
            v.line(
                "memory (RSS of the last process)",
                format!(
                    "{:.1} MiB at {mark:.0} s, {:.1} MiB at {lived:.0} s: {:+.1}%",
                    b as f64 / 1024.0,
                    e as f64 / 1024.0,
                    (ratio - 1.0) * 100.0
                ),
            );
            if ratio > MEMORY_LIMIT {
                v.fail(format!(
                    "memory grew {:.1}% ({} KiB -> {} KiB), more than {:.0}%",
                    (ratio - 1.0) * 100.0,
                    b,
                    e,
                    (MEMORY_LIMIT - 1.0) * 100.0
                ));
            }
        }
        _ => v.fail("memory: no RSS samples of the last process".to_string()),
    }
}

/// Runs the soak, prints the counts, exits 1 on any failure (2 when it cannot run).
#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e:#}");
            std::process::exit(2);
        }
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/soak");
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(dir.join("state")) {
        eprintln!("soak: cannot create {}: {e}", dir.display());
        std::process::exit(2);
    }
    println!(
        "soak: {} min of faults, seed {}, {} profiles; logs in {}",
        args.minutes,
        args.seed,
        args.profiles,
        dir.display()
    );
    let record = match Soak::new(args.clone(), dir).await {
        Ok(soak) => soak.run().await,
        Err(e) => Err(e),
    };
    let record = match record {
        Ok(r) => r,
        Err(e) => {
            eprintln!("soak: {e:#}");
            std::process::exit(2);
        }
    };
    let mut verdict = audit(&record);
    let blind = self_check(&record);
    if blind.is_empty() {
        verdict.line(
            "audit self-check",
            "a lost, a repeated and an invented notification, and a forgotten episode, all caught",
        );
    }
    for b in blind {
        verdict.fail(format!("self-check: {b}"));
    }
    println!();
    println!(
        "soak: {} min, seed {}, {} profiles",
        record.args.minutes, record.args.seed, record.args.profiles
    );
    for l in &verdict.lines {
        println!("  {l}");
    }
    if verdict.failures.is_empty() {
        println!("soak: PASS");
    } else {
        println!();
        for f in &verdict.failures {
            println!("FAIL {f}");
        }
        println!("soak: FAIL ({} problems)", verdict.failures.len());
        std::process::exit(1);
    }
}
