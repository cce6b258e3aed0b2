//! Microsoft Teams through a Workflows (Power Automate) webhook: a `message` whose one
//! attachment is an Adaptive Card 1.4.
//!
//! The card reads top to bottom: the title (`[FIRING:2, RESOLVED:1] inventory-monitor`),
//! then per listed alert a container with the coloured headline (status and summary), the
//! description (last error, what recovered) and a fact set (alert, severity, profile,
//! organization, since when), then `…and N more` when more than 20 alerts changed.
//!
//! Teams refuses messages over about 28 KB, so the card is rendered at decreasing
//! [`text::DETAILS`] levels until its JSON fits in [`MAX_BODY_BYTES`].
//!
//! A receiver's `template` (README, Message templates) writes the text of the card's one
//! text block instead, cut so that the body stays within the same size.

use std::time::Duration;

use serde_json::{json, Value};

use super::template::{self, Measure};
use super::text::{self, truncate_chars, AlertView, Detail, Status};
use super::{
    json_post, Notification, NotificationKind, Receiver, RenderContext, Rendered, CHAT_INTERVAL,
};

/// The `teams` kind.
#[derive(Debug)]
pub(crate) struct Teams;

/// The largest body we send: Teams' limit is about 28 KB, minus room for its envelope.
pub(crate) const MAX_BODY_BYTES: usize = 27_000;

impl Receiver for Teams {
    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        let output = ctx
            .template
            .and_then(|source| template::render(source, notification, ctx));
        if let Some(output) = output {
            return Rendered::Http(json_post(ctx.url.clone(), &templated(&output)));
        }
        let card = |detail| message(notification, ctx, detail);
        let body = text::most_detailed_within(MAX_BODY_BYTES, card, |b| b.to_string().len());
        Rendered::Http(json_post(ctx.url.clone(), &body))
    }

    fn min_interval(&self) -> Duration {
        CHAT_INTERVAL
    }
}

/// A templated message (README, Message templates): a card of one text block, its
/// text cut so that the whole body stays within [`MAX_BODY_BYTES`].
fn templated(output: &str) -> Value {
    let card = |text: &str| {
        envelope(vec![
            json!({ "type": "TextBlock", "text": text, "wrap": true }),
        ])
    };
    let budget = MAX_BODY_BYTES.saturating_sub(card("").to_string().len());
    // Teams shows a single newline as a space; a blank line breaks.
    let escape = |c: char| {
        if c == '\n' {
            "\n\n".to_string()
        } else {
            c.to_string()
        }
    };
    card(&template::fit(output, escape, Measure::JsonBytes, budget))
}

/// The Workflows envelope around the card.
fn message(n: &Notification, ctx: &RenderContext<'_>, detail: Detail) -> Value {
    envelope(card_body(n, ctx, detail))
}

/// The Workflows envelope around a card of `body`.
fn envelope(body: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
            },
        }],
    })
}

/// The card's elements.
fn card_body(n: &Notification, ctx: &RenderContext<'_>, detail: Detail) -> Vec<Value> {
    let (shown, more) = text::listed(n);
    let counts = text::Counts::of(n);
    let title_colour = match n.kind {
        NotificationKind::Test => "Accent",
        _ if counts.firing > 0 => "Attention",
        _ => "Good",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": text::title(n),
        "size": "Large",
        "weight": "Bolder",
        "color": title_colour,
        "wrap": true,
    })];
    if n.kind == NotificationKind::Test {
        body.push(json!({
            "type": "TextBlock",
            "text": text::test_explanation(ctx),
            "wrap": true,
        }));
    }
    for alert in shown {
        let view = AlertView::new(n, alert);
        let mut items = vec![json!({
            "type": "TextBlock",
            "text": truncate_chars(&view.headline(), detail.line),
            "weight": "Bolder",
            "color": colour_name(&view),
            "wrap": true,
        })];
        let description = view.description();
        if !description.is_empty() {
            items.push(json!({
                "type": "TextBlock",
                // Teams shows a single newline as a space; a blank line breaks.
                "text": truncate_chars(&description, detail.description).replace('\n', "\n\n"),
                "wrap": true,
                "spacing": "Small",
            }));
        }
        let facts: Vec<Value> = view
            .facts(ctx.now, detail.line, ctx.external_url)
            .into_iter()
            .map(|(title, value)| json!({ "title": title, "value": value }))
            .collect();
        items.push(json!({ "type": "FactSet", "facts": facts }));
        body.push(json!({
            "type": "Container",
            "separator": true,
            "spacing": "Medium",
            "items": items,
        }));
    }
    if more > 0 {
        body.push(json!({
            "type": "TextBlock",
            "text": text::more_line(more, ctx),
            "isSubtle": true,
            "separator": true,
            "wrap": true,
        }));
    }
    body
}

/// The Adaptive Card text colour of an alert's headline.
fn colour_name(view: &AlertView<'_>) -> &'static str {
    if view.status == Status::Resolved {
        return "Good";
    }
    match &*view.alert.severity {
        "critical" => "Attention",
        "warning" => "Warning",
        "info" => "Accent",
        _ => "Default",
    }
}
