//! Every metric of the README's Metrics table, in two halves that a scrape puts together.
//!
//! - [`MonitorMetrics`]: the monitor's own, process-lifetime series (`inventory_monitor_*`)
//!   in a `prometheus` [`Registry`]. They are few and change between sweeps (request and
//!   notification counters), so each scrape encodes them afresh.
//! - [`ProfileMetrics`]: the per-profile series (`inventory_profile_*`), rendered from
//!   scratch once per sweep ([`RenderedProfiles`]) from one table of families and served as is by every scrape.
//!   Rendering from scratch is what makes a profile that disappeared, left the shard or was
//!   renamed leave no series behind. With 100,000 profiles that is over a million lines
//!   (about 1.4 KB of text per profile, 140 MB), so they are written straight into a small
//!   block buffer (no `prometheus` objects, no allocation per series) that is fed to a
//!   deflate stream every [`RENDER_BLOCK`] bytes: the whole text is never held at once.
//!   The text itself is kept beside the compressed stream only while it stays under a limit
//!   ([`DEFAULT_PLAIN_LIMIT`]); past it, a plain scrape inflates the cached stream chunk by
//!   chunk as it sends it, so a scrape's memory stays bounded whatever the fleet's size.
//!
//! [`scrape_stream`] joins the two. For gzip it does not recompress the profile section: the
//! section is kept as a raw deflate stream ending in a final block, and a scrape only
//! compresses the small self-metrics part as a deflate stream ended by a *sync flush* (a
//! non-final, byte-aligned empty stored block). Deflate streams joined that way decode as one
//! stream (this is how `pigz` compresses in parallel), so header + self part + cached profile
//! part + trailer (CRC-32 combined from both parts, total length) is one valid gzip member.
//!
//! # Layout
//!
//! - `monitor`: [`MonitorMetrics`], the self-metrics registry.
//! - `profiles`: [`ProfileMetrics`], the table of per-profile families and their renderer.
//! - `labels`: label values: the bounded `state` vocabulary, cutting to
//!   `api.max_label_length`, each profile's common label block.
//! - `section`: the block compressor the renderer writes into, and its product
//!   [`RenderedProfiles`].
//! - `scrape`: one scrape's body ([`scrape_stream`]): the gzip splice, plain inflation.

mod labels;
mod monitor;
mod profiles;
mod scrape;
mod section;
#[cfg(test)]
mod tests;

pub use labels::{truncate_label_value, DEFAULT_MAX_LABEL_LENGTH, STATE_LABEL_CAP};
pub use monitor::MonitorMetrics;
pub use profiles::{FiringLabel, ProfileMetrics};
pub use scrape::{scrape_body, scrape_chunks, scrape_stream, ScrapeStream};
pub use section::{RenderedProfiles, DEFAULT_PLAIN_LIMIT, RENDER_BLOCK};
