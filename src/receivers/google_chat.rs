//! Google Chat space webhooks: `{"text": ...}` in Chat's own markup (`*bold*`).
//!
//! The text is the title, then a paragraph per listed alert: a status mark (🔴 critical,
//! 🟠 warning, 🔵 info, ⚪ other, ✅ resolved, since a text message has no colour), the
//! bold headline, the facts on one line, since when, and the description (last error, what
//! recovered); then `…and N more` when more than 20 alerts changed.
//!
//! Chat turns `<users/all>` into a mention of everyone and `<url|text>` into a link, so a
//! zero-width space is slipped after every `<` that comes from outside. Chat takes at most
//! 32,000 bytes per message: the text is rendered at decreasing [`text::DETAILS`] levels
//! until it fits in [`MAX_TEXT_BYTES`].
//!
//! A receiver's `template` (README, Message templates) writes the whole text instead,
//! defused the same way and cut to the same limit.

use std::time::Duration;

use serde_json::json;

use super::template::{self, Measure};
use super::text::{self, truncate_chars, AlertView, Detail};
use super::{
    json_post, Notification, NotificationKind, Receiver, RenderContext, Rendered, CHAT_INTERVAL,
};

/// The largest text we send: Chat's limit is 32,000 bytes for the whole message.
pub(crate) const MAX_TEXT_BYTES: usize = 30_000;

/// The `google_chat` kind.
#[derive(Debug)]
pub(crate) struct GoogleChat;

impl Receiver for GoogleChat {
    fn min_interval(&self) -> Duration {
        CHAT_INTERVAL
    }

    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        let output = ctx
            .template
            .and_then(|source| template::render(source, notification, ctx));
        if let Some(output) = output {
            // Measured as JSON, which is never shorter than the text Chat counts.
            let escape = |c: char| defuse(c.encode_utf8(&mut [0; 4]));
            let message = template::fit(&output, escape, Measure::JsonBytes, MAX_TEXT_BYTES);
            return Rendered::Http(json_post(ctx.url.clone(), &json!({ "text": message })));
        }
        let at = |detail| render_text(notification, ctx, detail);
        let message = text::most_detailed_within(MAX_TEXT_BYTES, at, String::len);
        // Even the least detailed text may not fit: names of 4-byte characters, say.
        let message = text::truncate_bytes(&message, MAX_TEXT_BYTES);
        Rendered::Http(json_post(ctx.url.clone(), &json!({ "text": message })))
    }
}

/// The message text at one level of detail.
fn render_text(n: &Notification, ctx: &RenderContext<'_>, detail: Detail) -> String {
    let (shown, more) = text::listed(n);
    let mut paragraphs = vec![format!("*{}*", text::title(n))];
    if n.kind == NotificationKind::Test {
        paragraphs.push(defuse(&text::test_explanation(ctx)));
    }
    for alert in shown {
        let view = AlertView::new(n, alert);
        let mut facts = view.facts(ctx.now, detail.line, ctx.external_url);
        // The time goes on its own line; the rest share one.
        let when = facts
            .iter()
            .position(|(title, _)| matches!(*title, "Firing since" | "Started"))
            .map(|i| facts.split_off(i))
            .unwrap_or_default();
        let mut lines = vec![
            format!(
                "{} *{}*",
                mark(view.colour()),
                // A `*` inside would end the bold early.
                defuse(&truncate_chars(&view.headline(), detail.line)).replace('*', "∗")
            ),
            defuse(&join_facts(&facts)),
            defuse(&join_facts(&when)),
        ];
        let description = view.description();
        if !description.is_empty() {
            lines.push(defuse(&truncate_chars(&description, detail.description)));
        }
        paragraphs.push(lines.join("\n"));
    }
    if more > 0 {
        paragraphs.push(defuse(&text::more_line(more, ctx)));
    }
    paragraphs.join("\n\n")
}

/// `Alert: X · Profile: "A" (id 1)`.
fn join_facts(facts: &[(&str, String)]) -> String {
    facts
        .iter()
        .map(|(title, value)| format!("{title}: {value}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The status mark for a colour.
fn mark(colour: u32) -> &'static str {
    match colour {
        text::RED => "🔴",
        text::ORANGE => "🟠",
        text::BLUE => "🔵",
        text::GREEN => "✅",
        _ => "⚪",
    }
}

/// Text from outside with a zero-width space after each `<`, so that it can neither
/// mention (`<users/all>`) nor link.
fn defuse(s: &str) -> String {
    s.replace('<', "<\u{200b}")
}
