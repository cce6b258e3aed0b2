//! Judging a snapshot (README, Alerts): the alert conditions, `for`, and the lifecycle
//! pending → firing → resolved.
//!
//! The [`Judge`] keeps the alerts now pending or firing in memory, keyed by
//! `(alertname, profile_id)`. Each [`Judge::evaluate`] reads one [`Snapshot`] and returns the
//! [`Transition`]s it caused: alerts that just started firing and alerts that just resolved.
//! Pending alerts are internal; nobody is told about them.
//!
//! Time always comes from the caller (the daemon's injectable clock), so `for` durations and
//! stale-sync ages are tested by moving a clock, never by sleeping.
//!
//! # What is frozen
//!
//! An alert only changes on knowledge. While the list walk failed (`InventoryApiDown`),
//! nothing is known about any profile: per-profile alerts neither fire, nor resolve, nor are
//! dropped. For a profile whose detail could not be read this sweep, only
//! `ProfileUnreachable` is judged; its other alerts keep their state until it is read again.
//! The one exception is a rule switched off in the configuration: its alerts resolve at the
//! next evaluation, because that needs no knowledge of the profile.
//!
//! # Cost
//!
//! One evaluation is a single pass over the snapshot's profiles. A healthy profile costs a
//! handful of string comparisons and no allocation: messages are only formatted for profiles
//! whose condition holds, and the alerts already active are found through one small map
//! built per evaluation (empty when nothing is wrong).
//!
//! # Layout
//!
//! - [`alert`]: the alert types other modules import ([`Alert`], [`AlertKey`], ...).
//! - `conditions`: one `Condition` per rule, everything about it in one table entry.
//! - `judge`: the lifecycle and the freezing, knowing no rule by name.
//! - [`flap`]: flap detection, the weighted share of state changes per condition (README,
//!   Flapping); [`flap_file`]: its histories in `state.dir/flapping.json`.
//! - [`sync_period`](fn@sync_period): `sync_frequency` words as periods.

pub mod alert;
mod conditions;
pub mod flap;
pub mod flap_file;
mod judge;
mod sync_period;
#[cfg(test)]
mod tests;

pub use crate::vocabulary::{AlertName, Severity};
pub use alert::{Alert, AlertKey, AlertState, Transition};
pub use flap::FlapRecord;
pub use judge::Judge;
pub use sync_period::sync_period;
