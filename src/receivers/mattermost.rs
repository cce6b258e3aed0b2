//! Mattermost incoming webhooks: the Slack-compatible shape `{"text": ...,
//! "attachments": [...]}`, built by [`super::attachments`] like `slack`'s.
//!
//! The two differ in markup: Mattermost renders Markdown, so the title is `**bold**` and
//! text from outside is backslash-escaped rather than entity-escaped (the title and the
//! "more" line are our own words, and a URL that escaping would break, so they are left
//! alone). A zero-width space follows every `@` from outside, so a profile named `@channel`
//! or `@all` notifies nobody.
//!
//! A receiver's `template` (README, Message templates) writes the whole text instead,
//! escaped the same way, within Mattermost's 16,383 chars.

use serde_json::{json, Value};

use super::attachments::{Attachments, Markup};
use super::template::{self, Measure};
use super::text;
use super::Notification;

/// Longest message text, in chars (Mattermost's limit).
pub(crate) const MAX_TEXT: usize = 16_383;

/// The `mattermost` kind, in Markdown: `**bold**`; text from outside defused, and escaped
/// where it is marked up.
pub(crate) static MATTERMOST: Attachments = Attachments {
    markup: Markup {
        bold_title: |title| format!("**{title}**"),
        plain: defuse,
        rich: escape_markdown,
        ours: str::to_owned,
    },
    templated,
};

/// A templated message: the text alone, Markdown-escaped and unable to mention anyone,
/// within 16,383 chars.
fn templated(_: &Notification, output: &str) -> Value {
    let escape = |c: char| escape_markdown(c.encode_utf8(&mut [0; 4]));
    json!({ "text": template::fit(output, escape, Measure::Chars, MAX_TEXT) })
}

/// Plain text from outside, unable to mention anyone.
fn defuse(s: &str) -> String {
    s.replace('@', "@\u{200b}")
}

/// Text from outside, Markdown-escaped and unable to mention anyone.
fn escape_markdown(s: &str) -> String {
    defuse(&text::escape_markdown(s))
}
