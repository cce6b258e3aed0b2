//! The few self-metrics notifications keep. The composition root hands them over from the
//! metrics registry, so that `notify` depends on its counters, not on the registry.

use prometheus::{IntCounter, IntCounterVec, IntGauge};

/// What became of a notification, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    /// The receiver took it.
    Delivered,
    /// The receiver refused it for good.
    Failed,
    /// Given up: too old, or its receiver is no longer configured.
    Dropped,
}

impl Counted {
    /// Every outcome, in the order the series are created.
    const ALL: [Counted; 3] = [Counted::Delivered, Counted::Failed, Counted::Dropped];

    /// The `outcome` label value.
    fn label(self) -> &'static str {
        match self {
            Counted::Delivered => "delivered",
            Counted::Failed => "failed",
            Counted::Dropped => "dropped",
        }
    }
}

/// The notification counters of the metrics registry (clones share the series).
#[derive(Debug, Clone)]
pub struct NotifyCounters {
    /// `inventory_monitor_notifications_total{receiver, outcome}`.
    pub notifications: IntCounterVec,
    /// `inventory_monitor_notification_queue`: notifications waiting for delivery.
    pub queue: IntGauge,
    /// `inventory_monitor_template_failures_total{receiver}`.
    pub template_failures: IntCounterVec,
}

impl NotifyCounters {
    /// Counters over these series.
    pub fn new(
        notifications: IntCounterVec,
        queue: IntGauge,
        template_failures: IntCounterVec,
    ) -> Self {
        Self {
            notifications,
            queue,
            template_failures,
        }
    }

    /// Creates `receiver`'s series at 0, so that a rate over them exists before anything
    /// happens; with `templated`, its template failures' series too, and answers it.
    pub(crate) fn init_receiver(&self, receiver: &str, templated: bool) -> Option<IntCounter> {
        for outcome in Counted::ALL {
            self.notifications
                .with_label_values(&[receiver, outcome.label()]);
        }
        templated.then(|| self.template_failures.with_label_values(&[receiver]))
    }

    /// Counts `n` notifications of `receiver` that came to `outcome`.
    pub(crate) fn add(&self, receiver: &str, outcome: Counted, n: u64) {
        self.notifications
            .with_label_values(&[receiver, outcome.label()])
            .inc_by(n);
    }

    /// Sets the queue length.
    pub(crate) fn set_queue(&self, len: usize) {
        self.queue.set(i64::try_from(len).unwrap_or(i64::MAX));
    }
}
