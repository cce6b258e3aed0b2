//! The status page (README, Status page) in a real headless Chromium: the DOM shows the
//! simulated fleet's alerts and profiles, filter and pagination links work when followed,
//! the browser reports no console error and no Content-Security-Policy refusal, and
//! screenshots at desktop and phone sizes are not blank (kept under `target/screenshots/`).
//! Skipped locally without `chromium`; a failure under `CI=true`.

mod browser;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use inventory_monitor::metrics::{MonitorMetrics, RenderedProfiles};
use inventory_monitor::model::Profile;
use inventory_monitor::rules::{Alert, AlertKey, AlertState};
use inventory_monitor::server::{self, AppState};
use inventory_monitor::shard::Shard;
use inventory_monitor::simulator::{FleetMix, SimOptions};
use inventory_monitor::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use inventory_monitor::status::StatusSource;
use inventory_monitor::suppress::{InForce, Labels, Suppressor};
use inventory_monitor::vocabulary::{AlertName, Suppression};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::common::{get, start_daemon, start_sim, test_config, Running, Sim};
use browser::{assert_not_blank, href_of, mean_brightness, screenshot_dir, Browser};

/// A simulated fleet of `n` profiles and a daemon that has swept it twice, fifteen
/// minutes apart (so that alerts with a `for` have fired).
async fn swept_fleet(n: usize, mix: FleetMix) -> (Sim, Running) {
    let sim = start_sim(SimOptions {
        profiles: n,
        mix,
        ..SimOptions::default()
    })
    .await;
    let mut running = start_daemon(test_config(&sim.base_url), "demo-token").await;
    running.daemon.sweep_once().await;
    running.clock.advance(Duration::from_secs(15 * 60));
    running.daemon.sweep_once().await;
    (sim, running)
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// The ids of the first page of the fleet in name order, as the status document lists the
/// profiles.
fn first_page_ids(status: &Value) -> Vec<u64> {
    let mut profiles: Vec<(String, u64)> = status["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_lowercase(),
                p["id"].as_u64().expect("id"),
            )
        })
        .collect();
    profiles.sort();
    profiles.into_iter().take(100).map(|(_, id)| id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_shows_the_fleet_and_its_links_work() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let (_sim, running) = swept_fleet(250, FleetMix::Hostile).await;
    let addr = running.addr;
    let text = get(addr, "/api/v1/status")
        .await
        .text()
        .await
        .expect("status");
    let status: Value = serde_json::from_str(&text).expect("json");

    let home = browser.dom(&url(addr, "/")).await;
    assert!(
        home.page_complaints().is_empty(),
        "the browser complained: {:#?}",
        home.page_complaints()
    );
    let dom = &home.stdout;
    assert!(dom.contains("Profiles watched"), "{dom}");
    assert!(dom.contains(">250<"), "the profile count");
    // Every pending or firing alert of a profile (up to 20 per alertname and section) links
    // to its profile: here the fleet has a few, all listed.
    let alerts = status["alerts"].as_array().expect("alerts");
    assert!(!alerts.is_empty(), "the hostile mix has alerts");
    for alert in alerts.iter().take(20) {
        let name = alert["alertname"].as_str().expect("alertname");
        assert!(dom.contains(&format!("<caption>{name} (")), "group {name}");
    }
    assert!(dom.contains("Firing ("), "a firing section");
    // The first page of the table: the first hundred profiles in name order.
    for id in first_page_ids(&status) {
        assert!(
            dom.contains(&format!("<a href=\"profiles/{id}\">")),
            "profile {id} on page 1"
        );
    }
    assert!(dom.contains("page 1 of 3"));

    // Pagination: follow "next", then "last".
    let next = href_of(dom, "rel=\"next\"").expect("a next link");
    assert_eq!(next, "?page=2");
    let second = browser.dom(&url(addr, &format!("/{next}"))).await;
    assert!(second.stdout.contains("page 2 of 3"));
    assert!(second.stdout.contains("Profiles 101–200 of 250"));
    let last = href_of(&second.stdout, "rel=\"last\"").expect("a last link");
    let third = browser.dom(&url(addr, &format!("/{last}"))).await;
    assert!(third.stdout.contains("Profiles 201–250 of 250"));

    // A state tile is a filtered view: follow it, the table shows only those profiles.
    let unhealthy = status["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .filter(|p| {
            p["up"] == true
                && (p["connectivity"].as_str().is_some_and(|c| c != "healthy")
                    || p["authentication"].as_str().is_some_and(|a| a != "valid"))
        })
        .count();
    assert!(unhealthy > 0);
    let tile = href_of(dom, "unhealthy</a>")
        .or_else(|| href_of(dom, "> unhealthy"))
        .expect("a tile link to the unhealthy profiles");
    assert_eq!(tile, "?state=unhealthy");
    let filtered = browser.dom(&url(addr, &format!("/{tile}"))).await;
    let shown = unhealthy.min(100);
    assert!(
        filtered
            .stdout
            .contains(&format!("Profiles 1–{shown} of {unhealthy} matching")),
        "{}",
        filtered.stdout
    );
    // Sorting: a column heading's link, followed, sorts by it.
    let by_errors = href_of(&filtered.stdout, "Errors 24 h").expect("a sort link");
    assert_eq!(by_errors, "?state=unhealthy&sort=errors&dir=desc");
    let sorted = browser.dom(&url(addr, &format!("/{by_errors}"))).await;
    assert!(sorted.stdout.contains("aria-sort=\"descending\""));
    assert!(sorted.page_complaints().is_empty());

    // A profile's page, and an unknown one.
    let id = first_page_ids(&status)[0];
    let profile = browser.dom(&url(addr, &format!("/profiles/{id}"))).await;
    assert!(profile.stdout.contains("Last transitions"));
    assert!(profile.stdout.contains("Connectivity"));
    assert!(
        profile.page_complaints().is_empty(),
        "{:#?}",
        profile.page_complaints()
    );
    assert_eq!(get(addr, "/profiles/999999").await.status(), 404);
}

/// The log check can fail: a page that breaks its own CSP is reported.
#[tokio::test]
async fn the_browser_log_shows_a_csp_refusal_when_there_is_one() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let page = "data:text/html,<meta http-equiv=\"Content-Security-Policy\" \
                content=\"style-src 'none'\"><p style=\"color:red\">x</p>";
    let run = browser.dom(page).await;
    assert!(
        run.page_complaints()
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{}",
        run.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_at_desktop_and_phone_sizes_are_not_blank() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let (_sim, running) = swept_fleet(400, FleetMix::Realistic).await;
    let addr = running.addr;
    let dir = screenshot_dir();
    for (name, path, width, height) in [
        ("status-1280x900.png", "/", 1280, 900),
        ("status-390x844.png", "/", 390, 844),
        ("profile-390x844.png", "/profiles/1", 390, 844),
        (
            "filtered-1280x900.png",
            "/?state=alerting&sort=alerts",
            1280,
            900,
        ),
    ] {
        let file = dir.join(name);
        let run = browser
            .screenshot(&url(addr, path), width, height, &file)
            .await;
        assert!(
            run.page_complaints().is_empty(),
            "{path}: {:#?}",
            run.page_complaints()
        );
        assert_not_blank(&file, width, height);
    }
    // Dark mode follows the system: the same page, much darker.
    let dark = dir.join("status-dark-1280x900.png");
    let run = browser
        .screenshot_dark(&url(addr, "/"), 1280, 900, &dark)
        .await;
    assert!(
        run.page_complaints().is_empty(),
        "{:#?}",
        run.page_complaints()
    );
    assert_not_blank(&dark, 1280, 900);
    let light = mean_brightness(&dir.join("status-1280x900.png"));
    let darker = mean_brightness(&dark);
    assert!(
        darker < light / 2.0,
        "dark mode is not dark: {darker:.0} against {light:.0}"
    );
}

/// A silence in force, for the page to list.
struct OneSilence;

impl Suppressor for OneSilence {
    fn suppressions(&self, _: &dyn Labels, _: SystemTime) -> Vec<Suppression> {
        Vec::new()
    }

    fn in_force(&self, now: SystemTime) -> Vec<InForce> {
        vec![InForce {
            what: Suppression::Silence {
                id: "5e1f-a".to_string(),
            },
            matchers: r#"{organization="Legacy <Systems>"}"#.to_string(),
            starts_at: Some(now - Duration::from_secs(300)),
            ends_at: Some(now + Duration::from_secs(7200)),
            created_by: "alice".to_string(),
            comment: "<img src=x> migration".to_string(),
        }]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppressed_alerts_and_silences_in_force_show_and_hostile_text_stays_text() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let now = SystemTime::now();
    let hostile = "<img src=x id=injected> \u{202E}Ünïcode & \"quotes\"";
    let mut detail = Profile::unknown(7, "");
    detail.connectivity = Some("unhealthy".into());
    detail.last_error = Some(format!("{hostile} {}", "x".repeat(3000)));
    let entry = ProfileEntry {
        id: 7,
        name: hostile.into(),
        organization: Some("Legacy <Systems>".into()),
        profile: Some(Arc::new(detail)),
        up: true,
        error: None,
        consecutive_failures: 0,
    };
    let alert = Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, 7),
        severity: "critical".into(),
        profile_name: hostile.into(),
        organization: "Legacy <Systems>".into(),
        summary: "connectivity unhealthy".into(),
        description: "".into(),
        state: AlertState::Firing,
        active_since: now - Duration::from_secs(3600),
        firing_since: Some(now - Duration::from_secs(3000)),
        resolved_at: None,
        suppressed_by: vec![Suppression::Silence {
            id: "5e1f-a".to_string(),
        }],
        runbook_url: String::new(),
    };
    let state = Arc::new(AppState::new(Arc::new(MonitorMetrics::new(
        Shard::default(),
    ))));
    state
        .suppressors
        .write()
        .expect("lock")
        .push(Arc::new(OneSilence));
    state.publish(
        RenderedProfiles::empty(),
        Arc::new(StatusSource {
            snapshot: Arc::new(Snapshot {
                started_at: now,
                duration: Duration::from_millis(12),
                list: ListOutcome::Complete,
                listed: Some(1),
                profiles: vec![entry],
                gone: Vec::new(),
                shard: Shard::default(),
            }),
            alerts: vec![Arc::new(alert)],
            now,
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(server::serve(listener, state, async move {
        s.cancelled().await
    }));

    for path in ["/", "/profiles/7"] {
        let run = browser.dom(&url(addr, path)).await;
        let dom = &run.stdout;
        assert!(
            run.page_complaints().is_empty(),
            "{:#?}",
            run.page_complaints()
        );
        assert!(
            !dom.contains("<img"),
            "{path}: markup from the upstream became an element"
        );
        assert!(!dom.contains("id=\"injected\""));
        assert!(
            dom.contains("&lt;img src=x id=injected&gt;"),
            "{path}: {dom}"
        );
    }
    let home = browser.dom(&url(addr, "/")).await.stdout;
    assert!(home.contains("Suppressed (1)"));
    assert!(home.contains("silence 5e1f-a"));
    assert!(home.contains("Silences and maintenance windows in force"));
    assert!(home.contains("{organization=\"Legacy &lt;Systems&gt;\"}"));
    assert!(
        !home.contains("Firing ("),
        "a suppressed alert is not listed as firing"
    );
    stop.cancel();
}

#[tokio::test]
async fn the_page_is_html_with_a_strict_policy_and_its_stylesheet_is_cached() {
    let (_sim, running) = swept_fleet(20, FleetMix::Realistic).await;
    let page = get(running.addr, "/?state=alerting").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    let body = page.text().await.expect("body");
    assert!(!body.contains("<script"), "no script at all");
    assert!(!body.contains("style=\""), "no inline style");
    let css = get(running.addr, "/static/style.css").await;
    assert_eq!(css.status(), 200);
    assert!(css.headers()["cache-control"]
        .to_str()
        .expect("cache-control")
        .contains("max-age"));
    assert!(css
        .text()
        .await
        .expect("css")
        .contains("prefers-color-scheme: dark"));
    let bad = get(running.addr, "/?state=nonsense").await;
    assert_eq!(bad.status(), 400);
    assert!(bad
        .text()
        .await
        .expect("body")
        .contains("unknown state `nonsense`"));
    let missing = get(running.addr, "/profiles/abc").await;
    assert_eq!(missing.status(), 404);
    assert!(missing
        .text()
        .await
        .expect("body")
        .contains("No such profile"));
}
