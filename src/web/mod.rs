//! The status page a person reads (README, Status page): `/`, `/profiles/{id}` and the
//! stylesheet, rendered on the server from the last published sweep.
//!
//! - [`view`]: the view model: filters, sorts, pagination and alert groups over one sweep,
//!   indexed once per snapshot ([`view::FleetView`]).
//! - [`query`]: the query string: parameters, filters, sort, page, links.
//! - [`history`]: each profile's last transitions, fed by the daemon after every sweep.
//! - `templates`: the HTML, through `maud`, which escapes every value it is given.
//!
//! Nothing here reaches the upstream or holds up a sweep: the pages read the
//! [`StatusSource`] the daemon published, the history it fed, and the suppressors'
//! `in_force` lists. Everything shown is as of the last sweep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::status::StatusSource;
use crate::suppress::{InForce, Suppressor};

pub mod history;
pub mod query;
mod templates;
#[cfg(test)]
mod tests;
pub mod view;

pub use history::{Change, History};
pub use view::{FleetView, Params, Query};

/// The stylesheet, served at `/static/style.css`.
pub const STYLESHEET: &str = include_str!("style.css");

/// The icon, served at `/static/favicon.svg`.
pub const FAVICON: &str = include_str!("favicon.svg");

/// How long browsers may keep the static files.
pub const STATIC_CACHE_CONTROL: &str = "public, max-age=86400";

/// What the pages keep between sweeps: the transitions, the poll interval (for "next
/// sweep") and the view of the last sweep, built once per snapshot.
#[derive(Default)]
pub struct PageState {
    /// Every profile's last transitions.
    history: RwLock<History>,
    /// The daemon's `poll.interval`, once a sweep has been recorded.
    interval: RwLock<Option<Duration>>,
    /// The view of the last sweep. A mutex, not a lock per reader: whoever builds a view
    /// (the thread [`PageState::after_sweep`] starts, or a request that finds none) holds it
    /// meanwhile, and requests wait for that view rather than each building their own.
    view: Arc<Mutex<Option<Arc<FleetView>>>>,
    /// Sweeps recorded so far: a build started for an older sweep is dropped.
    published: Arc<AtomicU64>,
    /// When a page last asked for a view: the view of a new sweep is built ahead of the
    /// next request only while someone reads the pages.
    last_read: Mutex<Option<Instant>>,
}

/// How long after a page was last read the view of each new sweep is still built ahead of
/// the next request. Past it, nobody is reading, and the first request after builds the
/// view itself (tens of milliseconds at 10,000 profiles, under a second at 100,000), so a
/// fleet nobody looks at costs no CPU for its pages.
pub const READ_RECENTLY: Duration = Duration::from_secs(600);

/// A rendered page: its HTTP status and its HTML.
pub struct Rendered {
    /// 200, 400 or 404.
    pub status: u16,
    /// The document.
    pub html: String,
}

impl PageState {
    /// Called by the daemon after it published a sweep: records what changed since the
    /// sweep before, and the interval to the next sweep.
    pub fn after_sweep(&self, status: &Arc<StatusSource>, interval: Duration) {
        self.history
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .record(status);
        *self.interval.write().unwrap_or_else(|e| e.into_inner()) = Some(interval);
        let generation = self.published.fetch_add(1, Ordering::AcqRel) + 1;
        // The view of the sweep before holds that sweep's snapshot: let it go now, so that
        // two fleets are never held at once. A view being built right now (the lock is
        // taken) is replaced by the build below.
        if let Ok(mut slot) = self.view.try_lock() {
            if slot
                .as_ref()
                .is_some_and(|v| !Arc::ptr_eq(&v.source, status))
            {
                *slot = None;
            }
        }
        // While the pages are read, index the new sweep now, on a blocking thread (hundreds
        // of milliseconds of CPU at 100,000 profiles), so that no request pays for it and the
        // sweep does not wait. Outside a runtime (unit tests) the first request builds it.
        if !self.read_within(Instant::now(), READ_RECENTLY) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let slot = self.view.clone();
            let published = self.published.clone();
            let status = status.clone();
            runtime.spawn_blocking(move || {
                let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
                if published.load(Ordering::Acquire) != generation
                    || slot
                        .as_ref()
                        .is_some_and(|v| Arc::ptr_eq(&v.source, &status))
                {
                    return;
                }
                *slot = None;
                *slot = Some(Arc::new(FleetView::build(status)));
            });
        }
    }

    /// The view of `source`: the one built after its sweep (waiting for that build if it
    /// is under way), else built now (blocking: hundreds of milliseconds at 100,000
    /// profiles).
    pub fn view(&self, source: &Arc<StatusSource>) -> Arc<FleetView> {
        *self.last_read.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let mut slot = self.view.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(view) = slot.as_ref() {
            if Arc::ptr_eq(&view.source, source) {
                return view.clone();
            }
        }
        // Drop the old view first: two fleets' indexes need not be held at once.
        *slot = None;
        let view = Arc::new(FleetView::build(source.clone()));
        *slot = Some(view.clone());
        view
    }

    /// True when a page asked for a view at most `recently` before `now`.
    fn read_within(&self, now: Instant, recently: Duration) -> bool {
        self.last_read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| now.saturating_duration_since(at) <= recently)
    }

    fn interval(&self) -> Option<Duration> {
        *self.interval.read().unwrap_or_else(|e| e.into_inner())
    }

    fn history(&self) -> std::sync::RwLockReadGuard<'_, History> {
        self.history.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// What every silence and window in force says at `now`.
fn in_force(suppressors: &[Arc<dyn Suppressor>], now: SystemTime) -> Vec<InForce> {
    suppressors.iter().flat_map(|s| s.in_force(now)).collect()
}

/// `/`: the monitor, the alerts, what is in force, recent changes and one page of the
/// fleet; `None` for `source` before the first sweep. A bad query is a 400 page saying
/// what is wrong. Blocking (it may build the view).
pub fn index_page(
    state: &PageState,
    source: Option<&Arc<StatusSource>>,
    suppressors: &[Arc<dyn Suppressor>],
    params: &Params,
) -> Rendered {
    let Some(source) = source else {
        return Rendered {
            status: 200,
            html: templates::waiting(),
        };
    };
    let query = match Query::parse(params) {
        Ok(q) => q,
        Err(message) => {
            return Rendered {
                status: 400,
                html: templates::bad_request(&message),
            }
        }
    };
    let view = state.view(source);
    let page = view.page(&query);
    let recent = state.history().recent();
    let ctx = templates::IndexContext {
        view: &view,
        query: &query,
        page: &page,
        in_force: in_force(suppressors, source.now),
        recent: &recent,
        interval: state.interval(),
    };
    Rendered {
        status: 200,
        html: templates::index(&ctx),
    }
}

/// `/profiles/{id}`: one profile's health fields, alerts and transitions; a 404 page when
/// no profile of the last sweep has that id. Blocking (it may build the view).
pub fn profile_page(state: &PageState, source: Option<&Arc<StatusSource>>, id: &str) -> Rendered {
    let view = source.map(|s| state.view(s));
    let found = id
        .parse::<u64>()
        .ok()
        .and_then(|id| view.as_deref().and_then(|v| v.entry(id).map(|e| (v, e))));
    match found {
        None => Rendered {
            status: 404,
            html: templates::not_found(id),
        },
        Some((view, entry)) => {
            let transitions = state.history().of(entry.id);
            Rendered {
                status: 200,
                html: templates::profile(view, entry, &transitions),
            }
        }
    }
}
