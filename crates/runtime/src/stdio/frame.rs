//! The attach protocol between the CLI and a container's monitor, over a unix socket.
//!
//! Monitor → CLI, without a tty: Docker's multiplexed stream framing. Each frame is an 8-byte
//! header `[stream, 0, 0, 0, len: u32 big-endian]` followed by `len` payload bytes. Stream 0 is
//! stdin, 1 stdout, 2 stderr; we add 3, [`EXIT`], whose payload is the exit code as an `i32`
//! big-endian, and which is the last frame on the stream, and 4, [`START_FAILED`], the last
//! frame instead when the container could not be started after its client was told to attach
//! (see [`write_start_failed`]). With a tty the container's output is a single raw byte stream
//! and is copied as is.
//!
//! CLI → monitor: [`ClientMsg`] frames `[kind: u8, len: u32 big-endian, payload]`.
//!
//! Readers reject payloads over [`MAX_PAYLOAD`] so a corrupt or hostile peer cannot make us
//! allocate without bound; writers split larger data into several frames.

use std::io::{self, Read, Write};

/// Stream type of stdin in the output framing.
pub const STDIN: u8 = 0;
/// Stream type of stdout.
pub const STDOUT: u8 = 1;
/// Stream type of stderr.
pub const STDERR: u8 = 2;
/// Stream type of the final exit frame (payload: exit code, `i32` big-endian).
pub const EXIT: u8 = 3;
/// Stream type of the final frame of a container that could not be started (payload: the
/// exit code docker gives the failure, `i32` big-endian, then the error message).
pub const START_FAILED: u8 = 4;

/// Largest payload a single frame may carry in either direction.
pub const MAX_PAYLOAD: usize = 16 << 20;

/// Payloads up to this size are written with the header in a single `write`.
const COALESCE: usize = 64 << 10;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Writes `data` as one or more frames of `stream` type. Empty data writes nothing.
pub fn write_frame<W: Write + ?Sized>(w: &mut W, stream: u8, data: &[u8]) -> io::Result<()> {
    if stream > EXIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("write frame: unknown stream type {stream}"),
        ));
    }
    for chunk in data.chunks(MAX_PAYLOAD) {
        write_one(w, [stream, 0, 0, 0, 0, 0, 0, 0], chunk)?;
    }
    Ok(())
}

/// Writes the final [`EXIT`] frame carrying `code`.
pub fn write_exit<W: Write + ?Sized>(w: &mut W, code: i32) -> io::Result<()> {
    write_one(w, [EXIT, 0, 0, 0, 0, 0, 0, 0], &code.to_be_bytes())
}

/// Writes the final [`START_FAILED`] frame: the container could not be started, `code` is
/// docker's exit code for why (125, 126, 127) and `message` the error.
pub fn write_start_failed<W: Write + ?Sized>(
    w: &mut W,
    code: i32,
    message: &str,
) -> io::Result<()> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(message.as_bytes());
    write_one(w, [START_FAILED, 0, 0, 0, 0, 0, 0, 0], &payload)
}

/// Decodes the payload of a [`START_FAILED`] frame: the exit code and the message.
pub fn start_failure(payload: &[u8]) -> io::Result<(i32, String)> {
    if payload.len() < 4 {
        return Err(invalid(format!(
            "start-failed frame: payload is {} bytes, want at least 4",
            payload.len()
        )));
    }
    let (code, message) = payload.split_at(4);
    Ok((
        exit_code(code)?,
        String::from_utf8_lossy(message).into_owned(),
    ))
}

/// Writes the header `prefix` with its last four bytes set to the payload length, then `payload`.
fn write_one<W: Write + ?Sized, const N: usize>(
    w: &mut W,
    prefix: [u8; N],
    payload: &[u8],
) -> io::Result<()> {
    let mut header = prefix;
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame payload too large"))?;
    header[N - 4..].copy_from_slice(&len.to_be_bytes());
    if payload.len() <= COALESCE {
        let mut buf = Vec::with_capacity(N + payload.len());
        buf.extend_from_slice(&header);
        buf.extend_from_slice(payload);
        w.write_all(&buf)
    } else {
        w.write_all(&header)?;
        w.write_all(payload)
    }
}

/// Reads until `buf` is full or EOF; returns how many bytes were read.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Reads one `[header, payload]` frame. `Ok(None)` at a clean EOF between frames; a frame cut
/// short is an `UnexpectedEof` error. `check` validates the header before the payload is read.
fn read_one<R: Read + ?Sized, const N: usize>(
    r: &mut R,
    what: &str,
    check: impl FnOnce(&[u8; N], usize) -> io::Result<()>,
) -> io::Result<Option<([u8; N], Vec<u8>)>> {
    let mut header = [0u8; N];
    match read_full(r, &mut header)? {
        0 => return Ok(None),
        n if n < N => {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{what}: truncated header ({n} of {N} bytes)"),
            ))
        }
        _ => {}
    }
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&header[N - 4..]);
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_PAYLOAD {
        return Err(invalid(format!(
            "{what}: payload of {len} bytes exceeds the {MAX_PAYLOAD} byte limit"
        )));
    }
    check(&header, len)?;
    let mut payload = vec![0u8; len];
    let got = read_full(r, &mut payload)?;
    if got < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{what}: truncated payload ({got} of {len} bytes)"),
        ));
    }
    Ok(Some((header, payload)))
}

/// Decodes the payload of an [`EXIT`] frame.
pub fn exit_code(payload: &[u8]) -> io::Result<i32> {
    let bytes: [u8; 4] = payload.try_into().map_err(|_| {
        invalid(format!(
            "exit frame: payload is {} bytes, want 4",
            payload.len()
        ))
    })?;
    Ok(i32::from_be_bytes(bytes))
}

/// Reads Docker-style multiplexed frames (plus our [`EXIT`] frame).
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
}

impl<R: Read> FrameReader<R> {
    /// Wraps a reader; buffering is the caller's choice.
    pub fn new(inner: R) -> Self {
        Self { inner }
    }

    /// The next `(stream, payload)`, or `None` at a clean end of stream.
    // Not `Iterator`: a read error and the end of the stream need to stay distinct.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        let frame = read_one::<_, 8>(&mut self.inner, "output frame", |h, len| match h[0] {
            STDIN | STDOUT | STDERR => Ok(()),
            EXIT if len == 4 => Ok(()),
            EXIT => Err(invalid(format!(
                "output frame: exit payload is {len} bytes, want 4"
            ))),
            START_FAILED if len >= 4 => Ok(()),
            START_FAILED => Err(invalid(format!(
                "output frame: start-failed payload is {len} bytes, want at least 4"
            ))),
            other => Err(invalid(format!(
                "output frame: unknown stream type {other}"
            ))),
        })?;
        Ok(frame.map(|(h, payload)| (h[0], payload)))
    }

    /// Gives back the wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// A control message from the CLI to the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    /// Bytes for the container's stdin.
    Stdin(Vec<u8>),
    /// The client's stdin reached EOF; close the container's stdin.
    CloseStdin,
    /// The client's terminal changed size.
    Resize { rows: u16, cols: u16 },
    /// Forward this signal to the container (`--sig-proxy`).
    Signal(i32),
}

const KIND_STDIN: u8 = 0;
const KIND_CLOSE_STDIN: u8 = 1;
const KIND_RESIZE: u8 = 2;
const KIND_SIGNAL: u8 = 3;

/// Encodes one message as `[kind, len u32 BE, payload]`.
///
/// Fails with `InvalidInput` when a stdin payload exceeds [`MAX_PAYLOAD`]; [`write_client`]
/// splits such payloads instead.
pub fn encode_client(msg: &ClientMsg) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match msg {
        ClientMsg::Stdin(data) => {
            if data.len() > MAX_PAYLOAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("stdin message of {} bytes is over the limit", data.len()),
                ));
            }
            write_one(&mut out, [KIND_STDIN, 0, 0, 0, 0], data)?
        }
        ClientMsg::CloseStdin => write_one(&mut out, [KIND_CLOSE_STDIN, 0, 0, 0, 0], &[])?,
        ClientMsg::Resize { rows, cols } => {
            let mut payload = [0u8; 4];
            payload[..2].copy_from_slice(&rows.to_be_bytes());
            payload[2..].copy_from_slice(&cols.to_be_bytes());
            write_one(&mut out, [KIND_RESIZE, 0, 0, 0, 0], &payload)?
        }
        ClientMsg::Signal(sig) => {
            write_one(&mut out, [KIND_SIGNAL, 0, 0, 0, 0], &sig.to_be_bytes())?
        }
    }
    Ok(out)
}

/// Writes one message; stdin data over [`MAX_PAYLOAD`] goes out as several messages.
pub fn write_client<W: Write + ?Sized>(w: &mut W, msg: &ClientMsg) -> io::Result<()> {
    match msg {
        ClientMsg::Stdin(data) if data.len() > MAX_PAYLOAD => {
            for chunk in data.chunks(MAX_PAYLOAD) {
                write_one(w, [KIND_STDIN, 0, 0, 0, 0], chunk)?;
            }
            Ok(())
        }
        _ => w.write_all(&encode_client(msg)?),
    }
}

/// Reads [`ClientMsg`]s.
#[derive(Debug)]
pub struct ClientReader<R> {
    inner: R,
}

impl<R: Read> ClientReader<R> {
    /// Wraps a reader; buffering is the caller's choice.
    pub fn new(inner: R) -> Self {
        Self { inner }
    }

    /// The next message, or `None` at a clean end of stream.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> io::Result<Option<ClientMsg>> {
        let frame = read_one::<_, 5>(&mut self.inner, "client message", |h, len| {
            let want = match h[0] {
                KIND_STDIN => return Ok(()),
                KIND_CLOSE_STDIN => 0,
                KIND_RESIZE | KIND_SIGNAL => 4,
                other => return Err(invalid(format!("client message: unknown kind {other}"))),
            };
            if len != want {
                return Err(invalid(format!(
                    "client message: kind {} has {len} payload bytes, want {want}",
                    h[0]
                )));
            }
            Ok(())
        })?;
        let Some((header, payload)) = frame else {
            return Ok(None);
        };
        let word = || {
            let mut b = [0u8; 4];
            b.copy_from_slice(&payload);
            b
        };
        let msg = match header[0] {
            KIND_STDIN => ClientMsg::Stdin(payload),
            KIND_CLOSE_STDIN => ClientMsg::CloseStdin,
            KIND_RESIZE => {
                let b = word();
                ClientMsg::Resize {
                    rows: u16::from_be_bytes([b[0], b[1]]),
                    cols: u16::from_be_bytes([b[2], b[3]]),
                }
            }
            KIND_SIGNAL => ClientMsg::Signal(i32::from_be_bytes(word())),
            other => return Err(invalid(format!("client message: unknown kind {other}"))),
        };
        Ok(Some(msg))
    }

    /// Gives back the wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
