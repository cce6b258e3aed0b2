//! Every metric of the spec, in two halves that a scrape puts together.
//!
//! - [`MonitorMetrics`]: the monitor's own, process-lifetime series (`inventory_monitor_*`)
//!   in a `prometheus` [`Registry`]. They are few and change between sweeps (request and
//!   notification counters), so each scrape encodes them afresh.
//! - [`ProfileMetrics`]: the per-profile series (`inventory_profile_*`), rendered from
//!   scratch once per sweep ([`RenderedProfiles`]) and served as is by every scrape.
//!   Rendering from scratch is what makes a profile that disappeared, left the shard or was
//!   renamed leave no series behind. With 100,000 profiles that is over a million lines
//!   (about 1.4 KB of text per profile, 140 MB), so they are written straight into a small
//!   block buffer (no `prometheus` objects, no allocation per series) that is fed to a
//!   deflate stream every [`RENDER_BLOCK`] bytes: the whole text is never held at once.
//!   The text itself is kept beside the compressed stream only while it stays under a limit
//!   ([`DEFAULT_PLAIN_LIMIT`]); past it, a plain scrape inflates the cached stream chunk by
//!   chunk as it sends it, so a scrape's memory stays bounded whatever the fleet's size.
//!
//! [`scrape_stream`] joins the two. For gzip it does not recompress the profile section: the
//! section is kept as a raw deflate stream ending in a final block, and a scrape only
//! compresses the small self-metrics part as a deflate stream ended by a *sync flush* (a
//! non-final, byte-aligned empty stored block). Deflate streams joined that way decode as one
//! stream (this is how `pigz` compresses in parallel), so header + self part + cached profile
//! part + trailer (CRC-32 combined from both parts, total length) is one valid gzip member.

use std::collections::HashSet;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};
use prometheus::{
    Encoder, Gauge, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::exposition::{escape_label_value, write_help_type, write_value, MetricType};
use crate::shard::Shard;
use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};

/// How many distinct unknown `state` values per check [`ProfileMetrics`] keeps as labels
/// before it maps further ones to `other`: enough for any real API, few enough that a
/// misbehaving one (a timestamp or error text in the field) cannot blow up the series count.
pub const STATE_LABEL_CAP: usize = 32;

/// `state` values always kept as they are, whatever the cap.
const KNOWN_STATES: &[&str] = &[
    "healthy",
    "unhealthy",
    "degraded",
    "unknown",
    "unreachable",
    "down",
    "error",
    "failed",
    "timeout",
    "valid",
    "invalid",
    "expired",
    "revoked",
    "missing",
    "other",
];

/// The `state` label of values beyond the cap.
const OTHER_STATE: &str = "other";

/// Compression level of gzip bodies. The profile section is large (about 1.6 KB of text per
/// profile, 160 MB for 100,000 profiles) and compressed once per sweep, with the zlib-rs
/// backend. Measured on the 16 MB section of 10,000 simulated profiles: level 2 takes 25 ms
/// for 11:1, level 3 39 ms for 12.5:1, level 4 52 ms for 14.4:1 (miniz_oxide's level 4, the
/// earlier choice, 78 ms for 14.9:1). Every sweep pays this; the size only costs loopback or
/// LAN bytes and the scraper's inflate, so the fastest level that still compresses well wins.
const GZIP_LEVEL: u32 = 2;

/// Below this size the per-profile text is kept beside its deflate stream, so plain scrapes
/// of small and mid-sized fleets (10,000 profiles make about 15 MB) send it without work;
/// above it only the deflate stream is kept (a twentieth of the size) and plain scrapes
/// inflate it as they send it.
pub const DEFAULT_PLAIN_LIMIT: usize = 32 << 20;

/// The rendering buffer is handed to the compressor (and the CRC) each time it holds this
/// much text: large enough that the compressor works on long runs, small enough to stay in
/// cache and to keep rendering's memory flat.
pub const RENDER_BLOCK: usize = 256 << 10;

/// Size of the chunks a plain scrape of an inflated section sends.
const INFLATE_CHUNK: usize = 128 << 10;

/// The monitor's own series, kept for the life of the process.
pub struct MonitorMetrics {
    /// The registry holding every series below; [`MonitorMetrics::encode`] gathers it.
    pub registry: Registry,
    /// `inventory_monitor_up`: 1 when the last sweep walked every list page.
    pub up: IntGauge,
    /// `inventory_monitor_profiles`: profiles of this shard seen in the last complete walk.
    pub profiles: IntGauge,
    /// `inventory_monitor_sweep_duration_seconds`: how long the last sweep took.
    pub sweep_duration: Gauge,
    /// `inventory_monitor_last_sweep_success_timestamp_seconds`: end of the last sweep whose
    /// list walk was complete (0 until there is one).
    pub last_sweep_success: Gauge,
    /// `inventory_monitor_sweeps_total{outcome="complete"|"incomplete"|"failed"}`.
    pub sweeps: IntCounterVec,
    /// `inventory_monitor_upstream_requests_total{endpoint="list"|"detail", code}`.
    pub upstream_requests: IntCounterVec,
    /// `inventory_monitor_upstream_invalid_bodies_total{endpoint}`: answers that were not
    /// the expected JSON.
    pub upstream_invalid_bodies: IntCounterVec,
    /// `inventory_monitor_upstream_limit_hits_total{limit}`: protective limits hit by what
    /// the upstream sent (see [`crate::upstream::Limit`]).
    pub upstream_limit_hits: IntCounterVec,
    /// `inventory_monitor_notifications_total{receiver, outcome="delivered"|"failed"|"dropped"}`.
    pub notifications: IntCounterVec,
    /// `inventory_monitor_notification_queue`: notifications waiting for delivery.
    pub notification_queue: IntGauge,
    /// `inventory_monitor_build_info{version}`: always 1.
    pub build_info: IntGaugeVec,
    /// `inventory_monitor_shard_index`.
    pub shard_index: IntGauge,
    /// `inventory_monitor_shard_count`.
    pub shard_count: IntGauge,
    /// `inventory_monitor_config_last_reload_successful`: 1 unless the last reload failed.
    pub reload_successful: IntGauge,
    /// `inventory_monitor_config_last_reload_success_timestamp_seconds`.
    pub reload_success_time: Gauge,
}

impl std::fmt::Debug for MonitorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorMetrics")
            .field("up", &self.up.get())
            .field("profiles", &self.profiles.get())
            .finish_non_exhaustive()
    }
}

/// Registers a collector whose definition is fixed in this file. Registration only fails
/// on an invalid or duplicate definition, which the unit tests would catch, never at
/// run time.
fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("static metric definitions are valid and distinct");
    c
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(
        registry,
        IntGauge::new(name, help).expect("static metric definition is valid"),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels)
            .expect("static metric definition is valid"),
    )
}

impl MonitorMetrics {
    /// Every self-metric, registered in a fresh registry, with the shard settings set and
    /// `build_info` at 1.
    pub fn new(shard: Shard) -> Self {
        let registry = Registry::new();
        let up = int_gauge(
            &registry,
            "inventory_monitor_up",
            "1 when the last sweep walked every page of the profile list, else 0.",
        );
        let profiles = int_gauge(
            &registry,
            "inventory_monitor_profiles",
            "Profiles seen in the last complete list walk (this shard's share).",
        );
        let sweep_duration = register(
            &registry,
            Gauge::new(
                "inventory_monitor_sweep_duration_seconds",
                "Duration of the last sweep.",
            )
            .expect("static metric definition is valid"),
        );
        let last_sweep_success = register(
            &registry,
            Gauge::new(
                "inventory_monitor_last_sweep_success_timestamp_seconds",
                "End of the last sweep that walked every list page, as Unix time (0 before the first).",
            )
            .expect("static metric definition is valid"),
        );
        let sweeps = counter_vec(
            &registry,
            "inventory_monitor_sweeps_total",
            "Sweeps by how their list walk ended: complete, incomplete or failed.",
            &["outcome"],
        );
        let upstream_requests = counter_vec(
            &registry,
            "inventory_monitor_upstream_requests_total",
            "Requests to the upstream API by endpoint (list, detail) and HTTP status code.",
            &["endpoint", "code"],
        );
        let upstream_invalid_bodies = counter_vec(
            &registry,
            "inventory_monitor_upstream_invalid_bodies_total",
            "Upstream answers whose body was not the expected JSON, by endpoint.",
            &["endpoint"],
        );
        let upstream_limit_hits = counter_vec(
            &registry,
            "inventory_monitor_upstream_limit_hits_total",
            "Protective limits hit by what the upstream sent: max_body_size, max_profiles, max_label_length, absurd_value.",
            &["limit"],
        );
        for limit in crate::upstream::Limit::ALL {
            upstream_limit_hits.with_label_values(&[limit.as_str()]);
        }
        let notifications = counter_vec(
            &registry,
            "inventory_monitor_notifications_total",
            "Notifications by receiver and outcome (delivered, failed, dropped).",
            &["receiver", "outcome"],
        );
        let notification_queue = int_gauge(
            &registry,
            "inventory_monitor_notification_queue",
            "Notifications waiting for delivery.",
        );
        let build_info = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "inventory_monitor_build_info",
                    "Build information of the running monitor (value always 1).",
                ),
                &["version"],
            )
            .expect("static metric definition is valid"),
        );
        let shard_index = int_gauge(
            &registry,
            "inventory_monitor_shard_index",
            "Index of the profile shard this replica owns.",
        );
        let shard_count = int_gauge(
            &registry,
            "inventory_monitor_shard_count",
            "Number of replicas the profiles are sharded over.",
        );

        let reload_successful = int_gauge(
            &registry,
            "inventory_monitor_config_last_reload_successful",
            "Whether the last configuration reload (SIGHUP) succeeded; 1 before any reload.",
        );
        reload_successful.set(1);
        let reload_success_time = Gauge::with_opts(Opts::new(
            "inventory_monitor_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (start or reload).",
        ))
        .expect("static metric definition is valid");
        registry
            .register(Box::new(reload_success_time.clone()))
            .expect("metric names are unique");
        reload_success_time.set(crate::clock::unix_seconds(std::time::SystemTime::now()));

        build_info.with_label_values(&[crate::VERSION]).set(1);
        // Known label values start at 0, so `rate()` and `increase()` see the first event.
        for outcome in ["complete", "incomplete", "failed"] {
            sweeps.with_label_values(&[outcome]);
        }

        let metrics = Self {
            registry,
            up,
            profiles,
            sweep_duration,
            last_sweep_success,
            sweeps,
            upstream_requests,
            upstream_invalid_bodies,
            upstream_limit_hits,
            notifications,
            notification_queue,
            build_info,
            shard_index,
            shard_count,
            reload_successful,
            reload_success_time,
        };
        metrics.set_shard(shard);
        metrics
    }

    /// Records the outcome of a configuration reload.
    pub fn observe_reload(&self, success: bool, at: SystemTime) {
        self.reload_successful.set(i64::from(success));
        if success {
            self.reload_success_time.set(crate::clock::unix_seconds(at));
        }
    }

    /// Sets `inventory_monitor_shard_index` and `_shard_count` (e.g. after a reload).
    pub fn set_shard(&self, shard: Shard) {
        self.shard_index.set(i64::from(shard.index));
        self.shard_count.set(i64::from(shard.count));
    }

    /// Creates the `delivered`, `failed` and `dropped` series of a receiver at 0, so they
    /// exist from the start rather than from the first event.
    pub fn init_receiver(&self, receiver: &str) {
        for outcome in ["delivered", "failed", "dropped"] {
            self.notifications.with_label_values(&[receiver, outcome]);
        }
    }

    /// Records a finished sweep. `up` follows the list walk; `profiles` is updated only by a
    /// complete walk (an incomplete count would be misleading, so the last one is kept);
    /// the success timestamp moves only when the walk was complete. Failed detail reads do
    /// not make a sweep unsuccessful: they show per profile in `inventory_profile_up`.
    pub fn observe_sweep(&self, snapshot: &Snapshot, finished_at: SystemTime) {
        let complete = snapshot.walk_complete();
        self.up.set(i64::from(complete));
        if let Some(listed) = snapshot.listed {
            self.profiles.set(i64::try_from(listed).unwrap_or(i64::MAX));
        }
        self.sweep_duration.set(snapshot.duration.as_secs_f64());
        if complete {
            self.last_sweep_success
                .set(crate::clock::unix_seconds(finished_at));
        }
        let outcome = match snapshot.list {
            ListOutcome::Complete => "complete",
            ListOutcome::Incomplete { .. } => "incomplete",
            ListOutcome::Failed { .. } => "failed",
        };
        self.sweeps.with_label_values(&[outcome]).inc();
        self.set_shard(snapshot.shard);
    }

    /// The self-metrics in text format.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            // Only possible with an invalid family, which `new` cannot build.
            tracing::error!(error = %e, "encoding the monitor's own metrics failed");
        }
        out
    }
}

/// An alert now firing on a profile, for `inventory_profile_alert_firing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FiringLabel<'a> {
    /// The profile the alert is about.
    pub profile_id: u64,
    /// The alert's name (`ProfileConnectivityDegraded`, ...).
    pub alertname: &'a str,
    /// The alert's severity.
    pub severity: &'a str,
}

/// `state` values seen so far for one check, to keep the label bounded.
#[derive(Debug, Default)]
struct StateVocabulary {
    /// Values outside [`KNOWN_STATES`] admitted so far, never more than the cap.
    learned: HashSet<String>,
}

impl StateVocabulary {
    /// The label for `raw`: itself when known or admitted (now or before), else `other`.
    fn label<'a>(&mut self, raw: &'a str, cap: usize) -> &'a str {
        if KNOWN_STATES.contains(&raw) || self.learned.contains(raw) {
            raw
        } else if self.learned.len() < cap {
            self.learned.insert(raw.to_owned());
            raw
        } else {
            OTHER_STATE
        }
    }
}

/// Renders the per-profile series of each sweep. It keeps state across sweeps only for the
/// bounded `state` vocabulary (so a value keeps its label once admitted) and a size hint.
#[derive(Debug)]
pub struct ProfileMetrics {
    /// Connectivity values admitted as `state` labels.
    connectivity: StateVocabulary,
    /// Authentication values admitted as `state` labels.
    authentication: StateVocabulary,
    /// New values admitted per check before `other`.
    state_cap: usize,
    /// Longest label value taken from the upstream, in characters (`api.max_label_length`).
    max_label_length: usize,
    /// `inventory_monitor_upstream_limit_hits_total`, to count cut label values.
    limit_hits: Option<IntCounterVec>,
    /// Length of the last rendering's text, to size the next buffers in one go.
    last_len: usize,
    /// Length of the last rendering's deflate stream, likewise.
    last_deflated_len: usize,
    /// Largest text kept beside its deflate stream ([`DEFAULT_PLAIN_LIMIT`]).
    plain_limit: usize,
}

/// The default of `api.max_label_length`.
pub const DEFAULT_MAX_LABEL_LENGTH: usize = 256;

/// `value` cut to at most `max_chars` characters, the last of which is then `…`; as is
/// when it is short enough. Label values from the upstream go through this: a 1 MiB name
/// would otherwise be copied into a dozen series of every scrape.
pub fn truncate_label_value(value: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    if value.char_indices().nth(max_chars).is_none() {
        return std::borrow::Cow::Borrowed(value);
    }
    let keep = max_chars.saturating_sub(1);
    let end = value
        .char_indices()
        .nth(keep)
        .map_or(value.len(), |(i, _)| i);
    std::borrow::Cow::Owned(format!("{}…", &value[..end]))
}

/// Cuts label values during one rendering and counts the cuts.
struct LabelCutter {
    /// Characters kept at most.
    max: usize,
    /// Values cut so far.
    cut: u64,
}

impl LabelCutter {
    fn cut<'a>(&mut self, value: &'a str) -> std::borrow::Cow<'a, str> {
        let out = truncate_label_value(value, self.max);
        if matches!(out, std::borrow::Cow::Owned(_)) {
            self.cut += 1;
        }
        out
    }
}

impl Default for ProfileMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The per-profile section of a scrape, rendered once per sweep. Cloning is cheap (shared
/// buffers).
#[derive(Clone)]
pub struct RenderedProfiles {
    /// The text, when it is under the plain limit (see [`DEFAULT_PLAIN_LIMIT`]).
    plain: Option<Bytes>,
    /// Length of the text, kept or not.
    plain_len: usize,
    /// The text as one raw deflate stream ending in a final block.
    deflated: Bytes,
    /// CRC-32 of the text (with its length, for combining).
    crc: Arc<Crc>,
    /// Number of sample lines.
    series: usize,
    /// Label values cut to `api.max_label_length` in this rendering.
    truncated_labels: u64,
    /// The text inflated on a call to [`RenderedProfiles::plain`] when it was not kept;
    /// shared by clones so it is inflated at most once.
    inflated: Arc<OnceLock<Bytes>>,
}

impl std::fmt::Debug for RenderedProfiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedProfiles")
            .field("bytes", &self.plain_len)
            .field("plain_kept", &self.plain.is_some())
            .field("deflated_bytes", &self.deflated.len())
            .field("series", &self.series)
            .finish()
    }
}

impl RenderedProfiles {
    /// No per-profile series at all (before the first sweep).
    pub fn empty() -> Self {
        let mut section = Section::new(0, 0, usize::MAX);
        section.finish(0)
    }

    /// Number of per-profile sample lines.
    pub fn series(&self) -> usize {
        self.series
    }

    /// How many label values this rendering cut to `api.max_label_length`.
    pub fn truncated_labels(&self) -> u64 {
        self.truncated_labels
    }

    /// Length of the per-profile text in bytes.
    pub fn plain_len(&self) -> usize {
        self.plain_len
    }

    /// True when the text is kept beside the deflate stream (it was under the plain limit).
    pub fn keeps_plain(&self) -> bool {
        self.plain.is_some()
    }

    /// The per-profile section as one raw deflate stream ending in a final block.
    pub fn deflated(&self) -> &Bytes {
        &self.deflated
    }

    /// The per-profile section as text. When the text was over the plain limit this inflates
    /// the whole of it and keeps it as long as this rendering lives: for tests and tools;
    /// scrapes use [`scrape_stream`], which inflates chunk by chunk.
    pub fn plain(&self) -> &Bytes {
        if let Some(p) = &self.plain {
            return p;
        }
        self.inflated.get_or_init(|| {
            let mut out = BytesMut::with_capacity(self.plain_len);
            for chunk in Inflating::new(self.deflated.clone(), self.plain_len) {
                out.extend_from_slice(&chunk);
            }
            out.freeze()
        })
    }
}

/// The per-profile text being rendered: written into a small buffer that is handed, block
/// by block, to the CRC, the deflate stream and (while under the plain limit) the kept text.
struct Section {
    /// Text not yet handed on (at most about [`RENDER_BLOCK`] bytes).
    buf: String,
    /// The compressor, one raw deflate stream for the whole section.
    compress: Compress,
    /// Its output so far.
    deflated: Vec<u8>,
    /// CRC-32 of the text handed on so far.
    crc: Crc,
    /// The text handed on so far, while it is under `plain_limit`.
    plain: Option<Vec<u8>>,
    /// Largest text kept.
    plain_limit: usize,
    /// Bytes of text handed on so far.
    len: usize,
}

impl Section {
    /// A section expected to make about `text_hint` bytes of text and `deflated_hint` of
    /// compressed stream (the last rendering's sizes), keeping the text up to `plain_limit`.
    fn new(text_hint: usize, deflated_hint: usize, plain_limit: usize) -> Self {
        // Start without the text when the last rendering was over the limit: collecting it
        // only to drop it half-way would be the peak we avoid. Should this one turn out
        // under the limit after all, `finish` inflates it back.
        let plain = (text_hint <= plain_limit)
            .then(|| Vec::with_capacity(text_hint + text_hint / 16 + RENDER_BLOCK));
        Self {
            buf: String::with_capacity(RENDER_BLOCK + 16 * 1024),
            compress: Compress::new(Compression::new(GZIP_LEVEL), false),
            deflated: Vec::with_capacity(deflated_hint + deflated_hint / 16 + 4096),
            crc: Crc::new(),
            plain,
            plain_limit,
            len: 0,
        }
    }

    /// Hands the buffer on once it holds a block; call after each line.
    fn line_done(&mut self) {
        if self.buf.len() >= RENDER_BLOCK {
            self.hand_on(FlushCompress::None);
        }
    }

    fn hand_on(&mut self, flush: FlushCompress) {
        let data = self.buf.as_bytes();
        self.crc.update(data);
        self.len += data.len();
        if self.len > self.plain_limit {
            self.plain = None;
        } else if let Some(p) = &mut self.plain {
            p.extend_from_slice(data);
        }
        compress_into(&mut self.compress, data, &mut self.deflated, flush);
        self.buf.clear();
    }

    fn finish(&mut self, series: usize) -> RenderedProfiles {
        self.hand_on(FlushCompress::Finish);
        let mut deflated = std::mem::take(&mut self.deflated);
        deflated.shrink_to_fit();
        let deflated = Bytes::from(deflated);
        let plain = match self.plain.take() {
            Some(mut p) => {
                p.shrink_to_fit();
                Some(Bytes::from(p))
            }
            None if self.len <= self.plain_limit => {
                let mut out = BytesMut::with_capacity(self.len);
                for chunk in Inflating::new(deflated.clone(), self.len) {
                    out.extend_from_slice(&chunk);
                }
                Some(out.freeze())
            }
            None => None,
        };
        RenderedProfiles {
            plain,
            plain_len: self.len,
            deflated,
            crc: Arc::new(std::mem::take(&mut self.crc)),
            series,
            truncated_labels: 0,
            inflated: Arc::default(),
        }
    }
}

/// Label names of `inventory_profile_info` beyond the common ones.
const INFO_LABELS: [&str; 4] = [
    "profile_type",
    "status",
    "authentication_type",
    "sync_frequency",
];

impl ProfileMetrics {
    /// A renderer with an empty vocabulary and the default cap ([`STATE_LABEL_CAP`]).
    pub fn new() -> Self {
        Self::with_state_cap(STATE_LABEL_CAP)
    }

    /// A renderer admitting `cap` new `state` values per check.
    pub fn with_state_cap(cap: usize) -> Self {
        Self {
            connectivity: StateVocabulary::default(),
            authentication: StateVocabulary::default(),
            state_cap: cap,
            max_label_length: DEFAULT_MAX_LABEL_LENGTH,
            limit_hits: None,
            last_len: 0,
            last_deflated_len: 0,
            plain_limit: DEFAULT_PLAIN_LIMIT,
        }
    }

    /// A renderer for the daemon: label values cut to `api.max_label_length`, and the
    /// cuts counted in `monitor`'s `inventory_monitor_upstream_limit_hits_total`.
    pub fn for_api(api: &crate::config::ApiConfig, monitor: &MonitorMetrics) -> Self {
        Self::new()
            .with_max_label_length(api.max_label_length as usize)
            .with_limit_hits(monitor.upstream_limit_hits.clone())
    }

    /// Cuts label values from the upstream to `max_chars` characters
    /// (`api.max_label_length`; at least 1).
    pub fn with_max_label_length(mut self, max_chars: usize) -> Self {
        self.set_max_label_length(max_chars);
        self
    }

    /// Changes `api.max_label_length` (on a configuration reload), keeping the `state`
    /// vocabulary learnt so far.
    pub fn set_max_label_length(&mut self, max_chars: usize) {
        self.max_label_length = max_chars.max(1);
    }

    /// Keeps the rendered text beside its deflate stream only up to `bytes`
    /// ([`DEFAULT_PLAIN_LIMIT`] by default); larger renderings keep the stream only.
    pub fn with_plain_limit(mut self, bytes: usize) -> Self {
        self.plain_limit = bytes;
        self
    }

    /// Counts cut label values in `counter`
    /// (`inventory_monitor_upstream_limit_hits_total{limit="max_label_length"}`).
    pub fn with_limit_hits(mut self, counter: IntCounterVec) -> Self {
        self.limit_hits = Some(counter);
        self
    }

    /// Renders every per-profile family of `snapshot`, plus one
    /// `inventory_profile_alert_firing` per firing alert whose profile is in the snapshot.
    /// Families come in a fixed order, each with HELP and TYPE even when empty; within a
    /// family, profiles come in id order. CPU-bound (it also compresses): call it off the
    /// async runtime's worker threads for large snapshots.
    pub fn render(&mut self, snapshot: &Snapshot, firing: &[FiringLabel<'_>]) -> RenderedProfiles {
        // The snapshot promises id order; sort anyway (cheaply, by reference) and drop
        // repeated ids, because duplicate series would make the whole body invalid.
        let mut entries: Vec<&ProfileEntry> = snapshot.profiles.iter().collect();
        if !entries.windows(2).all(|w| w[0].id <= w[1].id) {
            entries.sort_by_key(|e| e.id);
        }
        entries.dedup_by_key(|e| e.id);

        // Every series of a profile starts with the same three labels: escape them once,
        // into one shared buffer, and copy the block into each line.
        let mut cutter = LabelCutter {
            max: self.max_label_length,
            cut: 0,
        };
        let mut blocks = String::with_capacity(entries.len() * 72);
        let mut block_ends = Vec::with_capacity(entries.len());
        for e in &entries {
            let _ = write!(blocks, "profile_id=\"{}\",profile_name=\"", e.id);
            escape_label_value(&mut blocks, &cutter.cut(&e.name));
            blocks.push_str("\",organization=\"");
            escape_label_value(
                &mut blocks,
                &cutter.cut(e.organization.as_deref().unwrap_or("")),
            );
            blocks.push('"');
            block_ends.push(blocks.len());
        }

        let mut firing: Vec<&FiringLabel<'_>> = firing.iter().collect();
        firing.sort();
        firing.dedup();

        // Size the buffers from the last rendering; on the first, from the profile count
        // (about 11 label blocks and 600 bytes more per profile), so that a first sweep of
        // a large fleet does not collect text up to the limit only to drop it.
        let text_hint = if self.last_len > 0 {
            self.last_len
        } else {
            blocks.len() * 11 + entries.len() * 600
        };
        let mut w = Lines {
            out: Section::new(text_hint, self.last_deflated_len, self.plain_limit),
            blocks: &blocks,
            block_ends: &block_ends,
            series: 0,
        };

        w.header(
            "inventory_profile_info",
            "Properties of an inventory connection profile (value always 1); from the last detail read.",
        );
        for (i, e) in entries.iter().enumerate() {
            if let Some(p) = &e.profile {
                w.open("inventory_profile_info", i);
                let values = [
                    &p.profile_type,
                    &p.status,
                    &p.authentication_type,
                    &p.sync_frequency,
                ];
                for (name, value) in INFO_LABELS.iter().zip(values) {
                    w.label(name, &cutter.cut(value.as_deref().unwrap_or("")));
                }
                w.close_u64(1);
            }
        }

        w.header(
            "inventory_profile_up",
            "1 when the profile's detail was read in the last sweep, else 0.",
        );
        for (i, e) in entries.iter().enumerate() {
            w.open("inventory_profile_up", i);
            w.close_u64(u64::from(e.up));
        }

        w.header(
            "inventory_profile_connectivity_healthy",
            "1 when health_status.connectivity is healthy, 0 otherwise; absent when unknown.",
        );
        for (i, e) in entries.iter().enumerate() {
            if let Some(c) =
                fresh(e).and_then(|p| p.connectivity.as_deref().map(|c| c == "healthy"))
            {
                w.open("inventory_profile_connectivity_healthy", i);
                w.close_u64(u64::from(c));
            }
        }

        w.header(
            "inventory_profile_authentication_valid",
            "1 when health_status.authentication is valid, 0 otherwise; absent when unknown.",
        );
        for (i, e) in entries.iter().enumerate() {
            if let Some(a) =
                fresh(e).and_then(|p| p.authentication.as_deref().map(|a| a == "valid"))
            {
                w.open("inventory_profile_authentication_valid", i);
                w.close_u64(u64::from(a));
            }
        }

        w.header(
            "inventory_profile_health_state",
            "The health state as reported (value always 1); state values beyond a cap of new ones are shown as other.",
        );
        for (i, e) in entries.iter().enumerate() {
            let Some(p) = fresh(e) else { continue };
            if let Some(raw) = p.connectivity.as_deref() {
                let raw = cutter.cut(raw);
                let state = self.connectivity.label(&raw, self.state_cap);
                w.open("inventory_profile_health_state", i);
                w.label("check", "connectivity");
                w.label("state", state);
                w.close_u64(1);
            }
            if let Some(raw) = p.authentication.as_deref() {
                let raw = cutter.cut(raw);
                let state = self.authentication.label(&raw, self.state_cap);
                w.open("inventory_profile_health_state", i);
                w.label("check", "authentication");
                w.label("state", state);
                w.close_u64(1);
            }
        }

        w.header(
            "inventory_profile_errors_24h",
            "health_status.error_count_24h: errors in the last 24 hours.",
        );
        for (i, e) in entries.iter().enumerate() {
            if let Some(n) = fresh(e).and_then(|p| p.error_count_24h) {
                w.open("inventory_profile_errors_24h", i);
                w.close_u64(n);
            }
        }

        w.header(
            "inventory_profile_last_sync_timestamp_seconds",
            "Time of the profile's last sync, as Unix time.",
        );
        for (i, e) in entries.iter().enumerate() {
            if let Some(t) = fresh(e).and_then(|p| p.last_sync) {
                w.open("inventory_profile_last_sync_timestamp_seconds", i);
                w.close_f64(t);
            }
        }

        w.header(
            "inventory_profile_last_sync_success",
            "1 when last_sync_status is success, else 0; absent when unknown.",
        );
        for (i, e) in entries.iter().enumerate() {
            if let Some(ok) =
                fresh(e).and_then(|p| p.last_sync_status.as_deref().map(|s| s == "success"))
            {
                w.open("inventory_profile_last_sync_success", i);
                w.close_u64(u64::from(ok));
            }
        }

        w.header(
            "inventory_profile_sync_records",
            "sync_record_count: records transferred by the profile's syncs.",
        );
        for (i, e) in entries.iter().enumerate() {
            if let Some(n) = fresh(e).and_then(|p| p.sync_record_count) {
                w.open("inventory_profile_sync_records", i);
                w.close_u64(n);
            }
        }

        w.header(
            "inventory_profile_active",
            "1 when the profile's status is active, else 0; absent when unknown.",
        );
        for (i, e) in entries.iter().enumerate() {
            if let Some(active) = e.profile.as_ref().and_then(|p| p.is_active()) {
                w.open("inventory_profile_active", i);
                w.close_u64(u64::from(active));
            }
        }

        w.header(
            "inventory_profile_alert_firing",
            "1 for each alert now firing on the profile.",
        );
        for f in firing {
            // Alerts on profiles no longer in the snapshot have nothing to label them with.
            let Ok(i) = entries.binary_search_by_key(&f.profile_id, |e| e.id) else {
                continue;
            };
            w.open("inventory_profile_alert_firing", i);
            w.label("alertname", f.alertname);
            w.label("severity", f.severity);
            w.close_u64(1);
        }

        let series = w.series;
        let mut rendered = w.out.finish(series);
        self.last_len = rendered.plain_len;
        self.last_deflated_len = rendered.deflated.len();
        if cutter.cut > 0 {
            // Once per rendering, that is once per sweep, however many were cut.
            tracing::warn!(
                label_values = cutter.cut,
                max_label_length = self.max_label_length,
                "label values from the upstream were longer than api.max_label_length and were cut"
            );
            if let Some(c) = self.limit_hits.as_ref().and_then(|c| {
                c.get_metric_with_label_values(&[crate::upstream::Limit::MaxLabelLength.as_str()])
                    .ok()
            }) {
                c.inc_by(cutter.cut);
            }
        }
        rendered.truncated_labels = cutter.cut;
        rendered
    }
}

/// This sweep's detail of a profile. Health series describe it only: for a profile whose
/// detail could not be read they are absent ("unknown"), never stale values.
fn fresh(e: &ProfileEntry) -> Option<&crate::model::Profile> {
    if e.up {
        e.profile.as_deref()
    } else {
        None
    }
}

/// Appends sample lines that share per-profile label blocks.
struct Lines<'a> {
    /// The text being written.
    out: Section,
    /// Every profile's escaped `profile_id`, `profile_name`, `organization` labels, back
    /// to back.
    blocks: &'a str,
    /// End of each profile's block in `blocks`.
    block_ends: &'a [usize],
    /// Sample lines written.
    series: usize,
}

impl Lines<'_> {
    fn header(&mut self, name: &str, help: &str) {
        write_help_type(&mut self.out.buf, name, help, MetricType::Gauge);
        self.out.line_done();
    }

    /// Starts a line of `name` for the profile at index `i`: name, `{`, its label block.
    fn open(&mut self, name: &str, i: usize) {
        let start = if i == 0 { 0 } else { self.block_ends[i - 1] };
        let out = &mut self.out.buf;
        out.push_str(name);
        out.push('{');
        out.push_str(&self.blocks[start..self.block_ends[i]]);
    }

    fn label(&mut self, name: &str, value: &str) {
        let out = &mut self.out.buf;
        out.push(',');
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }

    fn close_u64(&mut self, value: u64) {
        // Integers as integers: exact even beyond 2^53, unlike a detour through f64.
        let _ = writeln!(self.out.buf, "}} {value}");
        self.series += 1;
        self.out.line_done();
    }

    fn close_f64(&mut self, value: f64) {
        let out = &mut self.out.buf;
        out.push_str("} ");
        write_value(out, value);
        out.push('\n');
        self.series += 1;
        self.out.line_done();
    }
}

/// The gzip member header: magic, deflate, no flags, no mtime, no extra flags, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Appends `data` to `out` as a raw deflate stream of its own, ended by `flush`:
/// `Finish` for a final block, `Sync` for a byte-aligned non-final end that another stream
/// may follow.
fn deflate(data: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
    let mut c = Compress::new(Compression::new(GZIP_LEVEL), false);
    compress_into(&mut c, data, out, flush);
}

/// Feeds all of `data` to `c`, appending its output to `out`, then flushes as told:
/// `None` (more input follows), `Sync` or `Finish`.
fn compress_into(c: &mut Compress, data: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
    let start = c.total_in();
    loop {
        let consumed = usize::try_from(c.total_in() - start)
            .unwrap_or(data.len())
            .min(data.len());
        // `compress_vec` writes into the spare capacity only; keep some there.
        if out.capacity() - out.len() < 1024 {
            out.reserve((data.len() - consumed) / 4 + 4096);
        }
        let (in_before, out_before) = (c.total_in(), c.total_out());
        let status = c.compress_vec(&data[consumed..], out, flush);
        let all_in = usize::try_from(c.total_in() - start).unwrap_or(usize::MAX) >= data.len();
        let done = match (&status, flush) {
            (Ok(Status::StreamEnd), _) => true,
            (Ok(_), FlushCompress::Finish) => false,
            // Otherwise the call is over when all input is in and the output did not fill
            // up (a full output may hide more flushed bytes).
            (Ok(_), _) => all_in && out.len() < out.capacity(),
            _ => false,
        };
        if done {
            return;
        }
        let stuck = c.total_in() == in_before && c.total_out() == out_before;
        if status.is_err() || (stuck && out.len() < out.capacity()) {
            // Cannot happen with a growing buffer; never loop forever if it does.
            tracing::error!("deflate made no progress; the gzip body will be invalid");
            return;
        }
    }
}

/// Inflates a raw deflate stream of known output length chunk by chunk.
struct Inflating {
    /// The stream.
    src: Bytes,
    /// The decompressor.
    d: Decompress,
    /// Output bytes still expected.
    left: usize,
}

impl Inflating {
    fn new(src: Bytes, len: usize) -> Self {
        Self {
            src,
            d: Decompress::new(false),
            left: len,
        }
    }
}

impl Iterator for Inflating {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(INFLATE_CHUNK.min(self.left));
        while out.len() < out.capacity() {
            let at = usize::try_from(self.d.total_in())
                .unwrap_or(self.src.len())
                .min(self.src.len());
            let before = (self.d.total_in(), self.d.total_out());
            let status = self
                .d
                .decompress_vec(&self.src[at..], &mut out, FlushDecompress::None);
            let stuck = before == (self.d.total_in(), self.d.total_out());
            match status {
                Ok(Status::StreamEnd) => break,
                Ok(_) if !stuck => {}
                _ => {
                    // Our own stream, so this cannot happen; end the body rather than spin.
                    tracing::error!("the cached metrics stream did not inflate; body cut short");
                    self.left = 0;
                    return (!out.is_empty()).then(|| Bytes::from(out));
                }
            }
        }
        self.left = self.left.saturating_sub(out.len());
        if out.is_empty() {
            self.left = 0;
            return None;
        }
        Some(Bytes::from(out))
    }
}

/// The body of one `/metrics` scrape as a sequence of shared chunks of known total length,
/// produced as they are sent: no copy of the large profile section, and for a plain scrape
/// of a section kept only compressed, at most one chunk of it inflated at a time.
pub struct ScrapeStream {
    /// Chunks sent first, as they are.
    ready: VecDeque<Bytes>,
    /// Then, for a plain scrape of a section not kept as text, its text inflated.
    inflating: Option<Inflating>,
    /// Bytes still to come.
    remaining: u64,
}

impl std::fmt::Debug for ScrapeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeStream")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl ScrapeStream {
    /// Bytes still to come (exact: what a `Content-Length` header may say).
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Iterator for ScrapeStream {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let chunk = match self.ready.pop_front() {
            Some(c) => c,
            None => self.inflating.as_mut()?.next()?,
        };
        self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
        Some(chunk)
    }
}

/// The body of one `/metrics` scrape: self-metrics, then per-profile series; with `gzip`,
/// one gzip member built around the cached compressed profile section.
pub fn scrape_stream(
    monitor: &MonitorMetrics,
    profiles: &RenderedProfiles,
    gzip: bool,
) -> ScrapeStream {
    let own = monitor.encode();
    if !gzip {
        let total = (own.len() + profiles.plain_len) as u64;
        let mut ready = VecDeque::with_capacity(2);
        ready.push_back(Bytes::from(own));
        let inflating = match &profiles.plain {
            Some(p) => {
                ready.push_back(p.clone());
                None
            }
            None => Some(Inflating::new(
                profiles.deflated.clone(),
                profiles.plain_len,
            )),
        };
        return ScrapeStream {
            ready,
            inflating,
            remaining: total,
        };
    }
    let mut head = Vec::with_capacity(own.len() / 4 + 1024);
    head.extend_from_slice(&GZIP_HEADER);
    deflate(&own, &mut head, FlushCompress::Sync);

    let mut crc = Crc::new();
    crc.update(&own);
    crc.combine(&profiles.crc);
    // ISIZE is the length modulo 2^32 (RFC 1952).
    let total = (own.len() as u64).wrapping_add(profiles.plain_len as u64) as u32;
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.sum().to_le_bytes());
    trailer.extend_from_slice(&total.to_le_bytes());

    let ready = VecDeque::from([
        Bytes::from(head),
        profiles.deflated.clone(),
        Bytes::from(trailer),
    ]);
    let remaining = ready.iter().map(|b| b.len() as u64).sum();
    ScrapeStream {
        ready,
        inflating: None,
        remaining,
    }
}

/// The body of one `/metrics` scrape as all its chunks; see [`scrape_stream`], which is
/// what the server sends (a plain scrape of a large section is inflated here in full).
pub fn scrape_chunks(
    monitor: &MonitorMetrics,
    profiles: &RenderedProfiles,
    gzip: bool,
) -> Vec<Bytes> {
    scrape_stream(monitor, profiles, gzip).collect()
}

/// The body of one `/metrics` scrape in one buffer; see [`scrape_stream`].
pub fn scrape_body(monitor: &MonitorMetrics, profiles: &RenderedProfiles, gzip: bool) -> Bytes {
    let stream = scrape_stream(monitor, profiles, gzip);
    let mut body = BytesMut::with_capacity(usize::try_from(stream.remaining()).unwrap_or(0));
    for c in stream {
        body.extend_from_slice(&c);
    }
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiRevision, Profile};
    use crate::snapshot::ApiFailure;
    use inventory_monitor_testkit::exposition::{self, find, matching, parse, Family};
    use std::io::Read;
    use std::time::Duration;

    const PER_PROFILE_FAMILIES: [&str; 11] = [
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
    ];

    const HOSTILE_NAME: &str = "evil \"quoted\" \\ name\nnext_line{x=\"1\"} 9";

    fn full(id: u64, name: &str, connectivity: &str, authentication: &str) -> Profile {
        Profile {
            organization: Some("Main Warehouse".into()),
            profile_type: Some("rest_api".into()),
            status: Some("active".into()),
            authentication_type: Some("bearer".into()),
            sync_frequency: Some("hourly".into()),
            last_sync: Some(1_767_225_000.5),
            last_sync_status: Some("success".into()),
            sync_record_count: Some(1234),
            connectivity: Some(connectivity.into()),
            authentication: Some(authentication.into()),
            last_error: Some("password=hunter2 rejected".into()),
            error_count_24h: Some(0),
            ..Profile::unknown(id, name)
        }
    }

    fn entry(p: Profile, up: bool) -> ProfileEntry {
        ProfileEntry {
            id: p.id,
            name: p.name.clone(),
            organization: p.organization.clone(),
            profile: Some(Arc::new(p)),
            up,
            error: (!up).then(|| "timeout".to_string()),
            consecutive_failures: u32::from(!up),
        }
    }

    fn snapshot(profiles: Vec<ProfileEntry>) -> Snapshot {
        Snapshot {
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            duration: Duration::from_millis(2500),
            list: ListOutcome::Complete,
            listed: Some(profiles.len()),
            profiles,
            gone: Vec::new(),
            shard: Shard::default(),
        }
    }

    /// The fixture every rendering test starts from.
    fn fixture() -> Snapshot {
        let healthy = full(1, "alpha", "healthy", "valid");
        let mut degraded = full(2, "beta", "degraded", "expired");
        degraded.error_count_24h = Some(17);
        degraded.last_sync_status = Some("failed".into());
        let flaky = full(3, "gamma", "flaky", "valid");
        let null_health = Profile {
            organization: Some("Main Warehouse".into()),
            status: Some("active".into()),
            ..Profile::unknown(4, "delta")
        };
        let legacy = Profile {
            revision: ApiRevision::Legacy,
            profile_type: Some("database".into()),
            status: Some("active".into()),
            connectivity: Some("unhealthy".into()),
            last_tested: Some(1_767_225_500.0),
            ..Profile::unknown(5, "epsilon")
        };
        let mut inactive = full(6, "zeta", "healthy", "valid");
        inactive.status = Some("inactive".into());
        let hostile = full(7, HOSTILE_NAME, "healthy", "valid");
        let unreachable = full(8, "eta", "healthy", "valid");
        let never_read = ProfileEntry {
            id: 9,
            name: "theta".into(),
            organization: None,
            profile: None,
            up: false,
            error: Some("timeout".into()),
            consecutive_failures: 4,
        };
        snapshot(vec![
            entry(healthy, true),
            entry(degraded, true),
            entry(flaky, true),
            entry(null_health, true),
            entry(legacy, true),
            entry(inactive, true),
            entry(hostile, true),
            entry(unreachable, false),
            never_read,
        ])
    }

    fn render_parsed(
        pm: &mut ProfileMetrics,
        snap: &Snapshot,
        firing: &[FiringLabel<'_>],
    ) -> Vec<Family> {
        let rendered = pm.render(snap, firing);
        let text = std::str::from_utf8(rendered.plain()).expect("utf-8");
        let families = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let samples: usize = families.iter().map(|f| f.samples.len()).sum();
        assert_eq!(rendered.series(), samples);
        families
    }

    fn id(n: u64) -> String {
        n.to_string()
    }

    fn value(families: &[Family], name: &str, profile: u64) -> Option<f64> {
        let id = id(profile);
        let hits = matching(families, name, &[("profile_id", &id)]);
        assert!(hits.len() <= 1, "{name} for {profile}: {hits:?}");
        hits.first().map(|s| s.value)
    }

    #[test]
    fn every_family_has_help_and_gauge_type_in_a_fixed_order() {
        let families = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
        let names: Vec<_> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, PER_PROFILE_FAMILIES);
        for f in &families {
            assert!(
                f.help.as_deref().is_some_and(|h| !h.is_empty()),
                "{}",
                f.name
            );
            assert_eq!(f.kind.as_deref(), Some("gauge"), "{}", f.name);
        }
        // Even with no profiles at all.
        let empty = render_parsed(&mut ProfileMetrics::new(), &snapshot(vec![]), &[]);
        assert_eq!(
            empty.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            PER_PROFILE_FAMILIES
        );
        assert!(empty.iter().all(|f| f.samples.is_empty()));
    }

    #[test]
    fn healthy_profile_has_every_series() {
        let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
        let info = matching(&f, "inventory_profile_info", &[("profile_id", "1")]);
        assert_eq!(info.len(), 1);
        assert_eq!(
            info[0].labels,
            [
                ("profile_id", "1"),
                ("profile_name", "alpha"),
                ("organization", "Main Warehouse"),
                ("profile_type", "rest_api"),
                ("status", "active"),
                ("authentication_type", "bearer"),
                ("sync_frequency", "hourly"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(info[0].value, 1.0);
        assert_eq!(value(&f, "inventory_profile_up", 1), Some(1.0));
        assert_eq!(
            value(&f, "inventory_profile_connectivity_healthy", 1),
            Some(1.0)
        );
        assert_eq!(
            value(&f, "inventory_profile_authentication_valid", 1),
            Some(1.0)
        );
        assert_eq!(value(&f, "inventory_profile_errors_24h", 1), Some(0.0));
        assert_eq!(
            value(&f, "inventory_profile_last_sync_timestamp_seconds", 1),
            Some(1_767_225_000.5)
        );
        assert_eq!(
            value(&f, "inventory_profile_last_sync_success", 1),
            Some(1.0)
        );
        assert_eq!(value(&f, "inventory_profile_sync_records", 1), Some(1234.0));
        assert_eq!(value(&f, "inventory_profile_active", 1), Some(1.0));
        let states = matching(&f, "inventory_profile_health_state", &[("profile_id", "1")]);
        let pairs: Vec<_> = states
            .iter()
            .map(|s| {
                (
                    s.label("check").unwrap_or(""),
                    s.label("state").unwrap_or(""),
                    s.value,
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [
                ("connectivity", "healthy", 1.0),
                ("authentication", "valid", 1.0)
            ]
        );
    }

    #[test]
    fn degraded_and_unknown_values_read_as_not_healthy_and_keep_their_raw_state() {
        let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
        assert_eq!(
            value(&f, "inventory_profile_connectivity_healthy", 2),
            Some(0.0)
        );
        assert_eq!(
            value(&f, "inventory_profile_authentication_valid", 2),
            Some(0.0)
        );
        assert_eq!(value(&f, "inventory_profile_errors_24h", 2), Some(17.0));
        assert_eq!(
            value(&f, "inventory_profile_last_sync_success", 2),
            Some(0.0)
        );
        let state = |p: &str, check: &str| {
            let hits = matching(
                &f,
                "inventory_profile_health_state",
                &[("profile_id", p), ("check", check)],
            );
            assert_eq!(hits.len(), 1, "{p} {check}");
            hits[0].label("state").map(str::to_owned)
        };
        assert_eq!(state("2", "connectivity").as_deref(), Some("degraded"));
        assert_eq!(state("2", "authentication").as_deref(), Some("expired"));
        assert_eq!(
            value(&f, "inventory_profile_connectivity_healthy", 3),
            Some(0.0)
        );
        assert_eq!(state("3", "connectivity").as_deref(), Some("flaky"));
    }

    #[test]
    fn unknown_fields_leave_their_series_absent() {
        let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
        // Null health: up and active, nothing else known.
        assert_eq!(value(&f, "inventory_profile_up", 4), Some(1.0));
        assert_eq!(value(&f, "inventory_profile_active", 4), Some(1.0));
        for name in [
            "inventory_profile_connectivity_healthy",
            "inventory_profile_authentication_valid",
            "inventory_profile_health_state",
            "inventory_profile_errors_24h",
            "inventory_profile_last_sync_timestamp_seconds",
            "inventory_profile_last_sync_success",
            "inventory_profile_sync_records",
        ] {
            assert_eq!(value(&f, name, 4), None, "{name}");
        }
        let info = matching(&f, "inventory_profile_info", &[("profile_id", "4")]);
        assert_eq!(info[0].label("profile_type"), Some(""));
        assert_eq!(info[0].label("sync_frequency"), Some(""));
        // Legacy: connectivity known (unhealthy), authentication unknown.
        assert_eq!(
            value(&f, "inventory_profile_connectivity_healthy", 5),
            Some(0.0)
        );
        assert_eq!(value(&f, "inventory_profile_authentication_valid", 5), None);
        let legacy_states = matching(&f, "inventory_profile_health_state", &[("profile_id", "5")]);
        assert_eq!(legacy_states.len(), 1);
        assert_eq!(legacy_states[0].label("check"), Some("connectivity"));
        assert_eq!(legacy_states[0].label("state"), Some("unhealthy"));
        let legacy_info = matching(&f, "inventory_profile_info", &[("profile_id", "5")]);
        assert_eq!(legacy_info[0].label("organization"), Some(""));
        assert_eq!(legacy_info[0].label("profile_type"), Some("database"));
    }

    #[test]
    fn inactive_profile_is_exported_with_active_zero() {
        let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
        assert_eq!(value(&f, "inventory_profile_active", 6), Some(0.0));
        assert_eq!(
            value(&f, "inventory_profile_connectivity_healthy", 6),
            Some(1.0)
        );
    }

    #[test]
    fn unreadable_detail_keeps_info_and_active_but_drops_health() {
        let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
        assert_eq!(value(&f, "inventory_profile_up", 8), Some(0.0));
        assert_eq!(value(&f, "inventory_profile_info", 8), Some(1.0));
        assert_eq!(value(&f, "inventory_profile_active", 8), Some(1.0));
        for name in [
            "inventory_profile_connectivity_healthy",
            "inventory_profile_authentication_valid",
            "inventory_profile_health_state",
            "inventory_profile_errors_24h",
            "inventory_profile_last_sync_timestamp_seconds",
            "inventory_profile_last_sync_success",
            "inventory_profile_sync_records",
        ] {
            assert_eq!(value(&f, name, 8), None, "{name}");
        }
        // Never read at all: only `up`, labelled from the list.
        assert_eq!(value(&f, "inventory_profile_up", 9), Some(0.0));
        let up = matching(&f, "inventory_profile_up", &[("profile_id", "9")]);
        assert_eq!(up[0].label("profile_name"), Some("theta"));
        assert_eq!(up[0].label("organization"), Some(""));
        let all_9: usize = f
            .iter()
            .flat_map(|fam| &fam.samples)
            .filter(|s| s.label("profile_id") == Some("9"))
            .count();
        assert_eq!(all_9, 1);
    }

    #[test]
    fn hostile_names_round_trip_and_forge_nothing() {
        let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &[]);
        let up = matching(&f, "inventory_profile_up", &[("profile_id", "7")]);
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].label("profile_name"), Some(HOSTILE_NAME));
        assert!(exposition::samples_named(&f, "next_line").is_empty());
        // Sensitive text never becomes a label.
        let rendered = ProfileMetrics::new().render(&fixture(), &[]);
        let text = std::str::from_utf8(rendered.plain()).expect("utf-8");
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn profiles_come_in_id_order_within_each_family() {
        let mut snap = fixture();
        snap.profiles.reverse();
        let f = render_parsed(&mut ProfileMetrics::new(), &snap, &[]);
        let ids: Vec<u64> = exposition::samples_named(&f, "inventory_profile_up")
            .iter()
            .filter_map(|s| s.label("profile_id")?.parse().ok())
            .collect();
        assert_eq!(ids, (1..=9).collect::<Vec<u64>>());
    }

    #[test]
    fn firing_alerts_are_labelled_from_the_snapshot() {
        let firing = [
            FiringLabel {
                profile_id: 2,
                alertname: "ProfileErrorsHigh",
                severity: "warning",
            },
            FiringLabel {
                profile_id: 2,
                alertname: "ProfileConnectivityDegraded",
                severity: "critical",
            },
            FiringLabel {
                profile_id: 2,
                alertname: "ProfileConnectivityDegraded",
                severity: "critical",
            },
            FiringLabel {
                profile_id: 8,
                alertname: "ProfileUnreachable",
                severity: "warning",
            },
            FiringLabel {
                profile_id: 404,
                alertname: "ProfileUnreachable",
                severity: "warning",
            },
        ];
        let f = render_parsed(&mut ProfileMetrics::new(), &fixture(), &firing);
        let all = exposition::samples_named(&f, "inventory_profile_alert_firing");
        let got: Vec<_> = all
            .iter()
            .map(|s| {
                (
                    s.label("profile_id").unwrap_or(""),
                    s.label("profile_name").unwrap_or(""),
                    s.label("alertname").unwrap_or(""),
                    s.label("severity").unwrap_or(""),
                    s.value,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2", "beta", "ProfileConnectivityDegraded", "critical", 1.0),
                ("2", "beta", "ProfileErrorsHigh", "warning", 1.0),
                ("8", "eta", "ProfileUnreachable", "warning", 1.0),
            ]
        );
        assert_eq!(all[0].label("organization"), Some("Main Warehouse"));
    }

    #[test]
    fn removed_and_renamed_profiles_leave_no_series_behind() {
        let mut pm = ProfileMetrics::new();
        let firing = [FiringLabel {
            profile_id: 2,
            alertname: "ProfileErrorsHigh",
            severity: "warning",
        }];
        let first = render_parsed(&mut pm, &fixture(), &firing);
        assert_eq!(value(&first, "inventory_profile_up", 2), Some(1.0));

        let mut snap = fixture();
        snap.profiles.retain(|e| e.id != 2);
        let renamed = &mut snap.profiles[0];
        renamed.name = "alpha-renamed".into();
        let second = render_parsed(&mut pm, &snap, &[]);
        let mentions = |name: &str, value: &str| {
            second
                .iter()
                .flat_map(|f| &f.samples)
                .filter(|s| s.label(name) == Some(value))
                .count()
        };
        assert_eq!(mentions("profile_id", "2"), 0);
        assert_eq!(mentions("profile_name", "alpha"), 0);
        assert!(mentions("profile_name", "alpha-renamed") > 0);
        assert!(exposition::samples_named(&second, "inventory_profile_alert_firing").is_empty());
    }

    #[test]
    fn state_label_is_capped_with_other() {
        let mut pm = ProfileMetrics::with_state_cap(2);
        let states = ["weird-1", "weird-2", "weird-3", "degraded", "other"];
        let snap = snapshot(
            states
                .iter()
                .enumerate()
                .map(|(i, s)| entry(full(i as u64 + 1, "p", s, "valid"), true))
                .collect(),
        );
        let f = render_parsed(&mut pm, &snap, &[]);
        let state_of = |f: &[Family], id: &str| {
            matching(
                f,
                "inventory_profile_health_state",
                &[("profile_id", id), ("check", "connectivity")],
            )
            .first()
            .and_then(|s| s.label("state").map(str::to_owned))
        };
        assert_eq!(state_of(&f, "1").as_deref(), Some("weird-1"));
        assert_eq!(state_of(&f, "2").as_deref(), Some("weird-2"));
        assert_eq!(state_of(&f, "3").as_deref(), Some("other"));
        assert_eq!(
            state_of(&f, "4").as_deref(),
            Some("degraded"),
            "known values bypass the cap"
        );
        // Admitted values stay admitted in later sweeps; the cap is per check.
        let later = snapshot(vec![
            entry(full(1, "p", "weird-3", "weird-a"), true),
            entry(full(2, "p", "weird-2", "weird-b"), true),
        ]);
        let f = render_parsed(&mut pm, &later, &[]);
        assert_eq!(state_of(&f, "1").as_deref(), Some("other"));
        assert_eq!(state_of(&f, "2").as_deref(), Some("weird-2"));
        let auth = matching(
            &f,
            "inventory_profile_health_state",
            &[("check", "authentication")],
        );
        let auth: Vec<_> = auth.iter().filter_map(|s| s.label("state")).collect();
        assert_eq!(auth, ["weird-a", "weird-b"]);
    }

    #[test]
    fn duplicate_ids_do_not_make_the_body_invalid() {
        let mut snap = fixture();
        let dup = snap.profiles[0].clone();
        snap.profiles.push(dup);
        let f = render_parsed(&mut ProfileMetrics::new(), &snap, &[]);
        assert_eq!(
            matching(&f, "inventory_profile_up", &[("profile_id", "1")]).len(),
            1
        );
    }

    fn gunzip_single(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    fn gunzip_multi(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(body)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn gzip_body_decodes_to_the_plain_body() {
        let monitor = MonitorMetrics::new(Shard { index: 1, count: 3 });
        monitor
            .upstream_requests
            .with_label_values(&["list", "200"])
            .inc();
        let mut pm = ProfileMetrics::new();
        let firing = [FiringLabel {
            profile_id: 1,
            alertname: "ProfileSyncStale",
            severity: "warning",
        }];
        for rendered in [RenderedProfiles::empty(), pm.render(&fixture(), &firing)] {
            let plain = scrape_body(&monitor, &rendered, false);
            let gz = scrape_body(&monitor, &rendered, true);
            assert_eq!(&gz[..2], [0x1f, 0x8b]);
            assert_eq!(gunzip_single(&gz), plain.to_vec());
            assert_eq!(gunzip_multi(&gz), plain.to_vec());
            // And the whole body is valid exposition format.
            let text = std::str::from_utf8(&plain).expect("utf-8");
            let families = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(
                find(&families, "inventory_monitor_shard_index", &[]),
                Some(1.0)
            );
        }
    }

    #[test]
    fn gzip_of_a_large_section_spanning_many_deflate_blocks_decodes() {
        // Enough distinct text that the cached stream has many blocks, and a self-metrics
        // part with many counters so its sync-flushed stream is not trivial either.
        let profiles = (1..=3_000u64)
            .map(|i| {
                let mut p = full(
                    i,
                    &format!("warehouse-{i}-{}", i * 7919 % 10_007),
                    "healthy",
                    "valid",
                );
                p.sync_record_count = Some(i * 104_729);
                entry(p, i % 7 != 0)
            })
            .collect();
        let rendered = ProfileMetrics::new().render(&snapshot(profiles), &[]);
        let monitor = MonitorMetrics::new(Shard::default());
        for code in 100..400 {
            monitor
                .upstream_requests
                .with_label_values(&["detail", &code.to_string()])
                .inc_by(code);
        }
        let plain = scrape_body(&monitor, &rendered, false);
        let gz = scrape_body(&monitor, &rendered, true);
        assert!(
            gz.len() * 4 < plain.len(),
            "compresses: {} vs {}",
            gz.len(),
            plain.len()
        );
        assert_eq!(gunzip_single(&gz), plain.to_vec());
        assert_eq!(gunzip_multi(&gz), plain.to_vec());
        // Chunks add up to the body.
        let chunks = scrape_chunks(&monitor, &rendered, true);
        assert_eq!(chunks.concat(), gz.to_vec());
    }

    fn many_profiles(n: u64) -> Snapshot {
        snapshot(
            (1..=n)
                .map(|i| {
                    let mut p = full(
                        i,
                        &format!("site-{i}-{}", i * 7919 % 10_007),
                        "healthy",
                        "valid",
                    );
                    p.sync_record_count = Some(i * 104_729);
                    entry(p, i % 5 != 0)
                })
                .collect(),
        )
    }

    #[test]
    fn a_section_over_the_plain_limit_is_kept_compressed_and_served_the_same() {
        let snap = many_profiles(2_000);
        let kept = ProfileMetrics::new().render(&snap, &[]);
        let limit = kept.plain_len() / 3;
        let mut pm = ProfileMetrics::new().with_plain_limit(limit);
        let compressed_only = pm.render(&snap, &[]);
        assert!(kept.keeps_plain());
        assert!(!compressed_only.keeps_plain());
        assert!(
            compressed_only.plain_len() > RENDER_BLOCK * 2,
            "spans blocks"
        );
        assert_eq!(compressed_only.plain_len(), kept.plain_len());
        assert_eq!(compressed_only.series(), kept.series());

        let monitor = MonitorMetrics::new(Shard::default());
        let expected = scrape_body(&monitor, &kept, false);
        let stream = scrape_stream(&monitor, &compressed_only, false);
        assert_eq!(stream.remaining(), expected.len() as u64);
        let chunks: Vec<Bytes> = stream.collect();
        // Inflated a chunk at a time, never the whole section at once.
        assert!(chunks.len() > 3);
        assert!(chunks[1..].iter().all(|c| c.len() <= INFLATE_CHUNK));
        assert_eq!(chunks.concat(), expected.to_vec());

        let gz = scrape_body(&monitor, &compressed_only, true);
        assert_eq!(gunzip_single(&gz), expected.to_vec());
        assert_eq!(compressed_only.plain(), kept.plain());

        // The next rendering starts without the text (the last one was over the limit);
        // a smaller fleet that fits again still gets its text kept.
        let small = pm.render(&many_profiles(20), &[]);
        assert!(small.keeps_plain());
        assert_eq!(
            small.plain(),
            ProfileMetrics::new()
                .render(&many_profiles(20), &[])
                .plain()
        );
    }

    #[test]
    fn stream_lengths_are_exact() {
        let monitor = MonitorMetrics::new(Shard::default());
        let rendered = ProfileMetrics::new().render(&fixture(), &[]);
        for gzip in [false, true] {
            let stream = scrape_stream(&monitor, &rendered, gzip);
            let announced = stream.remaining();
            let sent: u64 = stream.map(|c| c.len() as u64).sum();
            assert_eq!(announced, sent, "gzip: {gzip}");
        }
    }

    #[test]
    fn self_metrics_follow_sweeps() {
        let m = MonitorMetrics::new(Shard { index: 0, count: 2 });
        let parsed = |m: &MonitorMetrics| {
            let text = String::from_utf8(m.encode()).expect("utf-8");
            parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
        };
        let f = parsed(&m);
        assert_eq!(find(&f, "inventory_monitor_up", &[]), Some(0.0));
        assert_eq!(find(&f, "inventory_monitor_shard_count", &[]), Some(2.0));
        assert_eq!(
            find(
                &f,
                "inventory_monitor_build_info",
                &[("version", crate::VERSION)]
            ),
            Some(1.0)
        );
        for outcome in ["complete", "incomplete", "failed"] {
            assert_eq!(
                find(
                    &f,
                    "inventory_monitor_sweeps_total",
                    &[("outcome", outcome)]
                ),
                Some(0.0)
            );
        }

        let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_603);
        let mut snap = fixture();
        snap.shard = Shard { index: 1, count: 2 };
        m.observe_sweep(&snap, end);
        let f = parsed(&m);
        assert_eq!(find(&f, "inventory_monitor_up", &[]), Some(1.0));
        assert_eq!(find(&f, "inventory_monitor_profiles", &[]), Some(9.0));
        assert_eq!(
            find(&f, "inventory_monitor_sweep_duration_seconds", &[]),
            Some(2.5)
        );
        assert_eq!(
            find(
                &f,
                "inventory_monitor_last_sweep_success_timestamp_seconds",
                &[]
            ),
            Some(1_767_225_603.0)
        );
        assert_eq!(find(&f, "inventory_monitor_shard_index", &[]), Some(1.0));
        assert_eq!(
            find(
                &f,
                "inventory_monitor_sweeps_total",
                &[("outcome", "complete")]
            ),
            Some(1.0)
        );

        // A failed walk: down, the profile count and success time are kept.
        let failed = Snapshot {
            list: ListOutcome::Failed {
                kind: ApiFailure::Unauthorized,
                message: "401".into(),
            },
            listed: None,
            duration: Duration::from_millis(250),
            ..snap.clone()
        };
        m.observe_sweep(&failed, end + Duration::from_secs(60));
        let incomplete = Snapshot {
            list: ListOutcome::Incomplete {
                reason: "page 3 failed".into(),
            },
            listed: None,
            ..snap
        };
        m.observe_sweep(&incomplete, end + Duration::from_secs(120));
        let f = parsed(&m);
        assert_eq!(find(&f, "inventory_monitor_up", &[]), Some(0.0));
        assert_eq!(find(&f, "inventory_monitor_profiles", &[]), Some(9.0));
        assert_eq!(
            find(&f, "inventory_monitor_sweep_duration_seconds", &[]),
            Some(2.5)
        );
        assert_eq!(
            find(
                &f,
                "inventory_monitor_last_sweep_success_timestamp_seconds",
                &[]
            ),
            Some(1_767_225_603.0)
        );
        assert_eq!(
            find(
                &f,
                "inventory_monitor_sweeps_total",
                &[("outcome", "failed")]
            ),
            Some(1.0)
        );
        assert_eq!(
            find(
                &f,
                "inventory_monitor_sweeps_total",
                &[("outcome", "incomplete")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn label_values_are_cut_by_characters_and_marked() {
        assert_eq!(truncate_label_value("abcdef", 6), "abcdef");
        assert_eq!(truncate_label_value("abcdefg", 6), "abcde…");
        assert_eq!(truncate_label_value("", 1), "");
        assert_eq!(truncate_label_value("ab", 1), "…");
        // Characters, not bytes: never a cut inside a UTF-8 sequence.
        assert_eq!(truncate_label_value("東京🚀東京", 4), "東京🚀…");
        assert_eq!(truncate_label_value("東京🚀東", 4), "東京🚀東");
        assert!(matches!(
            truncate_label_value("short", 256),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn limit_hits_start_at_zero_for_every_limit() {
        let m = MonitorMetrics::new(Shard::default());
        let f = parse(&String::from_utf8(m.encode()).expect("utf-8")).expect("valid");
        let family = exposition::family(&f, "inventory_monitor_upstream_limit_hits_total")
            .expect("registered");
        assert_eq!(family.kind.as_deref(), Some("counter"));
        let limits: Vec<&str> = family
            .samples
            .iter()
            .filter_map(|s| s.label("limit"))
            .collect();
        assert_eq!(
            limits,
            [
                "absurd_value",
                "max_body_size",
                "max_label_length",
                "max_profiles"
            ]
        );
        assert!(family.samples.iter().all(|s| s.value == 0.0));
    }

    #[test]
    fn self_metric_families_are_all_there() {
        let m = MonitorMetrics::new(Shard::default());
        m.upstream_requests
            .with_label_values(&["list", "200"])
            .inc();
        m.upstream_invalid_bodies
            .with_label_values(&["detail"])
            .inc();
        m.init_receiver("ops \"chat\"");
        m.notification_queue.set(3);
        let f = parse(&String::from_utf8(m.encode()).expect("utf-8")).expect("valid");
        for (name, kind) in [
            ("inventory_monitor_up", "gauge"),
            ("inventory_monitor_profiles", "gauge"),
            ("inventory_monitor_sweep_duration_seconds", "gauge"),
            (
                "inventory_monitor_last_sweep_success_timestamp_seconds",
                "gauge",
            ),
            ("inventory_monitor_sweeps_total", "counter"),
            ("inventory_monitor_upstream_requests_total", "counter"),
            ("inventory_monitor_upstream_invalid_bodies_total", "counter"),
            ("inventory_monitor_notifications_total", "counter"),
            ("inventory_monitor_notification_queue", "gauge"),
            ("inventory_monitor_build_info", "gauge"),
            ("inventory_monitor_shard_index", "gauge"),
            ("inventory_monitor_shard_count", "gauge"),
        ] {
            let fam = exposition::family(&f, name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(fam.kind.as_deref(), Some(kind), "{name}");
            assert!(fam.help.is_some(), "{name}");
        }
        assert_eq!(
            find(
                &f,
                "inventory_monitor_upstream_requests_total",
                &[("endpoint", "list"), ("code", "200")]
            ),
            Some(1.0)
        );
        assert_eq!(
            find(
                &f,
                "inventory_monitor_notifications_total",
                &[("receiver", "ops \"chat\""), ("outcome", "dropped")]
            ),
            Some(0.0)
        );
        assert_eq!(
            find(&f, "inventory_monitor_notification_queue", &[]),
            Some(3.0)
        );
    }
}
