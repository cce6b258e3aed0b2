//! The Slack-compatible message shape `{"text": ..., "attachments": [...]}` that `slack`
//! and `mattermost` both post: the title (and `…and N more` when more than 20 alerts
//! changed) in the text, then one coloured attachment per listed alert, with the status and
//! summary as its title, the description as its text, and the facts as its fields.
//!
//! The two kinds differ only in markup, which a [`Markup`] names: how the title is made
//! bold, and how text from outside (names, errors) is made harmless for each place it
//! appears in. Each is an [`Attachments`] receiver with its own markup.

use std::time::Duration;

use serde_json::{json, Value};

use super::template;
use super::text::{self, truncate_chars, AlertView};
use super::{
    json_post, Notification, NotificationKind, Receiver, RenderContext, Rendered, CHAT_INTERVAL,
};

/// Longest attachment title, in chars.
const TITLE_CHARS: usize = 250;
/// Longest attachment text (the description), in chars.
const TEXT_CHARS: usize = 1_500;
/// Fields up to this many chars are shown two per row.
const SHORT_FIELD_CHARS: usize = 40;

/// A kind that posts this shape, in its markup.
#[derive(Debug)]
pub(crate) struct Attachments {
    /// How the kind marks up and escapes.
    pub markup: Markup,
    /// The body of a message whose text a template wrote (README, Message templates).
    pub templated: fn(&Notification, &str) -> Value,
}

impl Receiver for Attachments {
    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        let output = ctx
            .template
            .and_then(|source| template::render(source, notification, ctx));
        let body = match output {
            Some(output) => (self.templated)(notification, &output),
            None => body(notification, ctx, &self.markup),
        };
        Rendered::Http(json_post(ctx.url.clone(), &body))
    }

    fn min_interval(&self) -> Duration {
        CHAT_INTERVAL
    }
}

/// How one kind marks up and escapes a message.
#[derive(Debug)]
pub(crate) struct Markup {
    /// The message title (our own words, from [`text::title`]) made bold.
    pub bold_title: fn(&str) -> String,
    /// Text from outside shown as plain text: an attachment's fallback and title.
    pub plain: fn(&str) -> String,
    /// Text from outside in marked-up places: an attachment's text and field values, the
    /// test message's explanation.
    pub rich: fn(&str) -> String,
    /// Our own lines that may hold a URL (the "more" line), and the link facts (status
    /// page, runbook).
    pub ours: fn(&str) -> String,
}

/// The JSON body of `n`.
fn body(n: &Notification, ctx: &RenderContext<'_>, markup: &Markup) -> Value {
    let (shown, more) = text::listed(n);
    let mut lines = vec![(markup.bold_title)(&text::title(n))];
    let mut attachments = Vec::with_capacity(shown.len() + 1);
    if n.kind == NotificationKind::Test {
        attachments.push(json!({
            "fallback": text::TEST_MESSAGE,
            "color": text::hex_colour(text::BLUE),
            "title": text::TEST_MESSAGE,
            "text": (markup.rich)(&text::test_explanation(ctx)),
            "fields": [field(markup, "Receiver", &text::one_line(ctx.receiver))],
        }));
    }
    for alert in shown {
        let view = AlertView::new(n, alert);
        attachments.push(json!({
            "fallback": (markup.plain)(&view.plain_line()),
            "color": text::hex_colour(view.colour()),
            "title": (markup.plain)(&truncate_chars(&view.headline(), TITLE_CHARS)),
            "text": (markup.rich)(&truncate_chars(&view.description(), TEXT_CHARS)),
            "fields": view
                .facts(ctx.now, text::FACT_CHARS, ctx.external_url)
                .iter()
                .map(|(title, value)| field(markup, title, value))
                .collect::<Vec<_>>(),
        }));
    }
    if more > 0 {
        lines.push((markup.ours)(&text::more_line(more, ctx)));
    }
    json!({ "text": lines.join("\n"), "attachments": attachments })
}

/// One attachment field.
fn field(markup: &Markup, title: &str, value: &str) -> Value {
    json!({
        "title": title,
        "value": if text::is_link(title) { (markup.ours)(value) } else { (markup.rich)(value) },
        "short": text::char_len(value) <= SHORT_FIELD_CHARS,
    })
}
