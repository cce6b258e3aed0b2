//! One sweep: walk the list, keep this shard's profiles, fetch their details, and
//! assemble an immutable [`Snapshot`], carrying over what the previous sweep knew.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::clock::Clock;
use crate::limit::{Edge, Limit};
use crate::model::{ListItem, Profile};
use crate::shard::Shard;
use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use crate::upstream::{DetailResult, LimitReport, Told, UpstreamClient};

/// Runs one sweep against the upstream.
///
/// - A failed list walk fetches nothing: the previous sweep's profiles are carried over
///   with `up = false` (their alerts are frozen while `InventoryApiDown` fires).
/// - An incomplete walk still fetches the details of profiles the previous sweep knew but
///   this walk did not reach, so one bad page does not blank out the fleet; a 404 on the
///   detail is what removes a profile.
/// - A detail that cannot be read keeps the last known data for labels, `up = false`, and
///   one more consecutive failure.
/// - Timestamps of a detail more than a day after the clock's now are absurd: dropped to
///   unknown and counted with the other absurd values.
/// - At most `api.max_profiles` profiles are kept, carried-over ones included.
/// - The protective limits hit during the sweep are counted as they happen, and logged as
///   one summary when one starts being hit (and a line when one stops), not every sweep.
/// - Details that cannot be read are logged when that starts (with how many) and stops;
///   the sweep's outcome is [`tell_outcome`]'s.
pub async fn sweep(
    client: &UpstreamClient,
    shard: Shard,
    previous: Option<&Snapshot>,
    clock: &dyn Clock,
) -> Snapshot {
    let started_at = clock.now();
    let timer = Instant::now();
    // The previous snapshot's profiles are sorted by id: looked up by binary search, no
    // map of 100,000 entries beside them.
    let previous_entries: &[ProfileEntry] = previous.map_or(&[], |p| &p.profiles);
    let previous_entry = |id: u64| {
        previous_entries
            .binary_search_by_key(&id, |e| e.id)
            .ok()
            .map(|i| &previous_entries[i])
    };

    let walk = client.walk().await;
    let listed = match walk.outcome {
        ListOutcome::Complete => Some(walk.items.iter().filter(|i| shard.owns(i.id)).count()),
        _ => None,
    };
    let mut gone = Vec::new();
    let profiles = match &walk.outcome {
        ListOutcome::Failed { .. } => previous_entries
            .iter()
            .map(|e| ProfileEntry {
                up: false,
                error: Some("not fetched: the profile list could not be read".to_string()),
                ..e.clone()
            })
            .collect(),
        ListOutcome::Complete | ListOutcome::Incomplete { .. } => {
            // The walk's items are moved, not copied: with a large fleet their names are
            // a good part of what the sweep holds while the details are fetched.
            let mut items: Vec<ListItem> = walk.items;
            items.retain(|i| shard.owns(i.id));
            if !matches!(walk.outcome, ListOutcome::Complete) {
                let seen: HashSet<u64> = items.iter().map(|i| i.id).collect();
                items.extend(
                    previous_entries
                        .iter()
                        .filter(|e| !seen.contains(&e.id) && shard.owns(e.id))
                        .map(|e| ListItem {
                            id: e.id,
                            name: e.name.to_string(),
                            organization: e.organization.as_deref().map(str::to_string),
                        }),
                );
            }
            let max = client.max_profiles();
            if items.len() > max {
                // Only carried-over profiles can push the list past the cap (the walk
                // itself stops there); the listed ones come first and are kept.
                client.record_profiles_capped(format!(
                    "{} profiles known from earlier sweeps were not carried over",
                    items.len() - max
                ));
                items.truncate(max);
            }
            items.sort_by_key(|i| i.id);
            let ids: Vec<u64> = items.iter().map(|i| i.id).collect();
            // Each detail is settled as it arrives: an unchanged one is swapped for the
            // previous sweep's on the I/O thread, and the profile's entry takes the place
            // of its list item at once, so the fetch never holds two sweeps' details, nor
            // a vector of results beside the items and the entries.
            let mut slots: Vec<Slot> = items.into_iter().map(Slot::Waiting).collect();
            let previous_details = PreviousDetails::of(previous_entries);
            let mut organizations = Organizations::default();
            client
                .fetch_details_each(
                    &ids,
                    move |id, result| settle(result, previous_details.get(id), started_at),
                    |index, fetched| {
                        let slot = &mut slots[index];
                        if let Slot::Waiting(item) = std::mem::replace(slot, Slot::Done(None)) {
                            if matches!(fetched, Fetched::Gone) {
                                gone.push(item.id);
                            }
                            let previous = previous_entry(item.id);
                            *slot =
                                Slot::Done(entry_for(item, fetched, previous, &mut organizations));
                        }
                    },
                )
                .await;
            drop(ids);
            gone.sort_unstable();
            // In place: a slot is the size of an entry.
            let entries: Vec<ProfileEntry> = slots
                .into_iter()
                .filter_map(|slot| match slot {
                    Slot::Done(entry) => entry,
                    // Not reached: every profile is settled, fetched or not.
                    Slot::Waiting(item) => {
                        let reason = Fetched::Failed("detail was not fetched".to_string());
                        let previous = previous_entry(item.id);
                        entry_for(item, reason, previous, &mut organizations)
                    }
                })
                .collect();
            for entry in entries.iter().filter(|e| e.up) {
                if let Some(profile) = &entry.profile {
                    client.record_absurd(entry.id, profile);
                }
            }
            entries
        }
    };
    let limits = client.take_limit_report();
    let snapshot = Snapshot {
        started_at,
        duration: timer.elapsed(),
        list: walk.outcome,
        listed,
        profiles,
        gone,
        shard,
    };
    tell(&mut client.told(), &snapshot, &limits);
    snapshot
}

/// The limits the sweep reports (the renderer reports `max_label_length`).
const SWEEP_LIMITS: [Limit; 3] = [Limit::MaxBodySize, Limit::MaxProfiles, Limit::AbsurdValue];

/// Logs the sweep's steady conditions (protective limits hit, details that cannot be
/// read) when they start and when they stop, not on every sweep they hold.
fn tell(told: &mut Told, snapshot: &Snapshot, limits: &LimitReport) {
    let mut started = false;
    for limit in SWEEP_LIMITS {
        let hits = limits.hits(limit);
        match told.limits.entry(limit).or_default().observe(hits > 0) {
            Some(Edge::Started) => started = true,
            Some(Edge::Stopped { sweeps }) => tracing::info!(
                limit = limit.as_str(),
                sweeps,
                "the upstream no longer hits a protective limit"
            ),
            None => {}
        }
    }
    if started {
        tracing::warn!(
            limits = %limits,
            "the upstream hit protective limits; what was beyond them is unknown \
             (logged again when a limit is no longer hit, and when one is hit anew)"
        );
    } else if !limits.is_empty() {
        tracing::debug!(limits = %limits, "protective limits hit again in this sweep");
    }

    if matches!(snapshot.list, ListOutcome::Failed { .. }) {
        // No detail was asked for: nothing is known of them, so nothing changes.
        return;
    }
    let unreadable: Vec<&ProfileEntry> = snapshot.profiles.iter().filter(|e| !e.up).collect();
    match told.details.observe(!unreadable.is_empty()) {
        Some(Edge::Started) => {
            let first = unreadable[0];
            tracing::warn!(
                profiles = unreadable.len(),
                first_profile_id = first.id,
                first_reason = first.error.as_deref().unwrap_or("unknown"),
                "profile details cannot be read (logged again when all are read)"
            );
        }
        Some(Edge::Stopped { sweeps }) => {
            tracing::info!(sweeps, "every profile detail is read again")
        }
        None => {}
    }
}

/// Logs the sweep's outcome, one line per sweep (what the daemon calls once the sweep is
/// judged and published): a list that cannot be read is an error (an incomplete one, a
/// warning) when it starts or changes, and an info line while it stays the same; the
/// sweep that reads it completely again says so.
pub fn tell_outcome(client: &UpstreamClient, snapshot: &Snapshot) {
    let told = &mut *client.told();
    let up = snapshot.profiles.iter().filter(|e| e.up).count();
    let seconds = snapshot.duration.as_secs_f64();
    // What makes a problem another one: its kind, not its details (an incomplete walk's
    // counts, a failure's status or URL change from sweep to sweep).
    let problem = match &snapshot.list {
        ListOutcome::Complete => None,
        ListOutcome::Incomplete { .. } => Some("incomplete"),
        ListOutcome::Failed { kind, .. } => Some(kind.describe()),
    };
    let edge = told.list.observe(problem.is_some());
    // The same problem as the sweep before: this sweep's line is not a new warning.
    let new = problem.is_some() && (edge.is_some() || told.list_problem != problem);
    let sweeps = match edge {
        Some(Edge::Stopped { sweeps }) => sweeps,
        _ => 0,
    };
    told.list_problem = problem;
    match &snapshot.list {
        ListOutcome::Complete => {
            if sweeps > 0 {
                tracing::info!(sweeps, "the profile list is read completely again");
            }
            tracing::info!(
                profiles = snapshot.profiles.len(),
                details_read = up,
                seconds,
                "sweep complete"
            )
        }
        ListOutcome::Incomplete { reason } if new => tracing::warn!(
            profiles = snapshot.profiles.len(),
            details_read = up,
            seconds,
            reason = %reason,
            "sweep incomplete: the list walk did not finish cleanly"
        ),
        ListOutcome::Incomplete { reason } => tracing::info!(
            profiles = snapshot.profiles.len(),
            details_read = up,
            seconds,
            reason = %reason,
            "sweep incomplete: the list walk did not finish cleanly, as in the sweep before"
        ),
        ListOutcome::Failed { kind, message } if new => tracing::error!(
            seconds,
            failure = kind.describe(),
            // Not `message`: that is the event's own field, and a second one would make
            // the JSON log line carry the key twice.
            reason = %message,
            "sweep failed: the profile list could not be read"
        ),
        ListOutcome::Failed { kind, message } => tracing::info!(
            seconds,
            failure = kind.describe(),
            reason = %message,
            "sweep failed: the profile list could not be read, as in the sweep before"
        ),
    }
}

/// The previous sweep's details, for the fetch to share an equal detail with as it
/// arrives, on the client's I/O thread: the `Arc`s only, sorted by id and found by binary
/// search (no map of 100,000 entries).
struct PreviousDetails(Vec<Arc<Profile>>);

impl PreviousDetails {
    /// The details of `entries` (sorted by id, as a snapshot's are).
    fn of(entries: &[ProfileEntry]) -> Self {
        PreviousDetails(
            entries
                .iter()
                .filter_map(|e| e.profile.as_ref().filter(|p| p.id == e.id))
                .cloned()
                .collect(),
        )
    }

    /// The previous sweep's detail of profile `id`, if it had one.
    fn get(&self, id: u64) -> Option<&Arc<Profile>> {
        self.0
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.0[i])
    }
}

/// A listed profile during the fetch: waiting for its detail, then its entry (none when
/// it is gone).
enum Slot {
    /// The detail has not arrived yet.
    Waiting(ListItem),
    /// The profile's entry.
    Done(Option<ProfileEntry>),
}

/// A detail's result as the sweep keeps it from its arrival until its entry is built.
#[derive(Debug)]
enum Fetched {
    /// Read: the name and organization apart (the entry owns them), the rest the
    /// previous sweep's very `Arc` when equal.
    Read {
        /// The detail's name (empty when it sent none).
        name: String,
        /// The detail's organization.
        organization: Option<String>,
        /// The detail without its name and organization.
        profile: Arc<Profile>,
    },
    /// 404 (or 410): the profile no longer exists.
    Gone,
    /// Why the detail could not be read.
    Failed(String),
}

/// What the sweep keeps of a detail as soon as it arrives: its timestamps screened
/// against the sweep's clock (`now`), its name and organization moved out (the entry owns
/// them, so a snapshot holds each once), and the rest swapped for `previous`, the previous
/// sweep's detail, when equal: in a steady fleet most details do not change between two
/// sweeps, and the previous snapshot lives until this one is published, so two copies of
/// every detail would otherwise be held at the sweep's peak.
fn settle(result: DetailResult, previous: Option<&Arc<Profile>>, now: SystemTime) -> Fetched {
    match result {
        DetailResult::Ok(mut profile) => {
            // Fresh from the client, so not shared: no copy is made.
            let detail = Arc::make_mut(&mut profile);
            detail.reject_future_timestamps(now);
            let name = std::mem::take(&mut detail.name);
            let organization = detail.organization.take();
            if let Some(same) = previous.filter(|p| ***p == *detail) {
                profile = Arc::clone(same);
            }
            Fetched::Read {
                name,
                organization,
                profile,
            }
        }
        DetailResult::Gone => Fetched::Gone,
        DetailResult::Failed(reason) => Fetched::Failed(reason),
    }
}

/// The snapshot entry for one listed profile, or `None` when the profile is gone (404).
///
/// A read detail names the entry, the list's name and organization standing in for what
/// the detail did not send; a failed read keeps the previous sweep's detail.
fn entry_for(
    item: ListItem,
    fetched: Fetched,
    previous: Option<&ProfileEntry>,
    organizations: &mut Organizations,
) -> Option<ProfileEntry> {
    match fetched {
        Fetched::Read {
            name,
            organization,
            profile,
        } => Some(ProfileEntry {
            id: item.id,
            name: shared(
                if name.is_empty() { item.name } else { name },
                previous.map(|p| &p.name),
            ),
            organization: organization
                .or(item.organization)
                .map(|o| organizations.shared(o, previous)),
            profile: Some(profile),
            up: true,
            error: None,
            consecutive_failures: 0,
        }),
        Fetched::Gone => None,
        Fetched::Failed(reason) => Some(ProfileEntry {
            id: item.id,
            name: shared(item.name, previous.map(|p| &p.name)),
            organization: match item.organization {
                Some(o) => Some(organizations.shared(o, previous)),
                None => previous.and_then(|p| p.organization.clone()),
            },
            profile: previous.and_then(|p| p.profile.clone()),
            up: false,
            error: Some(reason),
            consecutive_failures: previous.map_or(0, |p| p.consecutive_failures) + 1,
        }),
    }
}

/// `text` as the entry keeps it: the previous sweep's very allocation when equal (names
/// and organizations rarely change, and the previous snapshot is alive until this one is
/// published), else one of its own.
fn shared(text: String, previous: Option<&Arc<str>>) -> Arc<str> {
    match previous {
        Some(same) if **same == *text => Arc::clone(same),
        _ => Arc::from(text),
    }
}

/// Distinct organizations the sweep keeps at most in [`Organizations`]; like the enum-like
/// values' table, so an upstream that sends a new one per profile cannot grow it without end.
const ORGANIZATIONS_CAP: usize = 1024;

/// The organizations of this sweep's entries: a fleet has a handful, shared by thousands
/// of profiles, and each is then one allocation rather than one per profile.
#[derive(Default)]
struct Organizations(HashSet<Arc<str>>);

impl Organizations {
    /// `organization` as the entry keeps it: the previous entry's when equal (see
    /// [`shared`]), else the sweep's shared copy.
    fn shared(&mut self, organization: String, previous: Option<&ProfileEntry>) -> Arc<str> {
        if let Some(same) = previous
            .and_then(|p| p.organization.as_ref())
            .filter(|p| ***p == *organization)
        {
            return Arc::clone(same);
        }
        if let Some(same) = self.0.get(organization.as_str()) {
            return Arc::clone(same);
        }
        let value: Arc<str> = Arc::from(organization);
        if self.0.len() < ORGANIZATIONS_CAP {
            self.0.insert(Arc::clone(&value));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ApiFailure;

    /// A log kept in memory.
    #[derive(Clone, Default)]
    struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Log {
        /// The lines logged since the last call, emptied.
        fn take(&self) -> Vec<String> {
            let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    fn with_list(list: ListOutcome) -> Snapshot {
        Snapshot {
            started_at: std::time::SystemTime::UNIX_EPOCH,
            duration: std::time::Duration::ZERO,
            list,
            listed: None,
            profiles: Vec::new(),
            gone: Vec::new(),
            shard: Shard::default(),
        }
    }

    fn failed(kind: ApiFailure, message: &str) -> Snapshot {
        with_list(ListOutcome::Failed {
            kind,
            message: message.to_string(),
        })
    }

    /// The level and the message's start of each line.
    fn levels(lines: &[String]) -> Vec<(&str, bool)> {
        lines
            .iter()
            .map(|l| {
                let level = ["ERROR", "WARN", "INFO"]
                    .into_iter()
                    .find(|level| l.contains(level))
                    .unwrap_or("?");
                (level, l.contains("as in the sweep before"))
            })
            .collect()
    }

    #[test]
    fn a_list_problem_is_loud_when_it_starts_or_changes_kind_and_its_end_is_told() {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let api = crate::config::ApiConfig {
            base_url: "http://127.0.0.1:9/api/v1".to_string(),
            ..Default::default()
        };
        let counter = |labels: &[&str]| {
            prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), labels)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let client = UpstreamClient::new(
            &api,
            crate::config::Secret::new("t"),
            counter(&["endpoint", "code"]),
            counter(&["endpoint"]),
        )
        .unwrap_or_else(|e| panic!("{e}"));

        tell_outcome(&client, &failed(ApiFailure::Unreachable, "HTTP 500 at a"));
        assert_eq!(levels(&log.take()), [("ERROR", false)]);
        // The same kind, in other words: a quiet line per sweep.
        tell_outcome(&client, &failed(ApiFailure::Unreachable, "timed out at a"));
        tell_outcome(&client, &failed(ApiFailure::Unreachable, "HTTP 500 at a"));
        assert_eq!(levels(&log.take()), [("INFO", true), ("INFO", true)]);
        // Another kind is news.
        tell_outcome(&client, &failed(ApiFailure::Unauthorized, "refused at a"));
        assert_eq!(levels(&log.take()), [("ERROR", false)]);

        tell_outcome(&client, &with_list(ListOutcome::Complete));
        let lines = log.take();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].contains("INFO") && lines[0].contains("read completely again sweeps=4"),
            "{lines:?}"
        );
        assert!(lines[1].contains("sweep complete"), "{lines:?}");
        tell_outcome(&client, &with_list(ListOutcome::Complete));
        assert_eq!(log.take().len(), 1, "only the sweep's own line");

        for reason in ["count 250 then 251", "count 251 then 252"] {
            tell_outcome(
                &client,
                &with_list(ListOutcome::Incomplete {
                    reason: reason.to_string(),
                }),
            );
        }
        assert_eq!(levels(&log.take()), [("WARN", false), ("INFO", true)]);
    }

    fn item(id: u64, name: &str, organization: Option<&str>) -> ListItem {
        ListItem {
            id,
            name: name.to_string(),
            organization: organization.map(str::to_string),
        }
    }

    fn read(profile: Profile) -> DetailResult {
        DetailResult::Ok(Arc::new(profile))
    }

    /// The sweep's clock in these tests: 2026-01-01T00:00:00Z.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600)
    }

    /// What the sweep makes of `result` for `item`: settled as it arrives, against the
    /// previous entry's detail, then made an entry.
    fn entry(
        item: ListItem,
        result: DetailResult,
        previous: Option<&ProfileEntry>,
    ) -> Option<ProfileEntry> {
        let fetched = settle(result, previous.and_then(|p| p.profile.as_ref()), now());
        entry_for(item, fetched, previous, &mut Organizations::default())
    }

    #[test]
    fn a_read_detail_names_the_entry_and_keeps_name_and_organization_once() {
        let detail = Profile {
            organization: Some("Acme".to_string()),
            status: Some("active".into()),
            ..Profile::unknown(7, "Detail name")
        };
        let entry = entry(item(7, "List name", Some("List org")), read(detail), None);
        let Some(entry) = entry else {
            panic!("a read profile has an entry")
        };
        assert_eq!(&*entry.name, "Detail name");
        assert_eq!(entry.organization.as_deref(), Some("Acme"));
        assert!(entry.up);
        let Some(profile) = &entry.profile else {
            panic!("the detail is kept")
        };
        assert_eq!(profile.status.as_deref(), Some("active"));
        assert_eq!(profile.name, "", "the name lives in the entry only");
        assert_eq!(profile.organization, None, "the organization too");
    }

    #[test]
    fn a_detail_without_name_or_organization_falls_back_to_the_list() {
        let entry = entry(
            item(7, "List name", Some("List org")),
            read(Profile::unknown(7, "")),
            None,
        );
        let Some(entry) = entry else {
            panic!("a read profile has an entry")
        };
        assert_eq!(&*entry.name, "List name");
        assert_eq!(entry.organization.as_deref(), Some("List org"));
    }

    #[test]
    fn a_failed_read_keeps_the_last_detail_and_counts_the_failure() {
        let first = entry(
            item(7, "List name", None),
            read(Profile {
                organization: Some("Acme".to_string()),
                connectivity: Some("healthy".into()),
                ..Profile::unknown(7, "Detail name")
            }),
            None,
        );
        let Some(first) = first else {
            panic!("a read profile has an entry")
        };
        let failed = entry(
            item(7, "List name", None),
            DetailResult::Failed("HTTP 500".to_string()),
            Some(&first),
        );
        let Some(failed) = failed else {
            panic!("a failed read keeps the entry")
        };
        assert!(!failed.up);
        assert_eq!(failed.error.as_deref(), Some("HTTP 500"));
        assert_eq!(failed.consecutive_failures, 1);
        assert_eq!(&*failed.name, "List name");
        assert_eq!(
            failed.organization.as_deref(),
            Some("Acme"),
            "the organization last read, when the list gives none"
        );
        assert!(matches!(
            (&failed.profile, &first.profile),
            (Some(a), Some(b)) if Arc::ptr_eq(a, b)
        ));
        let again = entry(
            item(7, "List name", None),
            DetailResult::Failed("timeout".to_string()),
            Some(&failed),
        );
        assert_eq!(again.map(|e| e.consecutive_failures), Some(2));
    }

    #[test]
    fn an_unchanged_detail_shares_the_previous_sweeps_allocation() {
        let detail = |errors| Profile {
            organization: Some("Acme".to_string()),
            status: Some("active".into()),
            error_count_24h: Some(errors),
            ..Profile::unknown(7, "Detail name")
        };
        let first = entry(item(7, "List name", None), read(detail(3)), None);
        let Some(first) = first else {
            panic!("a read profile has an entry")
        };
        let same = entry(item(7, "List name", None), read(detail(3)), Some(&first));
        let Some(same) = same else {
            panic!("a read profile has an entry")
        };
        assert!(matches!(
            (&same.profile, &first.profile),
            (Some(a), Some(b)) if Arc::ptr_eq(a, b)
        ));
        assert_eq!(&*same.name, "Detail name");
        assert!(
            Arc::ptr_eq(&same.name, &first.name),
            "an unchanged name is the previous sweep's very allocation"
        );
        assert!(matches!(
            (&same.organization, &first.organization),
            (Some(a), Some(b)) if Arc::ptr_eq(a, b)
        ));
        assert_eq!(same.organization.as_deref(), Some("Acme"));
        assert!(same.up);

        let changed = entry(item(7, "List name", None), read(detail(4)), Some(&same));
        let Some(changed) = changed else {
            panic!("a read profile has an entry")
        };
        let Some(profile) = &changed.profile else {
            panic!("the detail is kept")
        };
        assert_eq!(
            profile.error_count_24h,
            Some(4),
            "a changed detail is the new one"
        );
        assert!(matches!(
            (&changed.profile, &first.profile),
            (Some(a), Some(b)) if !Arc::ptr_eq(a, b)
        ));
        assert_eq!(profile.name, "", "the name lives in the entry only");
    }

    #[test]
    fn a_slot_is_the_size_of_an_entry_so_the_entries_take_the_slots_place() {
        // The entries are collected in place from the slots only when both are the same
        // size: a larger slot would hold a second vector of 100,000 beside the first.
        assert_eq!(
            std::mem::size_of::<Slot>(),
            std::mem::size_of::<ProfileEntry>()
        );
        // 96 bytes with `String` names; `Arc<str>` shares them with the previous sweep.
        assert_eq!(std::mem::size_of::<ProfileEntry>(), 80);
    }

    #[test]
    fn settling_an_equal_detail_gives_the_previous_sweeps_very_arc() {
        let detail = |errors| Profile {
            organization: Some("Acme".to_string()),
            status: Some("active".into()),
            error_count_24h: Some(errors),
            ..Profile::unknown(7, "Detail name")
        };
        let Fetched::Read {
            profile: previous, ..
        } = settle(read(detail(3)), None, now())
        else {
            panic!("a read detail is read")
        };
        let Fetched::Read {
            name,
            organization,
            profile,
        } = settle(read(detail(3)), Some(&previous), now())
        else {
            panic!("a read detail is read")
        };
        assert!(Arc::ptr_eq(&profile, &previous));
        assert_eq!(name, "Detail name", "the name is kept apart");
        assert_eq!(organization.as_deref(), Some("Acme"));

        let Fetched::Read { profile, .. } = settle(read(detail(4)), Some(&previous), now()) else {
            panic!("a read detail is read")
        };
        assert!(!Arc::ptr_eq(&profile, &previous), "a changed detail is new");
        assert_eq!(profile.error_count_24h, Some(4));
        assert_eq!(profile.name, "");
    }

    #[test]
    fn settling_screens_future_timestamps_before_comparing() {
        let far = crate::clock::unix_seconds(now()) + 3.0 * 86_400.0;
        let detail = || Profile {
            last_sync: Some(far),
            ..Profile::unknown(7, "x")
        };
        let Fetched::Read {
            profile: previous, ..
        } = settle(read(detail()), None, now())
        else {
            panic!("a read detail is read")
        };
        assert_eq!(previous.last_sync, None);
        assert_eq!(previous.absurd.len(), 1);
        let Fetched::Read { profile, .. } = settle(read(detail()), Some(&previous), now()) else {
            panic!("a read detail is read")
        };
        assert!(Arc::ptr_eq(&profile, &previous));
    }

    #[test]
    fn previous_details_are_found_by_id() {
        let entries: Vec<ProfileEntry> = [3, 5, 9]
            .into_iter()
            .filter_map(|id| entry(item(id, "n", None), read(Profile::unknown(id, "n")), None))
            .collect();
        let previous = PreviousDetails::of(&entries);
        for (i, id) in [3, 5, 9].into_iter().enumerate() {
            let found = previous.get(id).map(Arc::as_ptr);
            assert_eq!(found, entries[i].profile.as_ref().map(Arc::as_ptr), "{id}");
        }
        assert!(previous.get(4).is_none());
        assert!(previous.get(10).is_none());
    }

    #[test]
    fn profiles_of_one_organization_share_one_allocation() {
        let mut organizations = Organizations::default();
        let entries: Vec<ProfileEntry> = (1..=3)
            .filter_map(|id| {
                let detail = Profile {
                    organization: Some("Acme".to_string()),
                    ..Profile::unknown(id, "n")
                };
                let fetched = settle(read(detail), None, now());
                entry_for(item(id, "n", None), fetched, None, &mut organizations)
            })
            .collect();
        let orgs: Vec<&Arc<str>> = entries
            .iter()
            .filter_map(|e| e.organization.as_ref())
            .collect();
        assert_eq!(orgs.len(), 3);
        assert!(orgs
            .iter()
            .all(|o| Arc::ptr_eq(o, orgs[0]) && &***o == "Acme"));
    }

    #[test]
    fn a_gone_profile_has_no_entry() {
        assert!(entry(item(7, "x", None), DetailResult::Gone, None).is_none());
    }
}
