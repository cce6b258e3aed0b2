//! One sweep: walk the list, keep this shard's profiles, fetch their details, and
//! assemble an immutable [`Snapshot`], carrying over what the previous sweep knew.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::clock::Clock;
use crate::model::ListItem;
use crate::shard::Shard;
use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use crate::upstream::{DetailResult, UpstreamClient};

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
/// - The protective limits hit during the sweep are logged once, at its end, as one
///   summary (they are counted as they happen).
pub async fn sweep(
    client: &UpstreamClient,
    shard: Shard,
    previous: Option<&Snapshot>,
    clock: &dyn Clock,
) -> Snapshot {
    let started_at = clock.now();
    let timer = Instant::now();
    let previous_entries: BTreeMap<u64, &ProfileEntry> = previous
        .map(|p| p.profiles.iter().map(|e| (e.id, e)).collect())
        .unwrap_or_default();

    let walk = client.walk().await;
    let mut gone = Vec::new();
    let profiles = match &walk.outcome {
        ListOutcome::Failed { .. } => previous_entries
            .values()
            .map(|e| ProfileEntry {
                up: false,
                error: Some("not fetched: the profile list could not be read".to_string()),
                ..(*e).clone()
            })
            .collect(),
        ListOutcome::Complete | ListOutcome::Incomplete { .. } => {
            let mut items: Vec<ListItem> = walk
                .items
                .iter()
                .filter(|i| shard.owns(i.id))
                .cloned()
                .collect();
            if !matches!(walk.outcome, ListOutcome::Complete) {
                let seen: HashSet<u64> = items.iter().map(|i| i.id).collect();
                items.extend(
                    previous_entries
                        .values()
                        .filter(|e| !seen.contains(&e.id) && shard.owns(e.id))
                        .map(|e| ListItem {
                            id: e.id,
                            name: e.name.clone(),
                            organization: e.organization.clone(),
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
            let details = client.fetch_details(&ids).await;
            items
                .into_iter()
                .zip(details)
                .filter_map(|(item, (_, mut result))| {
                    if let DetailResult::Ok(profile) = &mut result {
                        profile.reject_future_timestamps(started_at);
                        client.record_absurd(item.id, profile);
                    }
                    if matches!(result, DetailResult::Gone) {
                        gone.push(item.id);
                    }
                    let previous = previous_entries.get(&item.id).copied();
                    entry_for(item, result, previous)
                })
                .collect()
        }
    };
    let limits = client.take_limit_report();
    if !limits.is_empty() {
        tracing::warn!(
            limits = %limits,
            "the upstream hit protective limits in this sweep; what was beyond them is unknown"
        );
    }
    let listed = match walk.outcome {
        ListOutcome::Complete => Some(walk.items.iter().filter(|i| shard.owns(i.id)).count()),
        _ => None,
    };
    Snapshot {
        started_at,
        duration: timer.elapsed(),
        list: walk.outcome,
        listed,
        profiles,
        gone,
        shard,
    }
}

/// The snapshot entry for one listed profile, or `None` when the profile is gone (404).
fn entry_for(
    item: ListItem,
    result: DetailResult,
    previous: Option<&ProfileEntry>,
) -> Option<ProfileEntry> {
    match result {
        DetailResult::Ok(profile) => {
            let name = if profile.name.is_empty() {
                item.name
            } else {
                profile.name.clone()
            };
            let organization = profile.organization.clone().or(item.organization);
            Some(ProfileEntry {
                id: item.id,
                name,
                organization,
                profile: Some(Arc::new(profile)),
                up: true,
                error: None,
                consecutive_failures: 0,
            })
        }
        DetailResult::Gone => None,
        DetailResult::Failed(reason) => {
            let last_known = previous.and_then(|p| p.profile.clone());
            Some(ProfileEntry {
                id: item.id,
                name: item.name,
                organization: item
                    .organization
                    .or_else(|| last_known.as_ref().and_then(|p| p.organization.clone())),
                profile: last_known,
                up: false,
                error: Some(reason),
                consecutive_failures: previous.map_or(0, |p| p.consecutive_failures) + 1,
            })
        }
    }
}
