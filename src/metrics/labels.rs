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
/// `organization`). Most values need neither escaping nor cutting: their block is written
/// straight from the profile's entry on each line. Only the others are escaped (and cut)
/// once per rendering into one shared buffer, so that 100,000 profiles do not hold a copy
/// of every name and organization through the rendering, the sweep's peak of memory.
pub(super) struct ProfileLabels<'a> {
    /// The profiles, in rendering order.
    entries: &'a [ProfileEntry],
    /// Indices (ascending) of the profiles whose block is in `blocks`.
    special: Vec<usize>,
    /// Their blocks, back to back.
    blocks: String,
    /// End of each of their blocks in `blocks`.
    ends: Vec<usize>,
    /// Bytes of all blocks together.
    text_len: usize,
}

/// True when `value` goes into a label as it is: nothing to escape, nothing to cut.
fn verbatim(value: &str, max_chars: usize) -> bool {
    !value.contains(['\\', '\n', '"'])
        && (value.len() <= max_chars || value.char_indices().nth(max_chars).is_none())
}

/// Appends the decimal digits of `n`.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or("0"));
}

/// Number of decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

impl<'a> ProfileLabels<'a> {
    /// The blocks of `entries`, in their order, their values cut by `cutter`.
    pub(super) fn new(entries: &'a [ProfileEntry], cutter: &mut LabelCutter) -> Self {
        let mut special = Vec::new();
        let mut blocks = String::new();
        let mut ends = Vec::new();
        let mut text_len = 0;
        for (i, e) in entries.iter().enumerate() {
            let org = e.organization.as_deref().unwrap_or("");
            if verbatim(&e.name, cutter.max) && verbatim(org, cutter.max) {
                text_len += 45 + digits(e.id) + e.name.len() + org.len();
                continue;
            }
            let start = blocks.len();
            let _ = write!(blocks, "profile_id=\"{}\",profile_name=\"", e.id);
            escape_label_value(&mut blocks, &cutter.cut(&e.name));
            blocks.push_str("\",organization=\"");
            escape_label_value(&mut blocks, &cutter.cut(org));
            blocks.push('"');
            text_len += blocks.len() - start;
            special.push(i);
            ends.push(blocks.len());
        }
        Self {
            entries,
            special,
            blocks,
            ends,
            text_len,
        }
    }

    /// Appends the block of the profile at index `i`.
    pub(super) fn write(&self, out: &mut String, i: usize) {
        if !self.special.is_empty() {
            if let Ok(k) = self.special.binary_search(&i) {
                let start = if k == 0 { 0 } else { self.ends[k - 1] };
                out.push_str(&self.blocks[start..self.ends[k]]);
                return;
            }
        }
        let e = &self.entries[i];
        out.push_str("profile_id=\"");
        push_u64(out, e.id);
        out.push_str("\",profile_name=\"");
        out.push_str(&e.name);
        out.push_str("\",organization=\"");
        out.push_str(e.organization.as_deref().unwrap_or(""));
        out.push('"');
    }

    /// Bytes of all blocks together.
    pub(super) fn text_len(&self) -> usize {
        self.text_len
    }
}
