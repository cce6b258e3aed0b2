//! The human wording every chat format shares: the title line, one alert's headline and
//! facts, durations, colours, and the small text tools (one-lining, truncation, escaping)
//! that keep a hostile profile name from breaking a message.
//!
//! Messages are written for a person on call: what is wrong, on which profile of which
//! organization, since when, the last error (part of the alert's description), and, for a
//! resolved alert, what recovered (the description's last line says so).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::clock::rfc3339;
use crate::rules::{Alert, AlertState};

use super::{Notification, NotificationKind, RenderContext};

/// The product name, as it appears in titles.
pub(crate) const PRODUCT: &str = "inventory-monitor";

/// The line that marks a test message, in every kind.
pub(crate) const TEST_MESSAGE: &str = "Test notification from inventory-monitor — no action needed";

/// At most this many alerts are listed in one chat message (README, Alerts); the rest are counted.
pub(crate) const MAX_LISTED: usize = 20;

/// The longest name (profile, organization, severity) shown in a fact, in chars: longer
/// names are not names but noise, and would crowd out everything else.
pub(crate) const FACT_CHARS: usize = 300;

/// How much of each alert a size-limited message shows; formats with a hard byte limit
/// (Teams, Google Chat) try each level in turn until the message fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Detail {
    /// Longest description, in chars.
    pub description: usize,
    /// Longest headline or fact value, in chars.
    pub line: usize,
}

/// From most to least detailed. At the last level, 20 alerts of names made of 4-byte
/// characters still fit in 28 KB of JSON.
pub(crate) const DETAILS: [Detail; 4] = [
    Detail {
        description: 1_000,
        line: 250,
    },
    Detail {
        description: 400,
        line: 150,
    },
    Detail {
        description: 150,
        line: 80,
    },
    Detail {
        description: 40,
        line: 40,
    },
];

/// The most detailed of `render`'s renderings (tried from [`DETAILS`]' first level on)
/// whose size by `bytes` is at most `max_bytes`; the least detailed when none is.
pub(crate) fn most_detailed_within<T>(
    max_bytes: usize,
    render: impl Fn(Detail) -> T,
    bytes: impl Fn(&T) -> usize,
) -> T {
    let mut rendered = render(DETAILS[0]);
    for detail in &DETAILS[1..] {
        if bytes(&rendered) <= max_bytes {
            break;
        }
        rendered = render(*detail);
    }
    rendered
}

/// Colour of resolved alerts.
pub(crate) const GREEN: u32 = 0x2e_b8_86;
/// Colour of critical alerts.
pub(crate) const RED: u32 = 0xd0_00_00;
/// Colour of warnings.
pub(crate) const ORANGE: u32 = 0xf2_a9_00;
/// Colour of `info` alerts and of test messages.
pub(crate) const BLUE: u32 = 0x43_9f_e0;
/// Colour of any other severity.
pub(crate) const GREY: u32 = 0x80_80_80;

/// How one alert is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    /// Started firing (or, in a mixed group, still firing).
    Firing,
    /// Still firing: a reminder.
    StillFiring,
    /// Resolved.
    Resolved,
}

impl Status {
    /// The status of `alert` within `notification`.
    pub(crate) fn of(notification: &Notification, alert: &Alert) -> Self {
        match (alert.state, notification.kind) {
            (AlertState::Resolved, _) => Status::Resolved,
            (_, NotificationKind::Reminder) => Status::StillFiring,
            _ => Status::Firing,
        }
    }

    /// The word shown in headlines: `FIRING`, `STILL FIRING`, `RESOLVED`.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Status::Firing => "FIRING",
            Status::StillFiring => "STILL FIRING",
            Status::Resolved => "RESOLVED",
        }
    }

    /// True for both firing statuses.
    pub(crate) fn is_firing(self) -> bool {
        self != Status::Resolved
    }
}

/// The colour of an alert: green once resolved, else by severity.
pub(crate) fn colour(status: Status, severity: &str) -> u32 {
    if !status.is_firing() {
        return GREEN;
    }
    match severity {
        "critical" => RED,
        "warning" => ORANGE,
        "info" => BLUE,
        _ => GREY,
    }
}

/// `#rrggbb`.
pub(crate) fn hex_colour(c: u32) -> String {
    format!("#{c:06x}")
}

/// How many alerts of a notification fire and how many resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Firing (or still firing).
    pub firing: usize,
    /// Resolved.
    pub resolved: usize,
}

impl Counts {
    /// Counts the alerts of `n`.
    pub(crate) fn of(n: &Notification) -> Self {
        let resolved = n
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Resolved)
            .count();
        Self {
            firing: n.alerts.len() - resolved,
            resolved,
        }
    }
}

/// The title line: `[FIRING:3, RESOLVED:1] inventory-monitor`, with ` — still firing
/// (reminder)` for reminders, or `[TEST] Test notification from …` for a test.
pub(crate) fn title(n: &Notification) -> String {
    if n.kind == NotificationKind::Test {
        return format!("[TEST] {TEST_MESSAGE}");
    }
    let c = Counts::of(n);
    let mut parts = Vec::with_capacity(2);
    if c.firing > 0 {
        parts.push(format!("FIRING:{}", c.firing));
    }
    if c.resolved > 0 {
        parts.push(format!("RESOLVED:{}", c.resolved));
    }
    if parts.is_empty() {
        parts.push("FIRING:0".to_string());
    }
    let mut t = format!("[{}] {PRODUCT}", parts.join(", "));
    if n.kind == NotificationKind::Reminder {
        t.push_str(" — still firing (reminder)");
    }
    t
}

/// The sentence under a test title, naming the receiver.
pub(crate) fn test_explanation(ctx: &RenderContext<'_>) -> String {
    format!(
        "This message checks that receiver \"{}\" is set up and reachable (sent at {}). It \
         is not about any profile.",
        one_line(ctx.receiver),
        rfc3339(ctx.now)
    )
}

/// The alerts a chat message lists, and how many it leaves out.
pub(crate) fn listed(n: &Notification) -> (&[Arc<Alert>], usize) {
    let shown = n.alerts.len().min(MAX_LISTED);
    (&n.alerts[..shown], n.alerts.len() - shown)
}

/// The line closing a truncated listing: `…and 5 more`, pointing at the status page's
/// alerting profiles (README, Status page) when our own URL is known.
pub(crate) fn more_line(more: usize, ctx: &RenderContext<'_>) -> String {
    let base = ctx.external_url.trim_end_matches('/');
    if base.is_empty() {
        format!("…and {more} more")
    } else {
        format!("…and {more} more (all alerts: {base}/?state=alerting)")
    }
}

/// One alert as a chat message shows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlertView<'a> {
    /// How it is presented.
    pub status: Status,
    /// The alert.
    pub alert: &'a Alert,
}

impl<'a> AlertView<'a> {
    /// The view of `alert` within `n`.
    pub(crate) fn new(n: &Notification, alert: &'a Alert) -> Self {
        Self {
            status: Status::of(n, alert),
            alert,
        }
    }

    /// The alert's colour.
    pub(crate) fn colour(&self) -> u32 {
        colour(self.status, &self.alert.severity)
    }

    /// The summary on one line (the alertname when there is none).
    pub(crate) fn summary(&self) -> String {
        let s = one_line(&self.alert.summary);
        if s.is_empty() {
            self.alert.key.alertname.as_str().to_string()
        } else {
            s
        }
    }

    /// `FIRING: Connectivity of "A" (Org) is unhealthy`.
    pub(crate) fn headline(&self) -> String {
        format!("{}: {}", self.status.word(), self.summary())
    }

    /// `FIRING [critical] ProfileConnectivityDegraded: <summary>`: plain text for
    /// notifications previews and logs.
    pub(crate) fn plain_line(&self) -> String {
        format!(
            "{} [{}] {}: {}",
            self.status.word(),
            one_line(&self.alert.severity),
            self.alert.key.alertname,
            self.summary()
        )
    }

    /// The description, control characters other than newlines removed.
    pub(crate) fn description(&self) -> String {
        multi_line(&self.alert.description)
    }

    /// The facts a person wants at a glance, as (label, value) pairs: alert, severity,
    /// profile, its page on the status page when `external_url` is known (README, Status
    /// page; the status page itself for an alert about no profile), the runbook link when the rule has one (README, Runbook links),
    /// organization, and since when (or when it resolved). Values are one line
    /// each; the names in them (profile, organization, severity) are cut to `name_chars`.
    pub(crate) fn facts(
        &self,
        now: SystemTime,
        name_chars: usize,
        external_url: &str,
    ) -> Vec<(&'static str, String)> {
        let a = self.alert;
        let name = |s: &str| truncate_chars(&one_line(s), name_chars);
        let mut facts = vec![
            ("Alert", a.key.alertname.as_str().to_string()),
            ("Severity", name(&a.severity)),
        ];
        if let Some(id) = a.key.profile_id {
            let profile_name = name(&a.profile_name);
            let profile = if profile_name.is_empty() {
                format!("id {id}")
            } else {
                format!("\"{profile_name}\" (id {id})")
            };
            facts.push(("Profile", profile));
            let base = external_url.trim_end_matches('/');
            if !base.is_empty() {
                facts.push(("Page", format!("{base}/profiles/{id}")));
            }
        } else {
            // An alert about no profile (`InventoryApiDown`): the status page itself.
            let base = external_url.trim_end_matches('/');
            if !base.is_empty() {
                facts.push(("Page", format!("{base}/")));
            }
        }
        if !a.runbook_url.is_empty() {
            facts.push((RUNBOOK, a.runbook_url.clone()));
        }
        let org = name(&a.organization);
        if !org.is_empty() {
            facts.push(("Organization", org));
        }
        let started = a.firing_since.unwrap_or(a.active_since);
        match (self.status, a.resolved_at) {
            (Status::Resolved, resolved) => {
                let resolved = resolved.unwrap_or(now);
                facts.push(("Started", rfc3339(started)));
                facts.push((
                    "Resolved",
                    format!(
                        "{} (after {})",
                        rfc3339(resolved),
                        human_duration(elapsed(started, resolved))
                    ),
                ));
            }
            _ => facts.push((
                "Firing since",
                format!(
                    "{} (for {})",
                    rfc3339(started),
                    human_duration(elapsed(started, now))
                ),
            )),
        }
        facts
    }
}

/// The fact holding the alert's runbook link (README, Runbook links).
pub(crate) const RUNBOOK: &str = "Runbook";

/// True for the facts whose value is a link built from our own configuration (the status
/// page, the runbook; placeholders in it percent-encoded): shown as a link, and so not
/// Markdown-escaped, which would put backslashes into the URL.
pub(crate) fn is_link(fact: &str) -> bool {
    matches!(fact, "Page" | RUNBOOK)
}

/// `to - from`, zero when the clock stepped back.
fn elapsed(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or_default()
}

/// A duration the way a person says it: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes) = (s / 86_400, s / 3_600 % 24, s / 60 % 60);
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{minutes}m"),
        3_600..=86_399 if minutes == 0 => format!("{hours}h"),
        3_600..=86_399 => format!("{hours}h {minutes}m"),
        _ if hours == 0 => format!("{days}d"),
        _ => format!("{days}d {hours}h"),
    }
}

/// `s` on one line: every control character (newlines, tabs, …) and line or paragraph
/// separator becomes a space, and the ends are trimmed. For titles, names and log lines.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if is_break(c) { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// `s` with its newlines kept (`\r\n` and `\r` become `\n`) and every other control
/// character turned into a space. For descriptions.
pub(crate) fn multi_line(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\n' => '\n',
            '\r' | '\u{2028}' | '\u{2029}' => '\n',
            c if is_break(c) => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Control characters and the Unicode line/paragraph separators.
fn is_break(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The number of Unicode scalar values (chars) in `s`: how the chat limits are counted.
pub(crate) fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `max` chars, ending in `…` when cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let keep: String = s.chars().take(max - 1).collect();
            format!("{}…", keep.trim_end())
        }
    }
}

/// `s` cut to at most `max` bytes of UTF-8 (on a char boundary), ending in `…` when cut.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let ellipsis = '…'.len_utf8();
    if max < ellipsis {
        return String::new();
    }
    let mut end = max - ellipsis;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s[..end].trim_end())
}

/// Slack's escaping: `&`, `<` and `>` are control characters of its message format
/// (`<!channel>`, `<url|text>`), so text from outside must carry them as entities.
pub(crate) fn escape_slack(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Markdown escaping (Mattermost, Discord): a backslash before every character that could
/// start formatting, a link or a quote, so names and errors show as they are.
pub(crate) fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_speech() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3_599, "59m"),
            (3_600, "1h"),
            (3_900, "1h 5m"),
            (86_400, "1d"),
            (90_000, "1d 1h"),
        ];
        for (secs, text) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), text, "{secs}");
        }
    }

    #[test]
    fn truncation_counts_chars_and_marks_the_cut() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("🔥🔥🔥🔥", 2), "🔥…");
        assert_eq!(char_len(&truncate_chars(&"é".repeat(50), 10)), 10);
        assert_eq!(truncate_chars("abc", 0), "");
    }

    #[test]
    fn byte_truncation_stays_on_char_boundaries() {
        let s = "🔥".repeat(10);
        let t = truncate_bytes(&s, 10);
        assert!(t.len() <= 10, "{t}");
        assert!(t.ends_with('…'));
        assert_eq!(truncate_bytes("short", 10), "short");
    }

    #[test]
    fn one_line_flattens_every_break() {
        assert_eq!(one_line(" a\nb\r\tc\u{2028}d "), "a b  c d");
        assert_eq!(multi_line("a\r\nb\u{7}c\rd"), "a\nb c\nd");
    }

    #[test]
    fn escapes_neutralise_markup() {
        assert_eq!(
            escape_slack("<!channel> & <x>"),
            "&lt;!channel&gt; &amp; &lt;x&gt;"
        );
        assert_eq!(escape_markdown("*a* _b_ `c`"), "\\*a\\* \\_b\\_ \\`c\\`");
    }
}
