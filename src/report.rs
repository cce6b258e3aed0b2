//! The `once` command: one sweep, a report of every profile's health on stdout, and an
//! exit code a script can act on (0 all healthy, 1 an alert condition holds, 2 an error).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::cli::OutputFormat;
use crate::clock::from_unix_seconds;
use crate::clock::{Clock, SystemClock};
use crate::rules::Judge;
use crate::snapshot::{ListOutcome, Snapshot};
use crate::status::{alerts_per_profile, status_document};
use crate::upstream::UpstreamClient;

/// Runs `once`: load the config, sweep, print the report, pick the exit code.
pub async fn once(path: &Path, output: OutputFormat) -> ExitCode {
    let Some(config) = load_config(path) else {
        return ExitCode::from(2);
    };
    let token = match config.api.token() {
        Ok(t) => t,
        Err(p) => {
            eprintln!("{p}");
            return ExitCode::from(2);
        }
    };
    let clock = SystemClock;
    // One sweep and the judge: no metrics are rendered (nobody would scrape them), so
    // nothing is said about label values they would have cut.
    let monitor = crate::metrics::MonitorMetrics::new(config.shard());
    let client = match UpstreamClient::with_counters(&config.api, token, &monitor) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {:#}", anyhow::Error::from(e));
            return ExitCode::from(2);
        }
    };
    let snapshot = crate::sweep::sweep(&client, config.shard(), None, &clock).await;
    let mut judge = Judge::new(config.rules.clone());
    judge.evaluate(&snapshot, clock.now());
    crate::sweep::tell_outcome(&client, &snapshot);
    let now = clock.now();
    let snapshot = &snapshot;
    match output {
        OutputFormat::Table => print!("{}", render_table(snapshot, &judge, now)),
        OutputFormat::Json => {
            let doc = status_document(snapshot, &judge, now);
            println!("{}", String::from_utf8_lossy(&doc));
        }
    }
    let code = exit_code(snapshot, &judge);
    if let ListOutcome::Failed { kind, message } = &snapshot.list {
        eprintln!("error: {}: {message}", kind.describe());
    } else if let ListOutcome::Incomplete { reason } = &snapshot.list {
        eprintln!("error: the profile list could not be walked completely: {reason}");
    }
    ExitCode::from(code)
}

/// Loads and validates a config for a command, printing every problem (with its key path)
/// on stderr; `None` when it is not usable.
pub fn load_config(path: &Path) -> Option<crate::config::Config> {
    match crate::config::load(path) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("{}: {} problem(s):", path.display(), e.problems.len());
            for p in &e.problems {
                eprintln!("  {p}");
            }
            None
        }
    }
}

/// 2 when the list walk did not complete, 1 when any alert condition holds (pending or
/// firing), 0 otherwise.
pub fn exit_code(snapshot: &Snapshot, judge: &Judge) -> u8 {
    if !snapshot.walk_complete() {
        2
    } else if judge.alerts().next().is_some() {
        1
    } else {
        0
    }
}

/// Makes a value safe for a one-line table cell: control characters escaped, long
/// values cut with an ellipsis.
fn cell(value: &str, max: usize) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if escaped.chars().count() > max {
        let mut cut: String = escaped.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        escaped
    }
}

/// How long ago (or ahead) `unix` is, in its two largest units: `1d 12h ago`, `55m 15s
/// ago`, `in 3h 2m`. A table cell is read at a glance; seconds do not matter a day back.
fn age(now: SystemTime, unix: f64) -> String {
    let then = from_unix_seconds(unix);
    match now.duration_since(then) {
        Ok(d) => format!("{} ago", two_units(d)),
        Err(e) => format!("in {}", two_units(e.duration())),
    }
}

/// `d` in its two largest non-zero units of days, hours, minutes and seconds (rounded
/// down), `0s` for less than a second.
fn two_units(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if shown.is_empty() {
        "0s".to_string()
    } else {
        shown.join(" ")
    }
}

/// The text table: one row per profile, then a summary line.
pub fn render_table(snapshot: &Snapshot, judge: &Judge, now: SystemTime) -> String {
    let alerts = alerts_per_profile(judge.alerts());
    let header = [
        "ID",
        "NAME",
        "ORGANIZATION",
        "UP",
        "CONNECTIVITY",
        "AUTH",
        "LAST SYNC",
        "SYNC",
        "ERR/24H",
        "ALERTS",
    ];
    let unknown = || "-".to_string();
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(snapshot.profiles.len());
    for e in &snapshot.profiles {
        let fresh = e.fresh();
        rows.push(vec![
            e.id.to_string(),
            cell(&e.name, 40),
            cell(e.organization.as_deref().unwrap_or("-"), 24),
            if e.up { "yes".into() } else { "no".into() },
            fresh
                .and_then(|p| p.connectivity.as_deref())
                .map_or_else(unknown, |v| cell(v, 16)),
            fresh
                .and_then(|p| p.authentication.as_deref())
                .map_or_else(unknown, |v| cell(v, 16)),
            fresh
                .and_then(|p| p.last_sync)
                .map_or_else(unknown, |s| age(now, s)),
            fresh
                .and_then(|p| p.last_sync_status.as_deref())
                .map_or_else(unknown, |v| cell(v, 12)),
            fresh
                .and_then(|p| p.error_count_24h)
                .map_or_else(unknown, |n| n.to_string()),
            alerts
                .get(&e.id)
                .map_or_else(unknown, |names| names.join(",")),
        ]);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(c);
            let pad = w.saturating_sub(c.chars().count());
            l.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
    let with_alerts = alerts.len();
    let read = snapshot.profiles.iter().filter(|e| e.up).count();
    let api_down = judge.alerts().any(|a| a.key.profile_id.is_none());
    let walk = match &snapshot.list {
        ListOutcome::Complete => "complete".to_string(),
        ListOutcome::Incomplete { reason } => format!("incomplete ({reason})"),
        ListOutcome::Failed { kind, .. } => format!("failed: {}", kind.describe()),
    };
    let _ = writeln!(
        out,
        "\n{} profile(s), {} detail(s) read, {} with alert conditions{}; list walk {}; sweep took {:.2}s",
        snapshot.profiles.len(),
        read,
        with_alerts,
        if api_down { ", InventoryApiDown" } else { "" },
        walk,
        snapshot.duration.as_secs_f64()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_control_characters_and_cut_long_values() {
        assert_eq!(cell("a\nb", 10), "a\\nb");
        assert_eq!(cell("abcdef", 4), "abc…");
        assert_eq!(cell("Lisboa — ä", 20), "Lisboa — ä");
    }

    #[test]
    fn ages_show_their_two_largest_units() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let ago = |secs: u64| age(now, (1_000_000_000 - secs) as f64);
        assert_eq!(ago(86_400 + 12 * 3600 + 55 * 60 + 15), "1d 12h ago");
        assert_eq!(ago(55 * 60 + 15), "55m 15s ago");
        assert_eq!(ago(3 * 86_400 + 15), "3d ago", "a zero unit is left out");
        assert_eq!(
            ago(2 * 3600 + 59),
            "2h ago",
            "only the two largest units count"
        );
        assert_eq!(ago(42), "42s ago");
        assert_eq!(ago(0), "0s ago");
        assert_eq!(age(now, 1_000_000_000.0 + 3.0 * 3600.0 + 120.0), "in 3h 2m");
    }
}
