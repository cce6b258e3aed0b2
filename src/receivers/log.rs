//! The `log` kind: one line per alert, for the terminal (what `demo` uses).
//!
//! `FIRING [critical] ProfileConnectivityDegraded profile_id=42: <summary> — <description>`,
//! every line a single line whatever the names hold; the description's lines are joined
//! with ` — `, so a resolved alert's line ends with what recovered. Every alert is listed:
//! a log is not a chat window.

use crate::config::ReceiverKind;

use super::text::{self, AlertView};
use super::{Notification, NotificationKind, Receiver, RenderContext, Rendered};

/// The `log` kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Log;

impl Receiver for Log {
    fn kind(&self) -> ReceiverKind {
        ReceiverKind::Log
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
            let description = view
                .description()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" — ");
            if !description.is_empty() {
                line.push_str(" — ");
                line.push_str(&description);
            }
            lines.push(line);
        }
        Rendered::Log(lines)
    }
}
