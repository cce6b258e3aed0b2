//! A faithful simulation of the upstream API, for the demo, the integration
//! tests and the benchmarks, and behind `inventory-monitor simulate`.
//!
//! # What it serves
//!
//! Under `/api/v1` (the `http` submodule has the details of each answer):
//!
//! - `GET /inventory_connection_profile/?limit=L&offset=O[&name=N]`: Django REST
//!   Framework's `LimitOffsetPagination` (default limit 20, clamped to 100, invalid or
//!   non-positive limits fall back to the default), `name` a case-insensitive substring
//!   match, absolute `next`/`previous` links built from the `Host` header, profiles in
//!   id order;
//! - `GET /inventory_connection_profile/{id}/` (the slash is optional): the detail, or
//!   404 `{"detail": "Not found."}`;
//! - every request needs `Authorization: Bearer <token>` (401 without it or with another
//!   token, 403 with the configured forbidden token).
//!
//! # The fleet
//!
//! N profiles generated from a seed ([`rand_chacha::ChaCha8Rng`]): the same seed always
//! gives the same fleet. Ids increase with occasional gaps. Names look like
//! `Lisbon DC — SAP EWM` or `Main Warehouse Oracle WMS`, over 8 organizations and the
//! types `rest_api` (45%), `database` (30%), `sftp` (15%), `soap` (10%). The special
//! cases are dealt by quota, so for any N >= 50 the mix is (each share with a floor
//! applied from N = 50 on):
//!
//! | share | what |
//! |---|---|
//! | `legacy_fraction` (default 10%) | old API revision: `connection_type`, `is_active`, `host`/`port`/`database`/`username`, `timeout`, `max_connections`, `test_status` (20% of them `failed`), `last_tested`, `organization` as `{"id", "name"}`, no `health_status` |
//! | 4% (min 2) | connectivity `unhealthy`, a transport error in `last_error`, 12..250 errors |
//! | 2% (min 1) | connectivity `degraded` |
//! | 2% + 2% (min 1 each) | authentication `invalid` / `expired` |
//! | 1% (min 1) each | unknown enum values: connectivity `flaky`, authentication `rotating` |
//! | 0.5% (min 1) each | unknown `status: "maintenance"`, unknown `last_sync_status: "in_progress"` |
//! | 1% (min 1) | `health_status: null` |
//! | 5 × 0.4% (min 1 each) | fields missing: no `health_status`; never synced (no `last_sync`/`last_sync_status`); no `organization`/`profile_type`; no `sync_frequency` and `sync_record_count: null`; `health_status` without `authentication`/`error_count_24h` |
//! | the rest (about 74%) | connectivity `healthy`, authentication `valid`, `last_error: null`, 0 errors (20% of them 1..4) |
//!
//! Independently of health: `status` is `inactive` for 5% (min 2), `error` for 2% (min 1),
//! else `active`; `last_sync` is stale (older than twice the period plus 15 minutes, at
//! the simulator's start) for 5% (min 2), else within one period; `last_sync_status` is
//! `failed` for 3% (min 1), `partial` for 2% (min 1), else `success`. Sync frequencies:
//! `every_15_minutes`, `every_30_minutes`, `hourly`, `every_6_hours`, `daily`, `weekly`.
//!
//! Six profiles (from N = 50 on) carry hostile names: double quotes with a label
//! injection attempt, backslashes, a newline, non-BMP unicode and emoji, and one of
//! exactly 300 characters. Every profile's `configuration` holds fake credentials
//! (`"password": "sim-secret-<id>"`, and an `api_key` for token-based ones), 5% of
//! `endpoint_url`s embed `user:sim-secret-<id>@`, and legacy profiles have a `username`:
//! a monitor that leaks any of them is easy to catch by grepping for `sim-secret-`.
//!
//! # Time
//!
//! With [`SimOptions::drift`] set, [`Simulator::serve`] runs [`Simulator::drift_step`]
//! periodically: a few profiles fail and later recover, error counts move, due syncs
//! advance `last_sync`. Every health change is logged in [`Simulator::transitions`].
//! [`Faults`] and latency can be changed at any time.
//!
//! # Layout
//!
//! - `http`: routes, authentication, fault injection, the answers;
//! - `pagination`: DRF's limit/offset rules and link rebuilding;
//! - `store`: the profiles as pre-rendered bytes, sorted by id;
//! - `fleet`: the seeded generator and its mix; `json`: its hand-written JSON;
//! - `drift`: what one drift step does, and health edits;
//! - `tls`: serving HTTPS ([`Simulator::serve_tls`]);
//! - `timer`: the high-resolution timer behind the latency;
//! - `command`: `inventory-monitor simulate`.
//!
//! # Why it is shaped like this
//!
//! The benchmarks serve 100,000 profiles to 64 concurrent clients on two cores, so the
//! profiles sit behind a `std::sync::RwLock` as pre-rendered bytes: a request takes the
//! lock to copy a few `Bytes` handles, and never holds it across an `.await`. Generating
//! 100,000 profiles takes about two seconds and 150 MB in a debug build.

mod command;
mod drift;
mod fleet;
mod http;
mod json;
mod pagination;
mod schema;
mod store;
mod timer;
mod tls;

use std::collections::{BTreeMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::clock::{rfc3339, SharedClock, SystemClock};

pub use command::{run, SimulateArgs};
pub use tls::{TlsError, TlsIdentity};

/// The token the simulator accepts unless told otherwise. Not a secret.
pub const DEMO_TOKEN: &str = "demo-token";

/// How many health transitions [`Simulator::transitions`] keeps (the oldest go first).
pub const TRANSITION_LOG_CAPACITY: usize = 100_000;

/// Stream numbers of the seed's independent dice.
const FLEET_STREAM: u64 = 0;
const FAULT_STREAM: u64 = 1;
const DRIFT_STREAM: u64 = 2;
const GROW_STREAM: u64 = 3;

/// How to build a simulator.
#[derive(Clone)]
pub struct SimOptions {
    /// Number of profiles generated at start.
    pub profiles: usize,
    /// Seed of every random choice: the fleet, faults and drift.
    pub seed: u64,
    /// Delay before every answer.
    pub latency: Duration,
    /// The bearer token accepted.
    pub token: String,
    /// A token that authenticates but is refused with 403.
    pub forbidden_token: Option<String>,
    /// Share of profiles in the old API revision (`0.0..=1.0`).
    pub legacy_fraction: f64,
    /// How often health drifts while serving; `None` keeps it static.
    pub drift: Option<Duration>,
    /// The mix of profiles and how fast drift changes them: the hostile test mix by
    /// default, or a realistic fleet (what `demo` shows).
    pub mix: FleetMix,
    /// Faults injected from the start.
    pub faults: Faults,
    /// Where "now" comes from: the start time that `last_sync` values are relative to,
    /// drift's sync times and transition times.
    pub clock: SharedClock,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            profiles: 500,
            seed: 1,
            latency: Duration::ZERO,
            token: DEMO_TOKEN.to_owned(),
            forbidden_token: None,
            legacy_fraction: 0.1,
            drift: None,
            mix: FleetMix::Hostile,
            faults: Faults::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimOptions")
            .field("profiles", &self.profiles)
            .field("seed", &self.seed)
            .field("latency", &self.latency)
            .field("token", &"<redacted>")
            .field(
                "forbidden_token",
                &self.forbidden_token.as_ref().map(|_| "<redacted>"),
            )
            .field("legacy_fraction", &self.legacy_fraction)
            .field("drift", &self.drift)
            .field("mix", &self.mix)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

/// The mix a fleet is generated with, and the pace of its drift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FleetMix {
    /// The test mix of the table above: many failing profiles, unknown enum values,
    /// missing fields and hostile names, `ceil(N / 250)` new flips per drift step that
    /// last about three steps. Hard on a monitor, on purpose.
    #[default]
    Hostile,
    /// A fleet as it looks in production: about 1% of the profiles `unhealthy`, 0.5%
    /// `degraded`, 0.5% with expired credentials, 5% of the legacy ones `failed` (all of
    /// them active), 0.5% stale, 3% `inactive`; no unknown values, no missing
    /// fields, no hostile names. Drift flips 1% of the profiles a minute (whatever the drift
    /// period), adds only a few errors, and a flip lasts about 45 seconds.
    Realistic,
}

/// Faults injected per request, each decided with the seeded dice. Rates are
/// probabilities in `0.0..=1.0`, rolled independently in this order: slow, 500, 429,
/// malformed (so with `error_rate` 0.5 and `rate_429` 0.5, a quarter of requests get 429).
/// Faults are decided after authentication: a bad token always gets its 401.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct Faults {
    /// Share of requests answered 500 with Django's HTML error page.
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After`.
    pub rate_429: f64,
    /// The `Retry-After` of a 429, in whole seconds rounded up (0 unless set; the
    /// `simulate` command's default is 1s).
    pub retry_after: Duration,
    /// Share of requests answered 200 with a body that is not the expected JSON: half
    /// truncated JSON, half an HTML maintenance page.
    pub malformed_rate: f64,
    /// Share of requests delayed by `slow_latency` on top of the latency.
    pub slow_rate: f64,
    /// The extra delay of a slow request.
    pub slow_latency: Duration,
    /// The last list page's `next` points back to the first page (offset 0).
    pub pagination_loop: bool,
    /// After every list request the profile with the lowest id is deleted, so `count`
    /// drops between consecutive pages and a walk by offset skips one profile.
    pub shrink_mid_walk: bool,
    /// After every list request a new profile is created with the next id, so `count`
    /// grows between consecutive pages.
    pub grow_mid_walk: bool,
}

/// Which health field a [`Transition`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealthField {
    /// `health_status.connectivity`.
    Connectivity,
    /// `health_status.authentication`.
    Authentication,
    /// The legacy revision's `test_status` (the monitor reads it as connectivity).
    TestStatus,
}

impl HealthField {
    /// The field's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthField::Connectivity => "connectivity",
            HealthField::Authentication => "authentication",
            HealthField::TestStatus => "test_status",
        }
    }
}

/// One health change of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// When it happened (the simulator's clock).
    pub at: SystemTime,
    /// Profile id.
    pub id: u64,
    /// The field that changed.
    pub field: HealthField,
    /// The value before (`None`: null or missing).
    pub from: Option<String>,
    /// The value after (`None`: null).
    pub to: Option<String>,
}

/// What the simulator has served so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Requests to the list endpoint, whatever their answer.
    pub list: u64,
    /// Requests to the detail endpoint, whatever their answer.
    pub detail: u64,
    /// Requests to any other path.
    pub other: u64,
    /// 401 answers.
    pub unauthorized: u64,
    /// 403 answers.
    pub forbidden: u64,
    /// 404 answers of the detail endpoint.
    pub not_found: u64,
    /// Injected 500 answers.
    pub server_errors: u64,
    /// Injected 429 answers.
    pub throttled: u64,
    /// Injected malformed bodies.
    pub malformed: u64,
    /// Requests slowed down by `slow_rate`.
    pub slow: u64,
    /// Last pages whose `next` looped back to the first.
    pub loops: u64,
    /// Profiles deleted by `shrink_mid_walk`.
    pub shrunk: u64,
    /// Profiles created by `grow_mid_walk`.
    pub grown: u64,
    /// Requests being answered right now.
    pub in_flight: u64,
    /// The most requests ever answered at once (to check a client's concurrency bound).
    pub max_in_flight: u64,
}

/// The live counters behind [`RequestStats`].
#[derive(Default)]
struct Counters {
    list: AtomicU64,
    detail: AtomicU64,
    other: AtomicU64,
    unauthorized: AtomicU64,
    forbidden: AtomicU64,
    not_found: AtomicU64,
    server_errors: AtomicU64,
    throttled: AtomicU64,
    malformed: AtomicU64,
    slow: AtomicU64,
    loops: AtomicU64,
    shrunk: AtomicU64,
    grown: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// What can change at runtime besides the profiles.
struct Control {
    /// Faults now injected.
    faults: Faults,
    /// Delay before every answer.
    latency: Duration,
    /// The dice of fault decisions.
    dice: ChaCha8Rng,
}

/// The simulated upstream. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("profiles", &self.len())
            .finish_non_exhaustive()
    }
}

/// The state shared by a simulator's clones and its request handlers.
struct Inner {
    /// The accepted token.
    token: String,
    /// The token answered with 403.
    forbidden_token: Option<String>,
    /// Drift period, when drifting.
    drift: Option<Duration>,
    /// Source of "now".
    clock: SharedClock,
    /// The profiles. `std::sync::RwLock` because it is held only for copies and small
    /// edits, never across an `.await`; readers (requests) vastly outnumber writers.
    fleet: RwLock<store::Fleet>,
    /// Faults, latency and their dice. A `Mutex` held for a few dice rolls per request.
    control: Mutex<Control>,
    /// The health transitions so far, oldest first, at most
    /// [`TRANSITION_LOG_CAPACITY`]. Locked after `fleet` when both are needed.
    transitions: Mutex<VecDeque<Transition>>,
    /// Request counters.
    counters: Counters,
    /// Which profiles matched the last `?name=` filter. Locked after `fleet`.
    filter_cache: Mutex<Option<http::FilterCache>>,
}

/// Locks a mutex, carrying on after a panic elsewhere (the data stays usable: every
/// critical section leaves it consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A seeded ChaCha8 stream.
fn dice(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

impl Simulator {
    /// Generates the fleet and builds the simulator (nothing is served until
    /// [`Simulator::serve`] or [`Simulator::router`]).
    pub fn new(opts: SimOptions) -> Self {
        let start = opts.clock.now();
        let mut rng = dice(opts.seed, FLEET_STREAM);
        let mut entries = Vec::with_capacity(opts.profiles);
        fleet::generate(
            &mut rng,
            opts.profiles,
            opts.legacy_fraction,
            opts.mix,
            start,
            |g| entries.push(store::Entry::generated(g)),
        );
        let fleet = store::Fleet {
            pace: drift::Pace::new(opts.mix, opts.profiles, opts.drift),
            profiles: store::Profiles::new(entries),
            drifted: BTreeMap::new(),
            drift_rng: dice(opts.seed, DRIFT_STREAM),
            grow_rng: dice(opts.seed, GROW_STREAM),
        };
        Self {
            inner: Arc::new(Inner {
                token: opts.token,
                forbidden_token: opts.forbidden_token,
                drift: opts.drift,
                clock: opts.clock,
                fleet: RwLock::new(fleet),
                control: Mutex::new(Control {
                    faults: opts.faults,
                    latency: opts.latency,
                    dice: dice(opts.seed, FAULT_STREAM),
                }),
                transitions: Mutex::new(VecDeque::new()),
                counters: Counters::default(),
                filter_cache: Mutex::new(None),
            }),
        }
    }

    /// The HTTP routes, under `/api/v1`.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes, drifting health meanwhile when
    /// [`SimOptions::drift`] was set.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let server = axum::serve(listener, self.router()).with_graceful_shutdown(shutdown);
        self.serve_drifting(server.into_future()).await
    }

    /// [`Simulator::serve`] over HTTPS with `identity`: same answers, `https://` links.
    /// A client that does not trust the certificate fails its handshake and never reaches
    /// the API.
    pub async fn serve_tls(
        self,
        listener: tokio::net::TcpListener,
        identity: TlsIdentity,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = tls::TlsListener::new(listener, &identity)?;
        let router = self.router().layer(axum::Extension(http::Https));
        let server = axum::serve(listener, router).with_graceful_shutdown(shutdown);
        self.serve_drifting(server.into_future()).await
    }

    /// Runs `server`, drifting health meanwhile when [`SimOptions::drift`] was set.
    async fn serve_drifting(
        &self,
        server: impl Future<Output = std::io::Result<()>>,
    ) -> std::io::Result<()> {
        match self.inner.drift {
            Some(every) => {
                tokio::select! {
                    served = server => served,
                    never = self.drift_forever(every) => match never {},
                }
            }
            None => server.await,
        }
    }

    /// Runs [`Simulator::drift_step`] every `every`, forever (for callers that serve
    /// [`Simulator::router`] themselves; [`Simulator::serve`] does this on its own).
    pub async fn drift_forever(&self, every: Duration) -> std::convert::Infallible {
        let every = every.max(Duration::from_millis(1));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let changes = self.drift_step();
            if !changes.is_empty() {
                tracing::debug!(changes = changes.len(), "simulated health drifted");
            }
        }
    }

    /// The bearer token the simulator accepts.
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.inner.control).faults = faults;
    }

    /// The faults now injected.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.control).faults.clone()
    }

    /// Replaces the delay before every answer.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.inner.control).latency = latency;
    }

    /// Number of profiles now.
    pub fn len(&self) -> usize {
        self.read().profiles.entries().len()
    }

    /// True when there are no profiles.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every profile id, in order.
    pub fn profile_ids(&self) -> Vec<u64> {
        self.read()
            .profiles
            .entries()
            .iter()
            .map(|e| e.id)
            .collect()
    }

    /// A profile's detail, exactly as served.
    pub fn profile_json(&self, id: u64) -> Option<Value> {
        self.read().profiles.get(id)?.value()
    }

    /// Creates or replaces a profile from its detail JSON (as it should be served; the
    /// list item is derived from it). False, and nothing changes, when `detail` is not an
    /// object with an unsigned integer `id`.
    pub fn upsert_profile(&self, detail: Value) -> bool {
        match store::Entry::new(&detail, false) {
            Some(entry) => {
                self.write().upsert(entry);
                true
            }
            None => false,
        }
    }

    /// Deletes a profile; false when there was none.
    pub fn remove_profile(&self, id: u64) -> bool {
        self.write().remove(id)
    }

    /// Renames a profile (and touches its `updated_at`); false when there is none.
    pub fn rename_profile(&self, id: u64, name: &str) -> bool {
        let now = rfc3339(self.inner.clock.now());
        self.write()
            .profiles
            .edit(id, |detail| {
                let map = detail.as_object_mut()?;
                map.insert("name".into(), Value::from(name));
                map.insert("updated_at".into(), Value::from(now));
                Some(())
            })
            .is_some()
    }

    /// Sets a profile's health (`None` = JSON null), logging a [`Transition`] per field
    /// that changed, and keeping `last_error` consistent. A null or missing
    /// `health_status` is created. On a legacy profile, `connectivity` becomes
    /// `test_status` (`healthy` → `success`, anything else → `failed`, `None` → null) and
    /// `authentication` is ignored. Drift forgets what it did to this profile. False when
    /// there is no such profile.
    pub fn set_health(
        &self,
        id: u64,
        connectivity: Option<&str>,
        authentication: Option<&str>,
    ) -> bool {
        let now = self.inner.clock.now();
        let mut fleet = self.write();
        fleet.drifted.remove(&id);
        let changes = fleet.profiles.edit(id, |detail| {
            let mut dice = drift::wording_dice(id);
            let mut changes = Vec::new();
            if drift::is_legacy(detail) {
                let to = connectivity.map(|c| if c == "healthy" { "success" } else { "failed" });
                if let Some(c) = drift::write(detail, HealthField::TestStatus, to, &mut dice, now) {
                    changes.push((HealthField::TestStatus, c));
                }
            } else {
                for (field, to) in [
                    (HealthField::Connectivity, connectivity),
                    (HealthField::Authentication, authentication),
                ] {
                    if let Some(c) = drift::write(detail, field, to, &mut dice, now) {
                        changes.push((field, c));
                    }
                }
            }
            Some(changes)
        });
        let Some(changes) = changes else {
            return false;
        };
        let transitions: Vec<Transition> = changes
            .into_iter()
            .map(|(field, (from, to))| Transition {
                at: now,
                id,
                field,
                from,
                to,
            })
            .collect();
        self.log(&transitions);
        true
    }

    /// Applies one drift step now (what the background drift runs) and answers the
    /// health transitions it made, which are also logged. For a seed and the same
    /// sequence of calls, the transitions are always the same.
    pub fn drift_step(&self) -> Vec<Transition> {
        let now = self.inner.clock.now();
        let mut fleet = self.write();
        let transitions = drift::step(&mut fleet, now);
        self.log(&transitions);
        transitions
    }

    /// The health transitions so far (drift and [`Simulator::set_health`]), oldest
    /// first; at most the last [`TRANSITION_LOG_CAPACITY`].
    pub fn transitions(&self) -> Vec<Transition> {
        lock(&self.inner.transitions).iter().cloned().collect()
    }

    /// What has been served so far.
    pub fn requests(&self) -> RequestStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RequestStats {
            list: get(&c.list),
            detail: get(&c.detail),
            other: get(&c.other),
            unauthorized: get(&c.unauthorized),
            forbidden: get(&c.forbidden),
            not_found: get(&c.not_found),
            server_errors: get(&c.server_errors),
            throttled: get(&c.throttled),
            malformed: get(&c.malformed),
            slow: get(&c.slow),
            loops: get(&c.loops),
            shrunk: get(&c.shrunk),
            grown: get(&c.grown),
            in_flight: get(&c.in_flight),
            max_in_flight: get(&c.max_in_flight),
        }
    }

    /// Appends to the transition log, dropping the oldest beyond its capacity.
    fn log(&self, transitions: &[Transition]) {
        if transitions.is_empty() {
            return;
        }
        let mut log = lock(&self.inner.transitions);
        log.extend(transitions.iter().cloned());
        let excess = log.len().saturating_sub(TRANSITION_LOG_CAPACITY);
        log.drain(..excess);
    }

    /// Deletes the lowest id and/or creates the next one, after a list request.
    fn change_mid_walk(&self, shrink: bool, grow: bool) {
        let now = self.inner.clock.now();
        let mut fleet = self.write();
        if shrink {
            if let Some(first) = fleet.profiles.entries().first().map(|e| e.id) {
                fleet.remove(first);
                self.inner.counters.shrunk.fetch_add(1, Ordering::Relaxed);
            }
        }
        if grow {
            let id = fleet.profiles.entries().last().map_or(1, |e| e.id + 1);
            let generated = fleet::fresh_profile(&mut fleet.grow_rng, id, now);
            fleet.upsert(store::Entry::generated(generated));
            self.inner.counters.grown.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, store::Fleet> {
        self.inner.fleet.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, store::Fleet> {
        self.inner.fleet.write().unwrap_or_else(|e| e.into_inner())
    }
}
