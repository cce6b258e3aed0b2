//! What the soak flips: the simulator, the soak's model of each profile's health, and the
//! episodes it drives with [`Simulator::set_health`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use inventory_monitor::simulator::{HealthField, Simulator};
use serde_json::Value;

use crate::{AUTHENTICATION_FOR, CONNECTIVITY_FOR};

/// The two health checks the episodes drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Check {
    /// `ProfileConnectivityDegraded` (a legacy profile's `test_status` too).
    Connectivity,
    /// `ProfileAuthenticationFailing`.
    Authentication,
}

impl Check {
    /// The alert the daemon raises for it.
    pub(crate) fn alertname(self) -> &'static str {
        match self {
            Check::Connectivity => "ProfileConnectivityDegraded",
            Check::Authentication => "ProfileAuthenticationFailing",
        }
    }

    /// The rule's `for`.
    pub(crate) fn for_(self) -> Duration {
        match self {
            Check::Connectivity => CONNECTIVITY_FOR,
            Check::Authentication => AUTHENTICATION_FOR,
        }
    }

    /// The healthy value.
    pub(crate) fn good(self) -> &'static str {
        match self {
            Check::Connectivity => "healthy",
            Check::Authentication => "valid",
        }
    }

    /// The bad values an episode picks from.
    pub(crate) fn bad_values(self) -> &'static [&'static str] {
        match self {
            Check::Connectivity => &["unhealthy", "degraded", "flaky", "down"],
            Check::Authentication => &["invalid", "expired", "rotating"],
        }
    }
}

/// What the soak knows of one profile's health.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    /// Old API revision: only `test_status`, read as connectivity.
    pub(crate) legacy: bool,
    /// Connectivity as the soak set it (`healthy` / `unhealthy` for a legacy profile's
    /// `success` / `failed`); `None` while null or missing.
    pub(crate) conn: Option<String>,
    /// Authentication; `None` while null or missing (always on a legacy profile).
    pub(crate) auth: Option<String>,
}

impl Profile {
    /// What a served detail says.
    pub(crate) fn read(detail: &Value) -> Profile {
        let legacy = detail.get("health_status").is_none() && detail.get("test_status").is_some();
        if legacy {
            let conn = detail["test_status"].as_str().map(|s| {
                if s == "success" {
                    "healthy".to_string()
                } else {
                    "unhealthy".to_string()
                }
            });
            return Profile {
                legacy,
                conn,
                auth: None,
            };
        }
        let health = &detail["health_status"];
        Profile {
            legacy,
            conn: health["connectivity"].as_str().map(str::to_string),
            auth: health["authentication"].as_str().map(str::to_string),
        }
    }

    /// The value of `check` as the soak set it.
    pub(crate) fn value(&self, check: Check) -> Option<&str> {
        match check {
            Check::Connectivity => self.conn.as_deref(),
            Check::Authentication => self.auth.as_deref(),
        }
    }

    /// True when `check` is set and not healthy.
    pub(crate) fn is_bad(&self, check: Check) -> bool {
        self.value(check).is_some_and(|v| v != check.good())
    }

    /// What the API serves for `check`: a legacy profile has only `success` / `failed`.
    pub(crate) fn served(&self, check: Check) -> Option<String> {
        let v = self.value(check)?;
        if self.legacy {
            Some(if v == "healthy" { "success" } else { "failed" }.to_string())
        } else {
            Some(v.to_string())
        }
    }
}

/// One `set_health` call that changed what the simulator serves.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// The profile.
    pub(crate) id: u64,
    /// The field the simulator logs a transition for.
    pub(crate) field: HealthField,
    /// Just before the call.
    pub(crate) before: SystemTime,
    /// Just after the call.
    pub(crate) after: SystemTime,
}

/// The simulator and the soak's model of the profiles it flips.
pub(crate) struct World {
    /// The simulator (shared with its server task).
    pub(crate) sim: Simulator,
    /// Every original profile, as the soak last set it.
    pub(crate) profiles: BTreeMap<u64, Profile>,
    /// Every call that changed what is served, in order.
    pub(crate) calls: Vec<Call>,
}

impl World {
    /// Sets `check` of `id` to `value`; answers the times just before and just after the
    /// call, or `None` when nothing can change (no such profile, or authentication on a
    /// legacy profile).
    pub(crate) fn set(
        &mut self,
        id: u64,
        check: Check,
        value: &str,
    ) -> Option<(SystemTime, SystemTime)> {
        let p = self.profiles.get_mut(&id)?;
        if p.legacy && check == Check::Authentication {
            return None;
        }
        let field = match (p.legacy, check) {
            (true, _) => HealthField::TestStatus,
            (false, Check::Connectivity) => HealthField::Connectivity,
            (false, Check::Authentication) => HealthField::Authentication,
        };
        let old = p.served(check);
        match check {
            Check::Connectivity => p.conn = Some(value.to_string()),
            Check::Authentication => p.auth = Some(value.to_string()),
        }
        let new = p.served(check);
        let auth = if p.legacy { None } else { p.auth.as_deref() };
        let before = SystemTime::now();
        let found = self.sim.set_health(id, p.conn.as_deref(), auth);
        let after = SystemTime::now();
        if !found {
            return None;
        }
        if old != new {
            self.calls.push(Call {
                id,
                field,
                before,
                after,
            });
        }
        Some((before, after))
    }
}

/// One stretch of one profile's check being bad.
#[derive(Debug, Clone)]
pub(crate) struct Episode {
    /// The profile.
    pub(crate) id: u64,
    /// Which check is bad.
    pub(crate) check: Check,
    /// Just before and just after the call that made it bad.
    pub(crate) t0: (SystemTime, SystemTime),
    /// Just before and just after the call that made it good.
    pub(crate) t1: Option<(SystemTime, SystemTime)>,
    /// The bad values it went through.
    pub(crate) values: Vec<String>,
}

/// An episode under way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live {
    /// Index into the episode log.
    pub(crate) episode: usize,
    /// When it is to end.
    pub(crate) ends: Instant,
    /// When its bad value is to change, if it does.
    pub(crate) change: Option<Instant>,
}
