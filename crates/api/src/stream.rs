//! Streaming answers from blocking engine calls: the call writes into a [`ChannelWriter`] on
//! a blocking thread while the body sends what arrives. A client that hangs up drops the body;
//! the next write then fails and the call stops.

use std::io::Write;

use axum::body::Body;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use berth_engine::Cancel;
use tokio::io::{AsyncRead, DuplexStream, ReadBuf};
use tokio_util::io::{ReaderStream, SyncIoBridge};

/// Bytes buffered between the engine's thread and the connection.
const PIPE: usize = 256 << 10;

/// A blocking `Write` whose bytes become a response body. Made inside the runtime, then moved
/// to the blocking thread that writes; clones write to the same body.
#[derive(Clone)]
pub struct ChannelWriter(Arc<Mutex<SyncIoBridge<DuplexStream>>>);

impl std::fmt::Debug for ChannelWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelWriter").finish_non_exhaustive()
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("body writer poisoned"))?
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("body writer poisoned"))?
            .flush()
    }
}

/// A body fed by a writer, the writer, and a flag set when the body is dropped (the client
/// hung up) for a call that may write nothing for a long time. Call inside the runtime.
pub fn body() -> (Body, ChannelWriter, Cancel) {
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let hangup = Cancel::new();
    let reader = Guarded {
        inner: ours,
        hangup: hangup.clone(),
    };
    let body = Body::from_stream(ReaderStream::new(reader));
    (
        body,
        ChannelWriter(Arc::new(Mutex::new(SyncIoBridge::new(theirs)))),
        hangup,
    )
}

/// The body's end of the pipe; dropping it says the client is gone.
struct Guarded {
    inner: DuplexStream,
    hangup: Cancel,
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.hangup.cancel();
    }
}

/// The content type of a process's output stream: raw with a tty, else multiplexed frames.
pub fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// The stdout and stderr writers of a process's output going to `out`: raw with a tty, else in
/// [`Mux`] frames; a stream the client did not ask for goes nowhere.
pub fn output_writers<W: Write + Clone + Send + 'static>(
    out: &W,
    tty: bool,
    stdout: bool,
    stderr: bool,
) -> (Box<dyn Write + Send>, Box<dyn Write + Send>) {
    let writer = |stream: u8, on: bool| -> Box<dyn Write + Send> {
        match (on, tty) {
            (false, _) => Box::new(std::io::sink()),
            (true, true) => Box::new(out.clone()),
            (true, false) => Box::new(Mux {
                stream,
                inner: out.clone(),
            }),
        }
    };
    (writer(1, stdout), writer(2, stderr))
}

/// docker's multiplexed stream for a container without a tty: each chunk framed with its
/// stream (0 stdin, 1 stdout, 2 stderr) and its big-endian length.
#[derive(Debug, Clone)]
pub struct Mux<W> {
    pub stream: u8,
    pub inner: W,
}

impl<W: Write> Write for Mux<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let n = len as usize;
        let mut frame = Vec::with_capacity(8 + n);
        frame.extend_from_slice(&[self.stream, 0, 0, 0]);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&buf[..n]);
        self.inner.write_all(&frame)?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A request body as a blocking `Read` for an engine call (a tar for `cp`, `load`, `build`):
/// a task copies the body into a pipe as it arrives. A body over `limit` bytes ends the
/// stream with an error, so nothing unbounded is taken in. Call inside the runtime.
pub fn reader(body: Body, limit: u64) -> impl std::io::Read + Send {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let (ours, mut theirs) = tokio::io::duplex(PIPE);
    tokio::spawn(async move {
        let mut body = body;
        let mut seen: u64 = 0;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                // The client broke off: the reader sees the stream end early, and the tar
                // reader fails on the truncated archive.
                return;
            };
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                if seen > limit {
                    tracing::warn!(limit, "request body too large; cut off");
                    return;
                }
                if theirs.write_all(&data).await.is_err() {
                    return;
                }
            }
        }
        let _ = theirs.shutdown().await;
    });
    SyncIoBridge::new(ours)
}
