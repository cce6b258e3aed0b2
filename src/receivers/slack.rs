//! Slack incoming webhooks: `{"text": ..., "attachments": [...]}`.
//!
//! The message text is the title (`[FIRING:2, RESOLVED:1] inventory-monitor`), then
//! `…and N more` when more than 20 alerts changed. Each listed alert is one attachment
//! (Slack's "secondary attachments", the coloured bar operators know from Alertmanager):
//! its colour says severity or resolution, its title the status and summary, its text the
//! description (last error, and what recovered), its fields the alert, severity, profile,
//! organization and since when. One attachment per alert (rather than per status group)
//! keeps one colour per alert, and 20 stays within Slack's advice of at most 20
//! attachments. The shape is shared with `mattermost` ([`super::attachments`]).
//!
//! Text from outside (names, errors) is escaped the way Slack asks (`&`, `<`, `>`), so a
//! profile named `<!channel>` pings nobody.
//!
//! A receiver's `template` (README, Message templates) writes the text of section blocks
//! instead, escaped the same way, within Slack's 50 blocks of 3,000 chars.

use serde_json::{json, Value};

use super::attachments::{Attachments, Markup};
use super::template::{self, Measure};
use super::text::{self, escape_slack};
use super::Notification;

/// Most blocks in one message (Slack's limit).
pub(crate) const MAX_BLOCKS: usize = 50;
/// Longest text of a section block, in chars (Slack's limit).
pub(crate) const MAX_BLOCK_TEXT: usize = 3_000;

/// The `slack` kind, in Slack's mrkdwn: `*bold*`, and every text entity-escaped, ours
/// included.
pub(crate) static SLACK: Attachments = Attachments {
    markup: Markup {
        bold_title: |title| format!("*{}*", escape_slack(title)),
        plain: escape_slack,
        rich: escape_slack,
        ours: escape_slack,
    },
    templated,
};

/// A templated message: the text in section blocks of at most 3,000 chars each (broken
/// at a line end where there is one), at most 50 of them; the title as the notification
/// fallback.
fn templated(n: &Notification, output: &str) -> Value {
    let blocks: Vec<Value> = template::pieces(
        output,
        |c| escape_slack(c.encode_utf8(&mut [0; 4])),
        Measure::Chars,
        MAX_BLOCK_TEXT,
        MAX_BLOCKS,
    )
    .into_iter()
    .filter(|piece| !piece.trim().is_empty())
    .map(|piece| json!({ "type": "section", "text": { "type": "mrkdwn", "text": piece } }))
    .collect();
    json!({ "text": escape_slack(&text::title(n)), "blocks": blocks })
}
