//! The [`Judge`]: the lifecycle pending → firing → resolved, and what is frozen while
//! nothing is known (see the [module documentation](super)). What each rule checks and says
//! is in [`super::conditions`]; this file knows no rule by name.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::clock::rfc3339;
use crate::config::{runbook, RulesConfig};
use crate::model::Profile;
use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use crate::vocabulary::{AlertName, Severity, Suppression};

use super::alert::{Alert, AlertKey, AlertState, Transition};
use super::conditions::{condition, per_profile, subject, Condition, Facts, Scope, CONDITIONS};
use super::flap::{self, FlapRecord, Flaps, Outcome};

/// Why an active alert stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clear {
    /// The condition no longer holds.
    Recovered,
    /// The profile's status puts it out of judgement (inactive without `include_inactive`).
    NotJudged,
    /// The rule was switched off.
    Disabled,
    /// The profile is not in the snapshot any more (deleted, filtered out, other shard).
    Gone,
}

/// What one rule says about one profile in one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The condition holds.
    Holds,
    /// It does not (for this reason).
    Clear(Clear),
    /// Nothing is known: leave the alert as it is.
    Frozen,
}

/// The alert state machine: reads snapshots, keeps pending and firing alerts, reports
/// transitions.
#[derive(Debug, Clone)]
pub struct Judge {
    /// The rules in force.
    rules: RulesConfig,
    /// Pending and firing alerts. A `BTreeMap` so that listings come out in key order for
    /// free; it stays small (only what is wrong), so its log-time lookups cost little.
    /// Each alert is an `Arc` that the status document, the notifier's book and its journal
    /// mirror share ([`Judge::shared`]): an alert is copied (`Arc::make_mut`) only when it
    /// changes while shared, never when a sweep finds it as it was.
    active: BTreeMap<AlertKey, Arc<Alert>>,
    /// The rules before the last [`Judge::set_rules`], until the next evaluation: an
    /// alert that resolves only because a threshold changed says so.
    before: Option<RulesConfig>,
    /// Each watched condition's recent outcomes and whether it flaps (README, Flapping).
    flaps: Flaps,
}

impl Judge {
    /// A judge with no alerts.
    pub fn new(rules: RulesConfig) -> Self {
        Self {
            rules,
            active: BTreeMap::new(),
            before: None,
            flaps: Flaps::default(),
        }
    }

    /// Replaces the rules (config reload). State is kept: pending alerts keep their
    /// `active_since` (a changed `for` applies from the next evaluation), and alerts of a
    /// rule now disabled resolve at the next evaluation.
    pub fn set_rules(&mut self, rules: RulesConfig) {
        let old = std::mem::replace(&mut self.rules, rules);
        // Two reloads between sweeps: the rules the last sweep was judged by count.
        self.before.get_or_insert(old);
    }

    /// The rules in force.
    pub fn rules(&self) -> &RulesConfig {
        &self.rules
    }

    /// Pending and firing alerts, ordered by key.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.active.values().map(|a| &**a)
    }

    /// Pending and firing alerts, ordered by key, as the judge holds them: cloning one
    /// shares it (the status document's and the notifier's copies are these).
    pub fn shared(&self) -> impl Iterator<Item = &Arc<Alert>> {
        self.active.values()
    }

    /// Firing alerts, ordered by key.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts().filter(|a| a.state == AlertState::Firing)
    }

    /// The pending or firing alert with this key.
    pub fn get(&self, key: &AlertKey) -> Option<&Alert> {
        self.active.get(key).map(|a| &**a)
    }

    /// Replaces the alert state with one saved earlier (after a restart). Only pending and
    /// firing alerts are kept; ill-formed ones (a profile id on `InventoryApiDown`, none on a
    /// per-profile alert) are skipped. The next [`Judge::evaluate`] then neither re-announces
    /// what still fires nor forgets to resolve what cleared meanwhile.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        self.active.clear();
        for mut alert in alerts {
            if !alert.key.is_consistent() {
                continue;
            }
            match alert.state {
                AlertState::Resolved => continue,
                AlertState::Pending => alert.firing_since = None,
                AlertState::Firing => {
                    alert.firing_since.get_or_insert(alert.active_since);
                }
            }
            alert.resolved_at = None;
            self.active.insert(alert.key, Arc::new(alert));
        }
    }

    /// The flap histories, to be saved beside the alerts (`state.dir/flapping.json`).
    pub fn flap_records(&self) -> Vec<FlapRecord> {
        self.flaps.records()
    }

    /// Replaces the flap histories with saved ones (after a restart), so that a condition
    /// flapping before is still flapping: its `ProfileFlapping` alert, restored with the
    /// other alerts, is not announced again. Call after [`Judge::restore`].
    pub fn restore_flaps(&mut self, records: Vec<FlapRecord>) {
        self.flaps.restore(records);
    }

    /// The (profile id, condition) pairs flapping now, in order.
    pub fn flapping(&self) -> impl Iterator<Item = (u64, AlertName)> + '_ {
        self.flaps.flapping()
    }

    /// Judges one snapshot at `now` and returns what started firing or resolved, ordered
    /// by key.
    pub fn evaluate(&mut self, snapshot: &Snapshot, now: SystemTime) -> Vec<Transition> {
        let mut out = Vec::new();
        let before = self.before.take();
        let Judge {
            rules,
            active,
            flaps,
            ..
        } = self;
        if !rules.flapping.enabled {
            flaps.clear();
        }
        let facts = Facts {
            rules,
            before: before.as_ref(),
            list: &snapshot.list,
            entry: None,
            profile: None,
            now,
        };
        judge_list(active, &facts, &mut out);

        // Which per-profile alerts are active, by profile: an entry is taken out when its
        // profile is met, so what is left at the end are profiles no longer in the snapshot.
        let mut by_profile: HashMap<u64, u8> = HashMap::new();
        for key in active.keys() {
            if let Some(id) = key.profile_id {
                *by_profile.entry(id).or_default() |= bit(key.alertname);
            }
        }

        if matches!(snapshot.list, ListOutcome::Failed { .. }) {
            // Nothing is known about the profiles: only a rule switched off may end alerts.
            let disabled: Vec<AlertKey> = active
                .keys()
                .filter(|k| k.profile_id.is_some() && !enabled(rules, k.alertname))
                .copied()
                .collect();
            for key in disabled {
                clear(active, key, Clear::Disabled, &facts, &mut out);
            }
        } else {
            for entry in &snapshot.profiles {
                let mask = if by_profile.is_empty() {
                    0
                } else {
                    by_profile.remove(&entry.id).unwrap_or(0)
                };
                judge_profile(active, flaps, &facts, entry, mask, &mut out);
            }
            // A profile missing from the snapshot is gone when the walk saw the whole list
            // or its detail answered 404. After an incomplete walk it may just not have been
            // reached (a daemon restarted mid-churn knows no earlier profiles to fetch):
            // nothing is known, so its alerts stay as they are.
            let complete = snapshot.walk_complete();
            let is_gone = |id: u64| complete || snapshot.gone.binary_search(&id).is_ok();
            if !flaps.is_empty() {
                // A profile gone from the fleet forgets its histories.
                let present: std::collections::HashSet<u64> =
                    snapshot.profiles.iter().map(|e| e.id).collect();
                flaps.retain_profiles(|id| present.contains(&id) || !is_gone(id));
            }
            for (id, mask) in by_profile {
                if mask & bit(AlertName::ProfileFlapping) != 0 {
                    let reason = if !enabled(rules, AlertName::ProfileFlapping) {
                        Some(Clear::Disabled)
                    } else if is_gone(id) {
                        Some(Clear::Gone)
                    } else {
                        None
                    };
                    if let Some(reason) = reason {
                        let keys: Vec<AlertKey> = active
                            .keys()
                            .filter(|k| {
                                k.alertname == AlertName::ProfileFlapping
                                    && k.profile_id == Some(id)
                            })
                            .copied()
                            .collect();
                        for key in keys {
                            clear(active, key, reason, &facts, &mut out);
                        }
                    }
                }
                let gone = is_gone(id);
                for c in per_profile().filter(|c| mask & bit(c.name) != 0) {
                    let reason = if !(c.settings)(rules).enabled {
                        Clear::Disabled
                    } else if gone {
                        Clear::Gone
                    } else {
                        continue;
                    };
                    let key = AlertKey::profile(c.name, id);
                    clear(active, key, reason, &facts, &mut out);
                }
            }
        }

        out.sort_by_key(|t| t.alert.key);
        out
    }
}

/// The rules judged once per sweep on the list walk (`InventoryApiDown`).
fn judge_list(
    active: &mut BTreeMap<AlertKey, Arc<Alert>>,
    facts: &Facts<'_>,
    out: &mut Vec<Transition>,
) {
    for c in CONDITIONS.iter().filter(|c| c.scope == Scope::List) {
        let key = AlertKey {
            alertname: c.name,
            profile_id: None,
            condition: None,
        };
        if (c.holds)(facts) {
            let since = active.get(&key).map_or(facts.now, |a| a.active_since);
            holds(active, c, key, facts, since, false, out);
        } else if active.contains_key(&key) {
            clear(active, key, Clear::Recovered, facts, out);
        }
    }
}

/// Every per-profile rule on one profile entry, each followed by its flap detection.
/// `mask` holds the bits of its alerts already active.
fn judge_profile(
    active: &mut BTreeMap<AlertKey, Arc<Alert>>,
    flaps: &mut Flaps,
    facts: &Facts<'_>,
    entry: &ProfileEntry,
    mask: u8,
    out: &mut Vec<Transition>,
) {
    // When the detail was not read this sweep, `entry.profile` is the last one read:
    // good enough to decide whether the profile is judged, not for its health.
    let profile = entry.profile.as_deref();
    let facts = Facts {
        entry: Some(entry),
        profile,
        ..*facts
    };
    let judged =
        facts.rules.include_inactive || profile.and_then(Profile::is_active) != Some(false);
    for c in per_profile() {
        let verdict = if !(c.settings)(facts.rules).enabled {
            Verdict::Clear(Clear::Disabled)
        } else if !entry.up && c.scope == Scope::Health {
            Verdict::Frozen
        } else if !judged {
            Verdict::Clear(Clear::NotJudged)
        } else if (c.holds)(&facts) {
            Verdict::Holds
        } else {
            Verdict::Clear(Clear::Recovered)
        };
        let flap_rule = &facts.rules.flapping;
        let flapping = flap_rule.enabled && {
            let outcome = match verdict {
                Verdict::Holds => Outcome::Held,
                Verdict::Clear(Clear::Recovered) => Outcome::Cleared,
                Verdict::Frozen => Outcome::Unknown,
                Verdict::Clear(_) => Outcome::Forget,
            };
            flaps.observe(entry.id, c.name, outcome, flap_rule)
        };
        let key = AlertKey::profile(c.name, entry.id);
        match verdict {
            Verdict::Frozen => {}
            Verdict::Clear(reason) => {
                if mask & bit(c.name) != 0 {
                    clear(active, key, reason, &facts, out);
                }
            }
            Verdict::Holds => {
                let since = active.get(&key).map_or(facts.now, |a| a.active_since);
                holds(active, c, key, &facts, since, flapping, out);
            }
        }

        let flap_key = AlertKey::flapping(entry.id, c.name);
        if flapping {
            let Some(history) = flaps.get(entry.id, c.name) else {
                continue;
            };
            let (summary, description) =
                flap::texts(c.name, &subject(&facts).to_string(), history, flap_rule);
            let texts = Texts {
                severity: flap_rule.severity.as_str(),
                runbook_url: &flap_rule.runbook_url,
                profile_name: &entry.name,
                organization: entry.organization.as_deref().unwrap_or(""),
                summary,
                description,
                flapping: false,
            };
            hold(active, flap_key, texts, Duration::ZERO, facts.now, out);
        } else if mask & bit(AlertName::ProfileFlapping) != 0 && active.contains_key(&flap_key) {
            let why = if !flap_rule.enabled {
                resolution(AlertName::ProfileFlapping, Clear::Disabled, &facts)
            } else {
                match verdict {
                    Verdict::Clear(reason @ (Clear::Disabled | Clear::NotJudged)) => {
                        resolution(c.name, reason, &facts)
                    }
                    _ => flap::stopped(c.name, flaps.get(entry.id, c.name), flap_rule),
                }
            };
            resolve(active, flap_key, why, facts.now, out);
        }
    }
}

/// Condition `c` holds for `key`: describe it, then create or update the alert.
fn holds(
    active: &mut BTreeMap<AlertKey, Arc<Alert>>,
    c: &Condition,
    key: AlertKey,
    facts: &Facts<'_>,
    since: SystemTime,
    flapping: bool,
    out: &mut Vec<Transition>,
) {
    let settings = (c.settings)(facts.rules);
    let (summary, description) = c.texts(facts, since);
    let texts = Texts {
        severity: settings.severity,
        runbook_url: settings.runbook_url,
        profile_name: facts.entry.map_or("", |e| &e.name),
        organization: facts
            .entry
            .and_then(|e| e.organization.as_deref())
            .unwrap_or(""),
        summary,
        description,
        flapping,
    };
    hold(active, key, texts, settings.for_, facts.now, out);
}

/// The alert `key` stops: a firing one resolves (and is announced), a pending one is
/// dropped silently. `facts` name the profile when it is still in the snapshot.
fn clear(
    active: &mut BTreeMap<AlertKey, Arc<Alert>>,
    key: AlertKey,
    reason: Clear,
    facts: &Facts<'_>,
    out: &mut Vec<Transition>,
) {
    if active
        .get(&key)
        .is_some_and(|a| a.state == AlertState::Firing)
    {
        let why = resolution(key.alertname, reason, facts);
        resolve(active, key, why, facts.now, out);
    } else {
        active.remove(&key);
    }
}

/// The alert `key` stops, for the reason `why`: a firing one resolves (and is announced), a
/// pending one is dropped silently.
fn resolve(
    active: &mut BTreeMap<AlertKey, Arc<Alert>>,
    key: AlertKey,
    why: String,
    now: SystemTime,
    out: &mut Vec<Transition>,
) {
    let Some(alert) = active.remove(&key) else {
        return;
    };
    if alert.state != AlertState::Firing {
        return;
    }
    // The judge lets go of it: a copy only when the last sweep's readers still hold it.
    let mut alert = Arc::unwrap_or_clone(alert);
    alert.description = Arc::from(format!(
        "{}\nResolved at {}: {why}.",
        alert.description,
        rfc3339(now)
    ));
    alert.state = AlertState::Resolved;
    alert.resolved_at = Some(now);
    out.push(Transition {
        alert: Arc::new(alert),
    });
}

/// The sentence saying why an alert resolved.
fn resolution(name: AlertName, reason: Clear, facts: &Facts<'_>) -> String {
    match reason {
        Clear::Disabled => "the rule was disabled in the configuration".to_string(),
        Clear::Gone => "the profile is no longer monitored (deleted upstream, filtered \
                        out, or moved to another shard)"
            .to_string(),
        Clear::NotJudged => format!(
            "the profile is no longer judged: its status is {:?}",
            facts
                .profile
                .and_then(|p| p.status.as_deref())
                .unwrap_or_default()
        ),
        Clear::Recovered => (condition(name).recovered)(facts),
    }
}

/// Whether the rule raising `name` is switched on.
fn enabled(rules: &RulesConfig, name: AlertName) -> bool {
    (condition(name).settings)(rules).enabled
}

/// This name's bit in a per-profile set of active alerts.
fn bit(name: AlertName) -> u8 {
    1 << (name as u8)
}

/// The condition holds for `key`: create or update the alert, fire it once `for` passed.
fn hold(
    active: &mut BTreeMap<AlertKey, Arc<Alert>>,
    key: AlertKey,
    texts: Texts<'_>,
    for_: Duration,
    now: SystemTime,
    out: &mut Vec<Transition>,
) {
    let slot = active.entry(key).or_insert_with(|| {
        Arc::new(Alert {
            key,
            severity: Arc::from(""),
            profile_name: Arc::from(""),
            organization: Arc::from(""),
            summary: Arc::from(""),
            description: Arc::from(""),
            state: AlertState::Pending,
            active_since: now,
            firing_since: None,
            resolved_at: None,
            suppressed_by: Vec::new(),
            runbook_url: String::new(),
        })
    });
    // The last sweep's readers (status document, notifier, journal mirror) share the alert:
    // it is copied only when something about it changes.
    if !changes(slot, &texts, for_, now) {
        return;
    }
    let alert = Arc::make_mut(slot);
    // Details follow the profile (a new last_error, "unhealthy" → "flaky", a rename)
    // without a transition: the alert is the same one.
    set_severity(&mut alert.severity, texts.severity);
    set_if_changed(&mut alert.profile_name, texts.profile_name);
    set_if_changed(&mut alert.organization, texts.organization);
    if texts.runbook_url.is_empty() {
        alert.runbook_url.clear();
    } else {
        let url = runbook::expand(texts.runbook_url, |name| alert.label(name));
        if alert.runbook_url != url {
            alert.runbook_url = url;
        }
    }
    // Kept when unchanged: the status document's and the notifier's copies of the alert
    // then share these strings rather than each holding its own.
    set_if_changed(&mut alert.summary, &texts.summary);
    set_if_changed(&mut alert.description, &texts.description);
    // While its condition flaps, the alert is judged as ever but not announced: the
    // `ProfileFlapping` alert speaks for it (README, Flapping).
    let marked = alert.suppressed_by.contains(&Suppression::Flapping);
    if texts.flapping && !marked {
        alert.suppressed_by.push(Suppression::Flapping);
    } else if !texts.flapping && marked {
        alert.suppressed_by.retain(|s| *s != Suppression::Flapping);
    }
    if alert.state == AlertState::Pending && fires(alert, for_, now) {
        alert.state = AlertState::Firing;
        alert.firing_since = Some(now);
        // The transition shares the judge's alert: a storm's wave is no copy of its alerts.
        out.push(Transition {
            alert: Arc::clone(slot),
        });
    }
}

/// True when [`hold`] would change `alert`: a label, its runbook link, a text, the
/// flapping mark, or it starts firing. Read without copying a shared alert.
fn changes(alert: &Alert, texts: &Texts<'_>, for_: Duration, now: SystemTime) -> bool {
    let labels_same = *alert.severity == *texts.severity
        && *alert.profile_name == *texts.profile_name
        && *alert.organization == *texts.organization;
    // With the labels unchanged, the link is filled from the alert's own.
    let runbook_same = labels_same
        && if texts.runbook_url.is_empty() {
            alert.runbook_url.is_empty()
        } else {
            runbook::expand(texts.runbook_url, |name| alert.label(name)) == alert.runbook_url
        };
    !runbook_same
        || *alert.summary != *texts.summary
        || *alert.description != *texts.description
        || alert.suppressed_by.contains(&Suppression::Flapping) != texts.flapping
        || (alert.state == AlertState::Pending && fires(alert, for_, now))
}

/// True when the pending `alert` has held for `for_` at `now`.
fn fires(alert: &Alert, for_: Duration, now: SystemTime) -> bool {
    // A clock stepping backwards counts as no time passed, never as a negative age.
    let held = now.duration_since(alert.active_since).unwrap_or_default();
    held >= for_
}

/// Assigns `value` only when it differs, so an unchanged label costs no allocation.
fn set_if_changed(slot: &mut Arc<str>, value: &str) {
    if **slot != *value {
        *slot = Arc::from(value);
    }
}

/// The `severity` label's value, one allocation per severity for every alert: `value` is
/// one of [`Severity::as_str`]'s, or (from a state file) anything else, then allocated.
fn set_severity(slot: &mut Arc<str>, value: &str) {
    static SHARED: OnceLock<[Arc<str>; 3]> = OnceLock::new();
    if **slot == *value {
        return;
    }
    let shared = SHARED.get_or_init(|| Severity::ALL.map(|s| Arc::from(s.as_str())));
    *slot = match shared.iter().find(|s| ***s == *value) {
        Some(s) => s.clone(),
        None => Arc::from(value),
    };
}

/// The label values and messages of an alert whose condition holds.
struct Texts<'a> {
    /// Severity label.
    severity: &'a str,
    /// The rule's `runbook_url`, placeholders unfilled.
    runbook_url: &'a str,
    /// `profile_name` label.
    profile_name: &'a str,
    /// `organization` label.
    organization: &'a str,
    /// Summary annotation.
    summary: String,
    /// Description annotation.
    description: String,
    /// Whether the condition flaps: the alert then carries [`Suppression::Flapping`].
    flapping: bool,
}
