//! The benchmark harness: the simulator (in this process) and the daemon (the real binary,
//! a child process) on loopback, measured from the outside.
//!
//! ```sh
//! cargo bench --bench harness              # the full table (1k, 10k, 100k profiles)
//! cargo bench --bench harness -- --quick   # 1k profiles; fails only on gross regressions
//! cargo bench --bench harness -- --profiles 10000 --concurrency 16 --latency 20ms
//! ```
//!
//! For each case it reports:
//! - sweep time against the bound `(details + pages − 1) × L / C + L` that no sweep can beat;
//! - the daemon's user+sys CPU per sweep and per profile (from `/proc/<pid>/stat`);
//! - the daemon's peak RSS (`VmHWM`);
//! - `/metrics` latency p50/p99 under 8 concurrent scrapers (4 plain, 4 gzip, each on a
//!   thread of its own, all scraping at the same instants every `--scrape-every`, 250 ms
//!   unless told; `--scrape-every 0s` scrapes back to back) while sweeps run, and body
//!   sizes;
//! - the floor, in the same run against the same simulator before the daemon starts: the
//!   same requests (list pages, then every detail, C keep-alive connections) sent by a
//!   minimal blocking HTTP/1.1 client, its CPU per request from its threads' own
//!   `getrusage`, and the daemon's CPU per sweep as a ratio to it (`--no-floor` skips it;
//!   `--floor` measures only the floor, without the daemon);
//! - (with `--alert-latency ROUNDS`, instead of the table) the time from a profile's
//!   degradation in the simulator to the webhook arriving at a local sink, with
//!   `poll.interval = 1s`, `group_wait = 1s` and no simulated latency:
//!   `cargo bench --bench harness -- --alert-latency 10 --profiles 10000`;
//! - (with `--storm N`, instead of the table) a storm: `--profiles` profiles (100,000 unless
//!   told), all healthy, then N of them lose connectivity at once; the time from that to
//!   the last of the N firing alerts taken by a webhook sink (the union of its payloads,
//!   each within the receiver's `max_alerts` of 1,000 and none cut short), as a ratio to
//!   two sweep periods plus 30 s (the period measured in the same run, `poll.interval = 5s`,
//!   `group_wait = 10s`, `for = 0s`); then all recover and the resolutions are measured the
//!   same way; and the daemon's peak RSS (`VmHWM`) over the run. Exits 1 if any alert is
//!   missing: `cargo bench --bench harness -- --storm 50000 --profiles 100000`
//!   (`--storm 1000 --profiles 2000` takes seconds).
//!
//! Sweep ends are read from the daemon's JSON log lines, so measuring costs the daemon nothing.
//! With `--scrape-floor`, each case then serves the daemon's last plain and gzip bodies from
//! a minimal static server (a thread per connection, the bodies in memory) to the same 8
//! scrapers at the same ticks for as long, twice: while the daemon, no longer scraped, goes
//! on sweeping the simulator, then with both stopped. The scrapes' floor on this machine,
//! beside the sweeps and alone, printed under the table with the daemon's p99 as a ratio to
//! each.
//! With `HARNESS_SCRAPE_TRACE=1` in the environment, each case also prints its 12 slowest
//! scrapes with where they fell against the sweep ends, and the scrapes' p99 near a sweep's
//! end against elsewhere.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inventory_monitor::simulator::{SimOptions, Simulator};
use inventory_monitor_testkit::child::{memory_kib, Child, Launch};
use inventory_monitor_testkit::place::free_port;
use inventory_monitor_testkit::sink::{Received, Sink};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");
const TOKEN: &str = "bench-token";
/// How often each of the 8 scrapers scrapes (`--scrape-every`): 4 times a second, 60 to
/// 120 times what a Prometheus does, all 8 at the same instants.
const SCRAPE_EVERY: Duration = Duration::from_millis(250);

/// One benchmark case.
#[derive(Debug, Clone)]
struct Case {
    profiles: usize,
    concurrency: u32,
    latency: Duration,
    sweeps: usize,
    scrape: bool,
    /// Each scraper's period: every scraper starts a scrape at each tick, so the 8 scrape
    /// concurrently. Zero: back to back, as fast as the daemon answers.
    scrape_every: Duration,
    /// Measure the floor before the daemon starts.
    floor: bool,
    /// After the daemon, serve its last bodies from a minimal static server to the same
    /// scrapers for as long (`--scrape-floor`).
    scrape_floor: bool,
}

impl Case {
    /// A daemon against `profiles` without simulated latency, measured for nothing but
    /// its alerts: no timed sweeps, no scrapes, no floors.
    fn unscraped(profiles: usize, concurrency: u32) -> Self {
        Self {
            profiles,
            concurrency,
            latency: Duration::ZERO,
            sweeps: 0,
            scrape: false,
            scrape_every: Duration::ZERO,
            floor: false,
            scrape_floor: false,
        }
    }
}

/// What one case measured.
#[derive(Debug, Default)]
struct Measured {
    sweep_seconds: Vec<f64>,
    cpu_seconds_per_sweep: Vec<f64>,
    peak_rss_kib: u64,
    scrape_plain_ms: Vec<f64>,
    scrape_gzip_ms: Vec<f64>,
    body_plain: usize,
    body_gzip: usize,
    /// The minimal client on the same pattern, when measured.
    floor: Option<Floor>,
    /// The same scrapers against a minimal static server, when measured.
    scrape_floor: Option<ScrapeFloor>,
}

/// Scrape times against the minimal static server (`--scrape-floor`): with nothing else
/// running, and while the daemon (no longer scraped) goes on sweeping the simulator.
#[derive(Debug, Default)]
struct ScrapeFloor {
    plain_ms: Vec<f64>,
    gzip_ms: Vec<f64>,
    busy_plain_ms: Vec<f64>,
    busy_gzip_ms: Vec<f64>,
}

fn bound(case: &Case, page_size: usize) -> f64 {
    let pages = case.profiles.div_ceil(page_size).max(1);
    let l = case.latency.as_secs_f64();
    (case.profiles + pages - 1) as f64 * l / f64::from(case.concurrency) + l
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (s.len() - 1) as f64).round() as usize;
    s[rank.min(s.len() - 1)]
}

/// user+sys CPU seconds of a process, from /proc/<pid>/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks; USER_HZ is 100 on every platform Rust supports here.
    Some((utime + stime) / 100.0)
}

/// The daemon under measurement; killed when dropped.
struct Daemon {
    /// The child process.
    child: Child,
    /// Its HTTP server.
    addr: SocketAddr,
    /// The duration of each sweep, in seconds, as its log reports them.
    sweeps: mpsc::UnboundedReceiver<f64>,
    /// Its config and state.
    _dir: PathBuf,
}

async fn start_daemon(
    dir: &Path,
    base_url: &str,
    case: &Case,
    extra: &str,
    interval: Duration,
) -> Daemon {
    let port = free_port();
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{base_url}\"\ntoken_env = \"BENCH_TOKEN\"\nconcurrency = {c}\npage_size = 100\ntimeout = \"30s\"\n\
             [poll]\ninterval = \"{interval}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{state}\"\n{extra}",
            c = case.concurrency,
            interval = humantime::format_duration(interval),
            state = dir.join("state").display(),
        ),
    )
    .expect("cannot write the bench config");
    let (tx, rx) = mpsc::unbounded_channel();
    let child = Launch::new(BIN)
        .args(["--log-format", "json", "run", "--config"])
        .arg(&config)
        .env("BENCH_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .stdout_null()
        .stderr_null()
        .on_stderr_line(move |line| {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                return;
            };
            let fields = &v["fields"];
            let message = fields["message"].as_str().unwrap_or("");
            if message.starts_with("sweep ") {
                let _ = tx.send(fields["seconds"].as_f64().unwrap_or(f64::NAN));
            } else if v["level"] == "ERROR" {
                eprintln!("daemon: {line}");
            }
        })
        .spawn()
        .expect("cannot start the daemon");
    Daemon {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        sweeps: rx,
        _dir: dir.to_path_buf(),
    }
}

/// One scrape, for `HARNESS_SCRAPE_TRACE`: when it started, how long it took, which kind.
#[derive(Debug, Clone, Copy)]
struct ScrapeTrace {
    at: Instant,
    ms: f64,
    gzip: bool,
}

/// With `HARNESS_SCRAPE_TRACE` set, prints where the slowest scrapes fell against the
/// daemon's sweep ends (as the harness read them from its log: the end of a sweep's
/// rendering and publication), and the p99 of the scrapes that started within
/// `near` of one against the others: what a scrape's tail comes from.
fn print_scrape_trace(trace: &[ScrapeTrace], sweep_ends: &[Instant]) {
    if std::env::var_os("HARNESS_SCRAPE_TRACE").is_none() || trace.is_empty() {
        return;
    }
    let offset = |at: Instant| -> f64 {
        sweep_ends
            .iter()
            .map(|&end| {
                if at >= end {
                    (at - end).as_secs_f64() * 1000.0
                } else {
                    -((end - at).as_secs_f64() * 1000.0)
                }
            })
            .min_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(f64::NAN)
    };
    let mut slow: Vec<&ScrapeTrace> = trace.iter().collect();
    slow.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    println!("slowest scrapes (ms after the nearest sweep end; negative: before it):");
    for t in slow.iter().take(12) {
        let kind = if t.gzip { "gzip" } else { "plain" };
        println!("  {kind:>5} {:7.1} ms at {:+8.0} ms", t.ms, offset(t.at));
    }
    let near = 400.0;
    for gzip in [false, true] {
        let (close, far): (Vec<f64>, Vec<f64>) = {
            let mut close = Vec::new();
            let mut far = Vec::new();
            for t in trace.iter().filter(|t| t.gzip == gzip) {
                if offset(t.at).abs() <= near {
                    close.push(t.ms);
                } else {
                    far.push(t.ms);
                }
            }
            (close, far)
        };
        println!(
            "  {}: {} within {near} ms of a sweep end, p99 {:.1} ms; {} others, p99 {:.1} ms",
            if gzip { "gzip" } else { "plain" },
            close.len(),
            percentile(&close, 99.0),
            far.len(),
            percentile(&far, 99.0)
        );
    }
}

/// Scrapes `/metrics` until `stop`, at each tick of `every` from `start` (back to back when
/// zero), recording in `trace` each scrape's time from request to the last byte of the body (read
/// chunk by chunk and counted, not kept).
async fn scraper(
    addr: SocketAddr,
    gzip: bool,
    every: Duration,
    start: tokio::time::Instant,
    stop: CancellationToken,
    size: Arc<AtomicU64>,
    trace: Arc<Mutex<Vec<ScrapeTrace>>>,
) {
    // No automatic decompression: the gzip body is measured as Prometheus receives it.
    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("scraper client");
    let mut ticks = (!every.is_zero()).then(|| {
        let mut t = tokio::time::interval_at(start, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    while !stop.is_cancelled() {
        if let Some(ticks) = &mut ticks {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
        }
        let mut req = client.get(format!("http://{addr}/metrics"));
        if gzip {
            req = req.header("Accept-Encoding", "gzip");
        }
        let t = Instant::now();
        let Ok(mut resp) = req.send().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut n = 0usize;
        let complete = loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => n += chunk.len(),
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        if !complete {
            continue;
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        trace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ScrapeTrace { at: t, ms, gzip });
        size.store(n as u64, Ordering::Relaxed);
    }
}

async fn start_sim(profiles: usize, latency: Duration) -> (Simulator, String, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind simulator");
    let addr = listener.local_addr().expect("simulator address");
    let sim = Simulator::new(SimOptions {
        profiles,
        seed: 1,
        latency,
        token: TOKEN.to_string(),
        ..SimOptions::default()
    });
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(
        sim.clone()
            .serve(listener, async move { s.cancelled().await }),
    );
    (sim, format!("http://{addr}/api/v1"), stop)
}

/// Measures the floor against `sim` (listening at `base_url`) on a blocking thread, so the
/// simulator's runtime keeps answering.
async fn run_floor(sim: &Simulator, base_url: &str, concurrency: u32) -> Floor {
    let addr: SocketAddr = base_url
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1")
        .parse()
        .expect("simulator address");
    let ids = sim.profile_ids();
    tokio::task::spawn_blocking(move || floor(addr, &ids, concurrency, 100))
        .await
        .expect("floor thread")
}

async fn run_case(case: &Case) -> Measured {
    let (sim, base_url, sim_stop) = start_sim(case.profiles, case.latency).await;
    // Before the daemon starts, so that nothing else loads the simulator meanwhile.
    let floor = if case.floor {
        Some(run_floor(&sim, &base_url, case.concurrency).await)
    } else {
        None
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let b = bound(case, 100);
    // Sweeps run back to back with a short gap, so scrapes overlap sweeps most of the time.
    let interval = Duration::from_secs_f64((b * 1.3).max(1.0) + 1.0);
    let mut daemon = start_daemon(dir.path(), &base_url, case, "", interval).await;
    let pid = daemon.child.pid();
    let mut m = Measured {
        floor,
        ..Measured::default()
    };

    let stop = CancellationToken::new();
    let plain_size = Arc::new(AtomicU64::new(0));
    let gzip_size = Arc::new(AtomicU64::new(0));
    let trace = Arc::new(Mutex::new(Vec::new()));
    let mut sweep_ends = Vec::new();
    let mut scrapes_began = None;

    // Sweep 0 warms up (connection pool, allocator). Sweeps 1..=n are timed with nothing
    // else loading the daemon; then 8 scrapers run through `scrape_sweeps` more sweeps.
    let scrape_sweeps = if case.scrape { 2 } else { 0 };
    let deadline = Duration::from_secs_f64(b * 4.0 + 60.0);
    let mut cpu_before = None;
    for sweep in 0..=case.sweeps + scrape_sweeps {
        let seconds = tokio::time::timeout(deadline, daemon.sweeps.recv())
            .await
            .expect("no sweep within the deadline")
            .expect("daemon exited");
        let cpu_now = cpu_seconds(pid);
        sweep_ends.push(Instant::now());
        if (1..=case.sweeps).contains(&sweep) {
            m.sweep_seconds.push(seconds);
            if let (Some(a), Some(b)) = (cpu_before, cpu_now) {
                m.cpu_seconds_per_sweep.push(b - a);
            }
        }
        cpu_before = cpu_now;
        if sweep == case.sweeps && case.scrape {
            // Each scraper on a thread and runtime of its own, like separate Prometheus
            // servers: none waits behind the simulator's tasks in this process, or
            // behind another scraper.
            let start = tokio::time::Instant::now() + Duration::from_millis(50);
            scrapes_began = Some(Instant::now());
            for i in 0..8 {
                let size = if i % 2 == 0 {
                    plain_size.clone()
                } else {
                    gzip_size.clone()
                };
                let (addr, stop, every) = (daemon.addr, stop.clone(), case.scrape_every);
                let trace = trace.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("scraper runtime");
                    runtime.block_on(scraper(addr, i % 2 == 1, every, start, stop, size, trace));
                });
            }
        }
    }
    stop.cancel();
    let trace = trace.lock().unwrap_or_else(|e| e.into_inner()).clone();
    print_scrape_trace(&trace, &sweep_ends);
    let times = |gzip: bool| -> Vec<f64> {
        trace
            .iter()
            .filter(|t| t.gzip == gzip)
            .map(|t| t.ms)
            .collect()
    };
    m.scrape_plain_ms = times(false);
    m.scrape_gzip_ms = times(true);
    m.peak_rss_kib = memory_kib(pid, "VmHWM").unwrap_or(0);
    m.body_plain = plain_size.load(Ordering::Relaxed) as usize;
    m.body_gzip = gzip_size.load(Ordering::Relaxed) as usize;
    if let (true, Some(began)) = (case.scrape_floor, scrapes_began) {
        let bodies = (
            fetch_metrics(daemon.addr, false).await,
            fetch_metrics(daemon.addr, true).await,
        );
        let how_long = began.elapsed();
        // First beside the daemon's sweeps, as its own scrapes were: what the sweeps' CPU
        // costs a scrape on these two cores, whoever serves it.
        let busy = scrape_floor(bodies.clone(), case.scrape_every, how_long).await;
        // Then with nothing of the daemon's or the simulator's running.
        daemon.child.kill().await;
        sim_stop.cancel();
        let idle = scrape_floor(bodies, case.scrape_every, how_long).await;
        m.scrape_floor = Some(ScrapeFloor {
            plain_ms: idle.0,
            gzip_ms: idle.1,
            busy_plain_ms: busy.0,
            busy_gzip_ms: busy.1,
        });
    }
    sim_stop.cancel();
    m
}

/// `/metrics` of the daemon at `addr`, as sent (gzip or not).
async fn fetch_metrics(addr: SocketAddr, gzip: bool) -> Vec<u8> {
    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let mut req = client.get(format!("http://{addr}/metrics"));
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    let resp = req.send().await.expect("scrape for the floor");
    resp.bytes()
        .await
        .expect("scrape body for the floor")
        .to_vec()
}

/// The scrape floor: the same 8 scrapers, at the same ticks, for `how_long`, against a
/// minimal blocking HTTP/1.1 server (a thread per connection, `write_all` of a body held
/// in memory) that sends `bodies` (plain, gzip) as they are, with nothing else running.
/// What is left of a scrape's time is the loopback copy and the scrapers' own reading.
async fn scrape_floor(
    bodies: (Vec<u8>, Vec<u8>),
    every: Duration,
    how_long: Duration,
) -> (Vec<f64>, Vec<f64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("floor server");
    let addr = listener.local_addr().expect("floor server address");
    let bodies = Arc::new(bodies);
    let served = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let bodies = served.clone();
            std::thread::spawn(move || serve_static(stream, &bodies));
        }
    });
    let stop = CancellationToken::new();
    let trace = Arc::new(Mutex::new(Vec::new()));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut threads = Vec::new();
    for i in 0..8 {
        let (stop, trace) = (stop.clone(), trace.clone());
        threads.push(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("scraper runtime");
            let size = Arc::new(AtomicU64::new(0));
            runtime.block_on(scraper(addr, i % 2 == 1, every, start, stop, size, trace));
        }));
    }
    tokio::time::sleep(how_long).await;
    stop.cancel();
    for t in threads {
        let _ = t.join();
    }
    let trace = trace.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let times = |gzip: bool| -> Vec<f64> {
        trace
            .iter()
            .filter(|t| t.gzip == gzip)
            .map(|t| t.ms)
            .collect()
    };
    (times(false), times(true))
}

/// Answers every request on `stream` with the plain or the gzip body (by the request's
/// `Accept-Encoding`), keep-alive, until the client closes.
fn serve_static(mut stream: std::net::TcpStream, bodies: &(Vec<u8>, Vec<u8>)) {
    use std::io::{Read, Write};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end);
        let gzip = head.contains("accept-encoding: gzip");
        let body = if gzip { &bodies.1 } else { &bodies.0 };
        let header = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n{}content-length: {}\r\n\r\n",
            if gzip { "content-encoding: gzip\r\n" } else { "" },
            body.len()
        );
        if stream.write_all(header.as_bytes()).is_err() || stream.write_all(body).is_err() {
            return;
        }
    }
}

/// When the webhooks among `received` that announced profile `id` firing arrived, in order.
fn firing_arrivals(received: &[Received], id: u64) -> Vec<Instant> {
    let firing = |r: &Received| {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        v["alerts"].as_array().into_iter().flatten().any(|a| {
            a["status"] == "firing"
                && a["labels"]["profile_id"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    == Some(id)
        })
    };
    received
        .iter()
        .filter(|r| firing(r))
        .map(|r| r.at)
        .collect()
}

/// Time from a profile's degradation in the simulator to its webhook at the sink, with
/// `poll.interval = 1s` and `group_wait = 1s`, over `rounds` degradations.
async fn alert_latency(profiles: usize, concurrency: u32, rounds: usize) -> Vec<f64> {
    let (sim, base_url, sim_stop) = start_sim(profiles, Duration::ZERO).await;
    let sink = Sink::start().await;
    let sink_url = sink.url("/hook");
    let dir = tempfile::tempdir().expect("tempdir");
    let case = Case::unscraped(profiles, concurrency);
    let extra = format!(
        "[alerting]\ngroup_wait = \"1s\"\n[[alerting.receivers]]\nname = \"sink\"\nkind = \"webhook\"\nurl = \"{sink_url}\"\nmatch_alertname = [\"ProfileConnectivityDegraded\"]\n"
    );
    let mut daemon =
        start_daemon(dir.path(), &base_url, &case, &extra, Duration::from_secs(1)).await;
    // Let the first sweeps announce what the seeded fleet already has wrong.
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(120), daemon.sweeps.recv())
            .await
            .expect("no sweep within 2 minutes")
            .expect("daemon exited");
    }
    let healthy: Vec<u64> = sim
        .profile_ids()
        .into_iter()
        .filter(|id| {
            sim.profile_json(*id).is_some_and(|p| {
                p["status"] == "active" && p["health_status"]["connectivity"] == "healthy"
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for round in 0..rounds {
        let id = healthy[(round * 7919) % healthy.len()];
        let start = Instant::now();
        sim.set_health(id, Some("unhealthy"), None);
        let after = |received: &[Received]| {
            firing_arrivals(received, id)
                .into_iter()
                .find(|at| *at >= start)
        };
        sink.wait_until(Duration::from_secs(60), |r| after(r).is_some())
            .await;
        let arrived = after(&sink.received());
        match arrived {
            Some(at) => latencies.push(at.duration_since(start).as_secs_f64()),
            None => eprintln!("profile {id}: no webhook within 60 s"),
        }
        // Stagger the next degradation against the sweep cycle.
        tokio::time::sleep(Duration::from_millis(370)).await;
    }
    sim_stop.cancel();
    latencies
}

fn parse_duration(s: &str) -> Duration {
    humantime::parse_duration(s).unwrap_or_else(|e| panic!("bad duration {s:?}: {e}"))
}

fn report(case: &Case, m: &Measured) -> (f64, f64) {
    let b = bound(case, 100);
    let sweep = median(&m.sweep_seconds);
    let ratio = sweep / b;
    let cpu = median(&m.cpu_seconds_per_sweep);
    let cpu_us_per_profile = cpu * 1e6 / case.profiles as f64;
    println!(
        "| {} | {} ms | {} | {:.2} s | {:.2} s | **{:.3}** | {:.3} s | {:.1} µs | {:.0} MiB | {} | {} | {} |",
        case.profiles,
        case.latency.as_millis(),
        case.concurrency,
        sweep,
        b,
        ratio,
        cpu,
        cpu_us_per_profile,
        m.peak_rss_kib as f64 / 1024.0,
        scrape_cell(&m.scrape_plain_ms, m.body_plain, 1),
        scrape_cell(&m.scrape_gzip_ms, m.body_gzip, 2),
        floor_cells(m.floor.as_ref(), cpu),
    );
    (ratio, cpu_us_per_profile)
}

/// The scrape floor of `case` beside the daemon's scrapes: p50 / p99 of each kind, and the
/// daemon's p99 as a ratio to the floor's.
fn scrape_floor_line(case: &Case, m: &Measured, f: &ScrapeFloor) -> String {
    let ratio = |daemon: &[f64], floor: &[f64]| percentile(daemon, 99.0) / percentile(floor, 99.0);
    format!(
        "scrape floor, {} profiles (a static server sending the same bodies to the same 8 \
         scrapers), p50 / p99: nothing else running: plain {:.1} / {:.1} ms, gzip {:.1} / \
         {:.1} ms; beside the daemon's sweeps: plain {:.1} / {:.1} ms, gzip {:.1} / {:.1} ms; \
         the daemon's p99 to the floor's: plain {:.2} (beside the sweeps {:.2}), gzip {:.2} \
         ({:.2})",
        case.profiles,
        percentile(&f.plain_ms, 50.0),
        percentile(&f.plain_ms, 99.0),
        percentile(&f.gzip_ms, 50.0),
        percentile(&f.gzip_ms, 99.0),
        percentile(&f.busy_plain_ms, 50.0),
        percentile(&f.busy_plain_ms, 99.0),
        percentile(&f.busy_gzip_ms, 50.0),
        percentile(&f.busy_gzip_ms, 99.0),
        ratio(&m.scrape_plain_ms, &f.plain_ms),
        ratio(&m.scrape_plain_ms, &f.busy_plain_ms),
        ratio(&m.scrape_gzip_ms, &f.gzip_ms),
        ratio(&m.scrape_gzip_ms, &f.busy_gzip_ms),
    )
}

/// `p50 / p99 ms (size MiB)` of one kind of scrape, the size with `decimals` decimals;
/// `-` when there were none.
fn scrape_cell(ms: &[f64], body: usize, decimals: usize) -> String {
    if ms.is_empty() {
        return "-".to_string();
    }
    format!(
        "{:.1} / {:.1} ms ({:.*} MiB)",
        percentile(ms, 50.0),
        percentile(ms, 99.0),
        decimals,
        body as f64 / 1048576.0
    )
}

/// `floor CPU per request | ratio to the floor` (the daemon's CPU per sweep over the
/// floor's CPU for the same requests); `- | -` when the floor was not measured.
fn floor_cells(floor: Option<&Floor>, daemon_cpu_per_sweep: f64) -> String {
    match floor {
        Some(f) => format!(
            "{:.1} µs | **{:.2}**",
            f.cpu_us_per_request(),
            daemon_cpu_per_sweep / f.cpu_seconds
        ),
        None => "- | -".to_string(),
    }
}

fn header() {
    println!("| profiles | latency | concurrency | sweep (median) | bound | measured/bound | CPU per sweep | CPU per profile | peak RSS | scrape plain p50 / p99 (size) | scrape gzip p50 / p99 (size) | floor CPU per request | ratio to the floor |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut quick = false;
    let mut profiles: Option<usize> = None;
    let mut concurrency: Option<u32> = None;
    let mut latency = Duration::from_millis(20);
    let mut sweeps = 3usize;
    let mut latency_rounds = 0usize;
    let mut scrape_every = SCRAPE_EVERY;
    let mut with_floor = true;
    let mut floor_only = false;
    let mut scrape_floor = false;
    let mut storm: Option<usize> = None;
    while !args.is_empty() {
        let a = args.remove(0);
        let mut value = || {
            if args.is_empty() {
                panic!("{a} needs a value")
            }
            args.remove(0)
        };
        match a.as_str() {
            "--quick" => quick = true,
            "--floor" => floor_only = true,
            "--no-floor" => with_floor = false,
            "--scrape-floor" => scrape_floor = true,
            "--profiles" => profiles = Some(value().parse().expect("--profiles N")),
            "--concurrency" => concurrency = Some(value().parse().expect("--concurrency C")),
            "--latency" => latency = parse_duration(&value()),
            "--sweeps" => sweeps = value().parse().expect("--sweeps N"),
            "--scrape-every" => scrape_every = parse_duration(&value()),
            "--alert-latency" => latency_rounds = value().parse().expect("--alert-latency ROUNDS"),
            "--storm" => storm = Some(value().parse().expect("--storm N")),
            other => panic!("unknown argument {other}; see the doc comment of benches/harness.rs"),
        }
    }
    println!(
        "machine: {} cores, {} MiB memory",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().next().and_then(|l| l
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()))
            .map_or(0, |k| k / 1024)
    );
    if let Some(n) = storm {
        let p = profiles.unwrap_or(100_000);
        if n == 0 || n > p {
            eprintln!("--storm N needs 0 < N <= --profiles ({p})");
            std::process::exit(2);
        }
        let r = storm_run(p, n, concurrency.unwrap_or(64)).await;
        let failures = storm_report(&r);
        if !failures.is_empty() {
            eprintln!("bench --storm: FAIL: {}", failures.join("; "));
            std::process::exit(1);
        }
        return;
    }
    if latency_rounds > 0 {
        let n = profiles.unwrap_or(10_000);
        let c = concurrency.unwrap_or(16);
        let l = alert_latency(n, c, latency_rounds).await;
        println!(
            "alert latency, {n} profiles, concurrency {c}, poll.interval 1s, group_wait 1s: \
             min {:.2} s, median {:.2} s, p90 {:.2} s, max {:.2} s over {} degradations",
            percentile(&l, 0.0),
            median(&l),
            percentile(&l, 90.0),
            percentile(&l, 100.0),
            l.len()
        );
        return;
    }
    // Every case of the table scrapes while it sweeps.
    let case = |profiles: usize, concurrency: u32, sweeps: usize| Case {
        profiles,
        concurrency,
        latency,
        sweeps,
        scrape: true,
        scrape_every,
        floor: with_floor,
        scrape_floor,
    };
    let cases: Vec<Case> = if quick {
        vec![case(1000, 16, 2)]
    } else if let Some(n) = profiles {
        vec![case(n, concurrency.unwrap_or(16), sweeps)]
    } else {
        vec![
            case(1_000, 16, sweeps),
            case(10_000, 16, sweeps),
            case(10_000, 64, sweeps),
            case(100_000, 64, 2),
        ]
    };
    if floor_only {
        println!("| profiles | latency | concurrency | floor requests | floor wall time | floor CPU | floor CPU per request |");
        println!("|---|---|---|---|---|---|---|");
        for case in &cases {
            let (sim, base_url, sim_stop) = start_sim(case.profiles, case.latency).await;
            let f = run_floor(&sim, &base_url, case.concurrency).await;
            sim_stop.cancel();
            println!(
                "| {} | {} ms | {} | {} | {:.2} s | {:.3} s | {:.1} µs |",
                case.profiles,
                case.latency.as_millis(),
                case.concurrency,
                f.requests,
                f.seconds,
                f.cpu_seconds,
                f.cpu_us_per_request()
            );
        }
        return;
    }
    header();
    let mut failures = Vec::new();
    let mut floors = Vec::new();
    for case in &cases {
        let m = run_case(case).await;
        let (ratio, cpu_us) = report(case, &m);
        if let Some(f) = &m.scrape_floor {
            floors.push(scrape_floor_line(case, &m, f));
        }
        if quick {
            // Only gross regressions fail: 3x the targets (sweep bound 1.0, 50 µs/profile, 20 ms p99).
            if ratio.is_nan() || ratio > 3.0 {
                failures.push(format!("sweep took {ratio:.2}x its bound (limit 3x)"));
            }
            if cpu_us.is_nan() || cpu_us > 150.0 {
                failures.push(format!(
                    "{cpu_us:.1} µs CPU per profile per sweep (limit 150)"
                ));
            }
            let p99 = percentile(&m.scrape_gzip_ms, 99.0).max(percentile(&m.scrape_plain_ms, 99.0));
            if p99.is_nan() || p99 > 60.0 {
                failures.push(format!("scrape p99 {p99:.1} ms (limit 60)"));
            }
        }
    }
    for line in floors {
        println!("{line}");
    }
    if !failures.is_empty() {
        eprintln!("bench --quick: gross regression: {}", failures.join("; "));
        std::process::exit(1);
    }
}

/// The floor: the same request pattern as a daemon sweep (the first list page, the other
/// pages, then every detail; `concurrency` keep-alive connections; the same simulator and
/// latency) sent by the least a client can do: one blocking thread per connection writing
/// a fixed GET and reading the answer by `Content-Length` (or chunks), with no parsing,
/// judging, pool, timers or runtime. Its CPU comes from the threads' own
/// `getrusage(RUSAGE_THREAD)`, so the simulator sharing this process is not counted.
#[derive(Debug, Clone, Copy)]
struct Floor {
    /// Requests sent (pages and details).
    requests: usize,
    /// user+sys CPU seconds of the client threads, summed.
    cpu_seconds: f64,
    /// Wall time of the pattern.
    seconds: f64,
}

impl Floor {
    fn cpu_us_per_request(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.requests.max(1) as f64
    }
}

/// user+sys CPU seconds of the calling thread.
fn thread_cpu_seconds() -> f64 {
    // SAFETY: `getrusage` writes into the zeroed struct we own and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD is Linux's per-thread accounting.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// One keep-alive connection of the floor client.
struct FloorConnection {
    stream: std::net::TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl FloorConnection {
    fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            host: addr.to_string(),
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// GETs `path` and reads the whole answer; returns its status.
    fn get(&mut self, path: &str) -> std::io::Result<u16> {
        use std::io::Write;
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {TOKEN}\r\naccept: */*\r\n\r\n",
            self.host
        );
        self.stream.write_all(request.as_bytes())?;
        self.buf.clear();
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        // Headers.
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("head"))?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("status line"))?;
        let mut length = None;
        let mut chunked = false;
        for line in head.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
        if let Some(length) = length {
            while self.buf.len() < head_end + length {
                self.fill()?;
            }
        } else if chunked {
            // Until the last chunk's `0\r\n\r\n`.
            while !self.buf[head_end..].ends_with(b"0\r\n\r\n") {
                self.fill()?;
            }
        }
        Ok(status)
    }

    fn fill(&mut self) -> std::io::Result<()> {
        use std::io::Read;
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// Runs the floor pattern against the simulator at `addr` (whose API is under `/api/v1`).
fn floor(addr: SocketAddr, ids: &[u64], concurrency: u32, page_size: usize) -> Floor {
    const LIST: &str = "/api/v1/inventory_connection_profile/";
    let page = |offset: usize| format!("{LIST}?limit={page_size}&offset={offset}");
    let started = Instant::now();
    let threads = concurrency.max(1) as usize;
    // The first page alone (it tells the count), then the rest and the details shared
    // out over the connections, as the walk and the detail fetches do.
    let mut first = FloorConnection::open(addr).expect("floor: connect");
    let cpu_first = thread_cpu_seconds();
    first.get(&page(0)).expect("floor: first page");
    let cpu_first = thread_cpu_seconds() - cpu_first;
    drop(first);
    let pages: Vec<String> = (page_size..ids.len())
        .step_by(page_size)
        .map(page)
        .collect();
    let details: Vec<String> = ids.iter().map(|id| format!("{LIST}{id}/")).collect();
    let next = AtomicU64::new(0);
    let total = pages.len() + details.len();
    let cpu: f64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let before = thread_cpu_seconds();
                    let mut connection = FloorConnection::open(addr).expect("floor: connect");
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if i >= total {
                            break;
                        }
                        // Pages go out first; a connection waits on its page before it
                        // takes a detail, close enough to the walk's order.
                        let path = pages.get(i).unwrap_or_else(|| &details[i - pages.len()]);
                        let status = connection.get(path).expect("floor: request");
                        assert!(status == 200, "floor: {path} answered {status}");
                    }
                    thread_cpu_seconds() - before
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("floor thread"))
            .sum()
    });
    Floor {
        requests: total + 1,
        cpu_seconds: cpu + cpu_first,
        seconds: started.elapsed().as_secs_f64(),
    }
}

// ---------------------------------------------------------------------------------------
// The storm: `--storm N`.

/// `poll.interval` of the storm run: long enough that a 100,000-profile sweep is not run
/// back to back with the next (as a fleet that size would be configured), short enough
/// that the run takes minutes.
const STORM_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// `alerting.group_wait` of the storm run: the default.
const STORM_GROUP_WAIT: Duration = Duration::from_secs(10);
/// The sink receiver's `max_alerts`: the default.
const STORM_MAX_ALERTS: usize = 1000;
/// The fixed part of the delivery target (two sweeps plus this).
const STORM_SLACK: Duration = Duration::from_secs(30);
/// How long the storm run waits for every alert of a wave before it gives up.
const STORM_DEADLINE: Duration = Duration::from_secs(600);

/// What the sink has taken of one wave (firing or resolved) of the storm's alerts.
#[derive(Default)]
struct Wave {
    /// The profiles announced with the wave's status.
    ids: std::collections::HashSet<u64>,
    /// Payloads taken (2xx) that carried at least one alert of the wave.
    payloads: usize,
    /// The most alerts in one payload, of any status.
    largest: usize,
    /// Payloads over `max_alerts` or with `truncatedAlerts` > 0, and unreadable ones.
    bad_payloads: Vec<String>,
    /// Alerts with the wave's status about profiles outside the storm.
    strays: usize,
    /// When the last new alert of the wave arrived.
    last: Option<Instant>,
}

impl Wave {
    /// Reads the payloads the sink took since `from` (an index into its record).
    fn read(
        &mut self,
        received: &[Received],
        from: usize,
        status: &str,
        storm: &std::collections::HashSet<u64>,
    ) {
        for r in received.iter().skip(from).filter(|r| r.delivered()) {
            let v: serde_json::Value = match serde_json::from_slice(&r.body) {
                Ok(v) => v,
                Err(e) => {
                    self.bad_payloads.push(format!("not JSON: {e}"));
                    continue;
                }
            };
            let alerts = v["alerts"].as_array().map_or(&[][..], Vec::as_slice);
            self.largest = self.largest.max(alerts.len());
            if alerts.len() > STORM_MAX_ALERTS {
                self.bad_payloads.push(format!(
                    "a payload of {} alerts, over max_alerts {STORM_MAX_ALERTS}",
                    alerts.len()
                ));
            }
            if v["truncatedAlerts"].as_u64().unwrap_or(0) > 0 {
                self.bad_payloads
                    .push(format!("truncatedAlerts {}", v["truncatedAlerts"]));
            }
            let mut ours = false;
            for a in alerts.iter().filter(|a| a["status"] == status) {
                let id = a["labels"]["profile_id"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok());
                match id {
                    Some(id) if storm.contains(&id) => {
                        ours = true;
                        if self.ids.insert(id) {
                            self.last = Some(r.at);
                        }
                    }
                    _ => self.strays += 1,
                }
            }
            if ours {
                self.payloads += 1;
            }
        }
    }
}

/// One storm run's figures.
struct StormRun {
    profiles: usize,
    storm: usize,
    /// Median time between two sweep ends (the sweep plus the wait to the next).
    sweep_period: f64,
    /// Median sweep duration as the daemon logs it.
    sweep_seconds: f64,
    /// Seconds from the degradation to the last firing alert at the sink, if all came.
    firing: Option<f64>,
    firing_wave: Wave,
    /// Seconds from the recovery to the last resolution at the sink, if all came.
    resolved: Option<f64>,
    resolved_wave: Wave,
    peak_rss_kib: u64,
}

/// Waits until the sink has taken `status` alerts about every profile of `storm` (or the
/// deadline passes); answers the wave and the seconds from `since` to its last alert.
async fn storm_wave(
    sink: &Sink,
    status: &str,
    storm: &std::collections::HashSet<u64>,
    since: Instant,
    from: usize,
) -> (Wave, Option<f64>) {
    let mut wave = Wave::default();
    let mut read = from;
    let mut next_note = Instant::now() + Duration::from_secs(30);
    while since.elapsed() < STORM_DEADLINE {
        let received = sink.received();
        wave.read(&received, read, status, storm);
        read = received.len();
        if wave.ids.len() == storm.len() {
            break;
        }
        if Instant::now() >= next_note {
            println!(
                "  … {:.0} s: {} of {} {status}",
                since.elapsed().as_secs_f64(),
                wave.ids.len(),
                storm.len()
            );
            next_note += Duration::from_secs(30);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = (wave.ids.len() == storm.len()).then(|| {
        wave.last
            .map_or(0.0, |t| t.duration_since(since).as_secs_f64())
    });
    (wave, took)
}

/// The storm run: `profiles` profiles, all healthy, then `storm` of them lose
/// connectivity at once; measures the firing wave's delivery to a webhook sink, then
/// every one recovers and the resolutions are measured the same way.
async fn storm_run(profiles: usize, storm: usize, concurrency: u32) -> StormRun {
    let (sim, base_url, sim_stop) = start_sim(profiles, Duration::ZERO).await;
    // Every profile with a connectivity value made healthy; those are the storm's pool.
    let mut pool = Vec::new();
    for id in sim.profile_ids() {
        let Some(p) = sim.profile_json(id) else {
            continue;
        };
        let legacy = p.get("health_status").is_none() && p.get("test_status").is_some();
        let (conn, auth) = if legacy {
            (p["test_status"].as_str().map(str::to_string), None)
        } else {
            (
                p["health_status"]["connectivity"]
                    .as_str()
                    .map(str::to_string),
                p["health_status"]["authentication"]
                    .as_str()
                    .map(str::to_string),
            )
        };
        if conn.is_none() {
            continue;
        }
        sim.set_health(id, Some("healthy"), auth.as_deref());
        pool.push((id, auth));
    }
    assert!(
        pool.len() >= storm,
        "only {} profiles have a connectivity value, fewer than --storm {storm}",
        pool.len()
    );
    // Spread over the fleet: every k-th profile of the pool.
    let step = pool.len() as f64 / storm as f64;
    let chosen: Vec<(u64, Option<String>)> = (0..storm)
        .map(|i| pool[(i as f64 * step) as usize].clone())
        .collect();
    let ids: std::collections::HashSet<u64> = chosen.iter().map(|(id, _)| *id).collect();

    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let case = Case::unscraped(profiles, concurrency);
    let extra = format!(
        "[rules]\ninclude_inactive = true\n[alerting]\ngroup_wait = \"{gw}\"\n\
         [[alerting.receivers]]\nname = \"sink\"\nkind = \"webhook\"\nurl = \"{url}\"\n\
         max_alerts = {STORM_MAX_ALERTS}\nmatch_alertname = [\"ProfileConnectivityDegraded\"]\n",
        gw = humantime::format_duration(STORM_GROUP_WAIT),
        url = sink.url("/hook"),
    );
    let mut daemon = start_daemon(dir.path(), &base_url, &case, &extra, STORM_POLL_INTERVAL).await;
    let pid = daemon.child.pid();
    // Sweep ends, as they come (when the log line was read, and the logged duration).
    let ends: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let mut sweeps = std::mem::replace(&mut daemon.sweeps, mpsc::unbounded_channel().1);
    let e = ends.clone();
    tokio::spawn(async move {
        while let Some(s) = sweeps.recv().await {
            e.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((Instant::now(), s));
        }
    });
    let swept = || ends.lock().unwrap_or_else(|e| e.into_inner()).len();
    let started = Instant::now();
    while swept() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the daemon did not finish two sweeps within 5 minutes"
        );
        assert!(daemon.child.is_running(), "the daemon exited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "storm: {profiles} profiles, {} swept twice in {:.0} s; {storm} lose connectivity now",
        pool.len(),
        started.elapsed().as_secs_f64()
    );

    let before = sink.received().len();
    let t_down = Instant::now();
    for (id, auth) in &chosen {
        sim.set_health(*id, Some("down"), auth.as_deref());
    }
    let (firing_wave, firing) = storm_wave(&sink, "firing", &ids, t_down, before).await;
    println!(
        "  firing: {} of {storm} in {} payloads{}",
        firing_wave.ids.len(),
        firing_wave.payloads,
        firing.map_or(String::new(), |s| format!(", the last {s:.1} s after"))
    );
    // Let group_wait and a sweep pass, so the resolutions are a wave of their own.
    tokio::time::sleep(STORM_GROUP_WAIT).await;

    let before = sink.received().len();
    let t_up = Instant::now();
    for (id, auth) in &chosen {
        sim.set_health(*id, Some("healthy"), auth.as_deref());
    }
    let (resolved_wave, resolved) = storm_wave(&sink, "resolved", &ids, t_up, before).await;
    println!(
        "  resolved: {} of {storm} in {} payloads{}",
        resolved_wave.ids.len(),
        resolved_wave.payloads,
        resolved.map_or(String::new(), |s| format!(", the last {s:.1} s after"))
    );
    let peak_rss_kib = memory_kib(pid, "VmHWM").unwrap_or(0);
    let ends = ends.lock().unwrap_or_else(|e| e.into_inner()).clone();
    sim_stop.cancel();
    let periods: Vec<f64> = ends
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0).as_secs_f64())
        .collect();
    let durations: Vec<f64> = ends.iter().map(|e| e.1).collect();
    StormRun {
        profiles,
        storm,
        sweep_period: median(&periods),
        sweep_seconds: median(&durations),
        firing,
        firing_wave,
        resolved,
        resolved_wave,
        peak_rss_kib,
    }
}

/// Prints a storm run's row; answers why it fails (empty when it passes).
fn storm_report(r: &StormRun) -> Vec<String> {
    let target = 2.0 * r.sweep_period + STORM_SLACK.as_secs_f64();
    let cell = |took: Option<f64>, wave: &Wave| match took {
        Some(s) => format!(
            "{s:.1} s (**{:.2}**), {} payloads",
            s / target,
            wave.payloads
        ),
        None => format!("**{} of {} missing**", r.storm - wave.ids.len(), r.storm),
    };
    println!("| profiles | storm | sweep period (median; sweep itself) | target: 2 sweeps + 30 s | last firing alert after the degradation (ratio) | last resolution after the recovery (ratio) | largest payload | peak RSS (VmHWM; ratio to 128 MiB) |");
    println!("|---|---|---|---|---|---|---|---|");
    let rss = r.peak_rss_kib as f64 / 1024.0;
    println!(
        "| {} | {} | {:.1} s ({:.1} s) | {target:.1} s | {} | {} | {} | {rss:.0} MiB ({:.2}) |",
        r.profiles,
        r.storm,
        r.sweep_period,
        r.sweep_seconds,
        cell(r.firing, &r.firing_wave),
        cell(r.resolved, &r.resolved_wave),
        r.firing_wave.largest.max(r.resolved_wave.largest),
        rss / 128.0,
    );
    println!(
        "a delivery outcome's persist time is not exposed by the daemon: see \
         `cargo bench --bench inprocess -- persist` (BENCHMARKS.md, State writes)"
    );
    let mut failures = Vec::new();
    for (what, wave) in [("firing", &r.firing_wave), ("resolved", &r.resolved_wave)] {
        if wave.ids.len() < r.storm {
            failures.push(format!(
                "{} of {} {what} alerts never reached the sink",
                r.storm - wave.ids.len(),
                r.storm
            ));
        }
        if wave.strays > 0 {
            failures.push(format!(
                "{} {what} alerts about profiles outside the storm",
                wave.strays
            ));
        }
        failures.extend(wave.bad_payloads.iter().take(3).cloned());
    }
    failures
}
