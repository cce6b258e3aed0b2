//! An Alertmanager cluster: `POST {url}/api/v2/alerts` with a JSON array of postable
//! alerts (`labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`), as Prometheus
//! sends them.
//!
//! A firing alert's `endsAt` is `now + ttl`: Alertmanager resolves it by itself unless it is
//! sent again before then, which is why the daemon re-sends what fires every sweep, and
//! why several replicas can send the same alerts (Alertmanager de-duplicates them by
//! label set). A resolved alert's `endsAt` is when it resolved. Labels with empty values
//! are left out, as Alertmanager would drop them.
//!
//! A push of more alerts than the receiver's `max_alerts` (1000 by default) goes out as
//! several POSTs, in order, each within the limit (the batching is delivery's: see
//! [`super::Receiver::batched`]).
//!
//! A test notification posts one alert `alertname="InventoryMonitorTest"` whose summary
//! says it is a test; it ends after the ttl like any alert that is not re-sent.

use std::time::SystemTime;

use serde_json::{json, Map, Value};
use tracing::Level;

use crate::clock::rfc3339;
use crate::config::Secret;
use crate::rules::{Alert, AlertState};

use super::am_model::{am_annotations, am_labels, generator_url, starts_at, TEST_ALERTNAME};
use super::text;
use super::{
    json_post, Delivery, Notification, NotificationKind, Receiver, RenderContext, Rendered,
};

/// The API path alerts are posted to.
const ALERTS_PATH: &str = "/api/v2/alerts";

/// The `alertmanager` kind: pushed every sweep, since Alertmanager groups, waits and
/// reminds by itself; a push is routine, so its delivery is logged at `DEBUG`.
#[derive(Debug)]
pub(crate) struct Alertmanager;

impl Receiver for Alertmanager {
    fn delivery(&self) -> Delivery {
        Delivery::PushEverySweep
    }

    fn delivered_level(&self) -> Level {
        Level::DEBUG
    }

    /// Alertmanager takes any number of alerts in one POST, but a bounded request keeps
    /// a storm of tens of thousands from becoming one request of tens of megabytes.
    fn batched(&self) -> bool {
        true
    }

    fn render(&self, notification: &Notification, ctx: &RenderContext<'_>) -> Rendered {
        let generator = generator_url(ctx);
        let alerts: Vec<Value> = if notification.kind == NotificationKind::Test {
            vec![test_alert(ctx, &generator)]
        } else {
            notification
                .alerts
                .iter()
                .map(|a| postable(a, ctx, &generator))
                .collect()
        };
        let url = Secret::new(alerts_url(ctx.url.expose()));
        Rendered::Http(json_post(url, &Value::Array(alerts)))
    }
}

/// `{base}/api/v2/alerts`, without a doubled slash, keeping a query string at the end,
/// and leaving a URL that already names the endpoint as it is.
fn alerts_url(base: &str) -> String {
    let (path, query) = match base.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (base, None),
    };
    let path = path.trim_end_matches('/');
    let mut url = if path.ends_with(ALERTS_PATH) {
        path.to_string()
    } else {
        format!("{path}{ALERTS_PATH}")
    };
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// One alert as a postable alert.
fn postable(alert: &Alert, ctx: &RenderContext<'_>, generator: &str) -> Value {
    let start = starts_at(alert);
    let end = match alert.state {
        AlertState::Resolved => alert.resolved_at.unwrap_or(ctx.now),
        _ => ctx.now + ctx.alertmanager_ttl,
    };
    let labels: Map<String, Value> = am_labels(alert)
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    let annotations: Map<String, Value> = am_annotations(alert)
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    alert_json(
        Value::Object(labels),
        Value::Object(annotations),
        start,
        end,
        generator,
    )
}

/// The synthetic alert standing for a test notification.
fn test_alert(ctx: &RenderContext<'_>, generator: &str) -> Value {
    alert_json(
        json!({ "alertname": TEST_ALERTNAME, "severity": "none" }),
        json!({
            "summary": text::TEST_MESSAGE,
            "description": text::test_explanation(ctx),
        }),
        ctx.now,
        ctx.now + ctx.alertmanager_ttl,
        generator,
    )
}

/// A postable alert. `endsAt` is never before `startsAt` (Alertmanager rejects that; a
/// clock that stepped back could cause it).
fn alert_json(
    labels: Value,
    annotations: Value,
    start: SystemTime,
    end: SystemTime,
    generator: &str,
) -> Value {
    let mut v = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(start),
        "endsAt": rfc3339(end.max(start)),
    });
    // The field is optional and must be a URI when present: left out when unknown.
    if !generator.is_empty() {
        v["generatorURL"] = json!(generator);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::alerts_url;

    #[test]
    fn alerts_path_joins_without_double_slashes() {
        let cases = [
            ("http://am:9093", "http://am:9093/api/v2/alerts"),
            ("http://am:9093/", "http://am:9093/api/v2/alerts"),
            ("http://am:9093//", "http://am:9093/api/v2/alerts"),
            (
                "https://x/alertmanager/",
                "https://x/alertmanager/api/v2/alerts",
            ),
            (
                "http://am:9093/api/v2/alerts",
                "http://am:9093/api/v2/alerts",
            ),
            ("http://am:9093/?t=1", "http://am:9093/api/v2/alerts?t=1"),
        ];
        for (base, want) in cases {
            assert_eq!(alerts_url(base), want, "{base}");
        }
    }
}
