//! One GET against the upstream: the rate cap, the timeout, the bearer token, retries with
//! backoff and `Retry-After`, a bounded body, and one count per attempt in
//! `inventory_monitor_upstream_requests_total`.
//!
//! Transport failures are sorted by walking the error's source chain: a TLS failure (above
//! all a certificate the client does not trust) is reported as such, with code
//! `tls_error`, instead of as a generic connection failure, because the fix is different
//! (`api.ca_file`, or the server's certificate) and retrying does not help.

use std::error::Error as _;
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rand::RngExt;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use tokio_rustls::rustls;

use super::limits::LimitHits;
use super::pacer::Pacer;
use super::transport::{Direct, DirectError};
use crate::config::{ByteSize, Secret};
use crate::retry_after;

/// How much of an error response's body we read (and throw away) so that the connection
/// can go back to the keep-alive pool.
const MAX_DRAINED_BYTES: usize = 64 * 1024;

/// First backoff ceiling; it doubles with each retry.
const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// Largest backoff ceiling.
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// Largest `Retry-After` we honour; an upstream asking for more is retried after this.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// Longest error text we keep (transport error chains can be long).
const MAX_MESSAGE_CHARS: usize = 400;

/// Which API endpoint a request is for: the `endpoint` label of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `GET …/inventory_connection_profile/?limit=…`
    List,
    /// `GET …/inventory_connection_profile/{id}/`
    Detail,
}

impl Endpoint {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Endpoint::List => "list",
            Endpoint::Detail => "detail",
        }
    }
}

/// Why a GET gave no 2xx body, after whatever retries it deserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// A non-2xx answer: one we do not retry, or a retryable one on the last attempt.
    Status {
        /// The last status received.
        status: StatusCode,
        /// Attempts made.
        attempts: u32,
    },
    /// Every attempt timed out.
    Timeout {
        /// The per-request timeout.
        after: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// Connection refused, reset, DNS, TLS, ...
    Transport {
        /// What happened (no URL, no token).
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A 2xx body longer than `api.max_body_size`.
    TooLarge {
        /// The limit in force.
        limit: ByteSize,
    },
}

impl FetchError {
    /// The status of the last answer, if there was one.
    pub(crate) fn status(&self) -> Option<StatusCode> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attempts = match self {
            FetchError::Status { status, attempts } => {
                write!(f, "HTTP {status}")?;
                *attempts
            }
            FetchError::Timeout { after, attempts } => {
                write!(f, "timed out after {}", humantime::format_duration(*after))?;
                *attempts
            }
            FetchError::Transport { detail, attempts } => {
                f.write_str(detail)?;
                *attempts
            }
            FetchError::TooLarge { limit } => {
                return write!(f, "body larger than api.max_body_size ({limit})");
            }
        };
        if attempts > 1 {
            write!(f, " (gave up after {attempts} attempts)")?;
        }
        Ok(())
    }
}

/// How one attempt failed.
#[derive(Debug)]
enum AttemptError {
    /// A non-2xx status, with the wait the server asked for (429 and 503 only).
    Status {
        /// The status.
        status: StatusCode,
        /// `Retry-After`, capped.
        retry_after: Option<Duration>,
    },
    /// The per-request timeout elapsed (connecting, waiting or reading the body).
    Timeout,
    /// Any other transport failure.
    Transport {
        /// What happened.
        detail: String,
        /// Worth another try (connection problems are; a request we cannot build is not).
        retryable: bool,
    },
    /// The body was too long.
    TooLarge,
}

/// What a transport failure was, for the metric's `code` and for retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransportKind {
    /// The TLS handshake failed (an untrusted or invalid certificate, a protocol
    /// mismatch): code `tls_error`, not retried.
    Tls,
    /// The connection could not be made: code `connect_error`, retried.
    Connect,
    /// Anything else: code `error`.
    Other,
}

impl AttemptError {
    fn retryable(&self) -> bool {
        match self {
            AttemptError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            AttemptError::Timeout => true,
            AttemptError::Transport { retryable, .. } => *retryable,
            AttemptError::TooLarge => false,
        }
    }

    fn into_fetch_error(self, attempts: u32, timeout: Duration, max_body: usize) -> FetchError {
        match self {
            AttemptError::Status { status, .. } => FetchError::Status { status, attempts },
            AttemptError::Timeout => FetchError::Timeout {
                after: timeout,
                attempts,
            },
            AttemptError::Transport { detail, .. } => FetchError::Transport { detail, attempts },
            AttemptError::TooLarge => FetchError::TooLarge {
                limit: ByteSize(max_body as u64),
            },
        }
    }
}

/// The client that carries the requests (see `transport`).
pub(crate) enum Http {
    /// hyper's client, driven directly: the usual case.
    Direct(Box<Direct>),
    /// reqwest's, when a system proxy applies to the upstream.
    Reqwest(reqwest::Client),
}

/// Sends GETs the careful way. Shared by every list and detail request of a client.
pub(crate) struct Requester {
    /// The connection pool.
    pub(crate) http: Http,
    /// `Bearer <token>`, marked sensitive so that no `Debug` of a request shows it.
    pub(crate) auth: HeaderValue,
    /// The token itself, only to scrub it out of any text we produce.
    pub(crate) token: Secret,
    /// Per-request timeout.
    pub(crate) timeout: Duration,
    /// Retries after the first attempt.
    pub(crate) retries: u32,
    /// The shared cap on request starts.
    pub(crate) pacer: Pacer,
    /// `inventory_monitor_upstream_requests_total{endpoint, code}`.
    pub(crate) requests: prometheus::IntCounterVec,
    /// `api.max_body_size`, in bytes.
    pub(crate) max_body: usize,
    /// Where limit hits are counted.
    pub(crate) limits: LimitHits,
}

impl Requester {
    /// GETs `url`, retrying timeouts, connection errors, 5xx and 429, and returns the body
    /// of the first 2xx answer.
    pub(crate) async fn get(&self, endpoint: Endpoint, url: &Url) -> Result<Bytes, FetchError> {
        // Formatted only when a debug line is written: no string per request otherwise.
        let target = LogTarget(url);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.pacer.wait().await;
            tracing::debug!(
                endpoint = endpoint.as_str(),
                method = "GET",
                path = %target,
                attempt,
                "upstream request"
            );
            let started = Instant::now();
            let error = match self.attempt(endpoint, url).await {
                Err(AttemptError::TooLarge) => {
                    // Counted here, once per answer; the sweep logs the tally once.
                    self.limits.body_too_large(endpoint.as_str());
                    return Err(AttemptError::TooLarge.into_fetch_error(
                        attempt,
                        self.timeout,
                        self.max_body,
                    ));
                }
                Ok(body) => {
                    tracing::debug!(
                        endpoint = endpoint.as_str(),
                        path = %target,
                        bytes = body.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "upstream answer"
                    );
                    return Ok(body);
                }
                Err(error) => error,
            };
            if !error.retryable() {
                // Not worth retrying (401, 404, ...): the caller decides how loud to be.
                return Err(error.into_fetch_error(attempt, self.timeout, self.max_body));
            }
            if attempt > self.retries {
                let error = error.into_fetch_error(attempt, self.timeout, self.max_body);
                // The caller tells it (the sweep's line, the unreadable details' count),
                // once per episode rather than per request and sweep.
                tracing::debug!(
                    endpoint = endpoint.as_str(),
                    path = %target,
                    error = %self.scrub(&error.to_string()),
                    "upstream request failed; giving up"
                );
                return Err(error);
            }
            let mut wait = full_jitter(backoff_ceiling(attempt - 1));
            if let AttemptError::Status {
                retry_after: Some(asked),
                ..
            } = &error
            {
                wait = wait.max(*asked);
            }
            tracing::debug!(
                endpoint = endpoint.as_str(),
                path = %target,
                attempt,
                error = ?error_kind(&error),
                wait_ms = wait.as_millis() as u64,
                "upstream request failed; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt, counted in the requests metric.
    async fn attempt(&self, endpoint: Endpoint, url: &Url) -> Result<Bytes, AttemptError> {
        match &self.http {
            Http::Direct(direct) => self.attempt_direct(direct, endpoint, url).await,
            Http::Reqwest(http) => self
                .attempt_reqwest(http, endpoint, url)
                .await
                .map(Bytes::from),
        }
    }

    /// One attempt with the direct client, the whole of it (connecting, redirects, the
    /// body) within the timeout, as reqwest's per-request timeout does.
    async fn attempt_direct(
        &self,
        direct: &Direct,
        endpoint: Endpoint,
        url: &Url,
    ) -> Result<Bytes, AttemptError> {
        let mut counted = false;
        let exchange = async {
            let answer = match direct.get(url).await {
                Ok(answer) => answer,
                Err(e) => {
                    let (code, error) = self.classify_direct(&e);
                    self.count(endpoint, code);
                    counted = true;
                    return Err(error);
                }
            };
            let status = answer.response.status();
            self.count(endpoint, status.as_str());
            counted = true;
            if !status.is_success() {
                let retry_after = retry_after_of(status, answer.response.headers());
                answer.drain(MAX_DRAINED_BYTES).await;
                return Err(AttemptError::Status {
                    status,
                    retry_after,
                });
            }
            match answer.body(self.max_body).await {
                Ok(body) => Ok(body),
                Err(None) => Err(AttemptError::TooLarge),
                // Already counted under the status; a body that breaks off is retried
                // like any transport failure.
                Err(Some(e)) => Err(self.classify_direct(&e).1),
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => {
                if !counted {
                    self.count(endpoint, "timeout");
                }
                Err(AttemptError::Timeout)
            }
        }
    }

    /// The metric code and the attempt error for a failure of the direct client, sorted
    /// as [`Requester::classify`] sorts reqwest's.
    fn classify_direct(&self, e: &DirectError) -> (&'static str, AttemptError) {
        let (kind, detail, retryable) = match e {
            DirectError::Send(e) => match tls_failure(e) {
                Some(tls) => (TransportKind::Tls, tls, false),
                None if e.is_connect() && timed_out(e) => {
                    return ("timeout", AttemptError::Timeout);
                }
                None if e.is_connect() => (
                    TransportKind::Connect,
                    format!("cannot connect: {}", chain_from(e)),
                    true,
                ),
                None => (TransportKind::Other, chain_from(e), true),
            },
            DirectError::Body(e) => (TransportKind::Other, chain_from(e), true),
            // A request that cannot be built will not build next time either.
            DirectError::Uri(why) => (
                TransportKind::Other,
                format!("request failed: {why}"),
                false,
            ),
        };
        let code = match kind {
            TransportKind::Tls => "tls_error",
            TransportKind::Connect => "connect_error",
            TransportKind::Other => "error",
        };
        (
            code,
            AttemptError::Transport {
                detail: self.scrub(&detail),
                retryable,
            },
        )
    }

    /// One attempt with reqwest's client.
    async fn attempt_reqwest(
        &self,
        http: &reqwest::Client,
        endpoint: Endpoint,
        url: &Url,
    ) -> Result<Vec<u8>, AttemptError> {
        let sent = http
            .get(url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .timeout(self.timeout)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                let (code, error) = self.classify(&e);
                self.count(endpoint, code);
                return Err(error);
            }
        };
        let status = response.status();
        self.count(endpoint, status.as_str());
        if !status.is_success() {
            let retry_after = retry_after_of(status, response.headers());
            drain(&mut response).await;
            return Err(AttemptError::Status {
                status,
                retry_after,
            });
        }
        // A declared length over the cap is refused before reading a byte; an undeclared
        // one (chunked) is counted as it arrives.
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body as u64)
        {
            return Err(AttemptError::TooLarge);
        }
        let expected = response.content_length().unwrap_or(0) as usize;
        let mut body = Vec::with_capacity(expected.min(self.max_body).min(1 << 20));
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_body {
                        return Err(AttemptError::TooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                // Already counted under the status; a body that breaks off is retried
                // like any transport failure.
                Err(e) => return Err(self.classify(&e).1),
            }
        }
    }

    /// The metric code and the attempt error for a transport failure.
    fn classify(&self, e: &reqwest::Error) -> (&'static str, AttemptError) {
        if e.is_timeout() {
            return ("timeout", AttemptError::Timeout);
        }
        // A TLS failure surfaces as a connect error; look for it first.
        let (kind, detail) = match tls_failure(e) {
            Some(tls) => (TransportKind::Tls, tls),
            None if e.is_connect() => (
                TransportKind::Connect,
                format!("cannot connect: {}", error_chain(e)),
            ),
            None => (TransportKind::Other, error_chain(e)),
        };
        let (code, retryable) = match kind {
            // The certificate will not be different in 100 ms.
            TransportKind::Tls => ("tls_error", false),
            TransportKind::Connect => ("connect_error", true),
            TransportKind::Other => (
                "error",
                !(e.is_builder() || e.is_redirect() || e.is_decode()),
            ),
        };
        (
            code,
            AttemptError::Transport {
                detail: self.scrub(&detail),
                retryable,
            },
        )
    }

    fn count(&self, endpoint: Endpoint, code: &str) {
        // `get_metric_with_label_values` rather than `with_label_values`: a counter with
        // other label names must cost us a metric, not a panic.
        if let Ok(counter) = self
            .requests
            .get_metric_with_label_values(&[endpoint.as_str(), code])
        {
            counter.inc();
        }
    }

    /// `text` with any occurrence of the token replaced and its length bounded: the last
    /// line of defence for messages built from what the network told us.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let token = self.token.expose();
        let mut out = if token.is_empty() {
            text.to_string()
        } else {
            text.replace(token, "<redacted>")
        };
        if out.chars().count() > MAX_MESSAGE_CHARS {
            out = out.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
        }
        out
    }
}

/// The wait a 429 or 503 answer asks for, capped.
fn retry_after_of(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after::parse(v, SystemTime::now()))
        .map(|d| d.min(RETRY_AFTER_CAP))
}

/// True when a connect failure was the connect timeout running out (reqwest calls that a
/// timeout too).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        next = cause.source();
    }
    false
}

/// Reads and discards a little of an error answer, so the connection can be reused.
async fn drain(response: &mut reqwest::Response) {
    let mut read = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > MAX_DRAINED_BYTES {
            break;
        }
    }
}

/// A short name for an attempt error, for debug logs.
fn error_kind(error: &AttemptError) -> String {
    match error {
        AttemptError::Status { status, .. } => status.as_str().to_string(),
        AttemptError::Timeout => "timeout".to_string(),
        AttemptError::Transport { detail, .. } => detail.clone(),
        AttemptError::TooLarge => "too large".to_string(),
    }
}

/// The TLS failure somewhere in `e`'s source chain, described for an operator; `None`
/// when the failure was not TLS.
///
/// rustls' error travels inside `io::Error`s (tokio-rustls wraps it, then the connector
/// wraps that again), and `io::Error::source` skips the error it wraps, so the walk steps
/// into each `io::Error` with `get_ref` instead.
pub(crate) fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = next {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(describe_tls(tls));
        }
        next = match cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner),
            None => cause.source(),
        };
    }
    None
}

/// Words for a TLS failure, with a hint where the fix is known.
fn describe_tls(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(cert) => {
            let hint = match cert {
                C::UnknownIssuer => {
                    " (the server's certificate is not signed by a trusted CA; for a private CA, \
                     set api.ca_file)"
                }
                C::Expired | C::ExpiredContext { .. } => " (the server's certificate has expired)",
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    " (the server's certificate is not for the host in api.base_url)"
                }
                _ => "",
            };
            // The variant's name (`UnknownIssuer`, `Expired`) is what operators search for.
            let name = format!("{cert:?}");
            let name = name.split([' ', '(', '{']).next().unwrap_or_default();
            format!("TLS certificate verification failed: {name}{hint}")
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("TLS handshake failed: {e} (is the server speaking plain HTTP?)")
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// The error and its causes, without the URL reqwest would otherwise include.
fn error_chain(e: &reqwest::Error) -> String {
    chain(e.source())
}

/// `e` and its causes, worded as [`error_chain`] words reqwest's (whose first cause is
/// the hyper error `e` is here).
fn chain_from(e: &(dyn std::error::Error + 'static)) -> String {
    chain(Some(e))
}

/// `request failed: ` and the text of each error from `first` down its causes.
fn chain(first: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut text = String::from("request failed");
    let mut source = first;
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Layers often repeat their inner error's text; say each thing once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// What a log line shows of a URL: path and query only, never userinfo or host.
pub(crate) fn log_target(url: &Url) -> String {
    LogTarget(url).to_string()
}

/// [`log_target`] as a `Display`, formatted only when used.
#[derive(Clone, Copy)]
struct LogTarget<'a>(&'a Url);

impl fmt::Display for LogTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.path())?;
        match self.0.query() {
            Some(query) => write!(f, "?{query}"),
            None => Ok(()),
        }
    }
}

/// The backoff ceiling before retry number `retry + 1`: 100 ms doubling, at most 5 s.
pub(crate) fn backoff_ceiling(retry: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(retry))
        .min(BACKOFF_CAP)
}

/// A uniformly random wait in `0..=ceiling` ("full jitter"), so clients that failed
/// together do not retry together.
fn full_jitter(ceiling: Duration) -> Duration {
    let max = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100ms_and_stops_at_5s() {
        assert_eq!(backoff_ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff_ceiling(1), Duration::from_millis(200));
        assert_eq!(backoff_ceiling(5), Duration::from_millis(3200));
        assert_eq!(backoff_ceiling(6), Duration::from_secs(5));
        assert_eq!(backoff_ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        let ceiling = Duration::from_millis(100);
        let waits: Vec<Duration> = (0..200).map(|_| full_jitter(ceiling)).collect();
        assert!(waits.iter().all(|w| *w <= ceiling));
        // Full jitter spreads the waits: 200 draws from 0..=100 ms are not all alike.
        assert!(waits.iter().any(|w| *w != waits[0]));
    }

    #[test]
    fn only_5xx_429_timeouts_and_connection_errors_are_retried() {
        let status = |code: u16| AttemptError::Status {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
            retry_after: None,
        };
        for code in [500, 502, 503, 504, 429] {
            assert!(status(code).retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 410, 302] {
            assert!(!status(code).retryable(), "{code}");
        }
        assert!(AttemptError::Timeout.retryable());
        assert!(!AttemptError::TooLarge.retryable());
    }

    #[test]
    fn tls_failures_are_found_inside_io_errors_and_named() {
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, cert);
        // Wrapped twice, as the connector does.
        let wrapped = std::io::Error::other(wrapped);
        let outer = Outer(Box::new(wrapped));
        let found = tls_failure(&outer).unwrap_or_default();
        assert!(
            found.starts_with("TLS certificate verification failed: UnknownIssuer"),
            "{found}"
        );
        assert!(found.contains("api.ca_file"), "{found}");

        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert_eq!(
            tls_failure(&expired).as_deref(),
            Some("TLS certificate verification failed: Expired (the server's certificate has expired)")
        );
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(tls_failure(&Outer(Box::new(plain))), None);
    }

    /// An error wrapping another, as hyper and reqwest wrap the connector's.
    #[derive(Debug)]
    struct Outer(Box<dyn std::error::Error + Send + Sync>);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn messages_say_what_happened_and_how_often() {
        let e = FetchError::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            attempts: 4,
        };
        assert_eq!(
            e.to_string(),
            "HTTP 503 Service Unavailable (gave up after 4 attempts)"
        );
        let e = FetchError::Status {
            status: StatusCode::FORBIDDEN,
            attempts: 1,
        };
        assert_eq!(e.to_string(), "HTTP 403 Forbidden");
        let e = FetchError::Timeout {
            after: Duration::from_secs(10),
            attempts: 2,
        };
        assert_eq!(
            e.to_string(),
            "timed out after 10s (gave up after 2 attempts)"
        );
    }

    #[test]
    fn log_target_shows_no_userinfo_or_host() {
        let url = Url::parse("https://user:pw@api.example.com/api/v1/x/?limit=1&offset=0");
        let url = url.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log_target(&url), "/api/v1/x/?limit=1&offset=0");
    }
}
