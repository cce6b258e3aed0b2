use super::*;

/// A client that neither retries nor pools, so each request is one connection.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

#[tokio::test]
async fn records_method_path_headers_body_and_answer() {
    let sink = Sink::start().await;
    let resp = client()
        .post(sink.url("/hook/a?x=1"))
        .header("x-test", "yes")
        .body("{\"k\":1}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, Method::POST);
    assert_eq!(got[0].path, "/hook/a?x=1");
    assert_eq!(got[0].header("x-test"), Some("yes"));
    assert_eq!(got[0].json()["k"], 1);
    assert_eq!(got[0].answered, Some(200));
    assert!(got[0].delivered());
}

#[tokio::test]
async fn answers_the_script_in_order_then_the_default() {
    let sink = Sink::start().await;
    sink.script([
        Reply::status(429)
            .header("Retry-After", 7)
            .body("slow down"),
        Reply::status(500),
    ]);
    sink.always(Reply::status(204));
    let c = client();
    let first = c.get(sink.url("/")).send().await.expect("first");
    assert_eq!(first.status(), 429);
    assert_eq!(
        first
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    assert_eq!(first.text().await.expect("body"), "slow down");
    assert_eq!(c.get(sink.url("/")).send().await.expect("2").status(), 500);
    assert_eq!(c.get(sink.url("/")).send().await.expect("3").status(), 204);
    assert_eq!(c.get(sink.url("/")).send().await.expect("4").status(), 204);
    let answered: Vec<_> = sink.received().iter().map(|r| r.answered).collect();
    assert_eq!(answered, [Some(429), Some(500), Some(204), Some(204)]);
    assert_eq!(sink.delivered().len(), 2);
}

#[tokio::test]
async fn a_function_answers_from_the_request() {
    let sink = Sink::start().await;
    sink.respond_with(|r| {
        if r.path.starts_with("/missing") {
            Reply::status(404)
        } else {
            Reply::json(200, &serde_json::json!({"path": r.path}))
        }
    });
    let c = client();
    assert_eq!(
        c.get(sink.url("/missing"))
            .send()
            .await
            .expect("1")
            .status(),
        404
    );
    let found = c.get(sink.url("/here")).send().await.expect("2");
    assert_eq!(
        found
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(found.text().await.expect("body"), "{\"path\":\"/here\"}");
}

#[tokio::test]
async fn a_dropped_connection_and_a_hang_are_recorded_unanswered() {
    let sink = Sink::start().await;
    sink.script([Reply::drop_connection(), Reply::hang(), Reply::stall(200)]);
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    assert!(c.post(sink.url("/")).body("a").send().await.is_err());
    assert!(c.post(sink.url("/")).body("b").send().await.is_err());
    assert!(c.post(sink.url("/")).body("c").send().await.is_err());
    let got = sink.received();
    let answered: Vec<_> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [None, None, Some(200)]);
    // A stall counts as delivered: the receiver took it.
    assert_eq!(sink.delivered().len(), 1);
    assert_eq!(sink.delivered()[0].text(), "c");
}

#[tokio::test]
async fn a_delay_holds_the_answer_back() {
    let sink = Sink::start().await;
    sink.always(Reply::ok().delay(Duration::from_millis(150)));
    let start = Instant::now();
    let resp = client().get(sink.url("/")).send().await.expect("send");
    assert_eq!(resp.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn goes_down_and_comes_back_on_the_same_port() {
    let mut sink = Sink::start().await;
    let addr = sink.addr();
    let c = client();
    assert!(c.get(sink.url("/")).send().await.is_ok());
    sink.go_down().await;
    assert!(!sink.is_up());
    let refused = c.get(sink.url("/")).send().await.expect_err("refused");
    assert!(refused.is_connect(), "{refused:?}");
    sink.come_back().await;
    assert_eq!(sink.addr(), addr);
    assert_eq!(c.get(sink.url("/")).send().await.expect("up").status(), 200);
    assert_eq!(sink.count(), 2);
}

#[tokio::test]
async fn waits_wake_on_new_requests_and_end_at_the_deadline() {
    let sink = Sink::start().await;
    assert!(!sink.wait_count(1, Duration::from_millis(50)).await);
    let url = sink.url("/later");
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        client().post(url).body("x").send().await.expect("send");
    });
    assert!(
        sink.wait_until(Duration::from_secs(5), |r| r
            .iter()
            .any(|r| r.path == "/later"))
            .await
    );
    sender.await.expect("sender");
    sink.clear();
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn a_chunked_body_declares_no_length() {
    let sink = Sink::start().await;
    sink.always(Reply::ok().body(vec![b'x'; 1000]).chunked(256));
    let resp = client()
        .get(sink.url("/big?page=2"))
        .send()
        .await
        .expect("send");
    assert!(resp.headers().get("content-length").is_none());
    assert_eq!(resp.text().await.expect("body").len(), 1000);
    let got = sink.received();
    assert_eq!((got[0].route(), got[0].query()), ("/big", Some("page=2")));
}
