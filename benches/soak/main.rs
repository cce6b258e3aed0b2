//! The soak: minutes of everything going wrong around the daemon, then an audit proving
//! that no alert was lost, none was invented, and none was repeated except next to a crash.
//!
//! ```sh
//! cargo bench --bench soak                              # 10 minutes, 2,000 profiles
//! cargo bench --bench soak -- --minutes 2               # what CI runs
//! cargo bench --bench soak -- --minutes 10 --seed 7 --profiles 2000
//! cargo bench --bench soak -- --minutes 4 --profiles 20000   # the storm at fleet scale
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
//!   ids are never flipped: they are what a shrinking list may delete. Above 2,000
//!   profiles the rate stays that of 2,000 (4 a second), episode lengths and the gap are
//!   stretched by [`pace`] (√(profiles / 2000): 3.2 times at 20,000), and the time between
//!   SIGKILLs by its square (`profiles / 2000`, as the sweep: a process lives as many
//!   sweeps as at 2,000 profiles).
//!   Upstream faults meanwhile: 5% of requests answer 500, latency changes every few
//!   seconds (0–20 ms), stretches of 429s with `Retry-After: 1`, and now and then a
//!   pagination glitch for a sweep or so: the list grows mid-walk (the new profiles are
//!   deleted afterwards) or shrinks mid-walk (the deleted reserved profiles are put back).
//!   Half the restarts meet a shrinking list, so that a process's first sweep, which has
//!   no earlier sweep to carry unreached profiles over from, walks an incomplete list.
//! - **Storms**: now and then [`STORM_SHARE`] of the flippable profiles (one data-centre
//!   outage; about 9,850 at `--profiles 20000`) lose connectivity at once, for 20 to 40 s,
//!   and all recover at once, always within the kill phase (the final stretch, where memory
//!   is judged, has none). A SIGKILL follows each within a few seconds (above 2,000
//!   profiles: once the sink has taken three more payloads), while its alerts go
//!   out in payloads of at most [`MAX_ALERTS`] (the receiver's `max_alerts`). The first
//!   comes 30–60% into the kill phase, later ones every 2 to 4 minutes. Every alert of a storm is an episode like any other: the
//!   audit wants each announced firing and then resolved, and no payload may be larger than
//!   `max_alerts` or cut short (`truncatedAlerts`).
//! - **A webhook sink**, in this process, taking the Alertmanager v4 payload: up (with 5%
//!   500s and 5% 429s) for 5–20 s, then down for 2–15 s: connections refused, or every
//!   request answered 500, or 429 with `Retry-After`. Only what it answered 200 counts as
//!   delivered.
//! - **The daemon**, the real binary (`run --config`, `poll.interval = 1s`,
//!   `group_wait = 1s`, `max_delivery_age = 1h`, `repeat_interval = 24h`, connectivity `for`
//!   3 s, authentication `for` 2 s, `include_inactive = true` so that every flipped
//!   profile is judged whatever its status, and the stale-sync, failed-sync, error-count
//!   and unreachable rules disabled: the seeded fleet would raise them by itself and they
//!   are not what this soak drives). It is SIGKILLed at random moments (8 to 30 s apart,
//!   times the square of [`pace`])
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
//! [`inventory_monitor_testkit::audit`] compares the episodes with what the sink answered
//! 200, measured on the sweeps the daemon's JSON log shows really happened: every episode
//! long enough to be seen (`for` plus about four sweeps plus `group_wait`) announced firing
//! and then resolved; nothing announced outside an episode of its profile and alert;
//! nothing repeated unless a SIGKILL came just after the first delivery. Its module
//! documentation gives the exact rules; its unit tests run them on crafted records.
//!
//! **Memory.** The RSS (`VmRSS`) of the last daemon process is sampled every half second;
//! the median of the samples within ±5 s of the mark `min(60 s, half its life until the
//! faults stop)` after its start is the baseline, the median over the last 10 s of the
//! faults is the end: the end may be at most 10% above the baseline. Medians, not maxima:
//! a sweep's end lifts the RSS by a few MiB for a few hundred milliseconds (the new
//! snapshot beside the old one while the metrics are rendered), and whether a half-second
//! sample catches such a peak is chance; a leak raises the level the samples return to.
//! The peaks are printed beside the levels. (With `--minutes 2` the last
//! process lives about a minute, so the mark is about 30 s; from `--minutes 5` on it is
//! 60 s.)
//!
//! **Self-check.** The audit must be able to fail: it is run again on copies of the record
//! with one thing broken (a notification lost, one delivered twice, one about a profile
//! with no episode, an announced episode taken out of the log, a resolution moved back to
//! while its episode was on), and each must fail.
//!
//! The soak exits non-zero on any missing or spurious alert, an unmatched duplicate, a
//! daemon that exited on its own, a drain that does not finish, transitions in the
//! simulator's log that the soak did not make, or memory growth over 10%. The daemon's
//! log is kept in `target/soak/daemon.log`.
//!
//! # Layout
//!
//! - `world.rs`: the simulator and the soak's model of the profiles it flips, episodes.
//! - `sink.rs`: the webhook sink (the test kit's recording server) and its outages.
//! - `child.rs`: the daemon as a child process, its config, its log, its memory.
//! - `conductor.rs`: the schedule of episodes, faults, kills and reloads; the drain.
//! - `audit.rs`: the verdict: the kit's audit, the process's record, memory, self-check.

mod audit;
mod child;
mod conductor;
mod sink;
mod world;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use conductor::Soak;

/// The daemon under soak.
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
/// Share of the flippable profiles a storm takes down at once.
const STORM_SHARE: f64 = 0.5;
/// The soak receiver's `max_alerts`: a storm goes out as many payloads.
const MAX_ALERTS: usize = 100;
/// How long the faults-off drain may take.
/// (A notification that failed often waits up to the 1-minute backoff cap, and a storm's
/// payloads queue behind it.)
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

/// How much longer than at 2,000 profiles (or fewer) the episodes and the least gap between
/// two of one alert are: the square root of `profiles / 2000`, at least 1 (the time between
/// SIGKILLs is stretched by its square). A sweep takes about ten times longer at 20,000
/// profiles; with the lengths of 2,000 nearly every episode would be over before the daemon
/// could be required to see it. (In proportion to the sweep, episodes would be too long
/// for a run of minutes; SIGKILLs are, so that a process lives as many sweeps as at 2,000
/// profiles: its last sweep does not count, and its first may walk a shrinking list.)
fn pace(profiles: usize) -> f64 {
    (profiles as f64 / 2000.0).sqrt().max(1.0)
}

/// Seconds as a float, for printing.
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
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
            other => bail!("unknown argument {other}; see the doc comment of benches/soak/main.rs"),
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
    let verdict = audit::verdict(&record);
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
