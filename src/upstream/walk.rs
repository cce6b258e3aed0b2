//! The list walk: every page of `inventory_connection_profile/`, checked for consistency.
//!
//! When the first page gives a `count`, the remaining pages are fetched concurrently by
//! offset, and the walk is complete only if every page reports the same count, no id
//! repeats, every item is readable, and the distinct ids add up to the count. Without a
//! usable `count`, the walk follows `next` links one by one, on the base URL's origin only,
//! and stops at a link it has already followed or after [`MAX_FOLLOWED_PAGES`].
//!
//! Either way it reads at most `api.max_profiles` profiles: a list that claims more is
//! read that far and the walk is incomplete (pages beyond the cap are not even asked for),
//! so an upstream claiming ten million profiles costs a bounded amount of memory and time.

use std::collections::HashSet;

use futures_util::stream::{self, StreamExt};
use reqwest::{StatusCode, Url};

use super::request::{log_target, Endpoint, FetchError};
use super::{same_origin, UpstreamClient, Walk};
use crate::model::{ListItem, ListPage};
use crate::snapshot::{ApiFailure, ListOutcome};

/// A `count` above this is not believed: the answer is treated as malformed rather than
/// starting a walk of that many pages.
const MAX_COUNT: u64 = 10_000_000;

/// Pages followed at most by `next` links when the API gives no count.
const MAX_FOLLOWED_PAGES: usize = 100_000;

/// Why a page could not be read.
struct PageError {
    /// How the walk would fail because of it.
    kind: ApiFailure,
    /// What happened (no token).
    message: String,
}

impl PageError {
    /// 401 and 403 end the walk wherever they happen: the token no longer works.
    fn is_auth(&self) -> bool {
        matches!(self.kind, ApiFailure::Unauthorized | ApiFailure::Forbidden)
    }
}

impl UpstreamClient {
    /// Walks the whole profile list. Runs on the client's I/O thread; dropping the future
    /// cancels the walk.
    pub async fn walk(&self) -> Walk {
        let Some(io) = &self.inner.io else {
            return self.walk_here().await;
        };
        let this = self.clone();
        io.run(async move { this.walk_here().await })
            .await
            .unwrap_or_else(|| {
                failed(
                    ApiFailure::Unreachable,
                    "the walk was cut short: the client is shutting down".to_string(),
                )
            })
    }

    /// [`UpstreamClient::walk`] on the current runtime.
    async fn walk_here(&self) -> Walk {
        let first_url = self.page_url(0, self.inner.page_size);
        let first = match self.fetch_page(&first_url).await {
            Ok(page) => page,
            Err(e) => return failed(e.kind, e.message),
        };
        let walk = match first.count {
            Some(count) if count > MAX_COUNT => failed(
                ApiFailure::BadResponse,
                format!("the API claims {count} profiles, more than the {MAX_COUNT} we accept"),
            ),
            Some(count) => self.walk_by_offset(first, count).await,
            None => self.walk_by_next(first, first_url).await,
        };
        if let Some(why) = &walk.capped {
            self.inner.requester.limits.profiles_capped(why.clone());
        }
        match &walk.outcome {
            ListOutcome::Complete => tracing::debug!(
                profiles = walk.items.len(),
                pages = walk.pages,
                "profile list read"
            ),
            // The sweep tells an incomplete or failed walk, once per episode.
            ListOutcome::Incomplete { reason } => tracing::debug!(
                profiles = walk.items.len(),
                pages = walk.pages,
                reason = %reason,
                "profile list read incompletely"
            ),
            ListOutcome::Failed { message, .. } => {
                tracing::debug!(reason = %message, "profile list could not be read")
            }
        }
        walk
    }

    /// The rest of the pages by offset, concurrently, after a first page that gave `count`.
    async fn walk_by_offset(&self, first: ListPage, count: u64) -> Walk {
        // An API that serves fewer items than asked (a server-side maximum `limit`) is
        // walked in steps of what it serves, so no item falls between two pages.
        let served = (first.items.len() + first.bad_items) as u64;
        let limit = if served > 0 && served < u64::from(self.inner.page_size) && served < count {
            tracing::debug!(served, "the API serves fewer items per page than asked");
            served
        } else {
            u64::from(self.inner.page_size)
        };
        let mut collector = Collector::with_max(self.inner.max_profiles);
        // Pages beyond `api.max_profiles` are not asked for.
        let wanted = count.min(self.inner.max_profiles as u64);
        // Sized once from the count: grown by doubling, the item vector of a large fleet
        // would pass through copies of up to twice its size at the sweep's start.
        collector.reserve(usize::try_from(wanted).unwrap_or(usize::MAX));
        collector.add(first);
        let offsets: Vec<u64> = (limit..wanted)
            .step_by(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        let mut results: Vec<Option<Result<ListPage, PageError>>> = Vec::new();
        results.resize_with(offsets.len(), || None);
        {
            let mut pages = stream::iter(offsets.iter().copied().enumerate())
                .map(|(index, offset)| async move {
                    let url = self.page_url(offset, limit as u32);
                    (index, self.fetch_page(&url).await)
                })
                .buffer_unordered(self.inner.concurrency);
            while let Some((index, result)) = pages.next().await {
                if let Err(e) = &result {
                    if e.is_auth() {
                        // Dropping the stream cancels the pages still in flight.
                        return failed(e.kind, e.message.clone());
                    }
                }
                results[index] = Some(result);
            }
        }

        // Merged in offset order, so "first seen wins" does not depend on timing.
        for (offset, result) in offsets.into_iter().zip(results) {
            match result {
                Some(Ok(page)) => {
                    if page.count != Some(count) {
                        let now = page.count.map_or("no count".to_string(), |c| c.to_string());
                        collector.problem(format!(
                            "the list changed during the walk: the first page counted {count} \
                             profiles, the page at offset {offset} {now}"
                        ));
                    }
                    collector.add(page);
                }
                Some(Err(e)) => {
                    collector.problem(format!("the page at offset {offset} failed: {}", e.message))
                }
                None => collector.problem(format!("the page at offset {offset} was not read")),
            }
        }
        collector.finish(Some(count))
    }

    /// Follows `next` links one page at a time, for an API that gives no usable count.
    async fn walk_by_next(&self, first: ListPage, first_url: Url) -> Walk {
        let mut collector = Collector::with_max(self.inner.max_profiles);
        let mut visited: HashSet<String> = HashSet::from([first_url.as_str().to_string()]);
        let mut current_url = first_url;
        let mut next = first.next.clone();
        let mut last_was_empty = first.items.is_empty() && first.bad_items == 0;
        collector.add(first);

        while let Some(link) = next.take() {
            if collector.capped || collector.items.len() >= collector.max {
                // A further page with the cap reached: `finish` says why; the rest of the
                // list is not read.
                collector.capped = true;
                break;
            }
            if collector.pages >= MAX_FOLLOWED_PAGES {
                collector.problem(format!(
                    "stopped after {MAX_FOLLOWED_PAGES} pages; the list does not end"
                ));
                break;
            }
            if last_was_empty {
                collector.problem("an empty page links to a further page".to_string());
                break;
            }
            let url = match current_url.join(&link) {
                Ok(url) => url,
                Err(e) => {
                    collector.problem(format!("a `next` link is not a URL ({e})"));
                    break;
                }
            };
            if !same_origin(&self.inner.list_url, &url) {
                collector.problem(
                    "a `next` link points to another origin; it was not followed".to_string(),
                );
                break;
            }
            if !visited.insert(url.as_str().to_string()) {
                collector.problem(format!(
                    "pagination loops: {} was already read",
                    log_target(&url)
                ));
                break;
            }
            match self.fetch_page(&url).await {
                Ok(page) => {
                    last_was_empty = page.items.is_empty() && page.bad_items == 0;
                    next = page.next.clone();
                    collector.add(page);
                }
                Err(e) if e.is_auth() => return failed(e.kind, e.message),
                Err(e) => {
                    collector.problem(format!(
                        "the page {} failed: {}",
                        log_target(&url),
                        e.message
                    ));
                    break;
                }
            }
            current_url = url;
        }
        collector.finish(None)
    }

    /// The list URL for one page.
    fn page_url(&self, offset: u64, limit: u32) -> Url {
        let mut url = self.inner.list_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &limit.to_string());
            query.append_pair("offset", &offset.to_string());
            if !self.inner.name_filter.is_empty() {
                query.append_pair("name", &self.inner.name_filter);
            }
        }
        url
    }

    /// Reads and parses one list page.
    async fn fetch_page(&self, url: &Url) -> Result<ListPage, PageError> {
        let requester = &self.inner.requester;
        let body = match requester.get(Endpoint::List, url).await {
            Ok(body) => body,
            Err(e) => {
                let kind = match (&e, e.status()) {
                    (FetchError::TooLarge { .. }, _) => {
                        self.count_invalid(Endpoint::List);
                        ApiFailure::BadResponse
                    }
                    (_, Some(StatusCode::UNAUTHORIZED)) => ApiFailure::Unauthorized,
                    (_, Some(StatusCode::FORBIDDEN)) => ApiFailure::Forbidden,
                    (_, Some(s)) if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                        ApiFailure::Unreachable
                    }
                    (_, Some(_)) => ApiFailure::BadResponse,
                    (_, None) => ApiFailure::Unreachable,
                };
                let tried = shown_url(url);
                let message = match e.status() {
                    // The kind says it all (`401 Unauthorized`); say only where.
                    Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                        format!("refused at {tried}")
                    }
                    Some(StatusCode::NOT_FOUND) => format!(
                        "{e} at {tried} — {}",
                        if url.path().contains("/api/v1/") {
                            "is api.base_url the API's base path?"
                        } else {
                            "is api.base_url missing its /api/v1 path?"
                        }
                    ),
                    _ => format!("{e} at {tried}"),
                };
                return Err(PageError {
                    kind,
                    message: requester.scrub(&message),
                });
            }
        };
        let page = ListPage::parse(&body).map_err(|e| {
            self.count_invalid(Endpoint::List);
            PageError {
                kind: ApiFailure::BadResponse,
                message: requester.scrub(&format!("invalid body at {}: {e}", shown_url(url))),
            }
        })?;
        requester.limits.absurd(None, &page.absurd);
        Ok(page)
    }
}

/// `url` as a list error names it: scheme, host, path and query (which page: `limit` and
/// `offset`, or the `next` link followed), never userinfo.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    // Only fails for URLs that cannot have userinfo, which then have none to remove.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A failed walk: nothing is known about the list.
fn failed(kind: ApiFailure, message: String) -> Walk {
    Walk {
        outcome: ListOutcome::Failed { kind, message },
        items: Vec::new(),
        pages: 0,
        capped: None,
    }
}

/// Gathers pages into one de-duplicated list and notes everything that makes the walk
/// incomplete.
struct Collector {
    /// Distinct items kept at most (`api.max_profiles`).
    max: usize,
    /// True once an item was dropped because `max` were already kept.
    capped: bool,
    /// Ids seen so far.
    seen: HashSet<u64>,
    /// Distinct items, first occurrence first.
    items: Vec<ListItem>,
    /// Pages added.
    pages: usize,
    /// Items that repeated an id already seen.
    duplicates: usize,
    /// Items without a usable id.
    bad_items: usize,
    /// What went wrong, in the order noticed.
    problems: Vec<String>,
}

impl Default for Collector {
    fn default() -> Self {
        Self::with_max(usize::MAX)
    }
}

impl Collector {
    fn with_max(max: usize) -> Self {
        Self {
            max,
            capped: false,
            seen: HashSet::new(),
            items: Vec::new(),
            pages: 0,
            duplicates: 0,
            bad_items: 0,
            problems: Vec::new(),
        }
    }

    /// Makes room for `n` distinct items in one allocation (no more than the cap).
    fn reserve(&mut self, n: usize) {
        let n = n.min(self.max);
        self.items.reserve_exact(n.saturating_sub(self.items.len()));
        self.seen.reserve(n.saturating_sub(self.seen.len()));
    }

    fn add(&mut self, page: ListPage) {
        self.pages += 1;
        self.bad_items += page.bad_items;
        for item in page.items {
            if self.seen.contains(&item.id) {
                self.duplicates += 1;
            } else if self.items.len() >= self.max {
                // A page (even the first) may hold more than the cap: a hostile server is
                // not bound by `limit`.
                self.capped = true;
            } else {
                self.seen.insert(item.id);
                self.items.push(item);
            }
        }
    }

    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// The walk, complete only if nothing went wrong and the ids match `count` (if any).
    fn finish(mut self, count: Option<u64>) -> Walk {
        let over = match count {
            Some(count) if count > self.max as u64 => Some(format!(
                "the API lists {count} profiles, more than api.max_profiles ({}); only the first {} were read",
                self.max,
                self.items.len()
            )),
            _ if self.capped => Some(format!(
                "the API lists more than api.max_profiles ({}) profiles; the walk stopped there",
                self.max
            )),
            _ => None,
        };
        if let Some(over) = &over {
            // First: it explains the rest (a count that does not match what was read).
            self.problems.insert(0, over.clone());
        }
        if self.duplicates > 0 {
            self.problems.push(format!(
                "{} list entries repeated an id already seen (the list moved during the walk)",
                self.duplicates
            ));
        }
        if self.bad_items > 0 {
            self.problems
                .push(format!("{} list entries had no usable id", self.bad_items));
        }
        if let Some(count) = count {
            let distinct = self.items.len() as u64;
            if distinct != count && self.problems.is_empty() {
                self.problems.push(format!(
                    "read {distinct} distinct profiles, but the API counts {count}"
                ));
            }
        }
        let outcome = if self.problems.is_empty() {
            ListOutcome::Complete
        } else {
            ListOutcome::Incomplete {
                reason: self.problems.join("; "),
            }
        };
        Walk {
            outcome,
            items: self.items,
            pages: self.pages,
            capped: over,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_in_an_error_keeps_its_page_and_drops_its_userinfo() {
        let url = Url::parse(
            "https://user:pa55@h.example:8443/inventory_connection_profile/?limit=100&offset=200",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            shown_url(&url),
            "https://h.example:8443/inventory_connection_profile/?limit=100&offset=200"
        );
    }

    fn item(id: u64, name: &str) -> ListItem {
        ListItem {
            id,
            name: name.to_string(),
            organization: None,
        }
    }

    fn page(count: Option<u64>, items: Vec<ListItem>) -> ListPage {
        ListPage {
            count,
            next: None,
            items,
            bad_items: 0,
            absurd: Vec::new(),
        }
    }

    #[test]
    fn pages_that_add_up_to_the_count_are_complete() {
        let mut c = Collector::default();
        c.add(page(Some(3), vec![item(1, "a"), item(2, "b")]));
        c.add(page(Some(3), vec![item(3, "c")]));
        let walk = c.finish(Some(3));
        assert_eq!(walk.outcome, ListOutcome::Complete);
        assert_eq!(walk.pages, 2);
        assert_eq!(
            walk.items.iter().map(|i| i.id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn a_repeated_id_keeps_the_first_entry_and_makes_the_walk_incomplete() {
        let mut c = Collector::default();
        c.add(page(Some(3), vec![item(1, "first"), item(2, "b")]));
        c.add(page(Some(3), vec![item(1, "second")]));
        let walk = c.finish(Some(3));
        assert_eq!(walk.items, vec![item(1, "first"), item(2, "b")]);
        let ListOutcome::Incomplete { reason } = walk.outcome else {
            panic!("expected incomplete, got {:?}", walk.outcome);
        };
        assert!(reason.contains("repeated an id"), "{reason}");
    }

    #[test]
    fn fewer_ids_than_counted_is_incomplete() {
        let mut c = Collector::default();
        c.add(page(Some(5), vec![item(1, "a"), item(2, "b")]));
        let walk = c.finish(Some(5));
        assert!(
            matches!(&walk.outcome, ListOutcome::Incomplete { reason } if reason.contains("counts 5")),
            "{:?}",
            walk.outcome
        );
    }

    #[test]
    fn unreadable_entries_make_the_walk_incomplete() {
        let mut c = Collector::default();
        let mut p = page(Some(2), vec![item(1, "a")]);
        p.bad_items = 1;
        c.add(p);
        let walk = c.finish(Some(2));
        assert!(
            matches!(&walk.outcome, ListOutcome::Incomplete { reason } if reason.contains("no usable id")),
            "{:?}",
            walk.outcome
        );
    }

    #[test]
    fn the_profile_cap_keeps_the_first_items_and_says_why() {
        // A page holding more than the cap (a server is not bound by `limit`).
        let mut c = Collector::with_max(2);
        c.add(page(None, vec![item(1, "a"), item(2, "b"), item(3, "c")]));
        assert!(c.capped);
        let walk = c.finish(None);
        assert_eq!(walk.items, vec![item(1, "a"), item(2, "b")]);
        let reason = walk.capped.clone().unwrap_or_default();
        assert!(
            reason.contains("more than api.max_profiles (2)"),
            "{reason}"
        );
        assert!(matches!(&walk.outcome, ListOutcome::Incomplete { reason: r } if *r == reason));

        // A count over the cap: the reason says how many were listed and read, and the
        // count mismatch it explains is not reported on top.
        let mut c = Collector::with_max(2);
        c.add(page(Some(5), vec![item(1, "a"), item(2, "b")]));
        let walk = c.finish(Some(5));
        assert_eq!(
            walk.outcome,
            ListOutcome::Incomplete {
                reason: "the API lists 5 profiles, more than api.max_profiles (2); \
                         only the first 2 were read"
                    .to_string()
            }
        );

        // At the cap exactly, nothing is wrong.
        let mut c = Collector::with_max(2);
        c.add(page(Some(2), vec![item(1, "a"), item(2, "b")]));
        let walk = c.finish(Some(2));
        assert_eq!((walk.outcome, walk.capped), (ListOutcome::Complete, None));
    }

    #[test]
    fn without_a_count_only_problems_make_it_incomplete() {
        let mut c = Collector::default();
        c.add(page(None, vec![item(1, "a")]));
        assert_eq!(c.finish(None).outcome, ListOutcome::Complete);

        let mut c = Collector::default();
        c.add(page(None, vec![item(1, "a")]));
        c.problem("pagination loops".to_string());
        assert!(matches!(
            c.finish(None).outcome,
            ListOutcome::Incomplete { .. }
        ));
    }
}
