//! The conductor: the schedule of episodes, upstream faults, sink outages, SIGKILLs and
//! reloads, then the drain; it records everything the audit reads.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use inventory_monitor::simulator::{Faults, HealthField, RequestStats, SimOptions, Simulator};
use inventory_monitor_testkit::audit::{offset, Sweep};
use inventory_monitor_testkit::child::{memory_kib, Signal};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod drain;

use crate::child::{config_text, write_config, Logs, Proc};
use crate::sink::{Answers, Delivery, Sink, SinkMode};
use crate::world::{Call, Check, Episode, Live, Profile, World};
use crate::{
    between, lock, secs, Args, MIN_GAP, STORM_SHARE, TICK, TOKEN, UPSTREAM_429_RATE,
    UPSTREAM_ERROR_RATE,
};

/// A pagination glitch under way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Glitch {
    /// Grow (true) or shrink (false) the list.
    pub(crate) grow: bool,
    /// When it stops.
    pub(crate) until: Instant,
    /// The simulator's `shrunk` counter when it began.
    pub(crate) shrunk_before: u64,
}

/// What happened to the sink.
#[derive(Debug, Default, Clone)]
pub(crate) struct SinkOutages {
    /// Outages refusing connections.
    pub(crate) refused: u32,
    /// Outages answering 500.
    pub(crate) error_500: u32,
    /// Outages answering 429.
    pub(crate) throttled: u32,
    /// Time down, in all.
    pub(crate) seconds: f64,
}

/// What the conductor did, and when: the episodes and every fault it injected.
#[derive(Debug, Default, Clone)]
pub(crate) struct History {
    /// Every episode so far.
    pub(crate) episodes: Vec<Episode>,
    /// When each process was spawned.
    pub(crate) spawns: Vec<SystemTime>,
    /// When each SIGKILL was sent.
    pub(crate) kills: Vec<SystemTime>,
    /// Processes that exited on their own.
    pub(crate) crashes: Vec<String>,
    /// SIGHUPs sent.
    pub(crate) hups: u32,
    /// RSS samples: when, which process, KiB.
    pub(crate) rss: Vec<(SystemTime, usize, u64)>,
    /// Grow and shrink glitches.
    pub(crate) glitches: (u32, u32),
    /// The sink's outages.
    pub(crate) outages: SinkOutages,
    /// Storms: when each began, and how many profiles it took down.
    pub(crate) storms: Vec<(SystemTime, usize)>,
}

/// Everything the run produced, for the audit.
#[derive(Clone)]
pub(crate) struct Record {
    /// The command line.
    pub(crate) args: Args,
    /// When the faults began.
    pub(crate) start: SystemTime,
    /// When the faults stopped.
    pub(crate) fault_end: SystemTime,
    /// The kill-free end of the fault phase.
    pub(crate) final_stretch: Duration,
    /// What the conductor did, and when.
    pub(crate) history: History,
    /// Every sweep line of every process.
    pub(crate) sweeps: Vec<Sweep>,
    /// Reloads the daemon reported done.
    pub(crate) reloaded: u64,
    /// Reloads the daemon reported failed.
    pub(crate) reload_failed: u64,
    /// The daemon's ERROR lines.
    pub(crate) errors: Vec<String>,
    /// What the sink answered 200.
    pub(crate) deliveries: Vec<Delivery>,
    /// The simulator's transition log against the soak's calls.
    pub(crate) transitions_checked: Result<usize, String>,
    /// What the simulator served.
    pub(crate) stats: RequestStats,
    /// The sink's 200s, 500s, 429s and cut connections.
    pub(crate) sink_answers: Answers,
    /// How long the drain took, or why it did not finish.
    pub(crate) drain: Result<Duration, String>,
    /// How the last process took SIGTERM.
    pub(crate) exit: Result<(), String>,
}

/// The conductor: drives the episodes and every fault, and records what happened.
pub(crate) struct Soak {
    /// What it did so far, and when (handed to the audit).
    pub(crate) history: History,
    /// The command line.
    pub(crate) args: Args,
    /// The schedule's dice.
    pub(crate) rng: ChaCha8Rng,
    /// The simulator and the soak's model of it.
    pub(crate) world: World,
    /// Profiles episodes may hit (all but the reserved ones).
    pub(crate) flippable: Vec<u64>,
    /// The lowest ids and their details: what a shrinking list deletes, put back after.
    pub(crate) reserved: Vec<(u64, Value)>,
    /// Ids above this were created by a growing list, and are deleted after.
    pub(crate) max_original_id: u64,
    /// Length of the simulator's transition log before the first episode.
    pub(crate) transitions_base: usize,

    /// Episodes under way, by alert.
    pub(crate) live: HashMap<(u64, Check), Live>,
    /// When each alert's last episode ended (for [`MIN_GAP`]).
    pub(crate) last_end: HashMap<(u64, Check), Instant>,
    /// When the next episode starts.
    pub(crate) next_start: Instant,
    /// Episode starts per second, on average.
    pub(crate) starts_per_second: f64,
    /// When the next storm comes.
    pub(crate) next_storm: Instant,
    /// How much longer than at 2,000 profiles episodes and gaps are (see [`crate::pace`]);
    /// the time between SIGKILLs is stretched by its square.
    pub(crate) pace: f64,
    /// After a storm on a fleet larger than 2,000 profiles: how many payloads the sink had
    /// taken when it began, and when to stop waiting for its payloads to kill the daemon.
    pub(crate) storm_kill: Option<(usize, Instant)>,

    /// The upstream faults now injected.
    pub(crate) faults: Faults,
    /// When latency changes next.
    pub(crate) next_latency: Instant,
    /// End of the 429 stretch under way.
    pub(crate) throttle_until: Option<Instant>,
    /// When the next 429 stretch starts.
    pub(crate) next_throttle: Instant,
    /// The pagination glitch under way.
    pub(crate) glitch: Option<Glitch>,
    /// When the next glitch starts.
    pub(crate) next_glitch: Instant,

    /// The webhook sink.
    pub(crate) sink: Sink,
    /// When the sink changes state next.
    pub(crate) sink_until: Instant,
    /// Start of the outage under way.
    pub(crate) sink_down_since: Option<Instant>,

    /// `target/soak`.
    pub(crate) dir: PathBuf,
    /// The daemon's config file.
    pub(crate) config_path: PathBuf,
    /// The simulator's API.
    pub(crate) base_url: String,
    /// What the daemons' logs said.
    pub(crate) logs: Arc<Logs>,
    /// The daemon running now.
    pub(crate) proc: Option<Proc>,
    /// While no daemon runs: when to start the next.
    pub(crate) down_until: Option<Instant>,
    /// When the next SIGKILL comes.
    pub(crate) next_kill: Instant,
    /// When the next SIGHUP comes.
    pub(crate) next_hup: Instant,
    /// `api.timeout`, toggled by each reload.
    pub(crate) timeout_secs: u64,
    /// When to sample the RSS next.
    pub(crate) next_rss: Instant,

    /// When the faults began.
    pub(crate) start: Instant,
    /// The same, on the wall clock.
    pub(crate) start_wall: SystemTime,
    /// How long the faults last.
    pub(crate) fault_len: Duration,
    /// SIGKILLs come only this long from the start.
    pub(crate) kill_phase: Duration,
    /// The kill-free rest.
    pub(crate) final_stretch: Duration,
    /// Stops the simulator's server.
    pub(crate) sim_stop: CancellationToken,
}

impl Soak {
    /// Whether `key` cannot start an episode now: one is under way, or its last ended less
    /// than the (paced) least gap ago.
    fn busy(&self, key: (u64, Check), now: Instant) -> bool {
        self.live.contains_key(&key)
            || self
                .last_end
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < MIN_GAP.mul_f64(self.pace))
    }

    /// The simulator serving a normalised fleet, the sink, and the schedule's first moments.
    pub(crate) async fn new(args: Args, dir: PathBuf) -> anyhow::Result<Soak> {
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
        let served = sim
            .clone()
            .serve(listener, sim_stop.clone().cancelled_owned());
        tokio::spawn(served);

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
        let sink = Sink::start(args.seed).await;

        let config_path = dir.join("soak.toml");
        let logs = Arc::new(Logs::create(&dir.join("daemon.log"))?);
        let fault_len = Duration::from_secs_f64(args.minutes * 60.0);
        let final_stretch =
            Duration::from_secs_f64((fault_len.as_secs_f64() * 0.4).clamp(60.0, 240.0))
                .min(fault_len);
        let now = Instant::now();
        // The episode rate grows with the fleet up to 2,000 profiles, not beyond: a larger
        // fleet sweeps more slowly, and more episodes would only be shorter than it sees.
        let starts_per_second = args.profiles.min(2000) as f64 / 500.0;
        let pace = crate::pace(args.profiles);
        // The first storm within the kill phase, so that a SIGKILL meets its delivery.
        let kill_phase = fault_len.saturating_sub(final_stretch);
        let next_storm = now + kill_phase.mul_f64(rng.random_range(0.3..0.6));
        Ok(Soak {
            history: History::default(),
            world,
            flippable,
            reserved,
            max_original_id,
            transitions_base,
            live: HashMap::new(),
            last_end: HashMap::new(),
            next_start: now,
            starts_per_second,
            next_storm,
            pace,
            storm_kill: None,
            faults: Faults::default(),
            next_latency: now,
            throttle_until: None,
            next_throttle: now + between(&mut rng, 5.0, 20.0),
            glitch: None,
            next_glitch: now + between(&mut rng, 10.0, 30.0),
            sink,
            sink_until: now + between(&mut rng, 5.0, 20.0),
            sink_down_since: None,
            dir: dir.clone(),
            config_path,
            base_url: format!("http://{sim_addr}/api/v1"),
            logs,
            proc: None,
            down_until: None,
            next_kill: now + between(&mut rng, 8.0 * pace * pace, 30.0 * pace * pace),
            next_hup: now + between(&mut rng, 10.0, 40.0),
            timeout_secs: 10,
            next_rss: now,
            start: now,
            start_wall: SystemTime::now(),
            fault_len,
            kill_phase,
            final_stretch,
            sim_stop,
            rng,
            args,
        })
    }

    /// Writes the daemon's config for a process listening on `port`.
    fn write_config(&self, port: u16) -> anyhow::Result<()> {
        let text = config_text(
            &self.base_url,
            port,
            &self.dir.join("state"),
            self.timeout_secs,
        );
        write_config(&self.config_path, &text)
    }

    /// Starts the next daemon process on a fresh port.
    fn spawn(&mut self) -> anyhow::Result<()> {
        let port = inventory_monitor_testkit::place::free_port();
        self.write_config(port)?;
        let index = self.history.spawns.len();
        let proc = Proc::spawn(
            index,
            port,
            &self.config_path,
            &self.sink.url(),
            self.logs.clone(),
        )?;
        self.history.spawns.push(SystemTime::now());
        self.proc = Some(proc);
        self.down_until = None;
        Ok(())
    }

    /// SIGKILLs the daemon running now, if any, and waits until it is gone.
    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.proc.take() {
            p.child.signal(Signal::Kill).context("SIGKILL the daemon")?;
            self.history.kills.push(SystemTime::now());
            p.child
                .wait(Duration::from_secs(10))
                .await
                .context("the daemon did not die after SIGKILL")?;
        }
        Ok(())
    }

    /// Hands the faults now wanted to the simulator.
    fn set_faults(&mut self) {
        self.world.sim.set_faults(self.faults.clone());
    }

    // --- episodes

    /// Ends and changes the episodes that are due; starts new ones when `starting`.
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
                let current = self.history.episodes[l.episode].values.last().cloned();
                let choices: Vec<&str> = check
                    .bad_values()
                    .iter()
                    .copied()
                    .filter(|v| Some(*v) != current.as_deref())
                    .collect();
                let value = choices[self.rng.random_range(0..choices.len())];
                self.world.set(id, check, value);
                self.history.episodes[l.episode]
                    .values
                    .push(value.to_string());
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

    /// Starts one episode on a profile and check free of one (and of one lately).
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
            if self.busy(key, now) {
                continue;
            }
            let roll: f64 = self.rng.random();
            let pace = self.pace;
            let length = if roll < 0.2 {
                between(&mut self.rng, 0.05 * pace, 1.0 * pace)
            } else if roll < 0.35 {
                between(&mut self.rng, 1.0 * pace, 8.0 * pace)
            } else {
                between(&mut self.rng, 8.0 * pace, 45.0 * pace)
            };
            let values = check.bad_values();
            let value = values[self.rng.random_range(0..values.len())];
            let change = (!legacy && length > Duration::from_secs(2) && self.rng.random_bool(0.25))
                .then(|| now + length.mul_f64(self.rng.random_range(0.3..0.7)));
            let Some(t0) = self.world.set(id, check, value) else {
                continue;
            };
            self.history.episodes.push(Episode {
                id,
                check,
                t0,
                t1: None,
                values: vec![value.to_string()],
            });
            self.live.insert(
                key,
                Live {
                    episode: self.history.episodes.len() - 1,
                    ends: now + length,
                    change,
                },
            );
            return;
        }
    }

    /// Starts a storm when one is due: [`STORM_SHARE`] of the flippable profiles lose
    /// connectivity at once (those free of an episode, and of one lately), each an episode
    /// ending at the same instant 20 to 40 s later (times [`crate::pace`]), within the kill
    /// phase. It brings the next SIGKILL forward to a few seconds later: while its payloads
    /// go out. On a larger fleet the first payloads come several sweeps later: the SIGKILL
    /// then comes once the sink has taken three payloads more than when the storm began
    /// (or when the storm ends, if they never come).
    fn storm_step(&mut self, now: Instant, elapsed: Duration) {
        if let Some((base, deadline)) = self.storm_kill {
            if now >= deadline || self.sink.delivered() >= base + 3 {
                self.storm_kill = None;
                self.next_kill = self.next_kill.min(now);
            }
        }
        if now < self.next_storm {
            return;
        }
        self.next_storm = now + between(&mut self.rng, 120.0, 240.0);
        // Over before the kill-free final stretch: the memory of the last process is judged
        // there, on the steady fleet.
        let room = self.kill_phase.saturating_sub(elapsed);
        if room < Duration::from_secs(15) {
            return;
        }
        let ends = now
            + between(&mut self.rng, 20.0, 40.0)
                .mul_f64(self.pace)
                .min(room);
        let want = (self.flippable.len() as f64 * STORM_SHARE) as usize;
        let mut ids = self.flippable.clone();
        ids.shuffle(&mut self.rng);
        let mut size = 0;
        for id in ids {
            if size >= want {
                break;
            }
            let key = (id, Check::Connectivity);
            if self.busy(key, now) {
                continue;
            }
            let Some(t0) = self.world.set(id, Check::Connectivity, "down") else {
                continue;
            };
            self.history.episodes.push(Episode {
                id,
                check: Check::Connectivity,
                t0,
                t1: None,
                values: vec!["down".to_string()],
            });
            self.live.insert(
                key,
                Live {
                    episode: self.history.episodes.len() - 1,
                    ends,
                    change: None,
                },
            );
            size += 1;
        }
        self.history.storms.push((SystemTime::now(), size));
        println!(
            "[{:>5.0} s] storm: {size} profiles lose connectivity at once",
            secs(elapsed)
        );
        if self.pace > 1.0 {
            self.storm_kill = Some((self.sink.delivered(), ends));
        } else {
            let soon = now + between(&mut self.rng, 2.0, 5.0);
            self.next_kill = self.next_kill.min(soon);
        }
    }

    /// Makes the check good again and notes when.
    fn end_episode(&mut self, id: u64, check: Check, now: Instant) {
        let Some(l) = self.live.remove(&(id, check)) else {
            return;
        };
        if let Some(t1) = self.world.set(id, check, check.good()) {
            self.history.episodes[l.episode].t1 = Some(t1);
        }
        self.last_end.insert((id, check), now);
    }

    // --- upstream faults

    /// Latency changes, 429 stretches and pagination glitches that are due.
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
            self.history.glitches.0 += 1;
        } else {
            self.faults.shrink_mid_walk = true;
            self.history.glitches.1 += 1;
        }
        self.set_faults();
    }

    /// Stops the glitch: grown profiles deleted, shrunk ones put back.
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

    /// Takes the sink down or brings it back when due.
    async fn sink_step(&mut self, now: Instant) -> anyhow::Result<()> {
        if now < self.sink_until {
            return Ok(());
        }
        match self.sink_down_since.take() {
            Some(since) => {
                self.history.outages.seconds += secs(now - since);
                self.sink.set_mode(SinkMode::Up).await;
                self.sink_until = now + between(&mut self.rng, 5.0, 20.0);
            }
            None => {
                let mode = match self.rng.random_range(0..3) {
                    0 => {
                        self.history.outages.refused += 1;
                        SinkMode::Refused
                    }
                    1 => {
                        self.history.outages.error_500 += 1;
                        SinkMode::Error500
                    }
                    _ => {
                        self.history.outages.throttled += 1;
                        SinkMode::Throttle(self.rng.random_range(1..=2))
                    }
                };
                self.sink.set_mode(mode).await;
                self.sink_down_since = Some(now);
                self.sink_until = now + between(&mut self.rng, 2.0, 15.0);
            }
        }
        Ok(())
    }

    // --- the daemon

    /// Notes a crash, restarts, kills (while `killing`), reloads, and samples the RSS.
    async fn daemon_step(&mut self, now: Instant, killing: bool) -> anyhow::Result<()> {
        if let Some(p) = &mut self.proc {
            if !p.child.is_running() {
                let status = match p.child.wait(Duration::from_millis(100)).await {
                    Some(status) => status.to_string(),
                    None => "status unknown".to_string(),
                };
                let what = format!(
                    "process {} exited on its own ({status}) after {:.1} s",
                    p.index,
                    secs(p.started.elapsed())
                );
                eprintln!("soak: {what}");
                self.history.crashes.push(what);
                self.proc = None;
                self.down_until = Some(now);
            }
        }
        match &self.proc {
            None => {
                if self.down_until.is_some_and(|t| now >= t) {
                    self.spawn()?;
                    let kill_pace = self.pace * self.pace;
                    self.next_kill =
                        now + between(&mut self.rng, 8.0 * kill_pace, 30.0 * kill_pace);
                    // Half the restarts meet a shrinking list: the first sweep of a
                    // process, with no earlier sweep to carry profiles over from, walks an
                    // incomplete list that skips a few profiles.
                    if killing && self.rng.random_bool(0.5) {
                        self.start_glitch(now, false);
                    }
                }
            }
            Some(p) => {
                let (index, port) = (p.index, p.port);
                if killing && now >= self.next_kill {
                    self.kill().await?;
                    self.down_until = Some(now + between(&mut self.rng, 0.2, 3.0));
                } else if now >= self.next_hup && self.logs.sweeps_of(index) > 0 {
                    // Only once the process has swept: its SIGHUP handler is in place.
                    self.timeout_secs = if self.timeout_secs == 10 { 11 } else { 10 };
                    self.write_config(port)?;
                    if let Some(p) = &self.proc {
                        p.child.signal(Signal::Hup).context("SIGHUP the daemon")?;
                    }
                    self.history.hups += 1;
                    self.next_hup = now + between(&mut self.rng, 10.0, 40.0);
                }
            }
        }
        if now >= self.next_rss {
            if let Some(p) = &self.proc {
                if let Some(kib) = memory_kib(p.pid(), "VmRSS") {
                    self.history.rss.push((SystemTime::now(), p.index, kib));
                }
            }
            self.next_rss = now + Duration::from_millis(500);
        }
        Ok(())
    }

    /// One progress line.
    fn progress(&self, elapsed: Duration) {
        let delivered = self.sink.delivered();
        let sweeps = lock(&self.logs.sweeps).len();
        println!(
            "[{:>5.0} s] episodes {} ({} on), sweeps {sweeps}, kills {}, reloads {}, delivered {delivered}, sink {:?}",
            secs(elapsed),
            self.history.episodes.len(),
            self.live.len(),
            self.history.kills.len(),
            self.history.hups,
            self.sink.mode(),
        );
    }

    /// The fault phase, then the drain; answers what the audit needs.
    pub(crate) async fn run(mut self) -> anyhow::Result<Record> {
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
            self.storm_step(now, elapsed);
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
            self.sink.set_mode(SinkMode::Up).await;
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
            Some(mut p) => match p.child.signal(Signal::Term) {
                Ok(()) => match p.child.wait(Duration::from_secs(15)).await {
                    Some(status) if status.success() => Ok(()),
                    Some(status) => Err(format!("the daemon exited with {status} on SIGTERM")),
                    None => {
                        let _ = p.child.signal(Signal::Kill);
                        Err("the daemon did not exit within 15 s of SIGTERM".to_string())
                    }
                },
                Err(e) => Err(format!("cannot SIGTERM the daemon: {e}")),
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
            history: self.history.clone(),
            final_stretch: self.final_stretch,
            sweeps: lock(&self.logs.sweeps).clone(),
            reloaded: self.logs.reloaded.load(Ordering::Relaxed),
            reload_failed: self.logs.reload_failed.load(Ordering::Relaxed),
            errors: lock(&self.logs.errors).clone(),
            deliveries: self.sink.deliveries(),
            transitions_checked,
            stats: self.world.sim.requests(),
            sink_answers: self.sink.answers(),
            drain,
            exit,
        })
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
