//! The in-process hot paths of a sweep, timed with criterion: parsing what the upstream
//! sends, judging a snapshot, rendering and serving `/metrics`, and the status page
//! (`page`: indexing a sweep once, then one filtered page per request, at 10,000 and
//! 100,000 profiles; the pages' sizes are printed as they are measured), and the state's
//! writes (`persist`: a delivery outcome, and a sweep that changed one alert, written to the
//! journal and fsynced with 50,000 firing alerts in the state; the state directory is a
//! temporary directory under `$TMPDIR`, so the fsync is that file system's).
//!
//! ```text
//! cargo bench --bench inprocess                 # all of them
//! cargo bench --bench inprocess -- render       # the ones whose name contains "render"
//! ```
//!
//! The data is the simulator's own fleet (realistic names, both API revisions, degraded and
//! hostile profiles), so the per-profile costs here are the ones `cargo bench --bench
//! harness` sees from the outside, without the network. Per-profile time is the reported
//! time divided by the element count criterion prints as throughput.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use inventory_monitor::config::RulesConfig;
use inventory_monitor::metrics::{scrape_body, MonitorMetrics, ProfileMetrics};
use inventory_monitor::model::{ListPage, Profile};
use inventory_monitor::notify::outbox::OutboxEntry;
use inventory_monitor::notify::state::{Book, StateStore};
use inventory_monitor::receivers::NotificationKind;
use inventory_monitor::rules::{Alert, AlertKey, AlertName, AlertState, Judge};
use inventory_monitor::shard::Shard;
use inventory_monitor::simulator::{SimOptions, Simulator};
use inventory_monitor::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use inventory_monitor::status::StatusSource;
use inventory_monitor::web::{index_page, profile_page, FleetView, PageState, Params};

/// Profiles in the fleet the render and judge benchmarks use.
const FLEET: usize = 10_000;

/// The simulator's detail bodies for `n` profiles, as the upstream sends them.
fn detail_bodies(n: usize) -> Vec<Vec<u8>> {
    let sim = Simulator::new(SimOptions {
        profiles: n,
        ..SimOptions::default()
    });
    sim.profile_ids()
        .into_iter()
        .filter_map(|id| sim.profile_json(id))
        .filter_map(|v| serde_json::to_vec(&v).ok())
        .collect()
}

/// One list page of 100 items, as the upstream sends it.
fn list_page(details: &[Vec<u8>]) -> Vec<u8> {
    let results: Vec<serde_json::Value> = details
        .iter()
        .take(100)
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .map(|v| {
            serde_json::json!({
                "id": v["id"],
                "name": v["name"],
                "organization": v["organization"],
                "status": v["status"],
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "count": details.len(),
        "next": "http://127.0.0.1:1/api/v1/connection-profiles/?limit=100&offset=100",
        "previous": null,
        "results": results,
    }))
    .unwrap_or_default()
}

/// A snapshot of a whole sweep over `details`, every detail read.
fn snapshot(details: &[Vec<u8>]) -> Snapshot {
    let profiles = details
        .iter()
        .filter_map(|b| Profile::parse_detail(b).ok())
        .map(|p| ProfileEntry {
            id: p.id,
            name: p.name.as_str().into(),
            organization: p.organization.as_deref().map(Into::into),
            profile: Some(Arc::new(p)),
            up: true,
            error: None,
            consecutive_failures: 0,
        })
        .collect::<Vec<_>>();
    Snapshot {
        started_at: SystemTime::now(),
        duration: Duration::from_secs(1),
        list: ListOutcome::Complete,
        listed: Some(profiles.len()),
        profiles,
        gone: Vec::new(),
        shard: Shard::default(),
    }
}

fn parsing(c: &mut Criterion) {
    let details = detail_bodies(1_000);
    let page = list_page(&details);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(details.len() as u64));
    group.bench_function("detail x1000", |b| {
        b.iter(|| {
            details
                .iter()
                .filter(|d| Profile::parse_detail(d).is_ok())
                .count()
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("list page of 100", |b| b.iter(|| ListPage::parse(&page)));
    group.finish();
}

fn judging(c: &mut Criterion) {
    let snap = snapshot(&detail_bodies(FLEET));
    let mut group = c.benchmark_group("judge");
    group.throughput(Throughput::Elements(snap.profiles.len() as u64));
    group.bench_function("evaluate 10k", |b| {
        b.iter_batched(
            || Judge::new(RulesConfig::default()),
            |mut judge| judge.evaluate(&snap, SystemTime::now()),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn rendering(c: &mut Criterion) {
    let snap = snapshot(&detail_bodies(FLEET));
    let monitor = MonitorMetrics::new(Shard::default());
    let mut renderer = ProfileMetrics::new();
    let mut group = c.benchmark_group("metrics");
    group.sample_size(20);
    group.throughput(Throughput::Elements(snap.profiles.len() as u64));
    group.bench_function("render 10k", |b| {
        b.iter(|| renderer.render(&snap, Vec::new()))
    });
    let rendered = renderer.render(&snap, Vec::new());
    group.bench_function("scrape gzip 10k", |b| {
        b.iter(|| scrape_body(&monitor, &rendered, true))
    });
    group.bench_function("scrape plain 10k", |b| {
        b.iter(|| scrape_body(&monitor, &rendered, false))
    });
    group.finish();
}

/// A sweep of `n` simulated profiles (the hostile mix: many alerts), judged twice an hour
/// apart so that its alerts have fired, as the daemon publishes it.
fn published_sweep(n: usize) -> Arc<StatusSource> {
    let snap = snapshot(&detail_bodies(n));
    let mut judge = Judge::new(RulesConfig::default());
    let now = SystemTime::now();
    judge.evaluate(&snap, now);
    let later = now + Duration::from_secs(3600);
    judge.evaluate(&snap, later);
    Arc::new(StatusSource {
        snapshot: Arc::new(snap),
        alerts: judge.shared().cloned().collect(),
        now: later,
    })
}

fn page(c: &mut Criterion) {
    let mut group = c.benchmark_group("page");
    group.sample_size(10);
    for (n, label) in [(10_000, "10k"), (100_000, "100k")] {
        let source = published_sweep(n);
        let state = PageState::default();
        state.after_sweep(&source, Duration::from_secs(60));
        group.bench_function(format!("index once per sweep {label}"), |b| {
            b.iter(|| FleetView::build(source.clone()))
        });
        let asks: [(&str, Params); 4] = [
            ("first page", Params::default()),
            (
                "filtered unhealthy + name",
                Params {
                    state: Some("unhealthy".into()),
                    q: Some("hub".into()),
                    ..Params::default()
                },
            ),
            (
                "filtered org, sorted by errors, page 3",
                Params {
                    org: Some(
                        source
                            .snapshot
                            .profiles
                            .iter()
                            .find_map(|e| e.organization.as_deref().map(str::to_string))
                            .unwrap_or_default(),
                    ),
                    sort: Some("errors".into()),
                    page: Some("3".into()),
                    ..Params::default()
                },
            ),
            (
                "last page sorted by last sync",
                Params {
                    sort: Some("last_sync".into()),
                    page: Some("100000".into()),
                    ..Params::default()
                },
            ),
        ];
        for (what, params) in &asks {
            let page = index_page(&state, Some(&source), &[], params);
            println!(
                "page {what} {label}: HTTP {}, {} bytes ({:.1} KB)",
                page.status,
                page.html.len(),
                page.html.len() as f64 / 1024.0
            );
            group.bench_function(format!("{what} {label}"), |b| {
                b.iter(|| index_page(&state, Some(&source), &[], params))
            });
        }
        let id = source.snapshot.profiles[n / 2].id.to_string();
        let profile = profile_page(&state, Some(&source), &id);
        println!(
            "page profile {label}: HTTP {}, {} bytes",
            profile.status,
            profile.html.len()
        );
        group.bench_function(format!("profile page {label}"), |b| {
            b.iter(|| profile_page(&state, Some(&source), &id))
        });
    }
    group.finish();
}

/// Alerts firing in the state the `persist` benchmarks write.
const FIRING: u64 = 50_000;

/// Alert `id`, firing, with texts of a realistic length.
fn firing_alert(id: u64, at: SystemTime) -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, id),
        severity: "critical".into(),
        profile_name: format!("Warehouse scanner {id}").into(),
        organization: "North Region Logistics".into(),
        summary: format!("Profile Warehouse scanner {id} cannot reach its inventory source").into(),
        description: "connectivity is unhealthy: connection timed out after 30s (last error: \
                      upstream returned 503)"
            .into(),
        state: AlertState::Firing,
        active_since: at,
        firing_since: Some(at),
        resolved_at: None,
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

/// A state of [`FIRING`] firing alerts, each announced to two receivers, saved once.
fn storm_state(dir: &std::path::Path) -> (StateStore, Mutex<Book>) {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let mut book = Book::default();
    book.alerts = (1..=FIRING)
        .map(|id| Arc::new(firing_alert(id, at)))
        .collect();
    for name in ["ops", "tickets"] {
        let r = book.receivers.entry(name.into()).or_default();
        for id in 1..=FIRING {
            let key = AlertKey::profile(AlertName::ProfileConnectivityDegraded, id);
            r.last_notified.insert(key, at);
            r.announced_since.insert(key, at);
        }
    }
    book.touch();
    let store = StateStore::open(dir).expect("state dir");
    let book = Mutex::new(book);
    store.save(&book).expect("first write");
    (store, book)
}

/// Queues a reminder of 20 alerts for `ops` and writes it (a sweep's write): its id.
fn queue_one(store: &StateStore, book: &Mutex<Book>, now: SystemTime) -> u64 {
    let id = {
        let mut b = book.lock().expect("book");
        let id = b.take_id();
        let mut entry = OutboxEntry::open(id, "ops", NotificationKind::Reminder, now, now);
        entry.notification.alerts = (1..=20).map(|i| firing_alert(i, now).into()).collect();
        b.outbox.insert(entry);
        b.touch();
        id
    };
    store.save(book).expect("written");
    id
}

/// Queues one webhook notification of all `FIRING` alerts for `ops` (a storm's first
/// wave, delivered in batches of `max_alerts`) and writes it: its id.
fn queue_wave(store: &StateStore, book: &Mutex<Book>, now: SystemTime) -> u64 {
    let id = {
        let mut b = book.lock().expect("book");
        let id = b.take_id();
        let mut entry = OutboxEntry::open(id, "ops", NotificationKind::Alerts, now, now);
        entry.notification.alerts = b.alerts.to_vec();
        b.outbox.insert(entry);
        b.touch();
        id
    };
    store.save(book).expect("written");
    id
}

fn persist(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, book) = storm_state(dir.path());
    let now = SystemTime::now();
    let mut group = c.benchmark_group("persist");
    group.sample_size(30);
    group.bench_function("delivery outcome, 50000 firing", |b| {
        b.iter_batched(
            || queue_one(&store, &book, now),
            |id| {
                book.lock().expect("book").delivered(id, now);
                store.save(&book).expect("written")
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("retry outcome, 50000 firing", |b| {
        let id = queue_one(&store, &book, now);
        b.iter(|| {
            book.lock()
                .expect("book")
                .retry_later(id, "HTTP 503".into(), now);
            store.save(&book).expect("written")
        })
    });
    group.bench_function("sweep changing one alert, 50000 firing", |b| {
        let mut n = 0u64;
        b.iter(|| {
            {
                let mut book = book.lock().expect("book");
                n += 1;
                Arc::make_mut(&mut book.alerts[17]).description = format!("changed {n}").into();
                book.touch();
            }
            store.save(&book).expect("written")
        })
    });
    group.bench_function("batch of 1000 delivered, 50000 firing in one entry", |b| {
        // One entry of the whole wave, delivered 1,000 alerts at a time (the default
        // `max_alerts`); a new wave is queued, outside the measurement, when it runs out.
        // A state of its own: the wave's entry would otherwise be in the other cases' state.
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, book) = storm_state(dir.path());
        let mut wave: Option<u64> = None;
        b.iter_batched(
            || {
                let left = wave.and_then(|id| {
                    let b = book.lock().expect("book");
                    b.outbox.get(id).map(|e| e.notification.alerts.len())
                });
                match (wave, left) {
                    (Some(id), Some(n)) if n > 1000 => id,
                    _ => {
                        let id = queue_wave(&store, &book, now);
                        wave = Some(id);
                        id
                    }
                }
            },
            |id| {
                book.lock().expect("book").delivered_part(id, 1000, now);
                store.save(&book).expect("written")
            },
            BatchSize::PerIteration,
        );
        store.finish();
    });
    group.finish();
    store.finish();
}

criterion_group!(benches, parsing, judging, rendering, page, persist);
criterion_main!(benches);
