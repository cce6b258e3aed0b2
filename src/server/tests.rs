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

/// Counts the wake-ups a body asks for.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_scrape_body_is_sent_in_pieces_with_a_turn_for_others_between_them() {
    use super::body::{ScrapeBody, SCRAPE_PIECE};
    use axum::body::HttpBody;
    use std::task::{Context, Poll};

    let monitor = MonitorMetrics::new(crate::shard::Shard::default());
    let snapshot = &status_source(30_000).snapshot;
    let kept = crate::metrics::ProfileMetrics::new().render(snapshot, Vec::new());
    // Kept only compressed: a plain scrape inflates it as it streams.
    let compressed = crate::metrics::ProfileMetrics::new()
        .with_plain_limit(0)
        .render(snapshot, Vec::new());
    assert!(kept.keeps_plain() && !compressed.keeps_plain());
    for (rendered, gzip) in [(&kept, false), (&kept, true), (&compressed, false)] {
        let whole = crate::metrics::scrape_body(&monitor, rendered, gzip);
        let mut body = ScrapeBody::new(crate::metrics::scrape_stream(&monitor, rendered, gzip));
        assert_eq!(body.size_hint().exact(), Some(whole.len() as u64));
        if !gzip {
            assert!(whole.len() > 8 * SCRAPE_PIECE, "{} bytes", whole.len());
        }

        let wakes = Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let (mut sent, mut pieces, mut pauses) = (Vec::new(), 0, 0);
        let mut last_was_piece = false;
        loop {
            match std::pin::Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let data = frame.into_data().expect("data");
                    assert!(
                        data.len() <= SCRAPE_PIECE,
                        "a piece of {} bytes",
                        data.len()
                    );
                    sent.extend_from_slice(&data);
                    pieces += 1;
                    last_was_piece = true;
                    assert_eq!(
                        body.size_hint().exact(),
                        Some((whole.len() - sent.len()) as u64)
                    );
                }
                Poll::Ready(Some(Err(e))) => match e {},
                Poll::Ready(None) => break,
                Poll::Pending => {
                    // A pause follows a piece, never another pause, and asks to be polled
                    // again at once.
                    assert!(last_was_piece, "two pauses in a row");
                    last_was_piece = false;
                    pauses += 1;
                }
            }
        }
        assert!(body.is_end_stream());
        assert_eq!(sent, whole, "gzip {gzip}");
        // One pause between every two pieces, none after the last.
        assert_eq!(pauses, pieces - 1, "gzip {gzip}");
        assert_eq!(
            wakes.0.load(std::sync::atomic::Ordering::Relaxed),
            pauses,
            "each pause asks to be woken"
        );
    }
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
