//! Response bodies that are streamed rather than built: a scrape's chunks, and the status
//! document serialised on a blocking thread and handed over in chunks.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use bytes::Bytes;

use super::StatusSource;
use crate::metrics::ScrapeStream;

/// A scrape's body: its chunks sent as they are produced, with an exact length, in pieces
/// of at most [`SCRAPE_PIECE`] bytes, the connection's task giving its worker thread up
/// between two pieces.
///
/// A client that reads as fast as the server writes (a scraper on loopback) never makes a
/// write wait, so without the pauses a 15 MiB plain body would be written in one go and
/// hold one of the server's few worker threads for its whole length, while a small gzip
/// scrape queued on that thread waits behind it. Between two pieces the task yields as
/// `tokio::task::yield_now` does (woken at once, put at the back of the queue), and the
/// scrapes on the same thread take turns.
pub(super) struct ScrapeBody {
    /// What is still to be produced.
    stream: ScrapeStream,
    /// The rest of a chunk longer than a piece.
    rest: Option<Bytes>,
    /// Whether a piece was sent since the last pause.
    sent: bool,
}

/// The most a scrape's body hands its connection in one piece: a quarter of a MiB, about
/// a millisecond of copying into a loopback socket.
pub(super) const SCRAPE_PIECE: usize = 256 * 1024;

impl ScrapeBody {
    pub(super) fn new(stream: ScrapeStream) -> Self {
        Self {
            stream,
            rest: None,
            sent: false,
        }
    }

    /// Bytes still to be sent.
    fn remaining(&self) -> u64 {
        self.stream.remaining() + self.rest.as_ref().map_or(0, |r| r.len() as u64)
    }
}

impl HttpBody for ScrapeBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.sent && this.remaining() > 0 {
            // Let the thread's other tasks run before the next piece.
            this.sent = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let Some(mut chunk) = this.rest.take().or_else(|| this.stream.next()) else {
            return Poll::Ready(None);
        };
        if chunk.len() > SCRAPE_PIECE {
            this.rest = Some(chunk.split_off(SCRAPE_PIECE));
        }
        this.sent = true;
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining() == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining())
    }
}

/// The status document of `source`, serialised on a blocking thread (100,000 profiles take
/// tens of milliseconds) and streamed through a small channel, so a request holds a few
/// chunks, not the whole document.
pub(super) fn status_body(source: Arc<StatusSource>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            buf: Vec::with_capacity(STATUS_CHUNK + 4096),
            tx,
        };
        let written = source
            .write_to(&mut out)
            .map_err(io::Error::from)
            .and_then(|()| io::Write::flush(&mut out));
        if let Err(e) = written {
            // The client went away (nobody to tell), or serialising failed: end the
            // body with an error so the client sees a broken response, not a short one.
            let _ = out.tx.blocking_send(Err(e));
        }
    });
    Body::new(ChannelBody(rx))
}

/// Size of the chunks a status document is streamed in.
pub(super) const STATUS_CHUNK: usize = 64 * 1024;

/// Collects what a serialiser writes and hands it on in chunks, waiting while the channel
/// is full (the client reads slower than we write).
struct ChunkWriter {
    /// Bytes not yet handed on.
    buf: Vec<u8>,
    /// Where chunks go: the response body.
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
}

impl ChunkWriter {
    /// Hands the buffered bytes on, waiting for room in the channel.
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STATUS_CHUNK + 4096));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= STATUS_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// A response body fed through a channel.
struct ChannelBody(tokio::sync::mpsc::Receiver<io::Result<Bytes>>);

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(http_body::Frame::data)))
    }
}
