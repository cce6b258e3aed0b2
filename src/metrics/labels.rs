//! Label values: the bounded `state` vocabulary, cutting values from the upstream to
//! `api.max_label_length`, and the label block every series of a profile starts with.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;

use crate::exposition::escape_label_value;
use crate::snapshot::ProfileEntry;

/// How many distinct unknown `state` values per check [`ProfileMetrics`] keeps as labels
/// before it maps further ones to `other`: enough for any real API, few enough that a
/// misbehaving one (a timestamp or error text in the field) cannot blow up the series count.
pub const STATE_LABEL_CAP: usize = 32;

/// `state` values always kept as they are, whatever the cap.
const KNOWN_STATES: &[&str] = &[
    "healthy",
    "unhealthy",
    "degraded",
    "unknown",
    "unreachable",
    "down",
    "error",
    "failed",
    "timeout",
    "valid",
    "invalid",
    "expired",
    "revoked",
    "missing",
    "other",
];

/// The `state` label of values beyond the cap.
const OTHER_STATE: &str = "other";

/// The default of `api.max_label_length`.
pub const DEFAULT_MAX_LABEL_LENGTH: usize = 256;

/// `value` cut to at most `max_chars` characters, the last of which is then `…`; as is
/// when it is short enough. Label values from the upstream go through this: a 1 MiB name
/// would otherwise be copied into a dozen series of every scrape.
pub fn truncate_label_value(value: &str, max_chars: usize) -> Cow<'_, str> {
    if value.char_indices().nth(max_chars).is_none() {
        return Cow::Borrowed(value);
    }
    let keep = max_chars.saturating_sub(1);
    let end = value
        .char_indices()
        .nth(keep)
        .map_or(value.len(), |(i, _)| i);
    Cow::Owned(format!("{}…", &value[..end]))
}

/// `state` values seen so far for one check, to keep the label bounded.
#[derive(Debug, Default)]
pub(super) struct StateVocabulary {
    /// Values outside [`KNOWN_STATES`] admitted so far, never more than the cap.
    learned: HashSet<String>,
}

impl StateVocabulary {
    /// The label for `raw`: itself when known or admitted (now or before), else `other`.
    pub(super) fn label<'a>(&mut self, raw: &'a str, cap: usize) -> &'a str {
        if KNOWN_STATES.contains(&raw) || self.learned.contains(raw) {
            raw
        } else if self.learned.len() < cap {
            self.learned.insert(raw.to_owned());
            raw
        } else {
            OTHER_STATE
        }
    }
}

/// Cuts label values during one rendering and counts the cuts.
pub(super) struct LabelCutter {
    /// Characters kept at most.
    max: usize,
    /// Values cut so far.
    cut: u64,
}

impl LabelCutter {
    /// A cutter keeping at most `max` characters, with nothing cut yet.
    pub(super) fn new(max: usize) -> Self {
        Self { max, cut: 0 }
    }

    /// `value`, cut to the maximum (and counted) when it is longer.
    pub(super) fn cut<'a>(&mut self, value: &'a str) -> Cow<'a, str> {
        let out = truncate_label_value(value, self.max);
        if matches!(out, Cow::Owned(_)) {
            self.cut += 1;
        }
        out
    }

    /// How many values were cut so far.
    pub(super) fn cuts(&self) -> u64 {
        self.cut
    }
}

/// The labels every series of a profile starts with (`profile_id`, `profile_name`,
/// `organization`), escaped once per rendering into one shared buffer; each line copies
/// its profile's block.
pub(super) struct ProfileLabels {
    /// Every profile's block, back to back.
    blocks: String,
    /// End of each profile's block in `blocks`.
    ends: Vec<usize>,
}

impl ProfileLabels {
    /// The blocks of `entries`, in their order, their values cut by `cutter`.
    pub(super) fn new(entries: &[&ProfileEntry], cutter: &mut LabelCutter) -> Self {
        // Sized from the values (an escaped value is rarely longer; a cut one is shorter):
        // grown by doubling, the buffer of 100,000 profiles would pass through a copy of
        // twice its size while the previous rendering is still served.
        let need: usize = entries
            .iter()
            .map(|e| 65 + e.name.len() + e.organization.as_deref().map_or(0, str::len))
            .sum();
        let mut blocks = String::with_capacity(need + need / 32);
        let mut ends = Vec::with_capacity(entries.len());
        for e in entries {
            let _ = write!(blocks, "profile_id=\"{}\",profile_name=\"", e.id);
            escape_label_value(&mut blocks, &cutter.cut(&e.name));
            blocks.push_str("\",organization=\"");
            escape_label_value(
                &mut blocks,
                &cutter.cut(e.organization.as_deref().unwrap_or("")),
            );
            blocks.push('"');
            ends.push(blocks.len());
        }
        Self { blocks, ends }
    }

    /// The block of the profile at index `i`.
    pub(super) fn of(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.blocks[start..self.ends[i]]
    }

    /// Bytes of all blocks together.
    pub(super) fn text_len(&self) -> usize {
        self.blocks.len()
    }
}
