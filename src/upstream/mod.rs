//! The HTTP client for the upstream API (README: Behaviour in detail): it walks the profile list and fetches
//! each profile's detail, gently and with suspicion.
//!
//! Gently: one keep-alive connection pool, at most `api.concurrency` requests in flight, an
//! optional cap on request starts per second shared by every request, a timeout per
//! request, retries with exponential backoff and full jitter on timeouts, connection
//! errors, 5xx and 429, and `Retry-After` honoured.
//!
//! With suspicion: pagination that loops, shrinks, grows or repeats ids ends the walk
//! cleanly as [`ListOutcome::Incomplete`]; `next` links and redirects to another origin are
//! never followed (the token must not reach another host); bodies that are not the
//! expected JSON are errors, counted in `invalid_bodies`, never panics.
//!
//! # Layout
//!
//! - this file: [`UpstreamClient`], its construction, and the detail fetches.
//! - `counters`: the counters it adds to, handed over by whoever composes the daemon.
//! - `walk`: the list walk and its consistency checks.
//! - `request`: one GET with the timeout, retries, backoff, the body cap, TLS failures
//!   told apart, and the request counter.
//! - `pacer`: the shared cap on request starts per second.
//! - `limits`: the protective limits (`api.max_body_size`, `api.max_profiles`, absurd
//!   values) and their once-per-sweep report.
//! - `io`: the client's own single-threaded runtime, where walks and detail fetches run.
//! - `transport`: hyper's client driven directly (reqwest's when a system proxy applies),
//!   the redirect policy, and bodies read without a copy.

mod counters;
mod io;
mod limits;
mod pacer;
mod request;
mod transport;
mod walk;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};

use crate::config::{ApiConfig, Secret};
use crate::model::{ListItem, Profile};
use crate::snapshot::ListOutcome;

pub use crate::limit::Limit;
pub use counters::UpstreamCounters;
pub use limits::{LimitReport, Told};

use io::IoThread;
use limits::LimitHits;
use pacer::Pacer;
use request::{Endpoint, FetchError, Http, Requester};
use tokio_rustls::rustls::pki_types::CertificateDer;

/// Results of [`UpstreamClient::fetch_details_each`] handed from the I/O thread to the
/// caller at once: few enough to keep the batch small, many enough that waking the caller
/// costs nothing per profile.
pub const BATCH: usize = 256;

/// Redirects followed at most, and only within the origin of the first URL.
const MAX_REDIRECTS: usize = 5;

/// Why a client could not be built. Messages never contain the token or the base URL's
/// userinfo.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// `api.base_url` is not a usable http(s) URL.
    #[error("api.base_url: {0}")]
    BaseUrl(String),
    /// `api.ca_file` could not be read.
    #[error("api.ca_file: cannot read {path}: {source}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `api.ca_file` holds no usable PEM certificate.
    #[error("api.ca_file: {path} holds no usable PEM certificate{detail}")]
    CaCertificates {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said, if anything (starts with `: `).
        detail: String,
    },
    /// The token cannot travel in an HTTP header (control characters or non-ASCII).
    #[error("the API token contains characters that cannot be sent in an HTTP header")]
    Token,
    /// The HTTP client could not be set up (TLS back end, ...).
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The direct HTTP client could not be set up (TLS settings, ...).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// What a list walk found.
#[derive(Debug, Clone)]
pub struct Walk {
    /// Whether every page was read and the pages agreed.
    pub outcome: ListOutcome,
    /// The profiles listed, de-duplicated by id (the first occurrence wins), in list
    /// order. Empty when the outcome is `Failed`; what could be read when `Incomplete`.
    pub items: Vec<ListItem>,
    /// List pages read successfully.
    pub pages: usize,
    /// Why, when `api.max_profiles` cut the walk short (the outcome is then
    /// `Incomplete`).
    pub capped: Option<String>,
}

/// What fetching one profile's detail gave.
#[derive(Debug, Clone)]
pub enum DetailResult {
    /// The detail, parsed, already in the `Arc` the snapshot keeps it in: a sweep's vector
    /// of results stays small (a pointer per profile, not the profile), and the profile is
    /// never copied on its way into the snapshot.
    Ok(Arc<Profile>),
    /// 404 (or 410): the profile no longer exists.
    Gone,
    /// Anything else: a human reason (status, timeout, invalid body), never a secret.
    Failed(String),
}

/// The upstream API client. Cheap to clone: clones share the connection pool, the rate cap
/// and the metrics.
#[derive(Clone)]
pub struct UpstreamClient {
    /// Everything the clones share.
    inner: Arc<Inner>,
}

/// The shared state of a client.
struct Inner {
    /// Sends every request.
    requester: Requester,
    /// `{base_url}/inventory_connection_profile/`, without a query.
    list_url: Url,
    /// `?name=` when not empty.
    name_filter: String,
    /// `limit` of list requests.
    page_size: u32,
    /// Requests in flight at once (at least 1).
    concurrency: usize,
    /// `api.max_profiles`: profiles read per sweep at most (at least 1).
    max_profiles: usize,
    /// `inventory_monitor_upstream_invalid_bodies_total{endpoint}`.
    invalid_bodies: prometheus::IntCounterVec,
    /// What the sweeps told the log of their steady conditions.
    told: std::sync::Mutex<Told>,
    /// Where [`UpstreamClient::walk`] and [`UpstreamClient::fetch_details`] run; `None`
    /// if its thread could not be started (they then run on the caller's runtime).
    io: Option<IoThread>,
}

impl fmt::Debug for UpstreamClient {
    // By hand: nothing of the token, and the pool's internals are noise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("list_path", &self.inner.list_url.path())
            .field("page_size", &self.inner.page_size)
            .field("concurrency", &self.inner.concurrency)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// Builds a client from the `[api]` settings and the token, counting requests and
    /// invalid bodies only (limit hits can be attached with
    /// [`UpstreamClient::with_limit_hits`]).
    ///
    /// `requests` must have the labels `endpoint` and `code`, `invalid_bodies` the label
    /// `endpoint`; a counter vector with other labels is left alone rather than panicking.
    pub fn new(
        api: &ApiConfig,
        token: Secret,
        requests: prometheus::IntCounterVec,
        invalid_bodies: prometheus::IntCounterVec,
    ) -> Result<Self, UpstreamError> {
        Self::with_counters(
            api,
            token,
            UpstreamCounters {
                requests,
                invalid_bodies,
                limit_hits: None,
            },
        )
    }

    /// Builds a client from the `[api]` settings and the token, counting into
    /// `counters`: what the daemon uses, handing over the counters of its self-metrics.
    pub fn with_counters(
        api: &ApiConfig,
        token: Secret,
        counters: impl Into<UpstreamCounters>,
    ) -> Result<Self, UpstreamError> {
        let UpstreamCounters {
            requests,
            invalid_bodies,
            limit_hits,
        } = counters.into();
        let list_url = list_endpoint(&api.base_url)?;
        let mut auth = HeaderValue::try_from(format!("Bearer {}", token.expose()))
            .map_err(|_| UpstreamError::Token)?;
        auth.set_sensitive(true);

        let user_agent = format!("inventory-monitor/{}", crate::VERSION);
        let roots = match api.ca_file.as_ref().filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let http = if transport::proxy_applies(&list_url) {
            Http::Reqwest(reqwest_client(api, &roots, &user_agent)?)
        } else {
            Http::Direct(Box::new(transport::Direct::new(
                &list_url,
                api.timeout,
                api.concurrency.max(1) as usize,
                &roots,
                &user_agent,
                auth.clone(),
            )?))
        };
        let io = match IoThread::start() {
            Ok(io) => Some(io),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the upstream I/O thread; requests run on the main runtime");
                None
            }
        };

        let limits = LimitHits::default();
        if let Some(counter) = limit_hits {
            limits.attach(counter);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                requester: Requester {
                    http,
                    auth,
                    token,
                    timeout: api.timeout,
                    retries: api.retries,
                    pacer: Pacer::new(api.max_requests_per_second),
                    requests,
                    max_body: usize::try_from(api.max_body_size.bytes()).unwrap_or(usize::MAX),
                    limits,
                },
                list_url,
                name_filter: api.name_filter.clone(),
                page_size: api.page_size.clamp(1, 100),
                concurrency: api.concurrency.max(1) as usize,
                max_profiles: usize::try_from(api.max_profiles)
                    .unwrap_or(usize::MAX)
                    .max(1),
                invalid_bodies,
                told: Default::default(),
                io,
            }),
        })
    }

    /// Counts every limit hit in `counter`
    /// (`inventory_monitor_upstream_limit_hits_total`, label `limit`) from now on. Only the
    /// first counter attached is used.
    pub fn with_limit_hits(self, counter: prometheus::IntCounterVec) -> Self {
        self.inner.requester.limits.attach(counter);
        self
    }

    /// `api.max_profiles`: how many profiles one sweep reads at most.
    pub fn max_profiles(&self) -> usize {
        self.inner.max_profiles
    }

    /// Records the absurd values of profile `id` (the sweep calls this once it has
    /// screened the detail against its clock).
    pub fn record_absurd(&self, id: u64, profile: &Profile) {
        self.inner
            .requester
            .limits
            .absurd(Some(id), &profile.absurd);
    }

    /// Records that the sweep dropped profiles to stay within `api.max_profiles`.
    pub fn record_profiles_capped(&self, what: String) {
        self.inner.requester.limits.profiles_capped(what);
    }

    /// The limits hit since the last call: what the sweep logs, once, at its end.
    pub fn take_limit_report(&self) -> LimitReport {
        self.inner.requester.limits.take()
    }

    /// What the sweeps with this client told the log of their steady conditions, so that
    /// each is told when it starts and stops rather than every sweep.
    pub fn told(&self) -> std::sync::MutexGuard<'_, Told> {
        // A panic while held leaves latches that at worst tell a line twice.
        self.inner.told.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fetches the details of `ids`, at most `api.concurrency` at once; the results are in
    /// the order of `ids`. Runs on the client's I/O thread; dropping the future cancels
    /// the fetches.
    pub async fn fetch_details(&self, ids: &[u64]) -> Vec<(u64, DetailResult)> {
        let mut results: Vec<Option<(u64, DetailResult)>> = Vec::with_capacity(ids.len());
        results.resize_with(ids.len(), || None);
        self.fetch_details_each(
            ids,
            |id, result| (id, result),
            |index, result| results[index] = Some(result),
        )
        .await;
        // `each` is called once for every index.
        results.into_iter().flatten().collect()
    }

    /// [`UpstreamClient::fetch_details`], result by result: `settle` is called with each
    /// result as soon as it arrives, on the client's I/O thread, and `each` with the
    /// index in `ids` and what `settle` made of it, on the caller's task, in batches
    /// (one wake-up of the caller per [`BATCH`] results, not per profile), in no
    /// particular order, once for every index. A caller that would otherwise hold every
    /// fresh detail until the fetch ends (to compare it with what it knew, say) keeps only
    /// what it needs of each, and can put it in its final place at once.
    pub async fn fetch_details_each<T, F, E>(&self, ids: &[u64], settle: F, mut each: E)
    where
        T: Send + 'static,
        F: Fn(u64, DetailResult) -> T + Send + Sync + 'static,
        E: FnMut(usize, T),
    {
        let mut done = vec![false; ids.len()];
        let mut take = |batch: Vec<(usize, T)>| {
            for (index, value) in batch {
                done[index] = true;
                each(index, value);
            }
        };
        let settle = Arc::new(settle);
        match &self.inner.io {
            None => self.fetch_details_here(ids, &*settle, &mut take).await,
            Some(io) => {
                let (sender, mut batches) = tokio::sync::mpsc::unbounded_channel();
                let this = self.clone();
                let owned = ids.to_vec();
                let settle_there = Arc::clone(&settle);
                let task = io.spawn(async move {
                    this.fetch_details_here(&owned, &*settle_there, |batch| {
                        // An error only means the caller is gone (and the task aborted).
                        let _ = sender.send(batch);
                    })
                    .await
                });
                // The sender is dropped when the task ends, however it ends.
                while let Some(batch) = batches.recv().await {
                    take(batch);
                }
                task.join().await;
            }
        }
        for (index, _) in done.iter().enumerate().filter(|(_, done)| !**done) {
            each(index, settle(ids[index], not_fetched()));
        }
    }

    /// Fetches `ids` on the current runtime, handing each result through `settle` to
    /// `emit`, a batch at a time, with its index in `ids`.
    async fn fetch_details_here<T, F>(
        &self,
        ids: &[u64],
        settle: &F,
        mut emit: impl FnMut(Vec<(usize, T)>),
    ) where
        F: Fn(u64, DetailResult) -> T,
    {
        // Unordered so that one slow profile does not hold back the others' slots; the
        // index says where each result belongs.
        let mut done = stream::iter(ids.iter().copied().enumerate())
            .map(|(index, id)| async move { (index, id, self.fetch_detail(id).await) })
            .buffer_unordered(self.inner.concurrency);
        let mut batch = Vec::with_capacity(BATCH.min(ids.len()));
        while let Some((index, id, result)) = done.next().await {
            batch.push((index, settle(id, result)));
            if batch.len() == BATCH {
                emit(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        }
        if !batch.is_empty() {
            emit(batch);
        }
    }

    /// Fetches one profile's detail.
    pub async fn fetch_detail(&self, id: u64) -> DetailResult {
        let inner = &self.inner;
        let url = match detail_url(&inner.list_url, id) {
            Ok(url) => url,
            Err(e) => return DetailResult::Failed(format!("cannot build the detail URL: {e}")),
        };
        match inner.requester.get(Endpoint::Detail, &url).await {
            Ok(body) => match Profile::parse_detail(&body) {
                Ok(profile) if profile.id == id => DetailResult::Ok(Arc::new(profile)),
                Ok(profile) => {
                    self.invalid_detail(id, &format!("the body describes profile {}", profile.id))
                }
                Err(e) => self.invalid_detail(id, &e.to_string()),
            },
            Err(e @ FetchError::TooLarge { .. }) => {
                // Counted as a limit hit and summarised once per sweep, not logged here.
                self.count_invalid(Endpoint::Detail);
                let reason = format!("invalid body: {e}");
                tracing::debug!(profile_id = id, reason = %reason, "profile detail too large");
                DetailResult::Failed(reason)
            }
            Err(e) if matches!(e.status(), Some(StatusCode::NOT_FOUND | StatusCode::GONE)) => {
                DetailResult::Gone
            }
            Err(e) => DetailResult::Failed(inner.requester.scrub(&e.to_string())),
        }
    }

    /// Counts and describes a detail body we could not use.
    fn invalid_detail(&self, id: u64, why: &str) -> DetailResult {
        self.count_invalid(Endpoint::Detail);
        let reason = self.inner.requester.scrub(&format!("invalid body: {why}"));
        // Told once per episode by the sweep, with the count; per profile only in debug.
        tracing::debug!(profile_id = id, reason = %reason, "unreadable profile detail");
        DetailResult::Failed(reason)
    }

    fn count_invalid(&self, endpoint: Endpoint) {
        if let Ok(counter) = self
            .inner
            .invalid_bodies
            .get_metric_with_label_values(&[endpoint.as_str()])
        {
            counter.inc();
        }
    }
}

/// The result of a detail whose fetch did not finish.
fn not_fetched() -> DetailResult {
    DetailResult::Failed("detail was not fetched".to_string())
}

/// reqwest's client for `[api]`, used when a system proxy applies to the upstream: the
/// same redirect policy, roots, timeouts and pool as the direct client.
fn reqwest_client(
    api: &ApiConfig,
    roots: &[CertificateDer<'static>],
    user_agent: &str,
) -> Result<reqwest::Client, UpstreamError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| same_origin(first, attempt.url()));
            if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .connect_timeout(api.timeout)
        .pool_max_idle_per_host(api.concurrency.max(1) as usize);
    for root in roots {
        let certificate =
            reqwest::Certificate::from_der(root.as_ref()).map_err(UpstreamError::Client)?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build().map_err(UpstreamError::Client)
}

/// `{base_url}/inventory_connection_profile/`, checked. Messages never repeat the URL: it
/// may hold credentials.
fn list_endpoint(base_url: &str) -> Result<Url, UpstreamError> {
    let base_url = base_url.trim();
    if base_url.is_empty() {
        return Err(UpstreamError::BaseUrl("is empty".to_string()));
    }
    let mut url =
        Url::parse(base_url).map_err(|e| UpstreamError::BaseUrl(format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UpstreamError::BaseUrl(
            "must start with http:// or https://".to_string(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UpstreamError::BaseUrl(
            "must not contain credentials (user:password@); the token is sent in a header"
                .to_string(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(UpstreamError::BaseUrl(
            "must not have a query (?...) or fragment (#...)".to_string(),
        ));
    }
    let path = format!(
        "{}/inventory_connection_profile/",
        url.path().trim_end_matches('/')
    );
    url.set_path(&path);
    Ok(url)
}

/// `{list_url}{id}/`. Appending path segments to a copy is several times cheaper than
/// `Url::join`, which parses the whole URL again (host and all) for every profile.
fn detail_url(list_url: &Url, id: u64) -> Result<Url, String> {
    let mut url = list_url.clone();
    match url.path_segments_mut() {
        Ok(mut segments) => {
            // The list URL ends in `/`: drop its empty last segment, add the id and an
            // empty segment for the trailing slash.
            segments.pop_if_empty().push(&id.to_string()).push("");
        }
        Err(()) => return list_url.join(&format!("{id}/")).map_err(|e| e.to_string()),
    }
    Ok(url)
}

/// True when `b` is on the same origin as `a` (scheme, host and port) and carries no
/// userinfo: the only places our token may go.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && b.username().is_empty()
        && b.password().is_none()
}

/// Reads the extra root certificates of `api.ca_file`.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, UpstreamError> {
    let pem = std::fs::read(path).map_err(|source| UpstreamError::CaFile {
        path: path.to_path_buf(),
        source,
    })?;
    let certificates =
        transport::pem_certificates(&pem).map_err(|e| UpstreamError::CaCertificates {
            path: path.to_path_buf(),
            detail: format!(": {e}"),
        })?;
    if certificates.is_empty() {
        return Err(UpstreamError::CaCertificates {
            path: path.to_path_buf(),
            detail: String::new(),
        });
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The list endpoint of `base`, which must be accepted.
    fn list(base: &str) -> Url {
        list_endpoint(base).unwrap_or_else(|e| panic!("{base}: {e}"))
    }

    /// Counters with the labels the client expects, registered nowhere.
    fn counters() -> UpstreamCounters {
        let vec = |labels: &[&str]| {
            prometheus::IntCounterVec::new(prometheus::Opts::new("t", "t"), labels)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        UpstreamCounters {
            requests: vec(&["endpoint", "code"]),
            invalid_bodies: vec(&["endpoint"]),
            limit_hits: None,
        }
    }

    #[test]
    fn list_endpoint_appends_the_collection_path() {
        let expected = "https://control.example.com/api/v1/inventory_connection_profile/";
        assert_eq!(
            list("https://control.example.com/api/v1").as_str(),
            expected
        );
        assert_eq!(
            list("https://control.example.com/api/v1/").as_str(),
            expected
        );
        assert_eq!(
            list(" https://control.example.com/api/v1// ").as_str(),
            expected
        );
        assert_eq!(
            list("http://127.0.0.1:8080").as_str(),
            "http://127.0.0.1:8080/inventory_connection_profile/"
        );
    }

    #[test]
    fn detail_urls_are_the_list_url_joined_with_the_id() {
        for base in [
            "https://control.example.com/api/v1",
            "http://127.0.0.1:8080",
            "https://control.example.com:8443/a%20b/api/",
        ] {
            let list = list(base);
            for id in [0, 7, 18_446_744_073_709_551_615] {
                let built = detail_url(&list, id).unwrap_or_else(|e| panic!("{e}"));
                let joined = list
                    .join(&format!("{id}/"))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(built, joined);
                assert!(built
                    .as_str()
                    .ends_with(&format!("/inventory_connection_profile/{id}/")));
            }
        }
    }

    #[test]
    fn bad_base_urls_are_refused_without_repeating_them() {
        for base in [
            "",
            "control.example.com/api",
            "ftp://control.example.com/api",
            "https://admin:hunter2@control.example.com/api",
            "https://control.example.com/api?token=hunter2",
        ] {
            let error = list_endpoint(base).map(|u| u.to_string());
            let Err(error) = error else {
                panic!("{base:?} was accepted");
            };
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn same_origin_compares_scheme_host_and_port() {
        let base = url("https://api.example.com/api/v1/");
        assert!(same_origin(
            &base,
            &url("https://api.example.com:443/other?x=1")
        ));
        assert!(!same_origin(&base, &url("http://api.example.com/api/v1/")));
        assert!(!same_origin(
            &base,
            &url("https://api.example.com:8443/api/v1/")
        ));
        assert!(!same_origin(
            &base,
            &url("https://evil.example.com/api/v1/")
        ));
        assert!(!same_origin(
            &base,
            &url("https://u:p@api.example.com/api/v1/")
        ));
    }

    #[test]
    fn token_with_a_newline_is_refused() {
        let api = ApiConfig {
            base_url: "http://127.0.0.1:1/api".to_string(),
            ..ApiConfig::default()
        };
        let result = UpstreamClient::with_counters(&api, Secret::new("abc\ndef"), counters());
        assert!(matches!(result, Err(UpstreamError::Token)));
    }

    /// A throwaway self-signed CA certificate (no key kept anywhere).
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBnjCCAUOgAwIBAgIURGUOxKW+YRdRHZYruSSM4hlnV+UwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZaW52ZW50b3J5LW1vbml0b3IgdGVzdCBDQTAeFw0yNjExMjgw
NDU3MDRaFw0zNjExMjUwNDU3MDRaMCQxIjAgBgNVBAMMGWludmVudG9yeS1tb25p
dG9yIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATdPVGv0GzPord+
VkpUSEq6fMRofqVGgzQEUYN4yEYYs4gxqllzkKRXNC3iZy4EJETh6KbmQo5u+ale
u/ItJzJuo1MwUTAdBgNVHQ4EFgQUAQrPAunxfSGdMeur5Vz2NdEnkkswHwYDVR0j
BBgwFoAUAQrPAunxfSGdMeur5Vz2NdEnkkswDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNJADBGAiEA706SlsuQ2BSlbtrEvb+PS9IgW9qk5HcR4Sh0hRpZ5h0C
IQDOq5B0MZM0CXitoKaTrJxlYi2LLz5lSGn5B0M/B9Xc3w==
-----END CERTIFICATE-----
";

    #[test]
    fn ca_file_roots_are_added() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, format!("{TEST_CA}{TEST_CA}")).unwrap_or_else(|e| panic!("{e}"));
        let certificates = read_ca_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(certificates.len(), 2);

        let api = ApiConfig {
            base_url: "https://control.example.com/api/v1".to_string(),
            ca_file: Some(path),
            ..ApiConfig::default()
        };
        let client = UpstreamClient::with_counters(&api, Secret::new("t"), counters());
        assert!(client.is_ok(), "{:?}", client.err());
    }

    #[test]
    fn unreadable_ca_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("missing.pem");
        let Err(error) = read_ca_file(&missing) else {
            panic!("a missing file was accepted");
        };
        assert!(error.to_string().contains("missing.pem"), "{error}");

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            read_ca_file(&junk),
            Err(UpstreamError::CaCertificates { .. })
        ));
    }
}
