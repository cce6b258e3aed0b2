//! Mattermost incoming webhooks: the Slack-compatible shape `{"text": ...,
//! "attachments": [...]}`.
//!
//! The same layout as `slack` (title and `…and N more` in the text, one coloured
//! attachment per listed alert with the description as text and the facts as fields),
//! kept in its own file because the two differ in markup and may diverge further:
//! Mattermost renders Markdown, so the title is `**bold**` and text from outside is
//! backslash-escaped rather than entity-escaped. A zero-width space follows every `@` from
//! outside, so a profile named `@channel` or `@all` notifies nobody.

use serde_json::{json, Value};

use crate::config::ReceiverKind;

use super::text::{self, truncate_chars, AlertView};
use super::{json_post, Notification, NotificationKind, Receiver, RenderContext, Rendered};

/// Longest attachment title, in chars.
const TITLE_CHARS: usize = 250;
/// Longest attachment text (the description), in chars.
const TEXT_CHARS: usize = 1_500;
/// Fields up to this many chars are shown two per row.
const SHORT_FIELD_CHARS: usize = 40;

/// The `mattermost` kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mattermost;

impl Receiver for Mattermost {
    fn kind(&self) -> ReceiverKind {
        ReceiverKind::Mattermost
    }

    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        Rendered::Http(json_post(ctx.url.clone(), &body(notification, ctx)))
    }
}

/// The JSON body.
fn body(n: &Notification, ctx: &RenderContext<'_>) -> Value {
    let (shown, more) = text::listed(n);
    // The title and the "more" line are our own words (and a URL that escaping would
    // break); only text from outside is escaped.
    let mut lines = vec![format!("**{}**", text::title(n))];
    let mut attachments = Vec::with_capacity(shown.len() + 1);
    if n.kind == NotificationKind::Test {
        let explanation = escape_markdown(&text::test_explanation(ctx));
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
            "fallback": defuse(&view.plain_line()),
            "color": text::hex_colour(view.colour()),
            "title": defuse(&truncate_chars(&view.headline(), TITLE_CHARS)),
            "text": escape_markdown(&truncate_chars(&view.description(), TEXT_CHARS)),
            "fields": view
                .facts(ctx.now, text::FACT_CHARS)
                .iter()
                .map(|(title, value)| field(title, value))
                .collect::<Vec<_>>(),
        }));
    }
    if more > 0 {
        lines.push(text::more_line(more, ctx));
    }
    json!({ "text": lines.join("\n"), "attachments": attachments })
}

/// Plain text from outside, unable to mention anyone.
fn defuse(s: &str) -> String {
    s.replace('@', "@\u{200b}")
}

/// Text from outside, Markdown-escaped and unable to mention anyone.
fn escape_markdown(s: &str) -> String {
    defuse(&text::escape_markdown(s))
}

/// One attachment field.
fn field(title: &str, value: &str) -> Value {
    json!({
        "title": title,
        "value": escape_markdown(value),
        "short": text::char_len(value) <= SHORT_FIELD_CHARS,
    })
}
