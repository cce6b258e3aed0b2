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

/// A scrape's body: its chunks sent as they are produced, with an exact length.
pub(super) struct ScrapeBody(pub(super) ScrapeStream);

impl HttpBody for ScrapeBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(
            self.get_mut()
                .0
                .next()
                .map(|c| Ok(http_body::Frame::data(c))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.0.remaining() == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.remaining())
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
