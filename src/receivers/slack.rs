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

use super::attachments::{Attachments, Markup};
use super::text::escape_slack;

/// The `slack` kind, in Slack's mrkdwn: `*bold*`, and every text entity-escaped, ours
/// included.
pub(crate) static SLACK: Attachments = Attachments {
    markup: Markup {
        bold_title: |title| format!("*{}*", escape_slack(title)),
        plain: escape_slack,
        rich: escape_slack,
        ours: escape_slack,
    },
};
