//! Any HTTP receiver: Alertmanager's webhook payload, version 4, exactly as Alertmanager
//! sends it, so every tool that takes Alertmanager webhooks takes ours.
//!
//! Differences a consumer may notice: `groupLabels` is empty (we group per receiver, not
//! by labels), `groupKey` is `{}/{receiver="NAME"}:{}`, `fingerprint` covers only the
//! identifying labels (see [`super::am_model::fingerprint`]), and labels with empty values are left
//! out as Alertmanager leaves them out. Every alert given is listed and `truncatedAlerts` is
//! always 0: a group larger than the receiver's `max_alerts` (1000 by default) is split by
//! delivery into several payloads, in order, each within the limit and with the same
//! `groupKey` (see [`super::Receiver::batched`]), so nothing is cut short.
//!
//! With a secret, the header `X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
//! lets the receiver check that the body is ours and whole. Configured headers are added
//! (replacing a default of the same name); the signature header is always ours.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::clock::rfc3339;
use crate::rules::{Alert, AlertState};

use super::am_model::{
    am_annotations, am_labels, am_status, fingerprint, generator_url, label_set_fingerprint,
    starts_at, TEST_ALERTNAME,
};
use super::text;
use super::{
    json_post, HttpRequest, Notification, NotificationKind, Receiver, RenderContext, Rendered,
};

/// The signature header.
pub(crate) const SIGNATURE_HEADER: &str = "X-Signature-256";

/// Alertmanager's `endsAt` for an alert with no end yet: Go's zero time.
const NO_END: &str = "0001-01-01T00:00:00Z";

/// The `webhook` kind: every message as it comes, with the defaults of [`Receiver`].
#[derive(Debug)]
pub(crate) struct Webhook;

impl Receiver for Webhook {
    fn batched(&self) -> bool {
        true
    }

    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        let mut request = json_post(ctx.url.clone(), &payload(notification, ctx));
        for (name, value) in ctx.headers {
            set_header(&mut request, name, value.clone());
        }
        if let Some(secret) = ctx.secret {
            let signature = sign(secret.expose().as_bytes(), &request.body);
            set_header(
                &mut request,
                SIGNATURE_HEADER,
                format!("sha256={signature}"),
            );
        }
        Rendered::Http(request)
    }
}

/// Sets header `name` (matched case-insensitively) to `value`.
fn set_header(request: &mut HttpRequest, name: &str, value: String) {
    request
        .headers
        .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
    request.headers.push((name.to_string(), value));
}

/// Lowercase hex HMAC-SHA256 of `body` under `key`.
fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length (long ones are hashed first), so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// One alert of the payload, before it becomes JSON.
struct PayloadAlert {
    /// `firing` or `resolved`.
    status: &'static str,
    /// Labels, empty values left out.
    labels: BTreeMap<String, String>,
    /// Annotations, empty values left out.
    annotations: BTreeMap<String, String>,
    /// RFC 3339.
    starts_at: String,
    /// RFC 3339, or Go's zero time while firing.
    ends_at: String,
    /// 16 hex digits.
    fingerprint: String,
}

/// The version 4 payload.
fn payload(n: &Notification, ctx: &RenderContext<'_>) -> Value {
    let alerts: Vec<PayloadAlert> = if n.kind == NotificationKind::Test {
        vec![test_alert(ctx)]
    } else {
        n.alerts.iter().map(|a| payload_alert(a)).collect()
    };
    let status = if alerts.iter().any(|a| a.status == "firing") {
        "firing"
    } else {
        "resolved"
    };
    let generator = generator_url(ctx);
    json!({
        "version": "4",
        "groupKey": format!("{{}}/{{receiver={:?}}}:{{}}", ctx.receiver),
        // Never cut short: a large group is several payloads (see the module's doc).
        "truncatedAlerts": 0,
        "status": status,
        "receiver": ctx.receiver,
        "groupLabels": {},
        "commonLabels": common(alerts.iter().map(|a| &a.labels)),
        "commonAnnotations": common(alerts.iter().map(|a| &a.annotations)),
        "externalURL": ctx.external_url,
        "alerts": alerts.iter().map(|a| json!({
            "status": a.status,
            "labels": a.labels,
            "annotations": a.annotations,
            "startsAt": a.starts_at,
            "endsAt": a.ends_at,
            "generatorURL": generator,
            "fingerprint": a.fingerprint,
        })).collect::<Vec<_>>(),
    })
}

/// One real alert.
fn payload_alert(alert: &Alert) -> PayloadAlert {
    let owned = |m: BTreeMap<&'static str, String>| {
        m.into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>()
    };
    PayloadAlert {
        status: am_status(alert),
        labels: owned(am_labels(alert)),
        annotations: owned(am_annotations(alert)),
        starts_at: rfc3339(starts_at(alert)),
        ends_at: match (alert.state, alert.resolved_at) {
            (AlertState::Resolved, Some(t)) => rfc3339(t),
            _ => NO_END.to_string(),
        },
        fingerprint: fingerprint(alert),
    }
}

/// The synthetic alert standing for a test notification: `alertname` is
/// `InventoryMonitorTest`, the summary says it is a test.
fn test_alert(ctx: &RenderContext<'_>) -> PayloadAlert {
    let labels = BTreeMap::from([
        ("alertname".to_string(), TEST_ALERTNAME.to_string()),
        ("severity".to_string(), "none".to_string()),
    ]);
    let annotations = BTreeMap::from([
        ("summary".to_string(), text::TEST_MESSAGE.to_string()),
        ("description".to_string(), text::test_explanation(ctx)),
    ]);
    PayloadAlert {
        status: "firing",
        labels,
        annotations,
        starts_at: rfc3339(ctx.now),
        ends_at: NO_END.to_string(),
        fingerprint: format!(
            "{:016x}",
            label_set_fingerprint(&[("alertname", TEST_ALERTNAME)])
        ),
    }
}

/// The pairs every map has with the same value (empty for no maps).
fn common<'m>(
    mut maps: impl Iterator<Item = &'m BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut common = first.clone();
    for m in maps {
        common.retain(|k, v| m.get(k) == Some(v));
    }
    common
}
