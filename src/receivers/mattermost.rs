//! Mattermost incoming webhooks: the Slack-compatible shape `{"text": ...,
//! "attachments": [...]}`, built by [`super::attachments`] like `slack`'s.
//!
//! The two differ in markup: Mattermost renders Markdown, so the title is `**bold**` and
//! text from outside is backslash-escaped rather than entity-escaped (the title and the
//! "more" line are our own words, and a URL that escaping would break, so they are left
//! alone). A zero-width space follows every `@` from outside, so a profile named `@channel`
//! or `@all` notifies nobody.

use crate::config::ReceiverKind;

use super::attachments::{self, Markup};
use super::text;
use super::{json_post, Notification, Receiver, RenderContext, Rendered};

/// Markdown: `**bold**`; text from outside defused, and escaped where it is marked up.
const MARKUP: Markup = Markup {
    bold_title: |title| format!("**{title}**"),
    plain: defuse,
    rich: escape_markdown,
    ours: str::to_owned,
};

/// The `mattermost` kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mattermost;

impl Receiver for Mattermost {
    fn kind(&self) -> ReceiverKind {
        ReceiverKind::Mattermost
    }

    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        let body = attachments::body(notification, ctx, &MARKUP);
        Rendered::Http(json_post(ctx.url.clone(), &body))
    }
}

/// Plain text from outside, unable to mention anyone.
fn defuse(s: &str) -> String {
    s.replace('@', "@\u{200b}")
}

/// Text from outside, Markdown-escaped and unable to mention anyone.
fn escape_markdown(s: &str) -> String {
    defuse(&text::escape_markdown(s))
}
