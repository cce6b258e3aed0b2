//! One scriptable recording HTTP server for every test and benchmark that needs a receiver
//! (a webhook, a chat service, Alertmanager) or a fake upstream.
//!
//! It records every request (method, path, headers, body, arrival time, what it answered)
//! and answers from a script: a queue of [`Reply`]s used first, then a default (a fixed
//! reply or a function of the request). It can go down (connections refused) and come back
//! on the same port, and waits on conditions over what it recorded with deadlines, woken by
//! each new request rather than by a fixed sleep.
//!
//! HTTP is hyper's: nothing here parses requests by hand. Every answer closes its
//! connection, so "down" really means refused for the next request, and the client opens a
//! fresh connection each time, as after a real outage.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Locks `m`, also after a panic elsewhere: a test that failed must still be able to read
/// what the sink recorded to explain the failure.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the sink does with a request once it has read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Answer (after the reply's delay).
    Answer,
    /// Close the connection without answering.
    Drop,
    /// Never answer; the connection stays open until the client gives up.
    Hang,
    /// Take the request as a receiver that processed it would (recorded as answered with
    /// the reply's status, so it counts as delivered: a person may have seen it) but never
    /// send the answer: what a client that dies before reading the answer has seen.
    Stall,
}

/// How the sink answers one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers, in order (`Retry-After`, `Content-Type`, ...).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How long to wait before answering.
    pub delay: Duration,
    /// Send the body in chunks of this many bytes with no `Content-Length` (a body whose
    /// size the client learns only as it arrives); `None`: all at once, length declared.
    pub chunked: Option<usize>,
    /// Whether to answer at all.
    pub then: Then,
}

impl Reply {
    /// `status`, no headers, empty body, at once.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            chunked: None,
            then: Then::Answer,
        }
    }

    /// 200, empty body.
    pub fn ok() -> Reply {
        Reply::status(200)
    }

    /// `status` with a JSON body (and its content type).
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Closes the connection without answering.
    pub fn drop_connection() -> Reply {
        Reply {
            then: Then::Drop,
            ..Reply::status(0)
        }
    }

    /// Never answers.
    pub fn hang() -> Reply {
        Reply {
            then: Then::Hang,
            ..Reply::status(0)
        }
    }

    /// Takes the request as if answering `status`, then never answers.
    pub fn stall(status: u16) -> Reply {
        Reply {
            then: Then::Stall,
            ..Reply::status(status)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl fmt::Display) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Sends the body in chunks of `size` bytes, without a `Content-Length`.
    pub fn chunked(mut self, size: usize) -> Reply {
        self.chunked = Some(size.max(1));
        self
    }

    /// Answers only after `delay`.
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// The status the request is recorded as answered with: `None` when it was not.
    fn answered(&self) -> Option<u16> {
        match self.then {
            Then::Answer | Then::Stall => Some(self.status),
            Then::Drop | Then::Hang => None,
        }
    }
}

/// One request as the sink saw it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The method.
    pub method: Method,
    /// The path and query, as sent.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// When the body had fully arrived (for latencies).
    pub at: Instant,
    /// The same moment on the wall clock (to compare with timestamps in logs).
    pub wall: SystemTime,
    /// The status answered (for a stall, the one it would have answered); `None` when the
    /// sink dropped the connection, hung, or was going down.
    pub answered: Option<u16>,
}

impl Received {
    /// True when the receiver took it (a 2xx answer).
    pub fn delivered(&self) -> bool {
        self.answered.is_some_and(|s| (200..300).contains(&s))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON: {e}: {}", self.text()))
    }

    /// The path without its query.
    pub fn route(&self) -> &str {
        self.path.split_once('?').map_or(&self.path, |(p, _)| p)
    }

    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, q)| q)
    }

    /// A header's value as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A function choosing the answer to a request.
type Responder = dyn Fn(&Received) -> Reply + Send + Sync;

/// What the connections and the sink's handle share.
struct Shared {
    /// Answers used first, in order.
    script: Mutex<VecDeque<Reply>>,
    /// The answer once the script is used up.
    default: Mutex<Arc<Responder>>,
    /// Every request, in arrival order.
    received: Mutex<Vec<Received>>,
    /// The number of requests recorded: waiters wake on each change.
    count: watch::Sender<usize>,
    /// True while the sink is down: a request still arriving on a connection accepted
    /// before is cut off unanswered.
    down: Mutex<bool>,
}

impl Shared {
    /// Records `req` and chooses its answer.
    fn take(&self, mut req: Received) -> Reply {
        let reply = if *lock(&self.down) {
            Reply::drop_connection()
        } else {
            let scripted = lock(&self.script).pop_front();
            scripted.unwrap_or_else(|| {
                let responder = lock(&self.default).clone();
                responder(&req)
            })
        };
        req.answered = reply.answered();
        lock(&self.received).push(req);
        self.count.send_modify(|n| *n += 1);
        reply
    }
}

/// A recording HTTP server on a loopback port; stops (and cuts every open connection) when
/// dropped.
pub struct Sink {
    /// Where it listens, the same across outages.
    addr: SocketAddr,
    /// What the connections share.
    shared: Arc<Shared>,
    /// The accept loop; `None` while down.
    accept: Option<JoinHandle<()>>,
    /// Every open connection, kept across outages (a hanging request stays open, as a
    /// real receiver's would), aborted with the sink.
    connections: Arc<Mutex<JoinSet<()>>>,
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("addr", &self.addr)
            .field("up", &self.accept.is_some())
            .field("received", &lock(&self.shared.received).len())
            .finish()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(task) = self.accept.take() {
            task.abort();
        }
        lock(&self.connections).abort_all();
    }
}

impl Sink {
    /// A sink on 127.0.0.1 (a free port) answering 200 unless scripted otherwise.
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("the sink cannot bind a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the sink has no address: {e}"));
        let ok: Arc<Responder> = Arc::new(|_: &Received| Reply::ok());
        let (count, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(ok),
            received: Mutex::new(Vec::new()),
            count,
            down: Mutex::new(false),
        });
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let accept = Some(tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            connections.clone(),
        )));
        Sink {
            addr,
            shared,
            accept,
            connections,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues answers for the next requests, in order; then the default applies again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).extend(replies);
    }

    /// Answers `reply` once the script is used up (200 until set).
    pub fn always(&self, reply: Reply) {
        self.respond_with(move |_| reply.clone());
    }

    /// Answers what `f` says of each request once the script is used up.
    pub fn respond_with(&self, f: impl Fn(&Received) -> Reply + Send + Sync + 'static) {
        *lock(&self.shared.default) = Arc::new(f);
    }

    /// True while it accepts connections.
    pub fn is_up(&self) -> bool {
        self.accept.is_some()
    }

    /// Stops listening: connections are refused until [`Sink::come_back`]. A request still
    /// arriving on a connection accepted before is recorded and cut off unanswered.
    pub async fn go_down(&mut self) {
        *lock(&self.shared.down) = true;
        if let Some(task) = self.accept.take() {
            task.abort();
            // The listener is dropped with the task: the port is closed once this returns.
            let _ = task.await;
        }
    }

    /// Listens again on the same address (within 10 s; panics if the port was taken).
    pub async fn come_back(&mut self) {
        *lock(&self.shared.down) = false;
        if self.accept.is_some() {
            return;
        }
        // The port was ours a moment ago; tokio sets SO_REUSEADDR, so it binds again at
        // once unless someone else took it meanwhile, which a retry cannot fix for long.
        let end = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < end => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("the sink cannot listen on {} again: {e}", self.addr),
            }
        };
        self.accept = Some(tokio::spawn(accept_loop(
            listener,
            self.shared.clone(),
            self.connections.clone(),
        )));
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// The requests answered with a 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<Received> {
        lock(&self.shared.received)
            .iter()
            .filter(|r| r.delivered())
            .cloned()
            .collect()
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        lock(&self.shared.received).len()
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        lock(&self.shared.received).clear();
    }

    /// Waits until `check` holds of the requests so far (checked now and at each new
    /// request) or `deadline` passes; true when it held.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        mut check: impl FnMut(&[Received]) -> bool,
    ) -> bool {
        let mut changes = self.shared.count.subscribe();
        let end = tokio::time::Instant::now() + deadline;
        loop {
            if check(&lock(&self.shared.received)) {
                return true;
            }
            match tokio::time::timeout_at(end, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives as long as `self`: only the deadline ends the wait.
                Ok(Err(_)) | Err(_) => return check(&lock(&self.shared.received)),
            }
        }
    }

    /// Waits until at least `n` requests arrived; true when they did within `deadline`.
    pub async fn wait_count(&self, n: usize, deadline: Duration) -> bool {
        self.wait_until(deadline, |r| r.len() >= n).await
    }
}

/// Accepts connections until the task is aborted (which closes the listener).
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    connections: Arc<Mutex<JoinSet<()>>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let mut set = lock(&connections);
                // Reap finished connections so a long run does not accumulate them.
                while set.try_join_next().is_some() {}
                set.spawn(serve_connection(stream, shared.clone()));
            }
            // Out of file descriptors, say: try again shortly.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Serves one connection: one request, one answer (or none), then close.
async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let service = hyper::service::service_fn(move |req| handle(req, shared.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Why a connection was cut without an answer (hyper closes it on any service error).
#[derive(Debug)]
struct Cut;

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection cut by the script")
    }
}

impl std::error::Error for Cut {}

/// Reads a request, records it, answers as scripted.
async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<ReplyBody>, Cut> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await else {
        // The client went away mid-body: nothing to record or answer.
        return Err(Cut);
    };
    let received = Received {
        method: parts.method,
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        headers: parts.headers,
        body: body.to_bytes().to_vec(),
        at: Instant::now(),
        wall: SystemTime::now(),
        answered: None,
    };
    let reply = shared.take(received);
    match reply.then {
        Then::Drop => return Err(Cut),
        Then::Hang | Then::Stall => std::future::pending::<()>().await,
        Then::Answer => {}
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    Ok(response(reply))
}

/// A scripted body: whole (its length declared) or in chunks (its length unknown).
enum ReplyBody {
    /// All at once.
    Whole(Full<Bytes>),
    /// These chunks, in order.
    Chunks(VecDeque<Bytes>),
}

impl hyper::body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ReplyBody::Whole(full) => Pin::new(full).poll_frame(cx),
            ReplyBody::Chunks(chunks) => {
                Poll::Ready(chunks.pop_front().map(|c| Ok(Frame::data(c))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Whole(full) => full.is_end_stream(),
            ReplyBody::Chunks(chunks) => chunks.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Whole(full) => full.size_hint(),
            // Unknown: hyper sends it with chunked transfer encoding.
            ReplyBody::Chunks(_) => SizeHint::default(),
        }
    }
}

/// The scripted answer as a response (a header that is not valid HTTP is a test bug).
fn response(reply: Reply) -> Response<ReplyBody> {
    let body = match reply.chunked {
        None => ReplyBody::Whole(Full::new(Bytes::from(reply.body))),
        Some(size) => ReplyBody::Chunks(
            reply
                .body
                .chunks(size)
                .map(Bytes::copy_from_slice)
                .collect(),
        ),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status)
        .unwrap_or_else(|e| panic!("scripted status {}: {e}", reply.status));
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        let name = HeaderName::try_from(name.as_str())
            .unwrap_or_else(|e| panic!("scripted header name {name:?}: {e}"));
        let value = HeaderValue::try_from(value.as_str())
            .unwrap_or_else(|e| panic!("scripted header value {value:?}: {e}"));
        headers.append(name, value);
    }
    response
}

#[cfg(test)]
mod tests;
