//! The monitor's own series (`inventory_monitor_*`), in a `prometheus` [`Registry`]. They
//! are few and change between sweeps (request and notification counters), so each scrape
//! encodes them afresh.

use std::time::SystemTime;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::limit::Limit;
use crate::shard::Shard;
use crate::snapshot::{ListOutcome, Snapshot};

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
    /// the upstream sent (see [`Limit`]).
    pub upstream_limit_hits: IntCounterVec,
    /// `inventory_monitor_notifications_total{receiver, outcome="delivered"|"failed"|"dropped"}`.
    pub notifications: IntCounterVec,
    /// `inventory_monitor_notification_queue`: notifications waiting for delivery.
    pub notification_queue: IntGauge,
    /// `inventory_monitor_template_failures_total{receiver}`: attempts to send (retries
    /// included) that used the built-in text because the receiver's template failed or
    /// rendered nothing.
    pub template_failures: IntCounterVec,
    /// `inventory_monitor_build_info{version}`: always 1.
    pub build_info: IntGaugeVec,
    /// `inventory_monitor_shard_index`.
    pub shard_index: IntGauge,
    /// `inventory_monitor_shards`.
    pub shards: IntGauge,
    /// `inventory_monitor_config_last_reload_successful`: 1 unless the last reload failed.
    pub reload_successful: IntGauge,
    /// `inventory_monitor_config_last_reload_success_timestamp_seconds`.
    pub reload_success_time: Gauge,
    /// `inventory_monitor_silences{state="active"|"pending"|"expired"}`.
    pub silences: IntGaugeVec,
    /// `inventory_monitor_alerts{state="pending"|"firing"|"suppressed"}` (suppressed: firing
    /// but silenced, muted by a maintenance window or held by flap detection).
    pub alerts: IntGaugeVec,
}

impl std::fmt::Debug for MonitorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorMetrics")
            .field("up", &self.up.get())
            .field("profiles", &self.profiles.get())
            .finish_non_exhaustive()
    }
}

/// Registers a collector whose definition is fixed in this file. Building or registering
/// it only fails on an invalid or duplicate definition, which the unit tests would catch,
/// never at run time.
fn register<C: Collector + Clone + 'static>(registry: &Registry, made: prometheus::Result<C>) -> C {
    let c = made.expect("static metric definition is valid");
    registry
        .register(Box::new(c.clone()))
        .expect("static metric definitions are distinct");
    c
}

impl MonitorMetrics {
    /// Every self-metric, registered in a fresh registry, with the shard settings set and
    /// `build_info` at 1.
    pub fn new(shard: Shard) -> Self {
        let registry = Registry::new();
        let r = &registry;
        let gauge = |name: &str, help: &str| register(r, IntGauge::new(name, help));
        let seconds = |name: &str, help: &str| register(r, Gauge::new(name, help));
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(r, IntCounterVec::new(Opts::new(name, help), labels))
        };

        let up = gauge(
            "inventory_monitor_up",
            "1 when the last sweep walked every page of the profile list, else 0.",
        );
        let profiles = gauge(
            "inventory_monitor_profiles",
            "Profiles seen in the last complete list walk (this shard's share).",
        );
        let sweep_duration = seconds(
            "inventory_monitor_sweep_duration_seconds",
            "Duration of the last sweep.",
        );
        let last_sweep_success = seconds(
            "inventory_monitor_last_sweep_success_timestamp_seconds",
            "End of the last sweep that walked every list page, as Unix time (0 before the first).",
        );
        let sweeps = counter(
            "inventory_monitor_sweeps_total",
            "Sweeps by how their list walk ended: complete, incomplete or failed.",
            &["outcome"],
        );
        let upstream_requests = counter(
            "inventory_monitor_upstream_requests_total",
            "Requests to the upstream API by endpoint (list, detail) and HTTP status code.",
            &["endpoint", "code"],
        );
        let upstream_invalid_bodies = counter(
            "inventory_monitor_upstream_invalid_bodies_total",
            "Upstream answers whose body was not the expected JSON, by endpoint.",
            &["endpoint"],
        );
        let upstream_limit_hits = counter(
            "inventory_monitor_upstream_limit_hits_total",
            "Protective limits hit by what the upstream sent: max_body_size, max_profiles, max_label_length, absurd_value.",
            &["limit"],
        );
        let notifications = counter(
            "inventory_monitor_notifications_total",
            "Notifications by receiver and outcome (delivered, failed, dropped).",
            &["receiver", "outcome"],
        );
        let notification_queue = gauge(
            "inventory_monitor_notification_queue",
            "Notifications waiting for delivery.",
        );
        let template_failures = counter(
            "inventory_monitor_template_failures_total",
            "Attempts to send (retries included) that used the built-in message because the \
             receiver's template failed at run time or rendered no text.",
            &["receiver"],
        );
        let build_info = register(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "inventory_monitor_build_info",
                    "Build information of the running monitor (value always 1).",
                ),
                &["version"],
            ),
        );
        let shard_index = gauge(
            "inventory_monitor_shard_index",
            "Index of the profile shard this replica owns.",
        );
        let shards = gauge(
            "inventory_monitor_shards",
            "Number of replicas the profiles are sharded over.",
        );
        let reload_successful = gauge(
            "inventory_monitor_config_last_reload_successful",
            "Whether the last configuration reload (SIGHUP) succeeded; 1 before any reload.",
        );
        let reload_success_time = seconds(
            "inventory_monitor_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (start or reload).",
        );

        let silences = register(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "inventory_monitor_silences",
                    "Silences by state: active, pending (starts later) or expired (kept a day).",
                ),
                &["state"],
            ),
        );
        let alerts = register(
            r,
            IntGaugeVec::new(
                Opts::new(
                    "inventory_monitor_alerts",
                    "Alerts by state: pending, firing, or suppressed (firing but silenced, muted or held by flap detection).",
                ),
                &["state"],
            ),
        );
        for state in ["active", "pending", "expired"] {
            silences.with_label_values(&[state]).set(0);
        }
        for state in ["pending", "firing", "suppressed"] {
            alerts.with_label_values(&[state]).set(0);
        }

        reload_successful.set(1);
        reload_success_time.set(crate::clock::unix_seconds(SystemTime::now()));
        build_info.with_label_values(&[crate::VERSION]).set(1);
        // Known label values start at 0, so `rate()` and `increase()` see the first event.
        for outcome in ["complete", "incomplete", "failed"] {
            sweeps.with_label_values(&[outcome]);
        }
        for limit in Limit::ALL {
            upstream_limit_hits.with_label_values(&[limit.as_str()]);
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
            template_failures,
            build_info,
            shard_index,
            shards,
            reload_successful,
            reload_success_time,
            silences,
            alerts,
        };
        metrics.set_shard(shard);
        metrics
    }

    /// Sets `inventory_monitor_silences{state}`.
    pub fn set_silences(&self, active: usize, pending: usize, expired: usize) {
        for (state, n) in [
            ("active", active),
            ("pending", pending),
            ("expired", expired),
        ] {
            self.silences
                .with_label_values(&[state])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Sets `inventory_monitor_alerts{state}`.
    pub fn set_alerts(&self, pending: usize, firing: usize, suppressed: usize) {
        for (state, n) in [
            ("pending", pending),
            ("firing", firing),
            ("suppressed", suppressed),
        ] {
            self.alerts
                .with_label_values(&[state])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Records the outcome of a configuration reload.
    pub fn observe_reload(&self, success: bool, at: SystemTime) {
        self.reload_successful.set(i64::from(success));
        if success {
            self.reload_success_time.set(crate::clock::unix_seconds(at));
        }
    }

    /// Sets `inventory_monitor_shard_index` and `inventory_monitor_shards` (e.g. after a reload).
    pub fn set_shard(&self, shard: Shard) {
        self.shard_index.set(i64::from(shard.index));
        self.shards.set(i64::from(shard.count));
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
