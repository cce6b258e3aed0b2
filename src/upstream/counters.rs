//! The counters the client adds to. Whoever composes the daemon hands them over: the
//! client needs these few handles, not the monitor's whole registry (and `upstream` must
//! not depend on `metrics`, which renders what `upstream` fetched).

use prometheus::IntCounterVec;

/// The counter handles an [`super::UpstreamClient`] adds to. A vector with other labels
/// than the ones named here is left alone rather than panicking.
#[derive(Clone)]
pub struct UpstreamCounters {
    /// Every HTTP attempt, retries included, by `endpoint` (`list`, `detail`) and `code`:
    /// `inventory_monitor_upstream_requests_total`.
    pub requests: IntCounterVec,
    /// Answers whose body was not the expected JSON, by `endpoint`:
    /// `inventory_monitor_upstream_invalid_bodies_total`.
    pub invalid_bodies: IntCounterVec,
    /// Protective limits hit, by `limit` (see [`crate::limit::Limit`]):
    /// `inventory_monitor_upstream_limit_hits_total`. `None`: hits are only summarised in
    /// each sweep's log line.
    pub limit_hits: Option<IntCounterVec>,
}
