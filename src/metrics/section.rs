//! The per-profile section of a scrape: rendered text handed, block by block, to a CRC,
//! one raw deflate stream and (while under a limit) a kept copy of the text; the finished
//! [`RenderedProfiles`]; and inflating that stream back, chunk by chunk.

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};

/// Compression level of gzip bodies. The profile section is large (about 1.6 KB of text per
/// profile, 160 MB for 100,000 profiles) and compressed once per sweep, with the zlib-rs
/// backend. Measured on the 16 MB section of 10,000 simulated profiles: level 2 takes 25 ms
/// for 11:1, level 3 39 ms for 12.5:1, level 4 52 ms for 14.4:1 (miniz_oxide's level 4, the
/// earlier choice, 78 ms for 14.9:1). Every sweep pays this; the size only costs loopback or
/// LAN bytes and the scraper's inflate, so the fastest level that still compresses well wins.
pub(super) const GZIP_LEVEL: u32 = 2;

/// Below this size the per-profile text is kept beside its deflate stream, so plain scrapes
/// of small and mid-sized fleets (10,000 profiles make about 15 MB) send it without work;
/// above it only the deflate stream is kept (a twentieth of the size) and plain scrapes
/// inflate it as they send it.
pub const DEFAULT_PLAIN_LIMIT: usize = 32 << 20;

/// The rendering buffer is handed to the compressor (and the CRC) each time it holds this
/// much text: large enough that the compressor works on long runs, small enough to stay in
/// cache and to keep rendering's memory flat.
pub const RENDER_BLOCK: usize = 256 << 10;

/// Size of the chunks a plain scrape of an inflated section sends.
pub(super) const INFLATE_CHUNK: usize = 128 << 10;

/// The per-profile section of a scrape, rendered once per sweep. Cloning is cheap (shared
/// buffers).
#[derive(Clone)]
pub struct RenderedProfiles {
    /// The text, when it is under the plain limit (see [`DEFAULT_PLAIN_LIMIT`]).
    pub(super) plain: Option<Bytes>,
    /// Length of the text, kept or not.
    pub(super) plain_len: usize,
    /// The text as one raw deflate stream ending in a final block.
    pub(super) deflated: Bytes,
    /// CRC-32 of the text (with its length, for combining).
    pub(super) crc: Arc<Crc>,
    /// Number of sample lines.
    pub(super) series: usize,
    /// Label values cut to `api.max_label_length` in this rendering.
    pub(super) truncated_labels: u64,
    /// The text inflated on a call to [`RenderedProfiles::plain`] when it was not kept;
    /// shared by clones so it is inflated at most once.
    inflated: Arc<OnceLock<Bytes>>,
}

impl std::fmt::Debug for RenderedProfiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderedProfiles")
            .field("bytes", &self.plain_len)
            .field("plain_kept", &self.plain.is_some())
            .field("deflated_bytes", &self.deflated.len())
            .field("series", &self.series)
            .finish()
    }
}

impl RenderedProfiles {
    /// No per-profile series at all (before the first sweep).
    pub fn empty() -> Self {
        let mut section = Section::new(0, 0, usize::MAX);
        section.finish(0)
    }

    /// Number of per-profile sample lines.
    pub fn series(&self) -> usize {
        self.series
    }

    /// How many label values this rendering cut to `api.max_label_length`.
    pub fn truncated_labels(&self) -> u64 {
        self.truncated_labels
    }

    /// Length of the per-profile text in bytes.
    pub fn plain_len(&self) -> usize {
        self.plain_len
    }

    /// True when the text is kept beside the deflate stream (it was under the plain limit).
    pub fn keeps_plain(&self) -> bool {
        self.plain.is_some()
    }

    /// The per-profile section as one raw deflate stream ending in a final block.
    pub fn deflated(&self) -> &Bytes {
        &self.deflated
    }

    /// The per-profile section as text. When the text was over the plain limit this inflates
    /// the whole of it and keeps it as long as this rendering lives: for tests and tools;
    /// scrapes use [`super::scrape_stream`], which inflates chunk by chunk.
    pub fn plain(&self) -> &Bytes {
        if let Some(p) = &self.plain {
            return p;
        }
        self.inflated.get_or_init(|| {
            let mut out = BytesMut::with_capacity(self.plain_len);
            for chunk in Inflating::new(self.deflated.clone(), self.plain_len) {
                out.extend_from_slice(&chunk);
            }
            out.freeze()
        })
    }
}

/// The per-profile text being rendered: written into a small buffer that is handed, block
/// by block, to the CRC, the deflate stream and (while under the plain limit) the kept text.
pub(super) struct Section {
    /// Text not yet handed on (at most about [`RENDER_BLOCK`] bytes).
    pub(super) buf: String,
    /// The compressor, one raw deflate stream for the whole section.
    compress: Compress,
    /// Its output so far.
    deflated: Vec<u8>,
    /// CRC-32 of the text handed on so far.
    crc: Crc,
    /// The text handed on so far, while it is under `plain_limit`.
    plain: Option<Vec<u8>>,
    /// Largest text kept.
    plain_limit: usize,
    /// Bytes of text handed on so far.
    len: usize,
}

impl Section {
    /// A section expected to make about `text_hint` bytes of text and `deflated_hint` of
    /// compressed stream (the last rendering's sizes), keeping the text up to `plain_limit`.
    pub(super) fn new(text_hint: usize, deflated_hint: usize, plain_limit: usize) -> Self {
        // Start without the text when the last rendering was over the limit: collecting it
        // only to drop it half-way would be the peak we avoid. Should this one turn out
        // under the limit after all, `finish` inflates it back.
        let plain = (text_hint <= plain_limit)
            .then(|| Vec::with_capacity(text_hint + text_hint / 16 + RENDER_BLOCK));
        Self {
            buf: String::with_capacity(RENDER_BLOCK + 16 * 1024),
            compress: Compress::new(Compression::new(GZIP_LEVEL), false),
            deflated: Vec::with_capacity(deflated_hint + deflated_hint / 16 + 4096),
            crc: Crc::new(),
            plain,
            plain_limit,
            len: 0,
        }
    }

    /// Hands the buffer on once it holds a block; call after each line.
    pub(super) fn line_done(&mut self) {
        if self.buf.len() >= RENDER_BLOCK {
            self.hand_on(FlushCompress::None);
        }
    }

    /// Hands the buffer on to the CRC, the kept text and the compressor, then empties it.
    fn hand_on(&mut self, flush: FlushCompress) {
        let data = self.buf.as_bytes();
        self.crc.update(data);
        self.len += data.len();
        if self.len > self.plain_limit {
            self.plain = None;
        } else if let Some(p) = &mut self.plain {
            p.extend_from_slice(data);
        }
        compress_into(&mut self.compress, data, &mut self.deflated, flush);
        self.buf.clear();
    }

    /// Ends the deflate stream and the section: `series` sample lines were written.
    pub(super) fn finish(&mut self, series: usize) -> RenderedProfiles {
        self.hand_on(FlushCompress::Finish);
        let mut deflated = std::mem::take(&mut self.deflated);
        deflated.shrink_to_fit();
        let deflated = Bytes::from(deflated);
        let plain = match self.plain.take() {
            Some(mut p) => {
                p.shrink_to_fit();
                Some(Bytes::from(p))
            }
            None if self.len <= self.plain_limit => {
                let mut out = BytesMut::with_capacity(self.len);
                for chunk in Inflating::new(deflated.clone(), self.len) {
                    out.extend_from_slice(&chunk);
                }
                Some(out.freeze())
            }
            None => None,
        };
        RenderedProfiles {
            plain,
            plain_len: self.len,
            deflated,
            crc: Arc::new(std::mem::take(&mut self.crc)),
            series,
            truncated_labels: 0,
            inflated: Arc::default(),
        }
    }
}

/// Feeds all of `data` to `c`, appending its output to `out`, then flushes as told:
/// `None` (more input follows), `Sync` or `Finish`.
pub(super) fn compress_into(
    c: &mut Compress,
    data: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) {
    let start = c.total_in();
    loop {
        let consumed = usize::try_from(c.total_in() - start)
            .unwrap_or(data.len())
            .min(data.len());
        // `compress_vec` writes into the spare capacity only; keep some there.
        if out.capacity() - out.len() < 1024 {
            out.reserve((data.len() - consumed) / 4 + 4096);
        }
        let (in_before, out_before) = (c.total_in(), c.total_out());
        let status = c.compress_vec(&data[consumed..], out, flush);
        let all_in = usize::try_from(c.total_in() - start).unwrap_or(usize::MAX) >= data.len();
        let done = match (&status, flush) {
            (Ok(Status::StreamEnd), _) => true,
            (Ok(_), FlushCompress::Finish) => false,
            // Otherwise the call is over when all input is in and the output did not fill
            // up (a full output may hide more flushed bytes).
            (Ok(_), _) => all_in && out.len() < out.capacity(),
            _ => false,
        };
        if done {
            return;
        }
        let stuck = c.total_in() == in_before && c.total_out() == out_before;
        if status.is_err() || (stuck && out.len() < out.capacity()) {
            // Cannot happen with a growing buffer; never loop forever if it does.
            tracing::error!("deflate made no progress; the gzip body will be invalid");
            return;
        }
    }
}

/// Inflates a raw deflate stream of known output length chunk by chunk.
pub(super) struct Inflating {
    /// The stream.
    src: Bytes,
    /// The decompressor.
    d: Decompress,
    /// Output bytes still expected.
    left: usize,
}

impl Inflating {
    /// Inflates `src`, which holds `len` bytes of text.
    pub(super) fn new(src: Bytes, len: usize) -> Self {
        Self {
            src,
            d: Decompress::new(false),
            left: len,
        }
    }
}

impl Iterator for Inflating {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let mut out = Vec::with_capacity(INFLATE_CHUNK.min(self.left));
        while out.len() < out.capacity() {
            let at = usize::try_from(self.d.total_in())
                .unwrap_or(self.src.len())
                .min(self.src.len());
            let before = (self.d.total_in(), self.d.total_out());
            let status = self
                .d
                .decompress_vec(&self.src[at..], &mut out, FlushDecompress::None);
            let stuck = before == (self.d.total_in(), self.d.total_out());
            match status {
                Ok(Status::StreamEnd) => break,
                Ok(_) if !stuck => {}
                _ => {
                    // Our own stream, so this cannot happen; end the body rather than spin.
                    tracing::error!("the cached metrics stream did not inflate; body cut short");
                    self.left = 0;
                    return (!out.is_empty()).then(|| Bytes::from(out));
                }
            }
        }
        self.left = self.left.saturating_sub(out.len());
        if out.is_empty() {
            self.left = 0;
            return None;
        }
        Some(Bytes::from(out))
    }
}
