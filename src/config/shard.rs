//! `[shard]`: this replica's share of the profiles, with the environment's overrides and
//! `index = "auto"` read from a StatefulSet pod's name.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Problem;

/// `[shard]`
///
/// The file's values can be overridden from the environment, so that one config file (a
/// Kubernetes ConfigMap) serves every replica: [`SHARD_INDEX_ENV`] and [`SHARD_COUNT_ENV`]
/// replace `index` and `count`, and an index of `"auto"` (in the file or in
/// [`SHARD_INDEX_ENV`]) is the trailing `-N` of [`HOSTNAME_ENV`], the ordinal of a
/// StatefulSet pod, as kube-state-metrics' auto-sharding reads it from the pod name.
/// [`load`](super::load) applies them; [`ShardConfig::resolve_with`] computes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "ShardFile", into = "ShardFile")]
pub struct ShardConfig {
    /// This replica's index, `0..count`. After [`load`](super::load), the index in force (overrides and
    /// `"auto"` applied); after [`parse`](super::parse) alone, the file's number (0 for `"auto"`).
    pub index: u32,
    /// Number of replicas sharing the profiles. After [`load`](super::load), the count in force.
    pub count: u32,
    /// `index = "auto"` in the file: the index comes from the trailing `-N` of `HOSTNAME`.
    pub index_from_hostname: bool,
}

impl Default for ShardConfig {
    fn default() -> Self {
        Self {
            index: 0,
            count: 1,
            index_from_hostname: false,
        }
    }
}

/// Overrides `shard.index`: a whole number, or `auto` for the trailing `-N` of `HOSTNAME`.
pub const SHARD_INDEX_ENV: &str = "INVENTORY_MONITOR_SHARD_INDEX";

/// Overrides `shard.count`.
pub const SHARD_COUNT_ENV: &str = "INVENTORY_MONITOR_SHARD_COUNT";

/// Where `shard.index = "auto"` reads the pod name (Kubernetes sets it to the pod's name;
/// a StatefulSet's pods are named `<statefulset>-<ordinal>`).
pub const HOSTNAME_ENV: &str = "HOSTNAME";

/// `[shard]` as written in the file: the index may be `"auto"`.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct ShardFile {
    /// `index`: a number or `"auto"`.
    index: ShardIndex,
    /// `count`, as written.
    count: u32,
}

impl Default for ShardFile {
    fn default() -> Self {
        ShardConfig::default().into()
    }
}

impl From<ShardFile> for ShardConfig {
    fn from(file: ShardFile) -> Self {
        let (index, index_from_hostname) = match file.index {
            ShardIndex::Fixed(n) => (n, false),
            ShardIndex::Auto => (0, true),
        };
        Self {
            index,
            count: file.count,
            index_from_hostname,
        }
    }
}

impl From<ShardConfig> for ShardFile {
    fn from(config: ShardConfig) -> Self {
        Self {
            index: if config.index_from_hostname {
                ShardIndex::Auto
            } else {
                ShardIndex::Fixed(config.index)
            },
            count: config.count,
        }
    }
}

/// `shard.index`: a number, or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShardIndex {
    /// This index.
    Fixed(u32),
    /// The trailing `-N` of `HOSTNAME`.
    Auto,
}

impl Serialize for ShardIndex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ShardIndex::Fixed(n) => s.serialize_u32(*n),
            ShardIndex::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for ShardIndex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShardIndexVisitor)
    }
}

/// Reads `shard.index`, saying what to write instead of what Rust type was expected.
struct ShardIndexVisitor;

impl ShardIndexVisitor {
    const EXPECTED: &'static str = "a whole number from 0 to 4294967295, or \"auto\"";
}

impl<'de> serde::de::Visitor<'de> for ShardIndexVisitor {
    type Value = ShardIndex;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::EXPECTED)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ShardIndex, E> {
        u32::try_from(v)
            .map(ShardIndex::Fixed)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &Self::EXPECTED))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ShardIndex, E> {
        u64::try_from(v)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &Self::EXPECTED))
            .and_then(|v| self.visit_u64(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ShardIndex, E> {
        if v.trim() == "auto" {
            Ok(ShardIndex::Auto)
        } else {
            Err(E::invalid_value(
                serde::de::Unexpected::Str(v),
                &Self::EXPECTED,
            ))
        }
    }
}

/// Where the index in force came from, for problems that name it.
enum IndexSource {
    /// `shard.index` in the file.
    File,
    /// The environment variable [`SHARD_INDEX_ENV`].
    Env,
    /// The trailing `-N` of this `HOSTNAME`.
    Hostname(String),
}

impl ShardConfig {
    /// The shard in force: the file's `index` and `count`, overridden by
    /// [`SHARD_INDEX_ENV`] and [`SHARD_COUNT_ENV`] when they are set (an empty value counts
    /// as unset), with an index of `"auto"` read from the trailing `-N` of [`HOSTNAME_ENV`].
    /// Every problem names the key and, when the value came from the environment, the
    /// variable.
    pub fn resolve_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::shard::Shard, Vec<Problem>> {
        let mut problems = Vec::new();
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());

        let (count, count_from_env) = match set(SHARD_COUNT_ENV) {
            None => (Some(self.count), false),
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) => (Some(n), true),
                Err(_) => {
                    problems.push(Problem::new(
                        "shard.count",
                        format!(
                            "environment variable {SHARD_COUNT_ENV} must be a whole number, got {text:?}"
                        ),
                    ));
                    (None, true)
                }
            },
        };

        let auto = |from: &str| -> Result<(u32, IndexSource), Problem> {
            let hostname = set(HOSTNAME_ENV).ok_or_else(|| {
                Problem::new(
                    "shard.index",
                    format!(
                        "\"auto\"{from} takes the index from the trailing -N of the {HOSTNAME_ENV} \
                         environment variable (a StatefulSet pod name such as inventory-monitor-2), \
                         but {HOSTNAME_ENV} is not set"
                    ),
                )
            })?;
            ordinal(&hostname)
                .map(|n| (n, IndexSource::Hostname(hostname.clone())))
                .ok_or_else(|| {
                    Problem::new(
                        "shard.index",
                        format!(
                            "\"auto\"{from} takes the index from the trailing -N of the {HOSTNAME_ENV} \
                             environment variable (a StatefulSet pod name such as inventory-monitor-2), \
                             but {HOSTNAME_ENV} is {hostname:?}"
                        ),
                    )
                })
        };
        let index = match set(SHARD_INDEX_ENV) {
            Some(text) if text.trim() == "auto" => auto(&format!(" (from {SHARD_INDEX_ENV})")),
            Some(text) => text
                .trim()
                .parse::<u32>()
                .map(|n| (n, IndexSource::Env))
                .map_err(|_| {
                    Problem::new(
                        "shard.index",
                        format!(
                            "environment variable {SHARD_INDEX_ENV} must be a whole number or \"auto\", got {text:?}"
                        ),
                    )
                }),
            None if self.index_from_hostname => auto(""),
            None => Ok((self.index, IndexSource::File)),
        };
        let index = match index {
            Ok(found) => Some(found),
            Err(p) => {
                problems.push(p);
                None
            }
        };

        if let Some(count) = count {
            let from = if count_from_env {
                format!(" (from environment variable {SHARD_COUNT_ENV})")
            } else {
                String::new()
            };
            if count == 0 {
                problems.push(Problem::new(
                    "shard.count",
                    format!("must be at least 1, got 0{from}"),
                ));
            } else if let Some((index, source)) = &index {
                if *index >= count {
                    let from = match source {
                        IndexSource::File => String::new(),
                        IndexSource::Env => {
                            format!(" (from environment variable {SHARD_INDEX_ENV})")
                        }
                        IndexSource::Hostname(name) => format!(
                            " (from {HOSTNAME_ENV} {name:?}; is shard.count the number of replicas?)"
                        ),
                    };
                    problems.push(Problem::new(
                        "shard.index",
                        format!("must be less than shard.count ({count}), got {index}{from}"),
                    ));
                }
            }
        }

        match (index, count) {
            (Some((index, _)), Some(count)) if problems.is_empty() => {
                Ok(crate::shard::Shard { index, count })
            }
            _ => Err(problems),
        }
    }
}

/// The `N` of a name ending in `-N` (`inventory-monitor-2` → 2).
fn ordinal(hostname: &str) -> Option<u32> {
    let (_, digits) = hostname.trim().rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
