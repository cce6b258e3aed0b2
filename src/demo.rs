//! `inventory-monitor demo`: the simulator and the daemon in one process, so a newcomer
//! sees the whole product with no config, no token and no network.
//!
//! The simulated fleet is a realistic one ([`FleetMix::Realistic`]: a few percent of the
//! profiles failing, a handful of changes a minute). Alerts go through the whole
//! notification pipeline (grouping, the outbox, delivery over HTTP) to a `webhook` receiver
//! that the demo itself serves on loopback; what it receives becomes the terminal's lines:
//! one summary line after the first sweep, then one short line per alert transition
//! (README, Commands).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app;
use crate::cli::DemoArgs;
use crate::clock::SystemClock;
use crate::config::{Config, ReceiverConfig, ReceiverKind, Secret};
use crate::daemon::Daemon;
use crate::rules::AlertState;
use crate::server::AppState;
use crate::simulator::{FleetMix, SimOptions, Simulator};
use crate::status::StatusSource;

/// The token the demo's simulator accepts (not a secret: it guards nothing).
pub const DEMO_TOKEN: &str = "demo-token";

/// The longest line the demo prints after its banner, in characters.
pub const MAX_LINE_CHARS: usize = 120;

/// The demo's state directory: fresh per process (so two demos never share one, and a
/// demo never resumes an old outbox), removed when the demo ends.
pub fn demo_state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("inventory-monitor-demo-{}", std::process::id()))
}

/// The configuration the demo runs the daemon with, pointed at `base_url`: one `webhook`
/// receiver at `terminal_url` (the demo's own loopback sink, which prints the alerts).
pub fn demo_config(base_url: String, args: &DemoArgs, terminal_url: String) -> Config {
    let mut config = Config::default();
    config.api.base_url = base_url;
    config.api.timeout = Duration::from_secs(5);
    config.poll.interval = args.interval;
    config.server.listen = args.listen.clone();
    config.state.dir = demo_state_dir();
    config.alerting.group_wait = Duration::from_secs(1);
    let mut terminal = ReceiverConfig::new("terminal", ReceiverKind::Webhook);
    terminal.url = Some(terminal_url);
    config.alerting.receivers = vec![terminal];
    config
}

/// Removes the demo's state directory when dropped: on every way out of the demo.
struct StateDir(PathBuf);

impl Drop for StateDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(error = %e, dir = %self.0.display(), "cannot remove the demo state directory");
            }
        }
    }
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> ExitCode {
    let state_dir = StateDir(demo_state_dir());
    let result = run_inner(args).await;
    drop(state_dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_inner(args: DemoArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let metrics_listener = TcpListener::bind(&args.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (is another demo running? pick another address with --listen 127.0.0.1:0)",
            args.listen
        )
    })?;
    let metrics_addr = metrics_listener.local_addr()?;
    let sim_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the simulator")?;
    let sim_addr = sim_listener.local_addr()?;
    let sink_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the demo's alert receiver")?;
    let sink_addr = sink_listener.local_addr()?;

    let simulator = Simulator::new(SimOptions {
        profiles: args.profiles,
        seed: args.seed,
        latency: Duration::from_millis(5),
        token: DEMO_TOKEN.to_string(),
        legacy_fraction: 0.05,
        drift: Some(args.drift),
        mix: FleetMix::Realistic,
        ..SimOptions::default()
    });
    let shutdown = CancellationToken::new();
    // Ctrl-C is the demo's from here on: its banner says so.
    app::cancel_on_shutdown_signal(&shutdown);
    let sim_shutdown = shutdown.clone();
    let sim_task = tokio::spawn(
        simulator
            .clone()
            .serve(sim_listener, async move { sim_shutdown.cancelled().await }),
    );
    let (alerts_tx, alerts_rx) = mpsc::unbounded_channel();
    let sink_task = tokio::spawn(serve_sink(sink_listener, alerts_tx, shutdown.clone()));

    let base_url = format!("http://{sim_addr}/api/v1");
    let config = demo_config(
        base_url.clone(),
        &args,
        format!("http://{sink_addr}/alerts"),
    );
    let clock: crate::clock::SharedClock = Arc::new(SystemClock);
    let mut daemon = Daemon::with_notifier(config, Secret::new(DEMO_TOKEN), clock.clone())?;
    daemon.notifier().inspect(|n| n.set_ephemeral_state());
    // Silences work in the demo as in `run` (its listen address is loopback: writes are
    // open), kept in the demo's temporary state directory.
    app::keep_silences(&mut daemon, clock)?;

    say(&format!(
        "\ninventory-monitor {version} demo: a simulated inventory API with {n} connection profiles\n\
         whose health drifts every {drift}, polled every {interval}.\n\n\
         \x20 Status page   http://{m}/   (open it in a browser)\n\
         \x20 Metrics       http://{m}/metrics\n\
         \x20 Status (JSON) http://{m}/api/v1/status\n\
         \x20 Simulated API {base_url}/inventory_connection_profile/   (token: {token})\n\n\
         Try:\n\
         \x20 curl -s http://{m}/metrics | grep '^inventory_profile_connectivity_healthy' | head\n\
         \x20 curl -s http://{m}/metrics | grep '^inventory_monitor_'\n\
         \x20 curl -s http://{m}/api/v1/status | python3 -m json.tool | less\n\
         \x20 curl -s -H 'Authorization: Bearer {token}' '{base_url}/inventory_connection_profile/?limit=2'\n\n\
         After the first sweep: a summary, then one line per alert transition (times in UTC).\n\
         Ctrl-C stops.\n",
        version = crate::VERSION,
        n = args.profiles,
        drift = humantime::format_duration(args.drift),
        interval = humantime::format_duration(args.interval),
        m = metrics_addr,
        token = DEMO_TOKEN,
    ));

    let printer = tokio::spawn(print_alerts(daemon.state(), alerts_rx, shutdown.clone()));
    let result = app::run_with_server(daemon, metrics_listener, shutdown.clone()).await;
    shutdown.cancel();
    for task in [sink_task, printer] {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), sim_task).await;
    result
}

/// The part of an Alertmanager webhook payload (version 4) the terminal shows.
#[derive(Debug, Deserialize)]
struct Payload {
    alerts: Vec<PayloadAlert>,
}

/// One alert of a webhook payload.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PayloadAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// `alertname`, `profile_id`, `profile_name`, ...
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(rename = "startsAt", default)]
    pub starts_at: String,
    /// RFC 3339 (Go's zero time while firing).
    #[serde(rename = "endsAt", default)]
    pub ends_at: String,
}

/// Serves `POST /alerts` on `listener`: each webhook payload's alerts go to `alerts`.
async fn serve_sink(
    listener: TcpListener,
    alerts: mpsc::UnboundedSender<Vec<PayloadAlert>>,
    stop: CancellationToken,
) {
    let route = axum::routing::post(move |body: Bytes| {
        let alerts = alerts.clone();
        async move {
            match serde_json::from_slice::<Payload>(&body) {
                Ok(payload) => {
                    let _ = alerts.send(payload.alerts);
                    StatusCode::OK
                }
                Err(_) => StatusCode::BAD_REQUEST,
            }
        }
    });
    let app = axum::Router::new().route("/alerts", route);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the demo's alert receiver stopped");
    }
}

/// Waits for the first sweep's status, prints the summary line, then one line per alert
/// transition received, until `stop`.
async fn print_alerts(
    state: Arc<AppState>,
    mut alerts: mpsc::UnboundedReceiver<Vec<PayloadAlert>>,
    stop: CancellationToken,
) {
    let first = loop {
        let published = state
            .status
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(status) = published {
            break status;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    let (mut terminal, summary) = Terminal::after_first_sweep(&first);
    say(&summary);
    loop {
        let batch = tokio::select! {
            _ = stop.cancelled() => return,
            batch = alerts.recv() => batch,
        };
        let Some(batch) = batch else { return };
        for alert in &batch {
            if let Some(line) = terminal.line_for(alert, SystemTime::now()) {
                say(&line);
            }
        }
    }
}

/// What the terminal has shown: the alerts it knows to be firing, so that a reminder or a
/// repeat is not shown twice and the alerts of the summary are not listed one by one.
#[derive(Debug, Default)]
pub struct Terminal {
    firing: HashSet<(String, String)>,
}

impl Terminal {
    /// The terminal after the first sweep of `status`, and its summary line.
    pub fn after_first_sweep(status: &StatusSource) -> (Self, String) {
        let mut terminal = Terminal::default();
        let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
        for alert in status
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
        {
            *by_name.entry(alert.key.alertname.as_str()).or_default() += 1;
            terminal.firing.insert((
                alert.key.alertname.as_str().to_string(),
                alert
                    .key
                    .profile_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            ));
        }
        let line = summary_line(status.snapshot.profiles.len(), &by_name);
        (terminal, line)
    }

    /// The line for one alert of a notification, or `None` when it changes nothing the
    /// terminal has shown (a reminder, a repeat, an alert of the summary).
    pub fn line_for(&mut self, alert: &PayloadAlert, now: SystemTime) -> Option<String> {
        let label = |name: &str| alert.labels.get(name).map(String::as_str).unwrap_or("");
        let key = (
            label("alertname").to_string(),
            label("profile_id").to_string(),
        );
        let firing = alert.status != "resolved";
        let changed = if firing {
            self.firing.insert(key)
        } else {
            // A resolved alert the terminal never showed firing (it fired and resolved
            // within one group) is still a transition worth a line.
            self.firing.remove(&key);
            true
        };
        if !changed {
            return None;
        }
        let at = if firing {
            &alert.starts_at
        } else {
            &alert.ends_at
        };
        let at = humantime::parse_rfc3339_weak(at)
            .map(clock_time)
            .unwrap_or_else(|_| clock_time(now));
        let what = match label("profile_id") {
            "" => alert
                .annotations
                .get("summary")
                .cloned()
                .unwrap_or_default(),
            id => format!("#{id} {}", label("profile_name")),
        };
        Some(transition_line(&at, firing, label("alertname"), &what))
    }
}

/// Prints a line on stdout; a closed stdout (`demo | head`) is no reason to stop.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// `HH:MM:SS` of `t`, in UTC.
fn clock_time(t: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    text.get(11..19).unwrap_or("--:--:--").to_string()
}

/// `first sweep: 300 profiles, 9 firing: ErrorsHigh 5, ConnectivityDegraded 4`: each
/// alertname without its `Profile` prefix, the most frequent first; names that do not fit
/// in [`MAX_LINE_CHARS`] are counted at the end (`+2 more`).
pub fn summary_line(profiles: usize, firing: &BTreeMap<&str, usize>) -> String {
    let total: usize = firing.values().sum();
    let head = format!("first sweep: {profiles} profiles, ");
    if total == 0 {
        return fit(&format!("{head}no alerts firing"));
    }
    let mut line = format!("{head}{total} firing: ");
    let mut names: Vec<(&str, usize)> = firing.iter().map(|(k, v)| (*k, *v)).collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (i, (name, count)) in names.iter().enumerate() {
        let short = name.strip_prefix("Profile").unwrap_or(name);
        let separator = if i == 0 { "" } else { ", " };
        let item = format!("{separator}{short} {count}");
        let later = names.len() - i - 1;
        // Room for this item, and for ", +N more" when names are left after it.
        let reserve = if later > 0 {
            format!(", +{later} more").chars().count()
        } else {
            0
        };
        if line.chars().count() + item.chars().count() + reserve > MAX_LINE_CHARS {
            line.push_str(&format!("{separator}+{} more", names.len() - i));
            break;
        }
        line.push_str(&item);
    }
    fit(&line)
}

/// `18:13:17 FIRING   ProfileConnectivityDegraded  #23 Retail Stores Blue Yonder WMS`, at
/// most [`MAX_LINE_CHARS`] characters whatever the names hold.
pub fn transition_line(at: &str, firing: bool, alertname: &str, what: &str) -> String {
    let word = if firing { "FIRING" } else { "RESOLVED" };
    fit(&format!("{at} {word:<8} {alertname:<28} {what}"))
}

/// One terminal line of at most [`MAX_LINE_CHARS`] characters: control characters
/// (newlines, tabs, escapes) become spaces, bidirectional overrides and isolates (which
/// would reorder the rest of the terminal line) are dropped, and a longer line is cut on a
/// character boundary with `…`.
pub fn fit(text: &str) -> String {
    let clean: Vec<char> = text
        .chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean: String = if clean.len() > MAX_LINE_CHARS {
        let mut cut: String = clean[..MAX_LINE_CHARS - 1].iter().collect();
        cut.push('…');
        cut
    } else {
        clean.into_iter().collect()
    };
    clean.trim_end().to_string()
}

/// The explicit bidirectional formatting characters (Unicode's UAX #9) and the marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: &str, alertname: &str, id: &str, name: &str) -> PayloadAlert {
        PayloadAlert {
            status: status.to_string(),
            labels: BTreeMap::from([
                ("alertname".to_string(), alertname.to_string()),
                ("profile_id".to_string(), id.to_string()),
                ("profile_name".to_string(), name.to_string()),
            ]),
            annotations: BTreeMap::new(),
            starts_at: "2026-12-02T18:13:17Z".to_string(),
            ends_at: if status == "resolved" {
                "2026-12-02T18:14:02Z".to_string()
            } else {
                "0001-01-01T00:00:00Z".to_string()
            },
        }
    }

    #[test]
    fn a_transition_is_one_short_line() {
        let line = transition_line(
            "18:13:17",
            true,
            "ProfileConnectivityDegraded",
            "#23 Retail Stores Blue Yonder WMS",
        );
        assert_eq!(
            line,
            "18:13:17 FIRING   ProfileConnectivityDegraded  #23 Retail Stores Blue Yonder WMS"
        );
    }

    #[test]
    fn hostile_names_stay_on_one_line_of_at_most_120_characters() {
        let long = "Very long profile name ".repeat(14);
        let emoji = "Zürich Lager ✓ 📦 — 東京 WMS 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ".repeat(6);
        for name in [
            "Line one\nLine two\r\n\tthree",
            "\u{1b}[31mred\u{1b}[0m",
            long.as_str(),
            emoji.as_str(),
            "מחסן ראשי \u{202e}gnp.exe\u{202c} مستودع",
            "\u{2067}isolated\u{2069} \u{200f}mark",
        ] {
            let line = transition_line(
                "18:13:17",
                false,
                "ProfileErrorsHigh",
                &format!("#1 {name}"),
            );
            assert!(line.chars().count() <= MAX_LINE_CHARS, "{line:?}");
            assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
            assert!(!line.chars().any(is_bidi_control), "{line:?}");
            assert!(
                line.starts_with("18:13:17 RESOLVED ProfileErrorsHigh"),
                "{line:?}"
            );
        }
        let cut = fit(&long);
        assert_eq!(cut.chars().count(), MAX_LINE_CHARS);
        assert!(cut.ends_with('…'));
        // Cut on a character boundary, never inside a character.
        let cut = fit(&emoji);
        assert!(cut.chars().count() <= MAX_LINE_CHARS && cut.ends_with('…'));
        let hebrew = fit("מחסן ראשי");
        assert_eq!(hebrew, "מחסן ראשי", "right-to-left text itself is kept");
    }

    #[test]
    fn the_summary_counts_alerts_by_name_and_stays_short() {
        let firing = BTreeMap::from([("ProfileConnectivityDegraded", 4), ("ProfileErrorsHigh", 5)]);
        assert_eq!(
            summary_line(300, &firing),
            "first sweep: 300 profiles, 9 firing: ErrorsHigh 5, ConnectivityDegraded 4"
        );
        assert_eq!(
            summary_line(300, &BTreeMap::new()),
            "first sweep: 300 profiles, no alerts firing"
        );
        let every: BTreeMap<&str, usize> = crate::config::ALERTNAMES
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, 1000 + i))
            .collect();
        let line = summary_line(100_000, &every);
        assert!(line.chars().count() <= MAX_LINE_CHARS, "{line}");
        assert!(line.contains(" more"), "{line}");
    }

    #[test]
    fn each_transition_is_shown_once_and_reminders_are_not() {
        let mut terminal = Terminal::default();
        terminal
            .firing
            .insert(("ProfileErrorsHigh".into(), "7".into()));
        let now = SystemTime::UNIX_EPOCH;
        // Firing since the first sweep: in the summary already.
        assert_eq!(
            terminal.line_for(&alert("firing", "ProfileErrorsHigh", "7", "A"), now),
            None
        );
        let fired = terminal.line_for(&alert("firing", "ProfileSyncStale", "8", "B"), now);
        assert_eq!(
            fired.as_deref(),
            Some("18:13:17 FIRING   ProfileSyncStale             #8 B")
        );
        // A reminder of it: nothing new.
        assert_eq!(
            terminal.line_for(&alert("firing", "ProfileSyncStale", "8", "B"), now),
            None
        );
        let resolved = terminal.line_for(&alert("resolved", "ProfileSyncStale", "8", "B"), now);
        assert_eq!(
            resolved.as_deref(),
            Some("18:14:02 RESOLVED ProfileSyncStale             #8 B")
        );
        let again = terminal.line_for(&alert("firing", "ProfileSyncStale", "8", "B"), now);
        assert!(again.is_some(), "firing again is a new transition");
    }
}
