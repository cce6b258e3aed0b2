//! How a GET reaches the upstream: hyper's client driven directly, or reqwest when a
//! system proxy applies.
//!
//! The direct client is the sweep's hot path: thousands of small keep-alive GETs per sweep.
//! reqwest costs several µs of CPU per request on top of hyper (its redirect layer parses
//! every answer's URL again, headers are merged and copied per request, the body is
//! wrapped in layers of its own); here the request is built from the URL already parsed,
//! the headers, `Host` included, are copied from one prepared map, and the body is handed
//! over in the buffer hyper read it into when it arrives in one piece, as a detail does.
//!
//! What the direct client keeps from the reqwest set-up it replaces: the same roots
//! (webpki's plus `api.ca_file`'s) and rustls with TLS 1.2 and 1.3, `http/1.1` by ALPN,
//! `TCP_NODELAY`, the connect timeout, an idle pool of `api.concurrency` connections kept
//! 90 s, the `User-Agent`, `Accept: */*` and the bearer token marked sensitive, and the
//! redirect policy (at most [`MAX_REDIRECTS`] redirects, only within the origin of the
//! first URL, the answer returned as it is otherwise).
//!
//! reqwest honours the `HTTP(S)_PROXY`/`ALL_PROXY`/`NO_PROXY` variables; the direct client
//! does not speak to proxies, so when one of them applies to `api.base_url` the client is
//! reqwest's, as before.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, HOST, LOCATION, USER_AGENT};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use reqwest::Url;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;

use super::{same_origin, UpstreamError, MAX_REDIRECTS};

/// How long an idle keep-alive connection is kept (reqwest's default, kept).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// The direct client: hyper's, with rustls.
pub(crate) struct Direct {
    /// The connection pool.
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    /// `User-Agent`, `Accept` and `Authorization` (sensitive), copied into each request.
    headers: HeaderMap,
    /// The same with the `Host` of `api.base_url`'s origin, for requests to that origin
    /// (all of a sweep's): hyper's client would otherwise format `Host` again for every
    /// request from the URI; for any other origin it still does.
    origin: Option<Origin>,
}

/// The headers of requests to the origin of `api.base_url`.
struct Origin {
    /// The host as in the URL (`example.com`, `127.0.0.1`, `[::1]`).
    host: String,
    /// The port when the URL names one other than its scheme's default.
    port: Option<u16>,
    /// [`Direct::headers`] plus `Host`.
    headers: HeaderMap,
}

impl Origin {
    /// The `Host` hyper's client would send to `url`'s origin (host, and the port when
    /// not the scheme's default); `None` for a URL without a host or whose host is not a
    /// header value.
    fn new(url: &Url, headers: &HeaderMap) -> Option<Self> {
        let host = url.host_str()?.to_string();
        let port = url.port();
        let value = match port {
            Some(port) => HeaderValue::try_from(format!("{host}:{port}")).ok()?,
            None => HeaderValue::try_from(host.as_str()).ok()?,
        };
        let mut with_host = headers.clone();
        with_host.insert(HOST, value);
        Some(Self {
            host,
            port,
            headers: with_host,
        })
    }

    /// True when `url` is on this origin's host and port (the `Host` is the same).
    fn serves(&self, url: &Url) -> bool {
        url.host_str() == Some(self.host.as_str()) && url.port() == self.port
    }
}

/// What a direct GET gave: the final answer's head, and a way to read its body.
pub(crate) struct Answer {
    /// The answer, body unread.
    pub(crate) response: Response<Incoming>,
}

/// A direct GET's transport failure.
#[derive(Debug)]
pub(crate) enum DirectError {
    /// Sending the request or reading the head failed.
    Send(hyper_util::client::legacy::Error),
    /// Reading the body failed.
    Body(hyper::Error),
    /// The URL is not one hyper can send (cannot happen for URLs built from a checked
    /// base; kept rather than panicking).
    Uri(String),
}

impl Direct {
    /// The direct client for `[api]`: `origin` is the list URL (the origin of
    /// `api.base_url`), `timeout` bounds connecting, `pool` is the idle connections kept,
    /// `roots` the extra trusted roots of `api.ca_file`.
    pub(crate) fn new(
        origin: &Url,
        timeout: Duration,
        pool: usize,
        roots: &[CertificateDer<'static>],
        user_agent: &str,
        auth: HeaderValue,
    ) -> Result<Self, UpstreamError> {
        let mut store = rustls::RootCertStore::empty();
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in roots {
            store
                .add(root.clone())
                .map_err(|e| UpstreamError::Setup(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // ALPN (`http/1.1`) is set by the connector builder below.
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| UpstreamError::Setup(e.to_string()))?
            .with_root_certificates(store)
            .with_no_client_auth();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);

        let mut headers = HeaderMap::with_capacity(3);
        let agent =
            HeaderValue::try_from(user_agent).map_err(|e| UpstreamError::Setup(e.to_string()))?;
        headers.insert(USER_AGENT, agent);
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        headers.insert(AUTHORIZATION, auth);
        let origin = Origin::new(origin, &headers);
        Ok(Self {
            client,
            headers,
            origin,
        })
    }

    /// GETs `url`, following same-origin redirects as the policy allows; the final answer
    /// (a 3xx when a redirect was not followed).
    pub(crate) async fn get(&self, url: &Url) -> Result<Answer, DirectError> {
        let mut response = self.send(url).await?;
        let mut current: Option<Url> = None;
        for _ in 0..MAX_REDIRECTS {
            let base = current.as_ref().unwrap_or(url);
            let Some(next) = redirect_target(response.status(), response.headers(), base) else {
                break;
            };
            if !same_origin(url, &next) {
                break;
            }
            // What is left of the 3xx body is dropped with it; small, and rare.
            response = self.send(&next).await?;
            current = Some(next);
        }
        Ok(Answer { response })
    }

    /// One request, no redirect followed.
    async fn send(&self, url: &Url) -> Result<Response<Incoming>, DirectError> {
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| DirectError::Uri(e.to_string()))?;
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = uri;
        *request.headers_mut() = match &self.origin {
            Some(origin) if origin.serves(url) => origin.headers.clone(),
            _ => self.headers.clone(),
        };
        self.client
            .request(request)
            .await
            .map_err(DirectError::Send)
    }
}

impl Answer {
    /// The body, at most `max` bytes (`Err(None)` when longer). A body that arrives in one
    /// piece, as small answers do, is handed over in hyper's own buffer, uncopied.
    pub(crate) async fn body(self, max: usize) -> Result<Bytes, Option<DirectError>> {
        let expected = self
            .response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if expected.is_some_and(|len| len > max as u64) {
            return Err(None);
        }
        let mut body = self.response.into_body();
        let mut first: Option<Bytes> = None;
        let mut more: Option<BytesMut> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Some(DirectError::Body(e)))?;
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            match (&mut first, &mut more) {
                (None, _) => {
                    if chunk.len() > max {
                        return Err(None);
                    }
                    first = Some(chunk);
                }
                (Some(head), None) => {
                    // The declared length, trusted up to 1 MiB (as the reqwest path did).
                    let capacity = expected
                        .map_or(0, |len| len.min(1 << 20) as usize)
                        .max(head.len() + chunk.len())
                        .min(max);
                    if head.len() + chunk.len() > max {
                        return Err(None);
                    }
                    let mut buffer = BytesMut::with_capacity(capacity);
                    buffer.extend_from_slice(head);
                    buffer.extend_from_slice(&chunk);
                    more = Some(buffer);
                }
                (Some(_), Some(buffer)) => {
                    if buffer.len() + chunk.len() > max {
                        return Err(None);
                    }
                    buffer.extend_from_slice(&chunk);
                }
            }
        }
        Ok(match (first, more) {
            (_, Some(buffer)) => buffer.freeze(),
            (Some(one), None) => one,
            (None, None) => Bytes::new(),
        })
    }

    /// Reads and discards up to `limit` bytes of the body, so the connection can be reused.
    pub(crate) async fn drain(self, limit: usize) {
        let mut body = self.response.into_body();
        let mut read = 0;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(chunk) = frame.data_ref() {
                read += chunk.len();
            }
            if read > limit {
                break;
            }
        }
    }
}

/// Where a redirect answer points, resolved against `current`; `None` for any other answer
/// or a missing or unusable `Location` (the answer is then returned as it is).
fn redirect_target(status: StatusCode, headers: &HeaderMap, current: &Url) -> Option<Url> {
    let redirect = matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    if !redirect {
        return None;
    }
    let location = headers.get(LOCATION)?.to_str().ok()?;
    current.join(location).ok()
}

/// True when one of the proxy variables reqwest honours (`HTTP_PROXY`, `HTTPS_PROXY`,
/// `ALL_PROXY`, lower case too, minus `NO_PROXY`) applies to `url`.
pub(crate) fn proxy_applies(url: &Url) -> bool {
    let Ok(uri) = url.as_str().parse::<Uri>() else {
        return false;
    };
    hyper_util::client::proxy::matcher::Matcher::from_system()
        .intercept(&uri)
        .is_some()
}

/// The certificates of a PEM bundle, in order.
pub(crate) fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn located(location: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(location).unwrap_or_else(|e| panic!("{e}"));
        headers.insert(LOCATION, value);
        headers
    }

    #[test]
    fn redirects_are_resolved_against_the_current_url() {
        let current = url("http://127.0.0.1:8080/api/v1/inventory_connection_profile/7/");
        for status in [301, 302, 303, 307, 308] {
            let status = StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}"));
            let next = redirect_target(status, &located("/api/v2/x/7/"), &current);
            assert_eq!(
                next.map(|u| u.to_string()).as_deref(),
                Some("http://127.0.0.1:8080/api/v2/x/7/"),
                "{status}"
            );
        }
        let relative = redirect_target(StatusCode::FOUND, &located("../8/"), &current);
        assert_eq!(
            relative.map(|u| u.path().to_string()).as_deref(),
            Some("/api/v1/inventory_connection_profile/8/")
        );
    }

    #[test]
    fn other_answers_and_unusable_locations_are_not_followed() {
        let current = url("https://api.example.com/api/v1/x/");
        for status in [200, 300, 304, 404, 500] {
            let status = StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(redirect_target(status, &located("/y/"), &current), None);
        }
        assert_eq!(
            redirect_target(StatusCode::FOUND, &HeaderMap::new(), &current),
            None
        );
        assert_eq!(
            redirect_target(StatusCode::FOUND, &located("http://[::1"), &current),
            None
        );
    }

    #[test]
    fn the_prepared_host_is_the_one_hyper_would_send() {
        let cases = [
            ("http://127.0.0.1:8080/api/v1/x/", "127.0.0.1:8080"),
            (
                "https://control.example.com/api/v1/x/",
                "control.example.com",
            ),
            ("https://control.example.com:443/x/", "control.example.com"),
            ("http://control.example.com:80/x/", "control.example.com"),
            (
                "http://control.example.com:443/x/",
                "control.example.com:443",
            ),
            (
                "https://control.example.com:8443/x/",
                "control.example.com:8443",
            ),
            ("http://[::1]:9000/x/", "[::1]:9000"),
            ("https://BÜCHER.example/x/", "xn--bcher-kva.example"),
        ];
        for (base, host) in cases {
            let origin = Origin::new(&url(base), &HeaderMap::new())
                .unwrap_or_else(|| panic!("{base}: no origin"));
            assert_eq!(
                origin.headers.get(HOST).and_then(|v| v.to_str().ok()),
                Some(host),
                "{base}"
            );
        }
        let origin = Origin::new(&url("http://127.0.0.1:8080/api/"), &HeaderMap::new())
            .unwrap_or_else(|| panic!("no origin"));
        assert!(origin.serves(&url("http://127.0.0.1:8080/api/x/7/?limit=100")));
        assert!(!origin.serves(&url("http://127.0.0.1:8081/api/x/7/")));
        assert!(!origin.serves(&url("http://localhost:8080/api/x/7/")));
        assert!(!origin.serves(&url("http://127.0.0.1/api/x/7/")));
    }

    #[test]
    fn text_without_pem_blocks_gives_no_certificate() {
        assert_eq!(
            pem_certificates(b"no certificate here").map(|c| c.len()),
            Ok(0)
        );
    }
}
