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
mod tests;
