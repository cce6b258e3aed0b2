//! The soak's audit: did every alert that had to be announced get announced, was nothing
//! invented, and was nothing repeated except next to a crash?
//!
//! A pure function over plain records (what the soak made the simulator do, what the sink
//! received, when the daemon swept and when it was killed) returning a [`Report`]. It knows
//! nothing of the daemon's types, so that its rules can be tested on crafted records.
//!
//! # The rules
//!
//! Sweeps are the daemon's `sweep ...` log lines: their timestamp, written after the judge
//! ran, and their `seconds`. A sweep counts when a later line of the same process exists:
//! that proves its results reached the state file (written right after the log line, before
//! the next sweep), so a SIGKILL cannot have taken them back. For such a sweep, `lo_start`
//! is the previous line of the same process (or the process's spawn time): its reads all
//! happened after that; and `lo_start + seconds` is at most the time the judge ran.
//!
//! **Required.** An episode from `t0` to `t1` must be announced firing when, with `j` the
//! first counted complete sweep with `lo_start >= t0`, `j'` the one after it (pending by
//! then at the latest), `k` the first after `j'` with `lo_start + seconds >= ts(j') + for`
//! and `k'` the one after `k` (firing by then at the latest), `ts(k') + group_wait <= t1`.
//! Two episodes of one alert with no sweep wholly between them are one.
//!
//! **Spurious.** Every alert announced firing must belong to an episode of its profile and
//! alert: `startsAt` no earlier than `t0 + for - 1 s` and no later than `t1` plus the
//! longest sweep plus 2 s; one alert per episode; a resolution only for an alert announced
//! firing, and only once the daemon can have read the check good again: its `endsAt` no
//! earlier than 1 s before the end of a part of the episode (two episodes merged for lack
//! of a counted sweep wholly between them are two parts) after which the check stayed good
//! until the alert's last bad read (`startsAt` minus the longest sweep minus 1 s) or later.
//! A merge means the audit cannot prove the daemon saw the gap, not that it could not: a
//! sweep that read the profile within the gap but started before it, or a process's last
//! sweep (not counted: a SIGKILL may have taken its results back, or not), may have; so a
//! resolution after the first part's end is the daemon's right, not an early one. `InventoryApiDown` is accepted only next to a sweep
//! whose list walk failed.
//!
//! **Duplicates.** An alert change delivered twice is a duplicate; a notification repeating
//! anything must be matched to its own SIGKILL at most [`Rules::duplicate_window`] after the
//! first delivery (a stop between a receiver's 2xx and the state write recording it).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

#[cfg(test)]
mod tests;

/// The alert the daemon raises when its list walk fails.
pub const API_DOWN: &str = "InventoryApiDown";

/// The daemon's settings the verdicts depend on.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// `alerting.group_wait`.
    pub group_wait: Duration,
    /// How long after a delivery a SIGKILL can still explain its repetition.
    pub duplicate_window: Duration,
}

/// How a sweep's list walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// `sweep complete`.
    Complete,
    /// `sweep incomplete: ...`.
    Incomplete,
    /// `sweep failed: ...` (`InventoryApiDown`).
    Failed,
}

/// One `sweep ...` log line.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Which process (0, 1, ...).
    pub proc: usize,
    /// The line's timestamp: after the judge ran.
    pub ts: SystemTime,
    /// The sweep's duration in seconds.
    pub seconds: f64,
    /// How its list walk ended.
    pub walk: Walk,
}

/// One stretch of one profile's check being bad, as the soak drove it.
#[derive(Clone, Debug)]
pub struct Episode {
    /// The profile.
    pub id: u64,
    /// The alert it should raise.
    pub alertname: String,
    /// That rule's `for`.
    pub for_: Duration,
    /// Just before and just after the call that made it bad.
    pub t0: (SystemTime, SystemTime),
    /// Just before and just after the call that made it good; `None` if it never ended.
    pub t1: Option<(SystemTime, SystemTime)>,
}

/// One alert change in one delivered notification.
#[derive(Clone, Debug)]
pub struct Change {
    /// `firing` or `resolved`.
    pub status: String,
    /// The `alertname` label.
    pub alertname: String,
    /// The `profile_id` label.
    pub profile_id: Option<u64>,
    /// `startsAt`: when it started firing.
    pub starts_at: Option<SystemTime>,
    /// `endsAt`: when it resolved; `None` while firing.
    pub ends_at: Option<SystemTime>,
    /// The change's identity (status, alert, start, end): the same twice is a duplicate.
    pub key: String,
    /// The alert's identity (alert and start).
    pub alert_key: String,
}

/// One notification a receiver took (answered 2xx).
#[derive(Clone, Debug)]
pub struct Notification {
    /// When it was taken.
    pub at: SystemTime,
    /// The alert changes in it.
    pub changes: Vec<Change>,
}

/// Everything the audit reads.
#[derive(Clone, Debug)]
pub struct Run {
    /// When the faults began (times are printed relative to it).
    pub start: SystemTime,
    /// Every episode.
    pub episodes: Vec<Episode>,
    /// Every sweep line of every process.
    pub sweeps: Vec<Sweep>,
    /// When each process was spawned.
    pub spawns: Vec<SystemTime>,
    /// When each SIGKILL was sent.
    pub kills: Vec<SystemTime>,
    /// What the receiver took, in arrival order.
    pub notifications: Vec<Notification>,
}

/// The audit's verdict.
#[derive(Debug, Default)]
pub struct Report {
    /// The counts, one line each, for printing.
    pub lines: Vec<String>,
    /// Why the run fails; empty when it passes.
    pub failures: Vec<String>,
    /// Required episodes never announced firing (lost alerts).
    pub missing: Vec<String>,
    /// Alerts announced firing and never resolved.
    pub missing_resolved: Vec<String>,
    /// Alerts that should not exist, or not then (invented, out of their episode).
    pub spurious: Vec<String>,
    /// Notifications repeating changes with no SIGKILL to explain them.
    pub duplicates: Vec<String>,
}

impl Report {
    /// Adds a count line.
    pub fn line(&mut self, name: &str, value: impl std::fmt::Display) {
        self.lines.push(format!("{name:<32} {value}"));
    }

    /// Adds a failure.
    pub fn fail(&mut self, what: String) {
        self.failures.push(what);
    }
}

/// `t - since` in seconds, negative when `t` is earlier.
pub fn offset(t: SystemTime, since: SystemTime) -> f64 {
    match t.duration_since(since) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// A counted sweep (see the module documentation).
#[derive(Debug, Clone, Copy)]
struct Point {
    /// Every read of the sweep happened after this.
    lo_start: SystemTime,
    /// The judge ran at or after this.
    lo_judged: SystemTime,
    /// The judge ran at or before this; the results were written soon after.
    ts: SystemTime,
}

/// The sweeps that count, in time order.
struct Counted {
    /// Those whose walk was complete.
    complete: Vec<Point>,
    /// Those whose walk did not fail (they saw the profiles they reached).
    seen: Vec<Point>,
    /// The longest sweep of all, counted or not, in seconds.
    longest: f64,
}

/// The sweeps that count (see the module documentation).
fn counted_sweeps(sweeps: &[Sweep], spawns: &[SystemTime]) -> Counted {
    let mut sorted: Vec<&Sweep> = sweeps.iter().collect();
    sorted.sort_by_key(|s| s.ts);
    let mut last_of: HashMap<usize, usize> = HashMap::new();
    for (i, s) in sorted.iter().enumerate() {
        last_of.insert(s.proc, i);
    }
    let mut previous: HashMap<usize, SystemTime> = HashMap::new();
    let mut counted = Counted {
        complete: Vec::new(),
        seen: Vec::new(),
        longest: 0.0,
    };
    for (i, s) in sorted.iter().enumerate() {
        let lo_start = previous
            .get(&s.proc)
            .copied()
            .or_else(|| spawns.get(s.proc).copied())
            .unwrap_or(s.ts);
        previous.insert(s.proc, s.ts);
        counted.longest = counted.longest.max(s.seconds);
        if last_of.get(&s.proc) == Some(&i) {
            // Nothing proves its results were written before the process ended.
            continue;
        }
        let p = Point {
            lo_start,
            lo_judged: lo_start + Duration::from_secs_f64(s.seconds.max(0.0)),
            ts: s.ts,
        };
        if s.walk != Walk::Failed {
            counted.seen.push(p);
        }
        if s.walk == Walk::Complete {
            counted.complete.push(p);
        }
    }
    counted
}

/// True when the episode must have been announced firing (see the module documentation).
fn required(s: &[Point], t0: SystemTime, t1: SystemTime, for_: Duration, rules: &Rules) -> bool {
    let Some(j) = s.iter().position(|p| p.lo_start >= t0) else {
        return false;
    };
    let Some(jp) = s.get(j + 1) else {
        return false;
    };
    let pending_by = jp.ts + for_;
    let Some(k) = (j + 2..s.len()).find(|&k| s[k].lo_judged >= pending_by) else {
        return false;
    };
    let Some(kp) = s.get(k + 1) else {
        return false;
    };
    kp.ts + rules.group_wait <= t1
}

/// Which sweep judged at `t` (an alert's `endsAt`, in whole seconds): "sweep 1 of process
/// 2, incomplete walk".
fn judged_by(sweeps: &[Sweep], t: SystemTime) -> String {
    let Some(s) = sweeps
        .iter()
        .filter(|s| s.ts >= t && s.ts <= t + Duration::from_secs(2))
        .min_by_key(|s| s.ts)
    else {
        return "no sweep logged then".to_string();
    };
    let n = sweeps
        .iter()
        .filter(|o| o.proc == s.proc && o.ts <= s.ts)
        .count();
    let walk = match s.walk {
        Walk::Complete => "complete walk",
        Walk::Incomplete => "incomplete walk",
        Walk::Failed => "failed walk",
    };
    format!("sweep {n} of process {}, {walk}", s.proc)
}

/// An episode as the daemon could see it: two episodes of one alert with no sweep wholly
/// between them are one.
#[derive(Debug, Clone)]
struct Seen {
    /// The profile.
    id: u64,
    /// The alert.
    alertname: String,
    /// The rule's `for`.
    for_: Duration,
    /// The first part's start (before, after).
    t0: (SystemTime, SystemTime),
    /// The last part's end (before, after).
    t1: (SystemTime, SystemTime),
    /// How many logged episodes it is made of.
    parts: usize,
    /// Each part's end (before) and the next part's start (after; `None` for the last):
    /// the stretches in which the check was good.
    gaps: Vec<(SystemTime, Option<SystemTime>)>,
    /// Whether it had to be announced.
    required: bool,
    /// How many alerts announced firing belong to it.
    firing: usize,
}

/// The ended episodes merged where no sweep saw the gap between them, in (profile, alert)
/// order.
fn merge_episodes(episodes: &[Episode], seen_sweeps: &[Point]) -> Vec<Seen> {
    let mut by_alert: BTreeMap<(u64, &str), Vec<&Episode>> = BTreeMap::new();
    for e in episodes {
        by_alert.entry((e.id, &e.alertname)).or_default().push(e);
    }
    let mut seen: Vec<Seen> = Vec::new();
    for eps in by_alert.values() {
        let mut current: Option<Seen> = None;
        for e in eps {
            let Some(t1) = e.t1 else { continue };
            current = match current.take() {
                Some(mut s)
                    if !seen_sweeps
                        .iter()
                        .any(|p| p.lo_start >= s.t1.1 && p.ts <= e.t0.0) =>
                {
                    if let Some(last) = s.gaps.last_mut() {
                        last.1 = Some(e.t0.1);
                    }
                    s.gaps.push((t1.0, None));
                    s.t1 = t1;
                    s.parts += 1;
                    Some(s)
                }
                other => {
                    seen.extend(other);
                    Some(Seen {
                        id: e.id,
                        alertname: e.alertname.clone(),
                        for_: e.for_,
                        t0: e.t0,
                        t1,
                        parts: 1,
                        gaps: vec![(t1.0, None)],
                        required: false,
                        firing: 0,
                    })
                }
            };
        }
        seen.extend(current);
    }
    seen
}

/// The sweep counts line; fails when the daemon went too long without a sweep.
fn audit_sweeps(run: &Run, longest: f64, report: &mut Report) {
    let count = |w: Walk| run.sweeps.iter().filter(|s| s.walk == w).count();
    let mut durations: Vec<f64> = run.sweeps.iter().map(|s| s.seconds).collect();
    durations.sort_by(f64::total_cmp);
    let median = durations
        .get(durations.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    let mut ts: Vec<SystemTime> = run.sweeps.iter().map(|s| s.ts).collect();
    ts.sort();
    let max_gap = ts
        .windows(2)
        .map(|w| offset(w[1], w[0]))
        .fold(0.0, f64::max);
    report.line(
        "sweeps",
        format!(
            "{} complete, {} incomplete, {} failed; median {median:.2} s, longest {longest:.2} s, \
             longest gap between two {max_gap:.1} s",
            count(Walk::Complete),
            count(Walk::Incomplete),
            count(Walk::Failed)
        ),
    );
    // A SIGKILL can cost the sweep it interrupted, the restart (up to 3 s) and the new
    // process's first sweep (no earlier sweep to build on): on a fleet whose sweeps take
    // seconds, more than the 20 s that is plenty at 2,000 profiles. Two longest sweeps plus
    // 5 s allow for that; a daemon that stops sweeping logs no sweep to lengthen them.
    let limit = (2.0 * longest + 5.0).max(20.0);
    if max_gap > limit {
        report.fail(format!(
            "the daemon went {max_gap:.1} s without finishing a sweep (at most {limit:.0} s \
             allowed: 20 s, or two longest sweeps plus 5 s)"
        ));
    }
}

/// The episodes as the daemon could see them, with which were required; counts lines.
fn audit_episodes(run: &Run, counted: &Counted, rules: &Rules, report: &mut Report) -> Vec<Seen> {
    let open = run.episodes.iter().filter(|e| e.t1.is_none()).count();
    if open > 0 {
        report.fail(format!(
            "{open} episodes never ended (the soak's own bookkeeping)"
        ));
    }
    let mut seen = merge_episodes(&run.episodes, &counted.seen);
    for s in &mut seen {
        s.required = required(&counted.complete, s.t0.1, s.t1.0, s.for_, rules);
    }
    let merged = seen.iter().filter(|s| s.parts > 1).count();
    let short = run
        .episodes
        .iter()
        .filter(|e| {
            e.t1.is_some_and(|t1| {
                t1.0.duration_since(e.t0.1).unwrap_or_default() < Duration::from_secs(1)
            })
        })
        .count();
    let mut per_alert: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &run.episodes {
        *per_alert.entry(&e.alertname).or_default() += 1;
    }
    let per_alert: Vec<String> = per_alert.iter().map(|(a, n)| format!("{n} {a}")).collect();
    report.line(
        "episodes",
        format!(
            "{} ({}; {short} shorter than 1 s; {merged} merged with the next for lack of a \
             sweep between them)",
            run.episodes.len(),
            per_alert.join(", "),
        ),
    );
    let n_required = seen.iter().filter(|s| s.required).count();
    report.line("required (must be announced)", n_required);
    if n_required == 0 || n_required * 3 < seen.len() {
        report.fail(format!(
            "only {n_required} of {} episodes were required: the daemon hardly swept",
            seen.len()
        ));
    }
    seen
}

/// Notifications repeating an alert change delivered before, each matched to its own
/// SIGKILL; answers those no kill explains.
fn audit_duplicates(run: &Run, rules: &Rules, report: &mut Report) {
    let at = |t: SystemTime| offset(t, run.start);
    let mut first: HashMap<&str, SystemTime> = HashMap::new();
    // (when, first delivered, changes repeated, changes in it)
    let mut repeats: Vec<(SystemTime, SystemTime, usize, usize)> = Vec::new();
    for n in &run.notifications {
        let mut repeated = 0;
        let mut original = None::<SystemTime>;
        for c in &n.changes {
            match first.get(c.key.as_str()) {
                Some(t) => {
                    repeated += 1;
                    original = Some(original.map_or(*t, |o| o.max(*t)));
                }
                None => {
                    first.insert(&c.key, n.at);
                }
            }
        }
        if let Some(original) = original {
            repeats.push((n.at, original, repeated, n.changes.len()));
        }
    }
    let mut kills_used = vec![false; run.kills.len()];
    for (when, original, repeated, of) in &repeats {
        let kill = run.kills.iter().enumerate().position(|(i, k)| {
            !kills_used[i]
                && *original <= *k + Duration::from_millis(200)
                && k.duration_since(*original).unwrap_or_default() <= rules.duplicate_window
                && *when > *k
        });
        match kill {
            Some(i) => kills_used[i] = true,
            None => report.duplicates.push(format!(
                "a notification at {:.1} s repeats {repeated} of its {of} alert changes first \
                 delivered at {:.1} s, with no SIGKILL just after that",
                at(*when),
                at(*original)
            )),
        }
    }
    report.line(
        "duplicates",
        format!(
            "{} notifications repeating {} alert changes; {} matched to a kill, {} not",
            repeats.len(),
            repeats.iter().map(|d| d.2).sum::<usize>(),
            repeats.len() - report.duplicates.len(),
            report.duplicates.len()
        ),
    );
}

/// One alert's life as the receiver was told it.
struct Life {
    /// The `alertname` label.
    alertname: String,
    /// The `profile_id` label.
    profile_id: Option<u64>,
    /// `startsAt`.
    starts_at: Option<SystemTime>,
    /// When the receiver first took it firing.
    firing_at: Option<SystemTime>,
    /// When the receiver first took it resolved, and its `endsAt`.
    resolved: Option<(SystemTime, Option<SystemTime>)>,
}

/// Every alert announced, by identity, and those resolved before they were announced firing.
fn lives(run: &Run) -> (BTreeMap<String, Life>, Vec<String>) {
    let mut lives: BTreeMap<String, Life> = BTreeMap::new();
    let mut resolved_first = Vec::new();
    for n in &run.notifications {
        for c in &n.changes {
            let life = lives.entry(c.alert_key.clone()).or_insert_with(|| Life {
                alertname: c.alertname.clone(),
                profile_id: c.profile_id,
                starts_at: c.starts_at,
                firing_at: None,
                resolved: None,
            });
            if c.status == "firing" {
                life.firing_at.get_or_insert(n.at);
            } else {
                if life.firing_at.is_none() {
                    resolved_first.push(c.alert_key.clone());
                }
                life.resolved.get_or_insert((n.at, c.ends_at));
            }
        }
    }
    (lives, resolved_first)
}

/// `InventoryApiDown` is justified only next to a sweep whose list walk failed.
fn api_down_justified(run: &Run, life: &Life) -> bool {
    life.starts_at.is_some_and(|s| {
        run.sweeps.iter().any(|sw| {
            sw.walk == Walk::Failed
                && sw.ts + Duration::from_secs(1) >= s
                && sw.ts <= s + Duration::from_secs(2)
        })
    })
}

/// Matches every alert announced to its episode: spurious ones, resolutions missing or
/// too early; counts on `seen` how many alerts each episode got.
fn match_alerts(run: &Run, longest: f64, seen: &mut [Seen], report: &mut Report) -> usize {
    let at = |t: SystemTime| offset(t, run.start);
    let (lives, resolved_first) = lives(run);
    let firing = lives.values().filter(|a| a.firing_at.is_some()).count();
    let resolved = lives.values().filter(|a| a.resolved.is_some()).count();
    report.line("alerts announced firing", firing);
    report.line("alerts announced resolved", resolved);
    let mut index: HashMap<(u64, String), Vec<usize>> = HashMap::new();
    for (i, s) in seen.iter().enumerate() {
        index
            .entry((s.id, s.alertname.clone()))
            .or_default()
            .push(i);
    }
    let caused: Vec<&str> = run.episodes.iter().map(|e| e.alertname.as_str()).collect();
    let slack = Duration::from_secs_f64(longest + 2.0);
    let mut api_down = 0;
    let mut spurious = Vec::new();
    for (key, a) in &lives {
        if a.alertname == API_DOWN {
            api_down += 1;
            if !api_down_justified(run, a) {
                spurious.push(format!("{key}: {API_DOWN} with no failed list walk"));
            }
            continue;
        }
        let (true, Some(id), Some(starts)) = (
            caused.contains(&a.alertname.as_str()),
            a.profile_id,
            a.starts_at,
        ) else {
            spurious.push(format!("{key}: an alert the soak never causes"));
            continue;
        };
        if a.firing_at.is_none() {
            spurious.push(format!(
                "{key}: resolved without ever being announced firing"
            ));
            continue;
        }
        let candidates = index
            .get(&(id, a.alertname.clone()))
            .cloned()
            .unwrap_or_default();
        let matched = candidates.into_iter().rev().find(|&i| {
            let s = &seen[i];
            starts + Duration::from_secs(1) >= s.t0.0 + s.for_ && starts <= s.t1.1 + slack
        });
        let Some(i) = matched else {
            spurious.push(format!(
                "{key}: firing from {:.1} s, but profile {id} had no such episode",
                at(starts)
            ));
            continue;
        };
        seen[i].firing += 1;
        match a.resolved {
            None => report.missing_resolved.push(format!(
                "{key}: episode {:.1}..{:.1} s, announced firing, never resolved",
                at(seen[i].t0.1),
                at(seen[i].t1.0)
            )),
            Some((_, ends)) => {
                // The last bad read the alert can come from was at most a sweep before it
                // started firing; a good read after it, before `endsAt`, is a gap's.
                let last_bad = starts
                    .checked_sub(slack - Duration::from_secs(1))
                    .unwrap_or(starts);
                let early = |e: &SystemTime| {
                    !seen[i].gaps.iter().any(|(good_from, good_until)| {
                        *good_from <= *e + Duration::from_secs(1)
                            && good_until.is_none_or(|u| u >= last_bad)
                    })
                };
                if let Some(e) = ends.filter(early) {
                    spurious.push(format!(
                        "{key}: resolved at {:.1} s ({}), but the episode lasted until {:.1} s",
                        at(e),
                        judged_by(&run.sweeps, e),
                        at(seen[i].t1.0)
                    ));
                }
            }
        }
    }
    for key in &resolved_first {
        if lives.get(key).is_some_and(|a| a.firing_at.is_some()) {
            spurious.push(format!("{key}: resolved before it was announced firing"));
        }
    }
    report.spurious.extend(spurious);
    api_down
}

/// Episodes announced more than once, and required ones never announced.
fn audit_announced(run: &Run, seen: &[Seen], report: &mut Report) {
    let at = |t: SystemTime| offset(t, run.start);
    for s in seen {
        if s.firing > 1 {
            report.spurious.push(format!(
                "profile {} {}: {} alerts for one episode {:.1}..{:.1} s",
                s.id,
                s.alertname,
                s.firing,
                at(s.t0.1),
                at(s.t1.0)
            ));
        }
        if s.required && s.firing == 0 {
            report.missing.push(format!(
                "profile {} {}: episode {:.1}..{:.1} s ({:.1} s) never announced",
                s.id,
                s.alertname,
                at(s.t0.1),
                at(s.t1.0),
                offset(s.t1.0, s.t0.1)
            ));
        }
    }
    let announced = seen.iter().filter(|s| s.firing > 0).count();
    let optional = seen.iter().filter(|s| !s.required && s.firing > 0).count();
    report.line(
        "episodes announced",
        format!("{announced} ({optional} of them not required)"),
    );
}

/// Turns the problem lists into failures, at most 15 of each kind (10 duplicates).
fn summarize(report: &mut Report) {
    let mut failures = Vec::new();
    failures.extend(
        report
            .duplicates
            .iter()
            .take(10)
            .map(|e| format!("duplicate: {e}")),
    );
    failures.extend(
        report
            .missing
            .iter()
            .take(15)
            .map(|m| format!("missing: {m}")),
    );
    failures.extend(
        report
            .missing_resolved
            .iter()
            .take(15)
            .map(|m| format!("missing resolution: {m}")),
    );
    failures.extend(
        report
            .spurious
            .iter()
            .take(15)
            .map(|s| format!("spurious: {s}")),
    );
    if [&report.missing, &report.missing_resolved, &report.spurious]
        .iter()
        .any(|l| l.len() > 15)
    {
        failures.push("(more problems not shown)".to_string());
    }
    report.failures.extend(failures);
}

/// Compares what the receiver was told with the episodes (see the module documentation).
pub fn audit(run: &Run, rules: &Rules) -> Report {
    let mut report = Report::default();
    let counted = counted_sweeps(&run.sweeps, &run.spawns);
    audit_sweeps(run, counted.longest, &mut report);
    let mut seen = audit_episodes(run, &counted, rules, &mut report);
    let changes: usize = run.notifications.iter().map(|n| n.changes.len()).sum();
    report.line(
        "delivered notifications",
        format!(
            "{} ({changes} alert changes in them)",
            run.notifications.len()
        ),
    );
    audit_duplicates(run, rules, &mut report);
    let api_down = match_alerts(run, counted.longest, &mut seen, &mut report);
    audit_announced(run, &seen, &mut report);
    report.line("missing (firing)", report.missing.len());
    report.line("missing (resolved)", report.missing_resolved.len());
    report.line("spurious", report.spurious.len());
    report.line("InventoryApiDown alerts", api_down);
    summarize(&mut report);
    report
}
