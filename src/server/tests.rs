//! The router driven with `oneshot`: what the handlers serve and how.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;

use super::body::STATUS_CHUNK;
use super::handlers::{accepts_gzip, STATUS_NOT_READY};
use super::*;

fn headers(v: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
    h
}

fn status_source(profiles: u64) -> Arc<StatusSource> {
    use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};
    let profiles = (1..=profiles)
        .map(|id| ProfileEntry {
            id,
            name: format!("profile \"{id}\"").into(),
            organization: Some("Main Warehouse".into()),
            profile: None,
            up: id % 3 != 0,
            error: (id % 3 == 0).then(|| "timeout".to_string()),
            consecutive_failures: u32::from(id % 3 == 0),
        })
        .collect();
    Arc::new(StatusSource {
        snapshot: Arc::new(Snapshot {
            started_at: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            duration: Duration::from_millis(1500),
            list: ListOutcome::Complete,
            listed: None,
            profiles,
            gone: Vec::new(),
            shard: crate::shard::Shard::default(),
        }),
        alerts: Vec::new(),
        now: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_700),
    })
}

async fn get_body(state: Arc<AppState>, path: &str, gzip: bool) -> (HeaderMap, Bytes) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut request = Request::builder().uri(path);
    if gzip {
        request = request.header(header::ACCEPT_ENCODING, "gzip");
    }
    let response = app(state)
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (headers, body)
}

#[tokio::test]
async fn the_status_document_is_streamed_as_rendered() {
    let state = Arc::new(AppState::new(Arc::new(MonitorMetrics::new(
        crate::shard::Shard::default(),
    ))));
    let (_, before) = get_body(state.clone(), "/api/v1/status", false).await;
    assert_eq!(before, Bytes::from_static(STATUS_NOT_READY));

    // Large enough to take many chunks through the channel.
    let source = status_source(3_000);
    state.publish(RenderedProfiles::empty(), source.clone());
    let (headers, body) = get_body(state, "/api/v1/status", false).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let expected = source.render();
    assert!(
        expected.len() > 4 * STATUS_CHUNK,
        "{} bytes",
        expected.len()
    );
    assert_eq!(body, expected);
    let doc: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(doc["profiles"].as_array().map(Vec::len), Some(3_000));
    assert_eq!(doc["profiles"][2]["error"], "timeout");
}

#[tokio::test]
async fn metrics_bodies_carry_their_exact_length() {
    let monitor = Arc::new(MonitorMetrics::new(crate::shard::Shard::default()));
    let state = Arc::new(AppState::new(monitor.clone()));
    for gzip in [false, true] {
        let (headers, body) = get_body(state.clone(), "/metrics", gzip).await;
        assert_eq!(
            headers[header::CONTENT_LENGTH].to_str().ok(),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(headers.contains_key(header::CONTENT_ENCODING), gzip);
    }
}

#[test]
fn gzip_negotiation_follows_accept_encoding() {
    assert!(accepts_gzip(&headers("gzip")));
    assert!(accepts_gzip(&headers("deflate, GZIP;q=0.5")));
    assert!(accepts_gzip(&headers("gzip, deflate, br")));
    assert!(!accepts_gzip(&headers("identity")));
    assert!(!accepts_gzip(&headers("gzip;q=0")));
    assert!(!accepts_gzip(&HeaderMap::new()));
}
