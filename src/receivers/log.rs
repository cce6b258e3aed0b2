//! The `log` kind: one line per alert, for the terminal (what `demo` uses).
//!
//! `FIRING [critical] ProfileConnectivityDegraded profile_id=42: <summary> — <description>`,
//! every line a single line whatever the names hold; the description's lines are joined
//! with ` — `, so a resolved alert's line ends with what recovered. Every alert is listed:
//! a log is not a chat window.
//!
//! A firing alert's line is a warning, any other line (resolved, test) is information; the
//! delivery itself is logged at `DEBUG`, since the lines are their own evidence.

use tracing::Level;

use crate::rules::AlertState;

use super::text::{self, AlertView};
use super::{Notification, NotificationKind, Receiver, RenderContext, Rendered};

/// The `log` kind.
#[derive(Debug)]
pub(crate) struct Log;

impl Receiver for Log {
    fn delivered_level(&self) -> Level {
        Level::DEBUG
    }

    fn line_levels(&self, notification: &Notification, lines: &[String]) -> Vec<Level> {
        // `render` writes one line per alert, in order, after any heading lines.
        let offset = lines.len().saturating_sub(notification.alerts.len());
        (0..lines.len())
            .map(|i| {
                let firing = i
                    .checked_sub(offset)
                    .and_then(|j| notification.alerts.get(j))
                    .is_some_and(|a| a.state != AlertState::Resolved);
                if firing {
                    Level::WARN
                } else {
                    Level::INFO
                }
            })
            .collect()
    }

    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        let mut lines = Vec::with_capacity(notification.alerts.len() + 1);
        if notification.kind == NotificationKind::Test {
            lines.push(format!(
                "TEST {} (receiver \"{}\")",
                text::TEST_MESSAGE,
                text::one_line(ctx.receiver)
            ));
        }
        for alert in &notification.alerts {
            let view = AlertView::new(notification, alert);
            let mut line = format!(
                "{} [{}] {}",
                view.status.word(),
                text::one_line(&alert.severity),
                alert.key.alertname
            );
            if let Some(id) = alert.key.profile_id {
                line.push_str(&format!(" profile_id={id}"));
            }
            line.push_str(&format!(": {}", view.summary()));
            // Each non-blank line of the description follows a dash, on this one line.
            for part in view.description().lines().map(str::trim) {
                if !part.is_empty() {
                    line.push_str(" — ");
                    line.push_str(part);
                }
            }
            lines.push(line);
        }
        Rendered::Log(lines)
    }
}
