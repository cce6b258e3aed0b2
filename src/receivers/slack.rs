//! Slack incoming webhooks: `{"text": ..., "attachments": [...]}`.
//!
//! The message text is the title (`[FIRING:2, RESOLVED:1] inventory-monitor`), then
//! `…and N more` when more than 20 alerts changed. Each listed alert is one attachment
//! (Slack's "secondary attachments", the coloured bar operators know from Alertmanager):
//! its colour says severity or resolution, its title the status and summary, its text the
//! description (last error, and what recovered), its fields the alert, severity, profile,
//! organization and since when. One attachment per alert (rather than per status group)
//! keeps one colour per alert, and 20 stays within Slack's advice of at most 20
//! attachments.
//!
//! Text from outside (names, errors) is escaped the way Slack asks (`&`, `<`, `>`), so a
//! profile named `<!channel>` pings nobody.

use serde_json::{json, Value};

use crate::config::ReceiverKind;

use super::text::{self, escape_slack, truncate_chars, AlertView};
use super::{json_post, Notification, NotificationKind, Receiver, RenderContext, Rendered};

/// Longest attachment title, in chars.
const TITLE_CHARS: usize = 250;
/// Longest attachment text (the description), in chars.
const TEXT_CHARS: usize = 1_500;
/// Fields up to this many chars are shown two per row.
const SHORT_FIELD_CHARS: usize = 40;

/// The `slack` kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slack;

impl Receiver for Slack {
    fn kind(&self) -> ReceiverKind {
        ReceiverKind::Slack
    }

    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        Rendered::Http(json_post(ctx.url.clone(), &body(notification, ctx)))
    }
}

/// The JSON body.
fn body(n: &Notification, ctx: &RenderContext<'_>) -> Value {
    let (shown, more) = text::listed(n);
    let mut lines = vec![format!("*{}*", escape_slack(&text::title(n)))];
    let mut attachments = Vec::with_capacity(shown.len() + 1);
    if n.kind == NotificationKind::Test {
        let explanation = escape_slack(&text::test_explanation(ctx));
        attachments.push(json!({
            "fallback": text::TEST_MESSAGE,
            "color": text::hex_colour(text::BLUE),
            "title": text::TEST_MESSAGE,
            "text": explanation,
            "fields": [field("Receiver", &text::one_line(ctx.receiver))],
        }));
    }
    for alert in shown {
        let view = AlertView::new(n, alert);
        attachments.push(json!({
            "fallback": escape_slack(&view.plain_line()),
            "color": text::hex_colour(view.colour()),
            "title": escape_slack(&truncate_chars(&view.headline(), TITLE_CHARS)),
            "text": escape_slack(&truncate_chars(&view.description(), TEXT_CHARS)),
            "fields": view
                .facts(ctx.now, text::FACT_CHARS)
                .iter()
                .map(|(title, value)| field(title, value))
                .collect::<Vec<_>>(),
        }));
    }
    if more > 0 {
        lines.push(escape_slack(&text::more_line(more, ctx)));
    }
    json!({ "text": lines.join("\n"), "attachments": attachments })
}

/// One attachment field.
fn field(title: &str, value: &str) -> Value {
    json!({
        "title": title,
        "value": escape_slack(value),
        "short": text::char_len(value) <= SHORT_FIELD_CHARS,
    })
}
