//! The body of one `/metrics` scrape: the self-metrics encoded afresh, then the cached
//! per-profile section; for gzip, one gzip member spliced around the section's cached
//! deflate stream (see the module documentation of [`super`]).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Crc, FlushCompress};

use super::monitor::MonitorMetrics;
use super::section::{compress_into, Inflating, RenderedProfiles, GZIP_LEVEL};

/// The gzip member header: magic, deflate, no flags, no mtime, no extra flags, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Appends `data` to `out` as a raw deflate stream of its own, ended by `flush`:
/// `Finish` for a final block, `Sync` for a byte-aligned non-final end that another stream
/// may follow.
fn deflate(data: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
    let mut c = Compress::new(Compression::new(GZIP_LEVEL), false);
    compress_into(&mut c, data, out, flush);
}

/// The body of one `/metrics` scrape as a sequence of shared chunks of known total length,
/// produced as they are sent: no copy of the large profile section, and for a plain scrape
/// of a section kept only compressed, at most one chunk of it inflated at a time.
pub struct ScrapeStream {
    /// Chunks sent first, as they are.
    ready: VecDeque<Bytes>,
    /// Then, for a plain scrape of a section not kept as text, its text inflated.
    inflating: Option<Inflating>,
    /// Bytes still to come.
    remaining: u64,
}

impl std::fmt::Debug for ScrapeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeStream")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl ScrapeStream {
    /// Bytes still to come (exact: what a `Content-Length` header may say).
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Iterator for ScrapeStream {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let chunk = match self.ready.pop_front() {
            Some(c) => c,
            None => self.inflating.as_mut()?.next()?,
        };
        self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
        Some(chunk)
    }
}

/// The body of one `/metrics` scrape: self-metrics, then per-profile series; with `gzip`,
/// one gzip member built around the cached compressed profile section.
pub fn scrape_stream(
    monitor: &MonitorMetrics,
    profiles: &RenderedProfiles,
    gzip: bool,
) -> ScrapeStream {
    let own = monitor.encode();
    if !gzip {
        let total = (own.len() + profiles.plain_len) as u64;
        let mut ready = VecDeque::with_capacity(2);
        ready.push_back(Bytes::from(own));
        let inflating = match &profiles.plain {
            Some(p) => {
                ready.push_back(p.clone());
                None
            }
            None => Some(Inflating::new(
                profiles.deflated.clone(),
                profiles.plain_len,
            )),
        };
        return ScrapeStream {
            ready,
            inflating,
            remaining: total,
        };
    }
    let mut head = Vec::with_capacity(own.len() / 4 + 1024);
    head.extend_from_slice(&GZIP_HEADER);
    deflate(&own, &mut head, FlushCompress::Sync);

    let mut crc = Crc::new();
    crc.update(&own);
    crc.combine(&profiles.crc);
    // ISIZE is the length modulo 2^32 (RFC 1952).
    let total = (own.len() as u64).wrapping_add(profiles.plain_len as u64) as u32;
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.sum().to_le_bytes());
    trailer.extend_from_slice(&total.to_le_bytes());

    let ready = VecDeque::from([
        Bytes::from(head),
        profiles.deflated.clone(),
        Bytes::from(trailer),
    ]);
    let remaining = ready.iter().map(|b| b.len() as u64).sum();
    ScrapeStream {
        ready,
        inflating: None,
        remaining,
    }
}

/// The body of one `/metrics` scrape as all its chunks; see [`scrape_stream`], which is
/// what the server sends (a plain scrape of a large section is inflated here in full).
pub fn scrape_chunks(
    monitor: &MonitorMetrics,
    profiles: &RenderedProfiles,
    gzip: bool,
) -> Vec<Bytes> {
    scrape_stream(monitor, profiles, gzip).collect()
}

/// The body of one `/metrics` scrape in one buffer; see [`scrape_stream`].
pub fn scrape_body(monitor: &MonitorMetrics, profiles: &RenderedProfiles, gzip: bool) -> Bytes {
    let stream = scrape_stream(monitor, profiles, gzip);
    let mut body = BytesMut::with_capacity(usize::try_from(stream.remaining()).unwrap_or(0));
    for c in stream {
        body.extend_from_slice(&c);
    }
    body.freeze()
}
