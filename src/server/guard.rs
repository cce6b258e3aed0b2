//! What stands between the network and the router: the rate limit, `GET`/`HEAD` only
//! without bodies except on the write routes (bounded bodies, [`super::writes`]), basic
//! auth, the write policy, the request deadline, and the security headers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::writes::{self, Peer, VerifiedClient, WritePolicy, Writer};
use super::ServerOptions;
use crate::config::Secret;
use crate::web_config::RateLimit;

/// The headers every response carries. The CSP allows the status page's own stylesheet and
/// icon (README, Status page) and nothing else: no script, no inline style, no outside
/// asset, no framing; the rest stop sniffing, framing and referrer leaks.
const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// The challenge of a 401.
pub const WWW_AUTHENTICATE: &str = r#"Basic realm="inventory-monitor""#;

/// `router` behind the checks of `options` (see [`super::secured_app`]).
pub(super) fn secure(router: Router, options: &ServerOptions) -> Router {
    let web = options.web.as_deref();
    let guard = Arc::new(Guard {
        headers: web.map(|w| w.headers.clone()).unwrap_or_default(),
        auth: web.and_then(|w| BasicAuth::new(&w.users)),
        limiter: web.and_then(|w| w.rate_limit).map(RateLimiter::new),
        request_timeout: options.request_timeout,
        writes: options.writes,
    });
    router.layer(axum::middleware::from_fn_with_state(guard, guard_layer))
}

/// The per-request checks of [`super::secured_app`].
struct Guard {
    /// `http_server_config.headers`, set after (so over) ours.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Basic auth, when the web config has users.
    auth: Option<BasicAuth>,
    /// The web config's rate limit.
    limiter: Option<RateLimiter>,
    /// Deadline from request headers to response.
    request_timeout: Duration,
    /// Who may write.
    writes: WritePolicy,
}

/// The middleware: [`Guard::admit`], then the security and configured headers on whatever
/// the answer is, refusals included.
async fn guard_layer(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let mut response = guard.admit(request, next).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for (name, value) in &guard.headers {
        headers.insert(name.clone(), value.clone());
    }
    response
}

impl Guard {
    /// The refusal the request earns, or the router's answer within the request deadline.
    async fn admit(&self, mut request: Request, next: Next) -> Response {
        if let Some(limiter) = &self.limiter {
            if !limiter.allow() {
                return plain(StatusCode::TOO_MANY_REQUESTS, "too many requests\n");
            }
        }
        let write = writes::is_write(request.method(), request.uri().path());
        if !write && request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD (and the writes of README, Silences)\n",
            );
            response.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static(writes::allowed_methods(request.uri().path())),
            );
            return response;
        }
        if write {
            // A write's body is read by its handler up to the cap; one announced larger is
            // refused before it is read.
            if request
                .body()
                .size_hint()
                .upper()
                .is_some_and(|n| n > writes::MAX_WRITE_BODY as u64)
            {
                return plain(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body larger than 64 KiB\n",
                );
            }
        } else if request.body().size_hint().exact() != Some(0) {
            // We serve only GET here: a request that announces a body is not one of ours,
            // and its body is never read.
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request bodies are not accepted\n",
            );
        }
        let answer = async {
            let mut user = None;
            if let Some(auth) = &self.auth {
                let authorization = request.headers().get(header::AUTHORIZATION);
                if !auth.verify(authorization).await {
                    let mut response = plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(WWW_AUTHENTICATE),
                    );
                    return response;
                }
                user = authorization
                    .and_then(basic_credentials)
                    .map(|(u, _)| String::from_utf8_lossy(&u).into_owned());
            }
            if write {
                let client = request.extensions().get::<VerifiedClient>().cloned();
                let authenticated = user.is_some() || client.is_some();
                let host = request
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok());
                if let Err((status, hint)) = self.writes.admit(authenticated, host) {
                    return plain(status, hint);
                }
                if let Err((status, hint)) = writes::refuse_from_browsers(
                    request.method(),
                    request.uri().path(),
                    request.headers(),
                ) {
                    return plain(status, hint);
                }
                let writer = Writer {
                    user: user.or(client.map(|c| c.0)),
                    peer: request.extensions().get::<Peer>().map(|p| p.0),
                };
                request.extensions_mut().insert(writer);
            }
            next.run(request).await
        };
        match tokio::time::timeout(self.request_timeout, answer).await {
            Ok(response) => response,
            Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "request timed out\n"),
        }
    }
}

/// A short `text/plain` answer, for refusals.
fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, Body::from(text)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Successful verifications remembered, so that a scraper's every request does not cost
/// a bcrypt run. Small: a few scrapers use a few credentials.
const VERIFIED_CACHE: usize = 64;

/// `Authorization: Basic` against bcrypt hashes.
struct BasicAuth {
    /// User name → bcrypt hash.
    users: HashMap<String, Secret>,
    /// A hash checked for unknown users, so that they take as long as known ones.
    decoy: Secret,
    /// Random per process: cache entries are `sha256(salt ‖ user:password)`, useless to
    /// anyone reading memory without it, and never a password.
    salt: [u8; 32],
    /// Digests of credentials that verified, oldest first.
    verified: Mutex<VecDeque<[u8; 32]>>,
    /// One bcrypt run at a time: wrong passwords cost one core at most.
    bcrypt: Semaphore,
}

impl BasicAuth {
    /// `None` when there are no users: no basic auth.
    fn new(users: &BTreeMap<String, Secret>) -> Option<Self> {
        let decoy = users.values().next()?.clone();
        Some(Self {
            users: users.iter().map(|(u, h)| (u.clone(), h.clone())).collect(),
            decoy,
            salt: rand::random(),
            verified: Mutex::new(VecDeque::with_capacity(VERIFIED_CACHE)),
            bcrypt: Semaphore::new(1),
        })
    }

    /// Whether `authorization` carries a known user and the password of its hash.
    async fn verify(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let digest = self.digest(&user, &password);
        if self.remembered(&digest) {
            return true;
        }
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u));
        let hash = known.unwrap_or(&self.decoy).clone();
        let Ok(_turn) = self.bcrypt.acquire().await else {
            return false;
        };
        let matches = tokio::task::spawn_blocking(move || {
            bcrypt::verify(&password, hash.expose()).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if matches && known.is_some() {
            self.remember(digest);
            true
        } else {
            false
        }
    }

    /// What the cache remembers of `user:password`: a salted SHA-256, never the password.
    fn digest(&self, user: &[u8], password: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user);
        h.update(b":");
        h.update(password);
        h.finalize().into()
    }

    /// Compares against every entry in constant time, whichever matches.
    fn remembered(&self, digest: &[u8; 32]) -> bool {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = subtle::Choice::from(0);
        for entry in verified.iter() {
            found |= entry.ct_eq(digest);
        }
        found.into()
    }

    /// Remembers a verified digest, forgetting the oldest beyond [`VERIFIED_CACHE`].
    fn remember(&self, digest: [u8; 32]) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CACHE {
            verified.pop_front();
        }
        verified.push_back(digest);
    }
}

/// User and password of `Authorization: Basic base64(user:password)`.
fn basic_credentials(value: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// A token bucket: `burst` requests at once, one more every `interval`.
struct RateLimiter {
    /// The web config's limit.
    limit: RateLimit,
    /// Tokens available and when they were counted.
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket.
    fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            bucket: Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    /// Takes a token if there is one.
    fn allow(&self) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let earned = now.duration_since(bucket.1).as_secs_f64() / self.limit.interval.as_secs_f64();
        bucket.0 = (bucket.0 + earned).min(f64::from(self.limit.burst));
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorization(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let got = basic_credentials(&authorization("alice", "a:b:c")).unwrap();
        assert_eq!(got, (b"alice".to_vec(), b"a:b:c".to_vec()));
        let lower = HeaderValue::from_static("basic YWxpY2U6cHc=");
        assert_eq!(
            basic_credentials(&lower).unwrap(),
            (b"alice".to_vec(), b"pw".to_vec())
        );
        for refused in [
            "Bearer YWxpY2U6cHc=",
            "Basic not-base64!",
            "Basic YWxpY2U=", // "alice": no colon
            "Basic",
        ] {
            assert_eq!(
                basic_credentials(&HeaderValue::from_static(refused)),
                None,
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn only_verified_credentials_are_remembered() {
        let users = [
            (
                "alice".to_string(),
                Secret::new(bcrypt::hash("alice-pw", 4).unwrap()),
            ),
            (
                "bob".to_string(),
                Secret::new(bcrypt::hash("bob-pw", 4).unwrap()),
            ),
        ]
        .into_iter()
        .collect();
        let auth = BasicAuth::new(&users).unwrap();

        assert!(!auth.verify(Some(&authorization("alice", "bob-pw"))).await);
        assert!(!auth.remembered(&auth.digest(b"alice", b"bob-pw")));
        // The decoy checked for unknown users is a real hash; its password must not let an
        // unknown user in.
        assert!(
            !auth
                .verify(Some(&authorization("mallory", "alice-pw")))
                .await
        );
        assert!(!auth.remembered(&auth.digest(b"mallory", b"alice-pw")));
        assert!(!auth.verify(None).await);

        assert!(auth.verify(Some(&authorization("alice", "alice-pw"))).await);
        assert!(auth.remembered(&auth.digest(b"alice", b"alice-pw")));
        assert!(auth.verify(Some(&authorization("alice", "alice-pw"))).await);
        assert!(!auth.remembered(&auth.digest(b"bob", b"alice-pw")));
    }

    #[test]
    fn the_verified_cache_stays_bounded() {
        let users = [("u".to_string(), Secret::new(bcrypt::hash("p", 4).unwrap()))]
            .into_iter()
            .collect();
        let auth = BasicAuth::new(&users).unwrap();
        for i in 0..(VERIFIED_CACHE as u32 + 10) {
            auth.remember(auth.digest(b"u", &i.to_be_bytes()));
        }
        assert_eq!(auth.verified.lock().unwrap().len(), VERIFIED_CACHE);
        assert!(!auth.remembered(&auth.digest(b"u", &0u32.to_be_bytes())));
        assert!(auth.remembered(&auth.digest(b"u", &(VERIFIED_CACHE as u32).to_be_bytes())));
    }

    #[test]
    fn the_rate_limiter_allows_a_burst_then_one_per_interval() {
        let limiter = RateLimiter::new(RateLimit {
            interval: Duration::from_secs(1),
            burst: 2,
        });
        assert!(limiter.allow());
        assert!(limiter.allow());
        assert!(!limiter.allow());
        // One interval later (moved back rather than waited for), one more.
        limiter.bucket.lock().unwrap().1 -= Duration::from_secs(1);
        assert!(limiter.allow());
        assert!(!limiter.allow());
    }
}
