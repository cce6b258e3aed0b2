//! The soak's verdict: the test kit's alert audit on what this run recorded, the process's
//! own record (crashes, reloads, drain, stop), its memory, and the audit's self-check.

use std::time::Duration;

use inventory_monitor_testkit::audit::{self, offset, Change, Notification, Report, Rules, Run};
use serde_json::Value;

use crate::conductor::Record;
use crate::{parse_time, secs, DUPLICATE_WINDOW, GROUP_WAIT, MAX_ALERTS, MEMORY_LIMIT, NO_END};

/// The daemon's settings the audit depends on.
const RULES: Rules = Rules {
    group_wait: GROUP_WAIT,
    duplicate_window: DUPLICATE_WINDOW,
};

/// The alert changes of one delivered Alertmanager v4 payload.
fn changes(body: &[u8]) -> Result<Vec<Change>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if v["version"] != "4" {
        return Err("not an Alertmanager v4 payload".to_string());
    }
    if v["truncatedAlerts"].as_u64().unwrap_or(0) > 0 {
        return Err("alerts were truncated".to_string());
    }
    let alerts = v["alerts"].as_array().ok_or("no alerts array")?;
    if alerts.len() > MAX_ALERTS {
        return Err(format!(
            "a payload of {} alerts, over max_alerts {MAX_ALERTS}",
            alerts.len()
        ));
    }
    alerts
        .iter()
        .map(|a| {
            let status = a["status"]
                .as_str()
                .ok_or("alert without status")?
                .to_string();
            let alertname = a["labels"]["alertname"]
                .as_str()
                .ok_or("alert without alertname")?
                .to_string();
            let profile_id = match a["labels"]["profile_id"].as_str() {
                Some(s) => Some(s.parse::<u64>().map_err(|_| "bad profile_id")?),
                None => None,
            };
            let starts = a["startsAt"].as_str().unwrap_or("");
            let ends = a["endsAt"].as_str().unwrap_or(NO_END);
            let alert_key = format!("{alertname}/{profile_id:?}@{starts}");
            Ok(Change {
                key: format!("{status} {alert_key} -> {ends}"),
                alert_key,
                starts_at: parse_time(starts),
                ends_at: if ends == NO_END {
                    None
                } else {
                    parse_time(ends)
                },
                status,
                alertname,
                profile_id,
            })
        })
        .collect()
}

/// What the audit reads, from the record; and why payloads could not be read.
fn run_of(r: &Record) -> (Run, Vec<String>) {
    let mut notifications = Vec::new();
    let mut unreadable = Vec::new();
    for d in &r.deliveries {
        match changes(&d.body) {
            Ok(changes) => notifications.push(Notification { at: d.at, changes }),
            Err(e) => unreadable.push(e),
        }
    }
    let episodes = r
        .history
        .episodes
        .iter()
        .map(|e| audit::Episode {
            id: e.id,
            alertname: e.check.alertname().to_string(),
            for_: e.check.for_(),
            t0: e.t0,
            t1: e.t1,
        })
        .collect();
    let run = Run {
        start: r.start,
        episodes,
        sweeps: r.sweeps.clone(),
        spawns: r.history.spawns.clone(),
        kills: r.history.kills.clone(),
        notifications,
    };
    (run, unreadable)
}

/// The whole verdict on a run: the alert audit, then the process, then memory.
pub(crate) fn verdict(r: &Record) -> Report {
    let (run, unreadable) = run_of(r);
    let mut v = audit::audit(&run, &RULES);
    for e in unreadable.iter().take(3) {
        v.fail(format!("a delivered payload is unreadable: {e}"));
    }
    process(r, &mut v);
    memory(r, &mut v);
    let blind = self_check(&run);
    if blind.is_empty() {
        v.line(
            "audit self-check",
            "a lost, a repeated and an invented notification, a forgotten episode and an early \
             resolution, all caught",
        );
    }
    for b in blind {
        v.fail(format!("self-check: {b}"));
    }
    v
}

/// The process's record: kills, crashes, reloads, what the fault injectors did, the drain
/// and the stop.
fn process(r: &Record, v: &mut Report) {
    v.line(
        "kills / restarts / crashes",
        format!(
            "{} / {} / {}",
            r.history.kills.len(),
            r.history.spawns.len().saturating_sub(1),
            r.history.crashes.len()
        ),
    );
    for c in &r.history.crashes {
        v.fail(format!("crash: {c}"));
    }
    v.line(
        "reloads (SIGHUP sent / ok / failed)",
        format!("{} / {} / {}", r.history.hups, r.reloaded, r.reload_failed),
    );
    if r.reload_failed > 0 {
        v.fail(format!("{} reloads failed", r.reload_failed));
    }
    let storms: Vec<String> = r
        .history
        .storms
        .iter()
        .map(|(at, size)| format!("{size} profiles at {:.0} s", offset(*at, r.start)))
        .collect();
    v.line(
        "storms",
        format!(
            "{} ({}), payloads of at most {MAX_ALERTS} alerts",
            storms.len(),
            storms.join(", ")
        ),
    );
    if storms.is_empty() {
        v.fail("no storm: the run is too short for one".to_string());
    }
    let st = &r.stats;
    v.line(
        "upstream requests",
        format!("{} list, {} detail", st.list, st.detail),
    );
    v.line(
        "upstream errors survived",
        format!(
            "{} × 500, {} × 429; pagination: {} grow glitches ({} profiles), {} shrink \
             glitches ({} profiles)",
            st.server_errors,
            st.throttled,
            r.history.glitches.0,
            st.grown,
            r.history.glitches.1,
            st.shrunk
        ),
    );
    let a = r.sink_answers;
    let o = &r.history.outages;
    v.line(
        "sink outages",
        format!(
            "{} ({} refused, {} all-500, {} all-429; {:.0} s down in all); answers: {} × 200, \
             {} × 500, {} × 429, {} cut",
            o.refused + o.error_500 + o.throttled,
            o.refused,
            o.error_500,
            o.throttled,
            o.seconds,
            a.ok,
            a.error_500,
            a.throttled,
            a.cut
        ),
    );
    match &r.transitions_checked {
        Ok(n) => v.line("simulator transitions verified", n),
        Err(e) => v.fail(format!("the simulator's transition log disagrees: {e}")),
    }
    match &r.drain {
        Ok(d) => v.line("drain", format!("{:.1} s", secs(*d))),
        Err(e) => v.fail(format!("drain: {e}")),
    }
    if let Err(e) = &r.exit {
        v.fail(format!("stop: {e}"));
    }
    v.line(
        "daemon ERROR lines",
        format!("{} (see target/soak/daemon.log)", r.errors.len()),
    );
    for e in r.errors.iter().take(5) {
        v.lines.push(format!("    {e}"));
    }
    v.line(
        "final stretch without kills",
        format!("{:.0} s", secs(r.final_stretch)),
    );
}

/// True for a firing alert about a profile.
fn is_firing(c: &Change) -> bool {
    c.status == "firing" && c.profile_id.is_some()
}

/// The audit must be able to fail: copies of the run with one thing broken must each fail
/// for that reason. Answers what the audit did not catch.
fn self_check(run: &Run) -> Vec<String> {
    let firing_at = run
        .notifications
        .iter()
        .position(|n| n.changes.iter().any(is_firing));
    let mut blind = Vec::new();
    let mut expect = |name: &str, broken: Option<Run>, prefixes: &[&str]| match broken {
        None => blind.push(format!("{name}: nothing to break (no alert was delivered)")),
        Some(broken) => {
            let v = audit::audit(&broken, &RULES);
            if !v
                .failures
                .iter()
                .any(|f| prefixes.iter().any(|p| f.starts_with(p)))
            {
                blind.push(format!("the audit does not notice {name}"));
            }
        }
    };

    // A notification announcing a firing alert is lost.
    let lost = firing_at.map(|i| {
        let mut m = run.clone();
        m.notifications.remove(i);
        m
    });
    expect("a lost notification", lost, &["missing", "spurious"]);

    // The last notification arrives twice, with no SIGKILL anywhere near.
    let repeated = run.notifications.last().map(|n| {
        let mut m = run.clone();
        m.notifications.push(Notification {
            at: n.at + Duration::from_millis(500),
            changes: n.changes.clone(),
        });
        m
    });
    expect("a repeated notification", repeated, &["duplicate"]);

    // A notification's firing alerts are about a profile that never had an episode.
    let invented = firing_at.map(|i| {
        let mut m = run.clone();
        for c in m.notifications[i]
            .changes
            .iter_mut()
            .filter(|c| is_firing(c))
        {
            let (was, now) = (format!("/{:?}@", c.profile_id), format!("/{:?}@", Some(0)));
            c.profile_id = Some(0);
            c.key = c.key.replace(&was, &now);
            c.alert_key = c.alert_key.replace(&was, &now);
        }
        m
    });
    expect("an invented alert", invented, &["spurious"]);

    // An episode that was announced is taken out of the log.
    let forgotten = firing_at.and_then(|i| {
        let c = run.notifications[i].changes.iter().find(|c| is_firing(c))?;
        let mut m = run.clone();
        m.episodes
            .retain(|e| !(Some(e.id) == c.profile_id && e.alertname == c.alertname));
        Some(m)
    });
    expect("an alert without its episode", forgotten, &["spurious"]);

    // A resolution moved to the instant its alert fired, while the alert's episode (its
    // profile's first of that alert, so no earlier gap can explain it) went on.
    let early = early_resolution(run);
    expect(
        "a resolution while its episode was on",
        early,
        &["spurious"],
    );
    blind
}

/// The run with one resolution's `endsAt` moved back to its `startsAt`, for an alert that
/// fired within its profile's first episode of that alert, more than 2 s before that
/// episode ended; `None` when no alert qualifies.
fn early_resolution(run: &Run) -> Option<Run> {
    let first_episode = |id: u64, alertname: &str| {
        run.episodes
            .iter()
            .filter(|e| e.id == id && e.alertname == alertname)
            .min_by_key(|e| e.t0.0)
    };
    let (n, c) = run
        .notifications
        .iter()
        .enumerate()
        .find_map(|(n, notif)| {
            notif
                .changes
                .iter()
                .position(|c| {
                    let (Some(id), Some(starts), "resolved") =
                        (c.profile_id, c.starts_at, c.status.as_str())
                    else {
                        return false;
                    };
                    first_episode(id, &c.alertname).is_some_and(|e| {
                        e.t0.1 <= starts
                            && e.t1
                                .is_some_and(|t1| t1.0 > starts + Duration::from_secs(2))
                    })
                })
                .map(|c| (n, c))
        })?;
    let mut m = run.clone();
    let change = &mut m.notifications[n].changes[c];
    change.ends_at = change.starts_at;
    change.key.push_str(" (moved)");
    Some(m)
}

/// The level (median) and the peak of the samples within `from..=to` seconds.
fn level(samples: &[(f64, u64)], from: f64, to: f64) -> Option<(u64, u64)> {
    let mut kib: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| (from..=to).contains(t))
        .map(|(_, k)| *k)
        .collect();
    kib.sort_unstable();
    // The level is the median: the peaks a sweep's end makes for a few hundred milliseconds
    // (the new snapshot beside the old one, the metrics being rendered) come and go with
    // where the samples fall; a leak raises the level between them.
    (!kib.is_empty()).then(|| (kib[kib.len() / 2], kib[kib.len() - 1]))
}

/// The memory verdict on one process's samples (seconds since its start, KiB), `lived`
/// seconds until the faults stopped: the baseline and the end, each a level and a peak.
type Levels = (f64, (u64, u64), (u64, u64));

fn levels(samples: &[(f64, u64)], lived: f64) -> Result<Levels, String> {
    if lived < 40.0 {
        return Err(format!(
            "memory: the last process lived only {lived:.0} s before the end of the faults"
        ));
    }
    let mark = (lived / 2.0).min(60.0);
    match (
        level(samples, mark - 5.0, mark + 5.0),
        level(samples, lived - 10.0, lived),
    ) {
        (Some(b), Some(e)) => Ok((mark, b, e)),
        _ => Err("memory: no RSS samples of the last process".to_string()),
    }
}

fn ratio((b, _): (u64, u64), (e, _): (u64, u64)) -> f64 {
    e as f64 / b as f64
}

/// The memory verdict on the last process (see the soak's documentation), and its
/// self-check: the same samples with the end raised 15% must fail, and a peak of twice the
/// level in every fourth end sample must not become the level.
fn memory(r: &Record, v: &mut Report) {
    let Some(last) = r.history.spawns.len().checked_sub(1) else {
        v.fail("memory: no daemon ever ran".to_string());
        return;
    };
    let born = r.history.spawns[last];
    let lived = offset(r.fault_end, born);
    let samples: Vec<(f64, u64)> = r
        .history
        .rss
        .iter()
        .filter(|(_, p, _)| *p == last)
        .map(|(t, _, k)| (offset(*t, born), *k))
        .collect();
    let (mark, b, e) = match levels(&samples, lived) {
        Ok(l) => l,
        Err(problem) => {
            v.fail(problem);
            return;
        }
    };
    let grown = ratio(b, e);
    v.line(
        "memory (RSS of the last process)",
        format!(
            "{:.1} MiB at {mark:.0} s, {:.1} MiB at {lived:.0} s: {:+.1}% \
             (medians of 10 s; peaks {:.1} and {:.1} MiB)",
            b.0 as f64 / 1024.0,
            e.0 as f64 / 1024.0,
            (grown - 1.0) * 100.0,
            b.1 as f64 / 1024.0,
            e.1 as f64 / 1024.0,
        ),
    );
    if grown > MEMORY_LIMIT {
        v.fail(format!(
            "memory grew {:.1}% ({} KiB -> {} KiB), more than {:.0}%",
            (grown - 1.0) * 100.0,
            b.0,
            e.0,
            (MEMORY_LIMIT - 1.0) * 100.0
        ));
    }
    let in_end = |t: f64| (lived - 10.0..=lived).contains(&t);
    let leak = 1.15 * b.0 as f64 / e.0 as f64;
    let leaked: Vec<(f64, u64)> = samples
        .iter()
        .map(|&(t, k)| {
            (
                t,
                if in_end(t) {
                    (k as f64 * leak) as u64
                } else {
                    k
                },
            )
        })
        .collect();
    let caught = levels(&leaked, lived).is_ok_and(|(_, b, e)| ratio(b, e) > MEMORY_LIMIT);
    let mut nth = 0;
    let peaked: Vec<(f64, u64)> = samples
        .iter()
        .map(|&(t, k)| {
            let spike = in_end(t) && {
                nth += 1;
                nth % 4 == 0
            };
            (t, if spike { 2 * e.0 } else { k })
        })
        .collect();
    let steady = levels(&peaked, lived).is_ok_and(|(_, pb, pe)| pb.0 == b.0 && pe.0 < 2 * e.0);
    if !caught {
        v.fail("self-check: memory grown 15% at the end not caught".to_string());
    }
    if !steady {
        v.fail("self-check: peaks in a quarter of the end samples taken for the level".to_string());
    }
}
