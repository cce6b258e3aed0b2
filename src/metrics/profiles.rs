//! The per-profile series (`inventory_profile_*`), rendered from scratch once per sweep.
//!
//! [`FAMILIES`] is the one place that names them: each family's name, help, type and how
//! its lines are written. [`ProfileMetrics::render`] only walks that table, so adding a
//! family is one entry, and the README, dashboards and rules can be checked against what
//! is rendered.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::exposition::{escape_label_value, write_help_type, write_value, MetricType};
use crate::limit::{Edge, Latch, Limit};
use crate::model::Profile;
use crate::snapshot::{ProfileEntry, Snapshot};
use crate::vocabulary::AlertName;

use super::labels::{
    LabelCutter, ProfileLabels, StateVocabulary, DEFAULT_MAX_LABEL_LENGTH, STATE_LABEL_CAP,
};
use super::monitor::MonitorMetrics;
use super::section::{RenderedProfiles, Section, DEFAULT_PLAIN_LIMIT};

/// An alert now firing on a profile, for `inventory_profile_alert_firing`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FiringLabel {
    /// The profile the alert is about.
    pub profile_id: u64,
    /// The alert's name (`ProfileConnectivityDegraded`, ...).
    pub alertname: &'static str,
    /// The alert's severity, shared with the alert.
    pub severity: Arc<str>,
}

/// Renders the per-profile series of each sweep. It keeps state across sweeps only for the
/// bounded `state` vocabulary (so a value keeps its label once admitted) and a size hint.
#[derive(Debug)]
pub struct ProfileMetrics {
    /// The values admitted as `state` labels, per check of [`CHECKS`].
    states: [StateVocabulary; 2],
    /// New values admitted per check before `other`.
    state_cap: usize,
    /// Longest label value taken from the upstream, in characters (`api.max_label_length`).
    max_label_length: usize,
    /// `inventory_monitor_upstream_limit_hits_total`, to count cut label values.
    limit_hits: Option<prometheus::IntCounterVec>,
    /// Length of the last rendering's text, to size the next buffers in one go.
    last_len: usize,
    /// Length of the last rendering's deflate stream, likewise.
    last_deflated_len: usize,
    /// Largest text kept beside its deflate stream ([`DEFAULT_PLAIN_LIMIT`]).
    plain_limit: usize,
    /// Whether the last renderings cut label values: told when that starts and stops,
    /// not on every sweep (README, Behaviour in detail).
    cutting: Latch,
    /// The (profile id, condition alertname) pairs flapping now, sorted, for
    /// `inventory_profile_flapping` ([`ProfileMetrics::set_flapping`]).
    flapping: Vec<(u64, &'static str)>,
}

impl Default for ProfileMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A sample value: integers stay integers (exact beyond 2^53, unlike a detour through
/// `f64`).
#[derive(Clone, Copy)]
enum Value {
    /// A count, or a 0/1 flag.
    Int(u64),
    /// A timestamp.
    Float(f64),
}

impl Value {
    /// 1 when `b`, else 0.
    fn flag(b: bool) -> Self {
        Value::Int(u64::from(b))
    }
}

/// How a family's lines are written.
#[derive(Clone, Copy)]
enum Lines {
    /// One line per profile whose value is known, labelled with the profile only.
    PerProfile(fn(&ProfileEntry) -> Option<Value>),
    /// Lines of their own shape (more labels, several per profile, not per profile).
    Custom(fn(&mut Render<'_>, &'static str)),
}

/// One per-profile metric family.
struct Family {
    /// The metric name: written here and nowhere else in the code.
    name: &'static str,
    /// Its `# HELP` text.
    help: &'static str,
    /// Its `# TYPE`.
    kind: MetricType,
    /// How its lines are written.
    lines: Lines,
}

/// Every per-profile family, in the order they are rendered. Each comes with HELP and
/// TYPE even when empty; within a family, profiles come in id order.
const FAMILIES: [Family; 12] = [
    Family {
        name: "inventory_profile_info",
        help: "Properties of an inventory connection profile (value always 1); from the last detail read.",
        kind: MetricType::Gauge,
        lines: Lines::Custom(info),
    },
    Family {
        name: "inventory_profile_up",
        help: "1 when the profile's detail was read in the last sweep, else 0.",
        kind: MetricType::Gauge,
        lines: Lines::PerProfile(|e| Some(Value::flag(e.up))),
    },
    Family {
        name: "inventory_profile_connectivity_healthy",
        help: "1 when health_status.connectivity is healthy, 0 otherwise; absent when unknown.",
        kind: MetricType::Gauge,
        lines: Lines::PerProfile(|e| flag_if(fresh(e)?.connectivity.as_deref(), "healthy")),
    },
    Family {
        name: "inventory_profile_authentication_valid",
        help: "1 when health_status.authentication is valid, 0 otherwise; absent when unknown.",
        kind: MetricType::Gauge,
        lines: Lines::PerProfile(|e| flag_if(fresh(e)?.authentication.as_deref(), "valid")),
    },
    Family {
        name: "inventory_profile_health_state",
        help: "The health state as reported (value always 1); state values beyond a cap of new ones are shown as other.",
        kind: MetricType::Gauge,
        lines: Lines::Custom(health_state),
    },
    Family {
        name: "inventory_profile_errors_24h",
        help: "health_status.error_count_24h: errors in the last 24 hours.",
        kind: MetricType::Gauge,
        lines: Lines::PerProfile(|e| fresh(e)?.error_count_24h.map(Value::Int)),
    },
    Family {
        name: "inventory_profile_last_sync_timestamp_seconds",
        help: "Time of the profile's last sync, as Unix time.",
        kind: MetricType::Gauge,
        lines: Lines::PerProfile(|e| fresh(e)?.last_sync.map(Value::Float)),
    },
    Family {
        name: "inventory_profile_last_sync_success",
        help: "1 when last_sync_status is success, else 0; absent when unknown.",
        kind: MetricType::Gauge,
        lines: Lines::PerProfile(|e| flag_if(fresh(e)?.last_sync_status.as_deref(), "success")),
    },
    Family {
        name: "inventory_profile_sync_records",
        help: "sync_record_count: records transferred by the profile's syncs.",
        kind: MetricType::Gauge,
        lines: Lines::PerProfile(|e| fresh(e)?.sync_record_count.map(Value::Int)),
    },
    Family {
        name: "inventory_profile_active",
        help: "1 when the profile's status is active, else 0; absent when unknown.",
        kind: MetricType::Gauge,
        lines: Lines::PerProfile(|e| e.profile.as_ref()?.is_active().map(Value::flag)),
    },
    Family {
        name: "inventory_profile_alert_firing",
        help: "1 for each alert now firing on the profile.",
        kind: MetricType::Gauge,
        lines: Lines::Custom(alert_firing),
    },
    Family {
        name: "inventory_profile_flapping",
        help: "1 while that condition (alertname) of the profile is flapping (README, Flapping).",
        kind: MetricType::Gauge,
        lines: Lines::Custom(flapping),
    },
];

/// A label of a profile's detail and where its value is (`None`: unknown).
type DetailLabel = (&'static str, fn(&Profile) -> Option<&str>);

/// The checks of `inventory_profile_health_state`: the `check` label and the raw value.
const CHECKS: [DetailLabel; 2] = [
    ("connectivity", |p| p.connectivity.as_deref()),
    ("authentication", |p| p.authentication.as_deref()),
];

/// Label names of `inventory_profile_info` beyond the common ones, with their values.
const INFO_LABELS: [DetailLabel; 4] = [
    ("profile_type", |p| p.profile_type.as_deref()),
    ("status", |p| p.status.as_deref()),
    ("authentication_type", |p| p.authentication_type.as_deref()),
    ("sync_frequency", |p| p.sync_frequency.as_deref()),
];

/// `inventory_profile_info`: the last detail read's properties, labels cut to the maximum.
fn info(r: &mut Render<'_>, name: &'static str) {
    for (i, e) in r.entries.iter().enumerate() {
        if let Some(p) = &e.profile {
            r.out.open(name, i);
            for (label, value) in INFO_LABELS {
                r.out.label(label, &r.cutter.cut(value(p).unwrap_or("")));
            }
            r.out.close(Value::Int(1));
        }
    }
}

/// `inventory_profile_health_state`: one line per known check, its `state` bounded by the
/// check's vocabulary.
fn health_state(r: &mut Render<'_>, name: &'static str) {
    for (i, e) in r.entries.iter().enumerate() {
        let Some(p) = fresh(e) else { continue };
        for ((check, raw), vocabulary) in CHECKS.iter().zip(r.states.iter_mut()) {
            if let Some(raw) = raw(p) {
                let raw = r.cutter.cut(raw);
                let state = vocabulary.label(&raw, r.state_cap);
                r.out.open(name, i);
                r.out.label("check", check);
                r.out.label("state", state);
                r.out.close(Value::Int(1));
            }
        }
    }
}

/// `inventory_profile_alert_firing`: one line per firing alert whose profile is in the
/// snapshot.
fn alert_firing(r: &mut Render<'_>, name: &'static str) {
    for f in r.firing {
        // Alerts on profiles no longer in the snapshot have nothing to label them with.
        let Ok(i) = r.entries.binary_search_by_key(&f.profile_id, |e| e.id) else {
            continue;
        };
        r.out.open(name, i);
        r.out.label("alertname", f.alertname);
        r.out.label("severity", &f.severity);
        r.out.close(Value::Int(1));
    }
}

/// `inventory_profile_flapping`: one line per flapping condition of a profile in the
/// snapshot.
fn flapping(r: &mut Render<'_>, name: &'static str) {
    for (profile_id, alertname) in r.flapping {
        let Ok(i) = r.entries.binary_search_by_key(profile_id, |e| e.id) else {
            continue;
        };
        r.out.open(name, i);
        r.out.label("alertname", alertname);
        r.out.close(Value::Int(1));
    }
}

/// 1 when `value` is `want`, 0 when it is something else; `None` when it is unknown.
fn flag_if(value: Option<&str>, want: &str) -> Option<Value> {
    value.map(|v| Value::flag(v == want))
}

/// This sweep's detail of a profile. Health series describe it only: for a profile whose
/// detail could not be read they are absent ("unknown"), never stale values.
fn fresh(e: &ProfileEntry) -> Option<&Profile> {
    if e.up {
        e.profile.as_deref()
    } else {
        None
    }
}

/// One rendering under way: what the families' writers read, and where they write.
struct Render<'a> {
    /// Where lines go.
    out: Writer<'a>,
    /// The snapshot's profiles, in id order, without repeated ids.
    entries: &'a [ProfileEntry],
    /// The firing alerts, sorted, without repeats.
    firing: &'a [FiringLabel],
    /// The flapping conditions, sorted, without repeats.
    flapping: &'a [(u64, &'static str)],
    /// Cuts (and counts) label values from the upstream.
    cutter: LabelCutter,
    /// The `state` vocabularies, per check of [`CHECKS`].
    states: &'a mut [StateVocabulary; 2],
    /// New `state` values admitted per check before `other`.
    state_cap: usize,
}

/// Appends sample lines that share per-profile label blocks.
struct Writer<'a> {
    /// The text being written.
    section: Section,
    /// Every profile's common labels.
    labels: &'a ProfileLabels<'a>,
    /// Sample lines written.
    series: usize,
}

impl Writer<'_> {
    /// The `# HELP` and `# TYPE` lines of a family.
    fn header(&mut self, family: &Family) {
        write_help_type(&mut self.section.buf, family.name, family.help, family.kind);
        self.section.line_done();
    }

    /// Starts a line of `name` for the profile at index `i`: name, `{`, its label block.
    fn open(&mut self, name: &str, i: usize) {
        let out = &mut self.section.buf;
        out.push_str(name);
        out.push('{');
        self.labels.write(out, i);
    }

    /// Appends one more label to the line.
    fn label(&mut self, name: &str, value: &str) {
        let out = &mut self.section.buf;
        out.push(',');
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }

    /// Ends the line with its value.
    fn close(&mut self, value: Value) {
        match value {
            Value::Int(n) => {
                let _ = writeln!(self.section.buf, "}} {n}");
            }
            Value::Float(x) => {
                let out = &mut self.section.buf;
                out.push_str("} ");
                write_value(out, x);
                out.push('\n');
            }
        }
        self.series += 1;
        self.section.line_done();
    }
}

impl ProfileMetrics {
    /// A renderer with an empty vocabulary and the default cap ([`STATE_LABEL_CAP`]).
    pub fn new() -> Self {
        Self::with_state_cap(STATE_LABEL_CAP)
    }

    /// A renderer admitting `cap` new `state` values per check.
    pub fn with_state_cap(cap: usize) -> Self {
        Self {
            states: Default::default(),
            state_cap: cap,
            max_label_length: DEFAULT_MAX_LABEL_LENGTH,
            limit_hits: None,
            cutting: Latch::default(),
            last_len: 0,
            last_deflated_len: 0,
            plain_limit: DEFAULT_PLAIN_LIMIT,
            flapping: Vec::new(),
        }
    }

    /// The conditions flapping now, as (profile id, condition), for the next renderings'
    /// `inventory_profile_flapping`.
    pub fn set_flapping(&mut self, flapping: impl IntoIterator<Item = (u64, AlertName)>) {
        self.flapping = flapping
            .into_iter()
            .map(|(id, name)| (id, name.as_str()))
            .collect();
        self.flapping.sort_unstable();
        self.flapping.dedup();
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
    pub fn with_limit_hits(mut self, counter: prometheus::IntCounterVec) -> Self {
        self.limit_hits = Some(counter);
        self
    }

    /// Renders every per-profile family of `snapshot` (the table `FAMILIES`), with one
    /// `inventory_profile_alert_firing` per firing alert whose profile is in the snapshot.
    /// CPU-bound (it also compresses): call it off the async runtime's worker threads for
    /// large snapshots.
    pub fn render(
        &mut self,
        snapshot: &Snapshot,
        mut firing: Vec<FiringLabel>,
    ) -> RenderedProfiles {
        // The snapshot promises id order without repeats, and is read as it is when it keeps
        // that promise. Otherwise a sorted copy without repeated ids is rendered: duplicate
        // series would make the whole body invalid.
        let sorted;
        let entries: &[ProfileEntry] = if snapshot.profiles.windows(2).all(|w| w[0].id < w[1].id) {
            &snapshot.profiles
        } else {
            let mut copy = snapshot.profiles.clone();
            copy.sort_by_key(|e| e.id);
            copy.dedup_by_key(|e| e.id);
            sorted = copy;
            &sorted
        };

        let mut cutter = LabelCutter::new(self.max_label_length);
        let labels = ProfileLabels::new(entries, &mut cutter);

        firing.sort();
        firing.dedup();

        // Size the buffers from the last rendering; on the first, from the profile count
        // (about 11 label blocks and 600 bytes more per profile), so that a first sweep of
        // a large fleet does not collect text up to the limit only to drop it.
        let text_hint = if self.last_len > 0 {
            self.last_len
        } else {
            labels.text_len() * 11 + entries.len() * 600
        };
        let mut r = Render {
            out: Writer {
                section: Section::new(text_hint, self.last_deflated_len, self.plain_limit),
                labels: &labels,
                series: 0,
            },
            entries,
            firing: &firing,
            flapping: &self.flapping,
            cutter,
            states: &mut self.states,
            state_cap: self.state_cap,
        };
        for family in &FAMILIES {
            r.out.header(family);
            match family.lines {
                Lines::PerProfile(value) => {
                    for (i, e) in r.entries.iter().enumerate() {
                        if let Some(v) = value(e) {
                            r.out.open(family.name, i);
                            r.out.close(v);
                        }
                    }
                }
                Lines::Custom(write) => write(&mut r, family.name),
            }
        }

        let Render {
            mut out, cutter, ..
        } = r;
        let mut rendered = out.section.finish(out.series);
        self.last_len = rendered.plain_len;
        self.last_deflated_len = rendered.deflated.len();
        let cut = cutter.cuts();
        if cut > 0 {
            if let Some(c) = self.limit_hits.as_ref().and_then(|c| {
                c.get_metric_with_label_values(&[Limit::MaxLabelLength.as_str()])
                    .ok()
            }) {
                c.inc_by(cut);
            }
        }
        match self.cutting.observe(cut > 0) {
            Some(Edge::Started) => tracing::warn!(
                label_values = cut,
                max_label_length = self.max_label_length,
                "label values from the upstream are longer than api.max_label_length and \
                 are cut (logged again when none is)"
            ),
            Some(Edge::Stopped { sweeps }) => tracing::info!(
                sweeps,
                max_label_length = self.max_label_length,
                "label values from the upstream are no longer cut"
            ),
            None if cut > 0 => tracing::debug!(label_values = cut, "label values cut"),
            None => {}
        }
        rendered.truncated_labels = cut;
        rendered
    }
}
