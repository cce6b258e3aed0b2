//! Health that changes over time: what a drift step does, and the health edits it
//! shares with [`Simulator::set_health`](super::Simulator::set_health).
//!
//! One step, under the profile lock, with the fleet's own seeded dice:
//!
//! 1. each profile drift changed earlier goes back to its original value with
//!    probability 0.35 (so a flip lasts about three steps; the realistic mix: period / 45 s);
//! 2. `ceil(N / 250)` profiles (the realistic mix: 1% of N a minute, spread over the
//!    steps) not already drifted flip one field: connectivity (60%) or
//!    authentication (40%) for the current revision, `test_status` for the legacy one. A
//!    good value turns bad (`unhealthy`/`degraded`, `expired`/`invalid`, `failed`) with a
//!    fresh `last_error` and 5..40 more errors (the realistic mix: 1..6); a bad or
//!    unknown value turns good.
//!    Profiles whose health is null or missing are left alone;
//! 3. `ceil(N / 100)` profiles' `error_count_24h` move: up while a check is failing,
//!    decaying or jittering in `0..=4` otherwise (so healthy profiles never reach the
//!    default `errors` threshold of 10 by drift alone);
//! 4. every active profile whose next sync is due gets `last_sync` = now. Stale
//!    (stuck) and inactive profiles never sync.
//!
//! Steps 1 to 3 use only the dice and the fleet, so for a seed and the same sequence of
//! control calls the flips are the same whatever the clock says.

use std::time::{Duration, SystemTime};

use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::fleet::{authentication_error, connectivity_error, degraded_error};
use super::schema::{unix, SyncPlan};
use super::store::{DriftMark, Fleet};
use super::{FleetMix, HealthField, Transition};
use crate::clock::rfc3339;

/// Probability that a drifted value goes back in a step (the hostile mix).
const RECOVERY_PROBABILITY: f64 = 0.35;

/// The realistic mix: share of the profiles flipped per minute.
const REALISTIC_FLIPS_PER_MINUTE: f64 = 0.01;

/// The realistic mix: how long a flip lasts on average.
const REALISTIC_FLIP_LIFETIME: Duration = Duration::from_secs(45);

/// The drift period assumed when a step is run by hand (no period set).
const DEFAULT_PERIOD: Duration = Duration::from_secs(4);

/// The pace of drift: new flips per step (the fraction is a roll of the dice), the
/// probability that a flip goes back in a step, and the errors a new flip adds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pace {
    flips_per_step: f64,
    recovery: f64,
    added_errors: (u64, u64),
}

impl Pace {
    /// The pace of a fleet of `n` profiles of `mix` drifting every `period`.
    pub(crate) fn new(mix: FleetMix, n: usize, period: Option<Duration>) -> Self {
        match mix {
            FleetMix::Hostile => Self {
                flips_per_step: n.div_ceil(250) as f64,
                recovery: RECOVERY_PROBABILITY,
                added_errors: (5, 40),
            },
            FleetMix::Realistic => {
                let period = period
                    .filter(|p| !p.is_zero())
                    .unwrap_or(DEFAULT_PERIOD)
                    .as_secs_f64();
                Self {
                    flips_per_step: n as f64 * REALISTIC_FLIPS_PER_MINUTE * period / 60.0,
                    recovery: (period / REALISTIC_FLIP_LIFETIME.as_secs_f64()).clamp(0.01, 1.0),
                    added_errors: (1, 6),
                }
            }
        }
    }

    /// How many new flips this step: the whole part, plus one with the fraction's odds.
    fn flips(&self, dice: &mut ChaCha8Rng) -> usize {
        let whole = self.flips_per_step.floor();
        let fraction = self.flips_per_step - whole;
        let extra = fraction > 0.0 && dice.random_bool(fraction.min(1.0));
        whole as usize + usize::from(extra)
    }
}

/// The good value of a health field.
fn good(field: HealthField) -> &'static str {
    match field {
        HealthField::Connectivity => "healthy",
        HealthField::Authentication => "valid",
        HealthField::TestStatus => "success",
    }
}

/// True when the revision of `detail` is the legacy one (health as `test_status`).
pub(super) fn is_legacy(detail: &Value) -> bool {
    detail.get("health_status").is_none() && detail.get("test_status").is_some()
}

/// The current string value of a health field; `None` when null, missing or not a string.
pub(super) fn read(detail: &Value, field: HealthField) -> Option<String> {
    let value = match field {
        HealthField::TestStatus => detail.get("test_status"),
        HealthField::Connectivity => detail.get("health_status")?.get("connectivity"),
        HealthField::Authentication => detail.get("health_status")?.get("authentication"),
    };
    value?.as_str().map(str::to_owned)
}

/// Sets a health field to `to` (`None` = JSON null), creating `health_status` when it is
/// null or missing, and keeps `last_error` consistent: a field turning bad writes a
/// realistic error, all fields good clears it. `dice` only picks the wording. Answers the
/// transition, or `None` when the value did not change.
pub(super) fn write(
    detail: &mut Value,
    field: HealthField,
    to: Option<&str>,
    dice: &mut ChaCha8Rng,
    now: SystemTime,
) -> Option<(Option<String>, Option<String>)> {
    let from = read(detail, field);
    if from.as_deref() == to {
        return None;
    }
    let profile_type = detail
        .get("profile_type")
        .and_then(Value::as_str)
        .unwrap_or("rest_api")
        .to_owned();
    let map = detail.as_object_mut()?;
    let to_value = to.map_or(Value::Null, Value::from);
    if field == HealthField::TestStatus {
        map.insert("test_status".into(), to_value);
        map.insert("last_tested".into(), Value::from(rfc3339(now)));
        return Some((from, to.map(str::to_owned)));
    }
    let health = map
        .entry("health_status")
        .or_insert_with(|| Value::Object(Map::new()));
    if !health.is_object() {
        *health = serde_json::json!({
            "connectivity": null,
            "authentication": null,
            "last_error": null,
            "error_count_24h": 0,
        });
    }
    let health = health.as_object_mut()?;
    let key = match field {
        HealthField::Connectivity => "connectivity",
        _ => "authentication",
    };
    health.insert(key.into(), to_value);
    let bad = |key: &str, good: &str| {
        health
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|v| v != good)
    };
    let any_bad = bad("connectivity", "healthy") || bad("authentication", "valid");
    let turned_bad = to.is_some_and(|v| v != self::good(field));
    if turned_bad {
        let text = match (field, to) {
            (HealthField::Connectivity, Some("degraded")) => degraded_error(dice),
            (HealthField::Connectivity, _) => connectivity_error(dice, &profile_type),
            (_, Some("expired")) => authentication_error(dice, "expired", now),
            _ => authentication_error(dice, "invalid", now),
        };
        health.insert("last_error".into(), Value::from(text));
    } else if !any_bad {
        health.insert("last_error".into(), Value::Null);
    }
    Some((from, to.map(str::to_owned)))
}

/// Dice for the wording of an error written by a control call, so such calls do not
/// consume drift's dice (and the drift sequence stays the same with or without them).
pub(super) fn wording_dice(id: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(id)
}

/// Runs one drift step (see the module doc) and answers the health transitions it made.
pub(super) fn step(fleet: &mut Fleet, now: SystemTime) -> Vec<Transition> {
    let mut out = Vec::new();
    let mut push = |id: u64, field: HealthField, (from, to): (Option<String>, Option<String>)| {
        out.push(Transition {
            at: now,
            id,
            field,
            from,
            to,
        })
    };

    // 1. Drifted values go back.
    let marks: Vec<(u64, DriftMark)> = fleet
        .drifted
        .iter()
        .map(|(id, mark)| (*id, mark.clone()))
        .collect();
    for (id, mark) in marks {
        if !fleet.drift_rng.random_bool(fleet.pace.recovery) {
            continue;
        }
        fleet.drifted.remove(&id);
        let dice = &mut fleet.drift_rng;
        if let Some(change) = fleet.profiles.edit(id, |detail| {
            write(detail, mark.field, mark.original.as_deref(), dice, now)
        }) {
            push(id, mark.field, change);
        }
    }

    let n = fleet.profiles.entries().len();
    if n == 0 {
        return out;
    }

    // 2. New flips.
    let pace = fleet.pace;
    for _ in 0..pace.flips(&mut fleet.drift_rng) {
        for _attempt in 0..8 {
            let index = fleet.drift_rng.random_range(0..n);
            let id = fleet.profiles.entries()[index].id;
            if fleet.drifted.contains_key(&id) {
                continue;
            }
            let dice = &mut fleet.drift_rng;
            let flipped = fleet.profiles.edit_at(index, |detail| {
                let field = if is_legacy(detail) {
                    HealthField::TestStatus
                } else if detail.get("health_status").is_some_and(Value::is_object) {
                    if dice.random_bool(0.6) {
                        HealthField::Connectivity
                    } else {
                        HealthField::Authentication
                    }
                } else {
                    return None;
                };
                let from = read(detail, field)?;
                let to = if from == good(field) {
                    match (field, dice.random_range(0..10)) {
                        (HealthField::Connectivity, 0..=6) => "unhealthy",
                        (HealthField::Connectivity, _) => "degraded",
                        (HealthField::Authentication, 0..=4) => "expired",
                        (HealthField::Authentication, _) => "invalid",
                        (HealthField::TestStatus, _) => "failed",
                    }
                } else {
                    good(field)
                };
                let change = write(detail, field, Some(to), dice, now)?;
                if to != good(field) {
                    let (least, most) = pace.added_errors;
                    add_errors(detail, dice.random_range(least..=most));
                }
                Some((field, change))
            });
            if let Some((field, change)) = flipped {
                fleet.drifted.insert(
                    id,
                    DriftMark {
                        field,
                        original: change.0.clone(),
                    },
                );
                push(id, field, change);
                break;
            }
        }
    }

    // 3. Error counts move.
    for _ in 0..n.div_ceil(100) {
        let index = fleet.drift_rng.random_range(0..n);
        let dice = &mut fleet.drift_rng;
        fleet.profiles.edit_at(index, |detail| {
            let health = detail.get_mut("health_status")?.as_object_mut()?;
            let count = health.get("error_count_24h")?.as_u64()?;
            let failing = health
                .get("connectivity")
                .and_then(Value::as_str)
                .is_some_and(|v| v != "healthy")
                || health
                    .get("authentication")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v != "valid");
            let next = if failing {
                count + dice.random_range(0..=5)
            } else if count > 4 {
                count * 3 / 4
            } else {
                dice.random_range(0..=4)
            };
            (next != count).then(|| {
                health.insert("error_count_24h".into(), Value::from(next));
            })
        });
    }

    // 4. Due syncs happen.
    let now_unix = unix(now);
    for index in 0..n {
        let Some(plan) = fleet.profiles.entries()[index].sync else {
            continue;
        };
        if plan.due > now_unix {
            continue;
        }
        let synced = fleet.profiles.edit_at(index, |detail| {
            detail
                .as_object_mut()?
                .insert("last_sync".into(), Value::from(rfc3339(now)));
            Some(())
        });
        if synced.is_some() {
            let next = SyncPlan {
                every: plan.every,
                due: now_unix + plan.every,
            };
            fleet.profiles.set_sync(index, Some(next));
        }
    }
    out
}

/// Adds to `health_status.error_count_24h` when it is a number.
fn add_errors(detail: &mut Value, more: u64) {
    if let Some(Value::Object(health)) = detail.get_mut("health_status") {
        if let Some(count) = health.get("error_count_24h").and_then(Value::as_u64) {
            health.insert("error_count_24h".into(), Value::from(count + more));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600)
    }

    #[test]
    fn turning_bad_writes_an_error_and_recovering_clears_it() {
        let mut d = json!({"id": 1, "profile_type": "database", "health_status":
            {"connectivity": "healthy", "authentication": "valid", "last_error": null, "error_count_24h": 0}});
        let mut dice = wording_dice(1);
        let change = write(
            &mut d,
            HealthField::Connectivity,
            Some("unhealthy"),
            &mut dice,
            now(),
        );
        assert_eq!(
            change,
            Some((Some("healthy".into()), Some("unhealthy".into())))
        );
        assert!(d["health_status"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Connection refused")));
        assert_eq!(
            write(
                &mut d,
                HealthField::Connectivity,
                Some("unhealthy"),
                &mut dice,
                now()
            ),
            None
        );
        write(
            &mut d,
            HealthField::Connectivity,
            Some("healthy"),
            &mut dice,
            now(),
        );
        assert_eq!(d["health_status"]["last_error"], Value::Null);
    }

    #[test]
    fn the_realistic_pace_is_a_handful_of_changes_a_minute_whatever_the_period() {
        let fast = Pace::new(FleetMix::Realistic, 300, Some(Duration::from_secs(1)));
        let slow = Pace::new(FleetMix::Realistic, 300, Some(Duration::from_secs(10)));
        // 1% of 300 profiles a minute: 3 flips, in 60 steps of 1 s or 6 of 10 s.
        assert!((fast.flips_per_step * 60.0 - 3.0).abs() < 1e-9);
        assert!((slow.flips_per_step * 6.0 - 3.0).abs() < 1e-9);
        assert!(slow.recovery > fast.recovery);
        let hostile = Pace::new(FleetMix::Hostile, 300, Some(Duration::from_secs(1)));
        assert_eq!(hostile.flips_per_step, 2.0);
        assert_eq!(hostile.recovery, RECOVERY_PROBABILITY);

        // Over ten simulated minutes, the rolls give about 3 flips a minute.
        let mut dice = wording_dice(3);
        let flips: usize = (0..600).map(|_| fast.flips(&mut dice)).sum();
        assert!((15..=45).contains(&flips), "{flips} flips in 10 minutes");
        assert_eq!(hostile.flips(&mut dice), 2);
    }

    #[test]
    fn a_realistic_fleet_stays_a_few_percent_failing_with_a_handful_of_changes_a_minute() {
        use crate::simulator::{SimOptions, Simulator};
        let sim = Simulator::new(SimOptions {
            profiles: 300,
            seed: 7,
            legacy_fraction: 0.05,
            drift: Some(std::time::Duration::from_secs(4)),
            mix: FleetMix::Realistic,
            ..SimOptions::default()
        });
        let failing = || {
            sim.profile_ids()
                .into_iter()
                .filter_map(|id| sim.profile_json(id))
                .filter(|p| {
                    read(p, HealthField::Connectivity).is_some_and(|c| c != "healthy")
                        || read(p, HealthField::Authentication).is_some_and(|a| a != "valid")
                        || read(p, HealthField::TestStatus).is_some_and(|t| t != "success")
                })
                .count()
        };
        let before = failing();
        // Ten minutes of 4 s steps.
        let changes: usize = (0..150).map(|_| sim.drift_step().len()).sum();
        let per_minute = changes as f64 / 10.0;
        assert!(
            (2.0..=12.0).contains(&per_minute),
            "{per_minute} changes a minute"
        );
        for count in [before, failing()] {
            assert!((3..=18).contains(&count), "{count} of 300 failing");
        }
    }

    #[test]
    fn writing_health_into_null_creates_the_object() {
        let mut d = json!({"id": 1, "health_status": null});
        let mut dice = wording_dice(1);
        write(
            &mut d,
            HealthField::Authentication,
            Some("valid"),
            &mut dice,
            now(),
        );
        assert_eq!(d["health_status"]["authentication"], "valid");
        assert_eq!(d["health_status"]["connectivity"], Value::Null);
    }

    #[test]
    fn legacy_health_is_the_test_status() {
        let mut d =
            json!({"id": 1, "test_status": "success", "last_tested": "2020-01-01T00:00:00Z"});
        assert!(is_legacy(&d));
        let mut dice = wording_dice(1);
        write(
            &mut d,
            HealthField::TestStatus,
            Some("failed"),
            &mut dice,
            now(),
        );
        assert_eq!(d["test_status"], "failed");
        assert_eq!(d["last_tested"], "2026-01-01T00:00:00Z");
    }
}
