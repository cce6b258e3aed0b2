//! Discord webhooks: `{"content": ..., "embeds": [...], "allowed_mentions": ...}`.
//!
//! The content is the title (and `…and N more` when more than 20 alerts changed). The
//! alerts go into embeds, one per status and severity (`FIRING · critical (2)`, ...,
//! `RESOLVED (1)`) so each group has its colour, with one field per alert: its summary as
//! the name, and the facts and description (last error, what recovered) as the value.
//! Fields rather than one embed per alert, because Discord takes at most 10 embeds and we
//! list up to 20 alerts.
//!
//! Discord's limits are counted in characters and enforced here: content 2000, 10 embeds,
//! title 256, description 4096, 25 fields of name 256 and value 1024, and 6000 for all the
//! embeds' text together; when the fields would pass 6000 they share what is left fairly,
//! each cut with `…`. `allowed_mentions` is empty, so a profile named `@everyone` pings
//! nobody; text from outside is Markdown-escaped.
//!
//! A receiver's `template` (README, Message templates) writes the content instead,
//! Markdown-escaped, within its 2,000 chars, and no embed is sent.
//!
//! A 429's JSON body says how long to wait (`retry_after`, seconds, a float), more
//! precisely than its `Retry-After` header: it is preferred.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::retry_after;

use super::template::{self, Measure};
use super::text::{self, char_len, escape_markdown, truncate_chars, AlertView, Status};
use super::{
    json_post, Notification, NotificationKind, Receiver, RenderContext, Rendered, CHAT_INTERVAL,
};

/// Longest message content.
pub(crate) const MAX_CONTENT: usize = 2_000;
/// Most embeds in one message.
pub(crate) const MAX_EMBEDS: usize = 10;
/// Longest embed title.
pub(crate) const MAX_TITLE: usize = 256;
/// Longest embed description.
pub(crate) const MAX_DESCRIPTION: usize = 4_096;
/// Most fields in one embed.
pub(crate) const MAX_FIELDS: usize = 25;
/// Longest field name (Discord allows 256; shorter leaves room for the values).
const FIELD_NAME_CHARS: usize = 150;
/// Longest description of the test embed (it names the receiver, whose name is free).
const TEST_DESCRIPTION_CHARS: usize = 500;
/// Longest field value.
pub(crate) const MAX_FIELD_VALUE: usize = 1_024;
/// Most characters of all embeds' titles, descriptions, field names and values together.
pub(crate) const MAX_EMBED_TOTAL: usize = 6_000;

// Every listed alert fits as a field of one embed.
const _: () = assert!(text::MAX_LISTED <= MAX_FIELDS);

/// The `discord` kind.
#[derive(Debug)]
pub(crate) struct Discord;

impl Receiver for Discord {
    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        let output = ctx
            .template
            .and_then(|source| template::render(source, notification, ctx));
        let body = match output {
            Some(output) => templated(&output),
            None => body(notification, ctx),
        };
        Rendered::Http(json_post(ctx.url.clone(), &body))
    }

    fn min_interval(&self) -> Duration {
        CHAT_INTERVAL
    }

    /// Discord's rate-limit body: `{"message": "...", "retry_after": 1.5, "global": false}`.
    fn body_retry_after(&self, status: u16, body: &[u8]) -> Option<Duration> {
        #[derive(Deserialize)]
        struct RateLimited {
            retry_after: f64,
        }
        if status != 429 {
            return None;
        }
        let parsed: RateLimited = serde_json::from_slice(body).ok()?;
        retry_after::from_seconds(parsed.retry_after)
    }
}

/// One embed, before it becomes JSON.
#[derive(Debug)]
struct Embed {
    /// Status and severity of its alerts, with their count.
    title: String,
    /// The colour bar.
    colour: u32,
    /// Only for the test embed.
    description: String,
    /// One per alert.
    fields: Vec<Field>,
}

/// One embed field.
#[derive(Debug)]
struct Field {
    /// The alert's summary.
    name: String,
    /// Facts and description.
    value: String,
}

/// The JSON body.
fn body(n: &Notification, ctx: &RenderContext<'_>) -> Value {
    let (shown, more) = text::listed(n);
    // The title and the "more" line are our own words (and a URL that escaping would
    // break); only text from outside is escaped.
    let mut content = vec![format!("**{}**", text::title(n))];
    let mut embeds = Vec::new();
    if n.kind == NotificationKind::Test {
        embeds.push(Embed {
            title: text::TEST_MESSAGE.to_string(),
            colour: text::BLUE,
            description: truncate_chars(
                &escape_markdown(&text::test_explanation(ctx)),
                TEST_DESCRIPTION_CHARS,
            ),
            fields: Vec::new(),
        });
    }
    // Groups in order of first appearance; the notification is ordered firing first,
    // then by severity, so this reads worst first.
    let mut groups: Vec<((Status, String), Vec<Field>)> = Vec::new();
    for alert in shown {
        let view = AlertView::new(n, alert);
        let severity = if view.status == Status::Resolved {
            String::new()
        } else {
            text::one_line(&alert.severity)
        };
        let key = (view.status, severity);
        let field = field(&view, ctx);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, fields)) => fields.push(field),
            None => groups.push((key, vec![field])),
        }
    }
    for ((status, severity), fields) in groups {
        embeds.push(Embed {
            title: group_title(status, &severity, fields.len()),
            colour: text::colour(status, &severity),
            description: String::new(),
            fields,
        });
    }
    // More groups than embeds (many distinct severities): the rest join the last embed.
    if embeds.len() > MAX_EMBEDS {
        let rest: Vec<Field> = embeds
            .drain(MAX_EMBEDS - 1..)
            .flat_map(|e| e.fields)
            .collect();
        embeds.push(Embed {
            title: format!("OTHERS ({})", rest.len()),
            colour: text::GREY,
            description: String::new(),
            fields: rest,
        });
    }
    if more > 0 {
        content.push(text::more_line(more, ctx));
    }
    fit(&mut embeds);
    json!({
        "content": truncate_chars(&content.join("\n"), MAX_CONTENT),
        "embeds": embeds.iter().map(embed_json).collect::<Vec<_>>(),
        "allowed_mentions": { "parse": [] },
    })
}

/// A templated message (README, Message templates): the text as the content,
/// Markdown-escaped, within 2,000 chars; no embeds, and no mentions.
fn templated(output: &str) -> Value {
    let escape = |c: char| escape_markdown(c.encode_utf8(&mut [0; 4]));
    json!({
        "content": template::fit(output, escape, Measure::Chars, MAX_CONTENT),
        "allowed_mentions": { "parse": [] },
    })
}

/// `FIRING · critical (2)`, `RESOLVED (1)`.
fn group_title(status: Status, severity: &str, count: usize) -> String {
    let title = if severity.is_empty() {
        format!("{} ({count})", status.word())
    } else {
        format!(
            "{} · {} ({count})",
            status.word(),
            escape_markdown(severity)
        )
    };
    truncate_chars(&title, MAX_TITLE)
}

/// One alert as a field: summary as the name; facts (but severity, which the embed title
/// says) and description as the value.
fn field(view: &AlertView<'_>, ctx: &RenderContext<'_>) -> Field {
    let mut lines: Vec<String> = view
        .facts(ctx.now, text::FACT_CHARS, ctx.external_url)
        .into_iter()
        .filter(|(title, _)| *title != "Severity")
        .map(|(title, value)| {
            if text::is_link(title) {
                format!("**{title}:** {value}")
            } else {
                format!("**{title}:** {}", escape_markdown(&value))
            }
        })
        .collect();
    let description = view.description();
    if !description.is_empty() {
        lines.push(escape_markdown(&description));
    }
    Field {
        name: truncate_chars(&escape_markdown(&view.summary()), FIELD_NAME_CHARS),
        value: truncate_chars(&lines.join("\n"), MAX_FIELD_VALUE),
    }
}

/// Cuts the embeds to Discord's per-item limits, then shares what the 6000-character total
/// leaves among the field values: each gets its full length or an equal share of what
/// remains, whichever is smaller (water-filling), so short values stay whole.
fn fit(embeds: &mut [Embed]) {
    for e in embeds.iter_mut() {
        e.title = truncate_chars(&e.title, MAX_TITLE);
        e.description = truncate_chars(&e.description, MAX_DESCRIPTION);
    }
    let fixed: usize = embeds
        .iter()
        .map(|e| {
            char_len(&e.title)
                + char_len(&e.description)
                + e.fields.iter().map(|f| char_len(&f.name)).sum::<usize>()
        })
        .sum();
    let mut values: Vec<&mut String> = embeds
        .iter_mut()
        .flat_map(|e| e.fields.iter_mut().map(|f| &mut f.value))
        .collect();
    let needed: usize = values.iter().map(|v| char_len(v)).sum();
    if fixed + needed <= MAX_EMBED_TOTAL {
        return;
    }
    let mut budget = MAX_EMBED_TOTAL.saturating_sub(fixed);
    values.sort_by_key(|v| char_len(v));
    let count = values.len();
    for (i, value) in values.into_iter().enumerate() {
        // At least one char: Discord rejects an empty field value.
        let share = (budget / (count - i)).max(1);
        if char_len(value) > share {
            *value = truncate_chars(value, share);
        }
        budget = budget.saturating_sub(char_len(value));
    }
}

/// An embed as Discord's JSON.
fn embed_json(e: &Embed) -> Value {
    let mut v = json!({
        "title": e.title,
        "color": e.colour,
    });
    if !e.description.is_empty() {
        v["description"] = json!(e.description);
    }
    if !e.fields.is_empty() {
        v["fields"] = e
            .fields
            .iter()
            .map(|f| json!({ "name": f.name, "value": f.value, "inline": false }))
            .collect();
    }
    v
}
