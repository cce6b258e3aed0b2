//! The seeded fleet: N synthetic profiles with a stable mix of healthy, failing, odd and
//! hostile ones (the mix is documented in the [module doc](super)).
//!
//! Everything here is a pure function of `(n, seed, legacy_fraction, start)`: one
//! [`ChaCha8Rng`] stream drives every choice, so a seed always gives the same fleet. The
//! special cases are dealt out by *quota* over a seeded permutation of the profiles rather
//! than rolled one by one, so their proportions stay the same for any N >= 50 instead of
//! wobbling (or vanishing) with the dice.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::json::{self, Object, J};
use super::schema::{unix, Generated, SyncPlan, FREQUENCIES};
use super::FleetMix;
use crate::clock::rfc3339;
use rand::seq::{index, SliceRandom};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Below this many profiles the minimum counts of the special cases are not enforced
/// (a fleet of 5 made only of oddities would help nobody).
const MIN_FLEET_FOR_QUOTAS: usize = 50;

/// The organizations profiles belong to (one non-ASCII, to exercise label escaping).
pub(super) const ORGANIZATIONS: [&str; 8] = [
    "Main Warehouse",
    "North Distribution",
    "South Distribution",
    "Lisbon DC",
    "Cold Chain Logistics",
    "Retail Stores",
    "E-commerce Fulfilment",
    "Armazém Porto",
];

/// Sites used as name prefixes ("Lisbon DC — SAP EWM").
const SITES: [&str; 16] = [
    "Lisbon DC",
    "Porto Hub",
    "Madrid DC",
    "Rotterdam Cross-Dock",
    "Hamburg Port",
    "Lyon Depot",
    "Milan Hub",
    "Warsaw DC",
    "Dublin Store 12",
    "Seville Cold Store",
    "Antwerp Yard",
    "Munich Spare Parts",
    "Barcelona Returns",
    "Oslo Micro-Fulfilment",
    "Prague DC",
    "Valencia Outlet",
];

/// The systems a profile connects to, by profile type.
const REST_SYSTEMS: [&str; 8] = [
    "SAP EWM",
    "Manhattan WMS",
    "Blue Yonder WMS",
    "Shopify Inventory",
    "Körber WMS",
    "Infor SCM",
    "Odoo Stock",
    "NetSuite Inventory",
];
const DATABASE_SYSTEMS: [&str; 5] = [
    "Oracle WMS",
    "PostgreSQL Stock DB",
    "SQL Server ERP",
    "MySQL Legacy Stock",
    "DB2 Mainframe Ledger",
];
const SFTP_SYSTEMS: [&str; 3] = ["SFTP Stock Feed", "EDI 846 Drop", "CSV Nightly Export"];
const SOAP_SYSTEMS: [&str; 3] = ["SAP ECC SOAP", "Dynamics AX AIF", "JDE Inventory Service"];

/// What a profile's description says it carries.
const FEEDS: [&str; 5] = [
    "Stock levels",
    "Inbound receipts",
    "Pick confirmations",
    "Cycle count results",
    "Replenishment orders",
];

/// Who created profiles.
const CREATORS: [&str; 6] = [
    "maria.santos",
    "j.silva",
    "ops-automation",
    "a.kowalski",
    "l.dubois",
    "admin",
];

/// The hostile names: quotes and a label-injection attempt, backslashes, a newline,
/// non-BMP unicode and emoji, and (built separately) one of exactly 300 characters.
const HOSTILE_NAMES: [&str; 4] = [
    "Porto \"Quoted\" Warehouse, label=\"x\"} — REST",
    "C:\\inventory\\legacy\\feed — SFTP",
    "Line one\nLine two — SOAP",
    "Zürich Lager ✓ 📦 — 東京 WMS 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
];

/// Length in characters of the very long hostile name.
pub(super) const LONG_NAME_CHARS: usize = 300;

/// The health role of a profile: what its `health_status` (or legacy test result) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// `healthy` / `valid`.
    Healthy,
    /// Connectivity `unhealthy`, with a transport error as `last_error`.
    Unhealthy,
    /// Connectivity `degraded`, with a latency or partial-failure `last_error`.
    Degraded,
    /// Authentication `invalid`.
    AuthInvalid,
    /// Authentication `expired`.
    AuthExpired,
    /// Connectivity `flaky`: an enum value the monitor has never seen.
    Flaky,
    /// Authentication `rotating`: another unknown enum value.
    Rotating,
    /// `status: "maintenance"`: an unknown status.
    OddStatus,
    /// `last_sync_status: "in_progress"`: an unknown sync status.
    OddSyncStatus,
    /// `health_status: null`.
    Null,
    /// Some fields left out; the variant says which (see [`MISSING`]).
    Missing(u8),
    /// The old API revision; `failed` says what `test_status` is.
    Legacy { failed: bool },
}

/// The `status` role of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Inactive,
    Error,
}

/// The sync role of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// Synced within its period, successfully.
    Recent,
    /// Last sync long ago (beyond twice the period plus 15 minutes).
    Stale,
    /// Recent, but `last_sync_status: failed`.
    Failed,
    /// Recent, but `last_sync_status: partial`.
    Partial,
}

/// How many profiles of `n` get a role with share `fraction` and floor `min`.
fn quota(n: usize, fraction: f64, min: usize) -> usize {
    let share = (fraction * n as f64).round() as usize;
    if n >= MIN_FLEET_FOR_QUOTAS {
        share.max(min)
    } else {
        share
    }
}

/// Deals `roles` (each with its count) over a seeded permutation of `0..n`; every other
/// position gets `rest`. Counts beyond `n` are cut.
fn deal<T: Copy>(rng: &mut ChaCha8Rng, n: usize, roles: &[(T, usize)], rest: T) -> Vec<T> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut out = vec![rest; n];
    let mut next = order.into_iter();
    for &(role, count) in roles {
        for position in next.by_ref().take(count) {
            out[position] = role;
        }
    }
    out
}

/// Generates the whole fleet, handing each profile to `each` in id order (one at a time:
/// 100,000 detail trees at once would weigh far more than their rendered bytes).
/// `legacy_fraction` is clamped to `0..=1`.
pub(super) fn generate(
    rng: &mut ChaCha8Rng,
    n: usize,
    legacy_fraction: f64,
    mix: FleetMix,
    start: SystemTime,
    mut each: impl FnMut(Generated),
) {
    let legacy_fraction = if legacy_fraction.is_finite() {
        legacy_fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let legacy = (legacy_fraction * n as f64).round() as usize;
    if mix == FleetMix::Realistic {
        return generate_realistic(rng, n, legacy, start, each);
    }
    let legacy_failed = quota(legacy, 0.2, 1).min(legacy);
    let health = deal(
        rng,
        n,
        &[
            (Health::Legacy { failed: true }, legacy_failed),
            (Health::Legacy { failed: false }, legacy - legacy_failed),
            (Health::Unhealthy, quota(n, 0.04, 2)),
            (Health::Degraded, quota(n, 0.02, 1)),
            (Health::AuthInvalid, quota(n, 0.02, 1)),
            (Health::AuthExpired, quota(n, 0.02, 1)),
            (Health::Flaky, quota(n, 0.01, 1)),
            (Health::Rotating, quota(n, 0.01, 1)),
            (Health::OddStatus, quota(n, 0.005, 1)),
            (Health::OddSyncStatus, quota(n, 0.005, 1)),
            (Health::Null, quota(n, 0.01, 1)),
            (Health::Missing(0), quota(n, 0.004, 1)),
            (Health::Missing(1), quota(n, 0.004, 1)),
            (Health::Missing(2), quota(n, 0.004, 1)),
            (Health::Missing(3), quota(n, 0.004, 1)),
            (Health::Missing(4), quota(n, 0.004, 1)),
        ],
        Health::Healthy,
    );
    let status = deal(
        rng,
        n,
        &[
            (Status::Inactive, quota(n, 0.05, 2)),
            (Status::Error, quota(n, 0.02, 1)),
        ],
        Status::Active,
    );
    let sync = deal(
        rng,
        n,
        &[
            (Sync::Stale, quota(n, 0.05, 2)),
            (Sync::Failed, quota(n, 0.03, 1)),
            (Sync::Partial, quota(n, 0.02, 1)),
        ],
        Sync::Recent,
    );
    let hostile_count = if n >= MIN_FLEET_FOR_QUOTAS {
        HOSTILE_NAMES.len() + 1
    } else {
        (n / 10).min(HOSTILE_NAMES.len() + 1)
    };
    let mut hostile: HashMap<usize, usize> = HashMap::new();
    for (which, position) in index::sample(rng, n, hostile_count).into_iter().enumerate() {
        hostile.insert(position, which);
    }

    let mut names = NameBook::default();
    let mut id = 0u64;
    for i in 0..n {
        // Ids are increasing with occasional gaps, like a table with deleted rows.
        id += 1;
        if rng.random_bool(0.1) {
            id += rng.random_range(1..=5);
        }
        let name = hostile.get(&i).map(|&which| hostile_name(which, id));
        each(profile(
            rng, &mut names, id, name, health[i], status[i], sync[i], start,
        ));
    }
}

/// [`FleetMix::Realistic`]: a few percent of the profiles failing, no oddities, no hostile
/// names (see the [module doc](super)); `legacy` of them in the old revision.
fn generate_realistic(
    rng: &mut ChaCha8Rng,
    n: usize,
    legacy: usize,
    start: SystemTime,
    mut each: impl FnMut(Generated),
) {
    let legacy_failed = quota(legacy, 0.05, 0).min(legacy);
    let health = deal(
        rng,
        n,
        &[
            (Health::Legacy { failed: true }, legacy_failed),
            (Health::Legacy { failed: false }, legacy - legacy_failed),
            (Health::Unhealthy, quota(n, 0.01, 1)),
            (Health::Degraded, quota(n, 0.005, 0)),
            (Health::AuthExpired, quota(n, 0.005, 0)),
        ],
        Health::Healthy,
    );
    let mut status = deal(
        rng,
        n,
        &[(Status::Inactive, quota(n, 0.03, 0))],
        Status::Active,
    );
    // The failing profiles are active ones: an inactive profile is not judged, and a
    // failure nobody is told about shows nothing.
    for (status, health) in status.iter_mut().zip(&health) {
        if !matches!(health, Health::Healthy | Health::Legacy { failed: false }) {
            *status = Status::Active;
        }
    }
    let sync = deal(rng, n, &[(Sync::Stale, quota(n, 0.005, 0))], Sync::Recent);
    let mut names = NameBook::default();
    let mut id = 0u64;
    for i in 0..n {
        id += 1;
        if rng.random_bool(0.1) {
            id += rng.random_range(1..=5);
        }
        each(profile(
            rng, &mut names, id, None, health[i], status[i], sync[i], start,
        ));
    }
}

/// One healthy, active, recently synced profile with id `id`: what appears when the
/// fleet grows.
pub(super) fn fresh_profile(rng: &mut ChaCha8Rng, id: u64, now: SystemTime) -> Generated {
    let mut names = NameBook::default();
    profile(
        rng,
        &mut names,
        id,
        None,
        Health::Healthy,
        Status::Active,
        Sync::Recent,
        now,
    )
}

/// The `which`-th hostile name.
fn hostile_name(which: usize, id: u64) -> String {
    match HOSTILE_NAMES.get(which) {
        Some(name) => (*name).to_owned(),
        None => {
            let mut long = format!("Very long profile name {id} ");
            while long.chars().count() < LONG_NAME_CHARS {
                long.push_str("— padding that keeps going ");
            }
            long.chars().take(LONG_NAME_CHARS).collect()
        }
    }
}

/// Hands out readable names, numbering repeats ("Lisbon DC — SAP EWM 2") so names stay
/// distinct even with 100,000 profiles.
#[derive(Default)]
struct NameBook {
    /// How often each base name was handed out.
    seen: HashMap<String, u32>,
}

impl NameBook {
    fn name(&mut self, base: String) -> String {
        let seen = self.seen.entry(base.clone()).or_insert(0);
        *seen += 1;
        if *seen == 1 {
            base
        } else {
            format!("{base} {seen}")
        }
    }
}

/// A random element of a non-empty slice.
fn pick<'a>(rng: &mut ChaCha8Rng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// `t - secs`, never before the epoch.
fn before(t: SystemTime, secs: u64) -> SystemTime {
    t.checked_sub(Duration::from_secs(secs))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The fields each "fields missing" variant leaves out.
const MISSING: [&[&str]; 5] = [
    &["health_status"],
    // Never synced.
    &["last_sync", "last_sync_status"],
    &["organization", "profile_type"],
    &["sync_frequency"],
    // Inside `health_status`: see `health_status`.
    &[],
];

/// Builds one profile.
#[allow(clippy::too_many_arguments)]
fn profile(
    rng: &mut ChaCha8Rng,
    names: &mut NameBook,
    id: u64,
    name: Option<String>,
    health: Health,
    status: Status,
    sync: Sync,
    start: SystemTime,
) -> Generated {
    let organization_index = rng.random_range(0..ORGANIZATIONS.len());
    let organization = ORGANIZATIONS[organization_index];
    let (profile_type, system) = match rng.random_range(0..100) {
        0..=44 => ("rest_api", pick(rng, &REST_SYSTEMS)),
        45..=74 => ("database", pick(rng, &DATABASE_SYSTEMS)),
        75..=89 => ("sftp", pick(rng, &SFTP_SYSTEMS)),
        _ => ("soap", pick(rng, &SOAP_SYSTEMS)),
    };
    let name = match name {
        Some(name) => name,
        None if rng.random_bool(0.5) => names.name(format!("{} — {system}", pick(rng, &SITES))),
        None => names.name(format!("{organization} {system}")),
    };
    let description = format!("{} from {system} for {organization}.", pick(rng, &FEEDS));
    let created_at = before(start, rng.random_range(30 * 86_400..900 * 86_400));
    let age = start
        .duration_since(created_at)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let updated_at = created_at + Duration::from_secs(rng.random_range(0..=age));
    let slug = slugify(system);
    let secret = format!("sim-secret-{id}");

    let mut configuration = Object::with_capacity(400);
    configuration
        .put("data_mapping", J::Raw(&mapping(rng, profile_type)))
        .put("filters", J::Raw(&filters(rng)))
        .put(
            "batch_size",
            [100u64, 250, 500, 1000, 5000][rng.random_range(0..5)],
        )
        .put("password", &secret);

    if let Health::Legacy { failed } = health {
        let (host, port, database) = match profile_type {
            "database" => (
                format!("db-{}.{slug}.example.internal", rng.random_range(1..40)),
                [5432u64, 1521, 1433, 3306][rng.random_range(0..4)],
                Some(format!("{}_inventory", slug.replace('-', "_"))),
            ),
            "sftp" => (format!("sftp.{slug}.example.net"), 22, None),
            _ => (format!("{slug}.example.com"), 443, None),
        };
        configuration.put("options", J::Raw(r#"{"sslmode":"require"}"#));
        let mut org = Object::with_capacity(48);
        org.put("id", organization_index as u64 + 1)
            .put("name", organization);
        let mut p = json::Profile::new(&[]);
        p.put("id", id)
            .put("name", &name)
            .put("description", &description)
            .put("connection_type", profile_type)
            .put("is_active", status != Status::Inactive)
            .put("host", &host)
            .put("port", port)
            .put("database", database.as_ref())
            .put("username", &format!("svc_inventory_{id}"))
            .put("timeout", [10u64, 30, 60][rng.random_range(0..3)])
            .put("max_connections", [5u64, 10, 20][rng.random_range(0..3)])
            .put("test_status", if failed { "failed" } else { "success" })
            .put(
                "last_tested",
                &rfc3339(before(start, rng.random_range(60..6 * 3600))),
            )
            // The old revision nests the organization.
            .put("organization", J::Raw(&org.finish()))
            .put("configuration", J::Raw(&configuration.finish()))
            .put("created_at", &rfc3339(created_at))
            .put("updated_at", &rfc3339(updated_at));
        let (detail, list_item) = p.finish();
        return Generated {
            id,
            name,
            detail,
            list_item,
            sync: None,
        };
    }

    let authentication_type = match profile_type {
        "rest_api" => ["oauth2", "api_key", "bearer"][rng.random_range(0..3)],
        "database" => "password",
        "sftp" => ["ssh_key", "password"][rng.random_range(0..2)],
        _ => ["basic", "wsse"][rng.random_range(0..2)],
    };
    let api_key = format!("sim-key-{id}-{:016x}", rng.random::<u64>());
    if matches!(authentication_type, "oauth2" | "api_key" | "bearer") {
        configuration.put("api_key", &api_key);
    }
    // A few endpoints carry credentials in the URL, as real ones sometimes do.
    let userinfo = if rng.random_bool(0.05) {
        format!("sync-user:{secret}@")
    } else {
        String::new()
    };
    let endpoint_url = match profile_type {
        "rest_api" => format!("https://{userinfo}{slug}.example.com/api/v2"),
        "database" => format!(
            "postgresql://{userinfo}db-{}.{slug}.example.internal:5432/inventory",
            rng.random_range(1..40)
        ),
        "sftp" => format!("sftp://{userinfo}sftp.{slug}.example.net:22/outbound"),
        _ => format!("https://{userinfo}{slug}.example.com/soap/InventoryService?wsdl"),
    };
    let frequency_pick = rng.random_range(0..FREQUENCIES.iter().map(|f| f.1).sum::<u32>());
    let mut acc = 0;
    let (frequency, period) = FREQUENCIES
        .iter()
        .find(|(_, weight, _)| {
            acc += weight;
            frequency_pick < acc
        })
        .map(|(name, _, secs)| (*name, *secs))
        .unwrap_or(("hourly", 3600));
    let last_sync = match sync {
        Sync::Stale => before(
            start,
            2 * period + 15 * 60 + rng.random_range(3600..72 * 3600),
        ),
        _ => before(start, rng.random_range(0..period)),
    };
    let last_sync_status = match (sync, health) {
        (_, Health::OddSyncStatus) => "in_progress",
        (Sync::Failed, _) => "failed",
        (Sync::Partial, _) => "partial",
        _ => "success",
    };
    let status = match (health, status) {
        (Health::OddStatus, _) => "maintenance",
        (_, Status::Active) => "active",
        (_, Status::Inactive) => "inactive",
        (_, Status::Error) => "error",
    };
    let health_status = health_status(rng, health, profile_type, start);
    let skip = match health {
        Health::Missing(variant) => MISSING[usize::from(variant) % MISSING.len()],
        _ => &[],
    };
    let sync_record_count =
        (!matches!(health, Health::Missing(3))).then(|| rng.random_range(0..500_000u64));
    let ssl_share = if profile_type == "database" {
        0.7
    } else {
        0.95
    };

    let mut p = json::Profile::new(skip);
    p.put("id", id)
        .put("name", &name)
        .put("description", &description)
        .put("profile_type", profile_type)
        .put("status", status)
        .put("endpoint_url", &endpoint_url)
        .put("authentication_type", authentication_type)
        .put("ssl_enabled", rng.random_bool(ssl_share))
        .put(
            "connection_timeout",
            [10u64, 15, 30, 30, 60][rng.random_range(0..5)],
        )
        .put("retry_attempts", rng.random_range(0..=5u64))
        .put("sync_frequency", frequency)
        .put("last_sync", &rfc3339(last_sync))
        .put("last_sync_status", last_sync_status)
        .put("sync_record_count", sync_record_count)
        .put("organization", organization)
        .put("created_by", pick(rng, &CREATORS))
        .put("created_at", &rfc3339(created_at))
        .put("updated_at", &rfc3339(updated_at))
        .put("configuration", J::Raw(&configuration.finish()))
        .put("health_status", J::Raw(&health_status));
    let (detail, list_item) = p.finish();
    let syncs = sync != Sync::Stale
        && status == "active"
        && !skip.contains(&"last_sync")
        && !skip.contains(&"sync_frequency");
    Generated {
        id,
        name,
        detail,
        list_item,
        sync: syncs.then(|| {
            let every = period as i64;
            SyncPlan {
                every,
                due: unix(last_sync) + every,
            }
        }),
    }
}

/// The `health_status` object (as JSON text) for a health role.
fn health_status(
    rng: &mut ChaCha8Rng,
    health: Health,
    profile_type: &str,
    now: SystemTime,
) -> String {
    let (connectivity, authentication, last_error, errors) = match health {
        Health::Null => return "null".to_owned(),
        Health::Unhealthy => (
            "unhealthy",
            "valid",
            Some(connectivity_error(rng, profile_type)),
            rng.random_range(12..250),
        ),
        Health::Degraded => (
            "degraded",
            "valid",
            Some(degraded_error(rng)),
            rng.random_range(3..30),
        ),
        Health::AuthInvalid => (
            "healthy",
            "invalid",
            Some(authentication_error(rng, "invalid", now)),
            rng.random_range(10..80),
        ),
        Health::AuthExpired => (
            "healthy",
            "expired",
            Some(authentication_error(rng, "expired", now)),
            rng.random_range(10..80),
        ),
        Health::Flaky => (
            "flaky",
            "valid",
            Some("intermittent TLS handshake timeouts (3 in the last hour)".to_owned()),
            rng.random_range(3..15),
        ),
        Health::Rotating => ("healthy", "rotating", None, 0),
        _ => {
            let errors = if rng.random_bool(0.2) {
                rng.random_range(1..5)
            } else {
                0
            };
            ("healthy", "valid", None, errors)
        }
    };
    let mut o = Object::with_capacity(160);
    o.put("connectivity", connectivity);
    // The last "fields missing" variant: a health object without these two.
    let partial = health == Health::Missing(4);
    if !partial {
        o.put("authentication", authentication);
    }
    o.put("last_error", last_error.as_ref());
    if !partial {
        o.put("error_count_24h", errors);
    }
    o.finish()
}

/// A realistic transport error for a profile type (some with quotes and newlines, as
/// driver messages have).
pub(super) fn connectivity_error(rng: &mut ChaCha8Rng, profile_type: &str) -> String {
    let host = format!(
        "10.20.{}.{}",
        rng.random_range(0..255),
        rng.random_range(1..255)
    );
    match profile_type {
        "database" => format!(
            "could not connect to server: Connection refused\n\tIs the server running on host \"{host}\" and accepting TCP/IP connections on port 5432?"
        ),
        "sftp" => format!("[Errno 113] No route to host: {host}:22"),
        "soap" => "Server returned HTTP 503 Service Unavailable for InventoryService.GetStock"
            .to_owned(),
        _ => format!(
            "HTTPSConnectionPool(host='{host}', port=443): Read timed out. (read timeout=30)"
        ),
    }
}

/// A realistic "degraded" explanation.
pub(super) fn degraded_error(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..2) {
        0 => format!(
            "p95 latency {}.{}s over the last hour (threshold 5s)",
            rng.random_range(5..15),
            rng.random_range(0..10)
        ),
        _ => format!(
            "{} of 10 sync batches failed in the last hour",
            rng.random_range(2..6)
        ),
    }
}

/// A realistic authentication error.
pub(super) fn authentication_error(rng: &mut ChaCha8Rng, kind: &str, now: SystemTime) -> String {
    if kind == "expired" {
        format!(
            "OAuth2 access token expired at {} and refresh failed: invalid_grant",
            rfc3339(before(now, rng.random_range(600..72 * 3600)))
        )
    } else {
        "401 Unauthorized: invalid client credentials".to_owned()
    }
}

/// A field mapping that looks like the system's own names (JSON text).
fn mapping(rng: &mut ChaCha8Rng, profile_type: &str) -> String {
    let (sku, quantity, location) = match (profile_type, rng.random_bool(0.5)) {
        ("database", _) => ("ITEM_NO", "QTY_ON_HAND", "BIN_CODE"),
        ("sftp", _) => ("column:1", "column:4", "column:2"),
        (_, true) => ("MATNR", "LABST", "LGORT"),
        (_, false) => ("$.item.sku", "$.item.available", "$.item.bin"),
    };
    let mut o = Object::with_capacity(96);
    o.put("sku", sku)
        .put("quantity", quantity)
        .put("location", location);
    o.finish()
}

/// Sync filters: one to three warehouse codes and a flag (JSON text).
fn filters(rng: &mut ChaCha8Rng) -> String {
    let count = rng.random_range(1..=3);
    let codes: Vec<String> = (0..count)
        .map(|_| format!("\"W{:02}\"", rng.random_range(1..30)))
        .collect();
    let codes = format!("[{}]", codes.join(","));
    let mut o = Object::with_capacity(96);
    o.put("warehouse_codes", J::Raw(&codes))
        .put("include_zero_stock", rng.random_bool(0.3));
    o.finish()
}

/// `"SAP EWM"` → `"sap-ewm"`, ASCII letters and digits only.
fn slugify(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::store::Entry;
    use rand::SeedableRng;
    use serde_json::Value;

    fn fleet(n: usize, seed: u64) -> Vec<Value> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let mut out = Vec::new();
        generate(&mut rng, n, 0.1, FleetMix::Hostile, start, |g| {
            out.push(serde_json::from_str(&g.detail).unwrap())
        });
        out
    }

    fn count(fleet: &[Value], pred: impl Fn(&Value) -> bool) -> usize {
        fleet.iter().filter(|p| pred(p)).count()
    }

    fn connectivity(p: &Value) -> Option<&str> {
        p.get("health_status")?.get("connectivity")?.as_str()
    }

    #[test]
    fn quotas_hold_for_the_smallest_fleet_that_promises_them() {
        let f = fleet(50, 3);
        assert_eq!(count(&f, |p| connectivity(p) == Some("flaky")), 1);
        assert_eq!(count(&f, |p| connectivity(p) == Some("unhealthy")), 2);
        assert_eq!(
            count(&f, |p| p.get("health_status") == Some(&Value::Null)),
            1
        );
        assert_eq!(count(&f, |p| p.get("test_status").is_some()), 5);
        assert_eq!(
            count(&f, |p| p["name"]
                .as_str()
                .is_some_and(|n| n.chars().count() == LONG_NAME_CHARS)),
            1
        );
    }

    #[test]
    fn proportions_scale_with_the_fleet() {
        let f = fleet(2000, 9);
        assert_eq!(count(&f, |p| connectivity(p) == Some("unhealthy")), 80);
        assert_eq!(count(&f, |p| p.get("test_status").is_some()), 200);
        let healthy = count(&f, |p| connectivity(p) == Some("healthy"));
        assert!(healthy > 1400, "mostly healthy, got {healthy}");
    }

    #[test]
    fn the_realistic_mix_has_a_few_percent_failing_and_no_oddities() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let mut f: Vec<Value> = Vec::new();
        generate(&mut rng, 300, 0.05, FleetMix::Realistic, start, |g| {
            f.push(serde_json::from_str(&g.detail).unwrap())
        });
        assert_eq!(f.len(), 300);
        let failing = count(&f, |p| {
            let health = &p["health_status"];
            health.get("connectivity").is_some_and(|c| c != "healthy")
                || health.get("authentication").is_some_and(|a| a != "valid")
                || p.get("test_status").is_some_and(|t| t == "failed")
        });
        assert!((3..=15).contains(&failing), "{failing} of 300 failing");
        // Every failing profile is judged (active), so the demo shows each of them.
        assert!(f.iter().all(|p| {
            let bad = p["health_status"]
                .get("connectivity")
                .is_some_and(|c| c != "healthy");
            !bad || p["status"] == "active"
        }));
        let known = ["healthy", "unhealthy", "degraded"];
        assert!(f.iter().all(|p| p.get("test_status").is_some()
            || p["health_status"]["connectivity"]
                .as_str()
                .is_some_and(|c| known.contains(&c))));
        assert_eq!(count(&f, |p| p["status"] == "maintenance"), 0);
        assert_eq!(count(&f, |p| p["last_sync_status"] == "failed"), 0);
        assert!(f.iter().all(|p| p["name"]
            .as_str()
            .is_some_and(|n| { n.chars().count() < 80 && !n.contains(['"', '\\', '\n']) })));
    }

    #[test]
    fn ids_increase_and_names_are_distinct() {
        let f = fleet(3000, 1);
        let ids: Vec<u64> = f.iter().filter_map(|p| p["id"].as_u64()).collect();
        assert_eq!(ids.len(), 3000);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let names: std::collections::HashSet<&str> =
            f.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names.len(), 3000);
    }

    #[test]
    fn hand_written_list_items_and_sync_plans_match_the_detail() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let mut checked = 0;
        generate(&mut rng, 500, 0.1, FleetMix::Hostile, start, |g| {
            let detail: Value = serde_json::from_str(&g.detail).unwrap();
            let derived = Entry::new(&detail, g.sync.is_none()).unwrap();
            let item: Value = serde_json::from_str(&g.list_item).unwrap();
            let derived_item: Value = serde_json::from_slice(&derived.list_item).unwrap();
            assert_eq!(item, derived_item);
            assert_eq!(
                (g.id, g.name.as_str()),
                (derived.id, detail["name"].as_str().unwrap())
            );
            if g.sync.is_some() {
                assert_eq!(g.sync, derived.sync, "{detail}");
            }
            checked += 1;
        });
        assert_eq!(checked, 500);
    }

    #[test]
    fn slugs_are_plain_ascii() {
        assert_eq!(slugify("SAP EWM"), "sap-ewm");
        assert_eq!(slugify("Körber WMS"), "k-rber-wms");
    }
}
