//! A chat receiver's `template` (README, Message templates): the notification as the
//! variables a template reads ([`variables`]), the render, and the cut that keeps the
//! result within a kind's limits.
//!
//! The template's output is the message text, written as plain text: each kind escapes it
//! as text for its own markup (entities for Slack, backslashes for Discord and Mattermost,
//! which also defuse mentions, a zero-width space after `<` for Google Chat, JSON for
//! Teams), leaving bare `http(s)://` links whole so every kind shows them as links. What
//! does not fit a kind's limit is cut on a character boundary, outside any escape, and the
//! message ends in [`CUT`].
//!
//! A template that fails at run time (which `check` makes unlikely: it renders every
//! template over sample notifications) is logged, without the message or any secret, and
//! the built-in message goes out instead: a mistake in a template never loses an alert.

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::config::template as config_template;
use crate::rules::AlertState;

use super::am_model::{am_annotations, am_labels, starts_at};
use super::text::{self, AlertView, Counts};
use super::{fingerprint, Notification, NotificationKind, RenderContext};

/// What ends a message that was cut to fit.
pub(crate) const CUT: &str = "…(cut)";

/// The template output longer than this (in chars) is cut before escaping: no kind takes
/// more, and escaping stays cheap whatever a template loops over.
const MAX_OUTPUT_CHARS: usize = 200_000;

/// Links longer than this (in chars) are not kept whole.
const MAX_LINK_CHARS: usize = 1_000;

/// The variables of `n` as a template reads them (README, Message templates).
pub(crate) fn variables(n: &Notification, ctx: &RenderContext<'_>) -> Value {
    let (shown, more) = text::listed(n);
    let counts = Counts::of(n);
    let base = ctx.external_url.trim_end_matches('/');
    let alerts: Vec<Value> = shown
        .iter()
        .map(|alert| {
            let view = AlertView::new(n, alert);
            let resolved = alert.state == AlertState::Resolved;
            let page_url = match (alert.key.profile_id, base.is_empty()) {
                (Some(id), false) => format!("{base}/profiles/{id}"),
                _ => String::new(),
            };
            json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": am_labels(alert),
                "annotations": am_annotations(alert),
                "starts_at": rfc3339(starts_at(alert)),
                "ends_at": alert.resolved_at.filter(|_| resolved).map(rfc3339).unwrap_or_default(),
                "fingerprint": fingerprint(alert),
                "page_url": page_url,
                "headline": view.headline(),
            })
        })
        .collect();
    let common_labels = common(shown.iter().map(|a| am_labels(a)));
    json!({
        "status": if counts.firing > 0 { "firing" } else { "resolved" },
        "kind": match n.kind {
            NotificationKind::Alerts => "alerts",
            NotificationKind::Reminder => "reminder",
            NotificationKind::Test => "test",
        },
        "receiver": ctx.receiver,
        "title": text::title(n),
        "alerts": alerts,
        "counts": {
            "firing": counts.firing,
            "resolved": counts.resolved,
            "total": n.alerts.len(),
            "truncated": more,
        },
        "external_url": ctx.external_url,
        // Grouping is per receiver, not by label: as in the webhook payload, no labels.
        "group_labels": {},
        "common_labels": common_labels,
    })
}

/// The labels every one of `sets` has with the same value.
fn common(
    mut sets: impl Iterator<Item = std::collections::BTreeMap<&'static str, String>>,
) -> std::collections::BTreeMap<&'static str, String> {
    let Some(mut out) = sets.next() else {
        return Default::default();
    };
    for set in sets {
        out.retain(|k, v| set.get(k) == Some(v));
    }
    out
}

/// The text of `n` by the receiver's template, or `None` (logged) when the template fails
/// at run time: the caller then sends the built-in message.
pub(crate) fn render(source: &str, n: &Notification, ctx: &RenderContext<'_>) -> Option<String> {
    let env = config_template::environment();
    let vars = minijinja::Value::from(minijinja::value::Serde(variables(n, ctx)));
    let rendered = env
        .template_from_str(source)
        .and_then(|template| template.render(vars));
    if !matches!(&rendered, Ok(text) if !text.trim().is_empty()) {
        if let Some(failures) = ctx.template_failures {
            failures.inc();
        }
    }
    match rendered {
        Ok(text) if !text.trim().is_empty() => Some(text),
        Ok(_) => {
            tracing::warn!(
                receiver = %text::one_line(ctx.receiver),
                notification = n.id,
                "the receiver's template rendered no text; sending the built-in message \
                 instead (README, Message templates)"
            );
            None
        }
        Err(e) => {
            // The error names the template's line and what went wrong; never a URL.
            tracing::warn!(
                receiver = %text::one_line(ctx.receiver),
                notification = n.id,
                error = %config_template::describe(&e),
                "the receiver's template failed; sending the built-in message instead \
                 (README, Message templates)"
            );
            None
        }
    }
}

/// How a kind measures its limit: in chars, or in bytes of the JSON string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// Unicode scalar values (Slack, Discord, Mattermost).
    Chars,
    /// Bytes once encoded as a JSON string (Teams, Google Chat).
    JsonBytes,
}

impl Measure {
    /// The size of `s`.
    fn of(self, s: &str) -> usize {
        match self {
            Measure::Chars => s.chars().count(),
            Measure::JsonBytes => s
                .chars()
                .map(|c| match c {
                    '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                    c if (c as u32) < 0x20 => 6,
                    c => c.len_utf8(),
                })
                .sum(),
        }
    }
}

/// The template's `output` as a kind shows it: cut into at most `max_pieces` pieces,
/// each at most `max` by `measure` once escaped; a piece breaks after its last newline
/// when it has one. When the text does not fit, the last piece ends in [`CUT`]. `escape`
/// turns one char of text into what the kind sends; a link (`http://` or `https://` up to
/// whitespace or a char of [`ends_link`]) is kept whole and unescaped but for `&`.
pub(crate) fn pieces(
    output: &str,
    escape: fn(char) -> String,
    measure: Measure,
    max: usize,
    max_pieces: usize,
) -> Vec<String> {
    let output = output.trim_end();
    let mut units = units(output, escape);
    let total_chars = output.chars().count();
    let mut cut = total_chars > MAX_OUTPUT_CHARS;
    if cut {
        units.truncate(MAX_OUTPUT_CHARS);
    }
    let mut out: Vec<String> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 0;
    let mut units = units.into_iter();
    for unit in units.by_ref() {
        let unit_size = measure.of(&unit);
        if size + unit_size > max {
            if out.len() + 1 >= max_pieces {
                current.push(unit);
                cut = true;
                break;
            }
            // Break after the last newline of the piece, if it has one.
            let tail = match current.iter().rposition(|u| u == "\n") {
                Some(i) if i + 1 < current.len() => current.split_off(i + 1),
                _ => Vec::new(),
            };
            out.push(current.concat().trim_end().to_string());
            current = tail;
            size = current.iter().map(|u| measure.of(u)).sum();
        }
        size += unit_size;
        current.push(unit);
    }
    if cut {
        let marker = measure.of(CUT);
        let mut size: usize = current.iter().map(|u| measure.of(u)).sum();
        while size + marker > max {
            match current.pop() {
                Some(u) => size -= measure.of(&u),
                None => break,
            }
        }
        let kept = current.concat();
        out.push(format!("{}{CUT}", kept.trim_end()));
    } else if !current.is_empty() || out.is_empty() {
        out.push(current.concat());
    }
    out
}

/// The text as indivisible units: one escaped char each, or a whole link.
fn units(text: &str, escape: fn(char) -> String) -> Vec<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let at_word_start = out.last().is_none_or(|u: &String| {
            u.chars()
                .last()
                .is_none_or(|l| l.is_whitespace() || l == '(')
        });
        let link = at_word_start && (rest.starts_with("https://") || rest.starts_with("http://"));
        let end = rest.find(ends_link).unwrap_or(rest.len());
        // A link longer than any sane one is text like any other: it may have to be cut.
        if link && rest[..end].chars().count() <= MAX_LINK_CHARS {
            // `&` is the one char left in a link that a kind may escape (Slack's entity,
            // which Slack reads back inside a link).
            out.push(rest[..end].replace('&', &escape('&')));
            rest = &rest[end..];
        } else {
            out.push(escape(c));
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// True for the chars that end a link: whitespace, and whatever could mention, mark up or
/// close a link in some kind (`<`, `>`, `@`, quotes, `|`, backslash), which are then
/// escaped as text.
fn ends_link(c: char) -> bool {
    c.is_whitespace() || matches!(c, '<' | '>' | '@' | '"' | '\'' | '`' | '|' | '\\')
}

/// The one piece of [`pieces`]: `output` within `max`.
pub(crate) fn fit(
    output: &str,
    escape: fn(char) -> String,
    measure: Measure,
    max: usize,
) -> String {
    pieces(output, escape, measure, max, 1)
        .pop()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
